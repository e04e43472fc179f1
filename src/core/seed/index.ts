import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import argon2 from 'argon2';
import { sql, type Kysely } from 'kysely';
import type { Services } from '../services';
import type { CoreTables, OfficeKind, Role } from '../db/schema';
import { demoDir, loadDemoGeography } from './demo-geo';
import { censusHash } from '../auth/census';

export { demoDir } from './demo-geo';

/** True when the database holds no city yet (no communes, no accounts). */
export async function isEmptyCity(services: Services): Promise<boolean> {
  const row = await services.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n) === 0;
}

/** The demo accounts, one per role; they share one password generated at seed time. */
export const DEMO_ACCOUNTS: ReadonlyArray<{
  email: string;
  name: string;
  roles: Role[];
  verifiedCommune?: number;
  emailConfirmed: boolean;
  offices?: string[];
  /** Their role in those offices: the demo official manages them (approves what they publish). */
  officeRole?: 'editor' | 'admin';
}> = [
  { email: 'admin@demo.cabildo.test', name: 'Administración (demo)', roles: ['admin'], emailConfirmed: true },
  {
    email: 'official@demo.cabildo.test',
    name: 'Funcionaria (demo)',
    roles: ['official'],
    emailConfirmed: true,
    officeRole: 'admin',
    offices: [
      'transporte-y-obras-publicas',
      'ministerio-de-espacio-publico-e-higiene-urbana',
      'direccion-general-de-estadisticas-y-censos',
      'atencion-ciudadana',
      'comuna-14',
    ],
  },
  { email: 'moderator@demo.cabildo.test', name: 'Moderación (demo)', roles: ['moderator'], emailConfirmed: true },
  { email: 'resident@demo.cabildo.test', name: 'Vecina verificada (demo)', roles: [], verifiedCommune: 14, emailConfirmed: true },
  { email: 'visitor@demo.cabildo.test', name: 'Visitante (demo)', roles: [], emailConfirmed: true },
];

/** An office's kind from its BA Data slug (the rules are in data/demo/SOURCE.md). */
export function officeKind(slug: string, title = ''): OfficeKind {
  const first = slug.split('-')[0];
  if (first === 'ministerio') return 'ministry';
  if (['secretaria', 'subsecretaria', 'jefatura', 'vicejefatura'].includes(first)) return 'secretariat';
  if (['agencia', 'ente', 'instituto', 'administracion', 'ausa', 'sbase', 'direccion', 'observatorio'].includes(first)) return 'agency';
  if (first === 'procuracion' || slug.startsWith('organo-garante')) return 'other';
  if (/^secretar[ií]a/i.test(title)) return 'secretariat';
  return 'other';
}

interface OfficeSeed {
  slug: string;
  name: string;
  kind: OfficeKind;
  commune_id?: number;
  description?: string;
  url?: string;
}

function demoOffices(dir: string): OfficeSeed[] {
  const file = JSON.parse(fs.readFileSync(path.join(dir, 'offices.json'), 'utf8')) as { offices: { slug: string; name: string }[] };
  const portal = file.offices.map((o) => ({ slug: o.slug, name: o.name, kind: officeKind(o.slug, o.name) }));
  const communes = Array.from({ length: 15 }, (_, i): OfficeSeed => ({
    slug: `comuna-${i + 1}`,
    name: `Comuna ${i + 1}`,
    kind: 'commune',
    commune_id: i + 1,
    description: `Junta Comunal de la Comuna ${i + 1}: gobierno descentralizado de sus barrios (Ley 1777).`,
  }));
  return [
    ...portal,
    ...communes,
    { slug: 'poder-judicial', name: 'Poder Judicial de la Ciudad', kind: 'judiciary', url: 'https://www.jusbaires.gob.ar' },
    { slug: 'consejo-de-la-magistratura', name: 'Consejo de la Magistratura de la Ciudad', kind: 'judiciary', url: 'https://consejo.jusbaires.gob.ar' },
    { slug: 'legislatura', name: 'Legislatura porteña', kind: 'legislature', url: 'https://www.legislatura.gob.ar' },
  ];
}

function demoCensus(dir: string): { document: string; date_of_birth: string; commune_id: number; gender: string | null }[] {
  const [, ...lines] = fs.readFileSync(path.join(dir, 'census.csv'), 'utf8').split(/\r?\n/).filter((l) => l.trim());
  return lines.map((l) => {
    const [document, date_of_birth, commune, gender] = l.split(',').map((c) => c.trim());
    return { document, date_of_birth, commune_id: Number(commune), gender: gender || null };
  });
}

export interface SeedResult {
  /** The demo accounts' password, only when this run created them (it is stored nowhere in clear). */
  password?: string;
}

/**
 * Core's part of the demo city. Every insert skips rows that are already there, so running it
 * twice changes nothing, and an administrator's later edits to the demo data are kept.
 */
export async function seedCore(services: Services, log: (m: string) => void, dir = demoDir): Promise<SeedResult> {
  const { communes, neighbourhoods } = loadDemoGeography(path.join(dir, 'geo'));
  const offices = demoOffices(dir);
  const orgs = (JSON.parse(fs.readFileSync(path.join(dir, 'organizations.json'), 'utf8')) as {
    organizations: { slug: string; name: string; description: string; url?: string }[];
  }).organizations;
  const census = demoCensus(dir);

  const existing = new Set(
    (await services.db.selectFrom('users').select('email').where((eb) => eb(eb.fn<string>('lower', ['email']), 'in', DEMO_ACCOUNTS.map((a) => a.email))).execute()).map(
      (r) => r.email.toLowerCase(),
    ),
  );
  const missing = DEMO_ACCOUNTS.filter((a) => !existing.has(a.email));
  let password: string | undefined;
  let passwordHash: string | null = null;
  if (missing.length) {
    password = crypto.randomBytes(12).toString('base64url');
    passwordHash = await argon2.hash(password, { type: argon2.argon2id });
  }

  let created = 0;
  await services.db.transaction().execute(async (trx: Kysely<CoreTables>) => {
    log(`Demo city: ${communes.length} communes, ${neighbourhoods.length} neighbourhoods…`);
    for (const c of communes) {
      await trx
        .insertInto('communes')
        .values({ ...c, geometry: JSON.stringify(c.geometry) })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
    }
    for (const n of neighbourhoods) {
      await trx
        .insertInto('neighbourhoods')
        .values({ ...n, geometry: JSON.stringify(n.geometry) })
        .onConflict((oc) => oc.column('slug').doNothing())
        .execute();
    }

    log(`Demo city: ${offices.length} offices, ${orgs.length} organisations…`);
    await trx
      .insertInto('offices')
      .values(
        offices.map((o) => ({
          slug: o.slug,
          name: o.name,
          kind: o.kind,
          commune_id: o.commune_id ?? null,
          description: o.description ?? '',
          url: o.url ?? null,
          parent_id: null,
          email: null,
        })),
      )
      .onConflict((oc) => oc.column('slug').doNothing())
      .execute();
    await trx
      .insertInto('organizations')
      .values(orgs.map((o) => ({ slug: o.slug, name: o.name, description: o.description, url: o.url ?? null, email: null })))
      .onConflict((oc) => oc.column('slug').doNothing())
      .execute();

    await trx
      .insertInto('census_records')
      .values(
        census.map((r) => ({
          document_hash: censusHash(services.secret, r.document),
          date_of_birth: r.date_of_birth,
          commune_id: r.commune_id,
          gender: r.gender,
        })),
      )
      .onConflict((oc) => oc.column('document_hash').doNothing())
      .execute();

    const now = new Date();
    for (const a of missing) {
      const user = await trx
        .insertInto('users')
        .values({
          email: a.email,
          name: a.name,
          password_hash: passwordHash,
          roles: a.roles,
          email_confirmed_at: a.emailConfirmed ? now : null,
          verified_at: a.verifiedCommune ? now : null,
          commune_id: a.verifiedCommune ?? null,
        })
        // Another process seeding at the same moment may have created it: then it is theirs.
        .onConflict((oc) => oc.expression(sql`lower(email)`).doNothing())
        .returning('id')
        .executeTakeFirst();
      if (!user) continue;
      created += 1;
      if (a.offices?.length) {
        const ids = await trx.selectFrom('offices').select('id').where('slug', 'in', a.offices).execute();
        if (ids.length) {
          await trx
            .insertInto('office_members')
            .values(ids.map((o) => ({ office_id: o.id, user_id: user.id, role: a.officeRole ?? 'editor' })))
            .onConflict((oc) => oc.columns(['office_id', 'user_id']).doNothing())
            .execute();
        }
      }
    }
  });
  services.geo.invalidate();
  return { password: created ? password : undefined };
}

/** Loads the demo city: core's part, then every module's seed. */
export async function seedDemoCity(services: Services, log: (m: string) => void): Promise<SeedResult> {
  log('Seeding core…');
  const result = await seedCore(services, log);
  if (result.password) announcePassword(services, log, result.password);
  for (const m of services.registry.ready) {
    if (m.seed) {
      log(`Seeding ${m.name}…`);
      await m.seed(services, { log, demoDir });
    }
  }
  return result;
}

/** The only moment the password exists in clear: printed once, in the log and on the console. */
function announcePassword(services: Services, log: (m: string) => void, password: string) {
  const emails = DEMO_ACCOUNTS.map((a) => a.email).join(', ');
  // Scripts (the browser tests) read the console box's "password: …" line; the log line says it without a colon.
  log(`Demo accounts ready (${emails}); their password = ${password}`);
  if (services.config.testing) return;
  const line = '─'.repeat(64);
  console.log(
    `\n${line}\n Demo accounts of the demo city (one shared secret):\n\n` +
      DEMO_ACCOUNTS.map((a) => `   ${a.email}`).join('\n') +
      `\n\n   password: ${password}\n\n Shown only now; stored nowhere in clear.\n${line}\n`,
  );
}

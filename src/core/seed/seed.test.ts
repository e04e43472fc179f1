import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import argon2 from 'argon2';
import { createTestApp, type TestContext } from '../testing/harness';
import { seedDemoCity, officeKind, isEmptyCity, DEMO_ACCOUNTS } from './index';
import { properName, slugify } from './demo-geo';
import { censusHash } from '../auth/census';
import type { ModuleManifest } from '../manifest';

let t: TestContext;
const moduleSeeds: string[] = [];
// A module seed runs after core's, and sees the demo city core has just loaded.
const probe: ModuleManifest = {
  name: 'seed-probe',
  path: '/seed-probe',
  titleKey: 'home.title',
  descriptionKey: 'home.lead',
  status: 'ready',
  seed: async (services, ctx) => {
    const n = await services.db.selectFrom('communes').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    moduleSeeds.push(`${n.n}:${ctx.demoDir.endsWith('data/demo')}`);
  },
};
let firstPassword: string | undefined;
const logLines: string[] = [];

async function counts() {
  const db = t.services.db;
  const count = async (table: 'communes' | 'neighbourhoods' | 'offices' | 'organizations' | 'users' | 'office_members' | 'census_records') =>
    Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  return {
    communes: await count('communes'),
    neighbourhoods: await count('neighbourhoods'),
    offices: await count('offices'),
    organizations: await count('organizations'),
    users: await count('users'),
    office_members: await count('office_members'),
    census_records: await count('census_records'),
  };
}

before(async () => {
  t = await createTestApp({ modules: [probe] });
  assert.equal(await isEmptyCity(t.services), true);
  firstPassword = (await seedDemoCity(t.services, (m) => logLines.push(m))).password;
});
after(() => t.close());

test('the demo city has 15 communes, 48 neighbourhoods, offices, organisations, accounts and census rows', async () => {
  const c = await counts();
  assert.equal(c.communes, 15);
  assert.equal(c.neighbourhoods, 48);
  assert.equal(c.offices, 31 + 15 + 3);
  assert.ok(c.organizations >= 5);
  assert.equal(c.users, DEMO_ACCOUNTS.length);
  assert.equal(c.census_records, 6);
  assert.equal(await isEmptyCity(t.services), false);
  assert.deepEqual(moduleSeeds, ['15:true']);
});

test('communes and neighbourhoods carry names, populations, areas and real boundaries', async () => {
  const db = t.services.db;
  const c1 = await db.selectFrom('communes').selectAll().where('id', '=', 1).executeTakeFirstOrThrow();
  assert.equal(c1.name, 'Comuna 1');
  assert.equal(c1.population, 253271); // 2017 projection
  assert.ok(c1.area_m2 > 17e6 && c1.area_m2 < 18e6);
  assert.equal(c1.geometry.type, 'MultiPolygon');
  const sn = await db.selectFrom('neighbourhoods').selectAll().where('slug', '=', 'san-nicolas').executeTakeFirstOrThrow();
  assert.equal(sn.name, 'San Nicolás');
  assert.equal(sn.commune_id, 1);
  assert.ok(sn.population > 0);
  const hoods = await db.selectFrom('neighbourhoods').select(['name', 'commune_id']).execute();
  const perCommune = (id: number) => hoods.filter((h) => h.commune_id === id).length;
  assert.equal(perCommune(1), 6);
  assert.equal(perCommune(14), 1);
  assert.ok(hoods.some((h) => h.name === 'Núñez'));
  assert.ok(hoods.some((h) => h.name === 'Villa General Mitre'));
  assert.ok(!hoods.some((h) => h.name === h.name.toUpperCase()), 'no upper-case source names left');
});

test('offices: BA Data organisations with their kind, 15 commune offices, judiciary and legislature', async () => {
  const db = t.services.db;
  const bySlug = async (slug: string) => db.selectFrom('offices').selectAll().where('slug', '=', slug).executeTakeFirstOrThrow();
  assert.equal((await bySlug('ministerio-de-salud')).kind, 'ministry');
  assert.equal((await bySlug('transporte-y-obras-publicas')).name, 'Secretaría de Transporte y Obras Públicas');
  assert.equal((await bySlug('transporte-y-obras-publicas')).kind, 'secretariat');
  assert.equal((await bySlug('sbase')).kind, 'agency');
  assert.equal((await bySlug('procuracion-general')).kind, 'other');
  const c14 = await bySlug('comuna-14');
  assert.equal(c14.kind, 'commune');
  assert.equal(c14.commune_id, 14);
  assert.equal((await bySlug('poder-judicial')).kind, 'judiciary');
  assert.equal((await bySlug('consejo-de-la-magistratura')).kind, 'judiciary');
  assert.equal((await bySlug('legislatura')).kind, 'legislature');
  assert.ok((await db.selectFrom('organizations').select('name').where('slug', '=', 'poder-ciudadano').executeTakeFirst())?.name);
});

test('demo accounts: one per role, one password (argon2id), printed once and stored nowhere in clear', async () => {
  assert.ok(firstPassword && firstPassword.length >= 12);
  assert.ok(logLines.some((l) => l.includes(firstPassword!) && l.includes('admin@demo.cabildo.test')));
  const users = await t.services.db.selectFrom('users').selectAll().orderBy('id').execute();
  for (const u of users) {
    assert.match(u.password_hash!, /^\$argon2id\$/);
    assert.ok(!u.password_hash!.includes(firstPassword!));
    assert.ok(await argon2.verify(u.password_hash!, firstPassword!));
  }
  const by = (e: string) => users.find((u) => u.email === e)!;
  assert.deepEqual(by('admin@demo.cabildo.test').roles, ['admin']);
  assert.deepEqual(by('moderator@demo.cabildo.test').roles, ['moderator']);
  const resident = by('resident@demo.cabildo.test');
  assert.ok(resident.verified_at && resident.email_confirmed_at);
  assert.equal(resident.commune_id, 14);
  const visitor = by('visitor@demo.cabildo.test');
  assert.ok(visitor.email_confirmed_at);
  assert.equal(visitor.verified_at, null);
  const official = by('official@demo.cabildo.test');
  assert.deepEqual(official.roles, ['official']);
  const offices = await t.services.db
    .selectFrom('office_members')
    .innerJoin('offices', 'offices.id', 'office_members.office_id')
    .select('offices.slug')
    .where('office_members.user_id', '=', official.id)
    .orderBy('offices.slug')
    .execute();
  assert.deepEqual(
    offices.map((o) => o.slug),
    ['atencion-ciudadana', 'comuna-14', 'direccion-general-de-estadisticas-y-censos', 'ministerio-de-espacio-publico-e-higiene-urbana', 'transporte-y-obras-publicas'],
  );
});

test('census rows are stored as keyed hashes: the visitor can verify with 30111222 / 1990-05-17 (commune 3)', async () => {
  const rows = await t.services.db.selectFrom('census_records').selectAll().execute();
  assert.ok(rows.every((r) => /^[0-9a-f]{64}$/.test(r.document_hash)));
  assert.ok(!JSON.stringify(rows).includes('30111222'));
  const visitor = rows.find((r) => r.document_hash === censusHash(t.services.secret, '30.111.222'));
  assert.ok(visitor);
  assert.equal(visitor.date_of_birth, '1990-05-17');
  assert.equal(visitor.commune_id, 3);
});

test('seeding twice changes nothing and prints no new password', async () => {
  const before = await counts();
  const hashes = await t.services.db.selectFrom('users').select(['email', 'password_hash']).orderBy('email').execute();
  const again = await seedDemoCity(t.services, () => {});
  assert.equal(again.password, undefined);
  assert.deepEqual(await counts(), before);
  assert.deepEqual(await t.services.db.selectFrom('users').select(['email', 'password_hash']).orderBy('email').execute(), hashes);
});

test('office kinds follow the slug, then the title', () => {
  assert.equal(officeKind('ministerio-de-cultura'), 'ministry');
  assert.equal(officeKind('subsecretaria-justicia'), 'secretariat');
  assert.equal(officeKind('vicejefatura-de-gobierno'), 'secretariat');
  assert.equal(officeKind('ente-de-turismo'), 'agency');
  assert.equal(officeKind('organo-garante-del-derecho-de-acceso-a-la-informacion-publica'), 'other');
  assert.equal(officeKind('atencion-ciudadana', 'Secretaria de Atención Ciudadana y Gestión Comunal'), 'secretariat');
  assert.equal(officeKind('algo-nuevo', 'Algo nuevo'), 'other');
});

test('proper names and slugs of barrios', () => {
  assert.equal(properName('SAN NICOLAS'), 'San Nicolás');
  assert.equal(properName('NUÑEZ'), 'Núñez');
  assert.equal(properName('MONTE  CASTRO'), 'Monte Castro');
  assert.equal(properName('PARQUE CHAS'), 'Parque Chas');
  assert.equal(slugify('Villa Pueyrredón'), 'villa-pueyrredon');
  assert.equal(slugify('Núñez'), 'nunez');
});

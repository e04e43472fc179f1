import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import pg from 'pg';
import sharp from 'sharp';
import { sql, type Kysely } from 'kysely';
import { loadConfig } from '../../config';
import { createServices } from '../services';
import { openDatabase } from '../db';
import { listTables, dependencyOrder, restore, RestoreError } from './index';
import { createTestApp, ADMIN_PG_URL } from '../testing/harness';
import { createApiToken } from '../auth/session';
import { runCabildo as cabildo } from '../cli/spawn';

/**
 * `cabildo backup` and `cabildo restore` as an operator runs them (child processes pointed at a
 * database by DATA_DIR or DATABASE_URL). The round trip goes PGlite → PostgreSQL → PGlite,
 * whichever engine the rest of the suite runs on, and compares every row of every table.
 */
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cabildo-backup-'));
const createdDbs: string[] = [];
let pgReachable = true;

async function newPgDatabase(): Promise<string> {
  const name = `cabildo_cli_${Date.now().toString(36)}_${crypto.randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_PG_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  createdDbs.push(name);
  const url = new URL(ADMIN_PG_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Every row of every table, as PostgreSQL writes it (microseconds, exact numerics, JSON). */
async function snapshot(db: Kysely<any>): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const t of await listTables(db)) {
    const order = (t.primaryKey.length ? t.primaryKey : t.columns.map((c) => c.name)).map((c) => sql.id(c));
    const rows = await sql<{ j: string }>`select to_jsonb(_r.*)::text as j from ${sql.id(t.name)} as _r order by ${sql.join(order)}`.execute(db);
    out[t.name] = rows.rows.map((r) => r.j);
  }
  return out;
}

async function snapshotOf(target: { dataDir?: string; databaseUrl?: string }) {
  const database = await openDatabase(target.databaseUrl ? { databaseUrl: target.databaseUrl, poolSize: 2 } : { dataDir: target.dataDir });
  try {
    return await snapshot(database.db);
  } finally {
    await database.close();
  }
}

function filesOf(dataDir: string): Record<string, string> {
  const root = path.join(dataDir, 'files');
  const out: Record<string, string> = {};
  if (!fs.existsSync(root)) return out;
  for (const rel of fs.readdirSync(root, { recursive: true }) as string[]) {
    const p = path.join(root, rel);
    if (fs.statSync(p).isFile()) out[rel.split(path.sep).join('/')] = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
  }
  return out;
}

const source = path.join(tmp, 'source');
const officialEmail = 'funcionaria@cabildo.test';

before(async () => {
  try {
    const c = new pg.Client({ connectionString: ADMIN_PG_URL });
    await c.connect();
    await c.end();
  } catch {
    pgReachable = false;
  }
  // A city with a bit of everything: arrays, JSON, float areas, self-references, files, unicode.
  const services = await createServices(loadConfig({ SEED: 'none', DATA_DIR: source }, { logLevel: 'silent' }), { modules: [] });
  const db = services.db;
  const square = { type: 'Polygon', coordinates: [[[-58.4, -34.6], [-58.39, -34.6], [-58.39, -34.59], [-58.4, -34.6]]] };
  await db.insertInto('communes').values({ id: 1, name: 'Comuna 1', population: 205886, area_m2: 17_400_000.123_456_7, geometry: JSON.stringify(square) }).execute();
  await db.insertInto('neighbourhoods').values({ slug: 'san-telmo', name: 'San Telmo', commune_id: 1, population: 20453, area_m2: 0.1 + 0.2, geometry: JSON.stringify(square) }).execute();
  const ministry = await db.insertInto('offices').values({ slug: 'ministerio', name: 'Ministerio de Espacio Público', kind: 'ministry', description: 'Calles, plazas y "veredas" <b>limpias</b>' }).returning('id').executeTakeFirstOrThrow();
  const agency = await db.insertInto('offices').values({ slug: 'agencia', name: 'Agencia Ñandú', kind: 'agency', parent_id: ministry.id, commune_id: 1, description: '' }).returning('id').executeTakeFirstOrThrow();
  const official = await db
    .insertInto('users')
    .values({ email: officialEmail, name: 'Funcionaria Pérez', roles: ['official'], commune_id: 1, verified_at: new Date(), email_confirmed_at: new Date(), birth_year: 1980 })
    .returning('id')
    .executeTakeFirstOrThrow();
  await db.insertInto('office_members').values({ office_id: agency.id, user_id: official.id }).execute();
  await db.insertInto('users').values({ email: 'admin@cabildo.test', name: 'Administradora', roles: ['admin'], password_hash: '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA' }).execute();
  await createApiToken(db, official.id, 'robot de datos');
  await db.insertInto('sessions').values({ id: 'a'.repeat(64), user_id: official.id, expires_at: new Date(Date.now() + 86400_000), ip: '10.0.0.1', user_agent: 'Firefox' }).execute();
  await db.insertInto('census_records').values({ document_hash: 'f'.repeat(64), date_of_birth: '1980-05-25', commune_id: 1, gender: null }).execute();
  await services.audit.record({ id: official.id, email: officialEmail, ip: '10.0.0.1' }, { action: 'office.update', subjectType: 'office', subjectId: agency.id, officeId: agency.id, details: { before: { name: 'Agencia' }, after: { name: 'Agencia Ñandú' }, n: 1.5 } });
  await services.mail.enqueue({ to: 'vecina@example.org', subject: 'Bienvenida', text: 'Hola 👋', html: '<p>Hola</p>' });
  await db.insertInto('jobs').values({ kind: 'import.census', payload: JSON.stringify({ file: 'padron.csv', rows: [1, 2] }), log: JSON.stringify(['inicio', 'fin']) }).execute();
  await db.insertInto('settings').values({ key: 'theme', value: JSON.stringify({ primary: '#0b5b8f', nested: { a: [1, null, 'x'] } }) }).execute();
  await services.files.put(Buffer.from('document_number,commune\n1,2\n'), 'padrón.csv');
  await services.files.putImage(await sharp({ create: { width: 40, height: 30, channels: 3, background: '#08c' } }).jpeg().toBuffer(), 'foto.jpg');
  // Microseconds must survive: JS dates would round them to milliseconds.
  await sql`update users set created_at = '2024-03-01 12:34:56.789123+00'`.execute(db);
  await services.close();
});

after(async () => {
  fs.rmSync(tmp, { recursive: true, force: true });
  if (!createdDbs.length) return;
  const admin = new pg.Client({ connectionString: ADMIN_PG_URL });
  await admin.connect();
  for (const name of createdDbs) await admin.query(`drop database if exists ${name} with (force)`);
  await admin.end();
});

test('backup → restore PGlite → PostgreSQL → PGlite loses no row and no file; a non-empty target is refused', async (t) => {
  if (!pgReachable) return t.skip(`PostgreSQL is not reachable at ${ADMIN_PG_URL}: the round trip needs both engines`);
  const dumpA = path.join(tmp, 'a.cabildo.gz');
  const b1 = await cabildo(['backup', dumpA], { DATA_DIR: source });
  assert.equal(b1.code, 0, b1.stderr);
  assert.match(b1.stdout, /Wrote .* rows in \d+ tables, 3 files \(from pglite\)/);
  const original = await snapshotOf({ dataDir: source });
  const originalFiles = filesOf(source);
  assert.equal(Object.keys(originalFiles).length, 3, 'a document, an image and its thumbnail');
  assert.ok(original.users.length === 2 && original.offices.length === 2 && original.api_tokens.length === 1);
  assert.match(original.users.join(), /12:34:56\.789123/);

  // PGlite → PostgreSQL
  const pgUrl = await newPgDatabase();
  const pgData = path.join(tmp, 'pg-data');
  const r1 = await cabildo(['restore', dumpA], { DATABASE_URL: pgUrl, DATA_DIR: pgData });
  assert.equal(r1.code, 0, r1.stderr);
  assert.match(r1.stdout, /Restored .* into postgres/);
  assert.deepEqual(await snapshotOf({ databaseUrl: pgUrl }), original);
  assert.deepEqual(filesOf(pgData), originalFiles);

  // Ids continue after the restored ones (identity sequences were reset). Read, not tried: an
  // insert would fire the modules' triggers and change the rows compared below.
  const database = await openDatabase({ databaseUrl: pgUrl, poolSize: 1 });
  try {
    for (const table of ['offices', 'users', 'audit_log']) {
      const name = await sql<{ seq: string }>`select pg_get_serial_sequence(${table}, 'id') as seq`.execute(database.db);
      const seq = await sql<{ last_value: number; is_called: boolean }>`select last_value, is_called from ${sql.raw(name.rows[0].seq)}`.execute(database.db);
      const maxBefore = Math.max(...original[table].map((o) => JSON.parse(o).id as number));
      const { last_value, is_called } = seq.rows[0];
      assert.equal(is_called ? Number(last_value) + 1 : Number(last_value), maxBefore + 1, `${table} continues after id ${maxBefore}`);
    }
  } finally {
    await database.close();
  }

  // A second restore into the now non-empty database is refused and changes nothing.
  const again = await createServices(loadConfig({ SEED: 'none', DATABASE_URL: pgUrl, DATA_DIR: pgData }, { logLevel: 'silent' }), { modules: [] });
  try {
    await assert.rejects(restore(again, dumpA), (err: unknown) => err instanceof RestoreError && /already holds data/.test(err.message));
  } finally {
    await again.close();
  }
  assert.deepEqual(await snapshotOf({ databaseUrl: pgUrl }), original);

  // PostgreSQL → PGlite
  const dumpB = path.join(tmp, 'b.cabildo.gz');
  const b2 = await cabildo(['backup', dumpB], { DATABASE_URL: pgUrl, DATA_DIR: pgData });
  assert.equal(b2.code, 0, b2.stderr);
  const back = path.join(tmp, 'back');
  const r2 = await cabildo(['restore', dumpB], { DATA_DIR: back });
  assert.equal(r2.code, 0, r2.stderr);
  assert.deepEqual(await snapshotOf({ dataDir: back }), original);
  assert.deepEqual(filesOf(back), originalFiles);
});


test('restore refuses a file that is not a backup, a backup cut short, and a non-empty database', async () => {
  const t = await createTestApp();
  try {
    const junk = path.join(tmp, 'junk.txt');
    fs.writeFileSync(junk, 'not a backup');
    await assert.rejects(restore(t.services, junk), /not a Cabildo backup/);

    const cut = path.join(tmp, 'cut.gz');
    const header = { format: 'cabildo-backup', version: 1, createdAt: new Date().toISOString(), engine: 'pglite', migrations: {}, tables: [{ name: 'offices', columns: ['id', 'slug', 'name', 'kind', 'description'], rows: 1 }], files: 0 };
    const row = { id: 1, slug: 'x', name: 'X', kind: 'other', description: '' };
    fs.writeFileSync(cut, zlib.gzipSync(`${JSON.stringify(header)}\n{"table":"offices"}\n${JSON.stringify(row)}\n`));
    await assert.rejects(restore(t.services, cut), (err: unknown) => err instanceof RestoreError && /incomplete/.test(err.message));
    assert.equal((await t.services.db.selectFrom('offices').select('id').execute()).length, 0, 'nothing half-restored');

    const newer = path.join(tmp, 'newer.gz');
    fs.writeFileSync(newer, zlib.gzipSync(`${JSON.stringify({ ...header, migrations: { migrations_core: ['0001_core', '9999_future'] } })}\n{"end":true}\n`));
    await assert.rejects(restore(t.services, newer), /migrations this Cabildo does not know \(migrations_core\/9999_future\)/);

    const whole = path.join(tmp, 'whole.gz');
    fs.writeFileSync(whole, zlib.gzipSync(`${JSON.stringify(header)}\n{"table":"offices"}\n${JSON.stringify(row)}\n{"end":true}\n`));
    await restore(t.services, whole);
    assert.deepEqual(await t.services.db.selectFrom('offices').select(['id', 'slug']).execute(), [{ id: 1, slug: 'x' }]);
    await assert.rejects(restore(t.services, whole), /already holds data \(tables: offices\)/);
  } finally {
    await t.close();
  }
});

test('tables come after the tables they reference; self-references and cycles are deferred', () => {
  const fk = (table: string, references: string, name = `${table}_${references}_fk`) => ({ name, table, references, deferrable: false });
  const { order, deferred } = dependencyOrder(['votes', 'users', 'offices', 'projects', 'a', 'b'], [
    fk('votes', 'users'),
    fk('votes', 'projects'),
    fk('projects', 'offices'),
    fk('offices', 'offices'),
    fk('a', 'b'),
    fk('b', 'a'),
  ]);
  assert.ok(order.indexOf('users') < order.indexOf('votes'));
  assert.ok(order.indexOf('offices') < order.indexOf('projects') && order.indexOf('projects') < order.indexOf('votes'));
  assert.deepEqual(order.slice(-2).sort(), ['a', 'b']);
  assert.deepEqual(deferred.map((d) => d.name).sort(), ['a_b_fk', 'b_a_fk', 'offices_offices_fk']);
});

test("a module's migration-seeded rows are replaced, and triggers do not rewrite restored rows", async () => {
  // What a module's migration might create: a counter row, bumped by a trigger on every change.
  const schema = async (db: Kysely<any>) => {
    await sql`create table bk_version (id integer primary key check (id = 1), version integer not null)`.execute(db);
    await sql`insert into bk_version values (1, 1)`.execute(db);
    await sql`create table bk_items (id integer generated by default as identity primary key, name text not null, search tsvector)`.execute(db);
    await sql`create function bk_touch() returns trigger language plpgsql as $$
      begin update bk_version set version = version + 1 where id = 1; new.search := to_tsvector('simple', new.name || ' rewritten'); return new; end $$`.execute(db);
    await sql`create trigger bk_items_touch before insert on bk_items for each row execute function bk_touch()`.execute(db);
  };
  const from = await createTestApp();
  const to = await createTestApp();
  try {
    await schema(from.services.db);
    await sql`insert into bk_items (name) values ('plaza'), ('vereda'), ('árbol')`.execute(from.services.db);
    // Later rows changed without the trigger (as a data fix would): restore must keep them so.
    await sql`alter table bk_items disable trigger user`.execute(from.services.db);
    await sql`update bk_items set search = to_tsvector('simple', name) where true`.execute(from.services.db);
    await sql`alter table bk_items enable trigger user`.execute(from.services.db);
    await from.services.db.insertInto('users').values({ email: 'uno@cabildo.test', name: 'Uno' }).execute();
    const dump = path.join(tmp, 'triggers.gz');
    const { backup } = await import('./index');
    await backup(from.services, dump);
    const expected = await snapshot(from.services.db);
    assert.equal(JSON.parse(expected.bk_version[0]).version, 4, 'three inserts bumped it');
    assert.doesNotMatch(expected.bk_items.join(), /rewritten/);

    await schema(to.services.db);
    await restore(to.services, dump);
    const got = await snapshot(to.services.db);
    assert.deepEqual(got.bk_version, expected.bk_version, 'the seeded row was replaced, not bumped');
    assert.deepEqual(got.bk_items, expected.bk_items, 'rows as they were, not rewritten by the trigger');
    assert.deepEqual(got.users, expected.users);
    // The trigger works again after the restore.
    await sql`insert into bk_items (name) values ('nuevo')`.execute(to.services.db);
    const v = await sql<{ version: number }>`select version from bk_version`.execute(to.services.db);
    assert.equal(v.rows[0].version, 5);
  } finally {
    await from.close();
    await to.close();
  }
});

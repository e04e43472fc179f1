// datastore_search_sql's fences: what a statement reads is taken from its plan, not from the
// names the tokenizer saw after FROM, so comma joins, TABLE, sub-selects, CTEs, E'' strings that
// hide a comment, and catalogue reads are refused; a costly plan is refused before it runs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import type { TestContext } from '../../core/testing/harness';
import { ckanFixture, rejects, type CkanClient } from './testing';
import { odDb } from './store';
import { sqlSettings } from './datastore';
import { DATASTORE_READER } from './migrations/0001_open_data';

let t: TestContext;
let base: string;
let anon: CkanClient;
let editor: CkanClient;
let outsider: CkanClient;
let pub: string; // a public dataset's table
let big: string; // a public table of 3,000 rows
let draft: string; // a draft dataset's table

before(async () => {
  let officeSlug: string;
  ({ t, base, anon, editor, outsider, officeSlug } = await ckanFixture({
    office: ['ministerio-de-economia', 'Ministerio de Economía'],
    otherOffice: ['legislatura', 'Legislatura'],
    themes: [['economia', 'Economía']],
  }));
  await editor.action.package_create({ name: 'publico', title: 'Público', owner_org: officeSlug });
  await editor.action.package_create({ name: 'borrador', title: 'Borrador', owner_org: officeSlug, private: true });
  const create = async (pkg: string, records: Array<Record<string, unknown>>) =>
    ((await editor.action.datastore_create({
      resource: { package_id: pkg, name: pkg },
      fields: [{ id: 'nombre', type: 'text' }, { id: 'monto', type: 'int' }],
      records,
    })) as { resource_id: string }).resource_id;
  pub = await create('publico', [{ nombre: 'a', monto: 1 }, { nombre: 'b', monto: 2 }]);
  draft = await create('borrador', [{ nombre: 'secreto', monto: 99 }]);
  big = await create('publico', Array.from({ length: 3000 }, (_, i) => ({ nombre: `n${i}`, monto: i })));
  await sql`analyze datastore.${sql.id(big)}`.execute(t.services.db);
});

after(async () => {
  await t.close();
});

const run = (c: CkanClient, q: string) => c.action.datastore_search_sql({ sql: q }) as Promise<{ records: Array<Record<string, unknown>> }>;

test('a public table can be queried; the tables it reads are taken from the plan', async () => {
  const r = await run(anon, `SELECT nombre, monto FROM "${pub}" ORDER BY monto`);
  assert.deepEqual(r.records, [{ nombre: 'a', monto: 1 }, { nombre: 'b', monto: 2 }]);
  // Two public tables, a CTE over a public one and a sub-select of a public one are fine.
  const joined = await run(anon, `WITH x AS (SELECT monto FROM "${pub}") SELECT count(*)::int AS n FROM x, "${pub}" p WHERE p.monto IN (SELECT monto FROM "${pub}")`);
  assert.equal(joined.records[0].n, 4);
  // The draft's own editors may read it.
  const mine = await run(editor, `SELECT nombre FROM "${draft}"`);
  assert.deepEqual(mine.records, [{ nombre: 'secreto' }]);
});

test("a draft dataset's table is refused however it is named", async () => {
  for (const q of [
    `SELECT * FROM "${pub}", "${draft}"`,
    `SELECT * FROM "${pub}" WHERE EXISTS (TABLE "${draft}")`,
    `TABLE "${draft}"`,
    `SELECT (SELECT nombre FROM "${draft}" LIMIT 1) AS leak FROM "${pub}"`,
    `SELECT * FROM "${pub}" WHERE nombre IN (SELECT nombre FROM "${draft}")`,
    `WITH s AS (SELECT * FROM "${draft}") SELECT * FROM "${pub}", s`,
    `SELECT * FROM "${pub}" p CROSS JOIN LATERAL (SELECT nombre FROM datastore."${draft}") d`,
  ]) {
    const e = await rejects(run(anon, q), 'Validation Error');
    assert.doesNotMatch(JSON.stringify(e), /secreto/, q);
  }
  await rejects(run(outsider, `SELECT * FROM "${pub}", "${draft}"`), 'Validation Error');
});

test("E'' strings and other quoting cannot hide a read of the app's tables or the catalogue", async () => {
  for (const q of [
    `select E'\\' --', (select email from public.users limit 1) as leak\nfrom "${pub}"`,
    `select e'\\\\\\' --', (select email from users limit 1) as leak\nfrom "${pub}"`,
    `SELECT * FROM "${pub}" WHERE EXISTS (TABLE users)`,
    `SELECT * FROM "${pub}", users`,
    `SELECT (SELECT count(*) FROM pg_class) AS n FROM "${pub}"`,
    `SELECT * FROM "${pub}", information_schema.tables`,
    `SELECT U&'\\0041' AS a, (SELECT rolname FROM pg_roles LIMIT 1) FROM "${pub}"`,
    `SELECT * FROM U&"\\0070g_class"`,
    `SELECT $$x$$ FROM "${pub}"`,
    `SELECT public.od_dataset_formats('x') FROM "${pub}"`,
    `SELECT schema_to_xml('public', true, true, '') FROM "${pub}"`,
    `SELECT ts_stat('select search_vector from public.od_datasets') FROM "${pub}"`,
  ]) {
    const e = await rejects(run(anon, q), 'Validation Error');
    assert.doesNotMatch(JSON.stringify(e), /@/, q);
  }
});

test('a plan over the cost bound is refused before it runs (PGlite has no statement timeout)', async () => {
  const e = await rejects(run(anon, `SELECT count(*) FROM "${big}" a, "${big}" b, "${big}" c`), 'Validation Error');
  assert.match(JSON.stringify(e.query), /too expensive/);
  // The same join with a LIMIT is cheap and runs.
  const ok = await run(anon, `SELECT a.monto FROM "${big}" a, "${big}" b LIMIT 3`);
  assert.equal(ok.records.length, 3);
});

test('the statement runs as the reader role, which cannot read the app tables (both engines)', async () => {
  const r = await run(anon, `SELECT current_user AS u, count(*)::int AS n FROM "${pub}"`);
  assert.deepEqual(r.records, [{ u: DATASTORE_READER, n: 2 }]);
  // The role itself (the last fence) cannot read users even if a statement got past the others.
  await assert.rejects(
    odDb(t.services).transaction().execute(async (trx) => {
      await sql.raw(`set local role ${DATASTORE_READER}`).execute(trx);
      await sql`select email from public.users limit 1`.execute(trx);
    }),
    /permission denied/,
  );
});

// Last: it drops the role. On PostgreSQL roles are shared by every database of the cluster (other
// test files run beside this one), so there it is skipped; the code path is the same.
test('as CKAN, at most rows_max records come back, with records_truncated when there were more', async () => {
  const max = sqlSettings.rowsMax;
  sqlSettings.rowsMax = 100;
  try {
    const cut = (await anon.action.datastore_search_sql({ sql: `SELECT monto FROM "${big}" ORDER BY monto` })) as { records: Array<{ monto: number }>; records_truncated?: boolean };
    assert.equal(cut.records.length, 100);
    assert.equal(cut.records_truncated, true);
    assert.equal(cut.records[99].monto, 99);
    const whole = (await anon.action.datastore_search_sql({ sql: `SELECT monto FROM "${big}" WHERE monto < 100;` })) as { records: unknown[]; records_truncated?: boolean };
    assert.equal(whole.records.length, 100);
    assert.equal(whole.records_truncated, undefined);
  } finally {
    sqlSettings.rowsMax = max;
  }
});

test('row and text makers the planner cannot cost are refused; trailing comments are fine, as in CKAN', async () => {
  for (const q of [
    `SELECT count(*) FROM (SELECT generate_series(1, monto * 3000000) FROM "${big}") x`,
    `SELECT length(repeat(nombre, monto * 100000000)) FROM "${big}"`,
    `SELECT lpad(nombre, monto * 100000000) FROM "${big}"`,
    `SELECT * FROM "${big}", generate_series(1, 10)`,
  ]) {
    const e = await rejects(run(anon, q), 'Validation Error');
    assert.match(JSON.stringify(e), /not allowed/, q);
  }
  for (const q of [`SELECT nombre FROM "${pub}" -- todas`, `SELECT nombre FROM "${pub}"; -- todas`, `SELECT nombre FROM "${pub}" /* a; b */ ;`]) {
    const r = await run(anon, q);
    assert.deepEqual(r.records.map((x) => x.nombre).sort(), ['a', 'b'], q);
  }
});

test('without the reader role datastore_search_sql is refused with a clear CKAN error, never run as the app', async (ctx) => {
  if (t.services.database.engine !== 'pglite') return ctx.skip('roles are cluster-wide on PostgreSQL');
  await sql.raw(`drop owned by ${DATASTORE_READER}; drop role ${DATASTORE_READER}`).execute(t.services.db);
  const res = await fetch(`${base}/api/3/action/datastore_search_sql?sql=${encodeURIComponent(`SELECT * FROM "${pub}"`)}`);
  assert.equal(res.status, 503);
  const body = (await res.json()) as { success: boolean; error: { __type: string; message: string } };
  assert.equal(body.success, false);
  assert.equal(body.error.__type, 'Service Unavailable');
  assert.match(body.error.message, new RegExp(DATASTORE_READER));
});

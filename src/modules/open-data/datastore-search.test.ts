// datastore_search's q as CKAN's: full text against the row's `_full_text` (Spanish stemming,
// accents ignored), or against one field's text; rank returned and used as the order; plain and
// language; the column filled in the load for small tables and by a job for big ones, with the
// same answers before and after; kept right by a trigger on later writes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import type { TestContext } from '../../core/testing/harness';
import { ckanFixture, rejects, type CkanClient } from './testing';
import { odDb } from './store';
import { fullTextSettings, FULL_TEXT_JOB } from './datastore';

let t: TestContext;
let anon: CkanClient;
let editor: CkanClient;
let officeSlug: string;

type Search = { total: number; records: Array<Record<string, any>>; fields: Array<{ id: string; type: string }> };

const CSV =
  'Nro. de obra;nombre;barrio;monto;inicio\n' +
  '1;Obra de bacheo en avenida;Palermo;1500;2020-03-01\n' +
  '2;Construcción de plazas;Núñez;2500;2021-05-10\n' +
  '3;Plaza seca y veredas;Palermo;700;2019-01-20\n' +
  '4;Renovación de luminarias;Recoleta;300;2022-07-07\n' +
  '5;Obras hidráulicas: arroyo Medrano;Saavedra;9000;2018-11-30\n';

function upload(pkg: string, name: string, csv: string) {
  const fd = new FormData();
  fd.append('package_id', pkg);
  fd.append('name', name);
  fd.append('format', 'CSV');
  fd.append('upload', new Blob([Buffer.from(csv)]), `${name}.csv`);
  return editor.action.resource_create(fd) as Promise<{ id: string }>;
}

const search = (params: Record<string, unknown>) => anon.action.datastore_search(params) as Promise<Search>;

async function fullTextState(resourceId: string) {
  const db = odDb(t.services);
  const row = await db.selectFrom('od_datastore').select('full_text').where('resource_id', '=', resourceId).executeTakeFirstOrThrow();
  const index = await sql<{ n: number }>`select count(*)::int as n from pg_indexes where schemaname = 'datastore' and tablename = ${resourceId} and indexdef ilike '%gin%_full_text%'`.execute(db);
  return { flag: row.full_text, indexed: index.rows[0].n === 1 };
}

before(async () => {
  ({ t, anon, editor, officeSlug } = await ckanFixture({
    office: ['ministerio-de-espacio-publico', 'Ministerio de Espacio Público'],
    otherOffice: ['legislatura', 'Legislatura'],
    themes: [['urbanismo', 'Urbanismo']],
  }));
  await editor.action.package_create({ name: 'obras-barriales', title: 'Obras barriales', owner_org: officeSlug });
});

after(async () => {
  await t.close();
});

test('q: words with Spanish stemming and without accents, ranked, with CKAN\'s rank field', async () => {
  const r = await upload('obras-barriales', 'obras', CSV);
  assert.deepEqual(await fullTextState(r.id), { flag: true, indexed: true }, 'a small load fills and indexes _full_text itself');
  // "nunez" finds "Núñez" (accents ignored); "plaza" finds "plazas" and "hidraulica" "hidráulicas" (stemming).
  const obras = await search({ resource_id: r.id, q: 'hidraulica' });
  assert.deepEqual(obras.records.map((x) => x['Nro. de obra']), [5]);
  assert.equal(obras.total, 1);
  assert.deepEqual((await search({ resource_id: r.id, q: 'nunez' })).records.map((x) => x.barrio), ['Núñez']);
  const plazas = await search({ resource_id: r.id, q: 'plaza' });
  assert.deepEqual(plazas.records.map((x) => x['Nro. de obra']).sort(), [2, 3]);
  // Every word must match (plainto_tsquery), in any column, numbers and dates included.
  assert.deepEqual((await search({ resource_id: r.id, q: 'plaza palermo' })).records.map((x) => x['Nro. de obra']), [3]);
  assert.deepEqual((await search({ resource_id: r.id, q: '2022-07-07' })).records.map((x) => x['Nro. de obra']), [4]);
  assert.equal((await search({ resource_id: r.id, q: 'subte' })).total, 0);
  // rank: a float field and a value on each record; the best match first.
  assert.deepEqual(plazas.fields.at(-1), { id: 'rank', type: 'float' });
  assert.ok(plazas.records.every((x) => typeof x.rank === 'number' && x.rank > 0));
  const ranked = await search({ resource_id: r.id, q: 'palermo' });
  assert.ok(ranked.records[0].rank >= ranked.records[1].rank);
  // `fields` without rank leaves it out; an explicit sort replaces the rank order; rank can be sorted on.
  const narrow = await search({ resource_id: r.id, q: 'palermo', fields: 'nombre', sort: 'nombre desc' });
  assert.deepEqual(narrow.records, [{ nombre: 'Plaza seca y veredas' }, { nombre: 'Obra de bacheo en avenida' }]);
  assert.deepEqual(narrow.fields.map((f) => f.id), ['nombre']);
  const byRank = await search({ resource_id: r.id, q: 'palermo', fields: 'nombre,rank', sort: 'rank asc' });
  assert.deepEqual(byRank.fields.map((f) => f.id), ['nombre', 'rank']);
  assert.ok(byRank.records[0].rank <= byRank.records[1].rank);
  // Without q there is no rank.
  assert.ok(!(await search({ resource_id: r.id, limit: 1 })).fields.some((f) => f.id === 'rank'));
});

test('q per field, plain=false, language, and the errors CKAN gives', async () => {
  const r = await upload('obras-barriales', 'obras-por-campo', CSV);
  // "palermo" only in the barrio column; "obra" only in nombre: a per-field q looks in that field alone.
  const inBarrio = await search({ resource_id: r.id, q: JSON.stringify({ barrio: 'palermo' }) });
  assert.deepEqual(inBarrio.records.map((x) => x['Nro. de obra']).sort(), [1, 3]);
  assert.ok(inBarrio.fields.some((f) => f.id === 'rank barrio'));
  assert.equal((await search({ resource_id: r.id, q: { nombre: 'palermo' } })).total, 0);
  assert.deepEqual((await search({ resource_id: r.id, q: { nombre: 'plazas', barrio: 'nunez' } })).records.map((x) => x['Nro. de obra']), [2]);
  // Numbers, and a column whose name has a dot (as many of BA Data's headers do).
  assert.deepEqual((await search({ resource_id: r.id, q: { 'Nro. de obra': '4' } })).records.map((x) => x.barrio), ['Recoleta']);
  const dotted = await search({ resource_id: r.id, filters: { 'Nro. de obra': 5 }, fields: 'Nro. de obra,barrio', sort: 'Nro. de obra desc' });
  assert.deepEqual(dotted.records, [{ 'Nro. de obra': 5, barrio: 'Saavedra' }]);
  // plain=false reads q as tsquery syntax: a prefix and an OR.
  assert.deepEqual((await search({ resource_id: r.id, q: 'lumin:*', plain: false })).records.map((x) => x['Nro. de obra']), [4]);
  assert.deepEqual((await search({ resource_id: r.id, q: 'recoleta | saavedra', plain: false })).records.map((x) => x['Nro. de obra']).sort(), [4, 5]);
  // Another text-search configuration: computed on the fly, no stemming in "simple".
  assert.equal((await search({ resource_id: r.id, q: 'plaza', language: 'simple' })).total, 1);
  assert.equal((await search({ resource_id: r.id, q: 'plaza' })).total, 2);
  const badField = await rejects(search({ resource_id: r.id, q: { comuna: 'x' } }), 'Validation Error');
  assert.match(JSON.stringify(badField), /comuna/);
  const badSyntax = await rejects(search({ resource_id: r.id, q: 'plaza &', plain: false }), 'Validation Error');
  assert.match(JSON.stringify(badSyntax), /q/);
  const badLanguage = await rejects(search({ resource_id: r.id, q: 'plaza', language: 'klingon' }), 'Validation Error');
  assert.match(JSON.stringify(badLanguage), /klingon/);
  await rejects(search({ resource_id: r.id, q: 'plaza', language: "spanish'; drop table x; --" }), 'Validation Error');
});

test('big tables: the load reports done before _full_text, q gives the same answers meanwhile, a job fills and indexes it', async () => {
  const inline = fullTextSettings.inlineRows;
  fullTextSettings.inlineRows = 3;
  try {
    const r = await upload('obras-barriales', 'obras-grandes', CSV);
    assert.deepEqual(await fullTextState(r.id), { flag: false, indexed: false });
    const job = await t.services.db.selectFrom('jobs').select(['id', 'status']).where('kind', '=', FULL_TEXT_JOB).where(sql<string>`payload->>'resourceId'`, '=', r.id).executeTakeFirstOrThrow();
    assert.equal(job.status, 'queued');
    const before = await search({ resource_id: r.id, q: 'plaza' });
    assert.deepEqual(before.records.map((x) => x['Nro. de obra']).sort(), [2, 3]);
    // Above scanRows, reading every row would take minutes: q waits for the index, filters do not.
    const scan = fullTextSettings.scanRows;
    fullTextSettings.scanRows = 4;
    try {
      const pending = await rejects(search({ resource_id: r.id, q: 'seca' }), 'Validation Error');
      assert.match(JSON.stringify(pending), /still being prepared/);
      assert.equal((await search({ resource_id: r.id, filters: { barrio: 'Palermo' } })).total, 2);
    } finally {
      fullTextSettings.scanRows = scan;
    }
    // A write while the job waits is found after it too.
    await editor.action.datastore_upsert({ resource_id: r.id, force: true, method: 'insert', records: [{ 'Nro. de obra': 6, nombre: 'Plaza de juegos', barrio: 'Caballito', monto: 100, inicio: '2023-01-01' }] });
    await t.services.jobs.drain();
    assert.equal((await t.services.db.selectFrom('jobs').select('status').where('id', '=', job.id).executeTakeFirstOrThrow()).status, 'done');
    assert.deepEqual(await fullTextState(r.id), { flag: true, indexed: true });
    const after1 = await search({ resource_id: r.id, q: 'plaza' });
    assert.deepEqual(after1.records.map((x) => x['Nro. de obra']).sort(), [2, 3, 6]);
    assert.deepEqual(
      before.records.map((x) => x.rank),
      after1.records.filter((x) => x['Nro. de obra'] !== 6).map((x) => x.rank),
      'the same rank from the column as computed on the fly',
    );
    // A new file replaces the table: the flag goes back down until its own job runs.
    await editor.action.resource_update(
      (() => {
        const fd = new FormData();
        fd.append('id', r.id);
        fd.append('format', 'CSV');
        fd.append('force', 'true');
        fd.append('upload', new Blob([Buffer.from(CSV.replace('Plaza seca', 'Plazoleta'))]), 'v2.csv');
        return fd;
      })(),
    );
    assert.deepEqual(await fullTextState(r.id), { flag: false, indexed: false });
    assert.deepEqual((await search({ resource_id: r.id, q: 'plaza' })).records.map((x) => x['Nro. de obra']), [2]);
    await t.services.jobs.drain();
    assert.deepEqual(await fullTextState(r.id), { flag: true, indexed: true });
    assert.deepEqual((await search({ resource_id: r.id, q: 'plazoleta' })).records.map((x) => x['Nro. de obra']), [3]);
  } finally {
    fullTextSettings.inlineRows = inline;
  }
});

test('the trigger keeps _full_text right: upserts, updates and datastore_create tables are searchable at once', async () => {
  const created = (await editor.action.datastore_create({
    resource: { package_id: 'obras-barriales', name: 'Reclamos' },
    fields: [{ id: 'id', type: 'int' }, { id: 'detalle', type: 'text' }],
    primary_key: 'id',
    records: [{ id: 1, detalle: 'Luminaria apagada' }, { id: 2, detalle: 'Bache profundo' }],
  })) as { resource_id: string };
  const id = created.resource_id;
  assert.deepEqual(await fullTextState(id), { flag: true, indexed: true });
  assert.equal((await search({ resource_id: id, q: 'luminarias' })).total, 1);
  await editor.action.datastore_upsert({ resource_id: id, records: [{ id: 1, detalle: 'Árbol caído' }, { id: 3, detalle: 'Luminaria rota' }] });
  assert.deepEqual((await search({ resource_id: id, q: 'luminaria' })).records.map((x) => x.id), [3]);
  assert.deepEqual((await search({ resource_id: id, q: 'arbol' })).records.map((x) => x.id), [1]);
  // A column added later is searched too.
  await editor.action.datastore_create({ resource_id: id, fields: [{ id: 'barrio', type: 'text' }], records: [{ id: 4, detalle: 'Poda', barrio: 'Villa Urquiza' }] });
  assert.deepEqual((await search({ resource_id: id, q: 'urquiza' })).records.map((x) => x.id), [4]);
  // _full_text is the DataStore's own: not a field, not sortable, not filterable.
  const all = await search({ resource_id: id });
  assert.ok(!all.fields.some((f) => f.id === '_full_text'));
  assert.ok(!('_full_text' in all.records[0]));
  await rejects(search({ resource_id: id, sort: '_full_text' }), 'Validation Error');
});

test('on PostgreSQL the planner uses the _full_text index for q', { skip: process.env.TEST_DATABASE !== 'postgres' }, async () => {
  const rows = Array.from({ length: 2000 }, (_, i) => ({ n: i, texto: i === 1234 ? 'aguja en el pajar' : `fila ${i} de relleno` }));
  const created = (await editor.action.datastore_create({ resource: { package_id: 'obras-barriales', name: 'Pajar' }, fields: [{ id: 'n', type: 'int' }, { id: 'texto', type: 'text' }], records: rows })) as { resource_id: string };
  await sql`analyze datastore.${sql.id(created.resource_id)}`.execute(t.services.db);
  // On a table this small a scan is as cheap: forbid it, to show the index answers q's condition.
  const plan = await t.services.db.transaction().execute(async (trx) => {
    await sql`set local enable_seqscan = off`.execute(trx);
    return sql<{ 'QUERY PLAN': string }>`explain select "_id" from datastore.${sql.id(created.resource_id)} t where t."_full_text" @@ plainto_tsquery('pg_catalog.spanish'::regconfig, public.immutable_unaccent('aguja'))`.execute(trx);
  });
  assert.match(plan.rows.map((r) => r['QUERY PLAN']).join('\n'), /_full_text/);
  assert.match(plan.rows.map((r) => r['QUERY PLAN']).join('\n'), /Bitmap Index Scan/);
  assert.deepEqual((await search({ resource_id: created.resource_id, q: 'aguja' })).records.map((x) => x.n), [1234]);
});

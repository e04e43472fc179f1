// The loader on the files Argentine portals really publish: decimal commas, blank lines (at the
// end, in the middle, inside a quoted field), impossible dates; the same table on both engines
// (COPY on PostgreSQL, batched inserts on PGlite).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { TestContext } from '../../core/testing/harness';
import { ckanFixture, rejects, type CkanClient } from './testing';

let t: TestContext;
let anon: CkanClient;
let editor: CkanClient;

type Search = { total: number; records: Array<Record<string, any>>; fields: Array<{ id: string; type: string }> };

function upload(name: string, data: string | Buffer, extra: Record<string, string> = {}) {
  const fd = new FormData();
  fd.append('package_id', 'cargas');
  fd.append('name', name);
  fd.append('format', 'CSV');
  for (const [k, v] of Object.entries(extra)) fd.append(k, v);
  fd.append('upload', new Blob([new Uint8Array(typeof data === 'string' ? Buffer.from(data) : data)]), `${name}.csv`);
  return editor.action.resource_create(fd) as Promise<{ id: string }>;
}

const search = (params: Record<string, unknown>) => anon.action.datastore_search(params) as Promise<Search>;
const types = (r: Search) => Object.fromEntries(r.fields.map((f) => [f.id, f.type]));

before(async () => {
  let officeSlug: string;
  ({ t, anon, editor, officeSlug } = await ckanFixture({
    office: ['ministerio-de-hacienda', 'Ministerio de Hacienda'],
    otherOffice: ['legislatura', 'Legislatura'],
    themes: [['economia', 'Economía']],
  }));
  await editor.action.package_create({ name: 'cargas', title: 'Cargas', owner_org: officeSlug });
});

after(async () => {
  await t.close();
});

test('decimal commas load as numbers (also when they first appear after the sample), and filter and sort as numbers', async () => {
  const csv = 'obra;monto;lat;lng;nota\nA;1234,5;-34,6037;-58,3816;1,5 km\nB;10;-34,5;-58,4;x\nC;5,25;-34,62;-58,45;\n';
  const r = await upload('montos', csv);
  const all = await search({ resource_id: r.id, sort: 'monto desc' });
  assert.deepEqual(types(all), { _id: 'int', obra: 'text', monto: 'numeric', lat: 'numeric', lng: 'numeric', nota: 'text' });
  assert.deepEqual(all.records.map((x) => [x.obra, Number(x.monto)]), [['A', 1234.5], ['B', 10], ['C', 5.25]]);
  assert.equal(Number(all.records[0].lat), -34.6037);
  // A filter may be written either way.
  assert.deepEqual((await search({ resource_id: r.id, filters: { monto: '5,25' } })).records.map((x) => x.obra), ['C']);
  assert.deepEqual((await search({ resource_id: r.id, filters: { monto: 5.25 } })).records.map((x) => x.obra), ['C']);
  // Beyond PostgreSQL's first-rows sample (integers first, decimal commas only at the end).
  const late = 'n;valor\n' + Array.from({ length: 30000 }, (_, i) => `${i};${i}`).join('\n') + '\n30000;7,5\n';
  const l = await upload('tardio', late);
  const lr = await search({ resource_id: l.id, sort: 'valor desc', limit: 1 });
  assert.equal(types(lr).valor, 'numeric');
  assert.deepEqual(lr.records.map((x) => Number(x.valor)), [29999]);
  assert.equal((await search({ resource_id: l.id, filters: { valor: '7,5' } })).total, 1);
  // A column mixing decimal commas with words stays text, nothing lost.
  const mixed = await upload('mixto', 'a;b\n1,5;x\nhola;y\n');
  const mr = await search({ resource_id: mixed.id });
  assert.equal(types(mr).a, 'text');
  assert.deepEqual(mr.records.map((x) => x.a), ['1,5', 'hola']);
  // datastore_upsert accepts a decimal comma for a numeric field too.
  await editor.action.datastore_upsert({ resource_id: r.id, force: true, method: 'insert', records: [{ obra: 'D', monto: '2,75' }] });
  assert.equal(Number((await search({ resource_id: r.id, filters: { obra: 'D' } })).records[0].monto), 2.75);
});

test('blank lines are skipped wherever they are, except inside a quoted field', async () => {
  for (const [name, csv] of [
    ['final', 'a,b\n1,2\n3,4\n\n'],
    ['final-crlf', 'a,b\r\n1,2\r\n3,4\r\n\r\n\r\n'],
    ['medio', 'a,b\n1,2\n\n3,4\n'],
  ] as const) {
    const r = await upload(name, csv);
    const got = await search({ resource_id: r.id });
    assert.deepEqual(got.records.map((x) => [x.a, x.b]), [[1, 2], [3, 4]], name);
  }
  const quoted = await upload('citado', 'a,b\n1,"primera\n\ntercera"\n\n2,x\n');
  const q = await search({ resource_id: quoted.id });
  assert.deepEqual(q.records.map((x) => [x.a, x.b]), [[1, 'primera\n\ntercera'], [2, 'x']]);
  const single = await upload('una-columna', 'barrio\nPalermo\n\nBelgrano\n\n');
  assert.deepEqual((await search({ resource_id: single.id })).records.map((x) => x.barrio), ['Palermo', 'Belgrano']);
});

test('an impossible date makes its column text on both engines; a forced date type refuses it with the row', async () => {
  const r = await upload('fechas', 'fecha,n\n2021-02-28,1\n2021-02-30,2\n');
  const got = await search({ resource_id: r.id });
  assert.equal(types(got).fecha, 'text');
  assert.deepEqual(got.records.map((x) => x.fecha), ['2021-02-28', '2021-02-30']);
  const ok = await upload('fechas-buenas', 'fecha,n\n2020-02-29,1\n2021-12-31,2\n');
  assert.equal(types(await search({ resource_id: ok.id })).fecha, 'date');
});

test('distinct with a sort on a field it does not return is a Validation Error, not a 500', async () => {
  const r = await upload('distintos', 'barrio,comuna\nPalermo,14\nBelgrano,13\nNúñez,13\n');
  const e = await rejects(search({ resource_id: r.id, fields: 'comuna', distinct: true, sort: 'barrio' }), 'Validation Error');
  assert.match(JSON.stringify(e), /distinct/);
  assert.deepEqual((await search({ resource_id: r.id, fields: 'comuna', distinct: true, sort: 'comuna desc' })).records, [{ comuna: 14 }, { comuna: 13 }]);
});

test("a Latin-1 file with UTF-8 lines (BA's SUACI counts) loads every line as written", async () => {
  const file = fs.readFileSync('data/demo/open-data/gcba_suaci_comunas.csv');
  const r = await upload('suaci', file);
  const nunez = await search({ resource_id: r.id, q: 'nunez', limit: 1000 });
  assert.ok(nunez.total > 10);
  const text = JSON.stringify((await search({ resource_id: r.id, limit: 32000 })).records);
  assert.doesNotMatch(text, /Ã|Â/, 'no UTF-8 read as Latin-1');
  assert.match(text, /NUÑEZ/);
  // Latin-1 lines too: a name with an accent written as one byte.
  const latin = Buffer.concat([Buffer.from('barrio;n\n'), Buffer.from([0x4e, 0x55, 0xd1, 0x45, 0x5a]), Buffer.from(';1\n'), Buffer.from('NUÑEZ;2\n')]);
  const l = await upload('mezcla', latin);
  assert.deepEqual((await search({ resource_id: l.id })).records.map((x) => x.barrio), ['NUÑEZ', 'NUÑEZ']);
});

test('datastore_upsert writes as one by one would: later records see earlier ones, _id and key matches mix, a miss changes nothing', async () => {
  const created = (await editor.action.datastore_create({
    resource: { package_id: 'cargas', name: 'Partidas' },
    fields: [{ id: 'codigo', type: 'text' }, { id: 'monto', type: 'numeric' }, { id: 'nota', type: 'text' }],
    primary_key: 'codigo',
  })) as { resource_id: string };
  const id = created.resource_id;
  const all = async () => (await search({ resource_id: id, sort: 'codigo', limit: 10000 })).records;
  // 3,000 records in one call, with a key repeated: the later record wins, as in sequence.
  const many = Array.from({ length: 3000 }, (_, i) => ({ codigo: `P${String(i).padStart(4, '0')}`, monto: i, nota: 'alta' }));
  await editor.action.datastore_upsert({ resource_id: id, records: [...many, { codigo: 'P0001', monto: '99,5', nota: 'corregida' }] });
  let rows = await all();
  assert.equal(rows.length, 3000);
  assert.deepEqual([rows[1].codigo, Number(rows[1].monto), rows[1].nota], ['P0001', 99.5, 'corregida']);
  const info = await t.services.db.selectFrom('od_datastore' as never).select('row_count' as never).where('resource_id' as never, '=', id as never).executeTakeFirstOrThrow();
  assert.equal(Number((info as { row_count: number }).row_count), 3000);
  // Records of different shapes in one call: only the fields given change.
  const p2 = rows[2];
  await editor.action.datastore_upsert({
    resource_id: id,
    records: [{ codigo: 'P0002', nota: 'solo nota' }, { _id: p2._id, monto: 7 }, { codigo: 'NUEVA', monto: 1, nota: 'n' }, { codigo: 'P0002', monto: 8 }],
  });
  rows = await all();
  const r2 = rows.find((r) => r.codigo === 'P0002')!;
  assert.deepEqual([Number(r2.monto), r2.nota], [8, 'solo nota']);
  assert.ok(rows.some((r) => r.codigo === 'NUEVA'));
  assert.equal(rows.length, 3001);
  // update: one missing key among many refuses the whole call and names it.
  const e = await rejects(editor.action.datastore_upsert({ resource_id: id, method: 'update', records: [{ codigo: 'P0003', monto: 0 }, { codigo: 'NO-EXISTE', monto: 1 }] }), 'Validation Error');
  assert.match(JSON.stringify(e), /NO-EXISTE.*not found/);
  const e2 = await rejects(editor.action.datastore_upsert({ resource_id: id, records: [{ _id: 999999, monto: 1 }] }), 'Validation Error');
  assert.match(JSON.stringify(e2), /_id \\"999999\\" not found/);
  rows = await all();
  assert.equal(Number(rows.find((r) => r.codigo === 'P0003')!.monto), 3, 'nothing of the refused call was written');
  // And the full text follows the writes.
  assert.equal((await search({ resource_id: id, q: 'corregida' })).total, 1);
});

test('a broken XLSX (a zip that is no workbook, or not a zip at all) is a Validation Error with the reason, and stores nothing', async () => {
  const before = ((await anon.action.package_show({ id: 'cargas' })) as { num_resources: number }).num_resources;
  for (const data of [Buffer.from('PK\u0003\u0004 this is not a zip archive'), Buffer.from('not even a zip')]) {
    const fd = new FormData();
    fd.append('package_id', 'cargas');
    fd.append('format', 'XLSX');
    fd.append('upload', new Blob([new Uint8Array(data)]), 'libro.xlsx');
    const e = await rejects(editor.action.resource_create(fd), 'Validation Error');
    assert.match(JSON.stringify(e), /XLSX|empty/);
  }
  assert.equal(((await anon.action.package_show({ id: 'cargas' })) as { num_resources: number }).num_resources, before);
});

test('datastore_upsert: one key spelled two ways in a call is one row, and the later record wins', async () => {
  const created = (await editor.action.datastore_create({
    resource: { package_id: 'cargas', name: 'Claves' },
    fields: [{ id: 'id', type: 'int' }, { id: 'v', type: 'text' }],
    primary_key: 'id',
    records: [{ id: 1, v: 'a' }],
  })) as { resource_id: string };
  const id = created.resource_id;
  await editor.action.datastore_upsert({ resource_id: id, records: [{ id: 1, v: 'b' }, { id: '+1', v: 'c' }, { id: 2, v: 'x' }, { id: ' 2', v: 'y' }] });
  assert.deepEqual((await search({ resource_id: id, sort: 'id' })).records.map((x) => [x.id, x.v]), [[1, 'c'], [2, 'y']]);
  await editor.action.datastore_upsert({ resource_id: id, method: 'update', records: [{ id: 1, v: 'first' }, { id: ' 1', v: 'last' }] });
  assert.deepEqual((await search({ resource_id: id, filters: { id: 1 } })).records.map((x) => x.v), ['last']);
});

test('the same table on both engines: a leading blank line, database-refused values named by row, row numbers after blank lines, slash dates', async () => {
  const lead = await upload('inicio-en-blanco', '\na,b\n1,2\n3,4\n');
  const l = await search({ resource_id: lead.id });
  assert.deepEqual(types(l), { _id: 'int', a: 'int8', b: 'int8' });
  assert.deepEqual(l.records.map((x) => [x.a, x.b]), [[1, 2], [3, 4]]);
  // A NUL inside a value: refused by the database on both engines, with its row.
  const nul = await rejects(upload('nul', 'a,b\n1,ok\n2,x\u0000y\n'), 'Validation Error');
  assert.match(JSON.stringify(nul), /Row 3/);
  // A ragged row after blank lines is named by its line in the file.
  const ragged = await rejects(upload('tras-blancos', 'a,b\n1,2\n\n\n3,4\nx,y,z\n'), 'Validation Error');
  assert.match(JSON.stringify(ragged), /Row 6/);
  // A slash date after ISO dates is not read as month/day: the column becomes text on both engines.
  const rows = Array.from({ length: 2100 }, (_, i) => `2020-01-${String((i % 28) + 1).padStart(2, '0')},${i}`);
  const slash = await upload('fechas-barra', `fecha,n\n${rows.join('\n')}\n5/1/2020,9999\n`);
  const sr = await search({ resource_id: slash.id, filters: { n: 9999 } });
  assert.equal(types(sr).fecha, 'text');
  assert.equal(sr.records[0].fecha, '5/1/2020');
  // Latin-1 only, with an accented capital before a no-break space: read as Latin-1, not as UTF-8.
  const latin = Buffer.concat([Buffer.from('nombre;n\n'), Buffer.from([0x4a, 0x4f, 0x53, 0xc9, 0xa0, 0x4d, 0x41, 0x52, 0xcd, 0x41]), Buffer.from(';1\n')]);
  const lr = await upload('latin1-nbsp', latin);
  assert.deepEqual((await search({ resource_id: lr.id })).records.map((x) => x.nombre), ['JOSÉ\u00a0MARÍA']);
});

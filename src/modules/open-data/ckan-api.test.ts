import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import iconv from 'iconv-lite';
import ExcelJS from 'exceljs';
import type { TestContext } from '../../core/testing/harness';
import { ckanFixture, rejects, type CkanClient, type CkanErr, form } from './testing';
import { odDb } from './store';
import { loadSettings } from './publishing';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

let t: TestContext;
let base: string;
type Client = CkanClient;
let anon: Client;
let editor: Client;
let outsider: Client;
let officeSlug: string;

before(async () => {
  ({ t, base, anon, editor, outsider, officeSlug } = await ckanFixture({
    office: ['ministerio-de-salud', 'Ministerio de Salud'],
    otherOffice: ['legislatura', 'Legislatura'],
    themes: [['salud', 'Salud'], ['movilidad', 'Movilidad']],
  }));
});

after(async () => {
  await t.close();
});

test('status_show and site_read answer in the CKAN envelope', async () => {
  const status = (await anon.action.status_show()) as { ckan_version: string; extensions: string[] };
  assert.match(status.ckan_version, /^2\./);
  assert.ok(status.extensions.includes('datastore'));
  assert.equal(await anon.action.site_read(), true);
  const raw = await fetch(`${base}/api/3/action/status_show`);
  const body = (await raw.json()) as { help: string; success: boolean };
  assert.equal(body.success, true);
  assert.match(body.help, /help_show\?name=status_show/);
});

test('writes need a token: anonymous package_create is an Authorization Error (403) and creates nothing', async () => {
  await rejects(anon.action.package_create({ name: 'sin-token', owner_org: officeSlug }), 'Authorization Error');
  const res = await fetch(`${base}/api/3/action/package_create`, { method: 'POST', body: JSON.stringify({ name: 'sin-token', owner_org: officeSlug }), headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 403);
  assert.deepEqual(await anon.action.package_list(), []);
});

test('GET on a write action is a 400, unknown actions are a 400, bad JSON is a 400', async () => {
  const get = await fetch(`${base}/api/3/action/package_create?name=x`);
  assert.equal(get.status, 400);
  assert.equal(((await get.json()) as { success: boolean }).success, false);
  const unknown = await fetch(`${base}/api/3/action/no_such_action`);
  assert.equal(unknown.status, 400);
  const bad = await fetch(`${base}/api/3/action/package_search`, { method: 'POST', body: '{nope', headers: { 'content-type': 'application/json' } });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { error: CkanErr }).error.__type, 'Bad Request');
});

test('package_create validates, checks membership, and package_show returns CKAN fields', async () => {
  const invalid = await rejects(editor.action.package_create({ name: 'Bad Name!', owner_org: officeSlug }), 'Validation Error');
  assert.ok(Array.isArray(invalid.name));
  // A page of the catalogue (/datasets/themes) is not a dataset's name: it could never be reached.
  const reserved = await rejects(editor.action.package_create({ name: 'themes', owner_org: officeSlug }), 'Validation Error');
  assert.deepEqual(reserved.name, ['That name cannot be used']);
  await rejects(outsider.action.package_create({ name: 'ajeno', owner_org: officeSlug }), 'Authorization Error');
  await rejects(editor.action.package_create({ name: 'sin-grupo', owner_org: officeSlug, groups: [{ name: 'no-existe' }] }), 'Validation Error');

  const created = (await editor.action.package_create({
    name: 'hospitales',
    title: 'Hospitales de la Ciudad',
    notes: 'Ubicación de los hospitales públicos y sus especialidades.',
    owner_org: officeSlug,
    license_id: 'CC-BY-4.0',
    groups: [{ name: 'salud' }],
    tags: [{ name: 'hospitales' }, { name: 'salud pública' }],
    extras: [{ key: 'accrualPeriodicity', value: 'R/P1Y' }, { key: 'superTheme', value: '["HEAL"]' }],
    resources: [{ name: 'Hospitales (CSV)', url: 'https://example.org/hospitales.csv', format: 'CSV' }],
  })) as Record<string, any>;
  assert.equal(created.name, 'hospitales');
  assert.equal(created.private, false);
  await rejects(editor.action.package_create({ name: 'hospitales', owner_org: officeSlug }), 'Validation Error');

  const shown = (await anon.action.package_show({ id: 'hospitales' })) as Record<string, any>;
  for (const k of ['id', 'name', 'title', 'notes', 'owner_org', 'organization', 'groups', 'tags', 'extras', 'resources', 'num_resources', 'num_tags', 'metadata_created', 'metadata_modified', 'license_id', 'state', 'type']) {
    assert.ok(k in shown, `package_show lacks ${k}`);
  }
  assert.equal(shown.organization.name, officeSlug);
  assert.equal(shown.groups[0].name, 'salud');
  assert.deepEqual(shown.tags.map((x: { name: string }) => x.name).sort(), ['hospitales', 'salud pública']);
  assert.equal(shown.extras.find((e: { key: string }) => e.key === 'accrualPeriodicity').value, 'R/P1Y');
  assert.equal(shown.resources[0].format, 'CSV');
  const res = (await anon.action.resource_show({ id: shown.resources[0].id })) as Record<string, any>;
  assert.equal(res.package_id, shown.id);
  await rejects(anon.action.package_show({ id: 'no-existe' }), 'Not Found Error');
  const audit = await t.services.db.selectFrom('audit_log').select('action').where('subject_id', '=', shown.id).execute();
  assert.ok(audit.some((a) => a.action === 'dataset.create'));
});

test('package_patch merges, package_update replaces', async () => {
  await editor.action.package_create({ name: 'subtes', title: 'Subtes', notes: 'Estaciones', owner_org: officeSlug, tags: [{ name: 'subte' }], groups: [{ name: 'movilidad' }] });
  const patched = (await editor.action.package_patch({ id: 'subtes', title: 'Estaciones de subte' })) as Record<string, any>;
  assert.equal(patched.title, 'Estaciones de subte');
  assert.equal(patched.notes, 'Estaciones');
  assert.deepEqual(patched.tags.map((x: { name: string }) => x.name), ['subte']);
  const updated = (await editor.action.package_update({ id: 'subtes', name: 'subtes', title: 'Red de subte', owner_org: officeSlug })) as Record<string, any>;
  assert.equal(updated.title, 'Red de subte');
  assert.equal(updated.notes, '');
  assert.deepEqual(updated.tags, []);
  await rejects(outsider.action.package_patch({ id: 'subtes', title: 'x' }), 'Authorization Error');
});

test('package_search: text with Spanish stemming and no accents, fq, facets, sort, paging', async () => {
  await editor.action.package_create({ name: 'farmacias', title: 'Farmacias de turno', notes: 'Listado de farmacias.', owner_org: officeSlug, groups: [{ name: 'salud' }], tags: [{ name: 'farmacias' }], resources: [{ url: 'https://example.org/f.json', format: 'JSON' }] });
  // "hospital" (singular, no accent) finds "Hospitales"; "ubicacion" finds "Ubicación".
  const r1 = (await anon.action.package_search({ q: 'hospital' })) as { count: number; results: Array<{ name: string }> };
  assert.deepEqual(r1.results.map((x) => x.name), ['hospitales']);
  const r2 = (await anon.action.package_search({ q: 'ubicacion' })) as { count: number };
  assert.equal(r2.count, 1);
  const faceted = (await anon.action.package_search({ fq: 'groups:salud', 'facet.field': '["organization","res_format","tags"]', rows: 1, sort: 'name asc' })) as Record<string, any>;
  assert.equal(faceted.count, 2);
  assert.equal(faceted.results.length, 1);
  assert.equal(faceted.results[0].name, 'farmacias');
  assert.equal(faceted.facets.organization[officeSlug], 2);
  assert.equal(faceted.facets.res_format.CSV, 1);
  assert.equal(faceted.facets.res_format.JSON, 1);
  assert.equal(faceted.search_facets.organization.items[0].display_name, 'Ministerio de Salud');
  const page2 = (await anon.action.package_search({ fq: 'groups:salud', rows: 1, start: 1, sort: 'name asc' })) as Record<string, any>;
  assert.equal(page2.results[0].name, 'hospitales');
  const combined = (await anon.action.package_search({ fq: `organization:${officeSlug} +res_format:"CSV"` })) as { count: number };
  assert.equal(combined.count, 1);
  const bad = await rejects(anon.action.package_search({ fq: 'color:rojo' }), 'Search Query Error');
  assert.match(String(bad.message), /color/);
  const raw = await fetch(`${base}/api/3/action/package_search?fq=color:rojo`);
  assert.equal(raw.status, 409);
  // GET works for read actions too, as CKAN clients often call them
  const viaGet = (await (await fetch(`${base}/api/3/action/package_search?q=farmacias&facet.field=["groups"]`)).json()) as { result: { count: number; facets: Record<string, Record<string, number>> } };
  assert.equal(viaGet.result.count, 1);
  assert.equal(viaGet.result.facets.groups.salud, 1);
});

test('organizations, groups (themes) and tags', async () => {
  const orgs = (await anon.action.organization_list()) as string[];
  assert.ok(orgs.includes(officeSlug));
  const org = (await anon.action.organization_show({ id: officeSlug, include_datasets: true })) as Record<string, any>;
  assert.equal(org.title, 'Ministerio de Salud');
  assert.ok(org.package_count >= 2);
  assert.ok(org.packages.some((p: { name: string }) => p.name === 'hospitales'));
  const groups = (await anon.action.group_list({ all_fields: true })) as Array<{ name: string; package_count: number }>;
  assert.equal(groups.find((g) => g.name === 'salud')?.package_count, 2);
  const group = (await anon.action.group_show({ id: 'movilidad' })) as Record<string, any>;
  assert.equal(group.title, 'Movilidad');
  await rejects(anon.action.group_show({ id: 'nada' }), 'Not Found Error');
  const tags = (await anon.action.tag_list()) as string[];
  assert.ok(tags.includes('farmacias'));
});

test('private datasets: hidden from anonymous search, shown to members with include_private', async () => {
  await editor.action.package_create({ name: 'borrador-interno', title: 'Borrador interno', owner_org: officeSlug, private: true });
  const pub = (await anon.action.package_search({ q: 'borrador' })) as { count: number };
  assert.equal(pub.count, 0);
  const mine = (await editor.action.package_search({ q: 'borrador', include_private: true })) as { count: number };
  assert.equal(mine.count, 1);
  const theirs = (await outsider.action.package_search({ q: 'borrador', include_private: true })) as { count: number };
  assert.equal(theirs.count, 0);
  await rejects(anon.action.package_show({ id: 'borrador-interno' }), 'Authorization Error');
});


test('resource_create with an upload loads the DataStore; datastore_search filters, sorts, searches', async () => {
  const csv = 'barrio;comuna;habitantes;fecha\nPalermo;14;225970;2010-10-27\nNúñez;13;49019;2010-10-27\nBelgrano;13;126816;2010-10-27\nRecoleta;2;157932;2010-10-27\n';
  const latin1 = iconv.encode(csv, 'latin1');
  const r = (await editor.action.resource_create(form({ package_id: 'hospitales', name: 'Barrios', format: 'CSV' }, { name: 'barrios.csv', data: latin1 }))) as Record<string, any>;
  assert.equal(r.datastore_active, true);
  assert.equal(r.url_type, 'upload');
  assert.match(r.url, /\/download$/);
  const all = (await anon.action.datastore_search({ resource_id: r.id })) as Record<string, any>;
  assert.equal(all.total, 4);
  assert.deepEqual(
    all.fields.map((f: { id: string; type: string }) => [f.id, f.type]),
    [['_id', 'int'], ['barrio', 'text'], ['comuna', 'int8'], ['habitantes', 'int8'], ['fecha', 'date']],
  );
  assert.equal(all.records[1].barrio, 'Núñez'); // Latin-1 detected and decoded
  const filtered = (await anon.action.datastore_search({ resource_id: r.id, filters: { comuna: 13 }, sort: 'habitantes desc', fields: 'barrio,habitantes' })) as Record<string, any>;
  assert.deepEqual(filtered.records, [{ barrio: 'Belgrano', habitantes: 126816 }, { barrio: 'Núñez', habitantes: 49019 }]);
  assert.equal(filtered.total, 2);
  const q = (await anon.action.datastore_search({ resource_id: r.id, q: 'nunez' })) as Record<string, any>;
  assert.equal(q.total, 1);
  const distinct = (await anon.action.datastore_search({ resource_id: r.id, fields: 'comuna', distinct: true, sort: 'comuna asc' })) as Record<string, any>;
  assert.deepEqual(distinct.records.map((x: { comuna: number }) => x.comuna), [2, 13, 14]);
  const paged = (await anon.action.datastore_search({ resource_id: r.id, limit: 1, offset: 2, include_total: false })) as Record<string, any>;
  assert.equal(paged.records[0].barrio, 'Belgrano');
  assert.equal(paged.total, undefined);
  await rejects(anon.action.datastore_search({ resource_id: r.id, filters: { color: 'x' } }), 'Validation Error');
  await rejects(anon.action.datastore_search({ resource_id: r.id, filters: { comuna: 'catorce' } }), 'Validation Error');
  await rejects(anon.action.datastore_search({ resource_id: 'nope' }), 'Not Found Error');

  // datastore_search_sql: one SELECT over DataStore tables only
  const sqlRes = (await anon.action.datastore_search_sql({ sql: `SELECT comuna, sum(habitantes) AS total FROM "${r.id}" GROUP BY comuna ORDER BY comuna` })) as Record<string, any>;
  assert.deepEqual(sqlRes.records.map((x: { comuna: number; total: number }) => [x.comuna, Number(x.total)]), [[2, 157932], [13, 175835], [14, 225970]]);
  for (const bad of [
    `DELETE FROM "${r.id}"`,
    `SELECT 1 FROM "${r.id}"; DROP TABLE "${r.id}"`,
    `SELECT * FROM users`,
    `SELECT * FROM public.users`,
    `SELECT * FROM pg_catalog.pg_authid`,
    `SELECT pg_sleep(10) FROM "${r.id}"`,
    `WITH x AS (DELETE FROM "${r.id}" RETURNING *) SELECT * FROM x`,
    `SELECT * FROM "${r.id}" WHERE barrio = (SELECT email FROM users LIMIT 1)`,
  ]) {
    await rejects(anon.action.datastore_search_sql({ sql: bad }), 'Validation Error');
  }
  const still = (await anon.action.datastore_search({ resource_id: r.id })) as { total: number };
  assert.equal(still.total, 4);

  // A new version: the old file stays downloadable, the table is replaced.
  const v2 = (await editor.action.resource_update(form({ id: r.id, name: 'Barrios', format: 'CSV' }, { name: 'barrios.csv', data: Buffer.from('barrio,comuna\nPalermo,14\n') }))) as Record<string, any>;
  assert.equal(v2.id, r.id);
  const after2 = (await anon.action.datastore_search({ resource_id: r.id })) as { total: number };
  assert.equal(after2.total, 1);
  const versions = await odDb(t.services).selectFrom('od_resource_versions').selectAll().where('resource_id', '=', r.id).execute();
  assert.equal(versions.length, 2);
  const old = await fetch(`${base}/datasets/hospitales/resource/${r.id}/download?version=1`);
  assert.equal(old.status, 200);
  assert.match(iconv.decode(Buffer.from(await old.arrayBuffer()), 'latin1'), /Núñez/);
});

test('a ragged or mis-encoded CSV is refused with the row and changes nothing', async () => {
  const before = (await anon.action.package_show({ id: 'hospitales' })) as { num_resources: number };
  const ragged = await rejects(editor.action.resource_create(form({ package_id: 'hospitales', format: 'CSV' }, { name: 'r.csv', data: Buffer.from('a,b\n1,2\n3,4,5\n') })), 'Validation Error');
  assert.match(String((ragged.upload as string[])[0]), /Row 3/);
  // UTF-8 at the start, then a Latin-1 byte on line 3: a mixed encoding.
  const mixed = Buffer.concat([Buffer.from('nombre,valor\nÁrbol,1\n'), Buffer.from([0x4e, 0xfa, 0xf1, 0x65, 0x7a, 0x2c, 0x32, 0x0a])]);
  const big = Buffer.concat([Buffer.from('nombre,valor\n' + 'Árbol,1\n'.repeat(60000)), Buffer.from([0x4e, 0xfa, 0xf1, 0x65, 0x7a, 0x2c, 0x32, 0x0a])]);
  await rejects(editor.action.resource_create(form({ package_id: 'hospitales', format: 'CSV' }, { name: 'm.csv', data: big })), 'Validation Error');
  // A small one (as BA's SUACI file): Latin-1 with UTF-8 lines. Each line loads as written.
  const small = (await editor.action.resource_create(form({ package_id: 'hospitales', format: 'CSV' }, { name: 'm2.csv', data: mixed }))) as { id: string };
  const repaired = (await anon.action.datastore_search({ resource_id: small.id })) as { records: Array<{ nombre: string }> };
  assert.deepEqual(repaired.records.map((x) => x.nombre), ['Árbol', 'Núñez']);
  await editor.action.resource_delete({ id: small.id });
  const after = (await anon.action.package_show({ id: 'hospitales' })) as { num_resources: number };
  assert.equal(after.num_resources, before.num_resources);
  // The failed replacement of a loaded table leaves the old table in place.
  const shown = (await anon.action.package_show({ id: 'hospitales' })) as { resources: Array<{ id: string; datastore_active: boolean }> };
  const loaded = shown.resources.find((x) => x.datastore_active)!;
  await rejects(editor.action.resource_update(form({ id: loaded.id, format: 'CSV' }, { name: 'x.csv', data: Buffer.from('barrio,comuna\nA,1\nB\n') })), 'Validation Error');
  const still = (await anon.action.datastore_search({ resource_id: loaded.id })) as { total: number; records: Array<{ barrio: string }> };
  assert.equal(still.total, 1);
  assert.equal(still.records[0].barrio, 'Palermo');
});

test('types are inferred from the whole file, and the data dictionary can force a type', async () => {
  // Row 2,500 breaks the integer pattern of the first rows: the column becomes text, nothing is lost.
  const lines = ['codigo,monto'];
  for (let i = 1; i <= 3000; i++) lines.push(`${i === 2500 ? 'S/N' : i},${i}.5`);
  const r = (await editor.action.resource_create(form({ package_id: 'hospitales', name: 'Montos', format: 'CSV' }, { name: 'montos.csv', data: Buffer.from(lines.join('\n')) }))) as Record<string, any>;
  const all = (await anon.action.datastore_search({ resource_id: r.id, limit: 1, offset: 2499 })) as Record<string, any>;
  assert.deepEqual(all.fields.map((f: { type: string }) => f.type), ['int', 'text', 'numeric']);
  assert.equal(all.records[0].codigo, 'S/N');
  assert.equal(all.total, 3000);
  // The publisher says "codigo" is text even where it looks like a number (leading zeros matter).
  const fields = JSON.stringify([{ id: 'codigo', type: 'text', info: { type_override: 'text', notes: 'Código de obra', unit: '' } }]);
  const r2 = (await editor.action.resource_create(form({ package_id: 'hospitales', name: 'Códigos', format: 'CSV', fields }, { name: 'codigos.csv', data: Buffer.from('codigo,n\n007,1\n010,2\n') }))) as Record<string, any>;
  const s2 = (await anon.action.datastore_search({ resource_id: r2.id })) as Record<string, any>;
  assert.equal(s2.records[0].codigo, '007');
  assert.equal(s2.fields[1].info.notes, 'Código de obra');
  // A dictionary type the data contradicts is refused with the row.
  const wrong = JSON.stringify([{ id: 'n', type: 'int', info: { type_override: 'int' } }]);
  const e = await rejects(editor.action.resource_create(form({ package_id: 'hospitales', format: 'CSV', fields: wrong }, { name: 'w.csv', data: Buffer.from('n\n1\n2\nmuchos\n') })), 'Validation Error');
  assert.match(String((e.upload as string[])[0]), /Row 4/);
});

test('XLSX and JSON-array uploads are loaded into the DataStore too', async () => {
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet('Hoja 1');
  ws.addRow(['establecimiento', 'camas', 'apertura']);
  ws.addRow(['Hospital Argerich', 350, new Date(Date.UTC(1904, 0, 1))]);
  ws.addRow(['Hospital Durand', 280, new Date(Date.UTC(1913, 5, 1))]);
  const xlsx = Buffer.from(await wb.xlsx.writeBuffer());
  const r = (await editor.action.resource_create(form({ package_id: 'hospitales', name: 'Camas' }, { name: 'camas.xlsx', data: xlsx }))) as Record<string, any>;
  assert.equal(r.format, 'XLSX');
  assert.equal(r.datastore_active, true);
  const s = (await anon.action.datastore_search({ resource_id: r.id, sort: 'camas desc' })) as Record<string, any>;
  assert.deepEqual(s.fields.map((f: { id: string; type: string }) => `${f.id}:${f.type}`), ['_id:int', 'establecimiento:text', 'camas:int8', 'apertura:date']);
  assert.equal(s.records[0].establecimiento, 'Hospital Argerich');
  const json = Buffer.from(JSON.stringify([{ guardia: 'Pediatría', espera: 40 }, { guardia: 'Adultos', espera: 95, nota: 'demora' }]));
  const j = (await editor.action.resource_create(form({ package_id: 'hospitales', name: 'Guardias', format: 'JSON' }, { name: 'guardias.json', data: json }))) as Record<string, any>;
  const js = (await anon.action.datastore_search({ resource_id: j.id })) as Record<string, any>;
  assert.deepEqual(js.records.map((x: Record<string, unknown>) => [x.guardia, x.espera, x.nota]), [['Pediatría', 40, null], ['Adultos', 95, 'demora']]);
  await rejects(editor.action.resource_create(form({ package_id: 'hospitales', format: 'JSON' }, { name: 'x.json', data: Buffer.from('{"no": "array"}') })), 'Validation Error');
});

test('an oversized upload is refused with CKAN error shape', async () => {
  const limit = t.services.config.uploadLimitBytes;
  const res = await fetch(`${base}/api/3/action/resource_create`, {
    method: 'POST',
    body: form({ package_id: 'hospitales', format: 'CSV' }, { name: 'huge.csv', data: Buffer.alloc(limit + 10, 0x61) }),
    headers: { authorization: (editor as unknown as { token: string }).token },
  });
  assert.equal(res.status, 413);
  const body = (await res.json()) as { success: boolean; error: CkanErr };
  assert.equal(body.success, false);
  assert.equal(body.error.__type, 'Validation Error');
});

test('a big CSV upload is streamed into the file store and loaded; refused uploads leave no file', async () => {
  const files = async () => Number((await t.services.db.selectFrom('files').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const rows = 150_000;
  const lines = ['id,barrio,valor,fecha'];
  for (let i = 1; i <= rows; i++) lines.push(`${i},Barrio número ${i % 48},${(i * 0.75).toFixed(2)},2024-0${(i % 9) + 1}-1${i % 10}`);
  const csv = Buffer.from(lines.join('\n') + '\n');
  assert.ok(csv.length > 6 * 1024 * 1024, `${csv.length} bytes`);
  const threshold = loadSettings.jobThresholdBytes;
  loadSettings.jobThresholdBytes = 64 * 1024 * 1024; // loaded inside the request, so the test sees it
  try {
    const r = (await editor.action.resource_create(form({ package_id: 'hospitales', name: 'Grande', format: 'CSV' }, { name: 'grande.csv', data: csv }))) as Record<string, any>;
    assert.equal(r.datastore_active, true);
    assert.equal(r.size, csv.length);
    assert.equal(r.hash, `sha256:${crypto.createHash('sha256').update(csv).digest('hex')}`);
    const s = (await anon.action.datastore_search({ resource_id: r.id, limit: 1, sort: 'id desc' })) as Record<string, any>;
    assert.equal(s.total, rows);
    assert.equal(Number(s.records[0].valor), rows * 0.75);
    const { file_id } = await odDb(t.services).selectFrom('od_resources').select('file_id').where('id', '=', r.id).executeTakeFirstOrThrow();
    assert.equal((await t.services.files.get(file_id!))?.size, csv.length);
  } finally {
    loadSettings.jobThresholdBytes = threshold;
  }
  // Refused after the file was streamed in (another office's dataset, a broken JSON, no such
  // dataset): the stored file is removed again.
  const before = await files();
  await rejects(outsider.action.resource_create(form({ package_id: 'hospitales', format: 'CSV' }, { name: 'a.csv', data: Buffer.from('a,b\n1,2\n') })), 'Authorization Error');
  await rejects(editor.action.resource_create(form({ package_id: 'hospitales', format: 'JSON' }, { name: 'x.json', data: Buffer.from('[{"a":1} {"a":2}]') })), 'Validation Error');
  await rejects(editor.action.resource_create(form({ package_id: 'no-existe', format: 'CSV' }, { name: 'a.csv', data: Buffer.from('a\n1\n') })), 'Not Found Error');
  // An upload on an action that takes none is not kept either.
  await editor.action.package_show(form({ id: 'hospitales' }, { name: 'a.csv', data: Buffer.from('a\n1\n') }));
  const limit = t.services.config.uploadLimitBytes;
  const res = await fetch(`${base}/api/3/action/resource_create`, {
    method: 'POST',
    body: form({ package_id: 'hospitales', format: 'CSV' }, { name: 'huge.csv', data: Buffer.alloc(limit + 10, 0x61) }),
    headers: { authorization: (editor as unknown as { token: string }).token },
  });
  assert.equal(res.status, 413);
  assert.equal(await files(), before);
  const onDisk = fs.readdirSync(path.join(t.services.config.dataDir, 'files'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  assert.equal(onDisk.length, before, 'no bytes (nor temporary files) left behind');
});

test('package_delete soft-deletes: gone from lists and search, 404 for visitors, visible to editors', async () => {
  await editor.action.package_create({ name: 'a-borrar', title: 'A borrar', owner_org: officeSlug });
  await rejects(outsider.action.package_delete({ id: 'a-borrar' }), 'Authorization Error');
  assert.equal(await editor.action.package_delete({ id: 'a-borrar' }), null);
  assert.ok(!((await anon.action.package_list()) as string[]).includes('a-borrar'));
  await rejects(anon.action.package_show({ id: 'a-borrar' }), 'Not Found Error');
  const mine = (await editor.action.package_show({ id: 'a-borrar' })) as { state: string };
  assert.equal(mine.state, 'deleted');
  const row = await odDb(t.services).selectFrom('od_datasets').select('state').where('name', '=', 'a-borrar').executeTakeFirstOrThrow();
  assert.equal(row.state, 'deleted');
});

test('current_package_list_with_resources lists published datasets with their resources', async () => {
  const list = (await anon.action.current_package_list_with_resources({ limit: 100 })) as Array<{ name: string; resources: unknown[] }>;
  assert.ok(list.some((p) => p.name === 'hospitales' && p.resources.length >= 1));
  assert.ok(!list.some((p) => p.name === 'borrador-interno'));
});

test('cached anonymous answers follow every write (the catalogue version changes)', async () => {
  const before = (await anon.action.package_search({ q: 'ciclovias' })) as { count: number };
  assert.equal(before.count, 0);
  assert.equal(((await anon.action.package_search({ q: 'ciclovias' })) as { count: number }).count, 0);
  await editor.action.package_create({ name: 'ciclovias', title: 'Ciclovías', owner_org: officeSlug });
  assert.equal(((await anon.action.package_search({ q: 'ciclovias' })) as { count: number }).count, 1);
  await editor.action.package_patch({ id: 'ciclovias', title: 'Red de ciclovías protegidas' });
  const r = (await anon.action.package_search({ q: 'ciclovias' })) as { results: Array<{ title: string }> };
  assert.equal(r.results[0].title, 'Red de ciclovías protegidas');
});

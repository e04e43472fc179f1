// The dataset and resource pages as visitors and editors use them: the version history of an
// uploaded resource (and its old files still downloadable), the paged, sortable, filterable preview
// of a DataStore table (plain links: it works without JavaScript), resource_patch through ckanapi,
// and the dictionary editor when the resource's stored file can no longer be read.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import ExcelJS from 'exceljs';
import { TestClient, multipart, type TestContext } from '../../core/testing/harness';
import { formatters } from '../../core/i18n';
import { ckanFixture, rejects, type CkanClient, type CkanErr, form } from './testing';
import { odDb } from './store';

let t: TestContext;
let base: string;
let anon: CkanClient;
let editor: CkanClient;
let outsider: CkanClient;
let officeSlug: string;
let memberId: number;
let juniorId: number;
let strangerId: number;

before(async () => {
  ({ t, base, anon, editor, outsider, officeSlug, memberId, juniorId, strangerId } = await ckanFixture({
    office: ['subsecretaria-de-gestion-urbana', 'Subsecretaría de Gestión Urbana'],
    otherOffice: ['legislatura', 'Legislatura'],
    themes: [['urbanismo', 'Urbanismo']],
  }));
  await editor.action.package_create({ name: 'arbolado', title: 'Arbolado', notes: 'Árboles de la ciudad.', owner_org: officeSlug, groups: [{ name: 'urbanismo' }] });
});

after(async () => {
  await t.close();
});


async function page(path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(base + path);
  return { status: res.status, body: await res.text() };
}

const unescape = (s: string) => s.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/** The preview table's rows (cells as text), read from the server-rendered page. */
function previewRows(html: string): string[][] {
  const table = /<table class="usa-table usa-table--striped">([\s\S]*?)<\/table>/.exec(html);
  assert.ok(table, 'the page has a preview table');
  const tbody = /<tbody>([\s\S]*?)<\/tbody>/.exec(table[1])?.[1] ?? '';
  return [...tbody.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => [...m[1].matchAll(/<td>([\s\S]*?)<\/td>/g)].map((c) => unescape(c[1])));
}

/** The hrefs of the preview's pagination (previous and next), as plain links. */
function pagingLinks(html: string): { previous?: string; next?: string } {
  const nav = /<nav aria-label="[^"]*" class="usa-pagination">([\s\S]*?)<\/nav>/.exec(html)?.[1] ?? '';
  const href = (cls: string) => {
    const m = new RegExp(`<a href="([^"]+)" class="usa-pagination__link ${cls}"`).exec(nav);
    return m ? unescape(m[1]) : undefined;
  };
  return { previous: href('usa-pagination__previous-page'), next: href('usa-pagination__next-page') };
}

function params(href: string): Record<string, string> {
  return Object.fromEntries(new URL(href, 'http://x').searchParams);
}

test('a new version of an upload: the dataset page lists both versions with their dates, each downloads its own bytes (es-AR and en)', async () => {
  const v1 = Buffer.from('especie,cantidad\nTipa,120\nJacarandá,80\n');
  const v2 = Buffer.from('especie,cantidad\nTipa,125\nJacarandá,82\nPlátano,300\n');
  const r = (await editor.action.resource_create(form({ package_id: 'arbolado', name: 'Especies', format: 'CSV' }, { name: 'especies.csv', data: v1 }))) as Record<string, any>;
  const resourcePath = `/datasets/arbolado/resource/${r.id}`;
  // One version only: no history yet.
  const single = await page('/datasets/arbolado');
  assert.equal(single.status, 200);
  assert.doesNotMatch(single.body, /Historial de versiones/);

  const updated = (await editor.action.resource_update(form({ id: r.id, name: 'Especies', format: 'CSV' }, { name: 'especies-2024.csv', data: v2 }))) as Record<string, any>;
  assert.equal(updated.id, r.id);
  assert.equal(updated.size, v2.length);
  const db = odDb(t.services);
  // The first version is dated a year back, so that the page shows two different dates.
  await db.updateTable('od_resource_versions').set({ created_at: new Date('2023-03-15T13:30:00Z') }).where('resource_id', '=', r.id).where('version', '=', 1).execute();
  const versions = await db.selectFrom('od_resource_versions').selectAll().where('resource_id', '=', r.id).orderBy('version', 'desc').execute();
  assert.deepEqual(versions.map((v) => [v.version, v.size]), [[2, v2.length], [1, v1.length]]);

  for (const [lang, history, label] of [
    ['es-AR', 'Historial de versiones (2)', 'Versión'],
    ['en', 'Version history (2)', 'Version'],
  ] as const) {
    const dataset = await page(`/datasets/arbolado${lang === 'en' ? '?lang=en' : ''}`);
    assert.equal(dataset.status, 200);
    assert.ok(dataset.body.includes(`<summary>${history}</summary>`), `${lang}: the history's summary`);
    const fmt = formatters(lang);
    // Newest first, each linked to its own file, with its date in the visitor's language.
    const items = [...dataset.body.matchAll(new RegExp(`<a href="(${resourcePath}/download\\?version=\\d+)">([^<]*)</a>`, 'g'))].map((m) => [m[1], m[2]]);
    assert.deepEqual(items, [
      [`${resourcePath}/download?version=2`, `${label} 2, ${fmt.dateTime(versions[0].created_at)}`],
      [`${resourcePath}/download?version=1`, `${label} 1, ${fmt.dateTime(versions[1].created_at)}`],
    ]);
    assert.notEqual(fmt.dateTime(versions[0].created_at), fmt.dateTime(versions[1].created_at));
  }

  const bytes = async (path: string) => {
    const res = await fetch(base + path);
    assert.equal(res.status, 200, path);
    return Buffer.from(await res.arrayBuffer());
  };
  assert.deepEqual(await bytes(`${resourcePath}/download?version=1`), v1);
  assert.deepEqual(await bytes(`${resourcePath}/download?version=2`), v2);
  assert.deepEqual(await bytes(`${resourcePath}/download`), v2);
  assert.equal((await fetch(`${base}${resourcePath}/download?version=3`)).status, 404);
  // The preview shows the new version's rows.
  assert.deepEqual(previewRows((await page(resourcePath)).body).map((row) => row.slice(1)), [['Tipa', '125'], ['Jacarandá', '82'], ['Plátano', '300']]);
});

// 60 rows: n = 1…60, grupo alternates A/B, valor is a permutation of n (so sorting by it reorders rows).
const ROWS = Array.from({ length: 60 }, (_, i) => ({ n: i + 1, grupo: (i + 1) % 2 ? 'A' : 'B', valor: ((i + 1) * 37) % 61 }));
let previewPath = '';

async function previewResource() {
  if (previewPath) return previewPath;
  const csv = ['n,grupo,valor', ...ROWS.map((r) => `${r.n},${r.grupo},${r.valor}`)].join('\n');
  const r = (await editor.action.resource_create(form({ package_id: 'arbolado', name: 'Filas', format: 'CSV' }, { name: 'filas.csv', data: Buffer.from(csv) }))) as Record<string, any>;
  return (previewPath = `/datasets/arbolado/resource/${r.id}`);
}

/** The rows the preview should show: [n, grupo, valor] as text. */
const expected = (rows: typeof ROWS) => rows.map((r) => [String(r.n), r.grupo, String(r.valor)]);

test('the preview is paged by 25 rows: page 2 starts at row 26 of the current order, with sort and filter kept in plain links', async () => {
  const path = await previewResource();
  const first = await page(path);
  assert.equal(first.status, 200);
  assert.match(first.body, /<p>60 filas<\/p>/);
  assert.deepEqual(previewRows(first.body).map((r) => r.slice(1)), expected(ROWS.slice(0, 25)));
  // A real link (no script needed) to page 2; no previous page on page 1.
  const links1 = pagingLinks(first.body);
  assert.equal(links1.previous, undefined);
  assert.equal(links1.next, `${path}?page=2`);
  assert.match(first.body, /aria-current="page">Página 1 de 3</);
  const second = await page(links1.next!);
  assert.deepEqual(previewRows(second.body).map((r) => r.slice(1)), expected(ROWS.slice(25, 50)));
  assert.deepEqual(pagingLinks(second.body), { previous: `${path}?page=1`, next: `${path}?page=3` });
  const third = await page(`${path}?page=3`);
  assert.deepEqual(previewRows(third.body).map((r) => r.slice(1)), expected(ROWS.slice(50)));
  assert.equal(pagingLinks(third.body).next, undefined);

  // Sorted by valor, descending, and filtered to grupo A: 30 rows, two pages.
  const groupA = ROWS.filter((r) => r.grupo === 'A').sort((a, b) => b.valor - a.valor);
  const sorted = await page(`${path}?col=grupo&val=A&sort=valor&dir=desc`);
  assert.match(sorted.body, /<p>30 filas<\/p>/);
  assert.match(sorted.body, /<th scope="col" aria-sort="descending"><a href="[^"]*">valor<\/a><\/th>/);
  assert.deepEqual(previewRows(sorted.body).map((r) => r.slice(1)), expected(groupA.slice(0, 25)));
  const next = pagingLinks(sorted.body).next!;
  assert.deepEqual(params(next), { col: 'grupo', val: 'A', sort: 'valor', dir: 'desc', page: '2' });
  const sortedPage2 = await page(next);
  const rows2 = previewRows(sortedPage2.body).map((r) => r.slice(1));
  assert.deepEqual(rows2[0], expected([groupA[25]])[0], 'the first row of page 2 is row 26 in this order');
  assert.deepEqual(rows2, expected(groupA.slice(25)));
  assert.deepEqual(params(pagingLinks(sortedPage2.body).previous!), { col: 'grupo', val: 'A', sort: 'valor', dir: 'desc', page: '1' });
  // The column headers are links too: they keep the filter, flip the direction of the sorted
  // column, and go back to page 1.
  const header = /<th scope="col" aria-sort="descending"><a href="([^"]*)">valor<\/a>/.exec(sortedPage2.body)![1];
  assert.deepEqual(params(unescape(header)), { col: 'grupo', val: 'A', sort: 'valor', dir: 'asc' });
  const nHeader = /<th scope="col"><a href="([^"]*)">n<\/a>/.exec(sortedPage2.body)![1];
  assert.deepEqual(params(unescape(nHeader)), { col: 'grupo', val: 'A', sort: 'n', dir: 'asc' });

  // A text search is kept by the paging links as well.
  const searched = await page(`${path}?q=B&sort=n&dir=desc`);
  assert.match(searched.body, /<p>30 filas<\/p>/);
  assert.deepEqual(previewRows(searched.body)[0].slice(1), expected([ROWS[59]])[0]);
  assert.deepEqual(params(pagingLinks(searched.body).next!), { q: 'B', sort: 'n', dir: 'desc', page: '2' });
  assert.deepEqual(previewRows((await page(pagingLinks(searched.body).next!)).body)[0].slice(1), expected([ROWS[9]])[0]);
});

test('the preview answers odd page numbers without an error: past the end shows the last page, not a number or negative is page 1; unknown sort columns are ignored', async () => {
  const path = await previewResource();
  const byValor = [...ROWS].sort((a, b) => a.valor - b.valor);
  for (const [lang, note] of [
    ['es-AR', 'La página 99 no existe: te mostramos la última, la 3.'],
    ['en', 'There is no page 99: this is the last one, page 3.'],
  ] as const) {
    const past = await page(`${path}?page=99&sort=valor${lang === 'en' ? '&lang=en' : ''}`);
    assert.equal(past.status, 200);
    // The last page of this order (rows 51–60), said so, with a link back to page 2 and none forward.
    assert.deepEqual(previewRows(past.body).map((r) => r.slice(1)), expected(byValor.slice(50)));
    assert.ok(past.body.includes(note), `${lang}: the note`);
    assert.match(past.body, lang === 'en' ? /aria-current="page">Page 3 of 3</ : /aria-current="page">Página 3 de 3</);
    assert.deepEqual(params(pagingLinks(past.body).previous!), { sort: 'valor', dir: 'asc', page: '2', ...(lang === 'en' ? {} : {}) });
    assert.equal(pagingLinks(past.body).next, undefined);
  }
  // A filter that leaves nothing: page 1 of 1, no note.
  const none = await page(`${path}?col=grupo&val=Z&page=4`);
  assert.equal(none.status, 200);
  assert.deepEqual(previewRows(none.body), []);
  assert.match(none.body, /<p>0 filas<\/p>/);
  assert.doesNotMatch(none.body, /no existe/);
  for (const odd of ['abc', '-2', '0', '']) {
    const res = await page(`${path}?page=${odd}`);
    assert.equal(res.status, 200, `page=${odd}`);
    assert.deepEqual(previewRows(res.body).map((r) => r.slice(1)), expected(ROWS.slice(0, 25)), `page=${odd} is page 1`);
    assert.equal(pagingLinks(res.body).next, `${path}?page=2`);
  }
  const unknownSort = await page(`${path}?sort=nope&dir=sideways`);
  assert.equal(unknownSort.status, 200);
  assert.deepEqual(previewRows(unknownSort.body)[0].slice(1), ['1', 'A', '37']);
  assert.doesNotMatch(unknownSort.body, /aria-sort=/);
});

test('the preview with a fractional page number shows the whole page below it; the catalogue too', async () => {
  const path = await previewResource();
  const res = await page(`${path}?page=1.5`);
  assert.equal(res.status, 200, `page=1.5 answered ${res.status}`);
  assert.deepEqual(previewRows(res.body).map((r) => r.slice(1)), expected(ROWS.slice(0, 25)));
  assert.match(res.body, /aria-current="page">Página 1 de 3</);
  const second = await page(`${path}?page=2.7`);
  assert.equal(second.status, 200);
  assert.deepEqual(previewRows(second.body).map((r) => r.slice(1)), expected(ROWS.slice(25, 50)));
  for (const odd of ['1.33', '1e400', '2.5e0']) assert.equal((await page(`/datasets?page=${odd}`)).status, 200, `/datasets?page=${odd}`);
});

test('resource_patch changes only what it is given; outsiders and anonymous callers are refused; an unknown id is Not Found', async () => {
  const fields = JSON.stringify([{ id: 'comuna', type: 'text', info: { type_override: 'text', notes: 'Número de comuna', unit: '' } }, { id: 'arboles', type: 'int', info: { notes: 'Árboles censados', unit: 'árboles' } }]);
  const data = Buffer.from('comuna,arboles\n01,1200\n02,800\n');
  const created = (await editor.action.resource_create(form({ package_id: 'arbolado', name: 'Por comuna', description: 'Censo 2017', format: 'CSV', fields }, { name: 'comunas.csv', data }))) as Record<string, any>;
  const db = odDb(t.services);
  const row = () => db.selectFrom('od_resources').selectAll().where('id', '=', created.id).executeTakeFirstOrThrow();
  const store = () => db.selectFrom('od_datastore').select(['fields', 'row_count']).where('resource_id', '=', created.id).executeTakeFirstOrThrow();
  const versions = async () => (await db.selectFrom('od_resource_versions').select('version').where('resource_id', '=', created.id).execute()).length;
  const search = () => anon.action.datastore_search({ resource_id: created.id }) as Promise<Record<string, any>>;
  const [row0, store0, search0, versions0] = [await row(), await store(), await search(), await versions()];
  assert.equal(search0.records[0].comuna, '01');
  assert.equal(search0.fields[2].info.unit, 'árboles');

  const patched = (await editor.action.resource_patch({ id: created.id, name: 'Árboles por comuna' })) as Record<string, any>;
  assert.equal(patched.name, 'Árboles por comuna');
  const shown = (await anon.action.resource_show({ id: created.id })) as Record<string, any>;
  // (mimetype: see the todo test below.)
  const { name: _n1, last_modified: _l1, metadata_modified: _m1, mimetype: _t1, ...restBefore } = created;
  const { name: _n2, last_modified: _l2, metadata_modified: _m2, mimetype: _t2, ...restAfter } = shown;
  // url, url_type, format, size, hash, description, datastore_active, the dictionary…
  assert.deepEqual(restAfter, restBefore);
  assert.equal(shown.name, 'Árboles por comuna');
  const row1 = await row();
  assert.deepEqual(
    { file_id: row1.file_id, url: row1.url, url_type: row1.url_type, format: row1.format, size: row1.size, hash: row1.hash, description: row1.description, fields: row1.fields, datastore_active: row1.datastore_active },
    { file_id: row0.file_id, url: row0.url, url_type: row0.url_type, format: row0.format, size: row0.size, hash: row0.hash, description: row0.description, fields: row0.fields, datastore_active: row0.datastore_active },
  );
  assert.deepEqual(await store(), store0);
  assert.deepEqual(await search(), search0);
  assert.equal(await versions(), versions0, 'a new name is not a new version');
  // The old file is still what the download serves.
  assert.deepEqual(Buffer.from(await (await fetch(`${base}/datasets/arbolado/resource/${created.id}/download`)).arrayBuffer()), data);

  // Only the description, on a link resource: the link stays.
  const link = (await editor.action.resource_create({ package_id: 'arbolado', name: 'Mapa', url: 'https://example.org/arbolado.geojson', format: 'GeoJSON' })) as Record<string, any>;
  const described = (await editor.action.resource_patch({ id: link.id, description: 'Ubicación de cada árbol' })) as Record<string, any>;
  assert.deepEqual([described.url, described.format, described.name, described.description, described.url_type], ['https://example.org/arbolado.geojson', link.format, 'Mapa', 'Ubicación de cada árbol', link.url_type]);

  // Refused: another office's member, an anonymous caller (CKAN's envelope, 403), and nothing changes.
  const audit = async () => (await t.services.db.selectFrom('audit_log').select('id').where('subject_id', '=', created.id).execute()).length;
  const audit0 = await audit();
  const theirs = await rejects(outsider.action.resource_patch({ id: created.id, name: 'Ajeno' }), 'Authorization Error');
  assert.match(String(theirs.message), /not authorized/i);
  await rejects(anon.action.resource_patch({ id: created.id, name: 'Anónimo' }), 'Authorization Error');
  const raw = await fetch(`${base}/api/3/action/resource_patch`, { method: 'POST', body: JSON.stringify({ id: created.id, name: 'Anónimo' }), headers: { 'content-type': 'application/json' } });
  assert.equal(raw.status, 403);
  const envelope = (await raw.json()) as { help: string; success: boolean; error: CkanErr };
  assert.equal(envelope.success, false);
  assert.match(envelope.help, /help_show\?name=resource_patch/);
  assert.equal(envelope.error.__type, 'Authorization Error');
  const row2 = await row();
  assert.equal(row2.name, 'Árboles por comuna');
  assert.deepEqual(row2.last_modified, row1.last_modified);
  assert.equal(await audit(), audit0);

  const missing = await rejects(editor.action.resource_patch({ id: 'no-such-resource', name: 'x' }), 'Not Found Error');
  assert.match(String(missing.message), /not found/i);
  const raw404 = await fetch(`${base}/api/3/action/resource_patch`, { method: 'POST', body: JSON.stringify({ id: 'no-such-resource', name: 'x' }), headers: { 'content-type': 'application/json', authorization: (editor as unknown as { token: string }).token } });
  assert.equal(raw404.status, 404);
});

test('resource_patch keeps the fields it is not given: mimetype, and a link\'s size and hash', async () => {
  const up = (await editor.action.resource_create(form({ package_id: 'arbolado', name: 'Con tipo', format: 'CSV', mimetype: 'text/csv' }, { name: 'tipo.csv', data: Buffer.from('a\n1\n') }))) as Record<string, any>;
  const link = (await editor.action.resource_create({ package_id: 'arbolado', name: 'Enlace', url: 'https://example.org/a.csv', format: 'CSV', mimetype: 'text/csv', size: 1234, hash: 'sha256:abc' })) as Record<string, any>;
  const versions = async (id: string) => (await odDb(t.services).selectFrom('od_resource_versions').select('version').where('resource_id', '=', id).execute()).length;
  const linkVersions = await versions(link.id);
  const p1 = (await editor.action.resource_patch({ id: up.id, name: 'Con tipo (2)' })) as Record<string, any>;
  const p2 = (await editor.action.resource_patch({ id: link.id, name: 'Enlace (2)' })) as Record<string, any>;
  assert.deepEqual([p1.mimetype, p2.mimetype, p2.size, p2.hash], [up.mimetype, 'text/csv', 1234, 'sha256:abc']);
  assert.equal(await versions(link.id), linkVersions);
});

test('retyping a column whose stored file cannot be read (broken JSON, JSON that is no array, broken XLSX, missing CSV) is a clear 409 in the editor\'s language, and changes nothing', async () => {
  const client = await new TestClient(t.app).signInAs(t.services, memberId);
  const db = odDb(t.services);
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet('Hoja 1');
  ws.addRow(['plaza', 'bancos']);
  ws.addRow(['Plaza Irlanda', 40]);
  const cases = [
    { name: 'Guardias (JSON)', file: 'guardias.json', data: Buffer.from(JSON.stringify([{ plaza: 'Plaza Irlanda', bancos: 40 }, { plaza: 'Plaza Houssay', bancos: 25 }])), broken: Buffer.from('[{"plaza": "Plaza Irlanda", "bancos": 40}, {"plaza": '), format: 'JSON' },
    { name: 'Plazas (JSON)', file: 'plazas.json', data: Buffer.from(JSON.stringify([{ plaza: 'Plaza Irlanda', bancos: 40 }])), broken: Buffer.from('{"plaza": "not an array"}'), format: 'JSON' },
    { name: 'Bancos (XLSX)', file: 'bancos.xlsx', data: Buffer.from(await wb.xlsx.writeBuffer()), broken: Buffer.from('PK\u0003\u0004 this is not a zip archive'), format: 'XLSX' },
    { name: 'Bancos (CSV)', file: 'bancos.csv', data: Buffer.from('plaza,bancos\nPlaza Irlanda,40\n'), broken: null, format: 'CSV' },
  ];
  for (const c of cases) {
    const r = (await editor.action.resource_create(form({ package_id: 'arbolado', name: c.name }, { name: c.file, data: c.data }))) as Record<string, any>;
    assert.equal(r.format, c.format);
    assert.equal(r.datastore_active, true);
    const resourcePath = `/datasets/arbolado/resource/${r.id}`;
    const fieldIndex = (await db.selectFrom('od_resources').select('fields').where('id', '=', r.id).executeTakeFirstOrThrow()).fields.findIndex((f) => f.id === 'bancos');
    // While the file is sound, a new type reloads the table from it.
    assert.equal((await client.get(resourcePath)).statusCode, 200);
    const ok = await client.post(`${resourcePath}/dictionary`, { [`type_${fieldIndex}`]: 'numeric' });
    assert.equal(ok.statusCode, 303, c.name);
    const before = await db.selectFrom('od_resources').select(['fields', 'file_id']).where('id', '=', r.id).executeTakeFirstOrThrow();
    const rows0 = (await anon.action.datastore_search({ resource_id: r.id })) as Record<string, any>;
    assert.equal(rows0.fields.find((f: { id: string }) => f.id === 'bancos').type, 'numeric', c.name);
    assert.equal(Number(rows0.records[0].bancos), 40);
    // The stored bytes go bad (or go missing) after the upload.
    if (c.broken) await t.services.files.storage.write(before.file_id!, c.broken);
    else await t.services.files.storage.remove(before.file_id!);

    assert.equal((await client.get(resourcePath)).statusCode, 200);
    const body = { [`type_${fieldIndex}`]: 'text', [`notes_${fieldIndex}`]: 'Bancos de la plaza' };
    const es = await client.post(`${resourcePath}/dictionary`, body);
    assert.equal(es.statusCode, 409, `${c.name}: ${/usa-intro">([^<]*)/.exec(es.body)?.[1]}`);
    assert.match(es.headers['content-type'] as string, /text\/html/);
    assert.ok(es.body.includes(`No pudimos leer el archivo guardado de este recurso (falta o no es un ${c.format} válido)`), c.name);
    const en = await client.post(`${resourcePath}/dictionary?lang=en`, body);
    assert.equal(en.statusCode, 409);
    assert.ok(en.body.includes(`We could not read the stored file of this resource (it is missing or not a valid ${c.format})`), c.name);
    // Nothing changed: the dictionary, the table's types and rows.
    const after = await db.selectFrom('od_resources').select(['fields', 'datastore_active']).where('id', '=', r.id).executeTakeFirstOrThrow();
    assert.deepEqual(after.fields, before.fields);
    assert.equal(after.datastore_active, true);
    assert.deepEqual(await anon.action.datastore_search({ resource_id: r.id }), rows0);
    // The page itself still works (and ?lang=es switches the client's language back for the next case).
    assert.equal((await client.get(`${resourcePath}?lang=es`)).statusCode, 200);
  }
});

test('retyping a column against its data is a 400 that names the row, in the editor\'s language, and changes nothing', async () => {
  const client = await new TestClient(t.app).signInAs(t.services, memberId);
  const r = (await editor.action.resource_create(form({ package_id: 'arbolado', name: 'Alturas', format: 'CSV' }, { name: 'alturas.csv', data: Buffer.from('arbol,altura\nTipa,12\nCeibo,bajo\n') }))) as Record<string, any>;
  const resourcePath = `/datasets/arbolado/resource/${r.id}`;
  await client.get(resourcePath);
  const es = await client.post(`${resourcePath}/dictionary`, { type_1: 'int' });
  assert.equal(es.statusCode, 400);
  assert.match(es.body, /La tabla no se recargó con los tipos elegidos y el diccionario quedó como estaba: Row 3/);
  const en = await client.post(`${resourcePath}/dictionary?lang=en`, { type_1: 'int' });
  assert.equal(en.statusCode, 400);
  assert.match(en.body, /The table was not reloaded with the chosen types and the dictionary was left as it was: Row 3/);
  const s = (await anon.action.datastore_search({ resource_id: r.id })) as Record<string, any>;
  assert.equal(s.fields[2].type, 'text');
  assert.equal(s.records[1].altura, 'bajo');
});

/** A multipart form posted as the browser does from a page (the CSRF token in the action's URL). */
async function postFile(client: TestClient, path: string, fields: Record<string, string>, file?: { filename: string; data: Buffer }) {
  const body = multipart(fields, file ? [{ name: 'upload', filename: file.filename, type: 'application/octet-stream', data: file.data }] : []);
  return client.request({ method: 'POST', url: `${path}?_csrf=${encodeURIComponent(client.csrf)}`, ...body });
}

/** The chart's numbers, read from the table that goes with the SVG (label, value as the page writes it). */
function chartRows(html: string): string[][] {
  const table = /<figure class="od-chart">[\s\S]*?<table class="usa-table usa-sr-only">([\s\S]*?)<\/table>/.exec(html);
  assert.ok(table, 'the page has a chart');
  const tbody = /<tbody>([\s\S]*?)<\/tbody>/.exec(table[1])?.[1] ?? '';
  return [...tbody.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => [...m[1].matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((c) => unescape(c[1])));
}

const download = async (path: string) => {
  const res = await fetch(base + path);
  assert.equal(res.status, 200, path);
  return Buffer.from(await res.arrayBuffer());
};

test('the preview chart sums the whole table (600 rows, not the first 500), measuring a numeric column that is not an identifier', async () => {
  const lines = ['id,categoria,monto'];
  for (let i = 1; i <= 600; i++) lines.push(`${i},${i <= 500 ? 'Escuelas' : 'Plazas'},${i <= 500 ? 10 : 30}`);
  const r = (await editor.action.resource_create(form({ package_id: 'arbolado', name: 'Obras', format: 'CSV' }, { name: 'obras.csv', data: Buffer.from(lines.join('\n')) }))) as Record<string, any>;
  const path = `/datasets/arbolado/resource/${r.id}`;
  const es = await page(path);
  assert.equal(es.status, 200);
  // Summed over every row: "Plazas" only appears after row 500; the measure is monto, not id (1+…+500 = 125.250).
  assert.deepEqual(chartRows(es.body), [
    ['Escuelas', '5.000'],
    ['Plazas', '3.000'],
  ]);
  assert.ok(es.body.includes('Suma de «monto» por «categoria» en las 600 filas con ese dato: las 2 categorías con mayor total, de 2.'));
  const en = await page(`${path}?lang=en`);
  assert.deepEqual(chartRows(en.body), [
    ['Escuelas', '5,000'],
    ['Plazas', '3,000'],
  ]);
  assert.ok(en.body.includes('Sum of “monto” by “categoria” over the 600 rows that have it: the 2 categories with the largest totals, of 2.'));
  // A table whose only numbers are codes, years and percentages gets no chart (summing them would mean nothing).
  const codes = (await editor.action.resource_create(form({ package_id: 'arbolado', name: 'Códigos', format: 'CSV' }, { name: 'codigos.csv', data: Buffer.from('codigo,nombre,anio,porcentaje_avance\n101,Norte,2020,50\n102,Sur,2021,75\n') }))) as Record<string, any>;
  const plain = await page(`/datasets/arbolado/resource/${codes.id}`);
  assert.equal(plain.status, 200);
  assert.equal(previewRows(plain.body).length, 2);
  assert.doesNotMatch(plain.body, /class="od-chart"/);
  // Without a text column to group by: the largest rows, named by _id.
  const bare = (await editor.action.resource_create(form({ package_id: 'arbolado', name: 'Montos', format: 'CSV' }, { name: 'montos.csv', data: Buffer.from('id,monto\n1,5\n2,9\n3,\n') }))) as Record<string, any>;
  const rowsChart = await page(`/datasets/arbolado/resource/${bare.id}`);
  assert.deepEqual(chartRows(rowsChart.body), [
    ['#2', '9'],
    ['#1', '5'],
  ]);
  assert.ok(rowsChart.body.includes('Las 2 filas con mayor «monto», de las 2 que tienen ese dato.'));
});

test("a new version from the resource page: the office's members upload it (the old file stays downloadable, the table reloads); a file that does not load changes nothing; others are refused", async () => {
  const v1 = Buffer.from('barrio,arboles\nPalermo,120\nBoca,80\n');
  const v2 = Buffer.from('barrio,arboles\nPalermo,130\nBoca,85\nOnce,40\n');
  const r = (await editor.action.resource_create(form({ package_id: 'arbolado', name: 'Por barrio', format: 'CSV' }, { name: 'barrios.csv', data: v1 }))) as Record<string, any>;
  const path = `/datasets/arbolado/resource/${r.id}`;
  const db = odDb(t.services);
  const versions = async () => (await db.selectFrom('od_resource_versions').select('version').where('resource_id', '=', r.id).execute()).length;

  // The form is there for the office's members (this one only edits: role 'editor'), not for visitors or other offices.
  const junior = await new TestClient(t.app).signInAs(t.services, juniorId);
  const shown = await junior.get(path);
  assert.ok(new RegExp(`<form [^>]*action="${path}/version\\?_csrf=[^"]+"`).test(shown.body), 'the version form posts to …/version with its CSRF token');
  assert.match(shown.body, /Subir una nueva versión/);
  assert.doesNotMatch((await page(path)).body, /\/version\?_csrf=/);
  const stranger = await new TestClient(t.app).signInAs(t.services, strangerId);
  assert.doesNotMatch((await stranger.get(path)).body, /\/version\?_csrf=/);

  const saved = await postFile(junior, `${path}/version`, { format: '' }, { filename: 'barrios-2024.csv', data: v2 });
  assert.equal(saved.statusCode, 303);
  assert.equal(saved.headers.location, `${path}?saved=version`);
  const after = await junior.get(saved.headers.location as string);
  assert.match(after.body, /Se guardó la nueva versión del recurso/);
  assert.deepEqual(previewRows(after.body).map((row) => row.slice(1)), [['Palermo', '130'], ['Boca', '85'], ['Once', '40']]);
  assert.equal(await versions(), 2);
  assert.deepEqual(await download(`${path}/download?version=1`), v1);
  assert.deepEqual(await download(`${path}/download?version=2`), v2);
  assert.deepEqual(await download(`${path}/download`), v2);
  const shownApi = (await anon.action.resource_show({ id: r.id })) as Record<string, any>;
  assert.deepEqual([shownApi.size, shownApi.format, shownApi.name], [v2.length, 'CSV', 'Por barrio']);
  const audit = await t.services.db.selectFrom('audit_log').select(['action', 'actor_id']).where('subject_id', '=', r.id).where('action', '=', 'resource.patch').execute();
  assert.deepEqual(audit, [{ action: 'resource.patch', actor_id: juniorId }]);

  // A ragged file: the loader's row and reason inside a sentence in the editor's language, with what to do; nothing changes.
  const ragged = { filename: 'roto.csv', data: Buffer.from('barrio,arboles\nPalermo,130\nBoca,85,de más\n') };
  const es = await postFile(junior, `${path}/version`, {}, ragged);
  assert.equal(es.statusCode, 400);
  assert.match(es.body, /No se guardó la nueva versión, así que sigue vigente la anterior: el archivo no se pudo cargar en el almacén de datos \(Row \d+: [^<]*ragged row\)\)\. Revisá que esa fila tenga las mismas columnas que el encabezado/);
  const en = await junior.request({ method: 'POST', url: `${path}/version?lang=en&_csrf=${encodeURIComponent(junior.csrf)}`, ...multipart({}, [{ name: 'upload', filename: ragged.filename, type: 'text/csv', data: ragged.data }]) });
  assert.equal(en.statusCode, 400);
  assert.match(en.body, /The new version was not saved, so the previous one stays: the file could not be loaded into the DataStore \(Row \d+: [^<]*ragged row\)\)\. Check that this row has the same columns as the header/);
  // No file chosen.
  await junior.get(`${path}?lang=es`);
  const empty = await postFile(junior, `${path}/version`, {}, { filename: '', data: Buffer.alloc(0) });
  assert.equal(empty.statusCode, 400);
  assert.match(empty.body, /Elegí el archivo de la nueva versión\./);
  // Another office's official, and a visitor.
  const theirs = await postFile(stranger, `${path}/version`, {}, { filename: 'ajeno.csv', data: v1 });
  assert.equal(theirs.statusCode, 403);
  assert.match(theirs.body, /Solo actuás por los organismos de los que sos miembro/);
  const visitor = await t.app.inject({ method: 'POST', url: `${path}/version`, ...multipart({}, [{ name: 'upload', filename: 'x.csv', type: 'text/csv', data: v1 }]) });
  assert.ok(visitor.statusCode === 401 || visitor.statusCode === 403, String(visitor.statusCode));
  // Nothing of that changed the resource.
  assert.equal(await versions(), 2);
  assert.deepEqual(await download(`${path}/download`), v2);
  assert.deepEqual(previewRows((await page(path)).body).map((row) => row.slice(1)), [['Palermo', '130'], ['Boca', '85'], ['Once', '40']]);
});

test('the dataset forms set the language and the dates of publication and last update; editing keeps a harvested date-time shown as its day', async () => {
  const client = await new TestClient(t.app).signInAs(t.services, memberId);
  const blank = await client.get('/datasets/new');
  const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Argentina/Buenos_Aires' }).format(new Date());
  assert.match(blank.body, /name="language" value="spa" checked/);
  assert.doesNotMatch(blank.body, /name="language" value="eng" checked/);
  assert.match(blank.body, new RegExp(`type="date" value="${today}" id="f-issued" name="issued"`));
  assert.match(blank.body, /Español \(spa\)/);
  const fields = { title: 'Podas', notes: 'Podas programadas.', owner_org: officeSlug, license_id: 'CC-BY-4.0', accrualPeriodicity: 'R/P1M' };
  const created = await client.post('/datasets/new', { ...fields, name: 'podas', language: ['spa', 'eng'], issued: '2020-05-01', modified: '2021-06-30' });
  assert.equal(created.statusCode, 303);
  const extra = (d: Record<string, any>, k: string) => d.extras.find((e: { key: string }) => e.key === k)?.value;
  const podas = (await editor.action.package_show({ id: 'podas' })) as Record<string, any>;
  assert.match(extra(podas, 'issued'), /^2020-05-01T00:00:00(\.000)?$/);
  assert.match(extra(podas, 'modified'), /^2021-06-30T00:00:00(\.000)?$/);
  assert.deepEqual(JSON.parse(extra(podas, 'language')), ['spa', 'eng']);
  // The proposed date left as it is: issued now, to the second (as before the field existed).
  const before = Math.floor(Date.now() / 1000) * 1000;
  assert.equal((await client.post('/datasets/new', { ...fields, name: 'podas-hoy', language: 'spa', issued: today })).statusCode, 303);
  const issuedNow = Date.parse(`${extra((await editor.action.package_show({ id: 'podas-hoy' })) as Record<string, any>, 'issued')}Z`);
  assert.ok(issuedNow >= before && issuedNow <= Date.now(), 'issued is the moment of creation');

  // A dataset with a harvested date-time: the edit form shows its day and keeps the time when the day is left alone.
  await editor.action.package_create({ name: 'veredas', title: 'Veredas', notes: 'Estado de veredas.', owner_org: officeSlug, issued: '2019-03-05T14:22:00', language: ['spa'] });
  const edit = await client.get('/datasets/veredas/edit');
  assert.match(edit.body, /type="date" value="2019-03-05" id="f-issued" name="issued"/);
  assert.match(edit.body, /name="language" value="spa" checked/);
  const saved = await client.post('/datasets/veredas/edit', { ...fields, title: 'Veredas', notes: 'Estado de veredas.', language: ['por', 'eng'], issued: '2019-03-05', modified: '2022-01-31' });
  assert.equal(saved.statusCode, 303);
  const veredas = (await editor.action.package_show({ id: 'veredas' })) as Record<string, any>;
  assert.match(extra(veredas, 'issued'), /^2019-03-05T14:22:00(\.000)?$/);
  assert.match(extra(veredas, 'modified'), /^2022-01-31T00:00:00(\.000)?$/);
  assert.deepEqual(JSON.parse(extra(veredas, 'language')), ['por', 'eng']);
  // The dataset page names the languages in the visitor's language.
  const shown = await client.get('/datasets/veredas');
  assert.match(shown.body, /<th scope="row">Idioma<\/th><td>Portugués \(por\), Inglés \(eng\)<\/td>/);
  assert.match((await client.get('/datasets/veredas?lang=en')).body, /<th scope="row">Language<\/th><td>Portuguese \(por\), English \(eng\)<\/td>/);
  // A changed day replaces the date; a date that is not one, or a forged language, is refused in the editor's language.
  await client.get('/datasets/veredas/edit?lang=es');
  assert.equal((await client.post('/datasets/veredas/edit', { ...fields, title: 'Veredas', notes: 'Estado de veredas.', language: 'spa', issued: '2019-03-06' })).statusCode, 303);
  assert.match(extra((await editor.action.package_show({ id: 'veredas' })) as Record<string, any>, 'issued'), /^2019-03-06T00:00:00(\.000)?$/);
  const bad = await client.post('/datasets/veredas/edit', { ...fields, title: 'Veredas', notes: 'x', language: ['spa', 'Castellano'], issued: '31/12/2020' });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.body, /<a href="#f-issued">Fecha de publicación<\/a>: La fecha debe tener el formato AAAA-MM-DD/);
  assert.match(bad.body, /<a href="#od-lang-0">Idioma de los datos<\/a>: Indicá cada idioma con su código ISO 639/);
  assert.match(extra((await editor.action.package_show({ id: 'veredas' })) as Record<string, any>, 'issued'), /^2019-03-06T00:00:00(\.000)?$/, 'nothing changed');
});

test('retyping a column of a table written through the API (no file) converts the column in place; a value that does not fit is refused with its row, in the editor\'s language, and nothing changes', async () => {
  const client = await new TestClient(t.app).signInAs(t.services, memberId);
  const db = odDb(t.services);
  const created = (await editor.action.datastore_create({
    resource: { package_id: 'arbolado', name: 'Censo (API)' },
    fields: [{ id: 'barrio', type: 'text' }, { id: 'arboles', type: 'text' }, { id: 'altura', type: 'text' }],
    records: [
      { barrio: 'Palermo', arboles: '120', altura: '12.5' },
      { barrio: 'Boca', arboles: ' 80 ', altura: 'bajo' },
      { barrio: 'Once', arboles: '', altura: '3' },
    ],
  })) as Record<string, any>;
  const id = created.resource_id as string;
  const path = `/datasets/arbolado/resource/${id}`;
  const search = (p: Record<string, unknown> = {}) => anon.action.datastore_search({ resource_id: id, ...p }) as Promise<Record<string, any>>;
  const typeOf = async (col: string) => (await search()).fields.find((f: { id: string }) => f.id === col).type;
  const form0 = await client.get(path);
  assert.equal(form0.statusCode, 200);
  assert.match(form0.body, /<option value="text" selected>Texto \(text\)<\/option>/);

  // arboles: text → integer. Sorted as numbers now (as text, "" < " 80 " < "120"), and a filter on it works.
  const ok = await client.post(`${path}/dictionary`, { type_1: 'int', notes_1: 'Árboles censados' });
  assert.equal(ok.statusCode, 303);
  assert.equal(await typeOf('arboles'), 'int8');
  assert.deepEqual((await search({ sort: 'arboles asc' })).records.map((x: Record<string, unknown>) => [x.barrio, x.arboles == null ? null : Number(x.arboles)]), [['Boca', 80], ['Palermo', 120], ['Once', null]]);
  assert.deepEqual((await search({ filters: { arboles: 120 } })).records.map((x: Record<string, unknown>) => x.barrio), ['Palermo']);
  const filtered = await page(`${path}?col=arboles&val=120`);
  assert.equal(filtered.status, 200);
  assert.match(filtered.body, /<p>1 filas<\/p>/);
  const row = await db.selectFrom('od_resources').select('fields').where('id', '=', id).executeTakeFirstOrThrow();
  assert.deepEqual(row.fields.map((f) => [f.id, f.type, f.info?.type_override ?? '']), [['barrio', 'text', ''], ['arboles', 'int8', ''], ['altura', 'text', '']]);
  assert.equal(row.fields[1].info?.notes, 'Árboles censados');
  assert.match((await client.get(path)).body, /<option value="int" selected>Número entero \(int8\)<\/option>/);

  // altura: "bajo" is no number. Refused, naming the row, in both languages; the table and both dictionaries stay.
  const store0 = await db.selectFrom('od_datastore').select('fields').where('resource_id', '=', id).executeTakeFirstOrThrow();
  const rows0 = await search();
  const es = await client.post(`${path}/dictionary`, { type_1: 'int', type_2: 'numeric' });
  assert.equal(es.statusCode, 400);
  assert.ok(es.body.includes('La columna «altura» no se convirtió a Número decimal (numeric) y nada cambió: la fila con _id 2 tiene «bajo».'), /usa-intro">([^<]*)/.exec(es.body)?.[1]);
  const en = await client.post(`${path}/dictionary?lang=en`, { type_1: 'int', type_2: 'numeric' });
  assert.equal(en.statusCode, 400);
  assert.ok(en.body.includes('The column “altura” was not converted to Decimal number (numeric) and nothing changed: the row with _id 2 holds “bajo”.'));
  assert.deepEqual(await search(), rows0);
  assert.deepEqual((await db.selectFrom('od_datastore').select('fields').where('resource_id', '=', id).executeTakeFirstOrThrow()).fields, store0.fields);
  assert.deepEqual((await db.selectFrom('od_resources').select('fields').where('id', '=', id).executeTakeFirstOrThrow()).fields, row.fields);

  // Once the value is fixed (datastore_upsert), the conversion goes through; and back to text.
  await editor.action.datastore_upsert({ resource_id: id, method: 'update', records: [{ _id: 2, altura: '4' }] });
  await client.get(`${path}?lang=es`);
  assert.equal((await client.post(`${path}/dictionary`, { type_1: 'int', type_2: 'numeric' })).statusCode, 303);
  assert.equal(await typeOf('altura'), 'numeric');
  assert.deepEqual((await search({ sort: 'altura desc', fields: 'barrio' })).records.map((x: Record<string, unknown>) => x.barrio), ['Palermo', 'Boca', 'Once']);
  assert.equal((await client.post(`${path}/dictionary`, { type_1: 'text', type_2: 'numeric' })).statusCode, 303);
  assert.equal(await typeOf('arboles'), 'text');
  assert.deepEqual((await search({ filters: { arboles: '80' } })).records.map((x: Record<string, unknown>) => x.barrio), ['Boca']);
});

test("a GeoJSON resource whose stored file went missing or broke: the page shows no map and says why in the visitor's language; the map's GeoJSON routes answer 404", async () => {
  const geo = { type: 'FeatureCollection', features: [{ type: 'Feature', properties: { nombre: 'Plaza Irlanda' }, geometry: { type: 'Point', coordinates: [-58.4437, -34.6145] } }] };
  const r = (await editor.action.resource_create(form({ package_id: 'arbolado', name: 'Plazas' }, { name: 'plazas.geojson', data: Buffer.from(JSON.stringify(geo)) }))) as Record<string, any>;
  const path = `/datasets/arbolado/resource/${r.id}`;
  const fileId = (await odDb(t.services).selectFrom('od_resources').select('file_id').where('id', '=', r.id).executeTakeFirstOrThrow()).file_id!;
  const sound = await page(path);
  assert.equal(sound.status, 200);
  assert.match(sound.body, /data-island="map"/);
  assert.doesNotMatch(sound.body, /No pudimos leer el archivo GeoJSON/);
  assert.equal((await fetch(`${base}${path}/points.geojson`)).status, 200);

  for (const [what, damage] of [
    ['missing', () => t.services.files.storage.remove(fileId)],
    ['not JSON', () => t.services.files.storage.write(fileId, Buffer.from('{"type": "FeatureCollection", "features": ['))],
    ['features that are no list', () => t.services.files.storage.write(fileId, Buffer.from('{"type": "FeatureCollection", "features": 5}'))],
  ] as const) {
    await damage();
    const es = await page(path);
    assert.equal(es.status, 200, what);
    assert.doesNotMatch(es.body, /data-island="map"/, what);
    assert.ok(es.body.includes('No pudimos leer el archivo GeoJSON guardado de este recurso (falta o está dañado), así que no mostramos el mapa.'), what);
    const en = await page(`${path}?lang=en`);
    assert.equal(en.status, 200, what);
    assert.ok(en.body.includes('We could not read the stored GeoJSON file of this resource (it is missing or damaged), so the map is not shown.'), what);
    assert.equal((await fetch(`${base}${path}/points.geojson`)).status, 404, what);
    assert.equal((await fetch(`${base}${path}/shapes.geojson`)).status, 404, what);
  }
});

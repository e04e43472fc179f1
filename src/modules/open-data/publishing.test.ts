import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestClient, type TestContext } from '../../core/testing/harness';
import { ckanFixture, rejects, type CkanClient } from './testing';
import { odDb, findDataset, datastoreInfo } from './store';
import { loadSettings, LOAD_JOB } from './publishing';

let t: TestContext;
type Client = CkanClient;
let anon: Client;
let editor: Client;
let outsider: Client;
let officeSlug: string;
let memberId: number;
let strangerId: number;

/** A multipart upload as a browser sends the resource form (CSRF token in the URL). */
async function uploadForm(client: TestClient, dataset: string, filename: string, body: string, name = filename) {
  const fd = new FormData();
  fd.append('name', name);
  fd.append('upload', new Blob([body]), filename);
  const req = new Request('http://x/', { method: 'POST', body: fd });
  return client.request({
    method: 'POST',
    url: `/datasets/${dataset}/resources?_csrf=${encodeURIComponent(client.csrf)}`,
    payload: Buffer.from(await req.arrayBuffer()),
    headers: { 'content-type': req.headers.get('content-type')! },
  });
}

before(async () => {
  ({ t, anon, editor, outsider, officeSlug, memberId, strangerId } = await ckanFixture({
    office: ['secretaria-de-transporte', 'Secretaría de Transporte'],
    otherOffice: ['consejo-de-la-magistratura', 'Consejo de la Magistratura'],
    themes: [['movilidad', 'Movilidad'], ['ambiente', 'Ambiente']],
  }));
  await editor.action.package_create({ name: 'ciclovias', title: 'Ciclovías', notes: 'Red de ciclovías protegidas.', owner_org: officeSlug, groups: [{ name: 'movilidad' }], tags: [{ name: 'bicicletas' }] });
  await editor.action.package_create({ name: 'estaciones-ecobici', title: 'Estaciones de Ecobici', notes: 'Estaciones de bicicletas públicas.', owner_org: officeSlug, groups: [{ name: 'movilidad' }], tags: [{ name: 'bicicletas' }], resources: [{ url: 'https://example.org/e.csv', format: 'csv' }, { url: 'https://example.org/e.geojson', format: 'GeoJSON' }] });
});

after(async () => {
  await t.close();
});

test('package_search: formats follow the resources (facet and fq), facet counts come from the same matches as the count', async () => {
  type Search = { count: number; results: Array<{ name: string }>; facets: Record<string, Record<string, number>>; search_facets: Record<string, { items: Array<{ name: string; count: number }> }> };
  const all = (await anon.action.package_search({ q: 'bicicletas', 'facet.field': '["res_format","groups","tags","organization","license_id"]' })) as Search;
  assert.equal(all.count, 2);
  assert.deepEqual(all.facets.res_format, { CSV: 1, GEOJSON: 1 });
  assert.equal(all.facets.groups.movilidad, 2);
  assert.equal(all.facets.organization[officeSlug], 2);
  assert.equal(all.search_facets.organization.items[0].name, officeSlug);
  const csv = (await anon.action.package_search({ q: 'bicicletas', fq: 'res_format:CSV' })) as Search;
  assert.deepEqual(csv.results.map((r) => r.name), ['estaciones-ecobici']);
  // A new resource and a deleted one change the facet at once (kept by a trigger on od_resources).
  await editor.action.resource_create({ package_id: 'ciclovias', url: 'https://example.org/c.csv', format: 'CSV' });
  const shown = (await anon.action.package_show({ id: 'estaciones-ecobici' })) as { resources: Array<{ id: string; format: string }> };
  await editor.action.resource_delete({ id: shown.resources.find((r) => r.format.toUpperCase() === 'CSV')!.id });
  const after1 = (await anon.action.package_search({ q: 'bicicletas', 'facet.field': '["res_format"]', fq: 'res_format:csv' })) as Search;
  assert.deepEqual(after1.results.map((r) => r.name), ['ciclovias']);
  assert.deepEqual(after1.facets.res_format, { CSV: 1 });
  // Paging keeps the relevance order and the total.
  const page2 = (await anon.action.package_search({ q: 'bicicletas', rows: 1, start: 1, sort: 'name asc' })) as Search;
  assert.equal(page2.count, 2);
  assert.deepEqual(page2.results.map((r) => r.name), ['estaciones-ecobici']);
});

test('datastore_create, datastore_upsert and datastore_delete: CKAN shapes and errors, for the organisation only', async () => {
  const fields = [
    { id: 'estacion', type: 'text' },
    { id: 'bicicletas', type: 'int' },
    { id: 'lat', type: 'numeric' },
    { id: 'lng', type: 'numeric' },
  ];
  const records = [
    { estacion: 'Retiro', bicicletas: 12, lat: -34.5917, lng: -58.3747 },
    { estacion: 'Plaza de Mayo', bicicletas: 8, lat: -34.6083, lng: -58.3712 },
  ];
  const resource = { package_id: 'estaciones-ecobici', name: 'Disponibilidad' };
  await rejects(anon.action.datastore_create({ resource, fields, records }), 'Authorization Error');
  await rejects(outsider.action.datastore_create({ resource, fields, records }), 'Authorization Error');
  const badType = await rejects(editor.action.datastore_create({ resource, fields: [{ id: 'x', type: 'geometry' }] }), 'Validation Error');
  assert.match(String((badType.fields as string[])[0]), /not a valid field type/);
  const created = (await editor.action.datastore_create({ resource, fields, records, primary_key: 'estacion' })) as { resource_id: string; fields: Array<{ id: string; type: string }>; primary_key: string[]; method: string };
  assert.equal(created.method, 'insert');
  assert.deepEqual(created.primary_key, ['estacion']);
  assert.deepEqual(created.fields.map((f) => f.type), ['text', 'int8', 'numeric', 'numeric']);
  const id = created.resource_id;
  const res = (await anon.action.resource_show({ id })) as { datastore_active: boolean; url_type: string };
  assert.equal(res.datastore_active, true);
  assert.equal(res.url_type, 'datastore');
  type Rows = { total: number; records: Array<Record<string, unknown>> };
  const search = async (extra: Record<string, unknown> = {}) => (await anon.action.datastore_search({ resource_id: id, sort: 'estacion', ...extra })) as Rows;
  assert.equal((await search()).total, 2);

  // A record that contradicts its field's type: nothing of the call is stored.
  const badRecord = await rejects(editor.action.datastore_create({ resource_id: id, records: [{ estacion: 'Once', bicicletas: 3 }, { estacion: 'Constitución', bicicletas: 'muchas' }] }), 'Validation Error');
  assert.match(String((badRecord.records as string[])[0]), /row "2".*bicicletas.*not an integer/);
  const extraKey = await rejects(editor.action.datastore_create({ resource_id: id, records: [{ estacion: 'Once', color: 'rojo' }] }), 'Validation Error');
  assert.match(String((extraKey.records as string[])[0]), /extra keys "color"/);
  assert.equal((await search()).total, 2);

  // upsert by the primary key: one update, one insert.
  const up = (await editor.action.datastore_upsert({ resource_id: id, method: 'upsert', records: [{ estacion: 'Retiro', bicicletas: 20 }, { estacion: 'Once', bicicletas: 5, lat: -34.6089, lng: -58.4062 }] })) as { method: string; records: unknown[] };
  assert.equal(up.method, 'upsert');
  let rows = await search();
  assert.equal(rows.total, 3);
  assert.equal(rows.records.find((r) => r.estacion === 'Retiro')!.bicicletas, 20);
  assert.equal(rows.records.find((r) => r.estacion === 'Retiro')!.lat, -34.5917);
  // update: the key must exist; insert: a duplicate key is refused; upsert needs the key's value.
  const missing = await rejects(editor.action.datastore_upsert({ resource_id: id, method: 'update', records: [{ estacion: 'Palermo', bicicletas: 1 }] }), 'Validation Error');
  assert.match(String((missing.key as string[])[0]), /not found/);
  await rejects(editor.action.datastore_upsert({ resource_id: id, method: 'insert', records: [{ estacion: 'Once', bicicletas: 1 }] }), 'Validation Error');
  const noKey = await rejects(editor.action.datastore_upsert({ resource_id: id, records: [{ bicicletas: 1 }] }), 'Validation Error');
  assert.match(String((noKey.key as string[])[0]), /"estacion" are missing but needed as key/);
  await editor.action.datastore_upsert({ resource_id: id, method: 'update', records: [{ estacion: 'Once', bicicletas: 7 }] });
  await rejects(outsider.action.datastore_upsert({ resource_id: id, records: [{ estacion: 'Once', bicicletas: 0 }] }), 'Authorization Error');
  rows = await search();
  assert.equal(rows.records.find((r) => r.estacion === 'Once')!.bicicletas, 7);
  assert.equal(Number((await datastoreInfo(odDb(t.services), id))!.row_count), 3);

  // delete with filters removes rows; without filters drops the table.
  await rejects(editor.action.datastore_delete({ resource_id: id, filters: { color: 'rojo' } }), 'Validation Error');
  await rejects(outsider.action.datastore_delete({ resource_id: id }), 'Authorization Error');
  const del = (await editor.action.datastore_delete({ resource_id: id, filters: { estacion: 'Once' } })) as { resource_id: string; filters: unknown };
  assert.deepEqual(del.filters, { estacion: 'Once' });
  assert.equal((await search()).total, 2);
  await editor.action.datastore_delete({ resource_id: id });
  await rejects(anon.action.datastore_search({ resource_id: id }), 'Not Found Error');
  assert.equal(((await anon.action.resource_show({ id })) as { datastore_active: boolean }).datastore_active, false);

  // A table loaded from an uploaded file is read-only unless the caller forces it, as in CKAN.
  const fd = new FormData();
  fd.append('package_id', 'estaciones-ecobici');
  fd.append('upload', new Blob(['estacion,bicicletas\nRetiro,4\n']), 'estaciones.csv');
  const uploaded = (await editor.action.resource_create(fd)) as { id: string };
  const readOnly = await rejects(editor.action.datastore_upsert({ resource_id: uploaded.id, method: 'insert', records: [{ estacion: 'Once', bicicletas: 2 }] }), 'Validation Error');
  assert.ok(readOnly['read-only']);
  await editor.action.datastore_upsert({ resource_id: uploaded.id, method: 'insert', force: true, records: [{ estacion: 'Once', bicicletas: 2 }] });
  assert.equal(((await anon.action.datastore_search({ resource_id: uploaded.id })) as Rows).total, 2);
  const audit = await t.services.db.selectFrom('audit_log').select('action').where('action', 'like', 'datastore.%').execute();
  assert.ok(audit.length >= 6);
});

test('datastore_search estimates a large total when asked (total_estimation_threshold), as CKAN 2.10 does', async () => {
  const lines = ['barrio,monto'];
  for (let i = 0; i < 300; i++) lines.push(`${['PALERMO', 'FLORES', 'BOCA'][i % 3]},${i}`);
  const fd = new FormData();
  fd.append('package_id', 'ciclovias');
  fd.append('upload', new Blob([lines.join('\n') + '\n']), 'montos.csv');
  const r = (await editor.action.resource_create(fd)) as { id: string };
  type Result = { total: number; total_was_estimated: boolean; records: unknown[] };
  const exact = (await anon.action.datastore_search({ resource_id: r.id, filters: { barrio: 'PALERMO' }, limit: 5 })) as Result;
  assert.equal(exact.total, 100);
  assert.equal(exact.total_was_estimated, false);
  const estimated = (await anon.action.datastore_search({ resource_id: r.id, filters: { barrio: 'PALERMO' }, limit: 5, total_estimation_threshold: 10 })) as Result;
  assert.equal(estimated.total_was_estimated, true);
  assert.ok(estimated.total > 50 && estimated.total < 200, String(estimated.total));
  assert.equal(estimated.records.length, 5);
  const whole = (await anon.action.datastore_search({ resource_id: r.id, limit: 1, total_estimation_threshold: 10 })) as Result;
  assert.equal(whole.total_was_estimated, true);
  assert.equal(whole.total, 300);
  const below = (await anon.action.datastore_search({ resource_id: r.id, filters: { barrio: 'PALERMO' }, total_estimation_threshold: 100000 })) as Result;
  assert.equal(below.total_was_estimated, false);
  assert.equal(below.total, 100);
});

test('a big upload is loaded by a job: the page links to it, the table appears when it runs, a failure names the row', async () => {
  const previous = loadSettings.jobThresholdBytes;
  loadSettings.jobThresholdBytes = 64;
  try {
    const client = await new TestClient(t.app).signInAs(t.services, memberId);
    await client.get('/datasets/ciclovias');
    const csv = 'tramo,km\n' + Array.from({ length: 20 }, (_, i) => `Tramo ${i},${i + 0.5}`).join('\n') + '\n';
    const upload = await uploadForm(client, 'ciclovias', 'tramos.csv', csv, 'Tramos');
    assert.equal(upload.statusCode, 303);
    const db = odDb(t.services);
    const d = (await findDataset(db, 'ciclovias'))!;
    const r = await db.selectFrom('od_resources').selectAll().where('dataset_id', '=', d.id).where('name', '=', 'Tramos').executeTakeFirstOrThrow();
    assert.equal(r.datastore_active, false);
    const job = await t.services.db.selectFrom('jobs').selectAll().where('kind', '=', LOAD_JOB).orderBy('id', 'desc').executeTakeFirstOrThrow();
    assert.equal(job.status, 'queued');
    assert.equal(job.created_by, memberId);
    const page = await client.get('/datasets/ciclovias');
    assert.match(page.body, new RegExp(`href="/jobs/${job.id}"`));
    assert.match(page.body, /cola de trabajos/);
    assert.equal((await client.get(`/jobs/${job.id}`)).statusCode, 200);

    await t.services.jobs.drain();
    const done = await t.services.db.selectFrom('jobs').selectAll().where('id', '=', job.id).executeTakeFirstOrThrow();
    assert.equal(done.status, 'done', String(done.error));
    assert.equal((done.result as { rows: number }).rows, 20);
    const rows = (await anon.action.datastore_search({ resource_id: r.id, limit: 1 })) as { total: number };
    assert.equal(rows.total, 20);
    assert.doesNotMatch((await client.get('/datasets/ciclovias')).body, /cola de trabajos/);

    // A new version of a big file: the old rows are served until its job swaps the table.
    const v2 = new FormData();
    v2.append('id', r.id);
    v2.append('upload', new Blob(['tramo,km\n' + Array.from({ length: 30 }, (_, i) => `Nuevo ${i},${i}`).join('\n') + '\n']), 'tramos-2.csv');
    await editor.action.resource_update(v2);
    assert.equal(((await anon.action.datastore_search({ resource_id: r.id, limit: 1 })) as { total: number }).total, 20);
    await t.services.jobs.drain();
    assert.equal(((await anon.action.datastore_search({ resource_id: r.id, limit: 1 })) as { total: number }).total, 30);

    // A ragged file through the API: queued too; the job fails with the row and the reason.
    const fd = new FormData();
    fd.append('package_id', 'ciclovias');
    fd.append('upload', new Blob(['tramo,km\n' + 'Tramo A,1\n'.repeat(10) + 'Tramo B,2,extra\n']), 'roto.csv');
    const broken = (await editor.action.resource_create(fd)) as { id: string; datastore_active: boolean };
    assert.equal(broken.datastore_active, false);
    await t.services.jobs.drain();
    const failed = await t.services.db.selectFrom('jobs').selectAll().where('kind', '=', LOAD_JOB).orderBy('id', 'desc').executeTakeFirstOrThrow();
    assert.equal(failed.status, 'failed');
    assert.match(String(failed.error), /Row 12|line 12/i);
    const resPage = await client.get(`/datasets/ciclovias/resource/${broken.id}`);
    assert.match(resPage.body, /La última carga en el almacén de datos falló/);
    assert.match(resPage.body, new RegExp(`href="/jobs/${failed.id}"`));
    // Visitors do not see the queue.
    assert.doesNotMatch((await t.app.inject(`/datasets/ciclovias/resource/${broken.id}`)).body, /\/jobs\//);
  } finally {
    loadSettings.jobThresholdBytes = previous;
  }
});

test('the metadata edit form: editors change every DCAT field it shows (audited); others get 403 and change nothing', async () => {
  const client = await new TestClient(t.app).signInAs(t.services, memberId);
  const form = await client.get('/datasets/ciclovias/edit');
  assert.equal(form.statusCode, 200);
  assert.match(form.body, /value="Ciclovías"/);
  assert.match(form.body, /name="theme" value="movilidad" checked/);
  assert.match(form.body, /name="_csrf"/);
  assert.match((await client.get('/datasets/ciclovias')).body, /href="\/datasets\/ciclovias\/edit"/);
  const bad = await client.post('/datasets/ciclovias/edit', { title: 'Ciclovías', notes: 'x', owner_org: officeSlug, maintainer_email: 'no es un correo' });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.body, /usa-alert--error/);
  const saved = await client.post('/datasets/ciclovias/edit', {
    title: 'Red de ciclovías',
    notes: 'Ciclovías protegidas de la ciudad.',
    owner_org: officeSlug,
    theme: ['movilidad', 'ambiente'],
    tags: 'bicicletas, ciclovías',
    license_id: 'ODbL-1.0',
    accrualPeriodicity: 'R/P1M',
    maintainer: 'Dirección de Movilidad Saludable',
    maintainer_email: 'movilidad@example.org',
    temporal: '2009-01-01/2024-12-31',
    spatial: 'Ciudad Autónoma de Buenos Aires',
  });
  assert.equal(saved.statusCode, 303);
  const d = (await anon.action.package_show({ id: 'ciclovias' })) as Record<string, any>;
  assert.equal(d.title, 'Red de ciclovías');
  assert.equal(d.notes, 'Ciclovías protegidas de la ciudad.');
  assert.deepEqual(d.groups.map((g: { name: string }) => g.name).sort(), ['ambiente', 'movilidad']);
  assert.deepEqual(d.tags.map((x: { name: string }) => x.name), ['bicicletas', 'ciclovías']);
  assert.equal(d.license_id, 'ODbL-1.0');
  assert.equal(d.maintainer_email, 'movilidad@example.org');
  const extra = (k: string) => d.extras.find((e: { key: string }) => e.key === k)?.value;
  assert.equal(extra('accrualPeriodicity'), 'R/P1M');
  assert.equal(extra('temporal'), '2009-01-01/2024-12-31');
  assert.equal(extra('spatial'), 'Ciudad Autónoma de Buenos Aires');
  assert.ok(d.resources.length >= 1, 'resources are kept');
  const audit = await t.services.db.selectFrom('audit_log').selectAll().where('action', '=', 'dataset.edit').execute();
  assert.equal(audit.length, 1);
  assert.equal(audit[0].actor_id, memberId);

  const other = await new TestClient(t.app).signInAs(t.services, strangerId);
  await other.get('/datasets');
  assert.equal((await other.get('/datasets/ciclovias/edit')).statusCode, 403);
  const denied = await other.post('/datasets/ciclovias/edit', { title: 'Tomado', notes: 'x', owner_org: 'consejo-de-la-magistratura' });
  assert.equal(denied.statusCode, 403);
  assert.equal(((await anon.action.package_show({ id: 'ciclovias' })) as { title: string }).title, 'Red de ciclovías');
  const visitor = await t.app.inject('/datasets/ciclovias/edit');
  assert.ok([302, 303, 401].includes(visitor.statusCode));
  // Without the CSRF token the form is refused.
  const noCsrf = await client.post('/datasets/ciclovias/edit', { title: 'Sin token', notes: 'x', owner_org: officeSlug }, { csrf: false });
  assert.equal(noCsrf.statusCode, 403);
});

test('resource maps: latitude/longitude rows become a points GeoJSON the Leaflet island draws over the communes', async () => {
  const fd = new FormData();
  fd.append('package_id', 'estaciones-ecobici');
  fd.append('name', 'Estaciones');
  fd.append('upload', new Blob(['nombre,lat,lon\nRetiro,-34.5917,-58.3747\nOnce,-34.6089,-58.4062\nSin lugar,,\n']), 'estaciones-mapa.csv');
  const r = (await editor.action.resource_create(fd)) as { id: string };
  const page = await t.app.inject(`/datasets/estaciones-ecobici/resource/${r.id}`);
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /data-island="map"/);
  assert.match(page.body, /data-geojson-url="\/api\/v1\/geo\/communes"/);
  assert.match(page.body, new RegExp(`data-points-url="/datasets/estaciones-ecobici/resource/${r.id}/points.geojson"`));
  assert.match(page.body, /<div class="city-map"><figure class="od-map">/);
  assert.match(page.body, /src="\/assets\/js\/map-[0-9a-f]+\.js"/);
  const points = await t.app.inject(`/datasets/estaciones-ecobici/resource/${r.id}/points.geojson`);
  assert.equal(points.statusCode, 200);
  assert.match(String(points.headers['content-type']), /geo\+json/);
  const fc = points.json() as { type: string; features: Array<{ geometry: { coordinates: number[] }; properties: { title: string; url: string } }> };
  assert.equal(fc.type, 'FeatureCollection');
  assert.equal(fc.features.length, 2);
  assert.deepEqual(fc.features[0].geometry.coordinates, [-58.3747, -34.5917]);
  assert.equal(fc.features[0].properties.title, 'Retiro');
  // Each point links to its row in the preview.
  const row = await t.app.inject(fc.features[1].properties.url);
  assert.match(row.body, /Once/);
  assert.doesNotMatch(row.body, /Retiro<\/td>/);
  // A resource without places has no map and no points.
  const plain = new FormData();
  plain.append('package_id', 'estaciones-ecobici');
  plain.append('upload', new Blob(['a,b\n1,2\n']), 'plano.csv');
  const p = (await editor.action.resource_create(plain)) as { id: string };
  assert.doesNotMatch((await t.app.inject(`/datasets/estaciones-ecobici/resource/${p.id}`)).body, /data-island="map"/);
  assert.equal((await t.app.inject(`/datasets/estaciones-ecobici/resource/${p.id}/points.geojson`)).statusCode, 404);
});

test('the resource form streams JSON uploads in: loaded now or by the job; a refused one leaves no file', async () => {
  const files = async () => Number((await t.services.db.selectFrom('files').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const client = await new TestClient(t.app).signInAs(t.services, memberId);
  await client.get('/datasets/ciclovias');
  const db = odDb(t.services);
  const d = (await findDataset(db, 'ciclovias'))!;
  const json = JSON.stringify({ records: [{ tramo: 'Av. Corrientes', km: 3.5 }, { tramo: 'Av. Córdoba', km: 4.1, sentido: 'oeste' }] });
  assert.equal((await uploadForm(client, 'ciclovias', 'tramos.json', json, 'Tramos JSON')).statusCode, 303);
  const now = await db.selectFrom('od_resources').selectAll().where('dataset_id', '=', d.id).where('name', '=', 'Tramos JSON').executeTakeFirstOrThrow();
  assert.equal(now.datastore_active, true);
  const rows = (await anon.action.datastore_search({ resource_id: now.id, sort: 'km' })) as { records: Array<Record<string, unknown>> };
  assert.deepEqual(rows.records.map((x) => [x.tramo, Number(x.km), x.sentido]), [['Av. Corrientes', 3.5, null], ['Av. Córdoba', 4.1, 'oeste']]);

  const before = await files();
  const refused = await uploadForm(client, 'ciclovias', 'roto.json', '[{"tramo": "a"} {"tramo": "b"}]', 'Roto');
  assert.equal(refused.statusCode, 400);
  assert.match(refused.body, /JSON/);
  assert.equal(await files(), before, 'the refused file is not kept');

  const previous = loadSettings.jobThresholdBytes;
  loadSettings.jobThresholdBytes = 16;
  try {
    assert.equal((await uploadForm(client, 'ciclovias', 'tramos2.json', '[["tramo","km"],["Av. Santa Fe",2.25]]', 'Tramos por job')).statusCode, 303);
    await t.services.jobs.drain();
  } finally {
    loadSettings.jobThresholdBytes = previous;
  }
  const queued = await db.selectFrom('od_resources').selectAll().where('dataset_id', '=', d.id).where('name', '=', 'Tramos por job').executeTakeFirstOrThrow();
  assert.equal(queued.datastore_active, true);
  const jobRows = (await anon.action.datastore_search({ resource_id: queued.id })) as { records: Array<Record<string, unknown>> };
  assert.deepEqual(jobRows.records.map((x) => [x.tramo, Number(x.km)]), [['Av. Santa Fe', 2.25]]);
});

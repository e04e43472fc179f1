import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import Ajv from 'ajv-draft-04';
import addFormats from 'ajv-formats';
import { createTestApp, createOffice, createUser, TestClient, type TestContext } from '../../core/testing/harness';
import type { ModuleManifest } from '../../core/manifest';
import { manifest } from './manifest';
import { odDb, findDataset } from './store';
import { harvest } from './harvest';
import { syncRegistry, SYNC_JOB } from './registry-sync';
import { createResource } from './publishing';
import { systemActor } from '../../core/audit';

const CATALOG = path.resolve('../shared/data/buenos-aires/ckan-catalog-2021');
const SCHEMAS = path.resolve('../shared/schemas/datajson-ar');
const SAMPLE = ['barrios.json', 'comunas.json', 'presupuesto-ejecutado.json', 'ba-obras.json', 'sistema-unico-atencion-ciudadana.json', '147-covid.json'];

/** A module that publishes one dataset through core's registry, as later modules will. */
const publisher: ModuleManifest = {
  name: 'fixture-publisher',
  path: '/fixture',
  titleKey: 'open-data.title',
  descriptionKey: 'open-data.description',
  status: 'ready',
  datasets: [
    {
      slug: 'comunas-cabildo',
      title: { 'es-AR': 'Comunas', en: 'Communes' },
      description: { 'es-AR': 'Las quince comunas.', en: 'The fifteen communes.' },
      theme: 'urbanismo-y-territorio',
      keywords: ['comunas'],
      accrualPeriodicity: 'R/P1Y',
      resources: [
        { slug: 'comunas-csv', name: 'Comunas (CSV)', format: 'CSV', mediaType: 'text/csv', produce: async () => 'id,nombre\n1,Comuna 1\n' },
        { slug: 'comunas-geojson', name: 'Comunas (GeoJSON)', format: 'GeoJSON', mediaType: 'application/geo+json', produce: async () => JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: { comuna: 1 }, geometry: { type: 'Polygon', coordinates: [[[-58.40, -34.60], [-58.36, -34.60], [-58.36, -34.63], [-58.40, -34.60]]] } }] }) },
      ],
    },
  ],
};

let t: TestContext;
let sampleDir: string;

before(async () => {
  t = await createTestApp({ modules: [manifest, publisher] });
  sampleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'od-harvest-'));
  for (const f of SAMPLE) fs.copyFileSync(path.join(CATALOG, f), path.join(sampleDir, f));
});

after(async () => {
  fs.rmSync(sampleDir, { recursive: true, force: true });
  await t.close();
});

test('harvesting a folder of package_show results creates organisations and themes, and a second run changes nothing', async () => {
  const first = await harvest(t.services, sampleDir, { origin: 'data.buenosaires.gob.ar' });
  assert.deepEqual(first.errors, []);
  assert.equal(first.created, SAMPLE.length);
  assert.ok(first.offices >= 3);
  assert.ok(first.themes >= 3);
  const db = odDb(t.services);
  const barrios = await findDataset(db, 'barrios');
  assert.ok(barrios);
  assert.equal(barrios.status, 'published');
  const res = await db.selectFrom('od_resources').selectAll().where('dataset_id', '=', barrios.id).orderBy('position').execute();
  assert.equal(res.length, 6);
  const withDictionary = await db.selectFrom('od_resources').select('fields').where('dataset_id', '=', (await findDataset(db, 'comunas'))!.id).execute();
  assert.ok(withDictionary.some((r) => r.fields.some((f) => f.id === 'perimetro')));
  const audit1 = await t.services.db.selectFrom('audit_log').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();

  const second = await harvest(t.services, sampleDir, { origin: 'data.buenosaires.gob.ar' });
  assert.equal(second.created, 0);
  assert.equal(second.updated, 0);
  assert.equal(second.unchanged, SAMPLE.length);
  const audit2 = await t.services.db.selectFrom('audit_log').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  assert.equal(Number(audit2.n), Number(audit1.n));
});

test('harvesting a CKAN portal through its Action API (a local CKAN-shaped fixture server)', async () => {
  const packages = SAMPLE.map((f) => JSON.parse(fs.readFileSync(path.join(CATALOG, f), 'utf8')));
  packages.forEach((p) => (p.name = `remoto-${p.name}`));
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname !== '/api/3/action/package_search') {
      res.writeHead(404).end();
      return;
    }
    const start = Number(u.searchParams.get('start') ?? 0);
    const rows = Number(u.searchParams.get('rows') ?? 10);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ success: true, result: { count: packages.length, results: packages.slice(start, start + rows) } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const r1 = await harvest(t.services, url);
    assert.equal(r1.created, SAMPLE.length);
    const r2 = await harvest(t.services, url);
    assert.equal(r2.unchanged, SAMPLE.length);
    assert.ok(await findDataset(odDb(t.services), 'remoto-comunas'));
  } finally {
    server.close();
  }
});

test('the open-data registry turns declared datasets into catalogue datasets linking to /published', async () => {
  // Core's own datasets (communes, neighbourhoods) come through the same registry.
  const declared = t.services.registry.datasets().length;
  const first = await syncRegistry(t.services);
  assert.equal(first.created, declared);
  const audited = () => t.services.db.selectFrom('audit_log').select('id').where('action', 'like', 'dataset.registry.%').execute();
  const stamps = () => odDb(t.services).selectFrom('od_datasets').select(['name', 'modified', 'metadata_modified']).where('source', 'like', 'registry:%').orderBy('name').execute();
  const [auditBefore, stampsBefore] = [await audited(), await stamps()];
  const again = await syncRegistry(t.services);
  assert.deepEqual([again.created, again.updated, again.unchanged], [0, 0, declared]);
  // Nothing changed, so nothing is written: no audit entry, no new modified dates.
  assert.equal((await audited()).length, auditBefore.length);
  assert.deepEqual(await stamps(), stampsBefore);
  // End to end with core's own dataset (communes and neighbourhoods), served by core at /published.
  for (const { dataset } of t.services.registry.datasets().filter((d) => d.module === 'core')) {
    const core = (await t.app.inject(`/api/3/action/package_show?id=${dataset.slug}`)).json().result;
    assert.equal(core.resources.length, dataset.resources.length);
    for (const r of core.resources) {
      const file = await t.app.inject(new URL(r.url).pathname);
      assert.equal(file.statusCode, 200, r.url);
    }
  }
  const res = await t.app.inject('/api/3/action/package_show?id=comunas-cabildo');
  const pkg = res.json().result;
  assert.equal(pkg.title, 'Comunas');
  assert.deepEqual(
    pkg.resources.map((r: { url: string; format: string }) => [r.format, new URL(r.url).pathname]),
    [['CSV', '/published/comunas-cabildo/comunas-csv'], ['GeoJSON', '/published/comunas-cabildo/comunas-geojson']],
  );
});

test('the registry sync is a recurring job, queued when the worker starts; a run changes nothing when nothing changed', async () => {
  const jobs = () => t.services.db.selectFrom('jobs').select(['id', 'status', 'result']).where('kind', '=', SYNC_JOB).execute();
  assert.deepEqual(manifest.schedules, [{ job: SYNC_JOB, everyMinutes: 60 }]);
  assert.equal((await jobs()).length, 0, 'test apps run no worker');
  const auditBefore = await t.services.db.selectFrom('audit_log').select('id').execute();
  // The worker's first tick queues it (core: src/core/jobs) and runs it.
  t.services.jobs.start(20);
  for (let i = 0; i < 250 && !(await jobs()).some((j) => j.status === 'done'); i++) await new Promise((r) => setTimeout(r, 20));
  t.services.jobs.stop();
  assert.equal((await jobs()).length, 1, 'queued once');
  const [job] = await jobs();
  assert.equal(job.status, 'done');
  assert.equal((job.result as { unchanged: number }).unchanged, t.services.registry.datasets().length);
  assert.equal((await t.services.db.selectFrom('audit_log').select('id').execute()).length, auditBefore.length);
});

test('/data.json validates against the Argentine profile schema', async () => {
  const res = await t.app.inject('/data.json');
  assert.equal(res.statusCode, 200);
  const doc = res.json();
  assert.ok(doc.dataset.length >= SAMPLE.length);
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  for (const f of fs.readdirSync(SCHEMAS).filter((n) => n.endsWith('.json') && !/Taxonomy|accrualPeriodicity/.test(n))) {
    // The profile writes fragment refs as `file.json#name`; JSON Schema wants `#/name`.
    const text = fs.readFileSync(path.join(SCHEMAS, f), 'utf8').replace(/(\.json)?#(?!\/)([A-Za-z]+)/g, (_m, file, name) => `${file ?? ''}#/${name}`);
    ajv.addSchema(JSON.parse(text), f);
  }
  const validate = ajv.getSchema('catalog.json')!;
  const ok = validate(doc);
  assert.ok(ok, JSON.stringify(validate.errors?.slice(0, 5), null, 1));
  const barrios = doc.dataset.find((d: { landingPage: string }) => d.landingPage.endsWith('/datasets/barrios'));
  assert.ok(barrios.distribution.some((d: { field?: unknown[] }) => d.field?.length));
  assert.ok(Array.isArray(barrios.superTheme) && barrios.superTheme.length);
});

test('DCAT-AP as JSON-LD and Turtle', async () => {
  const ld = await t.app.inject('/catalog.jsonld');
  assert.equal(ld.statusCode, 200);
  assert.match(ld.headers['content-type'] as string, /application\/ld\+json/);
  const doc = ld.json();
  assert.equal(doc['@context'].dcat, 'http://www.w3.org/ns/dcat#');
  const types = new Set(doc['@graph'].map((n: { '@type': string }) => n['@type']));
  assert.ok(types.has('dcat:Catalog') && types.has('dcat:Dataset') && types.has('dcat:Distribution'));
  const ttl = await t.app.inject('/catalog.ttl');
  assert.equal(ttl.statusCode, 200);
  assert.match(ttl.body, /@prefix dcat: <http:\/\/www\.w3\.org\/ns\/dcat#> \./);
  assert.match(ttl.body, /a dcat:Dataset/);
  const datasets = doc['@graph'].filter((n: { '@type': string }) => n['@type'] === 'dcat:Dataset').length;
  assert.equal(ttl.body.match(/ a dcat:Dataset/g)?.length, datasets);
  // Every subject block is closed, and quotes inside literals are escaped.
  assert.equal(ttl.body.match(/ \.\n\n/g)?.length, doc['@graph'].length + 1); // + the prefix block
  assert.match(ttl.body, /dct:title "Barrios"/);
});

test('catalogue page: sectors with counts, search, facets with counts, pagination; works without JS', async () => {
  const home = await t.app.inject('/datasets');
  assert.equal(home.statusCode, 200);
  assert.match(home.body, /Sectores/);
  assert.match(home.body, /Urbanismo y Territorio/);
  const search = await t.app.inject('/datasets?q=comuna');
  assert.equal(search.statusCode, 200);
  assert.match(search.body, /href="\/datasets\/comunas"/);
  assert.doesNotMatch(search.body, /href="\/datasets\/147-covid"/);
  const faceted = await t.app.inject('/datasets?groups=economia-y-finanzas&lang=en');
  assert.match(faceted.body, /datasets found/);
  assert.match(faceted.body, /presupuesto-ejecutado/);
  assert.doesNotMatch(faceted.body, /href="\/datasets\/barrios"/);
  assert.doesNotMatch(home.body, / style="/);
});

test('dataset page, resource preview from the DataStore (paged, sorted, filtered) with a chart and its data table', async () => {
  const db = odDb(t.services);
  const barrios = (await findDataset(db, 'barrios'))!;
  const admin = { userId: null, admin: true, officeIds: [], adminOfficeIds: [] };
  const r = await createResource(t.services, systemActor, admin, { package_id: barrios.id, name: 'Población 2010', format: 'CSV' }, { data: fs.readFileSync(path.resolve('data/demo/open-data/caba_pob_barrios_2010.csv')), filename: 'pob.csv' });
  assert.equal(r.datastore_active, true);
  const page = await t.app.inject('/datasets/barrios');
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /package_show\?id=barrios/);
  assert.match(page.body, new RegExp(`/datasets/barrios/resource/${r.id}`));
  const preview = await t.app.inject(`/datasets/barrios/resource/${r.id}?sort=POBLACION&dir=desc`);
  assert.equal(preview.statusCode, 200);
  assert.match(preview.body, /48 filas/);
  assert.match(preview.body, /<caption>Datos de Población 2010<\/caption>/);
  // Sorted by population, descending: Palermo is the most populous barrio.
  const firstRow = /<tbody><tr><td>\d+<\/td><td>([A-Z ]+)<\/td>/.exec(preview.body);
  assert.equal(firstRow?.[1], 'PALERMO');
  assert.match(preview.body, /<svg role="img"/);
  const filtered = await t.app.inject(`/datasets/barrios/resource/${r.id}?col=BARRIO&val=BOCA`);
  assert.match(filtered.body, /1 filas/);
  const views = await db.selectFrom('od_datasets').select('views').where('id', '=', barrios.id).executeTakeFirstOrThrow();
  assert.ok(views.views >= 1);
  const download = await t.app.inject(`/datasets/barrios/resource/${r.id}/download`);
  assert.equal(download.statusCode, 200);
  assert.match(download.body, /^BARRIO,POBLACION/);
});

test('draft → review → published from the publishing pages: editors send to review, only office administrators publish', async () => {
  const office = await createOffice(t.services, { slug: 'instituto-de-vivienda' });
  const member = await createUser(t.services, { roles: ['official'], officeIds: [office.id] });
  const head = await createUser(t.services, { roles: ['official'], officeIds: [office.id], officeAdminIds: [office.id] });
  const stranger = await createUser(t.services, { roles: ['official'] });
  const db = odDb(t.services);
  await db.insertInto('od_datasets').values({ id: 'draft-1', name: 'viviendas', title: 'Viviendas sociales', office_id: office.id, status: 'draft', extras: '[]', metadata_created: new Date(), metadata_modified: new Date() }).execute();
  assert.equal((await t.app.inject('/datasets/viviendas')).statusCode, 404);
  const other = await new TestClient(t.app).signInAs(t.services, stranger.id);
  await other.get('/datasets/publish');
  const denied = await other.post('/datasets/viviendas/status', { status: 'published' });
  assert.ok(denied.statusCode === 403 || denied.statusCode === 404);
  const client = await new TestClient(t.app).signInAs(t.services, member.id);
  const list = await client.get('/datasets/publish');
  assert.match(list.body, /Viviendas sociales/);
  // An editor is offered review, not publication…
  assert.match(list.body, /<option value="review">/);
  assert.doesNotMatch(list.body, /<option value="published">/);
  const toReview = await client.post('/datasets/viviendas/status', { status: 'review' });
  assert.equal(toReview.statusCode, 303);
  await client.get('/datasets/viviendas');
  // …and cannot publish by posting the form anyway.
  const notYours = await client.post('/datasets/viviendas/status', { status: 'published' });
  assert.equal(notYours.statusCode, 403);
  assert.match(notYours.body, /Solo quienes administran el organismo/);
  assert.equal((await t.app.inject('/datasets/viviendas')).statusCode, 404);
  // The office administrator publishes it.
  const boss = await new TestClient(t.app).signInAs(t.services, head.id);
  assert.match((await boss.get('/datasets/viviendas')).body, /<option value="published">/);
  assert.equal((await boss.post('/datasets/viviendas/status', { status: 'published' })).statusCode, 303);
  assert.equal((await t.app.inject('/datasets/viviendas')).statusCode, 200);
  // Unpublishing is the administrators' call too.
  assert.equal((await client.post('/datasets/viviendas/status', { status: 'draft' })).statusCode, 403);
  const audit = await t.services.db.selectFrom('audit_log').select('details').where('action', '=', 'dataset.status').where('subject_id', '=', 'draft-1').execute();
  assert.equal(audit.length, 2);
});

test('the global search finds datasets', async () => {
  const hits = await manifest.search!.search(t.services, 'comunas', 'es-AR', 5);
  assert.ok(hits.some((h) => h.url === '/datasets/comunas'));
  const stats = await manifest.statistics!(t.services);
  assert.ok(stats.find((s) => s.key === 'open-data.datasets')!.value >= 6);
  assert.ok(stats.find((s) => s.key === 'open-data.datastore')!.value >= 1);
});

test('officials publish from the pages: a new draft, an uploaded CSV, and a dictionary edit that retypes a column', async () => {
  const office = await createOffice(t.services, { slug: 'agencia-de-proteccion-ambiental', name: 'Agencia de Protección Ambiental' });
  const member = await createUser(t.services, { roles: ['official'], officeIds: [office.id] });
  const client = await new TestClient(t.app).signInAs(t.services, member.id);
  const form = await client.get('/datasets/new');
  assert.equal(form.statusCode, 200);
  assert.match(form.body, /Nuevo conjunto de datos/);
  const bad = await client.post('/datasets/new', { title: 'Árboles', name: 'Árboles!', notes: 'x', owner_org: office.slug });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.body, /usa-alert--error/);
  const created = await client.post('/datasets/new', { title: 'Arbolado público', name: 'arbolado-publico', notes: 'Árboles de las veredas.', owner_org: office.slug, theme: 'urbanismo-y-territorio', tags: 'árboles, veredas', license_id: 'CC-BY-4.0', accrualPeriodicity: 'R/P1Y' });
  assert.equal(created.statusCode, 303);
  assert.equal(created.headers.location, '/datasets/arbolado-publico');
  assert.equal((await t.app.inject('/datasets/arbolado-publico')).statusCode, 404); // a draft
  const page = await client.get('/datasets/arbolado-publico');
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /Agregar un recurso/);

  const fd = new FormData();
  fd.append('name', 'Árboles por comuna');
  fd.append('upload', new Blob(['comuna,arboles\n01,1200\n02,800\n']), 'arboles.csv');
  const req = new Request('http://x/', { method: 'POST', body: fd });
  const upload = await client.request({
    method: 'POST',
    url: `/datasets/arbolado-publico/resources?_csrf=${encodeURIComponent(client.csrf)}`,
    payload: Buffer.from(await req.arrayBuffer()),
    headers: { 'content-type': req.headers.get('content-type')! },
  });
  assert.equal(upload.statusCode, 303);
  const db = odDb(t.services);
  const d = (await findDataset(db, 'arbolado-publico'))!;
  const r = await db.selectFrom('od_resources').selectAll().where('dataset_id', '=', d.id).executeTakeFirstOrThrow();
  assert.equal(r.datastore_active, true);
  assert.deepEqual(r.fields.map((f) => f.type), ['int8', 'int8']);

  // "comuna" has leading zeros that matter: the publisher types it as text, the table is reloaded.
  await client.get(`/datasets/arbolado-publico/resource/${r.id}`);
  const dict = await client.post(`/datasets/arbolado-publico/resource/${r.id}/dictionary`, { type_0: 'text', notes_0: 'Número de comuna', unit_0: '', type_1: 'int', notes_1: 'Cantidad de árboles', unit_1: 'árboles' });
  assert.equal(dict.statusCode, 303);
  const rows = (await client.get(`/api/3/action/datastore_search?resource_id=${r.id}`)).json().result;
  assert.equal(rows.records[0].comuna, '01');
  assert.equal(rows.fields[1].type, 'text');
  assert.equal(rows.fields[2].info.unit, 'árboles');
  const again = await client.get(`/datasets/arbolado-publico/resource/${r.id}`);
  assert.match(again.body, /Número de comuna/);
  // Strangers cannot add resources.
  const stranger = await createUser(t.services, { roles: ['official'] });
  const other = await new TestClient(t.app).signInAs(t.services, stranger.id);
  await other.get('/datasets');
  const denied = await other.post('/datasets/arbolado-publico/resources', { name: 'x', url: 'https://example.org/x.csv' });
  assert.ok([403, 404].includes(denied.statusCode));
});

test('maps: latitude/longitude columns (decimal commas too) and a registry GeoJSON, drawn server-side', async () => {
  const db = odDb(t.services);
  const barrios = (await findDataset(db, 'barrios'))!;
  const admin = { userId: null, admin: true, officeIds: [], adminOfficeIds: [] };
  const csv = 'nombre;lat;lng\nObelisco;-34,6037;-58,3816\nPlanetario;-34,5696;-58,4116\nSin lugar;;\n';
  const r = await createResource(t.services, systemActor, admin, { package_id: barrios.id, name: 'Lugares', format: 'CSV' }, { data: Buffer.from(csv), filename: 'lugares.csv' });
  const page = await t.app.inject(`/datasets/barrios/resource/${r.id}`);
  assert.match(page.body, /<svg role="img" aria-labelledby="od-map-t od-map-d"/);
  assert.equal(page.body.match(/<circle /g)?.length, 2);
  assert.match(page.body, /2 puntos y 0 contornos/);
  const geo = await t.app.inject('/datasets/comunas-cabildo/resource/registry-comunas-cabildo-comunas-geojson');
  assert.equal(geo.statusCode, 200);
  assert.match(geo.body, /0 puntos y 1 contornos/);
  assert.match(geo.body, /<path d="M/);
  // Its own shapes are the interactive map's base layer (no points to add).
  const shapesUrl = '/datasets/comunas-cabildo/resource/registry-comunas-cabildo-comunas-geojson/shapes.geojson';
  assert.match(geo.body, new RegExp(`data-island="map" data-geojson-url="${shapesUrl}"`));
  assert.doesNotMatch(geo.body, /data-points-url/);
  const shapes = (await t.app.inject(shapesUrl)).json() as { type: string; features: unknown[] };
  assert.equal(shapes.type, 'FeatureCollection');
  assert.equal(shapes.features.length, 1);
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { createRequire } from 'node:module';
import { createTestApp, createUser, createOffice, TestClient, type TestContext, multipart } from '../../core/testing/harness';
import { manifest } from './manifest';
import { worksCli } from './cli';
import { importFile } from './importer';
import { worksDb } from './store';
import zlib from 'node:zlib';
import { fromOc4idsPackage } from './domain/oc4ids';
import { archiveOlympics, OLYMPICS_SLUG } from './seed';

const require = createRequire(import.meta.url);
const Ajv = require('ajv-draft-04');
const addFormats = require('ajv-formats');
const SCHEMAS = path.resolve('../shared/schemas');
const CSV = path.resolve('../shared/data/ba-obras/ba-obras-observatorio-2024.latin1.csv');
const readJson = (f: string) => JSON.parse(fs.readFileSync(path.join(SCHEMAS, f), 'utf8'));

function validator(itemSchema: string, packageSchema: string) {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  ajv.addSchema(readJson(itemSchema));
  return ajv.compile(readJson(packageSchema));
}

function codes(list: string): Set<string> {
  return new Set(fs.readFileSync(path.join(SCHEMAS, 'oc4ids-codelists', list), 'utf8').split('\n').slice(1).map((l) => l.split(',')[0]).filter(Boolean));
}

let t: TestContext;
let firstLine = '';
let educationId = 0;
let transportId = 0;

before(async () => {
  t = await createTestApp({ modules: [manifest] });
  educationId = (await createOffice(t.services, { slug: 'ministerio-de-educacion', name: 'Ministerio de Educación' })).id;
  transportId = (await createOffice(t.services, { slug: 'transporte-y-obras-publicas', name: 'Transporte y Obras Públicas' })).id;
  const logged: string[] = [];
  const orig = console.log;
  console.log = (...a: unknown[]) => void logged.push(a.join(' '));
  try {
    assert.equal(await worksCli.run(t.services, ['import', CSV]), 0);
  } finally {
    console.log = orig;
  }
  firstLine = logged[logged.length - 1];
  await archiveOlympics(t.services);
});
after(async () => t?.close());

test('cabildo works import reads the real snapshot, reports rejected rows, and a re-import changes nothing', async () => {
  const m = /^(\d+) imported, (\d+) updated, (\d+) rejected$/.exec(firstLine);
  assert.ok(m, firstLine);
  const [imported, updated, rejected] = [Number(m[1]), Number(m[2]), Number(m[3])];
  assert.ok(imported > 1490, firstLine);
  assert.equal(updated, 0);
  assert.equal(imported + rejected, 1525);
  const db = worksDb(t.services);
  const count = await db.selectFrom('works_projects').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  assert.equal(Number(count.n), imported);
  // Offices are recognised by name: the Latin-1 "Secretarí­a de Transporte…" finds its office.
  const byOffice = await db.selectFrom('works_projects').select('office_id').where('office_name', '=', 'Secretaría de Transporte y Obras Públicas').executeTakeFirstOrThrow();
  assert.equal(byOffice.office_id, transportId);

  const again = await importFile(t.services, fs.readFileSync(CSV), 'again.csv');
  assert.equal(again.line, `0 imported, 0 updated, ${rejected} rejected`);
  assert.ok(again.rejected.some((r) => /outside the city/.test(r.reason)));
  // Row 1397 has two points, the second (-34.341, -58.2346) in the river: the whole row is refused.
  assert.ok(again.rejected.some((r) => r.ref === '1397' && /-34\.341, -58\.2346 are outside the city/.test(r.reason)), JSON.stringify(again.rejected));
  assert.ok(again.rejected.every((r) => r.line > 1));
});

test('a file with the wrong columns is refused and stores nothing', async () => {
  const before = await worksDb(t.services).selectFrom('works_projects').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  const code = await worksCli.run(t.services, ['import', path.join(SCHEMAS, 'oc4ids-codelists', 'currency.csv')]).catch(() => 99);
  assert.equal(code, 1);
  const after = await worksDb(t.services).selectFrom('works_projects').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  assert.equal(Number(after.n), Number(before.n));
});

test('the whole OC4IDS export validates against the official 0.9.4 schema and uses the codelists', async () => {
  const res = await t.app.inject('/api/oc4ids/project-package.json');
  assert.equal(res.statusCode, 200);
  const pkg = JSON.parse(res.body);
  assert.ok(pkg.projects.length > 1490);
  const validate = validator('oc4ids-project-schema.json', 'oc4ids-project-package-schema.json');
  const ok = validate(pkg);
  assert.ok(ok, JSON.stringify(validate.errors?.slice(0, 5), null, 1));
  const status = codes('projectStatus.csv');
  const sector = codes('projectSector.csv');
  const docType = codes('documentType.csv');
  const role = codes('partyRole.csv');
  const projectTypes = codes('projectType.csv');
  const ids = new Set<string>();
  for (const p of pkg.projects) {
    assert.ok(!ids.has(p.id), `duplicate ${p.id}`);
    ids.add(p.id);
    assert.ok(status.has(p.status), p.status);
    assert.ok(projectTypes.has(p.type), p.type);
    for (const s of p.sector ?? []) assert.ok(sector.has(s), s);
    for (const d of p.documents ?? []) assert.ok(docType.has(d.documentType), d.documentType);
    for (const party of p.parties ?? []) for (const r of party.roles) assert.ok(role.has(r), r);
    assert.ok(p.additionalClassifications.some((c: { scheme: string }) => c.scheme === 'Cabildo-works-type'));
  }
  const withPhoto = pkg.projects.find((p: { identifiers: Array<{ id: string }> }) => p.identifiers[0].id === '1');
  assert.ok(withPhoto.documents.some((d: { documentType: string }) => d.documentType === 'illustration'));
  assert.equal(withPhoto.additionalClassifications[0].id, 'Escuelas');
  const withWorkers = pkg.projects.find((p: { metrics?: Array<{ id: string }> }) => p.metrics?.some((m) => m.id === 'workers'));
  assert.ok(withWorkers, 'workers employed published as a metric');
});

test('one project: OC4IDS package and OCDS release package validate', async () => {
  const { id } = await worksDb(t.services).selectFrom('works_projects').select('id').where('external_id', '=', '2').executeTakeFirstOrThrow();
  const one = await t.app.inject(`/api/oc4ids/projects/${id}.json`);
  assert.equal(one.statusCode, 200);
  const v = validator('oc4ids-project-schema.json', 'oc4ids-project-package-schema.json');
  assert.ok(v(JSON.parse(one.body)), JSON.stringify(v.errors));
  const rel = await t.app.inject(`/api/ocds/releases/${id}.json`);
  const vr = validator('ocds-release-schema.json', 'ocds-release-package-schema.json');
  assert.ok(vr(JSON.parse(rel.body)), JSON.stringify(vr.errors));
  assert.equal((await t.app.inject('/api/oc4ids/projects/999999.json')).statusCode, 404);
});

test('/works home: totals, SVG charts with data tables, map image, archived programme', async () => {
  const res = await t.app.inject('/works');
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /<svg[^>]+role="img"/);
  assert.match(res.body, /<caption class="usa-sr-only">Obras por comuna<\/caption>/);
  assert.match(res.body, /Comuna 12/);
  assert.match(res.body, /href="\/works\/programmes\/juegos-olimpicos-de-la-juventud-2018"/);
  assert.doesNotMatch(res.body, /style="/);
  const map = await t.app.inject('/works/map.svg');
  assert.equal(map.statusCode, 200);
  assert.match(map.headers['content-type'] as string, /image\/svg\+xml/);
  assert.ok((map.body.match(/<circle/g) ?? []).length > 1000);
  // One well-formed SVG document: browsers show nothing for an image with anything after </svg>.
  assert.equal((map.body.match(/<svg/g) ?? []).length, 1);
  assert.match(map.body, /<\/svg>$/);
  const en = await t.app.inject('/works?lang=en');
  assert.match(en.body, /Works by commune/);
});

test('search and filters: shareable URLs, list and map, bad filters are a 400', async () => {
  const db = worksDb(t.services);
  const expected = await db
    .selectFrom('works_projects')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('type', '=', 'school')
    .where((eb) => eb(eb.val(12), '=', eb.fn.any('communes')))
    .executeTakeFirstOrThrow();
  const res = await t.app.inject('/works/projects?type=school&commune=12');
  assert.equal(res.statusCode, 200);
  assert.match(res.body, new RegExp(`${expected.n} obras encontradas`));
  assert.match(res.body, /<option value="school" selected/);
  const map = await t.app.inject('/works/projects?type=school&commune=12&view=map');
  assert.equal((map.body.match(/<circle/g) ?? []).length - 6, Number(expected.n) - (await db.selectFrom('works_projects').select((eb) => eb.fn.countAll<number>().as('n')).where('type', '=', 'school').where('lat', 'is', null).where((eb) => eb(eb.val(12), '=', eb.fn.any('communes'))).executeTakeFirstOrThrow()).n);
  const q = await t.app.inject('/works/projects?q=escuela+primaria');
  assert.match(q.body, /Escuela de Educación Primaria/);
  assert.equal((await t.app.inject('/works/projects?stage=bogus')).statusCode, 400);
  assert.equal((await t.app.inject('/works/projects?commune=99')).statusCode, 400);
  const api = await t.app.inject('/api/v1/works/projects?stage=in_progress&per_page=5');
  assert.equal(api.statusCode, 200);
  const body = JSON.parse(api.body);
  assert.ok(body.total > 0 && body.projects.length === 5 && body.projects.every((p: { stage: string }) => p.stage === 'in_progress'));
  assert.equal((await t.app.inject('/api/v1/works/projects?stage=bogus')).statusCode, 400);
  const olympics = await t.app.inject(`/works/programmes/${OLYMPICS_SLUG}`);
  assert.equal(olympics.statusCode, 200);
  assert.match(olympics.body, /Programa archivado/);
  assert.match(olympics.body, /Villa Ol/);
});

test('CSV and GeoJSON exports and the search provider', async () => {
  const csv = await t.app.inject('/works/projects.csv?stage=finished');
  assert.equal(csv.statusCode, 200);
  assert.match(csv.body.split('\n')[0], /^id,external_id,name/);
  const geo = await t.app.inject('/works/projects.geojson');
  const fc = JSON.parse(geo.body);
  assert.equal(fc.type, 'FeatureCollection');
  assert.ok(fc.features.length > 1000);
  const hits = await manifest.search!.search(t.services, 'hospital', 'es-AR', 5);
  assert.ok(hits.length > 0 && hits[0].url.startsWith('/works/'));
});

test('OC4IDS JSON import with amendments and one bidder raises red flags; re-import changes nothing', async () => {
  const pkg = {
    uri: 'https://example.org/p.json',
    publisher: { name: 'Test' },
    publishedDate: '2025-01-01T00:00:00Z',
    version: '0.9',
    projects: [
      {
        id: 'oc4ids-test-X1',
        identifiers: [{ id: 'X1', scheme: 'BA-Obras' }],
        title: 'Puente de prueba',
        status: 'implementation',
        sector: ['transport.road'],
        period: { startDate: '2020-01-01T00:00:00Z', endDate: '2021-01-01T00:00:00Z' },
        locations: [{ id: '1', geometry: { type: 'Point', coordinates: [-58.4, -34.6] }, address: { region: 'Comuna 3' } }],
        parties: [{ id: 's1', name: 'Constructora Única SA', identifier: { scheme: 'AR-CUIT', id: '30999999991' }, roles: ['supplier'] }],
        contractingProcesses: [
          {
            id: 'c1',
            summary: {
              tender: { numberOfTenderers: 1, procurementMethod: 'open' },
              contractValue: { amount: 1000000, currency: 'ARS' },
              modifications: [{ id: 'm1', description: 'Mayor alcance', oldContractValue: { amount: 1000000, currency: 'ARS' }, newContractValue: { amount: 1500000, currency: 'ARS' } }],
            },
          },
        ],
        metrics: [{ id: 'physicalProgress', observations: [{ id: 'o1', measure: 30 }] }],
      },
    ],
  };
  const r1 = await importFile(t.services, Buffer.from(JSON.stringify(pkg)), 'p.json');
  assert.equal(r1.line, '1 imported, 0 updated, 0 rejected');
  const r2 = await importFile(t.services, Buffer.from(JSON.stringify(pkg)), 'p.json');
  assert.equal(r2.line, '0 imported, 0 updated, 0 rejected');
  const { id } = await worksDb(t.services).selectFrom('works_projects').select('id').where('external_id', '=', 'X1').executeTakeFirstOrThrow();
  const page = await t.app.inject(`/works/${id}`);
  assert.equal(page.statusCode, 200);
  for (const f of ['Sobrecosto', 'Demora', 'Un solo oferente']) assert.match(page.body, new RegExp(f));
  assert.match(page.body, /Mayor alcance/);
  const flagged = await t.app.inject('/works/projects?flag=single_bidder');
  assert.match(flagged.body, /Puente de prueba/);
  assert.match(flagged.body, /1 obras encontradas/);
  const overrun = await t.app.inject('/works/projects?flag=cost_overrun');
  assert.match(overrun.body, /Puente de prueba/);
  const bad = { ...pkg, projects: [{ ...pkg.projects[0], id: 'x', identifiers: [{ id: 'X2', scheme: 'BA-Obras' }], metrics: [{ id: 'physicalProgress', observations: [{ id: 'o', measure: 130 }] }] }] };
  await assert.rejects(importFile(t.services, Buffer.from(JSON.stringify(bad)), 'bad.json'), /outside 0–100/);
  await assert.rejects(importFile(t.services, Buffer.from('{"nope": 1}'), 'bad.json'), /no "projects"/);
  const none = await worksDb(t.services).selectFrom('works_projects').select('id').where('external_id', '=', 'X2').executeTakeFirst();
  assert.equal(none, undefined);
});

test('progress updates: own office only, 0–100, never backwards without a reason, photos stored without metadata', async () => {
  const db = worksDb(t.services);
  const project = await db.selectFrom('works_projects').select(['id', 'progress']).where('office_id', '=', educationId).where('stage', '=', 'in_progress').orderBy('id').executeTakeFirstOrThrow();
  const official = await createUser(t.services, { roles: ['official'], officeIds: [educationId] });
  const outsider = await createUser(t.services, { roles: ['official'], officeIds: [transportId] });

  const other = await new TestClient(t.app).signInAs(t.services, outsider.id);
  assert.equal((await other.get(`/works/${project.id}/progress`)).statusCode, 403);
  await other.get('/works');
  assert.equal((await other.post(`/works/${project.id}/progress`, { progress: '99', stage: 'in_progress', note: '' })).statusCode, 403);

  const c = await new TestClient(t.app).signInAs(t.services, official.id);
  const form = await c.get(`/works/${project.id}/progress`);
  assert.equal(form.statusCode, 200);
  const start = project.progress === null ? 0 : Number(project.progress);
  const over = await c.post(`/works/${project.id}/progress`, { progress: '101', stage: 'in_progress', note: '' });
  assert.equal(over.statusCode, 400);
  assert.match(over.body, /entre 0 y 100/);
  if (start > 0) {
    const back = await c.post(`/works/${project.id}/progress`, { progress: String(start - 1), stage: 'in_progress', note: '' });
    assert.equal(back.statusCode, 400);
    assert.match(back.body, /no puede bajar sin un motivo/);
  }
  const unchanged = await db.selectFrom('works_projects').select('progress').where('id', '=', project.id).executeTakeFirstOrThrow();
  assert.equal(unchanged.progress === null ? null : Number(unchanged.progress), project.progress === null ? null : Number(project.progress));

  const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#f00' } }).png().withMetadata({ exif: { IFD0: { Artist: 'secret' } } }).toBuffer();
  const mp = multipart({ progress: String(Math.min(100, start + 5)), stage: 'in_progress', note: 'Losa terminada', caption: 'Losa' }, [{ name: 'photos', filename: 'a.png', type: 'image/png', data: png }]);
  const ok = await c.request({ method: 'POST', url: `/works/${project.id}/progress?_csrf=${encodeURIComponent(c.csrf)}`, payload: mp.payload, headers: mp.headers });
  assert.equal(ok.statusCode, 303, ok.body.slice(0, 500));
  const page = await t.app.inject(`/works/${project.id}`);
  assert.match(page.body, /Losa terminada/);
  const photo = await db.selectFrom('works_photos').select('file_id').where('project_id', '=', project.id).where('source', '=', 'update').executeTakeFirstOrThrow();
  const img = await t.app.inject(`/works/photos/${photo.file_id}`);
  assert.equal(img.statusCode, 200);
  const meta = await sharp(img.rawPayload).metadata();
  assert.equal(meta.format, 'jpeg');
  assert.equal(meta.exif, undefined);
  // The new photo appears in the OC4IDS export as an illustration.
  const pkg = JSON.parse((await t.app.inject(`/api/oc4ids/projects/${project.id}.json`)).body);
  assert.ok(pkg.projects[0].documents.some((d: { url: string; documentType: string }) => d.documentType === 'illustration' && d.url.endsWith(`/works/photos/${photo.file_id}`)));

  const notImage = multipart({ progress: '100', stage: 'finished', note: '' }, [{ name: 'photos', filename: 'x.png', type: 'image/png', data: Buffer.from('not an image') }]);
  const rej = await c.request({ method: 'POST', url: `/works/${project.id}/progress?_csrf=${encodeURIComponent(c.csrf)}`, payload: notImage.payload, headers: notImage.headers });
  assert.equal(rej.statusCode, 400);
  const stage = await db.selectFrom('works_projects').select('stage').where('id', '=', project.id).executeTakeFirstOrThrow();
  assert.equal(stage.stage, 'in_progress');
});

test('import page: officials import only their own office rows; anonymous visitors are sent to sign in', async () => {
  assert.equal((await t.app.inject('/works/import')).statusCode, 303);
  const official = await createUser(t.services, { roles: ['official'], officeIds: [educationId] });
  const c = await new TestClient(t.app).signInAs(t.services, official.id);
  assert.equal((await c.get('/works/import')).statusCode, 200);
  const csv = [
    'id;nombre;etapa;tipo;area_responsable;monto_contrato;comuna;lat;lng',
    'E1;Escuela nueva;En licitación;Escuelas;Ministerio de Educación;1000;4;-34,63;-58,40',
    'E2;Bicisenda;En obra;Transporte;Secretaría de Transporte y Obras Públicas;1000;4;;',
    'E3;Escuela lejana;En obra;Escuelas;Ministerio de Educación;1000;4;-31,4;-64,2',
  ].join('\n');
  const mp = multipart({}, [{ name: 'file', filename: 'nuevas.csv', type: 'text/csv', data: Buffer.from(csv, 'latin1') }]);
  const res = await c.request({ method: 'POST', url: `/works/import?_csrf=${encodeURIComponent(c.csrf)}`, payload: mp.payload, headers: mp.headers });
  assert.equal(res.statusCode, 200, res.body.slice(0, 300));
  assert.match(res.body, /1 imported, 0 updated, 2 rejected/);
  assert.match(res.body, /pertenece a Secretaría de Transporte y Obras Públicas, no a tu oficina/);
  assert.match(res.body, /están fuera de la ciudad/);
  const bad = multipart({}, [{ name: 'file', filename: 'x.csv', type: 'text/csv', data: Buffer.from('foo;bar\n1;2\n') }]);
  const r400 = await c.request({ method: 'POST', url: `/works/import?_csrf=${encodeURIComponent(c.csrf)}`, payload: bad.payload, headers: bad.headers });
  assert.equal(r400.statusCode, 400);
  assert.match(r400.body, /Faltan columnas obligatorias: nombre, etapa/);
  // The same reasons in English (the CLI always prints these).
  const en = await c.request({ method: 'POST', url: `/works/import?lang=en&_csrf=${encodeURIComponent(c.csrf)}`, payload: mp.payload, headers: mp.headers });
  assert.match(en.body, /belongs to Secretaría de Transporte y Obras Públicas, not to your office/);
});

test('amendments: officials of the office record them, with a reason; a large one raises the cost-overrun flag', async () => {
  const db = worksDb(t.services);
  const project = await db
    .selectFrom('works_projects')
    .select(['id', 'contract_amount', 'current_planned_end'])
    .where('office_id', '=', educationId)
    .where('contract_amount', '>', 0)
    .orderBy('id', 'desc')
    .executeTakeFirstOrThrow();
  const official = await createUser(t.services, { roles: ['official'], officeIds: [educationId] });
  const outsider = await createUser(t.services, { roles: ['official'], officeIds: [transportId] });
  const other = await new TestClient(t.app).signInAs(t.services, outsider.id);
  await other.get('/works');
  assert.equal((await other.post(`/works/${project.id}/amendments`, { date: '2024-01-10', extra_amount: '1', reason: 'x' })).statusCode, 403);

  const c = await new TestClient(t.app).signInAs(t.services, official.id);
  await c.get(`/works/${project.id}/progress`);
  const noReason = await c.post(`/works/${project.id}/amendments`, { date: '2024-01-10', extra_amount: '100', extra_months: '', reason: '' });
  assert.equal(noReason.statusCode, 400);
  assert.match(noReason.body, /Explicá el motivo/);
  const badDate = await c.post(`/works/${project.id}/amendments`, { date: '2024-02-31', extra_amount: '100', reason: 'r' });
  assert.equal(badDate.statusCode, 400);
  const before = await db.selectFrom('works_amendments').select((eb) => eb.fn.countAll<number>().as('n')).where('project_id', '=', project.id).executeTakeFirstOrThrow();
  assert.equal(Number(before.n), 0);

  const extra = Math.round(Number(project.contract_amount) * 0.3);
  const ok = await c.post(`/works/${project.id}/amendments`, { date: '2024-01-10', extra_amount: String(extra), extra_months: '2', reason: 'Ampliación de la obra' });
  assert.equal(ok.statusCode, 303);
  const page = await t.app.inject(`/works/${project.id}`);
  assert.match(page.body, /Ampliación de la obra/);
  assert.match(page.body, /Sobrecosto/);
  const after = await db.selectFrom('works_projects').select(['extra_amount', 'current_planned_end']).where('id', '=', project.id).executeTakeFirstOrThrow();
  assert.equal(Number(after.extra_amount), extra);
  if (project.current_planned_end) assert.ok(after.current_planned_end! > project.current_planned_end);
  const pkg = JSON.parse((await t.app.inject(`/api/oc4ids/projects/${project.id}.json`)).body);
  const mods = pkg.projects[0].contractingProcesses[0].summary.modifications;
  assert.equal(mods[0].newContractValue.amount - mods[0].oldContractValue.amount, extra);
  const v = validator('oc4ids-project-schema.json', 'oc4ids-project-package-schema.json');
  assert.ok(v(pkg), JSON.stringify(v.errors));
});

test('the works are published through the open-data registry and counted in the statistics', async () => {
  const csv = await t.app.inject('/published/obras-publicas/obras.csv');
  assert.equal(csv.statusCode, 200);
  assert.ok(csv.body.split('\n').length > 1400);
  const geo = await t.app.inject('/published/obras-publicas/obras.geojson');
  assert.equal(JSON.parse(geo.body).type, 'FeatureCollection');
  const stats = await manifest.statistics!(t.services);
  assert.ok(stats.find((s) => s.key === 'works.projects')!.value > 1400);
});

test('the JSON API is in the OpenAPI document; project pages render in English', async () => {
  const doc = JSON.parse((await t.app.inject('/api/openapi.json')).body);
  assert.ok(doc.paths['/api/v1/works/projects'], Object.keys(doc.paths).join(', '));
  const { id } = await worksDb(t.services).selectFrom('works_projects').select('id').where('external_id', '=', '1').executeTakeFirstOrThrow();
  const one = JSON.parse((await t.app.inject(`/api/v1/works/projects/${id}`)).body);
  assert.equal(one.title.startsWith('Escuela'), true);
  const en = await t.app.inject(`/works/${id}?lang=en`);
  assert.equal(en.statusCode, 200);
  assert.match(en.body, /Progress history/);
  assert.match(en.body, /Schools/);
  assert.equal((await t.app.inject('/works/abc')).statusCode, 400);
  assert.equal((await t.app.inject('/works/999999')).statusCode, 404);
});

test('/works/mine lists the ongoing works of the official’s own offices only', async () => {
  const official = await createUser(t.services, { roles: ['official'], officeIds: [transportId] });
  const c = await new TestClient(t.app).signInAs(t.services, official.id);
  const res = await c.get('/works/mine');
  assert.equal(res.statusCode, 200);
  const expected = await worksDb(t.services)
    .selectFrom('works_projects')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('office_id', '=', transportId)
    .where('stage', 'not in', ['finished', 'cancelled'])
    // Works of the archived Olympic programme are a read-only record: not listed to report on.
    .where((eb) => eb.or([eb('programme_id', 'is', null), eb('programme_id', 'not in', eb.selectFrom('works_programmes').select('id').where((w) => w.or([w('archived', '=', true), w('parent_id', 'is not', null)])))]))
    .executeTakeFirstOrThrow();
  assert.match(res.body, new RegExp(`${expected.n} obras encontradas`));
  assert.doesNotMatch(res.body, /Ministerio de Educación<\/td>/);
  const resident = await createUser(t.services, { verified: true });
  const r = await new TestClient(t.app).signInAs(t.services, resident.id);
  assert.equal((await r.get('/works/mine')).statusCode, 403);
});

test('anonymous pages come from the page cache until a write bumps the works version; signed-in visitors always get a fresh page', async () => {
  const url = '/works/projects?stage=finished&page=2';
  const first = await t.app.inject(url);
  assert.equal(first.statusCode, 200);
  assert.equal(first.headers['x-cache'], 'miss');
  const second = await t.app.inject(url);
  assert.equal(second.headers['x-cache'], 'hit');
  assert.equal(second.body, first.body);
  // Compressed once and kept: the bytes decode to the same page.
  const br = await t.app.inject({ url, headers: { 'accept-encoding': 'gzip;q=0.5, br' } });
  assert.equal(br.headers['content-encoding'], 'br');
  assert.equal(zlib.brotliDecompressSync(br.rawPayload).toString(), first.body);
  const gz = await t.app.inject({ url, headers: { 'accept-encoding': 'br;q=0, gzip' } });
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.equal(zlib.gunzipSync(gz.rawPayload).toString(), first.body);
  // Each language is its own entry.
  const en = await t.app.inject(`${url}&lang=en`);
  assert.equal(en.headers['x-cache'], 'miss');
  assert.match(en.body, /Public works/);
  // A signed-in visitor's page names them and is never stored.
  const resident = await createUser(t.services, { verified: true });
  const c = await new TestClient(t.app).signInAs(t.services, resident.id);
  const mine = await c.get(url);
  assert.equal(mine.statusCode, 200);
  assert.equal(mine.headers['x-cache'], undefined);
  assert.notEqual(mine.body, first.body);
  // A write (an amendment through the office's form) bumps the version: the next visitor gets a fresh page.
  const db = worksDb(t.services);
  const project = await db.selectFrom('works_projects').select(['id']).where('office_id', '=', educationId).where('contract_amount', '>', 0).orderBy('id').executeTakeFirstOrThrow();
  assert.equal((await t.app.inject(`/works/${project.id}`)).headers['x-cache'], 'miss');
  assert.equal((await t.app.inject(`/works/${project.id}`)).headers['x-cache'], 'hit');
  const official = await createUser(t.services, { roles: ['official'], officeIds: [educationId] });
  const o = await new TestClient(t.app).signInAs(t.services, official.id);
  await o.get(`/works/${project.id}/progress`);
  assert.equal((await o.post(`/works/${project.id}/amendments`, { date: '2024-03-01', extra_amount: '10', reason: 'Cambio de caché' })).statusCode, 303);
  const fresh = await t.app.inject(`/works/${project.id}`);
  assert.equal(fresh.headers['x-cache'], 'miss');
  assert.match(fresh.body, /Cambio de caché/);
  assert.equal((await t.app.inject(url)).headers['x-cache'], 'miss');
});

test('BA Elige: the office links a work to its participatory-budgeting project; shown on the page and in OC4IDS relatedProjects', async () => {
  const db = worksDb(t.services);
  // One of the real snapshot's works (the first imported), so the CSV re-import below touches it.
  const project = await db.selectFrom('works_projects').select(['id', 'external_id']).where('office_id', '=', educationId).orderBy('id').executeTakeFirstOrThrow();
  const outsider = await createUser(t.services, { roles: ['official'], officeIds: [transportId] });
  const other = await new TestClient(t.app).signInAs(t.services, outsider.id);
  await other.get('/works');
  assert.equal((await other.post(`/works/${project.id}/budget-link`, { pb_url: '/budgets/3/proposals/12', pb_title: 'x' })).statusCode, 403);

  const official = await createUser(t.services, { roles: ['official'], officeIds: [educationId] });
  const c = await new TestClient(t.app).signInAs(t.services, official.id);
  const form = await c.get(`/works/${project.id}/progress`);
  assert.match(form.body, /name="pb_url"/);
  const bad = await c.post(`/works/${project.id}/budget-link`, { pb_url: 'javascript:alert(1)', pb_title: 'x' });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.body, /presupuesto participativo de este sitio/);
  const noTitle = await c.post(`/works/${project.id}/budget-link`, { pb_url: '/budgets/3/proposals/12', pb_title: '' });
  assert.equal(noTitle.statusCode, 400);
  assert.equal((await db.selectFrom('works_projects').select('pb_ref_url').where('id', '=', project.id).executeTakeFirstOrThrow()).pb_ref_url, null);

  const ok = await c.post(`/works/${project.id}/budget-link`, { pb_url: '/budgets/3/proposals/12', pb_title: 'Patio más verde' });
  assert.equal(ok.statusCode, 303);
  const page = await t.app.inject(`/works/${project.id}`);
  assert.match(page.body, /<a href="\/budgets\/3\/proposals\/12">Patio más verde<\/a>/);
  const pkg = JSON.parse((await t.app.inject(`/api/oc4ids/projects/${project.id}.json`)).body);
  const v = validator('oc4ids-project-schema.json', 'oc4ids-project-package-schema.json');
  assert.ok(v(pkg), JSON.stringify(v.errors));
  assert.deepEqual(pkg.projects[0].relatedProjects, [
    { id: 'ba-elige', scheme: 'BA-Elige', identifier: '3/12', relationship: 'participatoryBudgeting', title: 'Patio más verde', uri: `${t.services.config.baseUrl}/budgets/3/proposals/12` },
  ]);
  // The OC4IDS importer reads it back.
  const back = fromOc4idsPackage(pkg)[0];
  assert.deepEqual(back.pbRef, { id: '12', title: 'Patio más verde', url: `${t.services.config.baseUrl}/budgets/3/proposals/12` });
  assert.equal(back.participatory, true);
  // A CSV re-import that updates the work, from a file without a link column, keeps the office's link.
  await db.updateTable('works_projects').set({ source_hash: 'changed at the source' }).where('id', '=', project.id).execute();
  const re = await importFile(t.services, fs.readFileSync(CSV), 'again.csv');
  assert.match(re.line, /^0 imported, 1 updated/);
  assert.equal((await db.selectFrom('works_projects').select('pb_ref_url').where('id', '=', project.id).executeTakeFirstOrThrow()).pb_ref_url, '/budgets/3/proposals/12');
  // Both fields empty remove it.
  await c.get(`/works/${project.id}/progress`);
  assert.equal((await c.post(`/works/${project.id}/budget-link`, { pb_url: '', pb_title: '' })).statusCode, 303);
  assert.doesNotMatch((await t.app.inject(`/works/${project.id}`)).body, /budgets\/3\/proposals/);
});

test('a work on several sites: every point on the maps, the GeoJSON and OC4IDS locations', async () => {
  const db = worksDb(t.services);
  const p = await db.selectFrom('works_projects').select(['id', 'geometry', 'lat', 'lng', 'sites']).where('external_id', '=', '1441').executeTakeFirstOrThrow();
  assert.deepEqual(p.geometry, { type: 'MultiPoint', coordinates: [[-58.449914, -34.633047], [-58.483364, -34.598934], [-58.436043, -34.602105]] });
  assert.equal(p.lat, -34.633047);
  assert.equal(p.sites, 3);
  const page = await t.app.inject(`/works/${p.id}`);
  const projectMap = /<h2>Ubicación<\/h2>[\s\S]*?<\/svg>/.exec(page.body)?.[0] ?? '';
  assert.equal((projectMap.match(/<circle/g) ?? []).length, 3, projectMap.slice(0, 300));
  assert.match(page.body, /La obra tiene 3 lugares/);
  const fc = JSON.parse((await t.app.inject('/works/projects.geojson')).body);
  const feature = fc.features.find((f: { id: number }) => f.id === p.id);
  assert.equal(feature.geometry.type, 'MultiPoint');
  assert.equal(feature.geometry.coordinates.length, 3);
  // The interactive map's points (core's island): every site, with the work's title, link and stage colour.
  const points = JSON.parse((await t.app.inject('/works/map.geojson')).body);
  const site = points.features.find((f: { properties: { url: string } }) => f.properties.url === `/works/${p.id}`);
  assert.equal(site.geometry.coordinates.length, 3);
  assert.equal(site.properties.url, `/works/${p.id}`);
  assert.match(site.properties.color, /^#[0-9a-f]{6}$/);
  assert.equal((await t.app.inject('/works/map.geojson?stage=bogus')).statusCode, 400);
  const pkg = JSON.parse((await t.app.inject(`/api/oc4ids/projects/${p.id}.json`)).body);
  assert.deepEqual(pkg.projects[0].locations[0].geometry, p.geometry);
  const v = validator('oc4ids-project-schema.json', 'oc4ids-project-package-schema.json');
  assert.ok(v(pkg), JSON.stringify(v.errors));
  // The list's map draws one dot per site.
  const map = await t.app.inject(`/works/projects?view=map&q=${encodeURIComponent('')}&programme=${(await db.selectFrom('works_projects').select('programme_id').where('id', '=', p.id).executeTakeFirstOrThrow()).programme_id ?? ''}`);
  assert.equal(map.statusCode, 200);
  assert.equal((map.body.match(new RegExp(`href="/works/${p.id}"[^>]*>\\s*<title>`, 'g')) ?? []).length, 3);
  // An OC4IDS package whose locations hold several points imports them as one MultiPoint.
  const two = {
    uri: 'https://example.org/p.json', publisher: { name: 'Test' }, publishedDate: '2025-01-01T00:00:00Z', version: '0.9',
    projects: [{ id: 'oc4ids-test-MP', identifiers: [{ id: 'MP1', scheme: 'BA-Obras' }], title: 'Dos plazas', status: 'implementation',
      locations: [{ id: '1', geometry: { type: 'Point', coordinates: [-58.41, -34.61] } }, { id: '2', geometry: { type: 'Point', coordinates: [-58.42, -34.62] } }] }],
  };
  assert.equal((await importFile(t.services, Buffer.from(JSON.stringify(two)), 'mp.json')).line, '1 imported, 0 updated, 0 rejected');
  const mp = await db.selectFrom('works_projects').select(['geometry', 'lat']).where('external_id', '=', 'MP1').executeTakeFirstOrThrow();
  assert.deepEqual(mp.geometry, { type: 'MultiPoint', coordinates: [[-58.41, -34.61], [-58.42, -34.62]] });
  // One point of a MultiPoint outside the city rejects the project, with nothing stored.
  const far = { ...two, projects: [{ ...two.projects[0], identifiers: [{ id: 'MP2', scheme: 'BA-Obras' }], locations: [{ id: '1', geometry: { type: 'MultiPoint', coordinates: [[-58.41, -34.61], [-64.2, -31.4]] } }] }] };
  const r = await importFile(t.services, Buffer.from(JSON.stringify(far)), 'far.json');
  assert.match(r.rejected[0].reason, /-31\.4, -64\.2 are outside the city/);
  assert.equal(await db.selectFrom('works_projects').select('id').where('external_id', '=', 'MP2').executeTakeFirst(), undefined);
});

test('source photos (imagen_1…4) are links on the project page, never hot-linked images, and OC4IDS illustration documents', async () => {
  const { id } = await worksDb(t.services).selectFrom('works_projects').select('id').where('external_id', '=', '1').executeTakeFirstOrThrow();
  const page = await t.app.inject(`/works/${id}`);
  const urls = ['https://cdn.buenosaires.gob.ar/datosabiertos/datasets/ba-obras/fotos/1.jpg', 'https://cdn.buenosaires.gob.ar/datosabiertos/datasets/ba-obras/fotos/1-2.jpg'];
  for (const u of urls) assert.match(page.body, new RegExp(`<a href="${u.replace(/[.]/g, '\\.')}">Foto \\d \\(en el sitio de origen\\)</a>`));
  assert.doesNotMatch(page.body, /<img[^>]+src="https?:/);
  const pkg = JSON.parse((await t.app.inject(`/api/oc4ids/projects/${id}.json`)).body);
  const ill = pkg.projects[0].documents.filter((d: { documentType: string }) => d.documentType === 'illustration');
  assert.deepEqual(ill.map((d: { url: string }) => d.url), urls);
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { createRequire } from 'node:module';
import { createTestApp, createUser, createOffice, TestClient, type TestContext } from '../../core/testing/harness';
import { manifest } from './manifest';
import { worksCli } from './cli';
import { importFile } from './importer';
import { worksDb } from './store';
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

function multipart(fields: Record<string, string>, files: Array<{ name: string; filename: string; type: string; data: Buffer }>) {
  const boundary = '----cabildo' + Math.random().toString(16).slice(2);
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  for (const f of files) {
    parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${f.name}"; filename="${f.filename}"\r\ncontent-type: ${f.type}\r\n\r\n`), f.data, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
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
  const ids = new Set<string>();
  for (const p of pkg.projects) {
    assert.ok(!ids.has(p.id), `duplicate ${p.id}`);
    ids.add(p.id);
    assert.ok(status.has(p.status), p.status);
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
  assert.match(res.body, /not to your office/);
  assert.match(res.body, /outside the city/);
  const bad = multipart({}, [{ name: 'file', filename: 'x.csv', type: 'text/csv', data: Buffer.from('foo;bar\n1;2\n') }]);
  const r400 = await c.request({ method: 'POST', url: `/works/import?_csrf=${encodeURIComponent(c.csrf)}`, payload: bad.payload, headers: bad.headers });
  assert.equal(r400.statusCode, 400);
  assert.match(r400.body, /missing required columns/);
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
    .executeTakeFirstOrThrow();
  assert.match(res.body, new RegExp(`${expected.n} obras encontradas`));
  assert.doesNotMatch(res.body, /Ministerio de Educación<\/td>/);
  const resident = await createUser(t.services, { verified: true });
  const r = await new TestClient(t.app).signInAs(t.services, resident.id);
  assert.equal((await r.get('/works/mine')).statusCode, 403);
});

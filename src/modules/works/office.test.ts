import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { createRequire } from 'node:module';
import { createTestApp, createUser, createOffice, TestClient, type TestContext, multipart } from '../../core/testing/harness';
import { manifest } from './manifest';
import { importFile } from './importer';
import { worksDb, worksVersion } from './store';
import { DOCUMENT_TYPES } from './domain/documents';
import { checkProjectEdit } from './domain/edit';
import { representativePoint } from './domain/geometry';

/** Issue #6, round 2: documents per work, the office's corrections of a work's data, lines and areas. */

const require = createRequire(import.meta.url);
const Ajv = require('ajv-draft-04');
const addFormats = require('ajv-formats');
const SCHEMAS = path.resolve('../shared/schemas');
const readJson = (f: string) => JSON.parse(fs.readFileSync(path.join(SCHEMAS, f), 'utf8'));
function validator() {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  ajv.addSchema(readJson('oc4ids-project-schema.json'));
  return ajv.compile(readJson('oc4ids-project-package-schema.json'));
}
const codelist = (list: string) => new Set(fs.readFileSync(path.join(SCHEMAS, 'oc4ids-codelists', list), 'utf8').split('\n').slice(1).map((l) => l.split(',')[0]).filter(Boolean));

let t: TestContext;
let educationId = 0;
let transportId = 0;

const HEADER = 'id;nombre;etapa;tipo;area_responsable;monto_contrato;comuna;lat;lng;porcentaje_avance;entorno;fecha_inicio;fecha_fin_inicial;descripcion';
type Row = Partial<Record<'id' | 'entorno' | 'desc' | 'lat' | 'lng', string>>;
const csv = (rows: Row[]) =>
  Buffer.from(
    [HEADER, ...rows.map((r) => [r.id, `Obra ${r.id}`, 'En obra', 'Escuelas', 'Ministerio de Educación', '1000000', '', r.lat ?? '-34,63', r.lng ?? '-58,40', '40', r.entorno ?? '', '1/1/2024', '1/1/2030', r.desc ?? 'Desde el archivo'].join(';'))].join('\n'),
    'utf8',
  );

const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');

async function postDocument(c: TestClient, id: number, fields: Record<string, string>, file?: { filename: string; data: Buffer }) {
  await c.get(`/works/${id}/progress`);
  const mp = multipart(fields, file ? [{ name: 'file', filename: file.filename, type: 'application/pdf', data: file.data }] : []);
  return c.request({ method: 'POST', url: `/works/${id}/documents?_csrf=${encodeURIComponent(c.csrf)}`, payload: mp.payload, headers: mp.headers });
}

const project = (externalId: string) => worksDb(t.services).selectFrom('works_projects').selectAll().where('external_id', '=', externalId).executeTakeFirstOrThrow();
const count = async (table: 'works_documents' | 'files') => Number((await worksDb(t.services).selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

async function official(officeId: number) {
  const u = await createUser(t.services, { roles: ['official'], officeIds: [officeId] });
  return new TestClient(t.app).signInAs(t.services, u.id);
}

const square = (minLng: number, minLat: number, maxLng: number, maxLat: number): GeoJSON.Polygon => ({
  type: 'Polygon',
  coordinates: [[[minLng, minLat], [maxLng, minLat], [maxLng, maxLat], [minLng, maxLat], [minLng, minLat]]],
});

before(async () => {
  t = await createTestApp({ modules: [manifest] });
  educationId = (await createOffice(t.services, { slug: 'ministerio-de-educacion', name: 'Ministerio de Educación' })).id;
  transportId = (await createOffice(t.services, { slug: 'transporte-y-obras-publicas', name: 'Transporte y Obras Públicas' })).id;
  // Two communes, so that "inside the city" means inside their boundaries, not the city's box.
  await t.services.db.insertInto('communes').values({ id: 4, name: 'Comuna 4', population: 1, area_m2: 1, geometry: JSON.stringify(square(-58.45, -34.68, -58.35, -34.58)) }).execute();
  await t.services.db.insertInto('communes').values({ id: 14, name: 'Comuna 14', population: 1, area_m2: 1, geometry: JSON.stringify(square(-58.45, -34.58, -58.35, -34.55)) }).execute();
  t.services.geo.invalidate();
});
after(async () => t?.close());

test('documents: the office attaches a PDF or an address; listed on the page, served as a sandboxed PDF, exported as OC4IDS documents', async () => {
  assert.equal((await importFile(t.services, csv([{ id: 'D1' }]), 'd.csv')).line, '1 imported, 0 updated, 0 rejected');
  const d1 = await project('D1');
  const c = await official(educationId);
  const v0 = await worksVersion(worksDb(t.services));
  const form = await c.get(`/works/${d1.id}/progress`);
  assert.match(form.body, /action="\/works\/\d+\/documents\?_csrf=/);
  assert.match(form.body, /<option value="contractSigned"/);

  const res = await postDocument(c, d1.id, { title: 'Contrato de obra', document_type: 'contractSigned' }, { filename: 'contrato firmado.pdf', data: PDF });
  assert.equal(res.statusCode, 303, res.body.slice(0, 500));
  assert.notEqual(await worksVersion(worksDb(t.services)), v0, 'the page cache moves on');
  const doc = await worksDb(t.services).selectFrom('works_documents').selectAll().where('project_id', '=', d1.id).executeTakeFirstOrThrow();
  assert.equal(doc.document_type, 'contractSigned');
  assert.ok(doc.file_id);
  const served = await t.app.inject(`/works/documents/${doc.file_id}`);
  assert.equal(served.statusCode, 200);
  assert.match(String(served.headers['content-type']), /^application\/pdf/);
  assert.equal(served.headers['content-security-policy'], 'sandbox');
  assert.ok(served.rawPayload.equals(PDF));
  assert.equal((await t.app.inject('/works/documents/0123456789abcdef0123456789abcdef')).statusCode, 404);
  assert.equal((await postDocument(c, d1.id, { title: 'Pliego', document_type: 'biddingDocuments', url: 'https://example.org/pliego 1.pdf' })).statusCode, 303);
  const audit = await t.services.db.selectFrom('audit_log').select(['action', 'details']).where('action', '=', 'works.document').execute();
  assert.equal(audit.length, 2);

  const page = await t.app.inject(`/works/${d1.id}`);
  assert.match(page.body, new RegExp(`<a href="/works/documents/${doc.file_id}">Contrato de obra</a> \\(Contrato firmado`));
  assert.match(page.body, /<a href="https:\/\/example.org\/pliego%201.pdf">Pliego<\/a> \(Pliego/);

  const pkg = JSON.parse((await t.app.inject(`/api/oc4ids/projects/${d1.id}.json`)).body);
  const v = validator();
  assert.ok(v(pkg), JSON.stringify(v.errors));
  const docs = pkg.projects[0].documents as Array<{ id: string; documentType: string; url: string; format?: string; title: string }>;
  const pdf = docs.find((x) => x.documentType === 'contractSigned')!;
  assert.equal(pdf.title, 'Contrato de obra');
  assert.equal(pdf.format, 'application/pdf');
  assert.equal(pdf.url, `${t.config.baseUrl}/works/documents/${doc.file_id}`);
  assert.ok(docs.some((x) => x.documentType === 'biddingDocuments' && x.url === 'https://example.org/pliego%201.pdf'));
  // The office removes one again (audited); its file goes with it.
  const own = await c.get(`/works/${d1.id}`);
  assert.match(own.body, new RegExp(`action="/works/${d1.id}/documents/${doc.id}/delete"`));
  assert.doesNotMatch((await t.app.inject(`/works/${d1.id}`)).body, /documents\/\d+\/delete/);
  const extra = await postDocument(c, d1.id, { title: 'Equivocado', document_type: 'projectScope' }, { filename: 'x.pdf', data: PDF });
  assert.equal(extra.statusCode, 303);
  const wrong = await worksDb(t.services).selectFrom('works_documents').selectAll().where('title', '=', 'Equivocado').executeTakeFirstOrThrow();
  await c.get(`/works/${d1.id}`);
  const other = await official(transportId);
  await other.get('/works');
  assert.equal((await other.post(`/works/${d1.id}/documents/${wrong.id}/delete`, {})).statusCode, 403);
  assert.equal((await c.post(`/works/${d1.id}/documents/${wrong.id}/delete`, {})).statusCode, 303);
  assert.equal((await c.post(`/works/${d1.id}/documents/${wrong.id}/delete`, {})).statusCode, 404);
  assert.equal(await t.services.files.get(wrong.file_id!), undefined);
  assert.equal((await t.app.inject(`/works/documents/${wrong.file_id}`)).statusCode, 404);
  assert.ok(await t.services.db.selectFrom('audit_log').select('id').where('action', '=', 'works.document.remove').executeTakeFirst());
  assert.doesNotMatch((await t.app.inject(`/works/${d1.id}`)).body, /Equivocado/);

  const whole = JSON.parse((await t.app.inject('/api/oc4ids/project-package.json')).body);
  assert.ok(v(whole), JSON.stringify(v.errors));
  // Every type the form offers is a code of the official documentType codelist.
  const types = codelist('documentType.csv');
  for (const dt of DOCUMENT_TYPES) assert.ok(types.has(dt), dt);
});

test('documents: not a PDF, both or neither of file and address, an unsafe address, a bad type or too large → 4xx, nothing stored', async () => {
  const d1 = await project('D1');
  const c = await official(educationId);
  const [docs0, files0] = [await count('works_documents'), await count('files')];
  const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#f00' } }).png().toBuffer();
  const notPdf = await postDocument(c, d1.id, { title: 'Foto', document_type: 'projectScope' }, { filename: 'foto.pdf', data: png });
  assert.equal(notPdf.statusCode, 400);
  assert.match(notPdf.body, /no es un PDF/);
  assert.equal((await postDocument(c, d1.id, { title: 'Ambos', document_type: 'projectScope', url: 'https://example.org/a.pdf' }, { filename: 'a.pdf', data: PDF })).statusCode, 400);
  assert.match((await postDocument(c, d1.id, { title: 'Nada', document_type: 'projectScope' })).body, /Subí un archivo PDF o indicá la dirección/);
  assert.equal((await postDocument(c, d1.id, { title: 'Js', document_type: 'projectScope', url: 'javascript:alert(1)' })).statusCode, 400);
  assert.equal((await postDocument(c, d1.id, { title: 'Foto', document_type: 'illustration', url: 'https://example.org/a.jpg' })).statusCode, 400);
  assert.equal((await postDocument(c, d1.id, { title: '', document_type: 'projectScope', url: 'https://example.org/a.pdf' })).statusCode, 400);
  const big = Buffer.concat([PDF, Buffer.alloc(15 * 1024 * 1024)]);
  const tooLarge = await postDocument(c, d1.id, { title: 'Grande', document_type: 'projectScope' }, { filename: 'g.pdf', data: big });
  assert.equal(tooLarge.statusCode, 413);
  assert.match(tooLarge.body, /15 MB/);
  assert.equal(await count('works_documents'), docs0);
  assert.equal(await count('files'), files0, 'no file kept for a refused document');
});

test('documents: another office gets 403, a visitor is sent to sign in, an archived programme answers 409', async () => {
  assert.equal((await importFile(t.services, csv([{ id: 'D2', entorno: 'Plan Archivado' }]), 'd.csv')).line, '1 imported, 0 updated, 0 rejected');
  const d1 = await project('D1');
  const other = await official(transportId);
  assert.equal((await postDocument(other, d1.id, { title: 'Ajeno', document_type: 'projectScope', url: 'https://example.org/a.pdf' })).statusCode, 403);
  const anon = await t.app.inject({ method: 'POST', url: `/works/${d1.id}/documents`, payload: { title: 'x' } });
  assert.ok([302, 303, 401, 403].includes(anon.statusCode), String(anon.statusCode));
  const d2 = await project('D2');
  await worksDb(t.services).updateTable('works_programmes').set({ archived: true }).where('slug', '=', 'plan-archivado').execute();
  const c = await official(educationId);
  await c.get('/works');
  const mp = multipart({ title: 'Tarde', document_type: 'projectScope', url: 'https://example.org/a.pdf' }, []);
  const res = await c.request({ method: 'POST', url: `/works/${d2.id}/documents?_csrf=${encodeURIComponent(c.csrf)}`, payload: mp.payload, headers: mp.headers });
  assert.equal(res.statusCode, 409);
  assert.equal((await c.get(`/works/${d2.id}/edit`)).statusCode, 409);
  assert.equal((await c.post(`/works/${d2.id}/edit`, { workers: '5' })).statusCode, 409);
  assert.equal(Number((await worksDb(t.services).selectFrom('works_documents').select((eb) => eb.fn.countAll<number>().as('n')).where('project_id', '=', d2.id).executeTakeFirstOrThrow()).n), 0);
});

test('edit: the office corrects a work’s data (audited before/after, page cache bumped, point placed in its commune)', async () => {
  assert.equal((await importFile(t.services, csv([{ id: 'E1' }]), 'e.csv')).line, '1 imported, 0 updated, 0 rejected');
  const e1 = await project('E1');
  assert.equal(e1.commune_id, 4);
  const c = await official(educationId);
  const page = await c.get(`/works/${e1.id}`);
  assert.match(page.body, new RegExp(`href="/works/${e1.id}/edit"`));
  assert.doesNotMatch((await t.app.inject(`/works/${e1.id}`)).body, new RegExp(`href="/works/${e1.id}/edit"`));
  const anonBefore = await t.app.inject(`/works/${e1.id}`);
  assert.match(anonBefore.body, /Desde el archivo/);
  const form = await c.get(`/works/${e1.id}/edit`);
  assert.equal(form.statusCode, 200);
  assert.match(form.body, /name="workers"/);
  assert.match(form.body, /id="f-lat"[^>]*value="-34.63"|value="-34.63"[^>]*id="f-lat"/);
  const v0 = await worksVersion(worksDb(t.services));
  const res = await c.post(`/works/${e1.id}/edit`, {
    description: 'Corregida por el ministerio',
    address: 'Av. Cabildo 1000',
    lat: '-34,565',
    lng: '-58,40',
    start_date: '1/2/2024',
    planned_end: '2030-01-01',
    current_planned_end: '2030-06-01',
    actual_end: '',
    sites: '2',
    workers: '1.200',
    beneficiaries: '600 alumnos',
    funding: 'Tesoro de la Ciudad',
  });
  assert.equal(res.statusCode, 303, res.body.slice(0, 400));
  const after = await project('E1');
  assert.equal(after.description, 'Corregida por el ministerio');
  assert.equal(after.address, 'Av. Cabildo 1000');
  assert.equal(after.lat, -34.565);
  assert.equal(after.start_date, '2024-02-01');
  assert.equal(after.current_planned_end, '2030-06-01');
  assert.equal(after.workers, 1200);
  assert.equal(after.sites, 2);
  assert.equal(after.funding, 'Tesoro de la Ciudad');
  assert.equal(after.commune_id, 14, 'the new point is in commune 14');
  assert.deepEqual(after.communes, [14]);
  assert.notEqual(await worksVersion(worksDb(t.services)), v0);
  assert.match((await t.app.inject(`/works/${e1.id}`)).body, /Corregida por el ministerio/, 'anonymous page no longer cached with the old data');
  const audit = await t.services.db.selectFrom('audit_log').select(['actor_id', 'details', 'office_id']).where('action', '=', 'works.edit').executeTakeFirstOrThrow();
  const details = audit.details as { before: Record<string, unknown>; after: Record<string, unknown> };
  assert.equal(details.before.workers, null);
  assert.equal(details.after.workers, 1200);
  assert.equal(details.before.start_date, '2024-01-01');
  assert.equal(details.after.start_date, '2024-02-01');
  assert.equal(details.before.lat, -34.63);
  assert.ok(!('planned_end' in details.after), 'unchanged fields are not in the record');
  assert.equal(audit.office_id, educationId);

  // Nothing changed: no write, no audit record.
  const v1 = await worksVersion(worksDb(t.services));
  await c.get(`/works/${e1.id}/edit`);
  assert.equal((await c.post(`/works/${e1.id}/edit`, { description: 'Corregida por el ministerio', address: 'Av. Cabildo 1000', lat: '-34.565', lng: '-58.4', start_date: '2024-02-01', planned_end: '2030-01-01', current_planned_end: '2030-06-01', sites: '2', workers: '1200', beneficiaries: '600 alumnos', funding: 'Tesoro de la Ciudad' })).statusCode, 303);
  assert.equal(await worksVersion(worksDb(t.services)), v1);

  // An administrator may correct any office's work.
  const admin = await createUser(t.services, { roles: ['admin'] });
  const a = await new TestClient(t.app).signInAs(t.services, admin.id);
  await a.get(`/works/${e1.id}/edit`);
  assert.equal((await a.post(`/works/${e1.id}/edit`, { workers: '1300' })).statusCode, 303);
  assert.equal((await project('E1')).workers, 1300);
});

test('edit: another office 403, a point outside the city 400, unreadable values 400 — nothing stored', async () => {
  const e1 = await project('E1');
  const other = await official(transportId);
  assert.equal((await other.get(`/works/${e1.id}/edit`)).statusCode, 403);
  await other.get('/works');
  assert.equal((await other.post(`/works/${e1.id}/edit`, { workers: '1' })).statusCode, 403);
  const c = await official(educationId);
  await c.get(`/works/${e1.id}/edit`);
  // In the city's box but outside every commune (the river side): refused by the boundaries.
  const outside = await c.post(`/works/${e1.id}/edit`, { lat: '-34,53', lng: '-58,50', workers: '5' });
  assert.equal(outside.statusCode, 400);
  assert.match(outside.body, /está fuera de la ciudad/);
  assert.match(outside.body, /value="-34,53"/, 'the form keeps what was typed');
  // Swapped latitude and longitude.
  assert.equal((await c.post(`/works/${e1.id}/edit`, { lat: '-58,40', lng: '-34,60' })).statusCode, 400);
  assert.match((await c.post(`/works/${e1.id}/edit`, { lat: '-34,60', lng: '' })).body, /completá la latitud y la longitud/);
  assert.match((await c.post(`/works/${e1.id}/edit`, { start_date: '31/02/2024' })).body, /Inicio: no se entiende la fecha/);
  assert.match((await c.post(`/works/${e1.id}/edit`, { workers: 'muchos' })).body, /Mano de obra empleada: «muchos» no es una cantidad/);
  assert.equal((await c.post(`/works/${e1.id}/edit`, { workers: '-3' })).statusCode, 400);
  assert.match((await c.post(`/works/${e1.id}/edit`, { start_date: '2031-01-01' })).body, /anterior al inicio/);
  const en = await c.post(`/works/${e1.id}/edit?lang=en`, { lat: '-34.53', lng: '-58.50' });
  assert.equal(en.statusCode, 400);
  const after = await project('E1');
  assert.equal(after.workers, 1300);
  assert.equal(after.lat, -34.565);
  assert.equal(after.start_date, '2024-02-01');
});

test('edit: a re-import of the same file keeps the corrections; a file that changes a corrected field wins for that field only', async () => {
  const before = await project('E1');
  assert.equal((await importFile(t.services, csv([{ id: 'E1' }]), 'e.csv')).line, '0 imported, 0 updated, 0 rejected');
  // The source changes its description (and only that): the row is rewritten.
  const re = await importFile(t.services, csv([{ id: 'E1', desc: 'Nueva descripción de la fuente' }]), 'e.csv');
  assert.equal(re.line, '0 imported, 1 updated, 0 rejected');
  const after = await project('E1');
  assert.equal(after.description, 'Nueva descripción de la fuente', 'the source changed it after the office: newer wins');
  assert.equal(after.workers, 1300);
  assert.equal(after.lat, before.lat);
  assert.equal(after.commune_id, 14);
  assert.equal(after.start_date, '2024-02-01');
  assert.equal(after.address, 'Av. Cabildo 1000');
  assert.equal(after.funding, 'Tesoro de la Ciudad');
  assert.ok(!('description' in after.office_edits));
  assert.ok('workers' in after.office_edits && 'location' in after.office_edits);
  // The source now moves the work: its point wins, with its commune.
  await importFile(t.services, csv([{ id: 'E1', desc: 'Nueva descripción de la fuente', lat: '-34,62', lng: '-58,41' }]), 'e.csv');
  const moved = await project('E1');
  assert.equal(moved.lat, -34.62);
  assert.equal(moved.commune_id, 4);
  assert.equal(moved.workers, 1300);
});

test('edit: the form reads values as the importer does', () => {
  const ok = checkProjectEdit({ description: ' x ', lat: '-34,6', lng: '-58.4', start_date: '1/3/24', workers: '1.200', sites: '' });
  assert.ok(!('key' in ok));
  assert.equal(ok.lat, -34.6);
  assert.equal(ok.start_date, '2024-03-01');
  assert.equal(ok.workers, 1200);
  assert.equal(ok.sites, null);
  assert.equal(ok.description, 'x');
  const bad = checkProjectEdit({ planned_end: '2030-01-01', current_planned_end: '2029-01-01' });
  assert.ok('key' in bad && bad.key === 'works.edit.error.currentBeforePlanned');
});

const pkgOf = (projects: unknown[]) => Buffer.from(JSON.stringify({ uri: 'https://example.org/p.json', publisher: { name: 'Test' }, publishedDate: '2025-01-01T00:00:00Z', version: '0.9', projects }));
const shaped = (id: string, geometry: unknown) => ({
  id: `oc4ids-t-${id}`,
  identifiers: [{ id, scheme: 'BA-Obras' }],
  title: `Obra ${id}`,
  status: 'implementation',
  publicAuthority: { id: 'o', name: 'Ministerio de Educación' },
  locations: [{ id: '1', geometry }],
});

test('lines and areas: every vertex inside the city; drawn on the work page, in both GeoJSONs and in OC4IDS', async () => {
  const line = { type: 'LineString', coordinates: [[-58.44, -34.60], [-58.41, -34.59], [-58.40, -34.57]] };
  const area = { type: 'Polygon', coordinates: [[[-58.43, -34.65], [-58.42, -34.65], [-58.42, -34.64], [-58.43, -34.64], [-58.43, -34.65]]] };
  // The third vertex is in the city's box but outside both communes: the whole work is refused.
  const astray = { type: 'LineString', coordinates: [[-58.44, -34.60], [-58.41, -34.59], [-58.50, -34.53]] };
  const r = await importFile(t.services, pkgOf([shaped('L1', line), shaped('P1', area), shaped('L2', astray)]), 'shapes.json');
  assert.equal(r.line, '2 imported, 0 updated, 1 rejected');
  assert.equal(r.rejected[0].ref, 'L2');
  assert.match(r.rejected[0].reason, /-34\.53, -58\.5 are outside the city/);
  const l1 = await project('L1');
  const p1 = await project('P1');
  assert.equal(l1.geometry?.type, 'LineString');
  assert.deepEqual([l1.lng, l1.lat], representativePoint(line as GeoJSON.LineString));
  assert.equal(l1.commune_id, 4);
  assert.equal(p1.commune_id, 4);

  const page = await t.app.inject(`/works/${l1.id}`);
  assert.match(page.body, /<path class="work-line" d="M[\d.]+ [\d.]+L[\d.]+ [\d.]+L[\d.]+ [\d.]+"/);
  assert.match(page.body, /sigue un trazado/);
  assert.match((await t.app.inject(`/works/${p1.id}`)).body, /<path class="work-area"/);

  const gj = JSON.parse((await t.app.inject('/works/projects.geojson')).body) as GeoJSON.FeatureCollection;
  const f1 = gj.features.find((f) => f.id === l1.id)!;
  assert.deepEqual(f1.geometry, line);
  assert.equal(gj.features.find((f) => f.id === p1.id)!.geometry.type, 'Polygon');
  const map = JSON.parse((await t.app.inject('/works/map.geojson')).body) as GeoJSON.FeatureCollection;
  const m1 = map.features.find((f) => f.properties?.url === `/works/${l1.id}`)!;
  assert.equal(m1.geometry.type, 'LineString');
  assert.equal(m1.properties?.title, 'Obra L1');
  assert.equal(map.features.find((f) => f.properties?.url === `/works/${p1.id}`)!.geometry.type, 'Polygon');

  const pkg = JSON.parse((await t.app.inject(`/api/oc4ids/projects/${l1.id}.json`)).body);
  const v = validator();
  assert.ok(v(pkg), JSON.stringify(v.errors));
  assert.deepEqual(pkg.projects[0].locations[0].geometry, line);
  // The same package again changes nothing; our export read back keeps the line and its point.
  assert.equal((await importFile(t.services, pkgOf([shaped('L1', line), shaped('P1', area), shaped('L2', astray)]), 'shapes.json')).line, '0 imported, 0 updated, 1 rejected');
  await importFile(t.services, Buffer.from(JSON.stringify(pkg)), 'again.json');
  const back = await project('L1');
  assert.deepEqual(back.geometry, line);
  assert.deepEqual([back.lng, back.lat], [l1.lng, l1.lat]);
});

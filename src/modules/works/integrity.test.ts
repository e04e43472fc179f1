import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { createRequire } from 'node:module';
import { createTestApp, createUser, createOffice, TestClient, type TestContext, multipart } from '../../core/testing/harness';
import { manifest } from './manifest';
import { importFile, ImportError } from './importer';
import { overview, worksDb } from './store';
import { fromOc4idsPackage, projectType } from './domain/oc4ids';
import { readBaObrasCsv } from './domain/csv';

/** The audit's gaps (issue #6), each on a small city of its own: no snapshot, only the rows each test needs. */

const require = createRequire(import.meta.url);
const Ajv = require('ajv-draft-04');
const addFormats = require('ajv-formats');
const SCHEMAS = path.resolve('../shared/schemas');

let t: TestContext;
let educationId = 0;
let transportId = 0;

const HEADER = 'id;nombre;etapa;tipo;area_responsable;monto_contrato;comuna;lat;lng;porcentaje_avance;entorno;fecha_inicio;fecha_fin_inicial;fecha_fin_actual;descripcion';
type Row = Partial<Record<'id' | 'nombre' | 'etapa' | 'tipo' | 'area' | 'monto' | 'comuna' | 'lat' | 'lng' | 'avance' | 'entorno' | 'inicio' | 'fin' | 'finActual' | 'desc', string>>;
function csv(rows: Row[], extra: { header: string; values: string[] } | null = null): Buffer {
  const lines = rows.map((r, i) =>
    [
      r.id,
      r.nombre ?? `Obra ${r.id}`,
      r.etapa ?? 'En obra',
      r.tipo ?? 'Escuelas',
      r.area ?? 'Ministerio de Educación',
      r.monto ?? '1000000',
      r.comuna ?? '4',
      r.lat ?? '-34,63',
      r.lng ?? '-58,40',
      r.avance ?? '40',
      r.entorno ?? '',
      r.inicio ?? '1/1/2024',
      r.fin ?? '1/1/2030',
      r.finActual ?? '',
      r.desc ?? '',
      ...(extra ? [extra.values[i] ?? ''] : []),
    ].join(';'),
  );
  return Buffer.from([HEADER + (extra ? `;${extra.header}` : ''), ...lines].join('\n'), 'utf8');
}

const pkgOf = (projects: unknown[]) => ({ uri: 'https://example.org/p.json', publisher: { name: 'Test' }, publishedDate: '2025-01-01T00:00:00Z', version: '0.9', projects });
const json = (x: unknown) => Buffer.from(JSON.stringify(x));

async function upload(c: TestClient, filename: string, data: Buffer) {
  await c.get('/works/import');
  const mp = multipart({}, [{ name: 'file', filename, type: 'application/octet-stream', data }]);
  return c.request({ method: 'POST', url: `/works/import?_csrf=${encodeURIComponent(c.csrf)}`, payload: mp.payload, headers: mp.headers });
}

const project = (externalId: string) =>
  worksDb(t.services).selectFrom('works_projects').selectAll().where('external_id', '=', externalId).executeTakeFirst();

async function official(officeId: number) {
  const u = await createUser(t.services, { roles: ['official'], officeIds: [officeId] });
  return new TestClient(t.app).signInAs(t.services, u.id);
}

before(async () => {
  t = await createTestApp({ modules: [manifest] });
  educationId = (await createOffice(t.services, { slug: 'ministerio-de-educacion', name: 'Ministerio de Educación' })).id;
  transportId = (await createOffice(t.services, { slug: 'transporte-y-obras-publicas', name: 'Transporte y Obras Públicas' })).id;
});
after(async () => t?.close());

test('a re-import keeps what the office recorded: its amendments, their extension, and its progress report', async () => {
  assert.equal((await importFile(t.services, csv([{ id: 'D1', avance: '40' }]), 'd.csv')).line, '1 imported, 0 updated, 0 rejected');
  const before = (await project('D1'))!;
  const c = await official(educationId);
  await c.get(`/works/${before.id}/progress`);
  assert.equal((await c.post(`/works/${before.id}/amendments`, { date: '2024-06-01', extra_amount: '100.000', extra_months: '2', reason: 'Ampliación del patio' })).statusCode, 400, 'ambiguous 100.000 asks');
  assert.equal((await c.post(`/works/${before.id}/amendments`, { date: '2024-06-01', extra_amount: '100000', extra_months: '2,5', reason: 'Ampliación del patio' })).statusCode, 303);
  assert.equal((await c.post(`/works/${before.id}/progress`, { progress: '60', stage: 'in_progress', note: 'Losa' })).statusCode, 303);
  const amended = (await project('D1'))!;
  assert.equal(Number(amended.extra_months), 2.5);
  assert.equal(amended.current_planned_end, '2030-03-18');

  // The source changes the description; its progress (40) is older than the office's report (60).
  const re = await importFile(t.services, csv([{ id: 'D1', avance: '40', desc: 'Nueva descripción' }]), 'd.csv');
  assert.equal(re.line, '0 imported, 1 updated, 0 rejected');
  const after = (await project('D1'))!;
  assert.equal(after.description, 'Nueva descripción');
  assert.equal(Number(after.progress), 60);
  assert.equal(after.stage, 'in_progress');
  assert.equal(Number(after.extra_amount), 100000);
  assert.equal(Number(after.extra_months), 2.5);
  assert.equal(after.current_planned_end, '2030-03-18');
  const amendments = await worksDb(t.services).selectFrom('works_amendments').selectAll().where('project_id', '=', after.id).execute();
  assert.deepEqual(amendments.map((a) => [a.reason, a.source]), [['Ampliación del patio', 'office']]);
  // A file that reports more than the office did is newer: it wins.
  await importFile(t.services, csv([{ id: 'D1', avance: '75', desc: 'Nueva descripción' }]), 'd.csv');
  assert.equal(Number((await project('D1'))!.progress), 75);

  // OC4IDS amendments from a file are replaced by the next file; the office's stay.
  const oc = (desc: string, amount: number) =>
    pkgOf([
      {
        id: 'oc4ids-t-D2', identifiers: [{ id: 'D2', scheme: 'BA-Obras' }], title: 'Obra D2', status: 'implementation', publicAuthority: { id: 'o', name: 'Ministerio de Educación' },
        contractingProcesses: [{ id: 'c', summary: { contractValue: { amount: 1000, currency: 'ARS' }, modifications: [{ id: 'm', description: desc, oldContractValue: { amount: 1000, currency: 'ARS' }, newContractValue: { amount: 1000 + amount, currency: 'ARS' } }] } }],
      },
    ]);
  await importFile(t.services, json(oc('Primera', 100)), 'd2.json');
  const d2 = (await project('D2'))!;
  await c.get(`/works/${d2.id}/progress`);
  assert.equal((await c.post(`/works/${d2.id}/amendments`, { date: '2024-06-01', extra_amount: '50', reason: 'De la oficina' })).statusCode, 303);
  await importFile(t.services, json(oc('Segunda', 300)), 'd2.json');
  const list = await worksDb(t.services).selectFrom('works_amendments').select(['reason', 'source']).where('project_id', '=', d2.id).orderBy('reason').execute();
  assert.deepEqual(list, [{ reason: 'De la oficina', source: 'office' }, { reason: 'Segunda', source: 'import' }]);
  assert.equal(Number((await project('D2'))!.extra_amount), 350);
});

test('an official cannot take over another office’s project by importing it under their own office (CSV or OC4IDS)', async () => {
  await importFile(t.services, csv([{ id: 'T1', nombre: 'Bicisenda', area: 'Secretaría de Transporte y Obras Públicas', tipo: 'Transporte' }]), 't.csv');
  const c = await official(educationId);
  const res = await upload(c, 'take.csv', csv([{ id: 'T1', nombre: 'Ahora es mía' }]));
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /0 imported, 0 updated, 1 rejected/);
  assert.match(res.body, /ya existe y pertenece a otra oficina/);
  const viaJson = await upload(c, 'take.json', json(pkgOf([{ id: 'x-T1', identifiers: [{ id: 'T1', scheme: 'BA-Obras' }], title: 'Ahora es mía', publicAuthority: { id: 'e', name: 'Ministerio de Educación' } }])));
  assert.match(viaJson.body, /0 imported, 0 updated, 1 rejected/);
  const p = (await project('T1'))!;
  assert.equal(p.office_id, transportId);
  assert.equal(p.name, 'Bicisenda');
  // An administrator may move it.
  const admin = await createUser(t.services, { roles: ['admin'] });
  const a = new TestClient(t.app);
  await a.signInAs(t.services, admin.id);
  assert.match((await upload(a, 'move.csv', csv([{ id: 'T1', nombre: 'Bicisenda escolar' }]))).body, /0 imported, 1 updated, 0 rejected/);
  assert.equal((await project('T1'))!.office_id, educationId);
});

test('a malformed or unsafe OC4IDS upload is a clear 400 and stores nothing', async () => {
  const admin = await createUser(t.services, { roles: ['admin'] });
  const c = new TestClient(t.app);
  await c.signInAs(t.services, admin.id);
  const base = { id: 'oc4ids-t-M', identifiers: [{ id: 'M1', scheme: 'BA-Obras' }], title: 'Obra M', status: 'implementation' };
  const cp = (summary: unknown) => ({ contractingProcesses: [{ id: 'c', summary }] });
  const cases: Array<[unknown, RegExp]> = [
    [{ metrics: 'x' }, /metrics: must be an array/],
    [{ parties: [null] }, /parties\[0\]: must be an object/],
    [cp({ modifications: {} }), /modifications: must be an array/],
    [{ documents: [{ id: 'd', documentType: 'illustration', url: 'javascript:alert(1)' }] }, /not an http\(s\) address/],
    [{ documents: [{ id: 'd', documentType: 'projectScope', url: 'javascript:alert(1)' }] }, /not an http\(s\) address/],
    [cp({ contractValue: { amount: 10, currency: 'XXY' } }), /not an ISO 4217 currency/],
    [cp({ contractValue: { amount: -10, currency: 'ARS' } }), /-10 is negative/],
    [cp({ tender: { procurementMethod: 'whatever' } }), /not one of open, selective, limited, direct/],
    [{ period: { startDate: '2020-02-31T00:00:00Z' } }, /"2020-02-31T00:00:00Z" is not a real date/],
    [{ locations: [{ id: '1', geometry: { type: 'Circle', coordinates: [1, 2] } }] }, /not a GeoJSON geometry type/],
    [{ locations: [{ id: '1', geometry: { type: 'LineString', coordinates: [[-64.2, -31.4], [-64.3, -31.5]] } }] }, /outside the city/],
    [{ metrics: [{ id: 'workers', observations: [{ id: 'w', measure: -5 }] }] }, /-5 is negative/],
    [{ status: 'bogus' }, /projectStatus codelist/],
  ];
  for (const [k, [extra, reason]] of cases.entries()) {
    const data = json(pkgOf([{ ...base, ...(extra as object) }]));
    await assert.rejects(importFile(t.services, data, 'bad.json'), (err) => err instanceof ImportError && reason.test(err.message), JSON.stringify(extra));
    // The upload page (rate-limited to 10 a minute): the three that used to be a 500, and the XSS one.
    if (k < 4) {
      const res = await upload(c, 'bad.json', data);
      assert.equal(res.statusCode, 400, `${JSON.stringify(extra)} → ${res.statusCode}`);
      assert.match(res.body, reason);
    }
  }
  assert.equal(await project('M1'), undefined);
  // A CSV's javascript: link is never kept, so never becomes a link.
  await importFile(t.services, csv([{ id: 'J1' }], { header: 'link_interno', values: ['javascript:alert(1)'] }), 'j.csv');
  const j = (await project('J1'))!;
  assert.equal(j.link, null);
  assert.doesNotMatch((await t.app.inject(`/works/${j.id}`)).body, /javascript:/);
});

test('an import cannot lower progress without a reason; a motivo_avance column gives one', async () => {
  await importFile(t.services, csv([{ id: 'B1', avance: '50' }]), 'b.csv');
  const r = await importFile(t.services, csv([{ id: 'B1', avance: '30' }]), 'b.csv');
  assert.equal(r.line, '0 imported, 0 updated, 1 rejected');
  assert.match(r.rejected[0].reason, /progress would go back from 50 % to 30 % without a reason/);
  assert.equal(Number((await project('B1'))!.progress), 50);
  const ok = await importFile(t.services, csv([{ id: 'B1', avance: '30' }], { header: 'motivo_avance', values: ['Nueva medición'] }), 'b.csv');
  assert.equal(ok.line, '0 imported, 1 updated, 0 rejected');
  const p = (await project('B1'))!;
  assert.equal(Number(p.progress), 30);
  const last = await worksDb(t.services).selectFrom('works_progress').select(['note', 'source']).where('project_id', '=', p.id).orderBy('id', 'desc').executeTakeFirstOrThrow();
  assert.deepEqual(last, { note: 'Nueva medición', source: 'import' });
});

test('stalled and delay flags fire on imported data (SQL filters)', async () => {
  const recent = new Date(Date.now() - 30 * 86400000);
  const d = (x: Date) => `${x.getUTCDate()}/${x.getUTCMonth() + 1}/${x.getUTCFullYear()}`;
  await importFile(
    t.services,
    csv([
      { id: 'S1', nombre: 'Quieta desde 2020', inicio: '1/3/2020', fin: '1/1/2030' },
      { id: 'S2', nombre: 'Recién empezada', inicio: d(recent), fin: '1/1/2030' },
      { id: 'S3', nombre: 'Vencida a medias', inicio: d(recent), fin: '1/1/2021', avance: '50' },
      { id: 'S4', nombre: 'Vencida y terminada', etapa: 'Finalizada', inicio: '1/1/2019', fin: '1/1/2021', avance: '100' },
    ]),
    's.csv',
  );
  assert.equal((await project('S1'))!.last_progress_at, null);
  const stalled = (await t.app.inject('/works/projects?flag=stalled')).body;
  assert.match(stalled, /Quieta desde 2020/);
  assert.doesNotMatch(stalled, /Recién empezada/);
  const delay = (await t.app.inject('/works/projects?flag=delay')).body;
  assert.match(delay, /Vencida a medias/);
  assert.doesNotMatch(delay, /Vencida y terminada/);
  assert.doesNotMatch(delay, /Recién empezada/);
  // The office reports progress: no longer stalled.
  const s1 = (await project('S1'))!;
  const c = await official(educationId);
  await c.get(`/works/${s1.id}/progress`);
  assert.equal((await c.post(`/works/${s1.id}/progress`, { progress: '45', stage: 'in_progress', note: '' })).statusCode, 303);
  assert.doesNotMatch((await t.app.inject('/works/projects?flag=stalled')).body, /Quieta desde 2020/);
});

test('a filtered OC4IDS export with no match is a 404 that says why', async () => {
  const res = await t.app.inject('/api/oc4ids/project-package.json?q=zzqqxxnadaqueencontrar');
  assert.equal(res.statusCode, 404);
  assert.match(res.body, /No project matches these filters/);
});

test('progress photos: more than 6 is a 400, a bad one stores none, and nothing is left behind', async () => {
  await importFile(t.services, csv([{ id: 'P1', avance: '10' }]), 'p.csv');
  const p = (await project('P1'))!;
  const c = await official(educationId);
  await c.get(`/works/${p.id}/progress`);
  const png = await sharp({ create: { width: 20, height: 20, channels: 3, background: '#0f0' } }).png().toBuffer();
  const files = async () => Number((await t.services.db.selectFrom('files').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const before = await files();
  const post = (photos: Buffer[]) => {
    const mp = multipart({ progress: '20', stage: 'in_progress', note: '' }, photos.map((data, i) => ({ name: 'photos', filename: `${i}.png`, type: 'image/png', data })));
    return c.request({ method: 'POST', url: `/works/${p.id}/progress?_csrf=${encodeURIComponent(c.csrf)}`, payload: mp.payload, headers: mp.headers });
  };
  const many = await post(Array(7).fill(png));
  assert.equal(many.statusCode, 400);
  assert.match(many.body, /hasta 6 fotos/);
  const mixed = await post([png, png, Buffer.from('not an image at all')]);
  assert.equal(mixed.statusCode, 400);
  assert.equal(await files(), before);
  assert.equal(Number((await project('P1'))!.progress), 10);
  assert.equal((await post([png, png])).statusCode, 303);
  assert.equal(await files(), before + 2);
});

test('administrators archive a programme (audited); its works are then read-only for the forms and the import', async () => {
  await importFile(t.services, csv([{ id: 'A1', entorno: 'Plan Verano 2019', avance: '10' }]), 'a.csv');
  const a1 = (await project('A1'))!;
  const admin = await createUser(t.services, { roles: ['admin'] });
  const a = new TestClient(t.app);
  await a.signInAs(t.services, admin.id);
  const page = await a.get('/works/programmes/plan-verano-2019');
  assert.match(page.body, /action="\/works\/programmes\/plan-verano-2019\/archive"/);
  assert.match(page.body, /Archivar el programa/);
  assert.doesNotMatch((await t.app.inject('/works/programmes/plan-verano-2019')).body, /Archivar el programa/);
  const c = await official(educationId);
  await c.get('/works');
  assert.equal((await c.post('/works/programmes/plan-verano-2019/archive', { archived: '1' })).statusCode, 403);
  assert.equal((await a.post('/works/programmes/plan-verano-2019/archive', { archived: '1' })).statusCode, 303);
  const audit = await t.services.db.selectFrom('audit_log').select(['action', 'actor_id']).where('action', '=', 'works.programme.archive').executeTakeFirstOrThrow();
  assert.equal(audit.actor_id, admin.id);
  assert.match((await t.app.inject('/works/programmes/plan-verano-2019')).body, /Programa archivado/);

  assert.doesNotMatch((await c.get(`/works/${a1.id}`)).body, new RegExp(`href="/works/${a1.id}/progress"`));
  const form = await c.get(`/works/${a1.id}/progress`);
  assert.equal(form.statusCode, 409);
  assert.match(form.body, /solo lectura/);
  assert.equal((await c.post(`/works/${a1.id}/progress`, { progress: '20', stage: 'in_progress', note: '' })).statusCode, 409);
  assert.equal((await c.post(`/works/${a1.id}/amendments`, { date: '2024-01-01', extra_amount: '5', reason: 'r' })).statusCode, 409);
  const r = await importFile(t.services, csv([{ id: 'A1', entorno: 'Plan Verano 2019', avance: '90' }, { id: 'A2', entorno: 'Plan Verano 2019' }]), 'a.csv');
  assert.equal(r.line, '0 imported, 0 updated, 2 rejected');
  assert.match(r.rejected[0].reason, /archived/);
  assert.equal(Number((await project('A1'))!.progress), 10);

  assert.equal((await a.post('/works/programmes/plan-verano-2019/archive', { archived: '0' })).statusCode, 303);
  assert.equal((await c.get(`/works/${a1.id}/progress`)).statusCode, 200);
  assert.match((await c.get(`/works/${a1.id}`)).body, new RegExp(`href="/works/${a1.id}/progress"`));
});

test('the commune chart counts a work in every commune it lists, as the commune filter does', async () => {
  await importFile(t.services, csv([{ id: 'C1', comuna: '7 y 9', lat: '', lng: '' }]), 'c.csv');
  const ov = await overview(worksDb(t.services));
  const count = (n: number) => ov.by.commune.find((b) => b.key === String(n))?.projects ?? 0;
  const listed = async (n: number) => Number(/(\d+) obras encontradas/.exec((await t.app.inject(`/works/projects?commune=${n}`)).body)?.[1] ?? -1);
  assert.equal(count(7), await listed(7));
  assert.equal(count(9), await listed(9));
  assert.ok(count(9) >= 1);
});

test('OC4IDS projectType from the work, and a round trip keeps stages and amendments (extra months as contract periods)', async () => {
  assert.equal(projectType('Puesta en valor Plaza Roma', 'Espacio Público'), 'rehabilitation');
  assert.equal(projectType('Readecuación de veredas', null), 'rehabilitation');
  assert.equal(projectType('Ampliación y puesta en valor Escuela 4', 'Escuelas'), 'expansion');
  assert.equal(projectType('Escuela nueva en Lugano', 'Escuelas'), 'construction');

  await importFile(t.services, csv([{ id: 'R1', etapa: 'Neutralizada', nombre: 'Renovación de la Escuela 9', fin: '1/1/2030' }, { id: 'R2', etapa: 'En licitación', avance: '' }]), 'r.csv');
  const r1 = (await project('R1'))!;
  const c = await official(educationId);
  await c.get(`/works/${r1.id}/progress`);
  assert.equal((await c.post(`/works/${r1.id}/amendments`, { date: '2024-06-01', extra_amount: '2500', extra_months: '3', reason: 'Más aulas' })).statusCode, 303);
  const res = await t.app.inject('/api/oc4ids/project-package.json?q=escuela+9');
  assert.equal(res.statusCode, 200);
  const pkg = JSON.parse(res.body);
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  ajv.addSchema(JSON.parse(fs.readFileSync(path.join(SCHEMAS, 'oc4ids-project-schema.json'), 'utf8')));
  const validate = ajv.compile(JSON.parse(fs.readFileSync(path.join(SCHEMAS, 'oc4ids-project-package-schema.json'), 'utf8')));
  assert.ok(validate(pkg), JSON.stringify(validate.errors));
  assert.equal(pkg.projects[0].type, 'rehabilitation');
  const mod = pkg.projects[0].contractingProcesses[0].summary.modifications[0];
  assert.deepEqual([mod.oldContractPeriod.endDate, mod.newContractPeriod.endDate], ['2030-01-01T00:00:00Z', '2030-04-02T00:00:00Z']);
  const back = fromOc4idsPackage(pkg)[0];
  assert.equal(back.stage, 'paused');
  assert.deepEqual(back.amendments.map((x) => [x.extraAmount, x.extraMonths, x.reason]), [[2500, 3, 'Más aulas']]);
  const r2 = JSON.parse((await t.app.inject(`/api/oc4ids/projects/${(await project('R2'))!.id}.json`)).body);
  assert.equal(fromOc4idsPackage(r2)[0].stage, 'tendering');
});

test('demo: every office named in the real snapshot resolves to an office of data/demo/offices.json (aliases included)', async () => {
  const { offices } = JSON.parse(fs.readFileSync(path.resolve('data/demo/offices.json'), 'utf8')) as { offices: Array<{ slug: string; name: string }> };
  const have = new Set((await t.services.db.selectFrom('offices').select('slug').execute()).map((o) => o.slug));
  for (const o of offices) if (!have.has(o.slug)) await createOffice(t.services, o);
  const names = [...new Set(readBaObrasCsv(fs.readFileSync(path.resolve('../shared/data/ba-obras/ba-obras-observatorio-2024.latin1.csv'))).projects.map((p) => p.officeName))];
  assert.ok(names.includes('Corporación Buenos Aires Sur') && names.includes('Subsecretaría de Gestión Comunal'), names.join(' | '));
  const rows = names.map((area, i) => ({ id: `O${i}`, area: area ?? '', lat: '', lng: '' }));
  assert.equal((await importFile(t.services, csv(rows), 'o.csv')).rejected.length, 0);
  const stored = await worksDb(t.services).selectFrom('works_projects').innerJoin('offices', 'offices.id', 'works_projects.office_id').select(['works_projects.office_name', 'offices.slug']).where('external_id', 'like', 'O%').execute();
  assert.equal(stored.length, names.length, `unresolved: ${names.filter((n) => !stored.some((s) => s.office_name === n)).join(', ')}`);
  const slugOf = (n: string) => stored.find((s) => s.office_name === n)?.slug;
  assert.equal(slugOf('Corporación Buenos Aires Sur'), 'ministerio-de-desarrollo-humano-y-habitat');
  assert.equal(slugOf('Subsecretaría de Gestión Comunal'), 'atencion-ciudadana');
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { createTestApp, createOffice, createUser, TestClient, type TestContext, multipart } from '../../core/testing/harness';
import { manifest } from './manifest';
import { importFile } from './importer';
import { worksDb } from './store';
import { worksCli } from './cli';

/**
 * Issue #6, round 3: the list filters, the home page's totals and featured works, the works nearby, a programme's
 * totals and the OC4IDS open-data resource, over four works whose answers are known by hand (not the big snapshot).
 */

const require = createRequire(import.meta.url);
const Ajv = require('ajv-draft-04');
const addFormats = require('ajv-formats');
const SCHEMAS = path.resolve('../shared/schemas');
const readJson = (f: string) => JSON.parse(fs.readFileSync(path.join(SCHEMAS, f), 'utf8'));

let t: TestContext;
let educationId = 0;
let transportId = 0;

const FIXTURE = [
  'id;nombre;etapa;tipo;area_responsable;monto_contrato;comuna;barrio;lat;lng;porcentaje_avance;entorno;fecha_inicio;fecha_fin_inicial;licitacion_anio;licitacion_oferta_empresa;cuit_contratista;mano_obra;destacada',
  // Finished, tendered in 2021, featured.
  'L1;Escuela Alfa Palermo;Finalizada;Escuelas;Ministerio de Educación;1000000;14;Palermo;-34,580;-58,420;100;Plan Escuelas Nuevas;1/3/2022;1/3/2023;2021;Constructora Sur SA;30-71234567-8;10;si',
  // Two contractors in one cell: the second CUIT is typed without dashes.
  'L2;Plaza Beta Boedo;En obra;Espacio Público;Transporte y Obras Públicas;2000000;5;Boedo;-34,6305;-58,4165;40;Plan Plazas;1/1/2024;1/1/2026;2023;Obras Norte SRL;33-70000000-9 / 20123456783;20;no',
  // About 70 m from L2.
  'L3;Escuela Gama Boedo;En obra;Escuelas;Ministerio de Educación;3000000;5;Boedo;-34,6310;-58,4170;50;Plan Escuelas Nuevas;1/1/2024;1/1/2026;2023;Constructora Sur SA;30712345678;30;no',
  // Far from the others, no contract yet.
  'L4;Hospital Delta Lugano;En proyecto;Salud;Ministerio de Salud;4000000;8;Villa Lugano;-34,680;-58,470;0;;;;;;;;no',
].join('\n');

const NAMES = { L1: 'Escuela Alfa Palermo', L2: 'Plaza Beta Boedo', L3: 'Escuela Gama Boedo', L4: 'Hospital Delta Lugano' } as const;
type Key = keyof typeof NAMES;

/** Which of the four works a list page shows. */
async function listed(query: string): Promise<Key[]> {
  const res = await t.app.inject(`/works/projects?${query}`);
  assert.equal(res.statusCode, 200, `${query}: ${res.body.slice(0, 300)}`);
  return (Object.keys(NAMES) as Key[]).filter((k) => res.body.includes(NAMES[k]));
}

/** The four figures of a totals grid, in order: projects, investment, workers, share finished. */
function totalsOf(html: string): string[] {
  return [...html.matchAll(/<p class="font-heading-xl text-bold margin-y-1">([^<]*)<\/p>/g)].map((m) => m[1]!.replace(/\s| /g, ' '));
}

const idOf = async (externalId: string) =>
  (await worksDb(t.services).selectFrom('works_projects').select('id').where('external_id', '=', externalId).executeTakeFirstOrThrow()).id;

before(async () => {
  t = await createTestApp({ modules: [manifest] });
  educationId = (await createOffice(t.services, { slug: 'ministerio-de-educacion', name: 'Ministerio de Educación' })).id;
  transportId = (await createOffice(t.services, { slug: 'transporte-y-obras-publicas', name: 'Transporte y Obras Públicas' })).id;
  await createOffice(t.services, { slug: 'ministerio-de-salud', name: 'Ministerio de Salud' });
  const summary = await importFile(t.services, Buffer.from(FIXTURE, 'utf8'), 'listing.csv');
  assert.equal(summary.line, '4 imported, 0 updated, 0 rejected', JSON.stringify(summary));
});
after(async () => t?.close());

test('list filters: neighbourhood, office, year, type, stage, programme', async () => {
  assert.deepEqual(await listed(''), ['L1', 'L2', 'L3', 'L4']);
  assert.deepEqual(await listed('neighbourhood=boedo'), ['L2', 'L3'], 'neighbourhood, case folded');
  assert.deepEqual(await listed('neighbourhood=Villa%20Lugano'), ['L4']);
  assert.deepEqual(await listed(`office=${educationId}`), ['L1', 'L3']);
  assert.deepEqual(await listed(`office=${transportId}`), ['L2']);
  assert.deepEqual(await listed('year=2021'), ['L1'], 'tender year');
  assert.deepEqual(await listed('year=2024'), ['L2', 'L3'], 'start year');
  assert.deepEqual(await listed('year=2030'), []);
  assert.deepEqual(await listed('type=school'), ['L1', 'L3']);
  assert.deepEqual(await listed('type=health'), ['L4']);
  assert.deepEqual(await listed('stage=in_progress'), ['L2', 'L3']);
  assert.deepEqual(await listed('stage=planned'), ['L4']);
  assert.deepEqual(await listed('stage=finished&type=school'), ['L1'], 'filters combine');
  const programmes = await worksDb(t.services).selectFrom('works_programmes').select(['id', 'slug']).orderBy('slug').execute();
  assert.deepEqual(programmes.map((p) => p.slug), ['plan-escuelas-nuevas', 'plan-plazas']);
  assert.deepEqual(await listed(`programme=${programmes[0]!.id}`), ['L1', 'L3']);
  assert.deepEqual(await listed(`programme=${programmes[1]!.id}`), ['L2']);
  assert.equal((await t.app.inject('/works/projects?stage=unknown')).statusCode, 400);
  assert.equal((await t.app.inject('/works/projects?year=soon')).statusCode, 400);
  // The JSON API takes the same filters.
  const api = JSON.parse((await t.app.inject(`/api/v1/works/projects?office=${educationId}&stage=in_progress`)).body);
  assert.match(JSON.stringify(api), /Escuela Gama Boedo/);
  assert.doesNotMatch(JSON.stringify(api), /Escuela Alfa Palermo|Plaza Beta/);
});

test('contractor filter: by name, and by CUIT with or without dashes, any contractor of the cell', async () => {
  assert.deepEqual(await listed('contractor=constructora%20sur'), ['L1', 'L3'], 'name, any case');
  assert.deepEqual(await listed('contractor=Obras%20Norte'), ['L2']);
  assert.deepEqual(await listed('contractor=30-71234567-8'), ['L1', 'L3'], 'CUIT with dashes; L3 was typed without them');
  assert.deepEqual(await listed('contractor=30712345678'), ['L1', 'L3'], 'CUIT typed without dashes');
  assert.deepEqual(await listed('contractor=30.71234567.8'), ['L1', 'L3'], 'CUIT typed with dots');
  assert.deepEqual(await listed('contractor=20123456783'), ['L2'], 'the second CUIT of a cell');
  assert.deepEqual(await listed('contractor=20-12345678-3'), ['L2']);
  assert.deepEqual(await listed('contractor=30712345670'), []);
  // The project page links each CUIT to this filter.
  const page = await t.app.inject(`/works/${await idOf('L3')}`);
  assert.match(page.body, /href="\/works\/projects\?contractor=30-71234567-8"/);
});

test('home page: totals (projects, investment, workers, share finished) and featured works', async () => {
  const home = await t.app.inject('/works');
  assert.equal(home.statusCode, 200);
  const [projects, investment, workers, finished] = totalsOf(home.body);
  assert.equal(projects, '4');
  assert.match(investment!, /^\$ ?10\.000\.000(,00)?$/, investment);
  assert.equal(workers, '60');
  assert.match(finished!, /^25 ?%$/, finished);
  // Only L1 is featured.
  const featured = home.body.slice(home.body.indexOf('Obras destacadas'));
  assert.ok(home.body.includes('Obras destacadas'));
  assert.match(featured, new RegExp(`<a href="/works/${await idOf('L1')}">Escuela Alfa Palermo</a>`));
  assert.doesNotMatch(featured, /Plaza Beta Boedo|Escuela Gama Boedo|Hospital Delta Lugano/);

  const en = await t.app.inject('/works?lang=en');
  const enTotals = totalsOf(en.body);
  assert.equal(enTotals[0], '4');
  assert.match(enTotals[1]!, /10,000,000/);
  assert.match(enTotals[3]!, /^25 ?%$/);
  assert.match(en.body, /Featured works/);
});

test('project page: the works within 1 km', async () => {
  const [l1, l2, l3, l4] = await Promise.all((['L1', 'L2', 'L3', 'L4'] as const).map(idOf));
  const nearbyOf = (html: string) => {
    const start = html.indexOf('Obras cercanas');
    assert.ok(start > 0, 'the nearby section');
    return html.slice(start, html.indexOf('</ul>', start) + 5);
  };
  const p2 = nearbyOf((await t.app.inject(`/works/${l2}`)).body);
  assert.match(p2, new RegExp(`<a href="/works/${l3}">Escuela Gama Boedo</a>`));
  assert.doesNotMatch(p2, new RegExp(`/works/(${l1}|${l2}|${l4})"`), 'not itself, not the far ones');
  const p3 = nearbyOf((await t.app.inject(`/works/${l3}`)).body);
  assert.match(p3, new RegExp(`<a href="/works/${l2}">Plaza Beta Boedo</a>`));
  const p4 = (await t.app.inject(`/works/${l4}`)).body;
  assert.match(p4.slice(p4.indexOf('Obras cercanas')), /^Obras cercanas<\/h2><p>No hay otras obras a menos de un kilómetro\.<\/p>/);
});

test('programme page: its own totals and list', async () => {
  const res = await t.app.inject('/works/programmes/plan-escuelas-nuevas');
  assert.equal(res.statusCode, 200);
  const [projects, investment, workers, finished] = totalsOf(res.body);
  assert.equal(projects, '2');
  assert.match(investment!, /^\$ ?4\.000\.000(,00)?$/, investment);
  assert.equal(workers, '40');
  assert.match(finished!, /^50 ?%$/, finished);
  assert.ok(res.body.includes('Escuela Alfa Palermo') && res.body.includes('Escuela Gama Boedo'));
  assert.ok(!res.body.includes('Plaza Beta Boedo') && !res.body.includes('Hospital Delta Lugano'));
  assert.equal((await t.app.inject('/works/programmes/no-such-programme')).statusCode, 404);
});

test('open data: the obras-oc4ids.json resource is a valid OC4IDS package of every work', async () => {
  const dataset = manifest.datasets!.find((d) => d.slug === 'obras-publicas')!;
  const resource = dataset.resources.find((r) => r.slug === 'obras-oc4ids.json')!;
  const body = await resource.produce(t.services);
  const pkg = JSON.parse(String(body));
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  ajv.addSchema(readJson('oc4ids-project-schema.json'));
  const validate = ajv.compile(readJson('oc4ids-project-package-schema.json'));
  assert.ok(validate(pkg), JSON.stringify(validate.errors));
  const projects = pkg.projects as Array<{ id: string; title: string; status: string; parties?: Array<{ roles: string[]; identifier?: { id: string } }> }>;
  assert.deepEqual(projects.map((p) => p.title).sort(), Object.values(NAMES).sort());
  assert.ok(projects.every((p) => /^oc4ids-cabildo-L\d$/.test(p.id)), projects.map((p) => p.id).join());
  const byTitle = new Map(projects.map((p) => [p.title, p]));
  assert.equal(byTitle.get('Escuela Alfa Palermo')!.status, 'completion');
  assert.equal(byTitle.get('Hospital Delta Lugano')!.status, 'preparation');
  const suppliers = byTitle.get('Plaza Beta Boedo')!.parties!.filter((p) => p.roles.includes('supplier')).map((p) => p.identifier?.id);
  assert.deepEqual(suppliers.sort(), ['20123456783', '33700000009'], 'both CUITs of the cell, as AR-CUIT digits');
});

test('import: values the reader cannot use are reported per row as warnings, and the row is still imported', async () => {
  const file = Buffer.from(
    [
      'id;nombre;etapa;tipo;area_responsable;monto_contrato;comuna;lat;lng;mano_obra;licitacion_anio;cuit_contratista;licitacion_oferta_empresa;contratacion_tipo;imagen_1;pliego_descarga',
      'W1;Obra con avisos;En obra;Escuelas;Ministerio de Educación;1000;4;-34,63;-58,40;https://example.org/obreros;dos mil veinte;a confirmar;Constructora X;Trato especial;ftp://fotos.example.org/1.jpg;https://example.org/pliego.pdf',
      'W2;Obra limpia;En obra;Escuelas;Ministerio de Educación;1000;4;-34,63;-58,40;12;2020;30-71234567-8;Constructora Sur SA;Licitación Pública;https://example.org/1.jpg;',
      // Rejected (no stage): its unreadable values are not reported again as warnings.
      'W3;Obra sin etapa;;Escuelas;Ministerio de Educación;1000;4;-34,63;-58,40;muchos;;;;;;',
    ].join('\n'),
    'utf8',
  );
  const admin = await createUser(t.services, { roles: ['admin'] });
  const c = await new TestClient(t.app).signInAs(t.services, admin.id);
  await c.get('/works/import');
  const mp = multipart({}, [{ name: 'file', filename: 'avisos.csv', type: 'text/csv', data: file }]);
  const res = await c.request({ method: 'POST', url: `/works/import?_csrf=${encodeURIComponent(c.csrf)}`, payload: mp.payload, headers: mp.headers });
  assert.equal(res.statusCode, 200, res.body.slice(0, 300));
  assert.match(res.body, /2 imported, 0 updated, 1 rejected/);
  assert.match(res.body, /<caption>Valores no leídos \(la fila se importó sin ellos\)<\/caption>/);
  const warnings = res.body.slice(res.body.indexOf('Valores no leídos'));
  for (const text of [
    'mano de obra (mano_obra) «https://example.org/obreros» no es un número: quedó vacía',
    'año de licitación (licitacion_anio) «dos mil veinte» no es un año: quedó vacío',
    'no hay un CUIT (11 dígitos) en cuit_contratista «a confirmar»: la contratista quedó sin CUIT',
    'tipo de contratación (contratacion_tipo) «Trato especial» desconocido: se guarda como texto, sin método OCDS',
    'imagen_1 «ftp://fotos.example.org/1.jpg» no es una dirección http(s): no se guardó',
  ]) {
    assert.ok(warnings.includes(`<td>2</td><td>W1</td><td>${text}</td>`), `${text} in ${warnings.slice(0, 1500)}`);
  }
  assert.equal((warnings.match(/<td>W1<\/td>/g) ?? []).length, 5, 'one warning per dropped value');
  assert.doesNotMatch(warnings, /<td>W2<\/td>|<td>W3<\/td>/);
  // The row is there, without the dropped values, with what could be read.
  const w1 = await worksDb(t.services).selectFrom('works_projects').selectAll().where('external_id', '=', 'W1').executeTakeFirstOrThrow();
  assert.equal(w1.workers, null);
  assert.equal(w1.tender_year, null);
  assert.equal(w1.contractor_cuit, null);
  assert.equal(w1.contractor_name, 'Constructora X');
  assert.equal(w1.procedure_type, 'Trato especial');
  assert.equal(w1.procurement_method, null);
  assert.equal(w1.tender_docs_url, 'https://example.org/pliego.pdf');

  // In English, and on the CLI (which re-imports the same file: nothing changes, the warnings are said again).
  const en = await c.request({ method: 'POST', url: `/works/import?lang=en&_csrf=${encodeURIComponent(c.csrf)}`, payload: mp.payload, headers: mp.headers });
  assert.match(en.body, /workers employed \(mano_obra\) &quot;https:\/\/example.org\/obreros&quot; is not a number: left empty/);
  const tmp = path.join(fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'works-')), 'avisos.csv');
  fs.writeFileSync(tmp, file);
  const out: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  try {
    assert.equal(await worksCli.run(t.services, ['import', tmp]), 0);
  } finally {
    console.log = log;
  }
  assert.ok(out.includes('line 2 (W1): warning: tender year (licitacion_anio) "dos mil veinte" is not a year: left empty'), out.join('\n'));
  assert.equal(out.at(-1), '0 imported, 0 updated, 1 rejected');
});

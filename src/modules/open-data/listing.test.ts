// The catalogue as visitors list it: sector counts, facet counts (format, licence), sort, page 2,
// facet.limit, the budget section's documents, downloads and the most used datasets; and a
// data.json harvest that names datasets as people would, not by UUID.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from '../../core/testing/harness';
import { ckanFixture, type CkanClient } from './testing';
import { odDb } from './store';
import { harvest } from './harvest';

let t: TestContext;
let anon: CkanClient;
let editor: CkanClient;

before(async () => {
  let officeSlug: string;
  ({ t, anon, editor, officeSlug } = await ckanFixture({
    office: ['ministerio-de-hacienda', 'Ministerio de Hacienda'],
    otherOffice: ['legislatura', 'Legislatura'],
    themes: [['economia-y-finanzas', 'Economía y finanzas'], ['salud', 'Salud']],
  }));
  const eco = [{ name: 'economia-y-finanzas' }];
  await editor.action.package_create({ name: 'deuda-publica', title: 'Deuda pública', owner_org: officeSlug, groups: eco, license_id: 'ODbL-1.0', resources: [{ url: 'https://example.org/deuda.csv', format: 'CSV' }] });
  await editor.action.package_create({
    name: 'presupuesto-sancionado',
    title: 'Presupuesto sancionado',
    notes: 'Ley de presupuesto de la ciudad.',
    owner_org: officeSlug,
    groups: eco,
    license_id: 'CC-BY-4.0',
    resources: [{ url: 'https://example.org/presupuesto.csv', format: 'CSV' }, { url: 'https://example.org/ley.pdf', format: 'PDF' }],
  });
  await editor.action.package_create({ name: 'hospitales', title: 'Hospitales', owner_org: officeSlug, groups: [{ name: 'salud' }], license_id: 'CC-BY-4.0', resources: [{ url: 'https://example.org/h.json', format: 'JSON' }] });
  await editor.action.package_create({ name: 'borrador-economico', title: 'Borrador económico', owner_org: officeSlug, groups: eco, license_id: 'CC-BY-4.0', private: true, resources: [{ url: 'https://example.org/b.csv', format: 'CSV' }] });
  for (let i = 1; i <= 20; i++) await editor.action.package_create({ name: `serie-${String(i).padStart(2, '0')}`, title: `Serie ${i}`, owner_org: officeSlug, license_id: 'other-open' });
});

after(async () => {
  await t.close();
});

const page = async (url: string) => {
  const res = await t.app.inject(url);
  assert.equal(res.statusCode, 200, url);
  return res.body;
};
const titlesIn = (html: string) => [...html.matchAll(/<h3 class="usa-collection__heading"><a[^>]*>([^<]+)<\/a>/g)].map((m) => m[1]);

test('the home shows each sector with its count of published datasets (drafts not counted)', async () => {
  const home = await page('/datasets');
  assert.match(home, /href="\/datasets\?groups=economia-y-finanzas">Economía y finanzas<\/a><\/h3><p>2 conjuntos de datos<\/p>/);
  assert.match(home, /href="\/datasets\?groups=salud">Salud<\/a><\/h3><p>1 conjuntos de datos<\/p>/);
});

test('facets count formats and licences over the matches; sort and page 2 work', async () => {
  const eco = await page('/datasets?groups=economia-y-finanzas');
  assert.match(eco, /CSV \(2\)/);
  assert.match(eco, /PDF \(1\)/);
  assert.match(eco, /CC-BY-4.0 \(1\)/);
  assert.match(eco, /ODbL-1.0 \(1\)/);
  assert.doesNotMatch(eco, /JSON \(/);
  // Newest first by default; by title when asked.
  assert.deepEqual(titlesIn(eco), ['Presupuesto sancionado', 'Deuda pública']);
  assert.deepEqual(titlesIn(await page('/datasets?groups=economia-y-finanzas&sort=title_string+asc')), ['Deuda pública', 'Presupuesto sancionado']);
  // 23 published datasets, 20 a page: page 2 holds the 3 oldest.
  const all = await page('/datasets?sort=title_string+asc');
  assert.equal(titlesIn(all).length, 20);
  const second = await page('/datasets?sort=title_string+asc&page=2');
  assert.deepEqual(titlesIn(second), ['Serie 7', 'Serie 8', 'Serie 9']);
  assert.match(all, /other-open \(20\)/);
});

test('package_search honours facet.limit', async () => {
  type Search = { facets: Record<string, Record<string, number>>; search_facets: Record<string, { items: Array<{ name: string; count: number }> }> };
  const one = (await anon.action.package_search({ 'facet.field': '["license_id","res_format"]', 'facet.limit': 1 })) as Search;
  assert.deepEqual(one.search_facets.license_id.items.map((i) => [i.name, i.count]), [['other-open', 20]]);
  assert.deepEqual(Object.keys(one.facets.res_format), ['CSV']);
  const all = (await anon.action.package_search({ 'facet.field': '["license_id"]', 'facet.limit': -1 })) as Search;
  assert.deepEqual(all.facets.license_id, { 'other-open': 20, 'CC-BY-4.0': 2, 'ODbL-1.0': 1 });
});

test('the budget section lists the published datasets of the budget theme besides the explorer', async () => {
  const budget = await page('/datasets/budget');
  assert.match(budget, /Documentos del presupuesto/);
  assert.match(budget, /href="\/datasets\/presupuesto-sancionado"/);
  assert.match(budget, /href="\/datasets\/deuda-publica"/);
  assert.doesNotMatch(budget, /href="\/datasets\/hospitales"/);
  assert.doesNotMatch(budget, /borrador-economico/);
  assert.match(await page('/datasets/budget?lang=en'), /Budget documents/);
});

test('downloads are counted, and the most used datasets rank views and downloads together', async () => {
  const db = odDb(t.services);
  await db.updateTable('od_datasets').set({ views: 0, downloads: 0 }).execute();
  await page('/datasets/hospitales');
  await page('/datasets/hospitales');
  const shown = (await anon.action.package_show({ id: 'presupuesto-sancionado' })) as { resources: Array<{ id: string; format: string }> };
  const csv = shown.resources.find((r) => r.format === 'CSV')!;
  for (let i = 0; i < 3; i++) {
    const res = await t.app.inject(`/datasets/presupuesto-sancionado/resource/${csv.id}/download`);
    assert.equal(res.statusCode, 302);
    assert.equal(res.headers.location, 'https://example.org/presupuesto.csv');
  }
  const d = await db.selectFrom('od_datasets').select(['views', 'downloads']).where('name', '=', 'presupuesto-sancionado').executeTakeFirstOrThrow();
  assert.deepEqual([d.views, d.downloads], [0, 3]);
  const r = await db.selectFrom('od_resources').select('downloads').where('id', '=', csv.id).executeTakeFirstOrThrow();
  assert.equal(r.downloads, 3);
  // Three downloads outrank two views.
  const home = await page('/datasets');
  const popular = /<section aria-labelledby="od-popular">([\s\S]*?)<\/section>/.exec(home)![1];
  const order = [...popular.matchAll(/href="\/datasets\/([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(order.slice(0, 2), ['presupuesto-sancionado', 'hospitales']);
  assert.match(popular, /0 visitas, 3 descargas/);
  assert.match(popular, /2 visitas, 0 descargas/);
});

test('harvesting a data.json file names datasets from the CKAN landing page or the title, not by UUID; a second run changes nothing', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'od-datajson-'));
  const file = path.join(dir, 'data.json');
  const ds = (identifier: string, title: string, landingPage?: string) => ({
    identifier,
    title,
    description: `${title}.`,
    publisher: { name: 'Agencia de Recaudación' },
    theme: ['eco'],
    keyword: ['impuestos'],
    accrualPeriodicity: 'R/P1M',
    issued: '2020-01-01',
    ...(landingPage ? { landingPage } : {}),
    distribution: [{ identifier: `${identifier}-d`, title: `${title} (CSV)`, format: 'CSV', downloadURL: `https://example.org/${identifier}.csv` }],
  });
  fs.writeFileSync(
    file,
    JSON.stringify({
      title: 'Catálogo',
      themeTaxonomy: [{ id: 'eco', label: 'Economía y finanzas', description: '' }],
      dataset: [
        ds('6f1c3a52-8e0b-4f1e-9a0e-2f1d3c4b5a69', 'Recaudación mensual', 'https://data.example.org/dataset/recaudacion-mensual'),
        ds('0b7e8c1d-2a3f-4e5d-8c9b-1a2b3c4d5e6f', 'Padrón de contribuyentes: año 2020'),
        ds('1.4', 'Padrón de contribuyentes: año 2020'),
        ds('exenciones', 'Exenciones impositivas'),
      ],
    }),
  );
  try {
    const first = await harvest(t.services, file);
    assert.equal(first.created, 4);
    const names = (await anon.action.package_list()) as string[];
    for (const n of ['recaudacion-mensual', 'padron-de-contribuyentes-ano-2020', 'padron-de-contribuyentes-ano-2020-2', 'exenciones']) assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
    assert.ok(!names.some((n) => /^[0-9a-f]{8}-/.test(n)), 'no UUID names');
    const shown = (await anon.action.package_show({ id: 'recaudacion-mensual' })) as { id: string; groups: Array<{ name: string }>; organization: { title: string } };
    assert.equal(shown.id, '6f1c3a52-8e0b-4f1e-9a0e-2f1d3c4b5a69'); // the identifier stays the id
    assert.deepEqual(shown.groups.map((g) => g.name), ['economia-y-finanzas']);
    assert.equal(shown.organization.title, 'Agencia de Recaudación');
    const second = await harvest(t.services, file);
    assert.deepEqual([second.created, second.updated, second.unchanged], [0, 0, 4]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

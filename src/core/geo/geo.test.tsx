import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { render } from 'preact-render-to-string';
import { parse } from 'csv-parse/sync';
import { createTestApp, type TestContext } from '../testing/harness';
import { seedCore } from '../seed';
import { CommunesMap, classBreaks } from '../ui/map';
import { formatters } from '../i18n';
import type { ModuleManifest } from '../manifest';
import type { PageContext } from '../ui/context';

let t: TestContext;
// A module's dataset is served by the same registry path as core's.
const publisher: ModuleManifest = {
  name: 'geo-probe',
  path: '/geo-probe',
  titleKey: 'home.title',
  descriptionKey: 'home.lead',
  status: 'ready',
  datasets: [
    {
      slug: 'probe',
      title: { 'es-AR': 'Prueba', en: 'Probe' },
      description: { 'es-AR': 'Prueba', en: 'Probe' },
      theme: 'urbanismo-y-territorio',
      keywords: [],
      accrualPeriodicity: 'R/P1D',
      resources: [
        {
          slug: 'count.json',
          name: 'Count',
          format: 'JSON',
          mediaType: 'application/json',
          produce: async (s) => JSON.stringify(await s.db.selectFrom('communes').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()),
        },
      ],
    },
  ],
};

before(async () => {
  t = await createTestApp({ modules: [publisher] });
  await seedCore(t.services, () => {});
});
after(() => t.close());

const places: Array<[string, number, number, string, number]> = [
  ['Obelisco', -34.6037, -58.3816, 'San Nicolás', 1],
  ['Planetario', -34.5696, -58.4116, 'Palermo', 14],
  ['La Bombonera', -34.6356, -58.3649, 'La Boca', 4],
  ['Parque Centenario', -34.6067, -58.4356, 'Caballito', 6],
];

for (const [place, lat, lng, hood, commune] of places) {
  test(`locate: ${place} is in ${hood}, commune ${commune}`, async () => {
    const res = await t.app.inject(`/api/v1/geo/locate?lat=${lat}&lng=${lng}`);
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.equal(body.commune.id, commune);
    assert.equal(body.commune.name, `Comuna ${commune}`);
    assert.equal(body.neighbourhood.name, hood);
  });
}

test('locate: a point in the river is outside the city (400 problem)', async () => {
  const res = await t.app.inject('/api/v1/geo/locate?lat=-34.55&lng=-58.30');
  assert.equal(res.statusCode, 400);
  assert.match(res.headers['content-type'] as string, /application\/problem\+json/);
  assert.match(res.json().detail, /outside the city/);
  assert.equal(await t.services.geo.locate(-34.55, -58.3), null);
});

test('locate: missing or out-of-range coordinates are a 400, never a 500', async () => {
  for (const q of ['', '?lat=-34.6', '?lat=91&lng=0', '?lat=-34.6&lng=NaN']) {
    const res = await t.app.inject(`/api/v1/geo/locate${q}`);
    assert.equal(res.statusCode, 400, q);
  }
});

test('GET /api/v1/geo/communes is a GeoJSON FeatureCollection of 15 communes', async () => {
  const res = await t.app.inject('/api/v1/geo/communes');
  assert.equal(res.statusCode, 200);
  assert.match(res.headers['content-type'] as string, /^application\/geo\+json/);
  const fc = res.json();
  assert.equal(fc.type, 'FeatureCollection');
  assert.equal(fc.features.length, 15);
  const c14 = fc.features.find((f: { id: number }) => f.id === 14);
  assert.equal(c14.properties.name, 'Comuna 14');
  assert.deepEqual(c14.properties.neighbourhoods, ['Palermo']);
  assert.equal(c14.geometry.type, 'MultiPolygon');
});

test('GET /api/v1/geo/neighbourhoods: 48 features, or those of one commune', async () => {
  const all = (await t.app.inject('/api/v1/geo/neighbourhoods')).json();
  assert.equal(all.features.length, 48);
  const one = await t.app.inject('/api/v1/geo/neighbourhoods?commune=1');
  assert.equal(one.statusCode, 200);
  assert.deepEqual(
    one.json().features.map((f: { properties: { name: string } }) => f.properties.name),
    ['Constitución', 'Monserrat', 'Puerto Madero', 'Retiro', 'San Nicolás', 'San Telmo'],
  );
  assert.equal((await t.app.inject('/api/v1/geo/neighbourhoods?commune=abc')).statusCode, 400);
});

test('the geo endpoints are in the OpenAPI document', async () => {
  const doc = (await t.app.inject('/api/openapi.json')).json();
  for (const p of ['/api/v1/geo/locate', '/api/v1/geo/communes', '/api/v1/geo/neighbourhoods']) assert.ok(doc.paths[p], p);
});

test('published datasets: communes and neighbourhoods as GeoJSON and CSV, with the right content types', async () => {
  const gj = await t.app.inject('/published/comunas-y-barrios/comunas.geojson');
  assert.equal(gj.statusCode, 200);
  assert.match(gj.headers['content-type'] as string, /^application\/geo\+json/);
  assert.equal(gj.json().features.length, 15);

  const csv = await t.app.inject('/published/comunas-y-barrios/comunas.csv');
  assert.equal(csv.statusCode, 200);
  assert.match(csv.headers['content-type'] as string, /^text\/csv; charset=utf-8/);
  const communes = parse(csv.body, { columns: true }) as Record<string, string>[];
  assert.equal(communes.length, 15);
  assert.equal(communes[0].name, 'Comuna 1');
  assert.equal(communes[0].population, '253271');
  assert.match(communes[0].neighbourhoods, /San Nicolás/);

  const hoods = await t.app.inject('/published/comunas-y-barrios/barrios.geojson');
  assert.equal(hoods.json().features.length, 48);
  const hoodsCsv = parse((await t.app.inject('/published/comunas-y-barrios/barrios.csv')).body, { columns: true }) as Record<string, string>[];
  assert.equal(hoodsCsv.length, 48);
  assert.deepEqual(
    hoodsCsv.filter((r) => r.commune_id === '14').map((r) => r.name),
    ['Palermo'],
  );
});

test('published: every registered dataset is served, unknown ones are 404', async () => {
  const res = await t.app.inject('/published/probe/count.json');
  assert.equal(res.statusCode, 200);
  assert.match(res.headers['content-type'] as string, /^application\/json/);
  assert.equal(res.json().n, 15);
  assert.equal((await t.app.inject('/published/probe/nope.csv')).statusCode, 404);
  assert.equal((await t.app.inject('/published/nope/comunas.csv')).statusCode, 404);
  const registered = t.services.registry.datasets().map((d) => `${d.module}/${d.dataset.slug}`);
  assert.deepEqual(registered, ['core/comunas-y-barrios', 'geo-probe/probe']);
});

test('/communes lists the 15 communes with a map that works without JavaScript', async () => {
  const res = await t.app.inject('/communes');
  assert.equal(res.statusCode, 200);
  const html = res.body;
  assert.match(html, /<h1>Comunas y barrios<\/h1>/);
  assert.match(html, /data-island="map"/);
  assert.match(html, /data-geojson-url="\/api\/v1\/geo\/communes"/);
  assert.match(html, /<script type="module" src="\/assets\/js\/map-[0-9a-f]+\.js"/);
  assert.match(html, /leaflet\.css/);
  assert.equal((html.match(/<a href="\/communes\/\d+" data-commune=/g) ?? []).length, 15);
  assert.match(html, /<caption>Comunas y sus datos<\/caption>/);
  assert.match(html, /Puerto Madero/);
  assert.doesNotMatch(html, /style="/);
  const island = html.match(/src="(\/assets\/js\/map-[0-9a-f]+\.js)"/)![1];
  const js = await t.app.inject(island);
  assert.equal(js.statusCode, 200);
  assert.match(js.headers['content-type'] as string, /javascript/);
  assert.match(js.body, /data-island/);
});

test('/communes/14 shows the commune, its neighbourhood, population and map; bad ids are 404', async () => {
  const res = await t.app.inject('/communes/14?lang=en');
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /<h1>Comuna 14<\/h1>/);
  assert.match(res.body, /Palermo/);
  assert.match(res.body, /<a href="\/offices\/comuna-14">Comuna 14<\/a>/);
  assert.match(res.body, /226,944/); // 2017 projection, in English digits
  assert.match(res.body, /data-geojson-url="\/api\/v1\/geo\/neighbourhoods\?commune=14"/);
  assert.match(res.body, /Map of the city’s communes with Comuna 14 highlighted/);
  assert.match(res.body, /aria-current="page"[^>]*>Comuna 14|href="\/communes\/14" aria-current="page"/);
  for (const bad of ['99', '0', 'abc', '01', '1.5']) {
    assert.equal((await t.app.inject(`/communes/${bad}`)).statusCode, 404, bad);
  }
});

test('the home page has the section "Las 15 comunas" with the SVG map', async () => {
  const res = await t.app.inject('/');
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /<h2 id="communes-title">Las 15 comunas<\/h2>/);
  assert.match(res.body, /<svg id="home-communes-map"/);
  assert.equal((res.body.match(/<path class="commune"/g) ?? []).length, 15);
});

function ctxFor(locale: 'es-AR' | 'en' = 'es-AR'): PageContext {
  return {
    locale,
    t: t.services.i18n.translator(locale),
    fmt: formatters(locale),
    user: null,
    csrfToken: '',
    url: '/',
    assets: t.app.assets,
    nav: [],
    config: t.config,
  };
}

test('map component: a picture without links is one image; a choropleth has a legend and a data table', async () => {
  const communes = await t.services.geo.communes();
  const plain = render(<CommunesMap ctx={ctxFor()} communes={communes} link={null} />);
  assert.match(plain, /<svg[^>]*role="img"[^>]*aria-labelledby="communes-map-title"/);
  assert.doesNotMatch(plain, /<a /);
  // The markup is cached per drawing and options: other options give other markup.
  const three = render(<CommunesMap ctx={ctxFor()} communes={communes} highlight={3} />);
  const five = render(<CommunesMap ctx={ctxFor('en')} communes={communes} highlight={5} />);
  assert.match(three, /con la Comuna 3 resaltada/);
  assert.match(five, /with Comuna 5 highlighted/);
  assert.equal((three.match(/fill="#fdd306"/g) ?? []).length, 1);
  assert.match(three, /<a href="\/communes\/3" data-commune="3"><title>Comuna 3<\/title><path class="commune-shaded"/);
  assert.match(five, /<a href="\/communes\/5" data-commune="5"><title>Comuna 5<\/title><path class="commune-shaded"/);
  assert.equal(render(<CommunesMap ctx={ctxFor()} communes={communes} highlight={3} />), three);

  const values = Object.fromEntries(communes.map((c) => [c.id, c.id * 10]));
  delete values[15];
  const choropleth = render(
    <CommunesMap ctx={ctxFor('en')} communes={communes} values={values} valueLabel="Requests" link="/requests?commune={id}" highlight={3} />,
  );
  assert.match(choropleth, /<caption>Communes and their figures<\/caption>/);
  assert.match(choropleth, /<th scope="col">Requests<\/th>/);
  assert.match(choropleth, /href="\/requests\?commune=7"/);
  assert.match(choropleth, /<title>Comuna 7: 70<\/title>/);
  assert.match(choropleth, /Legend/);
  assert.match(choropleth, /No data/);
  // Five classes of colour, and the commune without a value in grey.
  const fills = new Set([...choropleth.matchAll(/class="commune-shaded"[^>]*fill="(#[0-9a-f]{6})"/g)].map((m) => m[1]));
  assert.equal(fills.size, 6);
  assert.ok(fills.has('#f0f0f0'));
});

test('class breaks are quantiles of the values', () => {
  assert.deepEqual(classBreaks([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 5), [3, 5, 7, 9]);
  assert.deepEqual(classBreaks([5, 5, 5]), []);
  assert.deepEqual(classBreaks([]), []);
});

test('an empty city has no communes: pages say so and the API returns empty collections', async () => {
  const empty = await createTestApp();
  try {
    const page = await empty.app.inject('/communes');
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /Todavía no se cargaron las comunas/);
    assert.equal((await empty.app.inject('/api/v1/geo/communes')).json().features.length, 0);
    assert.equal((await empty.app.inject('/api/v1/geo/locate?lat=-34.6037&lng=-58.3816')).statusCode, 400);
    assert.doesNotMatch((await empty.app.inject('/')).body, /communes-title/);
    // Loaded later (e.g. by `cabildo seed --demo` in another process): seen without a restart.
    const square: GeoJSON.Polygon = { type: 'Polygon', coordinates: [[[-58.5, -34.7], [-58.3, -34.7], [-58.3, -34.5], [-58.5, -34.5], [-58.5, -34.7]]] };
    await empty.services.db.insertInto('communes').values({ id: 1, name: 'Comuna 1', population: 1, area_m2: 1, geometry: JSON.stringify(square) }).execute();
    const found = await empty.app.inject('/api/v1/geo/locate?lat=-34.6&lng=-58.4');
    assert.equal(found.statusCode, 200);
    assert.deepEqual(found.json(), { commune: { id: 1, name: 'Comuna 1' }, neighbourhood: null });
  } finally {
    await empty.close();
  }
});

// DCAT-AP output read as RDF: /catalog.ttl through a real Turtle parser (n3), /catalog.jsonld by
// its @context/@graph (no JSON-LD processor in the project), both against DCAT-AP's mandatory
// properties and the EU vocabularies' IRIs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Parser, Store, DataFactory, type Term } from 'n3';
import { createTestApp, type TestContext } from '../../core/testing/harness';
import { manifest } from './manifest';
import { harvest } from './harvest';
import { frequencyIri, fileTypeIri } from './dcat';

const { namedNode } = DataFactory;
const CATALOG = path.resolve('../shared/data/buenos-aires/ckan-catalog-2021');
const NS = {
  rdf: 'http://www.w3.org/1999/02/22-rdf-syntax-ns#',
  dcat: 'http://www.w3.org/ns/dcat#',
  dct: 'http://purl.org/dc/terms/',
  foaf: 'http://xmlns.com/foaf/0.1/',
};
const iri = (prefixed: string) => {
  const [p, local] = prefixed.split(':');
  return namedNode(NS[p as keyof typeof NS] + local);
};
const FREQ = 'http://publications.europa.eu/resource/authority/frequency/';
const FILE = 'http://publications.europa.eu/resource/authority/file-type/';

type Pkg = Record<string, unknown> & { extras: Array<{ key: string; value: string }>; resources: Array<Record<string, unknown>> };

let t: TestContext;
let dir: string;
let base: string;

/** A variant of BA Data's "barrios" package: new name and ids, its own periodicity and formats. */
function variant(template: Pkg, name: string, title: string, notes: string, periodicity: string, formats: string[]): Pkg {
  return {
    ...template,
    id: crypto.randomUUID(),
    name,
    title,
    notes,
    extras: template.extras.map((e) => (e.key === 'accrualPeriodicity' ? { key: e.key, value: periodicity } : e)),
    resources: formats.map((format, i) => ({ ...template.resources[0], id: crypto.randomUUID(), name: `${title} ${format}`, format, url: `https://example.org/${name}/${i}.${format.toLowerCase()}` })),
  };
}

before(async () => {
  t = await createTestApp({ modules: [manifest] });
  base = t.services.config.baseUrl;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'od-dcat-'));
  const raw = JSON.parse(fs.readFileSync(path.join(CATALOG, 'barrios.json'), 'utf8'));
  const barrios: Pkg = raw.result ?? raw;
  fs.writeFileSync(path.join(dir, 'barrios.json'), JSON.stringify(barrios)); // eventual; six resources: CSV, ZIP, GeoJSON, XLSX
  fs.writeFileSync(path.join(dir, 'diario.json'), JSON.stringify(variant(barrios, 'dcat-diario', 'Diario', 'Se actualiza cada día.', 'R/P1D', ['csv', 'JSON'])));
  fs.writeFileSync(path.join(dir, 'trimestral.json'), JSON.stringify(variant(barrios, 'dcat-trimestral', 'Trimestral', 'Cada tres meses.', 'R/P3M', ['XLSX', 'PDF'])));
  fs.writeFileSync(path.join(dir, 'raro.json'), JSON.stringify(variant(barrios, 'dcat-raro', 'Datos "raros"\ncon salto', '', 'R/P5D', ['FORMATO-RARO'])));
  const report = await harvest(t.services, dir, { origin: 'dcat-test' });
  assert.deepEqual(report.errors, []);
  assert.equal(report.created, 4);
});

after(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  await t.close();
});

async function turtleStore(): Promise<Store> {
  const res = await t.app.inject('/catalog.ttl');
  assert.equal(res.statusCode, 200);
  assert.match(res.headers['content-type'] as string, /^text\/turtle/);
  // A strict Turtle parser: a syntax error throws, so the whole document is valid Turtle.
  const quads = new Parser({ format: 'text/turtle', baseIRI: base }).parse(res.body);
  return new Store(quads);
}

const one = (store: Store, s: Term, p: string): Term => {
  const objects = store.getObjects(s, iri(p), null);
  assert.equal(objects.length, 1, `${s.value} should have exactly one ${p}, has ${objects.length}`);
  return objects[0];
};
const literal = (store: Store, s: Term, p: string): string => {
  const o = one(store, s, p);
  assert.equal(o.termType, 'Literal', `${s.value} ${p} should be a literal`);
  assert.ok(o.value.trim(), `${s.value} ${p} is empty`);
  return o.value;
};
const dataset = (name: string) => namedNode(`${base}/datasets/${name}`);

test('frequencies and formats map to the EU vocabularies', () => {
  const cases: Array<[string, string | null]> = [
    ['R/P1D', 'DAILY'], ['R/P1W', 'WEEKLY'], ['R/P1M', 'MONTHLY'], ['R/P3M', 'QUARTERLY'], ['R/P6M', 'BIANNUAL'], ['R/P1Y', 'ANNUAL'],
    ['eventual', 'IRREG'], ['EVENTUAL', 'IRREG'], ['R/PT1H', 'HOURLY'], ['R/P0.5M', 'MONTHLY_2'], ['R/P5D', 'OTHER'], ['R/PT15M', 'OTHER'], ['', null],
  ];
  for (const [iso, code] of cases) assert.equal(frequencyIri(iso), code && FREQ + code, iso);
  for (const [format, code] of [['CSV', 'CSV'], ['csv', 'CSV'], ['JSON', 'JSON'], ['XLSX', 'XLSX'], ['GeoJSON', 'GEOJSON'], ['PDF', 'PDF'], ['ZIP', 'ZIP'], ['.shp', 'SHP'], ['ninguno', null], ['', null]] as const)
    assert.equal(fileTypeIri(format), code && FILE + code, format);
});

test('/catalog.ttl parses as Turtle and has DCAT-AP mandatory properties and EU vocabulary IRIs', async () => {
  const store = await turtleStore();
  const catalogs = store.getSubjects(iri('rdf:type'), iri('dcat:Catalog'), null);
  assert.equal(catalogs.length, 1);
  const catalog = catalogs[0];
  literal(store, catalog, 'dct:title');
  literal(store, catalog, 'dct:description');
  const publisher = one(store, catalog, 'dct:publisher');
  assert.ok(store.has(DataFactory.quad(publisher as never, iri('rdf:type'), iri('foaf:Agent'))), 'the catalogue publisher is a foaf:Agent');
  assert.equal(literal(store, publisher, 'foaf:name'), t.services.config.cityName);

  const datasets = store.getSubjects(iri('rdf:type'), iri('dcat:Dataset'), null);
  assert.equal(datasets.length, 4);
  assert.deepEqual(
    store.getObjects(catalog, iri('dcat:dataset'), null).map((o) => o.value).sort(),
    datasets.map((d) => d.value).sort(),
  );
  for (const d of datasets) {
    literal(store, d, 'dct:title');
    literal(store, d, 'dct:description');
    const dp = one(store, d, 'dct:publisher');
    assert.ok(store.has(DataFactory.quad(dp as never, iri('rdf:type'), iri('foaf:Agent'))));
    literal(store, dp, 'foaf:name');
    const freq = one(store, d, 'dct:accrualPeriodicity');
    assert.equal(freq.termType, 'NamedNode');
    assert.ok(freq.value.startsWith(FREQ), freq.value);
    for (const dist of store.getObjects(d, iri('dcat:distribution'), null)) {
      assert.ok(store.has(DataFactory.quad(dist as never, iri('rdf:type'), iri('dcat:Distribution'))));
      assert.equal(one(store, dist, 'dcat:accessURL').termType, 'NamedNode');
      for (const f of store.getObjects(dist, iri('dct:format'), null)) assert.ok(f.termType === 'NamedNode' && f.value.startsWith(FILE), f.value);
      for (const m of store.getObjects(dist, iri('dcat:mediaType'), null)) assert.equal(m.termType, 'NamedNode');
    }
  }
  assert.equal(store.getSubjects(iri('rdf:type'), iri('dcat:Distribution'), null).length, 6 + 2 + 2 + 1); // barrios has six resources

  const freqOf = (name: string) => one(store, dataset(name), 'dct:accrualPeriodicity').value;
  assert.equal(freqOf('barrios'), `${FREQ}IRREG`);
  assert.equal(freqOf('dcat-diario'), `${FREQ}DAILY`);
  assert.equal(freqOf('dcat-trimestral'), `${FREQ}QUARTERLY`);
  assert.equal(freqOf('dcat-raro'), `${FREQ}OTHER`);
  const formatsOf = (name: string) =>
    [...new Set(store.getObjects(dataset(name), iri('dcat:distribution'), null).flatMap((dist) => store.getObjects(dist, iri('dct:format'), null).map((f) => f.value.slice(FILE.length))))].sort();
  assert.deepEqual(formatsOf('barrios'), ['CSV', 'GEOJSON', 'XLSX', 'ZIP']);
  assert.deepEqual(formatsOf('dcat-diario'), ['CSV', 'JSON']);
  assert.deepEqual(formatsOf('dcat-trimestral'), ['PDF', 'XLSX']);
  assert.deepEqual(formatsOf('dcat-raro'), []); // a format the vocabulary lacks is left out, not sent as text
  // Quotes and line breaks survive the round trip; an empty description falls back to the title.
  assert.equal(literal(store, dataset('dcat-raro'), 'dct:title'), 'Datos "raros"\ncon salto');
  assert.equal(literal(store, dataset('dcat-raro'), 'dct:description'), 'Datos "raros"\ncon salto');
});

test('/catalog.jsonld: @context and @graph carry the same DCAT-AP graph', async () => {
  const res = await t.app.inject('/catalog.jsonld');
  assert.equal(res.statusCode, 200);
  const doc = res.json() as { '@context': Record<string, string>; '@graph': Array<Record<string, unknown>> };
  const ctx = doc['@context'];
  for (const [p, ns] of Object.entries(NS)) if (p !== 'rdf') assert.equal(ctx[p], ns);
  const expand = (term: string) => {
    const [p, local] = term.split(':');
    assert.ok(ctx[p], `prefix ${p} of ${term} is in the @context`);
    return ctx[p] + local;
  };
  const store = await turtleStore();
  const byType = (type: string) => doc['@graph'].filter((n) => n['@type'] === type);
  const idOf = (v: unknown) => (v as { '@id'?: string })['@id'];

  // Every node and property of the JSON-LD is in the Turtle: the two serialisations agree.
  for (const node of doc['@graph']) {
    assert.equal(typeof node['@id'], 'string');
    assert.ok(store.has(DataFactory.quad(namedNode(node['@id'] as string), iri('rdf:type'), namedNode(expand(node['@type'] as string)))));
    for (const key of Object.keys(node).filter((k) => !k.startsWith('@')))
      assert.ok(store.getObjects(namedNode(node['@id'] as string), namedNode(expand(key)), null).length, `${node['@id']} ${key}`);
  }

  const [catalog] = byType('dcat:Catalog');
  assert.ok(catalog['dct:title'] && catalog['dct:description']);
  const publisher = catalog['dct:publisher'] as Record<string, unknown>;
  assert.equal(publisher['@type'], 'foaf:Agent');
  assert.equal(publisher['foaf:name'], t.services.config.cityName);
  assert.equal((catalog['dcat:dataset'] as unknown[]).length, byType('dcat:Dataset').length);
  for (const d of byType('dcat:Dataset')) {
    assert.ok(String(d['dct:title']).trim() && String(d['dct:description']).trim());
    assert.match(String(idOf(d['dct:accrualPeriodicity'])), new RegExp(`^${FREQ}[A-Z_0-9]+$`));
  }
  for (const r of byType('dcat:Distribution')) {
    assert.ok(idOf(r['dcat:accessURL']));
    if (r['dct:format'] !== undefined) assert.ok(String(idOf(r['dct:format'])).startsWith(FILE));
  }
  const diario = doc['@graph'].find((n) => n['@id'] === `${base}/datasets/dcat-diario`)!;
  assert.equal(idOf(diario['dct:accrualPeriodicity']), `${FREQ}DAILY`);
});

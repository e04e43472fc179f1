import type { FastifyInstance } from 'fastify';
import type { Services } from '../../core/services';
import { odDb, allThemes, officesByIds, resourcesOf, publicDatasets, type Office } from './store';
import { resourceDict } from './ckan';
import type { DatasetRow, ResourceRow, ThemeRow } from './tables';

/**
 * DCAT out: Argentina's data.json profile (what datos.gob.ar harvests) and DCAT-AP as JSON-LD
 * and Turtle. Built from the same rows as the CKAN API, public datasets only.
 */

const SUPER_THEMES = ['AGRI', 'ECON', 'EDUC', 'ENER', 'ENVI', 'GOVE', 'HEAL', 'INTR', 'JUST', 'REGI', 'SOCI', 'TECH', 'TRAN'];
const PERIODICITY = /^(R\/P\d+(\.\d+)?[YMWD]|R\/PT\d+(\.\d+)?[HMS]|eventual|EVENTUAL)$/;
const TEMPORAL = /^\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\d(\.\d+)?)?(([+-]\d\d:\d\d)|Z)?(\/\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\d(\.\d+)?)?(([+-]\d\d:\d\d)|Z)?)?$/;

/** Buenos Aires time, with its offset: the profile's validators require one. */
export function isoAr(d: Date | string | null | undefined): string | null {
  if (!d) return null;
  const t = new Date(new Date(d).getTime() - 3 * 3600_000);
  return t.toISOString().replace(/\.\d{3}Z$/, '-03:00');
}

function superThemes(d: DatasetRow): string[] {
  const raw = d.extras.find((e) => e.key === 'superTheme')?.value;
  let list: string[] = [];
  try {
    const parsed = raw ? JSON.parse(raw) : [];
    if (Array.isArray(parsed)) list = parsed.map((s) => String(s).toUpperCase()).filter((s) => SUPER_THEMES.includes(s));
  } catch {
    list = [];
  }
  return list.length ? list : ['GOVE'];
}

const keyword = (k: string) => k.replace(/[^ 0-9a-zA-Z\u00e1-\u017a\u00c1-\u0179\u00f1\u00d1._-]/g, ' ').replace(/\s+/g, ' ').trim();

interface CatalogueRows {
  datasets: DatasetRow[];
  offices: Map<number, Office>;
  themes: ThemeRow[];
  resources: Map<string, ResourceRow[]>;
}

async function rows(services: Services): Promise<CatalogueRows> {
  const db = odDb(services);
  const datasets = await publicDatasets(db, { limit: 100_000, offset: 0 });
  const [offices, themes, resources] = await Promise.all([officesByIds(db, datasets.map((d) => d.office_id)), allThemes(db), resourcesOf(db, datasets.map((d) => d.id))]);
  return { datasets, offices, themes, resources };
}

const landing = (base: string, d: DatasetRow) => `${base}/datasets/${d.name}`;

export async function dataJson(services: Services) {
  const base = services.config.baseUrl;
  const { datasets, offices, themes, resources } = await rows(services);
  const used = new Set(datasets.flatMap((d) => d.themes));
  return {
    identifier: new URL(base).host,
    title: `Datos abiertos · ${services.config.cityName}`,
    description: `Catálogo de datos abiertos de ${services.config.cityName}, publicado con Cabildo.`,
    publisher: { name: services.config.cityName, mbox: services.config.mailFrom.replace(/^.*<|>.*$/g, '') },
    superThemeTaxonomy: 'https://datos.gob.ar/superThemeTaxonomy.json',
    issued: isoAr(datasets.reduce<Date | null>((min, d) => (!min || d.metadata_created < min ? d.metadata_created : min), null) ?? new Date()),
    modified: isoAr(datasets.reduce<Date | null>((max, d) => (!max || d.metadata_modified > max ? d.metadata_modified : max), null) ?? new Date()),
    language: ['SPA'],
    homepage: `${base}/datasets`,
    license: 'Creative Commons Attribution 4.0',
    spatial: 'ARG',
    themeTaxonomy: themes.filter((t) => used.has(t.name)).map((t) => ({ id: t.name, label: t.title, description: t.description || t.title })),
    dataset: datasets.map((d) => {
      const office = offices.get(d.office_id);
      const issued = isoAr(d.issued ?? d.metadata_created)!;
      return {
        identifier: d.id,
        title: d.title.slice(0, 100),
        description: d.notes.trim() || d.title,
        publisher: { name: office?.name ?? services.config.cityName, mbox: d.author_email.trim() || '' },
        contactPoint: { fn: d.maintainer || office?.name || '', hasEmail: d.maintainer_email.trim() || '' },
        superTheme: superThemes(d),
        theme: d.themes.length ? d.themes : null,
        keyword: d.tags.map(keyword).filter(Boolean),
        accrualPeriodicity: PERIODICITY.test(d.accrual_periodicity) ? d.accrual_periodicity : 'eventual',
        issued,
        modified: isoAr(d.modified ?? d.metadata_modified),
        language: d.language.length ? d.language.map((l) => l.toUpperCase()).filter(Boolean) : ['SPA'],
        temporal: TEMPORAL.test(d.temporal) ? d.temporal : null,
        spatial: d.spatial || null,
        landingPage: landing(base, d),
        license: d.license_title || d.license_id || null,
        distribution: (resources.get(d.id) ?? []).map((r) => {
          const url = String(resourceDict(r, base).url ?? '');
          const page = `${base}/datasets/${d.name}/resource/${r.id}`;
          return {
            identifier: r.id,
            title: r.name || r.format || r.id,
            description: r.description || null,
            accessURL: page,
            downloadURL: /^https?:\/\//.test(url) ? url.replace(/ /g, '%20') : page,
            format: r.format || null,
            mediaType: r.mimetype,
            byteSize: r.size != null ? Math.round(r.size) : null,
            issued: isoAr(r.created) ?? issued,
            modified: isoAr(r.last_modified),
            license: d.license_title || d.license_id || null,
            ...(r.fields.length ? { field: r.fields.map((f) => ({ title: f.id.slice(0, 60), type: f.info?.type_override || f.type, description: f.info?.notes || null })) } : {}),
          };
        }),
      };
    }),
  };
}

const EU = 'http://publications.europa.eu/resource/authority';

/**
 * DCAT-AP wants dct:accrualPeriodicity as a concept of the EU frequency vocabulary, not the ISO
 * 8601 interval we store: every interval of the data.json profile's list has an exact concept;
 * anything else repeats on a schedule the vocabulary has no name for (OTHER).
 */
const FREQUENCIES: Record<string, string> = {
  'R/PT1S': 'CONT',
  'R/PT1H': 'HOURLY',
  'R/P1D': 'DAILY',
  'R/P0.33W': 'WEEKLY_3',
  'R/P0.5W': 'WEEKLY_2',
  'R/P1W': 'WEEKLY',
  'R/P2W': 'BIWEEKLY',
  'R/P0.33M': 'MONTHLY_3',
  'R/P0.5M': 'MONTHLY_2',
  'R/P1M': 'MONTHLY',
  'R/P2M': 'BIMONTHLY',
  'R/P3M': 'QUARTERLY',
  'R/P4M': 'ANNUAL_3',
  'R/P6M': 'BIANNUAL',
  'R/P1Y': 'ANNUAL',
  'R/P2Y': 'BIENNIAL',
  'R/P3Y': 'TRIENNIAL',
  'R/P4Y': 'QUADRENNIAL',
  'R/P10Y': 'DECENNIAL',
};

/** The EU frequency IRI for a stored periodicity, or null when the dataset declares none. */
export function frequencyIri(periodicity: string): string | null {
  const p = periodicity.trim();
  if (!p) return null;
  const code = /^eventual$/i.test(p) ? 'IRREG' : (FREQUENCIES[p.toUpperCase()] ?? 'OTHER');
  return `${EU}/frequency/${code}`;
}

/** CKAN's free-text formats (as publishers type them) → the EU file-type vocabulary's codes. */
const FILE_TYPES: Record<string, string> = {
  CSV: 'CSV', TSV: 'TSV', TXT: 'TXT', JSON: 'JSON', GEOJSON: 'GEOJSON', JSONLD: 'JSON_LD', 'JSON-LD': 'JSON_LD',
  XML: 'XML', RDF: 'RDF_XML', 'RDF/XML': 'RDF_XML', TTL: 'RDF_TURTLE', TURTLE: 'RDF_TURTLE',
  XLS: 'XLS', XLSX: 'XLSX', ODS: 'ODS', ODT: 'ODT', DOC: 'DOC', DOCX: 'DOCX', PPT: 'PPT', PPTX: 'PPTX', PDF: 'PDF',
  HTML: 'HTML', HTM: 'HTML', ZIP: 'ZIP', RAR: 'RAR', GZ: 'GZIP', GZIP: 'GZIP', '7Z': '7Z', TAR: 'TAR',
  KML: 'KML', KMZ: 'KMZ', SHP: 'SHP', SHAPEFILE: 'SHP', GML: 'GML', GPKG: 'GPKG', GEOPACKAGE: 'GPKG', WMS: 'WMS_SRVC', WFS: 'WFS_SRVC',
  PNG: 'PNG', JPG: 'JPEG', JPEG: 'JPEG', GIF: 'GIF', TIF: 'TIFF', TIFF: 'TIFF', SVG: 'SVG', SQL: 'SQL', DBF: 'DBF', MDB: 'MDB',
};

/** The EU file-type IRI for a CKAN format; null for one the vocabulary lacks (left out rather than sent as text). */
export function fileTypeIri(format: string): string | null {
  const code = FILE_TYPES[format.trim().replace(/^\./, '').toUpperCase()];
  return code ? `${EU}/file-type/${code}` : null;
}

/** dcat:mediaType's range is an IANA media type IRI, not the bare string. */
const mediaTypeIri = (m: string | null) => (m && /^[a-z]+\/[a-z0-9.+-]+$/i.test(m.trim()) ? `http://www.iana.org/assignments/media-types/${m.trim().toLowerCase()}` : null);

/** DCAT-AP 2 in JSON-LD: the same catalogue in the vocabulary European harvesters read. */
export async function dcatJsonLd(services: Services) {
  const base = services.config.baseUrl;
  const { datasets, offices, resources } = await rows(services);
  const graph: Record<string, unknown>[] = [
    {
      '@id': `${base}/catalog`,
      '@type': 'dcat:Catalog',
      'dct:title': `Datos abiertos · ${services.config.cityName}`,
      'dct:description': `Catálogo de datos abiertos de ${services.config.cityName}`,
      // DCAT-AP: the publisher is a foaf:Agent with a name, not a page.
      'dct:publisher': {
        '@type': 'foaf:Agent',
        'foaf:name': services.config.cityName,
        'foaf:homepage': { '@id': base },
        'dct:type': { '@id': 'http://purl.org/adms/publishertype/LocalAuthority' },
      },
      'foaf:homepage': { '@id': `${base}/datasets` },
      'dct:language': { '@id': 'http://publications.europa.eu/resource/authority/language/SPA' },
      'dcat:dataset': datasets.map((d) => ({ '@id': landing(base, d) })),
    },
  ];
  for (const d of datasets) {
    const office = offices.get(d.office_id);
    const dists = resources.get(d.id) ?? [];
    graph.push({
      '@id': landing(base, d),
      '@type': 'dcat:Dataset',
      'dct:identifier': d.id,
      'dct:title': d.title,
      // dct:description is mandatory: an undescribed dataset says its title, as data.json does.
      'dct:description': d.notes.trim() || d.title,
      'dct:issued': { '@value': (d.issued ?? d.metadata_created).toISOString(), '@type': 'xsd:dateTime' },
      'dct:modified': { '@value': (d.modified ?? d.metadata_modified).toISOString(), '@type': 'xsd:dateTime' },
      'dct:publisher': { '@type': 'foaf:Agent', 'foaf:name': office?.name ?? services.config.cityName },
      'dcat:keyword': d.tags,
      'dcat:theme': d.themes.map((t) => ({ '@id': `${base}/datasets?groups=${encodeURIComponent(t)}` })),
      ...(frequencyIri(d.accrual_periodicity) ? { 'dct:accrualPeriodicity': { '@id': frequencyIri(d.accrual_periodicity)! } } : {}),
      ...(d.maintainer_email ? { 'dcat:contactPoint': { '@type': 'vcard:Organization', 'vcard:fn': d.maintainer || office?.name || '', 'vcard:hasEmail': { '@id': `mailto:${d.maintainer_email}` } } } : {}),
      'dcat:landingPage': { '@id': landing(base, d) },
      'dcat:distribution': dists.map((r) => ({ '@id': `${base}/datasets/${d.name}/resource/${r.id}` })),
    });
    for (const r of dists) {
      const url = String(resourceDict(r, base).url ?? '');
      const format = fileTypeIri(r.format);
      const media = mediaTypeIri(r.mimetype);
      graph.push({
        '@id': `${base}/datasets/${d.name}/resource/${r.id}`,
        '@type': 'dcat:Distribution',
        'dct:title': r.name,
        'dct:description': r.description,
        ...(format ? { 'dct:format': { '@id': format } } : {}),
        'dcat:accessURL': { '@id': `${base}/datasets/${d.name}/resource/${r.id}` },
        ...(/^https?:\/\//.test(url) ? { 'dcat:downloadURL': { '@id': url.replace(/ /g, '%20') } } : {}),
        ...(media ? { 'dcat:mediaType': { '@id': media } } : {}),
        ...(r.size != null ? { 'dcat:byteSize': { '@value': String(r.size), '@type': 'xsd:decimal' } } : {}),
        ...(d.license_url ? { 'dct:license': { '@id': d.license_url.trim() } } : {}),
      });
    }
  }
  return {
    '@context': {
      dcat: 'http://www.w3.org/ns/dcat#',
      dct: 'http://purl.org/dc/terms/',
      foaf: 'http://xmlns.com/foaf/0.1/',
      vcard: 'http://www.w3.org/2006/vcard/ns#',
      xsd: 'http://www.w3.org/2001/XMLSchema#',
    },
    '@graph': graph,
  };
}

const PREFIXES: Record<string, string> = {
  dcat: 'http://www.w3.org/ns/dcat#',
  dct: 'http://purl.org/dc/terms/',
  foaf: 'http://xmlns.com/foaf/0.1/',
  vcard: 'http://www.w3.org/2006/vcard/ns#',
  xsd: 'http://www.w3.org/2001/XMLSchema#',
};

const ttlString = (s: string) => '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r') + '"';
const ttlIri = (s: string) => '<' + s.replace(/[<>"{}|^`\\\s]/g, (c) => encodeURIComponent(c)) + '>';

function ttlValue(v: unknown): string | null {
  if (v == null || v === '') return null;
  if (typeof v === 'string') return ttlString(v);
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o['@id'] === 'string') return ttlIri(o['@id']);
    if (o['@value'] !== undefined) return `${ttlString(String(o['@value']))}${o['@type'] ? `^^${o['@type']}` : ''}`;
    const inner = Object.entries(o)
      .map(([k, val]) => (k === '@type' ? `a ${val}` : ttlPredicate(k, val)))
      .filter(Boolean)
      .join(' ; ');
    return `[ ${inner} ]`;
  }
  return ttlString(String(v));
}

function ttlPredicate(k: string, v: unknown): string {
  const values = (Array.isArray(v) ? v : [v]).map(ttlValue).filter((x): x is string => !!x);
  return values.length ? `${k} ${values.join(', ')}` : '';
}

/** The JSON-LD graph written as Turtle (our graph is flat, so a direct writer suffices). */
export function toTurtle(doc: { '@graph': Record<string, unknown>[] }): string {
  let out = Object.entries(PREFIXES)
    .map(([p, iri]) => `@prefix ${p}: <${iri}> .`)
    .join('\n');
  out += '\n\n';
  for (const node of doc['@graph']) {
    const lines = [`a ${node['@type']}`];
    for (const [k, v] of Object.entries(node)) if (!k.startsWith('@')) {
      const p = ttlPredicate(k, v);
      if (p) lines.push(p);
    }
    out += `${ttlIri(String(node['@id']))}\n    ${lines.join(' ;\n    ')} .\n\n`;
  }
  return out;
}

export async function dcatRoutes(app: FastifyInstance) {
  const services = app.services;
  app.get('/data.json', { schema: { hide: true } }, async (_req, reply) => reply.header('access-control-allow-origin', '*').send(await dataJson(services)));
  app.get('/catalog.jsonld', { schema: { hide: true } }, async (_req, reply) =>
    reply.header('access-control-allow-origin', '*').type('application/ld+json; charset=utf-8').send(JSON.stringify(await dcatJsonLd(services))),
  );
  app.get('/catalog.ttl', { schema: { hide: true } }, async (_req, reply) =>
    reply.header('access-control-allow-origin', '*').type('text/turtle; charset=utf-8').send(toTurtle(await dcatJsonLd(services))),
  );
}

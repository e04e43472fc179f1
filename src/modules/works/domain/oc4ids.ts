/**
 * OC4IDS 0.9 projects and OCDS 1.1 releases from our projects, and projects from OC4IDS.
 * Pure functions: the store gathers the rows, these shape them to the standard. The schema
 * rejects empty strings and empty arrays, so every optional field is left out when blank.
 */
import type { ProjectInput, Contractor, Amendment, Photo, BudgetRef } from './project';
import { absoluteBudgetUrl, parseBudgetRef } from './budgetref';
import { STAGES as STAGE_LIST, WORK_TYPES, fold, inCityBox, parseType, type Stage, type WorkType } from './normalise';
import { safeUrl } from './csv';
import { isShape, representativePoint } from './geometry';

export const OC4IDS_VERSION = '0.9';
/** The city's OCDS/OC4IDS prefix; a real deployment registers its own with the Open Contracting Partnership. */
export const DEFAULT_PREFIX = 'oc4ids-cabildo';

export interface ExportProject {
  id: number;
  externalId: string;
  name: string;
  description: string;
  type: string;
  rawType: string | null;
  programme: { slug: string; name: string } | null;
  office: { id: number | null; name: string } | null;
  stage: string;
  progress: number | null;
  startDate: string | null;
  plannedEnd: string | null;
  currentPlannedEnd: string | null;
  actualEnd: string | null;
  communes: number[];
  neighbourhood: string | null;
  address: string | null;
  lat: number | null;
  lng: number | null;
  geometry: GeoJSON.Geometry | null;
  workers: number | null;
  funding: string | null;
  procurementMethod: string | null;
  procedureType: string | null;
  procedureNumber: string | null;
  tenderYear: number | null;
  contractors: Contractor[];
  contractAmount: number | null;
  currency: string;
  bidders: number | null;
  fileNumber: string | null;
  tenderDocsUrl: string | null;
  environmentalStudyUrl: string | null;
  link: string | null;
  photos: Array<Photo & { id: number }>;
  amendments: Array<Amendment & { id: number }>;
  progressHistory: Array<{ id: number; at: Date; progress: number }>;
  pbRef: BudgetRef | null;
  /** Documents the office attached (absolute URLs: uploaded PDFs are served by this site). */
  documents: Array<{ id: number; title: string; documentType: string; url: string; format: string | null; datePublished: Date }>;
  updatedAt: Date;
}

/** Our stage (finer than the projectStatus codelist: tendering, paused) as an additional classification. */
export const STAGE_SCHEME = 'Cabildo-works-stage';

/** The scheme of a BA Elige project in relatedProjects (the codelist is open; "oc4ids" is for OC4IDS ids). */
export const BA_ELIGE_SCHEME = 'BA-Elige';

export interface ExportContext {
  /** Absolute base URL of the site, e.g. https://cabildo.example.org */
  baseUrl: string;
  prefix: string;
  cityName: string;
}

const STATUS: Record<Stage, string> = {
  planned: 'preparation',
  tendering: 'implementation',
  in_progress: 'implementation',
  paused: 'implementation',
  finished: 'completion',
  cancelled: 'cancelled',
};

const SECTOR: Record<WorkType, string | null> = {
  school: 'education',
  health: 'health',
  public_space: 'cultureSportsAndRecreation',
  housing: 'socialHousing',
  transport: 'transport.urban',
  hydraulic: 'naturalResources.floodProtection',
  architecture: 'governance',
  infrastructure: 'economy',
  other: null,
};

const SECTOR_BACK: Record<string, WorkType> = Object.fromEntries(
  Object.entries(SECTOR)
    .filter(([, v]) => v)
    .map(([k, v]) => [v!, k as WorkType]),
);

const dt = (d: string | null | undefined) => (d ? `${d}T00:00:00Z` : undefined);
const nonEmpty = <T>(a: T[]) => (a.length ? a : undefined);
const str = (s: string | null | undefined) => (s && s.trim() ? s.trim() : undefined);

function clean<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}

function partyId(c: Contractor, i: number): string {
  return c.cuit ? `AR-CUIT-${c.cuit.replace(/-/g, '')}` : `contractor-${i + 1}`;
}

function officeId(o: { id: number | null; name: string }): string {
  return o.id !== null ? `office-${o.id}` : `office-${o.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 40)}`;
}

export function ocid(ctx: ExportContext, p: ExportProject): string {
  return `${ctx.prefix}-${p.externalId}`;
}

/** One project in OC4IDS. */
export function toOc4ids(p: ExportProject, ctx: ExportContext): Record<string, unknown> {
  const parties: Record<string, unknown>[] = [];
  if (p.office) parties.push(clean({ id: officeId(p.office), name: p.office.name, roles: ['publicAuthority', 'procuringEntity', 'buyer'] }));
  p.contractors.forEach((c, i) => {
    parties.push(
      clean({
        id: partyId(c, i),
        name: str(c.name) ?? (c.cuit ? `CUIT ${c.cuit}` : `Contractor ${i + 1}`),
        identifier: c.cuit ? { scheme: 'AR-CUIT', id: c.cuit.replace(/-/g, '') } : undefined,
        roles: ['supplier'],
      }),
    );
  });
  if (p.funding) parties.push({ id: 'funder-1', name: p.funding, roles: ['funder'] });

  const locations: Record<string, unknown>[] = [];
  if (p.geometry || (p.lat !== null && p.lng !== null)) {
    locations.push(
      clean({
        id: '1',
        description: str(p.address),
        geometry: p.geometry ?? { type: 'Point', coordinates: [p.lng!, p.lat!] },
        address: clean({
          streetAddress: str(p.address),
          locality: str(p.neighbourhood) ?? ctx.cityName,
          region: p.communes.length ? `Comuna ${p.communes.join(', ')}` : undefined,
          countryName: 'Argentina',
        }),
      }),
    );
  } else if (p.address || p.communes.length) {
    locations.push({
      id: '1',
      address: clean({ streetAddress: str(p.address), locality: str(p.neighbourhood) ?? ctx.cityName, region: p.communes.length ? `Comuna ${p.communes.join(', ')}` : undefined, countryName: 'Argentina' }),
    });
  }

  const documents: Record<string, unknown>[] = [];
  for (const ph of p.photos) {
    documents.push(clean({ id: `photo-${ph.id}`, documentType: 'illustration', title: str(ph.caption) ?? p.name, url: ph.url, datePublished: dt(ph.takenOn), format: 'image/jpeg' }));
  }
  if (p.environmentalStudyUrl) documents.push({ id: 'environmental-study', documentType: 'environmentalImpact', url: p.environmentalStudyUrl });
  if (p.link) documents.push({ id: 'project-page', documentType: 'projectScope', title: p.name, url: p.link });
  for (const d of p.documents) {
    documents.push(clean({ id: `document-${d.id}`, documentType: d.documentType, title: d.title, url: d.url, datePublished: d.datePublished.toISOString(), format: d.format ?? undefined }));
  }

  const metrics: Record<string, unknown>[] = [];
  if (p.workers !== null) {
    metrics.push({ id: 'workers', title: 'Workers employed', observations: [{ id: 'workers-1', measure: p.workers, unit: { name: 'workers' } }] });
  }
  if (p.progressHistory.length) {
    metrics.push({
      id: 'physicalProgress',
      title: 'Physical progress',
      observations: p.progressHistory.map((h) => ({ id: `progress-${h.id}`, measure: h.progress, unit: { name: 'percent' }, period: { startDate: h.at.toISOString(), endDate: h.at.toISOString() } })),
    });
  }

  const contracting: Record<string, unknown>[] = [];
  if (p.contractAmount !== null || p.contractors.length || p.procedureNumber) {
    // Each extension moves the end on from where the previous one left it (as the amendment form does).
    let end = p.plannedEnd;
    const modifications = p.amendments.map((a) => {
      const from = end;
      if (end && a.extraMonths) end = addDays(end, Math.round(a.extraMonths * 30.44));
      return clean({
        id: `amendment-${a.id}`,
        date: dt(a.date),
        description: str(a.reason),
        type: a.extraAmount && a.extraMonths ? 'scope' : a.extraAmount ? 'value' : 'duration',
        oldContractValue: p.contractAmount !== null && a.extraAmount ? { amount: p.contractAmount, currency: p.currency } : undefined,
        newContractValue: p.contractAmount !== null && a.extraAmount ? { amount: p.contractAmount + a.extraAmount, currency: p.currency } : undefined,
        oldContractPeriod: from && a.extraMonths ? { endDate: dt(from) } : undefined,
        newContractPeriod: from && a.extraMonths ? { endDate: dt(end) } : undefined,
      });
    });
    const extra = p.amendments.reduce((s, a) => s + a.extraAmount, 0);
    contracting.push({
      id: ocid(ctx, p),
      summary: clean({
        ocid: ocid(ctx, p),
        externalReference: str(p.procedureNumber),
        nature: ['construction'],
        title: p.name,
        status: p.stage === 'finished' || p.stage === 'cancelled' ? 'closed' : p.stage === 'planned' || p.stage === 'tendering' ? 'pre-award' : 'active',
        tender: clean({
          procurementMethod: p.procurementMethod ?? undefined,
          procurementMethodDetails: str(p.procedureType),
          numberOfTenderers: p.bidders ?? undefined,
          procuringEntity: p.office ? { id: officeId(p.office), name: p.office.name } : undefined,
        }),
        suppliers: nonEmpty(p.contractors.map((c, i) => clean({ id: partyId(c, i), name: str(c.name) ?? (c.cuit ? `CUIT ${c.cuit}` : `Contractor ${i + 1}`) }))),
        contractValue: p.contractAmount !== null ? { amount: p.contractAmount, currency: p.currency } : undefined,
        contractPeriod: p.startDate || p.currentPlannedEnd ? clean({ startDate: dt(p.startDate), endDate: dt(p.currentPlannedEnd) }) : undefined,
        finalValue: p.stage === 'finished' && p.contractAmount !== null ? { amount: p.contractAmount + extra, currency: p.currency } : undefined,
        documents: p.tenderDocsUrl ? [{ id: 'tender-documents', documentType: 'biddingDocuments', url: p.tenderDocsUrl }] : undefined,
        modifications: nonEmpty(modifications),
      }),
    });
  }

  const additional: Record<string, unknown>[] = [];
  if (p.rawType) additional.push({ scheme: 'BA-Obras-tipo', id: p.rawType, description: p.rawType });
  additional.push({ scheme: 'Cabildo-works-type', id: p.type });
  additional.push({ scheme: STAGE_SCHEME, id: p.stage });
  if (p.fileNumber) additional.push({ scheme: 'AR-CABA-expediente', id: p.fileNumber });
  const sector = SECTOR[p.type as WorkType];

  return clean({
    id: ocid(ctx, p),
    updated: p.updatedAt.toISOString(),
    language: 'es',
    identifiers: [{ id: p.externalId, scheme: 'BA-Obras' }],
    publicAuthority: p.office ? { id: officeId(p.office), name: p.office.name } : undefined,
    title: p.name,
    description: str(p.description),
    status: STATUS[p.stage as Stage],
    type: projectType(p.name, p.rawType),
    sector: sector ? [sector] : undefined,
    purpose: p.programme ? p.programme.name : undefined,
    additionalClassifications: additional,
    locations: nonEmpty(locations),
    budget: p.contractAmount !== null ? { amount: { amount: p.contractAmount, currency: p.currency } } : undefined,
    period: p.startDate || p.currentPlannedEnd ? clean({ startDate: dt(p.startDate), endDate: dt(p.currentPlannedEnd) }) : undefined,
    completion: p.stage === 'finished' && (p.actualEnd || p.contractAmount !== null)
      ? clean({ endDate: dt(p.actualEnd), finalValue: p.contractAmount !== null ? { amount: p.contractAmount + p.amendments.reduce((s, a) => s + a.extraAmount, 0), currency: p.currency } : undefined })
      : undefined,
    parties: nonEmpty(parties),
    documents: nonEmpty(documents),
    metrics: nonEmpty(metrics),
    contractingProcesses: nonEmpty(contracting),
    // The participatory-budgeting project residents voted for, that this work builds.
    relatedProjects: p.pbRef
      ? [
          clean({
            id: 'ba-elige',
            scheme: BA_ELIGE_SCHEME,
            identifier: p.pbRef.id ?? absoluteBudgetUrl(p.pbRef.url, ctx.baseUrl),
            relationship: 'participatoryBudgeting',
            title: str(p.pbRef.title),
            uri: absoluteBudgetUrl(p.pbRef.url, ctx.baseUrl),
          }),
        ]
      : undefined,
  });
}

const PROJECT_TYPES: Array<[RegExp, string]> = [
  [/\b(puesta en valor|readecuacion|renovacion|remodelacion|restauracion|refaccion|rehabilitacion|recuperacion|reparacion|reacondicionamiento|refuncionalizacion|mejoras?|mantenimiento|revalorizacion|reciclaje)\b/, 'rehabilitation'],
  [/\b(ampliacion|extension|prolongacion)\b/, 'expansion'],
  [/\b(reemplazo|sustitucion|recambio|renovacion de (la )?red)\b/, 'replacement'],
  [/\b(demolicion|desmantelamiento|desactivacion)\b/, 'decommissioning'],
];

/**
 * The OC4IDS projectType (a closed codelist) from the work's name and BA type: the kind of work
 * named first wins ("Ampliación y puesta en valor" → expansion); a new building is construction.
 */
export function projectType(name: string, rawType: string | null): string {
  const text = fold(`${name} ${rawType ?? ''}`);
  let best: { at: number; type: string } | null = null;
  for (const [re, type] of PROJECT_TYPES) {
    const m = re.exec(text);
    if (m && (!best || m.index < best.at)) best = { at: m.index, type };
  }
  return best?.type ?? 'construction';
}

function addDays(iso: string, days: number): string {
  const d = new Date(`${iso}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

export function packageHeader(ctx: ExportContext, uri: string, publishedDate: Date) {
  return { uri, publisher: { name: ctx.cityName }, publishedDate: publishedDate.toISOString(), version: OC4IDS_VERSION };
}

/** One OCDS release for the project's contracting process. */
export function toOcdsRelease(p: ExportProject, ctx: ExportContext): Record<string, unknown> {
  const parties: Record<string, unknown>[] = [];
  const buyer = p.office ? { id: officeId(p.office), name: p.office.name } : undefined;
  if (p.office) parties.push({ id: officeId(p.office), name: p.office.name, roles: ['buyer', 'procuringEntity'] });
  const suppliers = p.contractors.map((c, i) => clean({ id: partyId(c, i), name: str(c.name) ?? (c.cuit ? `CUIT ${c.cuit}` : `Contractor ${i + 1}`) }));
  p.contractors.forEach((c, i) =>
    parties.push(clean({ ...suppliers[i], identifier: c.cuit ? { scheme: 'AR-CUIT', id: c.cuit.replace(/-/g, '') } : undefined, roles: ['supplier'] })),
  );
  const value = p.contractAmount !== null ? { amount: p.contractAmount, currency: p.currency } : undefined;
  const tag = p.stage === 'planned' ? ['planning'] : p.stage === 'tendering' ? ['tender'] : ['contract'];
  const release: Record<string, unknown> = clean({
    ocid: ocid(ctx, p),
    id: `${ocid(ctx, p)}-${p.updatedAt.toISOString().replace(/[^0-9]/g, '').slice(0, 14)}`,
    date: p.updatedAt.toISOString(),
    tag,
    initiationType: 'tender',
    language: 'es',
    parties: nonEmpty(parties),
    buyer,
    tender: clean({
      id: str(p.procedureNumber) ?? `${p.externalId}-tender`,
      title: p.name,
      description: str(p.description),
      status: p.stage === 'cancelled' ? 'cancelled' : p.stage === 'tendering' ? 'active' : p.stage === 'planned' ? 'planned' : 'complete',
      procuringEntity: buyer,
      procurementMethod: p.procurementMethod ?? undefined,
      procurementMethodDetails: str(p.procedureType),
      mainProcurementCategory: 'works',
      numberOfTenderers: p.bidders ?? undefined,
      documents: p.tenderDocsUrl ? [{ id: 'tender-documents', documentType: 'biddingDocuments', url: p.tenderDocsUrl }] : undefined,
    }),
    awards: suppliers.length
      ? [clean({ id: `${p.externalId}-award`, status: 'active', suppliers, value })]
      : undefined,
    contracts: suppliers.length
      ? [
          clean({
            id: `${p.externalId}-contract`,
            awardID: `${p.externalId}-award`,
            title: p.name,
            status: p.stage === 'finished' ? 'terminated' : p.stage === 'cancelled' ? 'cancelled' : 'active',
            value,
            period: p.startDate || p.currentPlannedEnd ? clean({ startDate: dt(p.startDate), endDate: dt(p.currentPlannedEnd) }) : undefined,
            amendments: nonEmpty(p.amendments.map((a) => clean({ id: `amendment-${a.id}`, date: dt(a.date), rationale: str(a.reason), description: `+${a.extraAmount} ${p.currency}, +${a.extraMonths} months` }))),
          }),
        ]
      : undefined,
  });
  return release;
}

export class Oc4idsError extends Error {}

// ---- Reading OC4IDS: every field we keep is checked for its type and its codelist before any
// of it is stored; a package that breaks a rule is refused whole, saying where.

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);
function bad(where: string, what: string): never {
  throw new Oc4idsError(`${where}: ${what}`);
}
function optObj(v: unknown, where: string): Obj | undefined {
  if (v === undefined || v === null) return undefined;
  return isObj(v) ? v : bad(where, 'must be an object');
}
function objects(v: unknown, where: string): Obj[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) bad(where, 'must be an array');
  return v.map((x, i) => (isObj(x) ? x : bad(`${where}[${i}]`, 'must be an object')));
}
function optText(v: unknown, where: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') bad(where, 'must be text');
  return v.trim() || null;
}
/** A real calendar date (2020-02-31 is not), from an OC4IDS date-time; null when absent. */
function optDate(v: unknown, where: string): string | null {
  const s = optText(v, where);
  if (s === null) return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T[\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$/.exec(s);
  const d = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : null;
  if (!m || !d || d.toISOString().slice(0, 10) !== `${m[1]}-${m[2]}-${m[3]}`) bad(where, `"${s}" is not a real date`);
  return `${m[1]}-${m[2]}-${m[3]}`;
}
/** Only http(s) addresses become links (a javascript: URL would run in the reader's page). */
function optUrl(v: unknown, where: string): string | null {
  const s = optText(v, where);
  if (s === null) return null;
  return safeUrl(s) ?? bad(where, `"${s.slice(0, 80)}" is not an http(s) address`);
}
function optNumber(v: unknown, where: string, opts: { integer?: boolean; max?: number } = {}): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(where, 'must be a number');
  if (v < 0) bad(where, `${v} is negative`);
  if (opts.integer && !Number.isInteger(v)) bad(where, `${v} is not a whole number`);
  if (opts.max !== undefined && v > opts.max) bad(where, `${v} is above ${opts.max}`);
  return v;
}
const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));
function optValue(v: unknown, where: string): { amount: number; currency: string | null } | null {
  const o = optObj(v, where);
  if (!o) return null;
  const amount = optNumber(o.amount, `${where}.amount`);
  const currency = optText(o.currency, `${where}.currency`);
  if (currency !== null && !CURRENCIES.has(currency)) bad(`${where}.currency`, `"${currency}" is not an ISO 4217 currency code`);
  return amount === null ? null : { amount, currency };
}
const METHODS = ['open', 'selective', 'limited', 'direct'] as const;
const STATUS_BACK: Record<string, Stage> = {
  identification: 'planned',
  preparation: 'planned',
  implementation: 'in_progress',
  completion: 'finished',
  maintenance: 'finished',
  decommissioning: 'finished',
  decommissioned: 'finished',
  cancelled: 'cancelled',
};
const GEOMETRY_DEPTH: Record<string, number> = { Point: 0, MultiPoint: 1, LineString: 1, MultiLineString: 2, Polygon: 2, MultiPolygon: 3 };
/** A GeoJSON geometry of a known type whose every position is a [lng, lat] inside the city. */
function optGeometry(v: unknown, where: string): GeoJSON.Geometry | null {
  const g = optObj(v, where);
  if (!g) return null;
  const depth = typeof g.type === 'string' ? GEOMETRY_DEPTH[g.type] : undefined;
  if (depth === undefined) bad(`${where}.type`, `"${String(g.type)}" is not a GeoJSON geometry type this site keeps (Point, MultiPoint, LineString, MultiLineString, Polygon, MultiPolygon)`);
  const walk = (c: unknown, d: number, at: string): void => {
    if (!Array.isArray(c) || (d > 0 && !c.length)) bad(at, 'malformed coordinates');
    if (d > 0) return c.forEach((x, i) => walk(x, d - 1, `${at}[${i}]`));
    if (c.length < 2 || typeof c[0] !== 'number' || typeof c[1] !== 'number' || !Number.isFinite(c[0]) || !Number.isFinite(c[1])) bad(at, 'a position must be [longitude, latitude]');
    // Points are placed against the communes by the store; lines and areas at least in the city's box.
    if (depth > 0 && g.type !== 'MultiPoint' && !inCityBox(c[1], c[0])) bad(at, `${c[1]}, ${c[0]} is outside the city`);
  };
  walk(g.coordinates, depth, `${where}.coordinates`);
  return g as unknown as GeoJSON.Geometry;
}

/** Projects from an OC4IDS project package (ours or another publisher's). */
export function fromOc4idsPackage(pkg: unknown): ProjectInput[] {
  if (!isObj(pkg) || !Array.isArray(pkg.projects)) throw new Oc4idsError('not an OC4IDS project package: no "projects" array');
  const seen = new Set<string>();
  return pkg.projects.map((raw, i) => {
    if (!isObj(raw)) bad(`project ${i + 1}`, 'must be an object');
    const p = raw;
    if (typeof p.id !== 'string' || !p.id) throw new Oc4idsError(`project ${i + 1} has no id`);
    const at = `project ${p.id}`;
    if (typeof p.title !== 'string' || !p.title.trim()) throw new Oc4idsError(`${at} has no title`);
    const cps = objects(p.contractingProcesses, `${at}: contractingProcesses`);
    const cp = optObj(cps[0]?.summary, `${at}: contractingProcesses[0].summary`) ?? {};
    const cpAt = `${at}: contractingProcesses[0].summary`;
    const tender = optObj(cp.tender, `${cpAt}.tender`) ?? {};
    const locs = objects(p.locations, `${at}: locations`);
    const geometries = locs.map((l, k) => optGeometry(l.geometry, `${at}: locations[${k}].geometry`));
    // Every point of every location: a work on several sites comes back as one MultiPoint.
    const pts: Array<[number, number]> = [];
    for (const g of geometries) {
      const list = g?.type === 'Point' ? [g.coordinates] : g?.type === 'MultiPoint' ? g.coordinates : [];
      for (const c of list) pts.push([c[0], c[1]]);
    }
    // A line or an area (a street, a park) stands in lists and the commune check by one of its vertices.
    const shape = pts.length ? null : (geometries.find(isShape) ?? null);
    const point = pts[0] ?? representativePoint(shape);
    const address = optObj(locs[0]?.address, `${at}: locations[0].address`) ?? {};
    const related = objects(p.relatedProjects, `${at}: relatedProjects`);
    const pbRaw = related.find((r) => r.scheme === BA_ELIGE_SCHEME);
    const pbRef = pbRaw ? parseBudgetRef(String(pbRaw.uri ?? pbRaw.identifier ?? ''), typeof pbRaw.title === 'string' ? pbRaw.title : null) : undefined;
    if (pbRaw && !pbRef) throw new Oc4idsError(`${at}: the BA Elige related project has no readable uri`);
    const classes = objects(p.additionalClassifications, `${at}: additionalClassifications`);
    const classId = (scheme: string) => optText(classes.find((c) => c.scheme === scheme)?.id, `${at}: additionalClassifications ${scheme}`);
    const rawType = classId('BA-Obras-tipo');
    const ourType = classId('Cabildo-works-type');
    if (p.sector !== undefined && (!Array.isArray(p.sector) || p.sector.some((x) => typeof x !== 'string'))) bad(`${at}: sector`, 'must be a list of codes');
    const sector = Array.isArray(p.sector) ? (p.sector[0] as string | undefined) : undefined;
    const type: WorkType = ourType && (WORK_TYPES as readonly string[]).includes(ourType) ? (ourType as WorkType) : rawType ? parseType(rawType) : ((sector ? SECTOR_BACK[sector] : undefined) ?? 'other');
    const parties = objects(p.parties, `${at}: parties`);
    const roles = (o: Obj) => (Array.isArray(o.roles) ? o.roles : []);
    const suppliers = parties.filter((o) => roles(o).includes('supplier'));
    const authorityRef = optObj(p.publicAuthority, `${at}: publicAuthority`);
    const authority = optText(parties.find((o) => authorityRef && o.id === authorityRef.id)?.name ?? authorityRef?.name, `${at}: publicAuthority.name`);
    const metrics = objects(p.metrics, `${at}: metrics`);
    const observations = (id: string) => objects(metrics.find((m) => m.id === id)?.observations, `${at}: metrics ${id}.observations`);
    const workers = optNumber(observations('workers')[0]?.measure, `${at}: metrics workers`, { integer: true });
    const progressObs = observations('physicalProgress');
    const lastRaw = progressObs.length ? progressObs[progressObs.length - 1].measure : null;
    const lastProgress = lastRaw === null || lastRaw === undefined ? null : Number(lastRaw);
    if (lastProgress !== null && (!Number.isFinite(lastProgress) || lastProgress < 0 || lastProgress > 100)) {
      throw new Oc4idsError(`${at}: progress ${String(lastRaw)} is outside 0–100`);
    }
    if (p.status !== undefined && !(typeof p.status === 'string' && p.status in STATUS_BACK)) bad(`${at}: status`, `"${String(p.status)}" is not in the projectStatus codelist`);
    const stages = objects(classes.filter((c) => c.scheme === STAGE_SCHEME), `${at}: additionalClassifications`);
    const ourStage = stages.length && typeof stages[0].id === 'string' && (STAGE_LIST as readonly string[]).includes(stages[0].id) ? (stages[0].id as Stage) : undefined;
    const cpStatus = optText(cp.status, `${cpAt}.status`);
    // Our own stage rides along as a classification: tendering and paused survive the round trip.
    const stage: Stage = ourStage ?? (p.status === 'implementation' && cpStatus === 'pre-award' ? 'tendering' : (STATUS_BACK[p.status as string] ?? (cpStatus === 'pre-award' ? 'tendering' : 'in_progress')));
    const period = optObj(p.period, `${at}: period`) ?? {};
    const contractPeriod = optObj(cp.contractPeriod, `${cpAt}.contractPeriod`) ?? {};
    const completion = optObj(p.completion, `${at}: completion`) ?? {};
    const region = optText(address.region, `${at}: locations[0].address.region`) ?? '';
    const contractValue = optValue(cp.contractValue, `${cpAt}.contractValue`);
    const budget = optValue(optObj(p.budget, `${at}: budget`)?.amount, `${at}: budget.amount`);
    const original = contractValue?.amount ?? budget?.amount ?? null;
    const amendments: Amendment[] = objects(cp.modifications, `${cpAt}.modifications`).map((m, k) => {
      const mAt = `${cpAt}.modifications[${k}]`;
      const oldV = optValue(m.oldContractValue, `${mAt}.oldContractValue`);
      const newV = optValue(m.newContractValue, `${mAt}.newContractValue`);
      const oldEnd = optDate(optObj(m.oldContractPeriod, `${mAt}.oldContractPeriod`)?.endDate, `${mAt}.oldContractPeriod.endDate`);
      const newEnd = optDate(optObj(m.newContractPeriod, `${mAt}.newContractPeriod`)?.endDate, `${mAt}.newContractPeriod.endDate`);
      const extraAmount = oldV && newV ? newV.amount - oldV.amount : 0;
      const extraMonths = oldEnd && newEnd ? monthsBetween(oldEnd, newEnd) : 0;
      if (extraAmount < 0 || extraMonths < 0) bad(mAt, 'a modification that lowers the value or shortens the period is not an amendment this site records');
      return { date: optDate(m.date, `${mAt}.date`), extraAmount, extraMonths, reason: optText(m.description, `${mAt}.description`) ?? optText(m.rationale, `${mAt}.rationale`) ?? '' };
    });
    const method = optText(tender.procurementMethod, `${cpAt}.tender.procurementMethod`);
    if (method !== null && !(METHODS as readonly string[]).includes(method)) bad(`${cpAt}.tender.procurementMethod`, `"${method}" is not one of ${METHODS.join(', ')}`);
    const identifiers = objects(p.identifiers, `${at}: identifiers`);
    const externalId = optText(identifiers.find((x) => x.scheme === 'BA-Obras')?.id, `${at}: identifiers BA-Obras`) ?? p.id;
    if (!/^[\w.-]{1,120}$/.test(externalId)) bad(`${at}: identifiers`, `unreadable id "${externalId.slice(0, 40)}"`);
    if (seen.has(externalId)) throw new Oc4idsError(`${at} appears twice in the package`);
    seen.add(externalId);
    const documents = objects(p.documents, `${at}: documents`);
    const docUrl = (list: Obj[], type: string, where: string) => {
      const k = list.findIndex((d) => d.documentType === type);
      return k < 0 ? null : optUrl(list[k].url, `${where}[${k}].url`);
    };
    const cpDocs = objects(cp.documents, `${cpAt}.documents`);
    const currency = contractValue?.currency ?? budget?.currency ?? 'ARS';
    const funder = parties.find((o) => roles(o).includes('funder'));
    return {
      externalId,
      name: p.title.trim(),
      description: optText(p.description, `${at}: description`) ?? '',
      type,
      rawType,
      programme: optText(p.purpose, `${at}: purpose`),
      officeName: authority,
      stage,
      progress: lastProgress ?? (stage === 'finished' ? 100 : null),
      startDate: optDate(period.startDate, `${at}: period.startDate`),
      plannedEnd: optDate(period.endDate, `${at}: period.endDate`),
      currentPlannedEnd: optDate(contractPeriod.endDate, `${cpAt}.contractPeriod.endDate`) ?? optDate(period.endDate, `${at}: period.endDate`),
      actualEnd: optDate(completion.endDate, `${at}: completion.endDate`),
      durationMonths: null,
      communes: (region.match(/\d+/g) ?? []).map(Number).filter((n) => n >= 1 && n <= 15),
      neighbourhood: optText(address.locality, `${at}: locations[0].address.locality`),
      address: optText(address.streetAddress, `${at}: locations[0].address.streetAddress`),
      lat: point ? point[1] : null,
      lng: point ? point[0] : null,
      geometry: pts.length > 1 ? { type: 'MultiPoint', coordinates: pts } : shape,
      sites: null,
      workers,
      beneficiaries: null,
      funding: funder ? optText(funder.name, `${at}: funder name`) : null,
      participatory: !!pbRef,
      commitment: false,
      featured: false,
      procurementMethod: method as ProjectInput['procurementMethod'],
      procedureType: optText(tender.procurementMethodDetails, `${cpAt}.tender.procurementMethodDetails`),
      procedureNumber: optText(cp.externalReference, `${cpAt}.externalReference`),
      tenderYear: null,
      contractors: suppliers.map((o, k) => {
        const ident = optObj(o.identifier, `${at}: parties supplier ${k + 1}.identifier`);
        return {
          name: optText(o.name, `${at}: parties supplier ${k + 1}.name`),
          cuit: ident?.scheme === 'AR-CUIT' ? String(ident.id).replace(/^(\d{2})(\d{8})(\d)$/, '$1-$2-$3') : null,
        };
      }),
      contractAmount: original,
      currency,
      bidders: optNumber(tender.numberOfTenderers, `${cpAt}.tender.numberOfTenderers`, { integer: true }),
      fileNumber: classId('AR-CABA-expediente'),
      tenderDocsUrl: docUrl(cpDocs, 'biddingDocuments', `${cpAt}.documents`),
      environmentalStudyUrl: docUrl(documents, 'environmentalImpact', `${at}: documents`),
      link: docUrl(documents, 'projectScope', `${at}: documents`),
      photos: documents.flatMap((d, k) =>
        d.documentType === 'illustration'
          ? [{ url: optUrl(d.url, `${at}: documents[${k}].url`) ?? bad(`${at}: documents[${k}]`, 'an illustration needs a url'), caption: optText(d.title, `${at}: documents[${k}].title`), takenOn: optDate(d.datePublished, `${at}: documents[${k}].datePublished`) }]
          : [],
      ),
      amendments,
      ...(pbRef ? { pbRef } : {}),
    } satisfies ProjectInput;
  });
}

/** Whole and half months from one ISO date to a later one (an amendment's extension). */
function monthsBetween(from: string, to: string): number {
  const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86400000;
  return Math.round((days / 30.44) * 2) / 2;
}

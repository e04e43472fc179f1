/**
 * OC4IDS 0.9 projects and OCDS 1.1 releases from our projects, and projects from OC4IDS.
 * Pure functions: the store gathers the rows, these shape them to the standard. The schema
 * rejects empty strings and empty arrays, so every optional field is left out when blank.
 */
import type { ProjectInput, Contractor, Amendment, Photo, BudgetRef } from './project';
import { absoluteBudgetUrl, parseBudgetRef } from './budgetref';
import { WORK_TYPES, parseType, type Stage, type WorkType } from './normalise';

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
  updatedAt: Date;
}

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
    const modifications = p.amendments.map((a) =>
      clean({
        id: `amendment-${a.id}`,
        date: dt(a.date),
        description: str(a.reason),
        type: a.extraAmount && a.extraMonths ? 'scope' : a.extraAmount ? 'value' : 'duration',
        oldContractValue: p.contractAmount !== null && a.extraAmount ? { amount: p.contractAmount, currency: p.currency } : undefined,
        newContractValue: p.contractAmount !== null && a.extraAmount ? { amount: p.contractAmount + a.extraAmount, currency: p.currency } : undefined,
      }),
    );
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

/** Projects from an OC4IDS project package (ours or another publisher's). */
export function fromOc4idsPackage(pkg: unknown): ProjectInput[] {
  if (!pkg || typeof pkg !== 'object' || !Array.isArray((pkg as { projects?: unknown }).projects)) {
    throw new Oc4idsError('not an OC4IDS project package: no "projects" array');
  }
  const seen = new Set<string>();
  return ((pkg as { projects: unknown[] }).projects).map((raw, i) => {
    const p = raw as Record<string, any>;
    if (!p || typeof p.id !== 'string' || !p.id) throw new Oc4idsError(`project ${i + 1} has no id`);
    if (typeof p.title !== 'string' || !p.title.trim()) throw new Oc4idsError(`project ${p.id} has no title`);
    const cp = Array.isArray(p.contractingProcesses) ? p.contractingProcesses[0]?.summary ?? {} : {};
    const locs: any[] = Array.isArray(p.locations) ? p.locations : [];
    const loc = locs[0];
    // Every point of every location: a work on several sites comes back as one MultiPoint.
    const pts: Array<[number, number]> = [];
    for (const l of locs) {
      const g = l?.geometry;
      const list = g?.type === 'Point' ? [g.coordinates] : g?.type === 'MultiPoint' ? g.coordinates : [];
      for (const c of Array.isArray(list) ? list : []) {
        if (Array.isArray(c) && typeof c[0] === 'number' && typeof c[1] === 'number') pts.push([c[0], c[1]]);
      }
    }
    const point = pts[0] ?? null;
    const related: any[] = Array.isArray(p.relatedProjects) ? p.relatedProjects : [];
    const pbRaw = related.find((r) => r?.scheme === BA_ELIGE_SCHEME);
    const pbRef = pbRaw ? parseBudgetRef(String(pbRaw.uri ?? pbRaw.identifier ?? ''), typeof pbRaw.title === 'string' ? pbRaw.title : null) : undefined;
    if (pbRaw && !pbRef) throw new Oc4idsError(`project ${p.id}: the BA Elige related project has no readable uri`);
    const classes = Array.isArray(p.additionalClassifications) ? p.additionalClassifications : [];
    const rawType = classes.find((c: any) => c.scheme === 'BA-Obras-tipo')?.id ?? null;
    const ourType = classes.find((c: any) => c.scheme === 'Cabildo-works-type')?.id;
    const sector = Array.isArray(p.sector) ? p.sector[0] : undefined;
    const type: WorkType = (WORK_TYPES as readonly string[]).includes(ourType) ? ourType : rawType ? parseType(rawType) : (SECTOR_BACK[sector] ?? 'other');
    const parties: any[] = Array.isArray(p.parties) ? p.parties : [];
    const suppliers = parties.filter((o) => Array.isArray(o.roles) && o.roles.includes('supplier'));
    const authority = parties.find((o) => o.id === p.publicAuthority?.id)?.name ?? p.publicAuthority?.name ?? null;
    const workers = (p.metrics ?? []).find((m: any) => m.id === 'workers')?.observations?.[0]?.measure;
    const progressObs = (p.metrics ?? []).find((m: any) => m.id === 'physicalProgress')?.observations ?? [];
    const lastProgress = progressObs.length ? Number(progressObs[progressObs.length - 1].measure) : null;
    const stageBack: Record<string, Stage> = { identification: 'planned', preparation: 'planned', implementation: 'in_progress', completion: 'finished', maintenance: 'finished', decommissioning: 'finished', decommissioned: 'finished', cancelled: 'cancelled' };
    const stage = stageBack[p.status as string] ?? (cp.status === 'pre-award' ? 'tendering' : 'in_progress');
    const date = (s: unknown) => (typeof s === 'string' && /^\d{4}-\d{2}-\d{2}/.test(s) ? s.slice(0, 10) : null);
    const region: string = loc?.address?.region ?? '';
    const original = typeof cp.contractValue?.amount === 'number' ? cp.contractValue.amount : typeof p.budget?.amount?.amount === 'number' ? p.budget.amount.amount : null;
    const amendments: Amendment[] = (cp.modifications ?? []).map((m: any) => ({
      date: date(m.date),
      extraAmount: m.newContractValue && m.oldContractValue ? Number(m.newContractValue.amount) - Number(m.oldContractValue.amount) : 0,
      extraMonths: 0,
      reason: m.description ?? m.rationale ?? '',
    }));
    if (lastProgress !== null && (!Number.isFinite(lastProgress) || lastProgress < 0 || lastProgress > 100)) {
      throw new Oc4idsError(`project ${p.id}: progress ${lastProgress} is outside 0–100`);
    }
    const externalId = (Array.isArray(p.identifiers) && p.identifiers.find((x: any) => x.scheme === 'BA-Obras')?.id) || p.id;
    if (seen.has(String(externalId))) throw new Oc4idsError(`project ${p.id} appears twice in the package`);
    seen.add(String(externalId));
    return {
      externalId: String(externalId),
      name: p.title.trim(),
      description: p.description ?? '',
      type,
      rawType,
      programme: typeof p.purpose === 'string' ? p.purpose : null,
      officeName: authority,
      stage,
      progress: lastProgress ?? (stage === 'finished' ? 100 : null),
      startDate: date(p.period?.startDate),
      plannedEnd: date(p.period?.endDate),
      currentPlannedEnd: date(cp.contractPeriod?.endDate ?? p.period?.endDate),
      actualEnd: date(p.completion?.endDate),
      durationMonths: null,
      communes: (region.match(/\d+/g) ?? []).map(Number).filter((n) => n >= 1 && n <= 15),
      neighbourhood: loc?.address?.locality ?? null,
      address: loc?.address?.streetAddress ?? null,
      lat: point ? point[1] : null,
      lng: point ? point[0] : null,
      geometry: pts.length > 1 ? { type: 'MultiPoint', coordinates: pts } : pts.length === 0 && loc?.geometry ? loc.geometry : null,
      sites: null,
      workers: typeof workers === 'number' ? workers : null,
      beneficiaries: null,
      funding: parties.find((o) => o.roles?.includes('funder'))?.name ?? null,
      participatory: !!pbRef,
      commitment: false,
      featured: false,
      procurementMethod: cp.tender?.procurementMethod ?? null,
      procedureType: cp.tender?.procurementMethodDetails ?? null,
      procedureNumber: cp.externalReference ?? null,
      tenderYear: null,
      contractors: suppliers.map((o) => ({ name: o.name ?? null, cuit: o.identifier?.scheme === 'AR-CUIT' ? String(o.identifier.id).replace(/^(\d{2})(\d{8})(\d)$/, '$1-$2-$3') : null })),
      contractAmount: original,
      currency: cp.contractValue?.currency ?? p.budget?.amount?.currency ?? 'ARS',
      bidders: typeof cp.tender?.numberOfTenderers === 'number' ? cp.tender.numberOfTenderers : null,
      fileNumber: classes.find((c: any) => c.scheme === 'AR-CABA-expediente')?.id ?? null,
      tenderDocsUrl: (cp.documents ?? []).find((d: any) => d.documentType === 'biddingDocuments')?.url ?? null,
      environmentalStudyUrl: (p.documents ?? []).find((d: any) => d.documentType === 'environmentalImpact')?.url ?? null,
      link: (p.documents ?? []).find((d: any) => d.documentType === 'projectScope')?.url ?? null,
      photos: (p.documents ?? [])
        .filter((d: any) => d.documentType === 'illustration' && typeof d.url === 'string')
        .map((d: any) => ({ url: d.url, caption: d.title ?? null, takenOn: date(d.datePublished) })),
      amendments,
      ...(pbRef ? { pbRef } : {}),
    } satisfies ProjectInput;
  });
}

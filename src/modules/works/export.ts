import { Readable } from 'node:stream';
import type { WDb, Filters } from './store';
import { applyFilters } from './store';
import { PROJECT_COLUMNS, type ProjectRow } from './tables';
import { toOc4ids, toOcdsRelease, packageHeader, type ExportContext, type ExportProject } from './domain/oc4ids';

const BATCH = 500;

/** Rows of one batch plus their photos, amendments, progress history, programmes and documents, in five queries. */
async function hydrate(db: WDb, rows: ProjectRow[], ctx: ExportContext): Promise<ExportProject[]> {
  if (!rows.length) return [];
  const ids = rows.map((r) => r.id);
  const programmeIds = [...new Set(rows.map((r) => r.programme_id).filter((x): x is number => x !== null))];
  const [photos, amendments, progress, programmes, documents] = await Promise.all([
    db.selectFrom('works_photos').selectAll().where((eb) => eb('project_id', '=', eb.fn.any(eb.val(ids)))).orderBy('position').orderBy('id').execute(),
    db.selectFrom('works_amendments').selectAll().where((eb) => eb('project_id', '=', eb.fn.any(eb.val(ids)))).orderBy('id').execute(),
    db.selectFrom('works_progress').select(['id', 'project_id', 'at', 'progress']).where((eb) => eb('project_id', '=', eb.fn.any(eb.val(ids)))).orderBy('at').orderBy('id').execute(),
    programmeIds.length ? db.selectFrom('works_programmes').select(['id', 'slug', 'name']).where('id', 'in', programmeIds).execute() : [],
    db
      .selectFrom('works_documents')
      .select(['id', 'project_id', 'title', 'document_type', 'file_id', 'url', 'created_at'])
      .where((eb) => eb('project_id', '=', eb.fn.any(eb.val(ids))))
      .orderBy('created_at')
      .orderBy('id')
      .execute(),
  ]);
  const group = <T extends { project_id: number }>(xs: T[]) => {
    const m = new Map<number, T[]>();
    for (const x of xs) m.set(x.project_id, [...(m.get(x.project_id) ?? []), x]);
    return m;
  };
  const ph = group(photos);
  const am = group(amendments);
  const pr = group(progress);
  const dc = group(documents);
  const pg = new Map(programmes.map((p) => [p.id, p]));
  return rows.map((r) => ({
    id: r.id,
    externalId: r.external_id,
    name: r.name,
    description: r.description,
    type: r.type,
    rawType: r.raw_type,
    programme: r.programme_id ? (pg.get(r.programme_id) ?? null) : null,
    office: r.office_name ? { id: r.office_id, name: r.office_name } : null,
    stage: r.stage,
    progress: r.progress === null ? null : Number(r.progress),
    startDate: r.start_date,
    plannedEnd: r.planned_end,
    currentPlannedEnd: r.current_planned_end,
    actualEnd: r.actual_end,
    communes: r.communes,
    neighbourhood: r.neighbourhood,
    address: r.address,
    lat: r.lat,
    lng: r.lng,
    geometry: r.geometry,
    workers: r.workers,
    funding: r.funding,
    procurementMethod: r.procurement_method,
    procedureType: r.procedure_type,
    procedureNumber: r.procedure_number,
    tenderYear: r.tender_year,
    contractors: r.contractors,
    contractAmount: r.contract_amount === null ? null : Number(r.contract_amount),
    currency: r.currency,
    bidders: r.bidders,
    fileNumber: r.file_number,
    tenderDocsUrl: r.tender_docs_url,
    environmentalStudyUrl: r.environmental_study_url,
    link: r.link,
    photos: (ph.get(r.id) ?? []).flatMap((p) => {
      const url = p.file_id ? `${ctx.baseUrl}/works/photos/${p.file_id}` : p.url;
      return url ? [{ id: p.id, url, caption: p.caption, takenOn: p.taken_on }] : [];
    }),
    amendments: (am.get(r.id) ?? []).map((a) => ({ id: a.id, date: a.date, extraAmount: Number(a.extra_amount), extraMonths: Number(a.extra_months), reason: a.reason })),
    progressHistory: (pr.get(r.id) ?? []).map((h) => ({ id: h.id, at: h.at, progress: Number(h.progress) })),
    pbRef: r.pb_ref_url ? { id: r.pb_ref_id, title: r.pb_ref_title, url: r.pb_ref_url } : null,
    documents: (dc.get(r.id) ?? []).map((d) => ({
      id: d.id,
      title: d.title,
      documentType: d.document_type,
      url: d.file_id ? `${ctx.baseUrl}/works/documents/${d.file_id}` : d.url!,
      format: d.file_id ? 'application/pdf' : null,
      datePublished: d.created_at,
    })),
    updatedAt: r.updated_at,
  }));
}

/** Every matching project, a batch at a time (keyset pagination: constant memory). */
export async function* exportProjects(db: WDb, ctx: ExportContext, f: Filters = {}): AsyncGenerator<ExportProject[]> {
  let after = 0;
  for (;;) {
    const rows = await db
      .selectFrom('works_projects')
      .select(PROJECT_COLUMNS)
      .where((eb) => applyFilters(eb, f))
      .where('id', '>', after)
      .orderBy('id')
      .limit(BATCH)
      .execute();
    if (!rows.length) return;
    yield await hydrate(db, rows, ctx);
    after = rows[rows.length - 1].id;
    if (rows.length < BATCH) return;
  }
}

export async function exportOne(db: WDb, ctx: ExportContext, id: number): Promise<ExportProject | undefined> {
  const row = await db.selectFrom('works_projects').select(PROJECT_COLUMNS).where('id', '=', id).executeTakeFirst();
  return row ? (await hydrate(db, [row], ctx))[0] : undefined;
}

/** The OC4IDS project package as a stream of JSON text, written as the batches arrive. */
export function oc4idsPackageStream(db: WDb, ctx: ExportContext, uri: string, publishedDate: Date, f: Filters = {}): Readable {
  async function* chunks() {
    const head = JSON.stringify(packageHeader(ctx, uri, publishedDate));
    yield head.slice(0, -1) + ',"projects":[';
    let first = true;
    for await (const batch of exportProjects(db, ctx, f)) {
      const parts = batch.map((p) => JSON.stringify(toOc4ids(p, ctx)));
      if (!parts.length) continue;
      yield (first ? '' : ',') + parts.join(',');
      first = false;
    }
    yield ']}';
  }
  return Readable.from(chunks());
}

export function ocdsReleasePackage(p: ExportProject, ctx: ExportContext, uri: string) {
  return {
    uri,
    version: '1.1',
    publishedDate: p.updatedAt.toISOString(),
    publisher: { name: ctx.cityName },
    releases: [toOcdsRelease(p, ctx)],
  };
}

import crypto from 'node:crypto';
import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool, type Transaction } from 'kysely';
import type { Services } from '../../core/services';
import type { CoreTables } from '../../core/db/schema';
import { PROJECT_COLUMNS, type WorksTables, type ProjectRow } from './tables';
import type { BudgetRef, ProjectInput, RejectedRow } from './domain/project';
import { fold, inCityBox, slugify } from './domain/normalise';
import { THRESHOLDS, concentratedContractors, stalledCutoff, type Flag } from './domain/flags';
import { positionsOf } from './domain/geometry';
import { EDIT_GROUPS, EDIT_GROUP_NAMES, LOCATION_DERIVED, canonical, groupValue, normal, type EditGroup, type EditValues } from './domain/edit';

export type WDb = Kysely<CoreTables & WorksTables>;
type EB = ExpressionBuilder<CoreTables & WorksTables, 'works_projects'>;

export function worksDb(services: Services): WDb {
  return services.db.withTables<WorksTables>();
}

export interface ImportSummary {
  imported: number;
  updated: number;
  unchanged: number;
  rejected: RejectedRow[];
}

export function summaryLine(s: ImportSummary): string {
  return `${s.imported} imported, ${s.updated} updated, ${s.rejected.length} rejected`;
}

/** Hash of what the source says: equal hashes mean a re-import has nothing to change. */
function hashOf(p: ProjectInput): string {
  return crypto.createHash('sha256').update(JSON.stringify(p)).digest('hex');
}

/**
 * BA Obras names of bodies that are not offices of their own in the city's list, folded → the
 * office's slug. Corporación Buenos Aires Sur (a state company for the south's habitat: Los
 * Piletones, Villa Olímpica) answers to the habitat ministry; the Subsecretaría de Gestión Comunal
 * is part of the Secretaría de Atención Ciudadana y Gestión Comunal.
 */
const OFFICE_ALIASES: Record<string, string> = {
  'corporacion buenos aires sur': 'ministerio-de-desarrollo-humano-y-habitat',
  'corporacion buenos aires sur s e': 'ministerio-de-desarrollo-humano-y-habitat',
  'subsecretaria de gestion comunal': 'atencion-ciudadana',
};

/** Offices by folded name and slug, so "Secretaría de Transporte y Obras Públicas" finds 'transporte-y-obras-publicas'. */
async function officeResolver(db: WDb) {
  const offices = await db.selectFrom('offices').select(['id', 'slug', 'name']).execute();
  const cache = new Map<string, number | null>();
  return (name: string | null): number | null => {
    if (!name) return null;
    if (cache.has(name)) return cache.get(name)!;
    const f = fold(name);
    const slug = slugify(name);
    const stripped = slug.replace(/^(ministerio|secretaria|subsecretaria|instituto|agencia|direccion-general)-(de-(la-)?)?/, '');
    const alias = OFFICE_ALIASES[f];
    const hit =
      (alias ? offices.find((o) => o.slug === alias) : undefined) ??
      offices.find((o) => fold(o.name) === f || o.slug === slug) ??
      offices.find((o) => {
        const core = o.slug.replace(/^(ministerio|instituto|secretaria|agencia)-de-/, '');
        return o.slug === stripped || o.slug.endsWith(`-${stripped}`) || stripped === core || stripped.endsWith(`-${core}`);
      });
    cache.set(name, hit?.id ?? null);
    return hit?.id ?? null;
  };
}

/**
 * Imports projects in one transaction: inserts new ones, updates changed ones, leaves equal
 * ones alone, and rejects (without storing anything of them) rows placed outside the city.
 */
export async function importProjects(
  services: Services,
  inputs: ProjectInput[],
  opts: { actorId?: number | null; rejected?: RejectedRow[]; lines?: Map<string, number>; allowedOfficeIds?: number[] } = {},
): Promise<ImportSummary> {
  const db = worksDb(services);
  const rejected = [...(opts.rejected ?? [])];
  const hasCity = (await services.geo.communes()).length > 0;
  const accepted: Array<{ p: ProjectInput; communeId: number | null; hood: string | null }> = [];
  for (const p of inputs) {
    if (p.lat === null || p.lng === null) {
      accepted.push({ p, communeId: p.communes[0] ?? null, hood: p.neighbourhood });
      continue;
    }
    const locate = async (lat: number, lng: number) =>
      hasCity ? services.geo.locate(lat, lng) : inCityBox(lat, lng) ? { commune: null, neighbourhood: null } : null;
    const place = await locate(p.lat, p.lng);
    // Every point of a multi-point work, and every vertex of a line or an area, must be in the
    // city too: one misplaced position rejects the row.
    let outside: number[] | undefined = place ? undefined : [p.lat, p.lng];
    if (place && p.geometry && p.geometry.type !== 'Point') {
      for (const [lng, lat] of positionsOf(p.geometry)) {
        if (!(await locate(lat, lng))) {
          outside = [lat, lng];
          break;
        }
      }
    }
    if (!place || outside) {
      rejected.push({ line: opts.lines?.get(p.externalId) ?? 0, reason: `coordinates ${outside![0]}, ${outside![1]} are outside the city`, ref: p.externalId, code: 'outside', params: { lat: outside![0], lng: outside![1] } });
      continue;
    }
    const communes = p.communes.length ? p.communes : place.commune ? [place.commune.id] : [];
    accepted.push({ p: { ...p, communes }, communeId: communes[0] ?? place.commune?.id ?? null, hood: p.neighbourhood ?? place.neighbourhood?.name ?? null });
  }

  return db.transaction().execute(async (trx) => {
    const resolveOffice = await officeResolver(trx);
    const existing = new Map(
      (
        await trx
          .selectFrom('works_projects')
          .select(['id', 'external_id', 'source_hash', 'progress', 'office_id', 'programme_id', 'current_planned_end', 'office_edits'])
          .execute()
      ).map((r) => [r.external_id, r]),
    );
    const archived = await archivedProgrammeIds(trx);
    const archivedSlugs = new Set(
      archived.size ? (await trx.selectFrom('works_programmes').select('slug').where('id', 'in', [...archived]).execute()).map((r) => r.slug) : [],
    );
    // What the office itself recorded: an import never undoes it (see README, "Re-imports").
    const officeReported = new Set(
      (await trx.selectFrom('works_progress').select('project_id').distinct().where('source', '=', 'office').execute()).map((r) => r.project_id),
    );
    const officeAmended = new Map(
      (
        await trx
          .selectFrom('works_amendments')
          .select(['project_id', (eb) => eb.fn.sum<number>('extra_amount').as('amount'), (eb) => eb.fn.sum<number>('extra_months').as('months')])
          .where('source', '=', 'office')
          .groupBy('project_id')
          .execute()
      ).map((r) => [r.project_id, { amount: Number(r.amount ?? 0), months: Number(r.months ?? 0) }]),
    );
    const summary: ImportSummary = { imported: 0, updated: 0, unchanged: 0, rejected };
    type Todo = { p: ProjectInput; communeId: number | null; hood: string | null; officeId: number | null; hash: string; keepProgress: boolean };
    const todo: Todo[] = [];
    const reject = (p: ProjectInput, reason: string, code: string, params: Record<string, string | number> = {}) =>
      rejected.push({ line: opts.lines?.get(p.externalId) ?? 0, reason, ref: p.externalId, code, params });
    for (const a of accepted) {
      const officeId = resolveOffice(a.p.officeName);
      const old = existing.get(a.p.externalId);
      // An official imports only their own offices' projects; administrators import everything.
      if (opts.allowedOfficeIds && (officeId === null || !opts.allowedOfficeIds.includes(officeId))) {
        reject(a.p, `belongs to ${a.p.officeName ?? 'no office'}, not to your office`, 'notYours', { office: a.p.officeName ?? '—' });
        continue;
      }
      // ...and may not take over a project another office (or no office) holds by naming their own.
      if (opts.allowedOfficeIds && old && (old.office_id === null || !opts.allowedOfficeIds.includes(old.office_id))) {
        reject(a.p, `project ${a.p.externalId} already exists and belongs to another office: only that office or an administrator may change it`, 'takeover', { id: a.p.externalId });
        continue;
      }
      const hash = hashOf(a.p);
      if (old?.source_hash === hash) {
        summary.unchanged++;
        continue;
      }
      if ((old?.programme_id != null && archived.has(old.programme_id)) || (a.p.programme && archivedSlugs.has(slugify(a.p.programme)))) {
        reject(a.p, `the programme${a.p.programme ? ` "${a.p.programme}"` : ''} is archived: its works are a read-only record`, 'archived');
        continue;
      }
      const oldProgress = old?.progress == null ? null : Number(old.progress);
      // The office's own progress report wins over a file that says the same or less.
      const keepProgress = !!old && officeReported.has(old.id) && oldProgress !== null && (a.p.progress === null || a.p.progress <= oldProgress);
      if (!keepProgress && oldProgress !== null && a.p.progress !== null && a.p.progress < oldProgress && !a.p.progressReason?.trim()) {
        reject(a.p, `progress would go back from ${oldProgress} % to ${a.p.progress} % without a reason (give one in a "motivo_avance" column)`, 'backwards', { from: oldProgress, to: a.p.progress });
        continue;
      }
      todo.push({ ...a, officeId, hash, keepProgress });
    }
    if (!todo.length) return summary;

    // Programmes first, in one statement: new ones are created, existing ones kept as they are.
    const names = new Map<string, string>();
    for (const { p } of todo) if (p.programme) names.set(slugify(p.programme), p.programme);
    if (names.size) {
      await trx
        .insertInto('works_programmes')
        .values([...names].map(([slug, name]) => ({ slug, name })))
        .onConflict((oc) => oc.column('slug').doNothing())
        .execute();
    }
    const programmes = new Map(
      names.size ? (await trx.selectFrom('works_programmes').select(['id', 'slug']).where('slug', 'in', [...names.keys()]).execute()).map((r) => [r.slug, r.id]) : [],
    );

    const now = new Date();
    const rowOf = ({ p, communeId, hood, officeId, hash }: Todo) => ({
      external_id: p.externalId,
      name: p.name,
      description: p.description,
      type: p.type,
      raw_type: p.rawType,
      programme_id: p.programme ? (programmes.get(slugify(p.programme)) ?? null) : null,
      office_id: officeId,
      office_name: p.officeName,
      stage: p.stage,
      progress: p.progress,
      start_date: p.startDate,
      planned_end: p.plannedEnd,
      current_planned_end: p.currentPlannedEnd,
      actual_end: p.actualEnd,
      duration_months: p.durationMonths,
      communes: p.communes,
      commune_id: communeId,
      neighbourhood: hood,
      address: p.address,
      lat: p.lat,
      lng: p.lng,
      geometry: p.geometry ? JSON.stringify(p.geometry) : null,
      sites: p.sites,
      workers: p.workers,
      beneficiaries: p.beneficiaries,
      funding: p.funding,
      participatory: p.participatory,
      commitment: p.commitment,
      featured: p.featured,
      procurement_method: p.procurementMethod,
      procedure_type: p.procedureType,
      procedure_number: p.procedureNumber,
      tender_year: p.tenderYear,
      contractors: JSON.stringify(p.contractors),
      contractor_name: p.contractors[0]?.name ?? null,
      contractor_cuit: p.contractors[0]?.cuit ?? null,
      contract_amount: p.contractAmount,
      currency: p.currency,
      bidders: p.bidders,
      file_number: p.fileNumber,
      tender_docs_url: p.tenderDocsUrl,
      environmental_study_url: p.environmentalStudyUrl,
      link: p.link,
      extra_amount: p.amendments.reduce((s, a) => s + a.extraAmount, 0),
      extra_months: p.amendments.reduce((s, a) => s + a.extraMonths, 0),
      source_hash: hash,
      updated_at: now,
      // A file without a BA Elige link leaves the one the office set.
      ...(p.pbRef ? { pb_ref_id: p.pbRef.id, pb_ref_title: p.pbRef.title, pb_ref_url: p.pbRef.url } : {}),
    });

    const ids = new Map<string, number>();
    const progressRows: Array<{ project_id: number; progress: number; stage: string; note: string; created_by: number | null; source: string }> = [];
    const progressNote = (p: ProjectInput) => p.progressReason?.trim().slice(0, 2000) || 'import';
    const fresh = todo.filter((x) => !existing.has(x.p.externalId));
    // New projects go in a few multi-row inserts: the demo import must stay fast on PGlite.
    // last_progress_at stays empty: the import's time is not a progress report (stalled counts from the start date).
    for (let i = 0; i < fresh.length; i += 200) {
      const chunk = fresh.slice(i, i + 200);
      const rows = await trx.insertInto('works_projects').values(chunk.map(rowOf)).returning(['id', 'external_id']).execute();
      for (const r of rows) ids.set(r.external_id, r.id);
    }
    for (const x of fresh) {
      if (x.p.progress !== null) {
        progressRows.push({ project_id: ids.get(x.p.externalId)!, progress: x.p.progress, stage: x.p.stage, note: progressNote(x.p), created_by: opts.actorId ?? null, source: 'import' });
      }
    }
    summary.imported = fresh.length;

    const changed = todo.filter((x) => existing.has(x.p.externalId));
    for (const x of changed) {
      const old = existing.get(x.p.externalId)!;
      const row = rowOf(x);
      const oldProgress = old.progress === null ? null : Number(old.progress);
      const progressChanged = !x.keepProgress && x.p.progress !== null && oldProgress !== x.p.progress;
      const office = officeAmended.get(old.id);
      const set = {
        ...row,
        // The office's amendments stay, and so does the extension they gave the planned end.
        extra_amount: row.extra_amount + (office?.amount ?? 0),
        extra_months: row.extra_months + (office?.months ?? 0),
        current_planned_end:
          office && old.current_planned_end && (!row.current_planned_end || old.current_planned_end > row.current_planned_end) ? old.current_planned_end : row.current_planned_end,
        // Progress seen moving between two imports did happen: the work is not stalled.
        ...(progressChanged && oldProgress !== null && x.p.progress! > oldProgress ? { last_progress_at: now } : {}),
      };
      if (x.keepProgress) {
        delete (set as Partial<typeof set>).progress;
        delete (set as Partial<typeof set>).stage;
        delete (set as Partial<typeof set>).actual_end;
      }
      // Fields the office corrected stay while the file still says what it said when they were
      // corrected; a file that changes one is newer than the correction, and wins (README, "Re-imports").
      const edits = (old.office_edits ?? {}) as Record<string, unknown>;
      if (Object.keys(edits).length) {
        const fileRow = { ...row, geometry: x.p.geometry };
        const kept: Record<string, unknown> = {};
        for (const [g, was] of Object.entries(edits)) {
          if (!(g in EDIT_GROUPS) || canonical(groupValue(g as EditGroup, fileRow)) !== canonical(was)) continue;
          kept[g] = was;
          const cols: readonly string[] = g === 'location' ? [...EDIT_GROUPS.location, ...LOCATION_DERIVED] : EDIT_GROUPS[g as EditGroup];
          for (const c of cols) delete (set as Record<string, unknown>)[c];
        }
        (set as Record<string, unknown>).office_edits = JSON.stringify(kept);
      }
      await trx.updateTable('works_projects').set(set).where('id', '=', old.id).execute();
      ids.set(x.p.externalId, old.id);
      if (progressChanged) progressRows.push({ project_id: old.id, progress: x.p.progress!, stage: x.p.stage, note: progressNote(x.p), created_by: opts.actorId ?? null, source: 'import' });
    }
    if (changed.length) {
      const changedIds = changed.map((x) => ids.get(x.p.externalId)!);
      // Only what the previous import brought is replaced: photos and amendments of the office stay.
      await trx.deleteFrom('works_photos').where('project_id', 'in', changedIds).where('source', '=', 'import').execute();
      await trx.deleteFrom('works_amendments').where('project_id', 'in', changedIds).where('source', '=', 'import').execute();
    }
    summary.updated = changed.length;

    const photoRows = todo.flatMap((x) =>
      x.p.photos.map((ph, i) => ({ project_id: ids.get(x.p.externalId)!, url: ph.url, caption: ph.caption, taken_on: ph.takenOn, source: 'import', position: i })),
    );
    const amendmentRows = todo.flatMap((x) =>
      x.p.amendments.map((a) => ({ project_id: ids.get(x.p.externalId)!, date: a.date, extra_amount: a.extraAmount, extra_months: a.extraMonths, reason: a.reason, source: 'import' })),
    );
    for (let i = 0; i < progressRows.length; i += 500) await trx.insertInto('works_progress').values(progressRows.slice(i, i + 500)).execute();
    for (let i = 0; i < photoRows.length; i += 500) await trx.insertInto('works_photos').values(photoRows.slice(i, i + 500)).execute();
    for (let i = 0; i < amendmentRows.length; i += 500) await trx.insertInto('works_amendments').values(amendmentRows.slice(i, i + 500)).execute();
    await bumpVersion(trx);
    return summary;
  });
}

/** Programmes that are archived, or sit under an archived one: their works are a read-only record. */
export async function archivedProgrammeIds(db: Executor): Promise<Set<number>> {
  const rows = await db
    .selectFrom('works_programmes')
    .select('id')
    .where((eb) => eb.or([eb('archived', '=', true), eb('parent_id', 'in', eb.selectFrom('works_programmes as p').select('p.id').where('p.archived', '=', true))]))
    .execute();
  return new Set(rows.map((r) => r.id));
}

// ---------------------------------------------------------------- queries

export interface Filters {
  q?: string;
  type?: string;
  commune?: number;
  neighbourhood?: string;
  stage?: string;
  office?: number;
  programme?: number;
  year?: number;
  contractor?: string;
  flag?: Flag;
}

export async function concentratedSet(db: WDb | Transaction<CoreTables & WorksTables>): Promise<Set<string>> {
  const rows = await db
    .selectFrom('works_projects')
    .select(['contractor_cuit', (eb) => eb.fn.sum<number>('contract_amount').as('amount')])
    .where('contract_amount', 'is not', null)
    .groupBy('contractor_cuit')
    .execute();
  // Projects without a CUIT still count in the total the share is measured against.
  const totals = rows.map((r) => ({ cuit: r.contractor_cuit ?? '', amount: Number(r.amount ?? 0) }));
  const set = concentratedContractors(totals);
  set.delete('');
  return set;
}

export function flagCondition(eb: EB, flag: Flag, concentrated?: Set<string>): Expression<SqlBool> {
  const today = new Date().toISOString().slice(0, 10);
  switch (flag) {
    case 'cost_overrun':
      return sql<SqlBool>`(contract_amount > 0 and extra_amount > ${THRESHOLDS.costOverrunShare} * contract_amount)`;
    case 'delay':
      return sql<SqlBool>`(stage not in ('finished','cancelled') and current_planned_end < ${today} and coalesce(progress, 0) < 100)`;
    case 'stalled': {
      // No progress report yet counts from the start date (imports are not progress reports).
      const cutoff = stalledCutoff(new Date());
      return sql<SqlBool>`(stage in ('in_progress','paused') and (last_progress_at < ${cutoff} or (last_progress_at is null and start_date < ${cutoff.toISOString().slice(0, 10)})))`;
    }
    case 'single_bidder':
      return eb('bidders', '=', 1);
    case 'concentration':
      if (concentrated) return concentrated.size ? eb('contractor_cuit', 'in', [...concentrated]) : sql<SqlBool>`false`;
      return sql<SqlBool>`contractor_cuit in (select c.contractor_cuit from works_projects c where c.contractor_cuit is not null group by c.contractor_cuit having sum(c.contract_amount) >= ${THRESHOLDS.concentrationShare} * (select sum(t.contract_amount) from works_projects t))`;
  }
}

export function applyFilters(eb: EB, f: Filters, concentrated?: Set<string>): Expression<SqlBool> {
  const conds: Expression<SqlBool>[] = [];
  if (f.q) {
    conds.push(
      sql<SqlBool>`search_tsv @@ plainto_tsquery('spanish', immutable_unaccent(${f.q}))`,
    );
  }
  if (f.type) conds.push(eb('type', '=', f.type));
  if (f.commune) conds.push(sql<SqlBool>`communes @> array[${f.commune}]::integer[]`);
  if (f.neighbourhood) conds.push(sql<SqlBool>`immutable_unaccent(lower(neighbourhood)) = immutable_unaccent(lower(${f.neighbourhood}))`);
  if (f.stage) conds.push(eb('stage', '=', f.stage));
  if (f.office) conds.push(eb('office_id', '=', f.office));
  if (f.programme) {
    conds.push(
      eb.or([eb('programme_id', '=', f.programme), eb('programme_id', 'in', eb.selectFrom('works_programmes').select('id').where('parent_id', '=', f.programme))]),
    );
  }
  if (f.year) conds.push(eb.or([eb('tender_year', '=', f.year), sql<SqlBool>`left(start_date, 4) = ${String(f.year)}`]));
  if (f.contractor) {
    const c = f.contractor.trim();
    // A CUIT is stored as 30-71234567-8; people also type it without dashes, or with spaces or dots.
    const digits = c.replace(/[\s.-]/g, '');
    const cuit = /^\d{11}$/.test(digits) ? `${digits.slice(0, 2)}-${digits.slice(2, 10)}-${digits.slice(10)}` : c;
    conds.push(eb.or([eb('contractor_cuit', '=', cuit), sql<SqlBool>`contractors::text ilike ${'%' + cuit.replace(/[%_\\]/g, '\\$&') + '%'}`]));
  }
  if (f.flag) conds.push(flagCondition(eb, f.flag, concentrated));
  return eb.and(conds);
}

export const LIST_COLUMNS = [
  'id',
  'name',
  'type',
  'stage',
  'progress',
  'contract_amount',
  'currency',
  'communes',
  'neighbourhood',
  'office_name',
  'current_planned_end',
  'lat',
  'lng',
] as const;

export async function listProjects(db: WDb, f: Filters, page: number, perPage: number) {
  const base = db.selectFrom('works_projects').where((eb) => applyFilters(eb, f));
  // One round trip: the total rides along with the page's rows (count over the whole match).
  const rows = await base
    .select([...LIST_COLUMNS, sql<string>`count(*) over ()`.as('full_count')])
    .orderBy('featured', 'desc')
    .orderBy('id', 'desc')
    .limit(perPage)
    .offset((page - 1) * perPage)
    .execute();
  let total = rows.length ? Number(rows[0].full_count) : 0;
  // A page past the end has no rows to carry the total: count separately.
  if (!rows.length && page > 1) total = Number((await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  return { rows: rows.map(({ full_count: _, ...r }) => r), total };
}

export interface Totals {
  projects: number;
  investment: number;
  workers: number;
  finished: number;
}

export async function totals(db: WDb, f: Filters = {}): Promise<Totals> {
  const r = await db
    .selectFrom('works_projects')
    .where((eb) => applyFilters(eb, f))
    .select([
      (eb) => eb.fn.countAll<number>().as('projects'),
      sql<number>`coalesce(sum(contract_amount), 0)`.as('investment'),
      sql<number>`coalesce(sum(workers), 0)`.as('workers'),
      sql<number>`count(*) filter (where stage = 'finished')`.as('finished'),
    ])
    .executeTakeFirstOrThrow();
  return { projects: Number(r.projects), investment: Number(r.investment), workers: Number(r.workers), finished: Number(r.finished) };
}

export type Dimension = 'commune' | 'type' | 'office' | 'stage';

/** Project counts and amounts grouped by one dimension, largest first. */
export async function breakdown(db: WDb, dim: Dimension, f: Filters = {}): Promise<Array<{ key: string; label: string; projects: number; amount: number }>> {
  const key =
    dim === 'commune' ? sql<string>`coalesce(commune_id::text, '')` : dim === 'office' ? sql<string>`coalesce(office_name, '')` : sql<string>`${sql.ref(dim)}`;
  const rows = await db
    .selectFrom('works_projects')
    .where((eb) => applyFilters(eb, f))
    .select([key.as('key'), (eb) => eb.fn.countAll<number>().as('projects'), sql<number>`coalesce(sum(contract_amount), 0)`.as('amount')])
    .groupBy(key)
    .orderBy('projects', 'desc')
    .execute();
  return rows.map((r) => ({ key: r.key, label: r.key, projects: Number(r.projects), amount: Number(r.amount) }));
}

export interface Overview {
  totals: Totals;
  by: Record<Dimension, Array<{ key: string; projects: number; amount: number }>>;
}

/** Totals and the four breakdowns of the home page in one scan (grouping sets). */
export async function overview(db: WDb): Promise<Overview> {
  const { rows } = await sql<{ type: string | null; office: string | null; stage: string | null; g: number; projects: number; amount: number; workers: number; finished: number }>`
    select type, coalesce(office_name, '') as office, stage,
      grouping(type, coalesce(office_name, ''), stage) as g,
      count(*) as projects, coalesce(sum(contract_amount), 0) as amount, coalesce(sum(workers), 0) as workers,
      count(*) filter (where stage = 'finished') as finished
    from works_projects
    group by grouping sets ((type), (coalesce(office_name, '')), (stage), ())`.execute(db);
  const by: Overview['by'] = { commune: [], type: [], office: [], stage: [] };
  let totals: Totals = { projects: 0, investment: 0, workers: 0, finished: 0 };
  // grouping() sets one bit per column left out, in the order listed (type is the highest bit).
  for (const r of rows) {
    const item = { projects: Number(r.projects), amount: Number(r.amount) };
    const g = Number(r.g);
    if (g === 7) totals = { projects: item.projects, investment: item.amount, workers: Number(r.workers), finished: Number(r.finished) };
    else if (g === 3) by.type.push({ key: r.type!, ...item });
    else if (g === 5) by.office.push({ key: r.office ?? '', ...item });
    else if (g === 6) by.stage.push({ key: r.stage!, ...item });
  }
  // A work in several communes counts in each, as /works/projects?commune=N finds it under each.
  const { rows: perCommune } = await sql<{ commune: number; projects: number; amount: number }>`
    select c as commune, count(*) as projects, coalesce(sum(contract_amount), 0) as amount
    from works_projects, unnest(communes) as c
    group by c`.execute(db);
  by.commune = perCommune.map((r) => ({ key: String(r.commune), projects: Number(r.projects), amount: Number(r.amount) }));
  for (const list of Object.values(by)) list.sort((a, b) => b.projects - a.projects || a.key.localeCompare(b.key));
  return { totals, by };
}

// ---------------------------------------------------------------- version and caches

type Executor = WDb | Transaction<CoreTables & WorksTables>;

/**
 * Marks the works as changed, inside the writer's transaction: a cache built before the commit
 * is never served after it, in this process or any other (each reads the version per request).
 */
export async function bumpVersion(trx: Executor): Promise<void> {
  await trx
    .updateTable('works_state')
    .set({ version: sql<string>`version + 1` })
    .where('id', '=', 1)
    .execute();
}

/** The works' version: one primary-key read. */
export async function worksVersion(db: Executor): Promise<string> {
  const r = await db.selectFrom('works_state').select('version').where('id', '=', 1).executeTakeFirst();
  return String(r?.version ?? 0);
}

const cache = new Map<string, { version: string; until: number; value: Promise<unknown> }>();

/**
 * Aggregates (home figures, flag counts, filter options) reused while the works' version is the
 * same. The TTL only bounds what the clock changes on its own (the delay and stalled flags are
 * measured against today), not writes: those bump the version.
 */
export function memo<T>(key: string, version: string, ttlMs: number, fn: () => Promise<T>): Promise<T> {
  const now = Date.now();
  const hit = cache.get(key);
  if (hit && hit.version === version && hit.until > now) return hit.value as Promise<T>;
  const value = fn();
  cache.set(key, { version, until: now + ttlMs, value });
  value.catch(() => cache.delete(key));
  return value;
}

export async function getProject(db: WDb, id: number) {
  const project = await db.selectFrom('works_projects').select(PROJECT_COLUMNS).where('id', '=', id).executeTakeFirst();
  if (!project) return undefined;
  const [programme, photos, progress, amendments, office, documents] = await Promise.all([
    project.programme_id ? db.selectFrom('works_programmes').selectAll().where('id', '=', project.programme_id).executeTakeFirst() : undefined,
    db.selectFrom('works_photos').selectAll().where('project_id', '=', id).orderBy('position').orderBy('id').execute(),
    db.selectFrom('works_progress').selectAll().where('project_id', '=', id).orderBy('at').orderBy('id').execute(),
    db.selectFrom('works_amendments').selectAll().where('project_id', '=', id).orderBy('id').execute(),
    project.office_id ? db.selectFrom('offices').select(['id', 'name', 'slug']).where('id', '=', project.office_id).executeTakeFirst() : undefined,
    db.selectFrom('works_documents').select(['id', 'title', 'document_type', 'file_id', 'url', 'created_at']).where('project_id', '=', id).orderBy('created_at').orderBy('id').execute(),
  ]);
  return { project, programme, photos, progress, amendments, office, documents };
}

/** Projects within about `km` kilometres, nearest first (equirectangular distance: fine at city scale). */
export async function nearby(db: WDb, p: Pick<ProjectRow, 'id' | 'lat' | 'lng'>, km = 1, limit = 5) {
  if (p.lat === null || p.lng === null) return [];
  const dLat = km / 111;
  const dLng = km / (111 * Math.cos((p.lat * Math.PI) / 180));
  return db
    .selectFrom('works_projects')
    .select(['id', 'name', 'stage', 'type'])
    .where('id', '!=', p.id)
    .where((eb) => eb.between('lat', p.lat! - dLat, p.lat! + dLat))
    .where((eb) => eb.between('lng', p.lng! - dLng, p.lng! + dLng))
    .orderBy(sql`(lat - ${p.lat}) * (lat - ${p.lat}) + (lng - ${p.lng}) * (lng - ${p.lng})`)
    .limit(limit)
    .execute();
}

export async function programmeBySlug(db: WDb, slug: string) {
  return db.selectFrom('works_programmes').selectAll().where('slug', '=', slug).executeTakeFirst();
}

export async function archivedProgrammes(db: WDb) {
  return db.selectFrom('works_programmes').selectAll().where('archived', '=', true).where('parent_id', 'is', null).orderBy('name').execute();
}

/** Archives (or takes back) a programme: an archived programme's works are a read-only record. */
export async function setProgrammeArchived(trx: Transaction<CoreTables & WorksTables>, programmeId: number, archived: boolean): Promise<void> {
  await trx.updateTable('works_programmes').set({ archived }).where('id', '=', programmeId).execute();
  await bumpVersion(trx);
}

/** Records an official's progress update; the caller has checked the rules and the office. */
export async function addProgress(
  trx: Transaction<CoreTables & WorksTables>,
  projectId: number,
  u: { progress: number; stage: string; note: string; userId: number; photos: Array<{ fileId: string; caption: string | null }> },
) {
  const row = await trx
    .insertInto('works_progress')
    .values({ project_id: projectId, progress: u.progress, stage: u.stage, note: u.note, created_by: u.userId, source: 'office' })
    .returning('id')
    .executeTakeFirstOrThrow();
  await trx
    .updateTable('works_projects')
    .set({
      progress: u.progress,
      stage: u.stage,
      last_progress_at: new Date(),
      updated_at: new Date(),
      ...(u.stage === 'finished' ? { actual_end: new Date().toISOString().slice(0, 10) } : {}),
    })
    .where('id', '=', projectId)
    .execute();
  if (u.photos.length) {
    await trx
      .insertInto('works_photos')
      .values(u.photos.map((ph, i) => ({ project_id: projectId, progress_id: row.id, file_id: ph.fileId, caption: ph.caption, taken_on: new Date().toISOString().slice(0, 10), source: 'update', position: 100 + i })))
      .execute();
  }
  await bumpVersion(trx);
  return row.id;
}

/** Records a contract amendment and moves the project's totals and current planned end with it. */
export async function addAmendment(trx: Transaction<CoreTables & WorksTables>, project: Pick<ProjectRow, 'id' | 'current_planned_end' | 'planned_end'>, a: { date: string; extraAmount: number; extraMonths: number; reason: string }) {
  await trx.insertInto('works_amendments').values({ project_id: project.id, date: a.date, extra_amount: a.extraAmount, extra_months: a.extraMonths, reason: a.reason, source: 'office' }).execute();
  const end = project.current_planned_end ?? project.planned_end;
  let newEnd = end;
  if (end && a.extraMonths) {
    const d = new Date(`${end}T00:00:00Z`);
    d.setUTCDate(d.getUTCDate() + Math.round(a.extraMonths * 30.44));
    newEnd = d.toISOString().slice(0, 10);
  }
  await trx
    .updateTable('works_projects')
    .set((eb) => ({
      extra_amount: eb('extra_amount', '+', a.extraAmount),
      extra_months: eb('extra_months', '+', a.extraMonths),
      current_planned_end: newEnd,
      updated_at: new Date(),
    }))
    .where('id', '=', project.id)
    .execute();
  await bumpVersion(trx);
}

/** Sets (or, with null, removes) the BA Elige project a work comes from. */
export async function setBudgetRef(trx: Transaction<CoreTables & WorksTables>, projectId: number, ref: BudgetRef | null): Promise<void> {
  await trx
    .updateTable('works_projects')
    .set({
      pb_ref_id: ref?.id ?? null,
      pb_ref_title: ref?.title ?? null,
      pb_ref_url: ref?.url ?? null,
      ...(ref ? { participatory: true } : {}),
      updated_at: new Date(),
    })
    .where('id', '=', projectId)
    .execute();
  await bumpVersion(trx);
}

/** A work's data as its office corrected it (see domain/edit.ts); the caller checked the office, the values and the place. */
export async function editProject(
  trx: Transaction<CoreTables & WorksTables>,
  project: ProjectRow,
  values: EditValues,
  place: { communeId: number; neighbourhood: string | null } | null,
): Promise<{ before: Record<string, unknown>; after: Record<string, unknown> } | null> {
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  const changed: EditGroup[] = [];
  const current = project as unknown as Record<string, unknown>;
  for (const g of EDIT_GROUP_NAMES) {
    const cols = (EDIT_GROUPS[g] as readonly string[]).filter((c) => c !== 'geometry');
    const from = cols.map((c) => current[c]);
    const to = cols.map((c) => (values as unknown as Record<string, unknown>)[c]);
    if (canonical(from.map(normal)) === canonical(to.map(normal))) continue;
    changed.push(g);
    cols.forEach((c, i) => {
      before[c] = from[i] ?? null;
      after[c] = to[i] ?? null;
    });
  }
  if (!changed.length) return null;
  const set: Record<string, unknown> = {};
  for (const g of changed) for (const c of EDIT_GROUPS[g]) if (c !== 'geometry') set[c] = (values as unknown as Record<string, unknown>)[c];
  if (changed.includes('location')) {
    // The office's point replaces the source's sites, line or area: the work is where the office says.
    if (project.geometry) {
      before.geometry = project.geometry;
      set.geometry = null;
    }
    if (place) Object.assign(set, { communes: [place.communeId], commune_id: place.communeId, neighbourhood: place.neighbourhood });
  }
  // What the source said before the office's first correction of each field: what a re-import compares.
  const edits = { ...((project.office_edits ?? {}) as Record<string, unknown>) };
  for (const g of changed) if (!(g in edits)) edits[g] = groupValue(g, current);
  await trx
    .updateTable('works_projects')
    .set({ ...(set as object), office_edits: JSON.stringify(edits), updated_at: new Date() })
    .where('id', '=', project.id)
    .execute();
  await bumpVersion(trx);
  return { before, after };
}

/** A document the office attaches: an uploaded PDF (file id) or an address. */
export async function addDocument(
  trx: Transaction<CoreTables & WorksTables>,
  projectId: number,
  d: { title: string; documentType: string; fileId: string | null; url: string | null; userId: number },
): Promise<number> {
  const row = await trx
    .insertInto('works_documents')
    .values({ project_id: projectId, title: d.title, document_type: d.documentType, file_id: d.fileId, url: d.url, created_by: d.userId })
    .returning('id')
    .executeTakeFirstOrThrow();
  await trx.updateTable('works_projects').set({ updated_at: new Date() }).where('id', '=', projectId).execute();
  await bumpVersion(trx);
  return row.id;
}

/** Removes a document of a work; returns its file (for the caller to delete once committed), or undefined when there is none. */
export async function removeDocument(trx: Transaction<CoreTables & WorksTables>, projectId: number, documentId: number) {
  const row = await trx
    .deleteFrom('works_documents')
    .where('id', '=', documentId)
    .where('project_id', '=', projectId)
    .returning(['id', 'title', 'document_type', 'file_id', 'url'])
    .executeTakeFirst();
  if (!row) return undefined;
  await trx.updateTable('works_projects').set({ updated_at: new Date() }).where('id', '=', projectId).execute();
  await bumpVersion(trx);
  return row;
}

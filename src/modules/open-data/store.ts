import crypto from 'node:crypto';
import { sql, type Kysely, type Expression, type SqlBool, type ExpressionBuilder, type Selectable } from 'kysely';
import type { Services } from '../../core/services';
import type { CoreTables, OfficesTable } from '../../core/db/schema';
import type { OpenDataTables, DatasetRow, ResourceRow, ThemeRow, DatasetStatus, DictionaryField } from './tables';
import type { FacetField, FilterClause, SortSpec } from './domain/search-query';

export type OdDb = Kysely<CoreTables & OpenDataTables>;
export type Office = Selectable<OfficesTable>;

export const odDb = (services: Services): OdDb => services.db.withTables<OpenDataTables>();
/** The same connection seen with core's tables only (the audit log takes that type). */
export const coreDb = (db: OdDb): Kysely<CoreTables> => db as unknown as Kysely<CoreTables>;
export const newId = () => crypto.randomUUID();

/** Who is looking: anonymous visitors see published datasets; members also their offices' drafts. */
export interface Viewer {
  userId: number | null;
  admin: boolean;
  officeIds: number[];
  /** Offices the user administers (not only edits for): their datasets are published by them. */
  adminOfficeIds: number[];
}
export const anonymous: Viewer = { userId: null, admin: false, officeIds: [], adminOfficeIds: [] };

export function viewerOf(user: { id: number; roles: string[]; officeIds: number[]; officeAdminIds?: number[] } | null): Viewer {
  if (!user) return anonymous;
  return { userId: user.id, admin: user.roles.includes('admin'), officeIds: user.officeIds, adminOfficeIds: user.officeAdminIds ?? [] };
}

/** Editors and administrators of the office (and site administrators) change its datasets. */
export function canEdit(viewer: Viewer, officeId: number): boolean {
  return viewer.admin || viewer.officeIds.includes(officeId);
}

/** Publishing (and unpublishing) is for the office's administrators and site administrators only. */
export function canPublish(viewer: Viewer, officeId: number): boolean {
  return viewer.admin || viewer.adminOfficeIds.includes(officeId);
}

export function isPublic(d: Pick<DatasetRow, 'state' | 'status'>): boolean {
  return d.state === 'active' && d.status === 'published';
}

// ---------- offices (core's) and themes ----------

export async function findOffice(db: OdDb, ref: string | number | null | undefined): Promise<Office | undefined> {
  if (ref == null || ref === '') return undefined;
  const s = String(ref);
  return db
    .selectFrom('offices')
    .selectAll()
    .where((eb) => (/^\d+$/.test(s) ? eb.or([eb('id', '=', Number(s)), eb('slug', '=', s)]) : eb('slug', '=', s)))
    .executeTakeFirst();
}

export async function officesByIds(db: OdDb, ids: number[]): Promise<Map<number, Office>> {
  if (!ids.length) return new Map();
  const rows = await db.selectFrom('offices').selectAll().where('id', 'in', [...new Set(ids)]).execute();
  return new Map(rows.map((r) => [r.id, r]));
}

export async function allThemes(db: OdDb): Promise<ThemeRow[]> {
  return db.selectFrom('od_themes').selectAll().where('state', '=', 'active').orderBy('title').execute();
}

export async function findTheme(db: OdDb, ref: string): Promise<ThemeRow | undefined> {
  return db.selectFrom('od_themes').selectAll().where((eb) => eb.or([eb('name', '=', ref), eb('id', '=', ref)])).executeTakeFirst();
}

export async function upsertTheme(db: OdDb, t: { id?: string; name: string; title: string; description?: string; image_url?: string }): Promise<ThemeRow> {
  return db
    .insertInto('od_themes')
    .values({ id: t.id ?? newId(), name: t.name, title: t.title, description: t.description ?? '', image_url: t.image_url ?? '' })
    .onConflict((oc) =>
      // A harvested source that still uses a deleted theme brings it back.
      oc.column('name').doUpdateSet((eb) => ({ title: eb.ref('excluded.title'), description: eb.ref('excluded.description'), image_url: eb.ref('excluded.image_url'), state: 'active' })),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Sectors with their number of public datasets (the module's home). */
export async function themeCounts(db: OdDb): Promise<Array<ThemeRow & { count: number }>> {
  const rows = await db
    .selectFrom('od_themes as t')
    .selectAll('t')
    .select((eb) =>
      eb
        .selectFrom('od_datasets as d')
        .select((e) => e.fn.countAll<number>().as('n'))
        .whereRef(sql`t.name`, '=', sql`any(d.themes)`)
        .where('d.state', '=', 'active')
        .where('d.status', '=', 'published')
        .as('count'),
    )
    .where('t.state', '=', 'active')
    .orderBy('t.title')
    .execute();
  return rows.map((r) => ({ ...r, count: Number(r.count ?? 0) }));
}

// ---------- datasets ----------

export async function findDataset(db: OdDb, ref: string): Promise<DatasetRow | undefined> {
  return db.selectFrom('od_datasets').selectAll().where((eb) => eb.or([eb('name', '=', ref), eb('id', '=', ref)])).executeTakeFirst();
}

export async function resourcesOf(db: OdDb, datasetIds: string[]): Promise<Map<string, ResourceRow[]>> {
  const out = new Map<string, ResourceRow[]>();
  if (!datasetIds.length) return out;
  const rows = await db
    .selectFrom('od_resources')
    .selectAll()
    .where('dataset_id', 'in', datasetIds)
    .where('state', '=', 'active')
    .orderBy('dataset_id')
    .orderBy('position')
    .execute();
  for (const r of rows) {
    const list = out.get(r.dataset_id) ?? [];
    list.push(r);
    out.set(r.dataset_id, list);
  }
  return out;
}

export async function findResource(db: OdDb, id: string): Promise<ResourceRow | undefined> {
  return db.selectFrom('od_resources').selectAll().where('id', '=', id).where('state', '=', 'active').executeTakeFirst();
}

export interface SearchParams {
  text: string;
  filters: FilterClause[];
  sort: SortSpec[];
  rows: number;
  start: number;
  facets: FacetField[];
  facetLimit: number;
  viewer: Viewer;
  includePrivate: boolean;
}

export interface SearchResult {
  count: number;
  datasets: DatasetRow[];
  facets: Partial<Record<FacetField, Array<{ name: string; count: number; title?: string }>>>;
}

const DATASET_COLUMNS = [
  'd.id', 'd.name', 'd.title', 'd.notes', 'd.office_id', 'd.status', 'd.state', 'd.license_id', 'd.license_title', 'd.license_url',
  'd.author', 'd.author_email', 'd.maintainer', 'd.maintainer_email', 'd.url', 'd.version', 'd.accrual_periodicity', 'd.temporal',
  'd.spatial', 'd.language', 'd.issued', 'd.modified', 'd.tags', 'd.themes', 'd.extras', 'd.source', 'd.views', 'd.downloads',
  'd.creator_user_id', 'd.metadata_created', 'd.metadata_modified', 'd.res_formats',
] as const;

type DEB = ExpressionBuilder<CoreTables & OpenDataTables & { d: OpenDataTables['od_datasets'] }, 'd'>;

function visibility(eb: DEB, viewer: Viewer, includePrivate: boolean): Expression<SqlBool> {
  const published = eb.and([eb('d.state', '=', 'active'), eb('d.status', '=', 'published')]);
  if (!includePrivate || !viewer.userId) return published;
  if (viewer.admin) return eb('d.state', '=', 'active');
  if (!viewer.officeIds.length) return published;
  return eb.or([published, eb.and([eb('d.state', '=', 'active'), eb('d.office_id', 'in', viewer.officeIds)])]);
}

function clauseExpr(eb: DEB, c: FilterClause): Expression<SqlBool> {
  const vals = c.values;
  let e: Expression<SqlBool>;
  switch (c.field) {
    case 'organization':
    case 'owner_org':
      e = eb(
        'd.office_id',
        'in',
        eb.selectFrom('offices').select('offices.id').where((o) => o.or([o('offices.slug', 'in', vals), ...vals.filter((v) => /^\d+$/.test(v)).map((v) => o('offices.id', '=', Number(v)))])),
      );
      break;
    case 'groups':
    case 'theme':
      e = sql<SqlBool>`d.themes && ${sql.val(vals)}::text[]`;
      break;
    case 'tags':
      e = sql<SqlBool>`d.tags && ${sql.val(vals)}::text[]`;
      break;
    case 'res_format':
      e = sql<SqlBool>`d.res_formats && ${sql.val(vals.map((v) => v.toUpperCase()))}::text[]`;
      break;
    case 'license_id':
      e = eb('d.license_id', 'in', vals);
      break;
    case 'name':
      e = eb('d.name', 'in', vals);
      break;
    case 'id':
      e = eb('d.id', 'in', vals);
      break;
    case 'state':
      e = eb('d.state', 'in', vals as Array<'active' | 'deleted'>);
      break;
    case 'private':
      e = vals.includes('true') ? eb('d.status', '!=', 'published') : eb('d.status', '=', 'published');
      break;
  }
  return c.negate ? eb.not(e) : e;
}

function tsQuery(text: string) {
  return sql`websearch_to_tsquery('spanish', immutable_unaccent(${text}))`;
}

const SORT_COLUMNS = { title: 'title', name: 'name', metadata_modified: 'metadata_modified', metadata_created: 'metadata_created', views: 'views' } as const;

/**
 * package_search and the catalogue page in two statements: one pass over the matching rows
 * (a materialised CTE of narrow columns) gives the count, the page's ids and every facet; then
 * the page's rows. The text match runs once, not once per facet.
 */
export async function searchDatasets(db: OdDb, p: SearchParams): Promise<SearchResult> {
  const text = p.text.trim();
  const where = (eb: DEB) => {
    const vis = visibility(eb, p.viewer, p.includePrivate);
    // With a text query the GIN index must drive the scan. Wrapped this way the visibility test
    // cannot match the partial "public" index, which the planner otherwise prefers, and then
    // runs the (costly, under-priced) tsvector match on every public row.
    const parts: Expression<SqlBool>[] = [text ? sql<SqlBool>`coalesce(${vis}, false)` : vis];
    if (text) parts.push(sql<SqlBool>`d.search_vector @@ ${tsQuery(text)}`);
    for (const c of p.filters) parts.push(clauseExpr(eb, c));
    return eb.and(parts);
  };
  const ranked = text && p.sort.some((s) => s.key === 'score');
  const matched = db
    .selectFrom('od_datasets as d')
    .select(['d.id', 'd.office_id', 'd.themes', 'd.tags', 'd.license_id', 'd.res_formats', 'd.name', 'd.title', 'd.views', 'd.metadata_modified', 'd.metadata_created'])
    .select(ranked ? sql<number>`ts_rank(d.search_vector, ${tsQuery(text)})`.as('rel') : sql<number>`0::real`.as('rel'))
    .where(where);
  const order: ReturnType<typeof sql>[] = [];
  for (const s of p.sort) {
    if (s.key === 'score') {
      if (ranked) order.push(sql`rel ${sql.raw(s.dir)}`);
      continue;
    }
    order.push(sql`${sql.ref(SORT_COLUMNS[s.key])} ${sql.raw(s.dir)}`);
  }
  order.push(sql`name asc`);
  const limit = p.facetLimit < 0 ? 10000 : p.facetLimit;
  const facetSql = (f: FacetField) => {
    switch (f) {
      case 'organization':
        // Grouped by office id first: the join then touches one row per office, not per dataset.
        return sql`select o.slug as name, o.name as title, g.count from (select office_id, count(*)::int as count from m group by office_id) g
          join offices o on o.id = g.office_id order by g.count desc, o.slug limit ${limit}`;
      case 'groups':
      case 'tags':
      case 'res_format': {
        const col = sql.ref(f === 'groups' ? 'themes' : f === 'tags' ? 'tags' : 'res_formats');
        return sql`select v as name, count(*)::int as count from m, unnest(m.${col}) v group by v order by count desc, v limit ${limit}`;
      }
      case 'license_id':
        return sql`select license_id as name, count(*)::int as count from m where license_id <> '' group by license_id order by count desc, license_id limit ${limit}`;
    }
  };
  const facetCols = p.facets.map((f) => sql`(select coalesce(json_agg(x), '[]'::json) from (${facetSql(f)}) x) as ${sql.ref(`f_${f}`)}`);
  const page = p.rows > 0 ? sql`(select coalesce(json_agg(pg.id order by ${sql.join(order)}), '[]'::json) from (select * from m order by ${sql.join(order)} limit ${p.rows} offset ${p.start}) pg)` : sql`'[]'::json`;
  const statement = sql<Record<string, unknown> & { count: number; page: string[] }>`
    with m as materialized (${matched})
    select (select count(*)::int from m) as count, ${page} as page${facetCols.length ? sql`, ${sql.join(facetCols)}` : sql``}`;
  const run = async (conn: OdDb) => (await statement.execute(conn)).rows[0];
  // The planner prices a tsvector match like an integer comparison and so picks a sequential scan
  // for any common word; inside a transaction (so the setting stays on this statement) it is told
  // to use the index instead: the match then costs a GIN lookup, not one match per row.
  const agg = text
    ? await db.transaction().execute(async (trx) => {
        await sql`select set_config('enable_seqscan', 'off', true), set_config('enable_indexscan', 'off', true)`.execute(trx);
        return run(trx);
      })
    : await run(db);
  const ids = (typeof agg.page === 'string' ? JSON.parse(agg.page) : agg.page) as string[];
  const rows = ids.length ? await db.selectFrom('od_datasets as d').select(DATASET_COLUMNS).where('d.id', 'in', ids).execute() : [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  const facets: SearchResult['facets'] = {};
  for (const f of p.facets) {
    const raw = agg[`f_${f}`];
    const list = (typeof raw === 'string' ? JSON.parse(raw) : raw) as Array<{ name: string; count: number; title?: string }>;
    facets[f] = list.map((r) => ({ name: r.name, count: Number(r.count), ...(r.title ? { title: r.title } : {}) }));
  }
  return { count: Number(agg.count), datasets: ids.map((id) => byId.get(id)).filter((d): d is (typeof rows)[number] => !!d) as DatasetRow[], facets };
}

export async function listDatasetNames(db: OdDb, limit: number, offset: number): Promise<string[]> {
  const rows = await db
    .selectFrom('od_datasets')
    .select('name')
    .where('state', '=', 'active')
    .where('status', '=', 'published')
    .orderBy('name')
    .limit(limit)
    .offset(offset)
    .execute();
  return rows.map((r) => r.name);
}

/** `usage`: the most used first, views and downloads counted alike (a download is a use too). */
export async function publicDatasets(db: OdDb, opts: { limit: number; offset: number; orderBy?: 'metadata_modified' | 'usage' }): Promise<DatasetRow[]> {
  return db
    .selectFrom('od_datasets')
    .selectAll()
    .where('state', '=', 'active')
    .where('status', '=', 'published')
    .orderBy(opts.orderBy === 'usage' ? sql`views + downloads` : sql.ref('metadata_modified'), 'desc')
    .orderBy('name')
    .limit(opts.limit)
    .offset(opts.offset)
    .execute();
}

export async function allTags(db: OdDb, q?: string): Promise<string[]> {
  const r = await sql<{ tag: string }>`
    select distinct unnest(tags) as tag from od_datasets where state = 'active' and status = 'published' order by 1`.execute(db);
  const tags = r.rows.map((x) => x.tag);
  return q ? tags.filter((t) => t.toLowerCase().includes(q.toLowerCase())) : tags;
}

/** Everything a dataset holds besides its resources: what package_create/update write. */
export interface DatasetInput {
  name: string;
  title: string;
  notes: string;
  office_id: number;
  status: DatasetStatus;
  license_id: string;
  license_title: string;
  license_url: string;
  author: string;
  author_email: string;
  maintainer: string;
  maintainer_email: string;
  url: string;
  version: string;
  accrual_periodicity: string;
  temporal: string;
  spatial: string;
  language: string[];
  issued: Date | null;
  modified: Date | null;
  tags: string[];
  themes: string[];
  extras: Array<{ key: string; value: string }>;
  source: string | null;
}

export async function insertDataset(db: OdDb, input: DatasetInput, opts: { id?: string; creatorId?: number | null; created?: Date; modified?: Date } = {}): Promise<DatasetRow> {
  const now = new Date();
  return db
    .insertInto('od_datasets')
    .values({
      id: opts.id ?? newId(),
      ...input,
      extras: JSON.stringify(input.extras),
      creator_user_id: opts.creatorId ?? null,
      metadata_created: opts.created ?? now,
      metadata_modified: opts.modified ?? now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateDataset(db: OdDb, id: string, input: Partial<DatasetInput> & { state?: 'active' | 'deleted' }, modified = new Date()): Promise<DatasetRow> {
  const { extras, ...rest } = input;
  return db
    .updateTable('od_datasets')
    .set({ ...rest, ...(extras ? { extras: JSON.stringify(extras) } : {}), metadata_modified: modified })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export interface ResourceInput {
  name: string;
  description: string;
  format: string;
  mimetype: string | null;
  url: string;
  url_type: string | null;
  file_id: string | null;
  size: number | null;
  hash: string;
  fields: DictionaryField[];
  extras: Record<string, unknown>;
}

export async function insertResource(db: OdDb, datasetId: string, input: ResourceInput, opts: { id?: string; position?: number; createdBy?: number | null; created?: Date; lastModified?: Date | null } = {}): Promise<ResourceRow> {
  const position =
    opts.position ??
    Number(
      (await db.selectFrom('od_resources').select((eb) => eb.fn.countAll<number>().as('n')).where('dataset_id', '=', datasetId).executeTakeFirstOrThrow()).n,
    );
  const { id: _given, ...fields } = input as ResourceInput & { id?: string };
  const row = await db
    .insertInto('od_resources')
    .values({
      ...fields,
      id: opts.id ?? newId(),
      dataset_id: datasetId,
      position,
      fields: JSON.stringify(fields.fields),
      extras: JSON.stringify(fields.extras),
      created: opts.created ?? new Date(),
      last_modified: opts.lastModified === undefined ? new Date() : opts.lastModified,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await recordVersion(db, row, opts.createdBy ?? null);
  return row;
}

/** A new file or link becomes a new version; the old one stays downloadable. */
async function recordVersion(db: OdDb, r: ResourceRow, createdBy: number | null) {
  const last = await db
    .selectFrom('od_resource_versions')
    .select(['version', 'file_id', 'url', 'hash'])
    .where('resource_id', '=', r.id)
    .orderBy('version', 'desc')
    .executeTakeFirst();
  if (last && last.file_id === r.file_id && last.url === r.url && last.hash === r.hash) return;
  await db
    .insertInto('od_resource_versions')
    .values({ resource_id: r.id, version: (last?.version ?? 0) + 1, file_id: r.file_id, url: r.url, format: r.format, size: r.size, hash: r.hash, created_by: createdBy })
    .execute();
}

export async function updateResource(db: OdDb, id: string, input: Partial<ResourceInput> & { position?: number }, createdBy: number | null = null): Promise<ResourceRow> {
  const { fields, extras, ...rest } = input;
  const row = await db
    .updateTable('od_resources')
    .set({
      ...rest,
      ...(fields ? { fields: JSON.stringify(fields) } : {}),
      ...(extras ? { extras: JSON.stringify(extras) } : {}),
      last_modified: new Date(),
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await recordVersion(db, row, createdBy);
  return row;
}

export async function resourceVersions(db: OdDb, resourceId: string) {
  return db.selectFrom('od_resource_versions').selectAll().where('resource_id', '=', resourceId).orderBy('version', 'desc').execute();
}

export async function countView(db: OdDb, datasetId: string) {
  await db.updateTable('od_datasets').set((eb) => ({ views: eb('views', '+', 1) })).where('id', '=', datasetId).execute();
}

export async function countDownload(db: OdDb, resourceId: string, datasetId: string) {
  await db.updateTable('od_resources').set((eb) => ({ downloads: eb('downloads', '+', 1) })).where('id', '=', resourceId).execute();
  await db.updateTable('od_datasets').set((eb) => ({ downloads: eb('downloads', '+', 1) })).where('id', '=', datasetId).execute();
}

export async function datastoreInfo(db: OdDb, resourceId: string) {
  return db.selectFrom('od_datastore').selectAll().where('resource_id', '=', resourceId).executeTakeFirst();
}

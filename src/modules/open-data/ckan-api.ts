import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../core/services';
import {
  odDb,
  viewerOf,
  canEdit,
  isPublic,
  findOffice,
  findDataset,
  findResource,
  findTheme,
  allThemes,
  officesByIds,
  resourcesOf,
  searchDatasets,
  listDatasetNames,
  publicDatasets,
  allTags,
  datastoreInfo,
  themeCounts,
  type Viewer,
  type OdDb,
} from './store';
import { packageDict, resourceDict, orgDict, groupDict, CkanError, notFoundError, authError, validationError, type ResourceVersionRow } from './ckan';
import { parseFacetFields, parseFq, parseSort, splitQuery, SearchQueryError, FACET_FIELDS } from './domain/search-query';
import { searchDatastore, searchDatastoreSql, toList, DatastoreQueryError, DatastoreSqlUnavailable, SqlGuardError } from './datastore';
import { createPackage, updatePackage, deletePackage, createResource, updateResource as updateResourceAction, deleteResource, receiveUpload, discardUnused, type Upload } from './publishing';
import { datastoreCreate, datastoreUpsert, datastoreDelete, DatastoreWriteError } from './datastore-write';
import { createTheme, updateTheme, deleteTheme, asCkan } from './themes';
import type { DatasetRow, ThemeRow } from './tables';
import { NulCharacterError } from '../../core/http/guards';

type Params = Record<string, unknown>;
type Handler = (ctx: ActionContext) => Promise<unknown>;

interface ActionContext {
  services: Services;
  db: OdDb;
  params: Params;
  viewer: Viewer;
  request: FastifyRequest;
  upload?: Upload;
}

const READ: Record<string, Handler> = {};
const WRITE: Record<string, Handler> = {};

function intParam(p: Params, key: string, dflt: number, max: number): number {
  const v = p[key];
  if (v === undefined || v === null || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw validationError({ [key]: ['Invalid integer'] });
  return Math.min(n, max);
}

function boolParam(p: Params, key: string, dflt = false): boolean {
  const v = p[key];
  if (v === undefined || v === null || v === '') return dflt;
  return v === true || v === 'true' || v === 'True' || v === '1';
}

function idParam(p: Params, key = 'id'): string {
  const v = p[key] ?? (key === 'id' ? p.name : undefined);
  if (v == null || v === '') throw validationError({ [key]: ['Missing value'] });
  return String(v);
}

/** The version history of one resource, or of every resource of these datasets (one query), newest first. */
async function versionsOf(db: OdDb, of: { resourceId: string } | { datasetIds: string[] }): Promise<Map<string, ResourceVersionRow[]>> {
  const out = new Map<string, ResourceVersionRow[]>();
  if ('datasetIds' in of && !of.datasetIds.length) return out;
  const rows = await db
    .selectFrom('od_resource_versions as v')
    .innerJoin('od_resources as r', 'r.id', 'v.resource_id')
    .selectAll('v')
    .where('resourceId' in of ? 'r.id' : 'r.dataset_id', 'in', 'resourceId' in of ? [of.resourceId] : of.datasetIds)
    .orderBy('v.resource_id')
    .orderBy('v.version', 'desc')
    .execute();
  for (const v of rows) {
    const list = out.get(v.resource_id) ?? [];
    list.push(v);
    out.set(v.resource_id, list);
  }
  return out;
}

export async function packageDicts(ctx: { services: Services; db: OdDb }, datasets: DatasetRow[], knownThemes?: ThemeRow[]) {
  if (!datasets.length) return [];
  const [offices, themes, resources, versions] = await Promise.all([
    officesByIds(ctx.db, datasets.map((d) => d.office_id)),
    knownThemes ?? allThemes(ctx.db),
    resourcesOf(ctx.db, datasets.map((d) => d.id)),
    versionsOf(ctx.db, { datasetIds: datasets.map((d) => d.id) }),
  ]);
  return datasets.map((d) => packageDict(d, offices.get(d.office_id), themes, resources.get(d.id) ?? [], ctx.services.config.baseUrl, versions));
}

/** resource_show's dict, and what the write actions answer: with its version history. */
async function resourceDictOf(ctx: { services: Services; db: OdDb }, r: Parameters<typeof resourceDict>[0]) {
  return resourceDict(r, ctx.services.config.baseUrl, (await versionsOf(ctx.db, { resourceId: r.id })).get(r.id) ?? []);
}

/** A dataset the viewer may see: public ones for everybody; drafts and deleted ones for its editors. */
async function visibleDataset(ctx: ActionContext, ref: string): Promise<DatasetRow> {
  const d = await findDataset(ctx.db, ref);
  if (!d) throw notFoundError('Dataset');
  if (!isPublic(d) && !canEdit(ctx.viewer, d.office_id)) {
    if (d.state === 'deleted') throw notFoundError('Dataset');
    throw authError(`User not authorized to read package ${d.name}`);
  }
  return d;
}

// ---------- read actions ----------

READ.status_show = async ({ services }) => ({
  ckan_version: '2.10.4',
  site_title: `${services.config.cityName} · Cabildo`,
  site_description: 'Cabildo open-data portal',
  site_url: services.config.baseUrl,
  error_emails_to: null,
  locale_default: 'es',
  extensions: ['datastore', 'dcat', 'cabildo'],
});

READ.site_read = async () => true;

READ.package_list = async ({ db, params }) => listDatasetNames(db, intParam(params, 'limit', 100000, 100000), intParam(params, 'offset', 0, 10_000_000));

READ.current_package_list_with_resources = async (ctx) => {
  const rows = await publicDatasets(ctx.db, { limit: intParam(ctx.params, 'limit', 10, 1000), offset: intParam(ctx.params, 'offset', 0, 10_000_000) });
  return packageDicts(ctx, rows);
};

READ.package_search = async (ctx) => {
  const { params } = ctx;
  let facets;
  let filters;
  let sort;
  let split;
  try {
    split = splitQuery(params.q == null ? '' : String(params.q));
    filters = [...split.filters, ...parseFq(params.fq == null ? '' : String(params.fq))];
    facets = parseFacetFields(params['facet.field']);
    sort = parseSort(params.sort == null ? '' : String(params.sort));
  } catch (err) {
    if (err instanceof SearchQueryError) throw new CkanError(409, 'Search Query Error', `Search Query is invalid: ${err.message}`);
    throw err;
  }
  const rows = intParam(params, 'rows', 10, 1000);
  const start = intParam(params, 'start', 0, 10_000_000);
  const facetLimit = params['facet.limit'] === undefined ? 50 : Number(params['facet.limit']);
  if (!Number.isInteger(facetLimit)) throw validationError({ 'facet.limit': ['Invalid integer'] });
  const result = await searchDatasets(ctx.db, {
    text: split.text,
    filters,
    sort,
    rows,
    start,
    facets,
    facetLimit,
    viewer: ctx.viewer,
    includePrivate: boolParam(params, 'include_private'),
  });
  const themes = await allThemes(ctx.db);
  const displayName = (field: string, item: { name: string; title?: string }) =>
    item.title ?? (field === 'groups' ? (themes.find((t) => t.name === item.name)?.title ?? item.name) : item.name);
  const facetsOut: Record<string, Record<string, number>> = {};
  const searchFacets: Record<string, { title: string; items: Array<{ name: string; display_name: string; count: number }> }> = {};
  for (const [field, items] of Object.entries(result.facets)) {
    facetsOut[field] = Object.fromEntries(items!.map((i) => [i.name, i.count]));
    searchFacets[field] = { title: field, items: items!.map((i) => ({ name: i.name, display_name: displayName(field, i), count: i.count })) };
  }
  return {
    count: result.count,
    sort: params.sort ? String(params.sort) : 'score desc, metadata_modified desc',
    facets: facetsOut,
    search_facets: searchFacets,
    results: await packageDicts(ctx, result.datasets, themes),
  };
};

READ.package_show = async (ctx) => {
  const d = await visibleDataset(ctx, idParam(ctx.params));
  return (await packageDicts(ctx, [d]))[0];
};

READ.resource_show = async (ctx) => {
  const r = await findResource(ctx.db, idParam(ctx.params));
  if (!r) throw notFoundError('Resource');
  await visibleDataset(ctx, r.dataset_id);
  return resourceDictOf(ctx, r);
};

async function orgCounts(db: OdDb) {
  const rows = await db
    .selectFrom('od_datasets')
    .select(['office_id', (eb) => eb.fn.countAll<number>().as('n')])
    .where('state', '=', 'active')
    .where('status', '=', 'published')
    .groupBy('office_id')
    .execute();
  return new Map(rows.map((r) => [r.office_id, Number(r.n)]));
}

READ.organization_list = async ({ db, params }) => {
  const counts = await orgCounts(db);
  const offices = await db.selectFrom('offices').selectAll().orderBy('slug').execute();
  const all = boolParam(params, 'all_fields');
  return offices.map((o) => (all ? orgDict(o, counts.get(o.id) ?? 0) : o.slug));
};

READ.organization_show = async (ctx) => {
  const o = await findOffice(ctx.db, idParam(ctx.params));
  if (!o) throw notFoundError('Organization');
  const counts = await orgCounts(ctx.db);
  const dict: Record<string, unknown> = orgDict(o, counts.get(o.id) ?? 0);
  if (boolParam(ctx.params, 'include_datasets')) {
    const r = await searchDatasets(ctx.db, { text: '', filters: [{ field: 'organization', values: [o.slug], negate: false }], sort: parseSort('name asc'), rows: 1000, start: 0, facets: [], facetLimit: 0, viewer: ctx.viewer, includePrivate: true });
    dict.packages = await packageDicts(ctx, r.datasets);
  }
  return dict;
};

READ.group_list = async ({ db, params }) => {
  const themes = await themeCounts(db);
  const all = boolParam(params, 'all_fields');
  return themes.map((t) => (all ? groupDict(t, t.count) : t.name));
};

READ.group_show = async (ctx) => {
  const t = await findTheme(ctx.db, idParam(ctx.params));
  // As CKAN: a deleted group is shown to those who may manage groups only.
  if (!t || (t.state === 'deleted' && !ctx.viewer.admin)) throw notFoundError('Group');
  const counts = await themeCounts(ctx.db);
  const dict: Record<string, unknown> = groupDict(t, counts.find((c) => c.name === t.name)?.count ?? 0);
  if (boolParam(ctx.params, 'include_datasets')) {
    const r = await searchDatasets(ctx.db, { text: '', filters: [{ field: 'groups', values: [t.name], negate: false }], sort: parseSort('name asc'), rows: 1000, start: 0, facets: [], facetLimit: 0, viewer: ctx.viewer, includePrivate: false });
    dict.packages = await packageDicts(ctx, r.datasets);
  }
  return dict;
};

READ.tag_list = async ({ db, params }) => {
  const tags = await allTags(db, params.query ? String(params.query) : undefined);
  return boolParam(params, 'all_fields') ? tags.map((t) => ({ id: t, name: t, display_name: t, vocabulary_id: null })) : tags;
};

/** The resource's DataStore dictionary, if the viewer may read it: one query (this is on every datastore_search). */
async function datastoreResource(ctx: ActionContext, resourceId: string) {
  const row = await ctx.db
    .selectFrom('od_resources as r')
    .innerJoin('od_datasets as d', 'd.id', 'r.dataset_id')
    .leftJoin('od_datastore as s', 's.resource_id', 'r.id')
    .select(['r.id', 'd.name', 'd.state', 'd.status', 'd.office_id', 's.fields', 's.full_text', 's.row_count', 's.resource_id as in_datastore'])
    .where('r.id', '=', resourceId)
    .where('r.state', '=', 'active')
    .executeTakeFirst();
  if (!row) throw notFoundError('Resource');
  if (!isPublic(row) && !canEdit(ctx.viewer, row.office_id)) {
    if (row.state === 'deleted') throw notFoundError('Dataset');
    throw authError(`User not authorized to read package ${row.name}`);
  }
  if (!row.in_datastore || !row.fields) throw notFoundError(`Resource "${row.id}" was not found in the DataStore`);
  return { fields: row.fields, full_text: !!row.full_text, row_count: row.row_count ?? 0 };
}

function jsonParam(p: Params, key: string): unknown {
  const v = p[key];
  if (typeof v !== 'string') return v;
  const s = v.trim();
  if (!s.startsWith('{') && !s.startsWith('[')) return v;
  try {
    return JSON.parse(s);
  } catch {
    throw validationError({ [key]: ['Cannot parse JSON'] });
  }
}

READ.datastore_search = async (ctx) => {
  const resourceId = idParam(ctx.params, 'resource_id');
  const info = await datastoreResource(ctx, resourceId);
  const filters = jsonParam(ctx.params, 'filters');
  if (filters !== undefined && (typeof filters !== 'object' || filters === null || Array.isArray(filters))) throw validationError({ filters: ['Must be a JSON object'] });
  const q = jsonParam(ctx.params, 'q');
  try {
    const r = await searchDatastore(ctx.db, resourceId, info, {
      filters: filters as Record<string, unknown> | undefined,
      q: q as string | Record<string, string> | undefined,
      fields: toList(ctx.params.fields),
      sort: ctx.params.sort ? String(ctx.params.sort) : undefined,
      limit: intParam(ctx.params, 'limit', 100, 32000),
      offset: intParam(ctx.params, 'offset', 0, 100_000_000),
      distinct: boolParam(ctx.params, 'distinct'),
      includeTotal: boolParam(ctx.params, 'include_total', true),
      totalEstimationThreshold: ctx.params.total_estimation_threshold == null || ctx.params.total_estimation_threshold === '' ? null : intParam(ctx.params, 'total_estimation_threshold', 0, Number.MAX_SAFE_INTEGER),
      plain: boolParam(ctx.params, 'plain', true),
      language: ctx.params.language == null || ctx.params.language === '' ? undefined : String(ctx.params.language),
      rank: true,
    });
    const base = `/api/3/action/datastore_search?resource_id=${encodeURIComponent(resourceId)}`;
    return {
      include_total: boolParam(ctx.params, 'include_total', true),
      resource_id: resourceId,
      fields: r.fields,
      records_format: 'objects',
      records: r.records,
      limit: r.limit,
      offset: r.offset,
      ...(r.total !== undefined ? { total: r.total, total_was_estimated: !!r.totalWasEstimated } : {}),
      ...(ctx.params.filters !== undefined ? { filters } : {}),
      ...(ctx.params.q !== undefined ? { q } : {}),
      ...(ctx.params.sort !== undefined ? { sort: String(ctx.params.sort) } : {}),
      _links: { start: base, next: `${base}&offset=${r.offset + r.limit}` },
    };
  } catch (err) {
    if (err instanceof DatastoreQueryError) throw validationError({ [err.field ?? 'query']: [err.message] });
    // plain=false: q is tsquery syntax, which PostgreSQL parses and may refuse.
    const pg = err as { code?: string; message?: string };
    if (pg.code === '42601' && /tsquery/.test(pg.message ?? '')) throw validationError({ q: [`Invalid full-text query: ${pg.message}`] });
    throw err;
  }
};

READ.datastore_search_sql = async (ctx) => {
  const statement = ctx.params.sql;
  if (typeof statement !== 'string' || !statement.trim()) throw validationError({ sql: ['Missing value'] });
  try {
    const r = await searchDatastoreSql(ctx.services, statement, async (table, db) => {
      const res = await findResource(db, table);
      if (!res) return false;
      const d = await findDataset(db, res.dataset_id);
      return !!d && (isPublic(d) || canEdit(ctx.viewer, d.office_id)) && !!(await datastoreInfo(db, res.id));
    });
    return { sql: statement, records: r.records, fields: r.fields, records_format: 'objects', ...(r.truncated ? { records_truncated: true } : {}) };
  } catch (err) {
    if (err instanceof SqlGuardError) throw validationError({ query: [err.message] });
    if (err instanceof DatastoreSqlUnavailable) throw new CkanError(503, 'Service Unavailable', err.message);
    const e = err as { code?: string; message?: string };
    if (e.code === '57014') throw validationError({ query: ['Query took too long (statement timeout)'] });
    if (e.code && /^(42|22|25|0A)/.test(e.code)) throw validationError({ query: [e.message ?? 'Invalid query'] });
    throw err;
  }
};

// ---------- write actions ----------

function writer(ctx: ActionContext) {
  const u = ctx.request.user;
  if (!u || ctx.request.authVia !== 'token') throw authError('an API token in the Authorization header is required');
  return { user: u, actor: ctx.request.actor() };
}

WRITE.package_create = async (ctx) => {
  const w = writer(ctx);
  const d = await createPackage(ctx.services, w.actor, ctx.viewer, ctx.params);
  return (await packageDicts(ctx, [d]))[0];
};

WRITE.package_update = async (ctx) => {
  const w = writer(ctx);
  const d = await updatePackage(ctx.services, w.actor, ctx.viewer, ctx.params, 'update');
  return (await packageDicts(ctx, [d]))[0];
};

WRITE.package_patch = async (ctx) => {
  const w = writer(ctx);
  const current = await findDataset(ctx.db, idParam(ctx.params));
  if (!current) throw notFoundError('Dataset');
  const [dict] = await packageDicts(ctx, [current]);
  const merged: Params = { ...dict, ...ctx.params, id: current.id };
  if (ctx.params.resources === undefined) delete merged.resources;
  const d = await updatePackage(ctx.services, w.actor, ctx.viewer, merged, 'patch');
  return (await packageDicts(ctx, [d]))[0];
};

WRITE.package_delete = async (ctx) => {
  const w = writer(ctx);
  await deletePackage(ctx.services, w.actor, ctx.viewer, idParam(ctx.params));
  return null;
};

WRITE.resource_create = async (ctx) => {
  const w = writer(ctx);
  const r = await createResource(ctx.services, w.actor, ctx.viewer, ctx.params, ctx.upload);
  return resourceDictOf(ctx, r);
};

WRITE.resource_update = async (ctx) => {
  const w = writer(ctx);
  const r = await updateResourceAction(ctx.services, w.actor, ctx.viewer, ctx.params, ctx.upload, 'update');
  return resourceDictOf(ctx, r);
};

WRITE.resource_patch = async (ctx) => {
  const w = writer(ctx);
  const r = await updateResourceAction(ctx.services, w.actor, ctx.viewer, ctx.params, ctx.upload, 'patch');
  return resourceDictOf(ctx, r);
};

WRITE.resource_delete = async (ctx) => {
  const w = writer(ctx);
  await deleteResource(ctx.services, w.actor, ctx.viewer, idParam(ctx.params));
  return null;
};

// ---------- themes (CKAN groups): site administrators only ----------

WRITE.group_create = async (ctx) => {
  const w = writer(ctx);
  return groupDict(await createTheme(ctx.services, w.actor, ctx.viewer, ctx.params).catch(asCkan), 0);
};

WRITE.group_update = async (ctx) => {
  const w = writer(ctx);
  return groupDict(await updateTheme(ctx.services, w.actor, ctx.viewer, ctx.params, 'update').catch(asCkan));
};

WRITE.group_patch = async (ctx) => {
  const w = writer(ctx);
  return groupDict(await updateTheme(ctx.services, w.actor, ctx.viewer, ctx.params, 'patch').catch(asCkan));
};

WRITE.group_delete = async (ctx) => {
  const w = writer(ctx);
  await deleteTheme(ctx.services, w.actor, ctx.viewer, ctx.params).catch(asCkan);
  return null;
};

// ---------- DataStore writes ----------

/** The resource a DataStore write targets: its organisation's members only; uploads need force. */
async function writableResource(ctx: ActionContext, resourceId: string, force: boolean) {
  const r = await findResource(ctx.db, resourceId);
  if (!r) throw notFoundError('Resource');
  const d = await findDataset(ctx.db, r.dataset_id);
  if (!d || d.state === 'deleted') throw notFoundError('Dataset');
  if (!canEdit(ctx.viewer, d.office_id)) throw authError(`User not authorized to edit resource ${r.id}`);
  // As CKAN: a table loaded from a file is replaced on the next upload; writing to it needs force.
  if (r.url_type === 'upload' && !force) throw validationError({ 'read-only': ['Cannot edit read-only resource. Either pass "force=True" or change url_type to "datastore"'] });
  return r;
}

function writeFailure(err: unknown): never {
  if (err instanceof DatastoreWriteError) throw validationError(err.fields);
  throw err;
}

WRITE.datastore_create = async (ctx) => {
  const w = writer(ctx);
  const p = ctx.params;
  let resourceId = p.resource_id == null ? '' : String(p.resource_id);
  const resource = jsonParam(p, 'resource');
  if (!resourceId && !resource) throw validationError({ resource_id: ['Missing value'] });
  const force = boolParam(p, 'force');
  if (!resourceId) {
    if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) throw validationError({ resource: ['Must be a dictionary'] });
    // CKAN's "resource" argument: a new DataStore-only resource in the given dataset.
    const created = await createResource(ctx.services, w.actor, ctx.viewer, { ...(resource as Params), url_type: 'datastore' }, undefined, { datastoreOnly: true });
    resourceId = created.id;
  } else await writableResource(ctx, resourceId, force);
  const r = await datastoreCreate(ctx.services, resourceId, { fields: jsonParam(p, 'fields'), records: jsonParam(p, 'records'), primary_key: jsonParam(p, 'primary_key'), indexes: jsonParam(p, 'indexes') }).catch(writeFailure);
  await ctx.services.audit.record(w.actor, { action: 'datastore.create', subjectType: 'resource', subjectId: resourceId, details: { records: r.inserted } });
  return { resource_id: resourceId, fields: r.fields, method: 'insert', primary_key: r.primaryKey, ...(r.indexes.length ? { indexes: r.indexes } : {}) };
};

WRITE.datastore_upsert = async (ctx) => {
  const w = writer(ctx);
  const resourceId = idParam(ctx.params, 'resource_id');
  await writableResource(ctx, resourceId, boolParam(ctx.params, 'force'));
  const r = await datastoreUpsert(ctx.services, resourceId, { records: jsonParam(ctx.params, 'records'), method: ctx.params.method }).catch(writeFailure);
  await ctx.services.audit.record(w.actor, { action: 'datastore.upsert', subjectType: 'resource', subjectId: resourceId, details: { method: r.method, records: r.records.length } });
  return { resource_id: resourceId, method: r.method, records: r.records };
};

WRITE.datastore_delete = async (ctx) => {
  const w = writer(ctx);
  const resourceId = idParam(ctx.params, 'resource_id');
  await writableResource(ctx, resourceId, boolParam(ctx.params, 'force'));
  const filters = jsonParam(ctx.params, 'filters');
  const r = await datastoreDelete(ctx.services, resourceId, filters).catch(writeFailure);
  await ctx.services.audit.record(w.actor, { action: 'datastore.delete', subjectType: 'resource', subjectId: resourceId, details: { dropped: r.dropped, deleted: r.deleted } });
  return { resource_id: resourceId, ...(filters !== undefined ? { filters } : {}) };
};

export const CKAN_ACTIONS = { read: Object.keys(READ), write: Object.keys(WRITE) };

async function readParams(services: Services, request: FastifyRequest): Promise<{ params: Params; upload?: Upload }> {
  const params: Params = { ...((request.query as Params) ?? {}) };
  if (request.method !== 'POST') return { params };
  if (request.isMultipart()) {
    let upload: Upload | undefined;
    try {
      for await (const part of request.parts()) {
        // Multipart parts are read here, after core's check of parsed bodies: the same 400.
        const text = part.type === 'file' ? part.filename : part.value;
        if (part.fieldname.includes('\0')) throw new NulCharacterError();
        if (typeof text === 'string' && text.includes('\0')) throw new NulCharacterError(part.fieldname);
        if (part.type === 'file') {
          // Only a signed-in user's file can become a resource: an anonymous one is drained, not stored.
          if (part.fieldname === 'upload' && !upload && request.user) upload = await receiveUpload(services, part, request.user.id);
          else part.file.resume(); // another file field, or a second upload: drained, not stored
        } else params[part.fieldname] = part.value;
      }
    } catch (err) {
      // A later part failed (too many parts, a cut request): the file already stored goes too.
      await discardUnused(services, upload);
      throw err;
    }
    return { params, upload };
  }
  const body = request.body;
  if (body && typeof body === 'object' && !Array.isArray(body)) Object.assign(params, body);
  else if (body !== undefined && body !== null && body !== '') throw new CkanError(400, 'Bad Request', 'Bad request - JSON Error: request body must be a JSON object');
  return { params };
}

/**
 * An LRU of serialised answers (a Map keeps insertion order: a hit moves to the end, eviction
 * takes from the front), bounded by the characters it holds, keys included: a cap on the number
 * of entries would let anyone fill memory with large answers by varying rows/start or
 * limit/offset. Answers above `maxEntryChars` are not kept. Entries of older catalogue versions
 * are never hit again and age out.
 */
export class AnswerCache {
  enabled = true;
  private readonly entries = new Map<string, string>();
  /** Characters held (keys and answers). */
  used = 0;
  constructor(
    readonly maxChars: number,
    readonly maxEntryChars = 1_000_000,
  ) {}
  has(key: string) {
    return this.entries.has(key);
  }
  get(key: string) {
    const v = this.entries.get(key);
    if (v !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, v);
    }
    return v;
  }
  set(key: string, value: string) {
    const cost = key.length + value.length;
    if (cost > this.maxEntryChars) return;
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.entries.delete(key);
      this.used -= key.length + old.length;
    }
    this.entries.set(key, value);
    this.used += cost;
    for (const [k, v] of this.entries) {
      if (this.used <= this.maxChars) break;
      this.entries.delete(k);
      this.used -= k.length + v.length;
    }
  }
}

/**
 * 64 M characters per process: answers are JSON, mostly one byte a character in V8 (Latin-1),
 * two for answers with other characters, so at most 128 MB.
 */
export const cache = new AnswerCache(64 * 1024 * 1024);

/** datastore_search_sql calls a minute per address (OPEN_DATA_SQL_PER_MINUTE, default 60). */
export function sqlCallsPerMinute(env: NodeJS.ProcessEnv): number {
  const n = Number(env.OPEN_DATA_SQL_PER_MINUTE);
  return Number.isInteger(n) && n > 0 ? n : 60;
}

/**
 * Reads the catalogue version for the answer cache, coalescing concurrent requests: a request
 * joins a read that starts after it arrived (never one already on its way, which could predate a
 * write it must see), so under load one small query serves many requests and every answer still
 * reflects every write committed before the request came in.
 */
function versionReader(services: Services) {
  const pool = services.database.engine === 'postgres' ? services.database.pool : undefined;
  const fetchVersion = async (): Promise<number> => {
    if (pool) {
      // Straight through pg as a named (prepared) statement: this runs on every cached answer.
      const r = await pool.query<{ version: string }>({ name: 'od_catalogue_version', text: 'select version from od_catalogue_version where id = 1' });
      return Number(r.rows[0].version);
    }
    const v = await odDb(services).selectFrom('od_catalogue_version').select('version').where('id', '=', 1).executeTakeFirstOrThrow();
    return Number(v.version);
  };
  let inflight: Promise<number> | null = null;
  let queued: Promise<number> | null = null;
  const start = () => {
    const p: Promise<number> = fetchVersion().finally(() => {
      if (inflight === p) inflight = null;
    });
    inflight = p;
    return p;
  };
  const noop = () => {};
  return (): Promise<number> => {
    if (!inflight) return start();
    queued ??= inflight.then(noop, noop).then(() => {
      queued = null;
      return start();
    });
    return queued;
  };
}

/** The CKAN Action API v3 at /api/3/action/<action>, with CKAN's envelope and status codes. */
export async function ckanApi(app: FastifyInstance) {
  const services = app.services;
  const help = (action: string) => `${services.config.baseUrl}/api/3/action/help_show?name=${action}`;
  const readVersion = versionReader(services);
  // datastore_search_sql plans (and may run) a statement that can cost seconds, and PGlite has one
  // thread: calls are counted per address in core's rate-limit store (Redis when REDIS_URL is set).
  const sqlLimit = app.createRateLimit({ max: sqlCallsPerMinute(process.env), timeWindow: '1 minute', keyGenerator: (request) => `od-sql:${request.ip}` });
  const admitSql = async (request: FastifyRequest, reply: FastifyReply) => {
    const res = await sqlLimit(request);
    if (res.isAllowed || !res.isExceeded) return;
    const wait = Math.max(1, res.ttlInSeconds);
    reply.header('retry-after', String(wait));
    throw new CkanError(429, 'Too Many Requests', `Too many datastore_search_sql calls from this address (at most ${res.max} a minute): try again in ${wait} s`);
  };

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, request, reply: FastifyReply) => {
    const action = (request.params as { action?: string })?.action ?? '';
    let e: CkanError;
    if (err instanceof CkanError) e = err;
    else if (err instanceof NulCharacterError) e = new CkanError(400, 'Validation Error', err.message, err.field ? { [err.field]: [err.message] } : undefined);
    else if (err.code === 'FST_REQ_FILE_TOO_LARGE' || err.code === 'FST_PARTS_LIMIT' || err.code === 'FST_FILES_LIMIT' || err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      e = new CkanError(413, 'Validation Error', 'Upload too large', { upload: [`The file is larger than the limit of ${services.config.uploadLimitBytes} bytes`] });
    else if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') e = new CkanError(400, 'Bad Request', 'Bad request - JSON Error: could not parse the request body as JSON');
    else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') e = new CkanError(400, 'Bad Request', 'Bad request - unsupported content type');
    else if (err.code === 'FST_CSRF_INVALID_TOKEN' || err.code === 'FST_CSRF_MISSING_SECRET') e = authError('missing or invalid CSRF token');
    else if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) e = new CkanError(err.statusCode, 'Bad Request', err.message);
    else {
      request.log.error({ err }, 'CKAN action failed');
      e = new CkanError(500, 'Internal Server Error', 'Internal server error');
    }
    return reply.code(e.status).type('application/json; charset=utf-8').send({ help: help(action), success: false, error: e.body() });
  });

  const handle = async (request: FastifyRequest, reply: FastifyReply) => {
    const { action } = request.params as { action: string };
    const read = Object.hasOwn(READ, action) ? READ[action] : undefined;
    const write = Object.hasOwn(WRITE, action) ? WRITE[action] : undefined;
    if (!read && !write) throw new CkanError(400, 'Bad Request', `Bad request - Action name not known: ${action}`);
    if (write && request.method !== 'POST') throw new CkanError(400, 'Bad Request', 'Bad request - JSON Error: Invalid request. Please use POST method for your request');
    if (action === 'datastore_search_sql') await admitSql(request, reply);
    const { params, upload } = await readParams(services, request);
    try {
      return await act(action, read, write, params, upload, request, reply);
    } finally {
      await discardUnused(services, upload);
    }
  };
  const act = async (action: string, read: Handler | undefined, write: Handler | undefined, params: Params, upload: Upload | undefined, request: FastifyRequest, reply: FastifyReply) => {
    const viewer = viewerOf(request.user);
    const db = odDb(services);
    const ctx: ActionContext = { services, db, params, viewer, request, upload };
    // Anonymous reads of the heavy actions are cached under the catalogue's version number.
    const cacheable = cache.enabled && !request.user && (action === 'package_search' || action === 'datastore_search');
    let key = '';
    if (cacheable) {
      key = `${await readVersion()}|${action}|${JSON.stringify(params)}`;
      const hit = cache.get(key);
      if (hit) return reply.type('application/json; charset=utf-8').send(hit);
    }
    const result = await (read ?? write)!(ctx);
    const body = JSON.stringify({ help: help(action), success: true, result });
    if (cacheable) cache.set(key, body);
    return reply.type('application/json; charset=utf-8').send(body);
  };
  const config = { csrf: false as const };
  app.get('/api/3/action/:action', { schema: { hide: true }, config }, handle);
  app.post('/api/3/action/:action', { schema: { hide: true }, config }, handle);
  app.get('/api/3', { schema: { hide: true } }, async () => ({ version: 3 }));
}

export const facetFieldsList = FACET_FIELDS;

import path from 'node:path';
import { Readable } from 'node:stream';
import type { Services } from '../../core/services';
import type { Actor } from '../../core/audit';
import { UploadError, type StoredFile } from '../../core/files';
import type { MultipartFile } from '@fastify/multipart';
import {
  odDb,
  canEdit,
  canPublish,
  findOffice,
  findDataset,
  findResource,
  insertDataset,
  updateDataset,
  insertResource,
  updateResource as storeUpdateResource,
  resourcesOf,
  type Viewer,
  type OdDb,
  type DatasetInput,
} from './store';
import { coreDb } from './store';
import { parsePackage, parseResource, validationError, notFoundError, authError, CkanError } from './ckan';
import { loadDatastore, dropDatastore, LoadError } from './datastore';
import { TABULAR_FORMATS, jsonAsCsv, xlsxAsCsv } from './tabular-sources';
import type { DatasetRow, DatasetStatus, ResourceRow, DictionaryField } from './tables';
import type { JobContext } from '../../core/jobs';
import { sql } from 'kysely';

/**
 * An uploaded file: either already streamed into the file store (`file`, from a multipart
 * request: see receiveUpload) or bytes in hand (`data`: the seed, tests).
 */
export interface Upload {
  data?: Buffer;
  file?: StoredFile;
  filename: string;
  mimetype?: string;
  /** Set once a resource took the stored file; an upload nobody took is discarded (discardUnused). */
  kept?: boolean;
}

/**
 * Streams a multipart file part into the file store, never holding it whole in memory. The part
 * has to be consumed while the request is read, that is before the action knows who may keep
 * it: the caller discards it with discardUnused when no resource took it.
 */
export async function receiveUpload(services: Services, part: MultipartFile, userId: number | null): Promise<Upload> {
  let file: StoredFile;
  try {
    file = await services.files.putStream(part.file, path.basename(part.filename || 'upload'), { createdBy: userId, contentType: part.mimetype });
  } catch (err) {
    throw uploadFailure(err);
  }
  // Past its limit the multipart reader cuts the part short instead of failing it.
  if (part.file.truncated) {
    await discardFile(services, file.id);
    throw uploadFailure(new UploadError('too_large', `File larger than ${services.files.limitBytes} bytes`));
  }
  return { file, filename: part.filename || 'upload', mimetype: part.mimetype };
}

/** Removes the stored file of an upload that no resource took (a refused or unrelated request). */
export async function discardUnused(services: Services, upload: Upload | undefined): Promise<void> {
  if (upload?.file && !upload.kept) await discardFile(services, upload.file.id);
}

function uploadFailure(err: unknown) {
  if (err instanceof UploadError) return new CkanError(err.code === 'too_large' ? 413 : 409, 'Validation Error', err.message, { upload: [err.message] });
  if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') return uploadFailure(new UploadError('too_large', (err as Error).message));
  return err;
}

type Params = Record<string, unknown>;

/**
 * Tabular uploads above this size (bytes) are loaded into the DataStore by a job of the core
 * queue instead of inside the request; OPEN_DATA_LOAD_JOB_BYTES changes it (default 5 MB).
 */
export const loadSettings = { jobThresholdBytes: Number(process.env.OPEN_DATA_LOAD_JOB_BYTES) || 5 * 1024 * 1024 };
export const LOAD_JOB = 'open-data.datastore-load';

export async function queueLoad(services: Services, resourceId: string, fileId: string, format: string, dictionary: DictionaryField[], createdBy: number | null): Promise<number> {
  return services.jobs.enqueue(LOAD_JOB, { resourceId, fileId, format, dictionary }, { createdBy });
}

/** The job: the same load as in a request, from the stored file; a failure names the row. */
export async function runLoadJob(ctx: JobContext): Promise<Record<string, unknown>> {
  const { resourceId, fileId, format, dictionary } = ctx.payload as { resourceId: string; fileId: string; format: string; dictionary: DictionaryField[] };
  const db = odDb(ctx.services);
  const r = await findResource(db, resourceId);
  if (!r) throw new Error(`Resource ${resourceId} no longer exists`);
  // A newer upload queued its own load: this file is an old version now.
  if (r.file_id !== fileId) return { skipped: 'a newer file replaced this one' };
  await ctx.progress(0.05, `Loading ${r.name || r.id} (${format}) into the DataStore`);
  const raw = () => ctx.services.files.storage.read(fileId) as Readable;
  const open = format === 'XLSX' ? xlsxAsCsv(raw) : format === 'JSON' ? await jsonAsCsv(raw) : raw;
  const loaded = await loadDatastore(ctx.services, resourceId, open, { dictionary });
  await ctx.log(`${loaded.rows} rows loaded (${loaded.encoding}, delimiter "${loaded.delimiter}")`);
  return { resourceId, rows: loaded.rows, encoding: loaded.encoding, delimiter: loaded.delimiter };
}

/** The newest DataStore load job of each resource (what the pages link to while it runs or after it fails). */
export async function loadJobs(db: OdDb, resourceIds: string[]): Promise<Map<string, { id: number; status: string; error: string | null }>> {
  const out = new Map<string, { id: number; status: string; error: string | null }>();
  if (!resourceIds.length) return out;
  const rows = await db
    .selectFrom('jobs')
    .select(['id', 'status', 'error', sql<string>`payload->>'resourceId'`.as('resource_id')])
    .where('kind', '=', LOAD_JOB)
    .where(sql<string>`payload->>'resourceId'`, 'in', resourceIds)
    .orderBy('id', 'desc')
    .execute();
  for (const r of rows) if (!out.has(r.resource_id)) out.set(r.resource_id, { id: r.id, status: r.status, error: r.error });
  return out;
}


async function checkThemes(db: OdDb, themes: string[]) {
  if (!themes.length) return;
  const found = await db.selectFrom('od_themes').select(['name', 'id']).where('state', '=', 'active').where((eb) => eb.or([eb('name', 'in', themes), eb('id', 'in', themes)])).execute();
  const missing = themes.filter((t) => !found.some((f) => f.name === t || f.id === t));
  if (missing.length) throw validationError({ groups: missing.map((m) => `Group "${m}" does not exist`) });
  return themes.map((t) => found.find((f) => f.name === t || f.id === t)!.name);
}

function statusFrom(priv: boolean | null, current?: DatasetStatus): DatasetStatus {
  if (priv === null) return current ?? 'published';
  if (priv) return current && current !== 'published' ? current : 'draft';
  return 'published';
}

/**
 * The workflow's rule: an office's editors write drafts and send them to review; publishing or
 * unpublishing is for its administrators. Through the API, an editor's dataset that does not say
 * `private` goes to review (CKAN's default, public, is not theirs to choose); `private: false`
 * from an editor is refused.
 */
function checkedStatus(viewer: Viewer, officeId: number, officeSlug: string, priv: boolean | null, current?: DatasetStatus): DatasetStatus {
  const wanted = statusFrom(priv, current);
  if (canPublish(viewer, officeId) || (wanted === 'published') === (current === 'published')) return wanted;
  if (!current && priv === null) return 'review';
  throw authError(`User not authorized to ${wanted === 'published' ? 'publish' : 'unpublish'} datasets of organization ${officeSlug}: only its administrators may (send it with private: true; they publish it)`);
}

/** package_create: the office (owner_org) must exist and the caller must be one of its members. */
export async function createPackage(services: Services, actor: Actor, viewer: Viewer, params: Params, opts: { status?: DatasetStatus } = {}): Promise<DatasetRow> {
  const parsed = parsePackage(params);
  const db = odDb(services);
  if (!parsed.ownerOrg) throw validationError({ owner_org: ['Missing value: a dataset belongs to an organization'] });
  const office = await findOffice(db, parsed.ownerOrg);
  if (!office) throw validationError({ owner_org: ['Organization does not exist'] });
  if (!canEdit(viewer, office.id)) throw authError(`User not authorized to add dataset to organization ${office.slug}`);
  const themes = (await checkThemes(db, parsed.input.themes)) ?? [];
  const resources = (parsed.resources ?? []).map((r) => parseResource(r as Params, { requireUrl: false }));
  return db.transaction().execute(async (trx) => {
    if (await findDataset(trx, parsed.input.name)) throw validationError({ name: ['That URL is already in use.'] });
    const input: DatasetInput = { ...parsed.input, themes, office_id: office.id, status: opts.status ?? checkedStatus(viewer, office.id, office.slug, parsed.private), source: null };
    const d = await insertDataset(trx, input, { id: parsed.id && !(await findDataset(trx, parsed.id)) ? parsed.id : undefined, creatorId: viewer.userId });
    let pos = 0;
    for (const r of resources) await insertResource(trx, d.id, r, { position: pos++, createdBy: viewer.userId });
    await services.audit.record(actor, { action: 'dataset.create', subjectType: 'dataset', subjectId: d.id, officeId: office.id, details: { name: d.name, status: d.status } }, coreDb(trx));
    return d;
  });
}

/** package_update replaces every field (package_patch merges before calling this). */
export async function updatePackage(services: Services, actor: Actor, viewer: Viewer, params: Params, mode: 'update' | 'patch' | 'edit'): Promise<DatasetRow> {
  const db = odDb(services);
  const ref = params.id ?? params.name;
  if (ref == null || ref === '') throw validationError({ id: ['Missing value'] });
  const current = await findDataset(db, String(ref));
  if (!current) throw notFoundError('Dataset');
  if (!canEdit(viewer, current.office_id)) throw authError(`User not authorized to edit package ${current.name}`);
  const parsed = parsePackage({ name: current.name, ...params, id: undefined });
  let office = await findOffice(db, current.office_id);
  if (parsed.ownerOrg) {
    office = await findOffice(db, parsed.ownerOrg);
    if (!office) throw validationError({ owner_org: ['Organization does not exist'] });
    if (!canEdit(viewer, office.id)) throw authError(`User not authorized to move the dataset to organization ${office.slug}`);
  }
  const officeId = office?.id ?? current.office_id;
  const status = checkedStatus(viewer, officeId, office?.slug ?? '', parsed.private, current.status);
  // As CKAN: an update keeps the dataset's state; only an explicit "state" undeletes (or deletes) it.
  const state = params.state === 'active' || params.state === 'deleted' ? params.state : current.state;
  if (state !== current.state) checkedStateChange(viewer, current, state, status, { id: officeId, slug: office?.slug ?? '' });
  const themes = (await checkThemes(db, parsed.input.themes)) ?? [];
  const resources = parsed.resources?.map((r) => parseResource(r as Params, { requireUrl: false }));
  return db.transaction().execute(async (trx) => {
    if (parsed.input.name !== current.name && (await findDataset(trx, parsed.input.name))) throw validationError({ name: ['That URL is already in use.'] });
    const d = await updateDataset(trx, current.id, { ...parsed.input, themes, office_id: officeId, status, state });
    if (resources) {
      // A resources list replaces the dataset's: matched by id, new ones added, missing ones deleted.
      const existing = (await resourcesOf(trx, [current.id])).get(current.id) ?? [];
      const keep = new Set<string>();
      let pos = 0;
      for (const r of resources) {
        const match = r.id ? existing.find((e) => e.id === r.id) : undefined;
        if (match) {
          const { id: _id, ...rest } = r;
          const fromUpload = match.url_type === 'upload' && (!rest.url || rest.url.includes(`/resource/${match.id}/download`));
          await storeUpdateResource(trx, match.id, fromUpload ? { ...rest, url: match.url, url_type: 'upload', file_id: match.file_id, size: match.size, hash: match.hash, position: pos++ } : { ...rest, position: pos++ }, viewer.userId);
          keep.add(match.id);
        } else {
          const created = await insertResource(trx, current.id, r, { position: pos++, createdBy: viewer.userId, id: r.id && !(await findResource(trx, r.id)) ? r.id : undefined });
          keep.add(created.id);
        }
      }
      for (const e of existing) if (!keep.has(e.id)) await trx.updateTable('od_resources').set({ state: 'deleted' }).where('id', '=', e.id).execute();
    }
    await services.audit.record(actor, { action: `dataset.${mode}`, subjectType: 'dataset', subjectId: d.id, officeId, details: { name: d.name } }, coreDb(trx));
    return d;
  });
}

/**
 * Deleting a published dataset unpublishes it, and restoring a deleted one that is published
 * publishes it again: both are for the office's administrators (and site administrators), as
 * every other publishing move. Its editors may delete, and restore, a draft or one in review.
 */
function checkedStateChange(viewer: Viewer, current: DatasetRow, state: 'active' | 'deleted', status: DatasetStatus, office: { id: number; slug: string }) {
  if (state === 'deleted' && current.status === 'published' && !canPublish(viewer, current.office_id)) {
    throw authError(`User not authorized to delete package ${current.name}: it is published, and only the administrators of its organization may unpublish it`);
  }
  if (state === 'active' && status === 'published' && !canPublish(viewer, office.id)) {
    throw authError(`User not authorized to restore package ${current.name}: it would be published again, which only the administrators of organization ${office.slug} may do`);
  }
}

/** Soft delete, as CKAN does: the dataset leaves every list but its editors can still see it. */
export async function deletePackage(services: Services, actor: Actor, viewer: Viewer, ref: string): Promise<void> {
  const db = odDb(services);
  const d = await findDataset(db, ref);
  if (!d) throw notFoundError('Dataset');
  if (!canEdit(viewer, d.office_id)) throw authError(`User not authorized to delete package ${d.name}`);
  if (d.state !== 'deleted') checkedStateChange(viewer, d, 'deleted', d.status, { id: d.office_id, slug: '' });
  await db.transaction().execute(async (trx) => {
    await updateDataset(trx, d.id, { state: 'deleted' });
    await services.audit.record(actor, { action: 'dataset.delete', subjectType: 'dataset', subjectId: d.id, officeId: d.office_id, details: { name: d.name } }, coreDb(trx));
  });
}

/** The draft → in review → published workflow of the publishing pages. */
export async function setStatus(services: Services, actor: Actor, viewer: Viewer, ref: string, status: DatasetStatus): Promise<DatasetRow> {
  const db = odDb(services);
  const d = await findDataset(db, ref);
  if (!d || d.state === 'deleted') throw notFoundError('Dataset');
  if (!canEdit(viewer, d.office_id)) throw authError('not a member of the publishing office');
  if ((status === 'published' || d.status === 'published') && status !== d.status && !canPublish(viewer, d.office_id)) {
    throw authError('only the office administrators publish or unpublish its datasets');
  }
  return db.transaction().execute(async (trx) => {
    const row = await updateDataset(trx, d.id, { status });
    await services.audit.record(actor, { action: 'dataset.status', subjectType: 'dataset', subjectId: d.id, officeId: d.office_id, details: { from: d.status, to: status } }, coreDb(trx));
    return row;
  });
}

async function storeUpload(services: Services, upload: Upload, userId: number | null): Promise<StoredFile> {
  if (upload.file) {
    upload.kept = true;
    return upload.file;
  }
  try {
    return await services.files.put(upload.data ?? Buffer.alloc(0), path.basename(upload.filename), { createdBy: userId, contentType: upload.mimetype });
  } catch (err) {
    throw uploadFailure(err);
  }
}

function formatOf(filename: string, given: string) {
  return (given || path.extname(filename).slice(1)).toUpperCase();
}

/** The stored upload as CSV text for the loader, whatever tabular format it came in; read as a stream. */
async function tabularSource(services: Services, file: StoredFile, format: string): Promise<() => Readable> {
  const raw = () => services.files.open(file.id) as Readable;
  if (format === 'XLSX') return xlsxAsCsv(raw);
  if (format === 'JSON') {
    try {
      return await jsonAsCsv(raw);
    } catch (err) {
      throw new LoadError((err as Error).message, null);
    }
  }
  return raw;
}

function loadFailure(err: unknown): never {
  if (err instanceof LoadError) throw new CkanError(409, 'Validation Error', err.message, { upload: [err.message] });
  throw err;
}

async function editableDataset(db: OdDb, viewer: Viewer, ref: unknown) {
  if (ref == null || ref === '') throw validationError({ package_id: ['Missing value'] });
  const d = await findDataset(db, String(ref));
  if (!d || d.state === 'deleted') throw notFoundError('Dataset');
  if (!canEdit(viewer, d.office_id)) throw authError(`User not authorized to edit package ${d.name}`);
  return d;
}

/**
 * resource_create: a link or an uploaded file. A tabular upload goes into the DataStore; if the
 * file cannot be loaded (ragged rows, broken encoding) nothing is created.
 */
export async function createResource(services: Services, actor: Actor, viewer: Viewer, params: Params, upload?: Upload, opts: { datastoreOnly?: boolean } = {}): Promise<ResourceRow> {
  const db = odDb(services);
  const d = await editableDataset(db, viewer, params.package_id);
  const input = parseResource(params, { requireUrl: !upload && !opts.datastoreOnly });
  // datastore_create's own resources hold rows, not a file: CKAN marks them url_type "datastore".
  if (opts.datastoreOnly) Object.assign(input, { url_type: 'datastore' });
  let fileId: string | null = null;
  let stored: StoredFile | undefined;
  if (upload) {
    const file = (stored = await storeUpload(services, upload, viewer.userId));
    fileId = file.id;
    Object.assign(input, { url: '', url_type: 'upload', file_id: file.id, size: file.size, hash: `sha256:${file.sha256}`, format: formatOf(upload.filename, input.format), mimetype: file.content_type, name: input.name || upload.filename });
  }
  const loadNow = !!stored && TABULAR_FORMATS.has(input.format) && stored.size <= loadSettings.jobThresholdBytes;
  const givenId = input.id && !(await findResource(db, input.id)) ? input.id : undefined;
  let pending: ResourceRow | undefined;
  if (loadNow) {
    // The DataStore table needs its resource row, so the row exists first, hidden (state
    // deleted), without touching the dataset or the audit log: a failed load then removes it
    // and the stored file, and nothing has changed.
    try {
      pending = await db.transaction().execute(async (trx) => {
        const row = await insertResource(trx, d.id, input, { createdBy: viewer.userId, id: givenId });
        return trx.updateTable('od_resources').set({ state: 'deleted' }).where('id', '=', row.id).returningAll().executeTakeFirstOrThrow();
      });
      await loadDatastore(services, pending.id, await tabularSource(services, stored!, input.format), { dictionary: input.fields });
    } catch (err) {
      if (pending) await db.deleteFrom('od_resources').where('id', '=', pending.id).execute();
      if (fileId) await discardFile(services, fileId);
      loadFailure(err);
    }
  }
  let r: ResourceRow;
  try {
    r = await db.transaction().execute(async (trx) => {
      const row = pending
        ? await trx.updateTable('od_resources').set({ state: 'active' }).where('id', '=', pending.id).returningAll().executeTakeFirstOrThrow()
        : await insertResource(trx, d.id, input, { createdBy: viewer.userId, id: givenId });
      await updateDataset(trx, d.id, {});
      await services.audit.record(actor, { action: 'resource.create', subjectType: 'resource', subjectId: row.id, officeId: d.office_id, details: { dataset: d.name, name: row.name, upload: !!upload } }, coreDb(trx));
      return row;
    });
  } catch (err) {
    if (pending) {
      await dropDatastore(db, pending.id);
      await db.deleteFrom('od_resources').where('id', '=', pending.id).execute();
    }
    if (fileId) await discardFile(services, fileId);
    throw err;
  }
  if (upload && TABULAR_FORMATS.has(r.format) && !loadNow) await queueLoad(services, r.id, r.file_id!, r.format, input.fields, viewer.userId);
  return (await findResource(db, r.id))!;
}

/** Removes a file stored for an upload that was then refused, so that no orphan is left. */
async function discardFile(services: Services, fileId: string): Promise<void> {
  await services.db.deleteFrom('files').where('id', '=', fileId).execute();
  await services.files.storage.remove(fileId);
}

/** resource_update replaces (resource_patch merges); a new file becomes a new version. */
export async function updateResource(services: Services, actor: Actor, viewer: Viewer, params: Params, upload: Upload | undefined, mode: 'update' | 'patch'): Promise<ResourceRow> {
  const db = odDb(services);
  if (params.id == null || params.id === '') throw validationError({ id: ['Missing value'] });
  const current = await findResource(db, String(params.id));
  if (!current) throw notFoundError('Resource');
  const d = await editableDataset(db, viewer, current.dataset_id);
  const merged: Params =
    mode === 'patch'
      ? {
          name: current.name,
          description: current.description,
          format: current.format,
          url: current.url_type === 'upload' ? '' : current.url,
          fields: current.fields,
          ...(current.mimetype ? { mimetype: current.mimetype } : {}),
          // A link's size and hash are what its publisher said; an upload's come from the file (below).
          ...(current.url_type !== 'upload' && current.size != null ? { size: current.size } : {}),
          ...(current.url_type !== 'upload' && current.hash ? { hash: current.hash } : {}),
          ...current.extras,
          ...params,
        }
      : params;
  const keepsFile = !upload && current.url_type === 'upload' && (!merged.url || String(merged.url).includes(`/resource/${current.id}/download`));
  const input = parseResource({ ...merged, url: keepsFile ? '' : merged.url }, { requireUrl: !upload && !keepsFile });
  if (keepsFile) Object.assign(input, { url: '', url_type: 'upload', file_id: current.file_id, size: current.size, hash: current.hash, format: input.format || current.format, mimetype: input.mimetype ?? current.mimetype });
  let queued: { fileId: string; format: string; dictionary: DictionaryField[] } | null = null;
  if (upload) {
    const file = await storeUpload(services, upload, viewer.userId);
    Object.assign(input, { url: '', url_type: 'upload', file_id: file.id, size: file.size, hash: `sha256:${file.sha256}`, format: formatOf(upload.filename, String(params.format ?? '')), mimetype: file.content_type });
    if (TABULAR_FORMATS.has(input.format) && file.size > loadSettings.jobThresholdBytes) {
      // Queued after the row changes (below): until the job swaps the table in, the DataStore
      // keeps serving the previous version's rows.
      queued = { fileId: file.id, format: input.format, dictionary: input.fields.length ? input.fields : current.fields };
      input.fields = current.fields;
    } else if (TABULAR_FORMATS.has(input.format)) {
      // Loaded before the row changes: a failed load leaves the old table and the old file, and
      // the new file is removed again.
      try {
        await loadDatastore(services, current.id, await tabularSource(services, file, input.format), { dictionary: input.fields.length ? input.fields : current.fields });
      } catch (err) {
        await discardFile(services, file.id);
        loadFailure(err);
      }
      input.fields = (await db.selectFrom('od_datastore').select('fields').where('resource_id', '=', current.id).executeTakeFirstOrThrow()).fields;
    }
  }
  const { id: _id, ...rest } = input;
  const updated = await db.transaction().execute(async (trx) => {
    const row = await storeUpdateResource(trx, current.id, rest, viewer.userId);
    await updateDataset(trx, d.id, {});
    await services.audit.record(actor, { action: `resource.${mode}`, subjectType: 'resource', subjectId: row.id, officeId: d.office_id, details: { dataset: d.name, upload: !!upload } }, coreDb(trx));
    return row;
  });
  if (queued) await queueLoad(services, updated.id, queued.fileId, queued.format, queued.dictionary, viewer.userId);
  return updated;
}

export async function deleteResource(services: Services, actor: Actor, viewer: Viewer, id: string): Promise<void> {
  const db = odDb(services);
  const current = await findResource(db, id);
  if (!current) throw notFoundError('Resource');
  const d = await editableDataset(db, viewer, current.dataset_id);
  await db.transaction().execute(async (trx) => {
    // The DataStore table goes in the same transaction as the resource (PostgreSQL's DROP TABLE is
    // transactional): if anything below fails, the drop is rolled back with the rest and the
    // resource keeps its rows. Dropped before the transaction, a failure would leave an active
    // resource whose table is gone (lost data); dropped after the commit, a crash in between
    // would leave a harmless orphan table. Inside, neither can happen.
    await dropDatastore(trx, current.id);
    await trx.updateTable('od_resources').set({ state: 'deleted' }).where('id', '=', current.id).execute();
    await updateDataset(trx, d.id, {});
    await services.audit.record(actor, { action: 'resource.delete', subjectType: 'resource', subjectId: current.id, officeId: d.office_id, details: { dataset: d.name } }, coreDb(trx));
  });
}

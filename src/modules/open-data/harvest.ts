import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Services } from '../../core/services';
import type { CliCommand } from '../../core/manifest';
import { systemActor } from '../../core/audit';
import { odDb, upsertTheme, type OdDb } from './store';
import { coreDb } from './store';
import { parseDictionary, parseList } from './ckan';
import type { DatasetStatus } from './tables';

/**
 * Harvesting in: a CKAN portal (through its Action API), a data.json catalogue, or a folder of
 * package_show results. Every dataset carries a fingerprint of what it was harvested from, so
 * that a second run over the same source changes nothing.
 */
export interface HarvestReport {
  created: number;
  updated: number;
  unchanged: number;
  offices: number;
  /** Themes created. */
  themes: number;
  /** Deleted themes a changed source still uses, brought back. */
  themesRestored: number;
  errors: string[];
}

type Dict = Record<string, any>;

const slugify = (s: string) =>
  s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 90) || 'sin-nombre';

function extrasMap(extras: unknown): Map<string, string> {
  const m = new Map<string, string>();
  if (Array.isArray(extras)) for (const e of extras) if (e && typeof e.key === 'string') m.set(e.key, e.value == null ? '' : String(e.value));
  return m;
}

function date(v: unknown): Date | null {
  if (!v || v === 'None') return null;
  const s = String(v);
  // CKAN writes naive timestamps in UTC.
  const d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(s) || !/T/.test(s) ? s : `${s}Z`);
  return Number.isNaN(d.getTime()) ? null : d;
}


const clean = (v: unknown) => (v == null || v === 'None' ? '' : String(v));

/** data.json (Argentina's profile) → the package dicts the rest of the harvester reads. */
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const SLUG = /^[a-z0-9_-]{2,100}$/;

/**
 * A readable CKAN name for a data.json dataset: the name in a CKAN landing page
 * (…/dataset/<name>), else an identifier that is already a name (not a UUID or a number), else
 * the title made a slug; the identifier only when nothing else gives one.
 */
export function dataJsonName(ds: Dict): string {
  try {
    const parts = new URL(String(ds.landingPage)).pathname.split('/').filter(Boolean);
    const last = decodeURIComponent(parts[parts.length - 1] ?? '');
    if (parts[parts.length - 2] === 'dataset' && SLUG.test(last) && !UUID.test(last)) return last;
  } catch {
    // no landing page, or not a URL
  }
  const id = String(ds.identifier ?? '');
  if (SLUG.test(id) && !UUID.test(id) && !/^\d+$/.test(id)) return id;
  return ds.title ? slugify(String(ds.title)) : slugify(id || 'dataset');
}

export function dataJsonToPackages(catalog: Dict): Dict[] {
  const themes = new Map<string, Dict>((catalog.themeTaxonomy ?? []).map((t: Dict) => [t.id, t]));
  const used = new Map<string, number>();
  // Two datasets with the same title get name, name-2, … in catalogue order (stable across runs).
  const unique = (name: string) => {
    const n = (used.get(name) ?? 0) + 1;
    used.set(name, n);
    return n === 1 ? name : `${name}-${n}`;
  };
  return (catalog.dataset ?? []).map((ds: Dict) => ({
    id: ds.identifier,
    name: unique(dataJsonName(ds)),
    title: ds.title,
    notes: ds.description,
    license_id: ds.license ?? '',
    author: ds.publisher?.name ?? '',
    author_email: ds.publisher?.mbox ?? '',
    maintainer: ds.contactPoint?.fn ?? '',
    maintainer_email: (ds.contactPoint?.hasEmail ?? '').replace(/^mailto:/, ''),
    url: ds.landingPage ?? '',
    metadata_created: ds.issued,
    metadata_modified: ds.modified ?? ds.issued,
    organization: { name: slugify(ds.publisher?.name ?? 'sin-organizacion'), title: ds.publisher?.name ?? 'Sin organización' },
    groups: (ds.theme ?? []).map((id: string) => ({ name: slugify(themes.get(id)?.label ?? id), title: themes.get(id)?.label ?? id, description: themes.get(id)?.description ?? '' })),
    tags: (ds.keyword ?? []).map((k: string) => ({ name: k })),
    extras: [
      { key: 'accrualPeriodicity', value: ds.accrualPeriodicity ?? '' },
      { key: 'issued', value: ds.issued ?? '' },
      { key: 'modified', value: ds.modified ?? '' },
      { key: 'temporal', value: ds.temporal ?? '' },
      { key: 'spatial', value: Array.isArray(ds.spatial) ? ds.spatial.join(',') : (ds.spatial ?? '') },
      { key: 'language', value: JSON.stringify(ds.language ?? []) },
      { key: 'superTheme', value: JSON.stringify(ds.superTheme ?? []) },
    ],
    resources: (ds.distribution ?? []).map((r: Dict) => ({
      id: r.identifier,
      name: r.title,
      description: r.description ?? '',
      format: r.format ?? '',
      url: r.downloadURL ?? r.accessURL ?? '',
      size: r.byteSize ?? null,
      mimetype: r.mediaType ?? null,
      created: r.issued,
      last_modified: r.modified,
      attributesDescription: (r.field ?? []).map((f: Dict) => ({ title: f.title, type: f.type, description: f.description, units: f.units })),
    })),
  }));
}

interface Caches {
  offices: Map<string, number>;
  /** Themes made sure of (active) in this run. */
  themes: Set<string>;
  /** Every dataset's id and source by name, read once: most packages need no lookup then. */
  datasets: Map<string, { id: string; source: string | null }>;
}

/**
 * What a harvest or the registry sync writes is audited with the system actor, and its audit
 * entries say which run did it: `{ origin }` for a harvest, `{ module }` for the registry sync.
 */
export type Cause = { origin: string } | { module: string };

/** Creates an office (core's `offices`) for a harvested organisation, audited as `office.create`. */
export async function createSourceOffice(services: Services, db: OdDb, values: { slug: string; name: string; kind: 'other'; description: string }, cause: Cause): Promise<number> {
  const write = async (trx: OdDb) => {
    const row = await trx.insertInto('offices').values(values).returning('id').executeTakeFirstOrThrow();
    await services.audit.record(systemActor, { action: 'office.create', subjectType: 'office', subjectId: row.id, officeId: row.id, details: { after: values, ...cause } }, coreDb(trx));
    return row.id;
  };
  return db.isTransaction ? write(db) : db.transaction().execute(write);
}

/**
 * Makes sure a theme a harvested (or registry) dataset uses is active: a missing one is created
 * (`theme.create`), a deleted one is brought back (`theme.restore`, its title and description as
 * the administrators left them) — unless `revive` is false (the dataset is deleted here, so nobody
 * sees it: a theme the administrators deleted or never had is not brought in for it).
 * Returns what happened, or null when the theme was left out.
 */
export async function ensureTheme(
  services: Services,
  db: OdDb,
  t: { id?: string; name: string; title: string; description?: string; image_url?: string },
  cause: Cause & { dataset: string },
  revive = true,
): Promise<'active' | 'created' | 'restored' | null> {
  const found = await db.selectFrom('od_themes').select(['id', 'state']).where('name', '=', t.name).executeTakeFirst();
  if (found?.state === 'active') return 'active';
  if (!revive) return null;
  const write = async (trx: OdDb) => {
    if (!found) {
      const row = await upsertTheme(trx, t);
      await services.audit.record(systemActor, { action: 'theme.create', subjectType: 'theme', subjectId: row.id, details: { name: row.name, title: row.title, ...cause } }, coreDb(trx));
      return 'created' as const;
    }
    const row = await trx.updateTable('od_themes').set({ state: 'active' }).where('id', '=', found.id).where('state', '=', 'deleted').returning(['id', 'name']).executeTakeFirst();
    if (!row) return 'active' as const; // restored meanwhile by someone else
    await services.audit.record(systemActor, { action: 'theme.restore', subjectType: 'theme', subjectId: row.id, details: { name: row.name, ...cause } }, coreDb(trx));
    return 'restored' as const;
  };
  return db.isTransaction ? write(db) : db.transaction().execute(write);
}

async function ensureOffice(services: Services, db: OdDb, org: Dict | undefined, caches: Caches, report: HarvestReport, origin: string): Promise<number> {
  const slug = slugify(clean(org?.name) || clean(org?.title) || 'sin-organizacion');
  const cached = caches.offices.get(slug);
  if (cached) return cached;
  let id = (await db.selectFrom('offices').select('id').where('slug', '=', slug).executeTakeFirst())?.id;
  if (!id) {
    id = await createSourceOffice(services, db, { slug, name: clean(org?.title) || slug, kind: 'other', description: clean(org?.description) }, { origin });
    report.offices++;
  }
  caches.offices.set(slug, id);
  return id;
}

/** The dataset's themes, made sure of; with `revive` false only those already active (see ensureTheme). */
async function ensureThemes(services: Services, db: OdDb, groups: Dict[], caches: Caches, report: HarvestReport, cause: { origin: string; dataset: string }, revive: boolean): Promise<string[]> {
  const names: string[] = [];
  for (const g of groups ?? []) {
    const name = slugify(clean(g.name) || clean(g.title));
    if (!caches.themes.has(name)) {
      const done = await ensureTheme(services, db, { id: clean(g.id) || undefined, name, title: clean(g.title) || clean(g.display_name) || name, description: clean(g.description), image_url: clean(g.image_display_url) }, cause, revive);
      if (!done) continue;
      if (done === 'created') report.themes++;
      if (done === 'restored') report.themesRestored++;
      caches.themes.add(name);
    }
    names.push(name);
  }
  return [...new Set(names)];
}

const DCAT_KEYS = new Set(['accrualPeriodicity', 'issued', 'modified', 'temporal', 'spatial', 'language']);

async function harvestPackage(services: Services, db: OdDb, pkg: Dict, origin: string, caches: Caches, report: HarvestReport) {
  const fingerprint = crypto.createHash('sha256').update(JSON.stringify(pkg)).digest('hex').slice(0, 32);
  const source = `harvest:${origin}#${fingerprint}`;
  const name = slugify(clean(pkg.name) || clean(pkg.title));
  const existing = caches.datasets.get(name);
  if (existing && existing.source === source) {
    report.unchanged++;
    return;
  }
  if (existing && !(existing.source ?? '').startsWith(`harvest:${origin}#`)) {
    report.errors.push(`${name}: a dataset with this name exists and was not harvested from ${origin}; skipped`);
    return;
  }
  // What the officials decided here stands: read fresh, not from the run's start.
  const current = existing ? await db.selectFrom('od_datasets').select(['state', 'status']).where('id', '=', existing.id).executeTakeFirst() : undefined;
  const officeId = await ensureOffice(services, db, pkg.organization, caches, report, origin);
  // A dataset deleted here is still updated (so that restoring it brings back the source's current
  // metadata and links, and so that the next run finds it unchanged), but it brings no deleted or
  // new theme into the catalogue for a dataset nobody sees.
  const themes = await ensureThemes(services, db, pkg.groups ?? [], caches, report, { origin, dataset: name }, !current || current.state === 'active');
  const extras = extrasMap(pkg.extras);
  // The source's `private` sets the workflow status of a new dataset only. A re-harvest keeps the
  // local `state` (a dataset deleted here stays deleted; only package_patch `state: active` restores
  // it) and the local `status` (unpublished here stays unpublished; published here stays
  // published), with one exception in the safe direction: a source that now marks a published
  // dataset private takes it out of publication (draft), as the source withdrew it. A harvest never
  // publishes or restores an existing dataset.
  const status: DatasetStatus = !current ? (pkg.private === true ? 'draft' : 'published') : current.status === 'published' && pkg.private === true ? 'draft' : current.status;
  const values = {
    name,
    title: clean(pkg.title) || name,
    notes: clean(pkg.notes),
    office_id: officeId,
    license_id: clean(pkg.license_id),
    license_title: clean(pkg.license_title),
    license_url: clean(pkg.license_url).trim(),
    author: clean(pkg.author),
    author_email: clean(pkg.author_email),
    maintainer: clean(pkg.maintainer),
    maintainer_email: clean(pkg.maintainer_email),
    url: clean(pkg.url),
    version: clean(pkg.version),
    accrual_periodicity: clean(extras.get('accrualPeriodicity')),
    temporal: clean(extras.get('temporal')),
    spatial: clean(extras.get('spatial')),
    language: parseList(extras.get('language')),
    issued: date(extras.get('issued')),
    modified: date(extras.get('modified')),
    tags: [...new Set<string>((pkg.tags ?? []).map((t: Dict | string) => (typeof t === 'string' ? t : clean(t.name))).filter(Boolean))],
    themes,
    extras: JSON.stringify([...extras].filter(([k]) => !DCAT_KEYS.has(k)).map(([key, value]) => ({ key, value }))),
    source,
    metadata_created: date(pkg.metadata_created) ?? new Date(),
    metadata_modified: date(pkg.metadata_modified) ?? new Date(),
  };
  const savedId = await db.transaction().execute(async (trx) => {
    let id: string;
    if (existing && current) {
      id = existing.id;
      // `state` is never written here, `status` only to withdraw (see above).
      await trx
        .updateTable('od_datasets')
        .set({ ...values, ...(status !== current.status ? { status } : {}) })
        .where('id', '=', id)
        .execute();
      if (status !== current.status) {
        await services.audit.record(systemActor, { action: 'dataset.status', subjectType: 'dataset', subjectId: id, officeId, details: { from: current.status, to: status, origin, reason: 'private at the source' } }, coreDb(trx));
      }
      report.updated++;
    } else {
      const taken = pkg.id ? await trx.selectFrom('od_datasets').select('id').where('id', '=', String(pkg.id)).executeTakeFirst() : undefined;
      id = pkg.id && !taken ? String(pkg.id) : crypto.randomUUID();
      await trx.insertInto('od_datasets').values({ id, ...values, status, state: 'active' }).execute();
      report.created++;
    }
    const resources = (pkg.resources ?? []) as Dict[];
    const mine = current ? await trx.selectFrom('od_resources').select(['id', 'url', 'url_type', 'format', 'size', 'hash', 'state']).where('dataset_id', '=', id).execute() : [];
    const present = new Set(mine.filter((r) => r.url_type !== null).map((r) => r.id));
    // Harvested links are updated in place (matched by id, else by URL), never deleted and
    // re-inserted: their version history hangs off the resource row.
    const links = mine.filter((r) => r.url_type === null);
    const matched = new Set<string>();
    const linkFor = (r: Dict) => {
      const rid = clean(r.id);
      const hit = (rid && links.find((l) => l.id === rid && !matched.has(l.id))) || links.find((l) => l.url === clean(r.url) && !matched.has(l.id));
      if (hit) matched.add(hit.id);
      return hit;
    };
    const wanted = resources.map((r) => clean(r.id)).filter(Boolean);
    // Resource ids are global: one taken by another portal's dataset gets a fresh id here.
    const taken = new Set(
      wanted.length ? (await trx.selectFrom('od_resources').select('id').where('id', 'in', wanted).where('dataset_id', '!=', id).execute()).map((r) => r.id) : [],
    );
    const rows = [];
    for (const [i, r] of resources.entries()) {
      let rid = clean(r.id) || crypto.randomUUID();
      if (present.has(rid)) continue; // an uploaded file that replaced the link stays
      const link = linkFor(r);
      if (link) rid = link.id;
      else if (taken.has(rid)) rid = crypto.randomUUID();
      const known = new Set(['id', 'package_id', 'name', 'description', 'format', 'mimetype', 'url', 'size', 'hash', 'position', 'state', 'created', 'last_modified', 'attributesDescription', 'datastore_active', 'url_type', 'revision_id', 'cache_url', 'cache_last_updated', 'mimetype_inner', 'resource_type']);
      const rExtras = Object.fromEntries(Object.entries(r).filter(([k, v]) => !known.has(k) && v != null && v !== ''));
      rows.push({
        id: rid,
        dataset_id: id,
        position: i,
        name: clean(r.name),
        description: clean(r.description),
        format: clean(r.format).toUpperCase(),
        mimetype: r.mimetype ? String(r.mimetype) : null,
        url: clean(r.url),
        url_type: null,
        file_id: null,
        size: r.size != null && Number.isFinite(Number(r.size)) ? Number(r.size) : null,
        hash: clean(r.hash),
        state: 'active',
        fields: JSON.stringify(parseDictionary(r.attributesDescription ?? r.fields)),
        extras: JSON.stringify(rExtras),
        created: date(r.created) ?? new Date(),
        last_modified: date(r.last_modified),
      });
    }
    for (const row of rows.filter((r) => matched.has(r.id))) {
      const { id: rid, created: _created, ...change } = row;
      await trx.updateTable('od_resources').set(change).where('id', '=', rid).execute();
      const before = links.find((l) => l.id === rid)!;
      if (before.url !== row.url || before.format !== row.format || (before.size == null ? null : Number(before.size)) !== row.size || before.hash !== row.hash) {
        const last = await trx.selectFrom('od_resource_versions').select((eb) => eb.fn.max('version').as('v')).where('resource_id', '=', rid).executeTakeFirst();
        await trx
          .insertInto('od_resource_versions')
          .values({ resource_id: rid, version: Number(last?.v ?? 0) + 1, file_id: null, url: row.url, format: row.format, size: row.size, hash: row.hash })
          .execute();
      }
    }
    // Links gone from the source are soft-deleted (their history stays; a later harvest brings them back).
    const gone = links.filter((l) => !matched.has(l.id) && l.state === 'active').map((l) => l.id);
    if (gone.length) await trx.updateTable('od_resources').set({ state: 'deleted' }).where('id', 'in', gone).execute();
    const fresh = rows.filter((r) => !matched.has(r.id));
    if (fresh.length) {
      await trx.insertInto('od_resources').values(fresh).execute();
      await trx
        .insertInto('od_resource_versions')
        .values(fresh.map((r) => ({ resource_id: r.id, version: 1, file_id: null, url: r.url, format: r.format, size: r.size, hash: r.hash })))
        .onConflict((oc) => oc.columns(['resource_id', 'version']).doNothing())
        .execute();
    }
    await services.audit.record(
      systemActor,
      { action: current ? 'dataset.harvest.update' : 'dataset.harvest.create', subjectType: 'dataset', subjectId: id, officeId, details: { origin, name, ...(current ? { state: current.state, status } : {}) } },
      coreDb(trx),
    );
    return id;
  });
  caches.datasets.set(name, { id: savedId, source });
}

async function fetchJson(url: string, init?: RequestInit): Promise<Dict> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as Dict;
}

/** Reads every package of a source, whichever of the three kinds it is. */
export async function* readSource(source: string): AsyncGenerator<Dict> {
  if (/^https?:\/\//.test(source)) {
    if (/\.json($|\?)/.test(source) && !/\/api\/3\//.test(source)) {
      yield* dataJsonToPackages(await fetchJson(source));
      return;
    }
    const base = source.replace(/\/+$/, '').replace(/\/api\/3(\/action)?$/, '');
    const rows = 100;
    for (let start = 0; start < 1_000_000; start += rows) {
      const page = await fetchJson(`${base}/api/3/action/package_search?rows=${rows}&start=${start}&sort=name%20asc`);
      if (!page.success) throw new Error(`${base}: package_search failed`);
      for (const p of page.result.results as Dict[]) yield p;
      if (start + rows >= page.result.count) break;
    }
    return;
  }
  const stat = fs.statSync(source);
  if (stat.isDirectory()) {
    for (const f of fs.readdirSync(source).filter((n) => n.endsWith('.json')).sort()) {
      const doc = JSON.parse(fs.readFileSync(path.join(source, f), 'utf8'));
      yield doc.result && doc.success !== undefined ? doc.result : doc;
    }
    return;
  }
  const doc = JSON.parse(fs.readFileSync(source, 'utf8'));
  if (Array.isArray(doc.dataset)) yield* dataJsonToPackages(doc);
  else if (doc.result && Array.isArray(doc.result.results)) yield* doc.result.results;
  else yield doc.result ?? doc;
}

export async function harvest(services: Services, source: string, opts: { origin?: string; onProgress?: (n: number) => void } = {}): Promise<HarvestReport> {
  const db = odDb(services);
  const origin = opts.origin ?? (/^https?:/.test(source) ? new URL(source).host : path.basename(path.resolve(source)));
  const report: HarvestReport = { created: 0, updated: 0, unchanged: 0, offices: 0, themes: 0, themesRestored: 0, errors: [] };
  const known = await db.selectFrom('od_datasets').select(['id', 'name', 'source']).execute();
  const caches: Caches = { offices: new Map(), themes: new Set(), datasets: new Map(known.map((d) => [d.name, { id: d.id, source: d.source }])) };
  let n = 0;
  for await (const pkg of readSource(source)) {
    try {
      await harvestPackage(services, db, pkg, origin, caches, report);
    } catch (err) {
      report.errors.push(`${clean(pkg?.name) || '?'}: ${(err as Error).message}`);
    }
    opts.onProgress?.(++n);
  }
  return report;
}

export const harvestCommand: CliCommand = {
  summary: 'harvest <url-or-file-or-folder>: import a CKAN portal, a data.json or a folder of package_show results',
  run: async (services, args) => {
    const source = args.find((a) => !a.startsWith('--'));
    if (!source) {
      console.error('Usage: cabildo harvest <ckan-url | data.json | folder of package_show JSON files>');
      return 2;
    }
    const r = await harvest(services, source, { onProgress: (n) => n % 50 === 0 && console.log(`${n} datasets read…`) });
    console.log(`Harvested ${source}: ${r.created} created, ${r.updated} updated, ${r.unchanged} unchanged; ${r.offices} organisations and ${r.themes} themes created, ${r.themesRestored} deleted themes restored.`);
    for (const e of r.errors) console.error(`  ! ${e}`);
    return r.errors.length ? 1 : 0;
  },
};

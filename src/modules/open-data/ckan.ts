import type { Office } from './store';
import type { Selectable } from 'kysely';
import type { DatasetRow, ResourceRow, ThemeRow, DictionaryField, OdResourceVersionsTable } from './tables';
import type { DatasetInput, ResourceInput } from './store';

/** CKAN's error: `__type` plus either `message` or one list of messages per invalid field. */
export class CkanError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly fieldErrors?: Record<string, string[]>,
  ) {
    super(message);
  }
  body() {
    return this.fieldErrors ? { __type: this.type, message: this.message, ...this.fieldErrors } : { __type: this.type, message: this.message };
  }
}

export const validationError = (fields: Record<string, string[]>) =>
  new CkanError(409, 'Validation Error', Object.entries(fields).map(([k, v]) => `${k}: ${v.join('; ')}`).join(', '), fields);
export const notFoundError = (what: string) => new CkanError(404, 'Not Found Error', `Not found: ${what}`);
export const authError = (why: string) => new CkanError(403, 'Authorization Error', `Access denied: ${why}`);

/** CKAN prints timestamps as naive ISO strings (UTC). */
export const ckanTime = (d: Date | string | null | undefined): string | null => (d ? new Date(d).toISOString().replace(/Z$/, '') : null);

/** Argentina's profile fields that we keep in columns and show in `extras`, as Andino does. */
const DCAT_EXTRAS = ['accrualPeriodicity', 'issued', 'modified', 'temporal', 'spatial', 'language'];

export function orgDict(o: Office, packageCount?: number) {
  return {
    id: o.slug,
    name: o.slug,
    title: o.name,
    display_name: o.name,
    description: o.description,
    image_url: '',
    image_display_url: '',
    created: ckanTime(o.created_at),
    is_organization: true,
    type: 'organization',
    state: 'active',
    approval_status: 'approved',
    ...(packageCount !== undefined ? { package_count: packageCount } : {}),
  };
}

export function groupDict(t: ThemeRow, packageCount?: number) {
  return {
    id: t.id,
    name: t.name,
    title: t.title,
    display_name: t.title,
    description: t.description,
    image_url: t.image_url,
    image_display_url: t.image_url,
    created: ckanTime(t.created_at),
    is_organization: false,
    type: 'group',
    state: t.state ?? 'active',
    approval_status: 'approved',
    ...(packageCount !== undefined ? { package_count: packageCount } : {}),
  };
}

export type ResourceVersionRow = Selectable<OdResourceVersionsTable>;

/**
 * A resource's version history as the dataset page shows it, newest first (not CKAN's: an extra
 * key, which CKAN clients ignore). An uploaded version downloads from the page's route
 * (`…/download?version=N`); a link's version is the link it was.
 */
export function versionDicts(r: Pick<ResourceRow, 'id' | 'dataset_id'>, versions: ResourceVersionRow[], baseUrl: string) {
  return versions.map((v) => ({
    version: v.version,
    created: ckanTime(v.created_at),
    format: v.format,
    size: v.size == null ? null : Number(v.size),
    hash: v.hash,
    url: v.file_id ? `${baseUrl}/datasets/${r.dataset_id}/resource/${r.id}/download?version=${v.version}` : /^https?:\/\//i.test(v.url) ? v.url : null,
  }));
}

/** CKAN's resource dict; with `versions`, our extra keys `versions` (its history) and `downloads` too. */
export function resourceDict(r: ResourceRow, baseUrl: string, versions?: ResourceVersionRow[]) {
  const url = r.url_type === 'upload' ? `${baseUrl}/datasets/${r.dataset_id}/resource/${r.id}/download` : r.url;
  const dict: Record<string, unknown> = {
    ...r.extras,
    id: r.id,
    package_id: r.dataset_id,
    name: r.name,
    description: r.description,
    format: r.format,
    mimetype: r.mimetype,
    url,
    url_type: r.url_type,
    size: r.size,
    hash: r.hash,
    position: r.position,
    state: r.state,
    created: ckanTime(r.created),
    last_modified: ckanTime(r.last_modified),
    metadata_modified: ckanTime(r.last_modified ?? r.created),
    datastore_active: r.datastore_active,
    resource_type: null,
    cache_url: null,
    cache_last_updated: null,
    mimetype_inner: null,
  };
  if (versions) {
    dict.versions = versionDicts(r, versions, baseUrl);
    dict.downloads = Number(r.downloads);
  }
  if (r.fields.length) {
    // Andino's data dictionary: a JSON string of {title, type, description, units}.
    dict.attributesDescription = JSON.stringify(
      r.fields.map((f) => ({ title: f.id, type: f.info?.type_override || f.type, description: f.info?.notes ?? '', ...(f.info?.unit ? { units: f.info.unit } : {}) })),
    );
  }
  return dict;
}

export function packageDict(d: DatasetRow, office: Office | undefined, themes: ThemeRow[], resources: ResourceRow[], baseUrl: string, versions?: Map<string, ResourceVersionRow[]>) {
  const extras = d.extras.filter((e) => !DCAT_EXTRAS.includes(e.key));
  if (d.accrual_periodicity) extras.push({ key: 'accrualPeriodicity', value: d.accrual_periodicity });
  if (d.issued) extras.push({ key: 'issued', value: ckanTime(d.issued)! });
  if (d.modified) extras.push({ key: 'modified', value: ckanTime(d.modified)! });
  if (d.temporal) extras.push({ key: 'temporal', value: d.temporal });
  if (d.spatial) extras.push({ key: 'spatial', value: d.spatial });
  if (d.language.length) extras.push({ key: 'language', value: JSON.stringify(d.language) });
  extras.sort((a, b) => a.key.localeCompare(b.key));
  const byName = new Map(themes.map((t) => [t.name, t]));
  return {
    id: d.id,
    name: d.name,
    title: d.title,
    notes: d.notes,
    type: 'dataset',
    state: d.state,
    private: d.status !== 'published',
    workflow_status: d.status,
    author: d.author,
    author_email: d.author_email,
    maintainer: d.maintainer,
    maintainer_email: d.maintainer_email,
    license_id: d.license_id,
    license_title: d.license_title || d.license_id,
    license_url: d.license_url,
    isopen: /^(cc|odc|other-open|gfdl|uk-ogl)/i.test(d.license_id) && !/nc/i.test(d.license_id),
    url: d.url,
    version: d.version,
    creator_user_id: d.creator_user_id == null ? null : String(d.creator_user_id),
    metadata_created: ckanTime(d.metadata_created),
    metadata_modified: ckanTime(d.metadata_modified),
    owner_org: office?.slug ?? null,
    organization: office ? orgDict(office) : null,
    groups: d.themes.map((n) => byName.get(n)).filter((t): t is ThemeRow => !!t).map((t) => groupDict(t)),
    tags: d.tags.map((t) => ({ id: t, name: t, display_name: t, state: 'active', vocabulary_id: null })),
    num_tags: d.tags.length,
    extras,
    resources: resources.map((r) => resourceDict(r, baseUrl, versions ? (versions.get(r.id) ?? []) : undefined)),
    num_resources: resources.length,
    relationships_as_object: [],
    relationships_as_subject: [],
    // CKAN's tracking_summary counts page views; downloads (of any of its files) are our extra key.
    tracking_summary: { total: d.views, recent: d.views },
    downloads: Number(d.downloads),
  };
}

// ---------- input ----------

const NAME = /^[a-z0-9_-]{2,100}$/;
/** Names that are pages of the catalogue (/datasets/<name>), so no dataset could be reached there. CKAN reserves new and edit too. */
export const RESERVED_NAMES = new Set(['new', 'edit', 'search', 'budget', 'publish', 'themes']);

function str(v: unknown): string {
  return v == null ? '' : String(v);
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** An ISO 8601 date or date-time; anything else is an error (a wrong date is not silently dropped). */
function parseDate(v: unknown, key: string, errors: Record<string, string[]>): Date | null {
  if (v == null || v === '') return null;
  const text = String(v).trim();
  const m = ISO_DATE.exec(text);
  // CKAN's times carry no zone and are UTC, as are bare dates.
  const iso = text.replace(' ', 'T');
  const d = new Date(!m ? NaN : text.length === 10 ? `${iso}T00:00:00Z` : /(?:Z|[+-]\d{2}:?\d{2})$/.test(iso) ? iso : `${iso}Z`);
  // 2021-02-30 would become March 2nd: the calendar day must survive the parse.
  const realDay = m && !Number.isNaN(d.getTime()) && new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])).getUTCDate() === +m[3] && +m[2] >= 1 && +m[2] <= 12;
  if (!realDay) {
    errors[key] = [`Date format incorrect: "${text}" is not an ISO 8601 date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS)`];
    return null;
  }
  return d;
}

/**
 * ISO 8601 repeating intervals as DCAT's accrualPeriodicity uses them (R/P1D, R/PT1H, R/P0.5M…;
 * the data.json profile's list is a subset), or "eventual" (the profile's irregular updates).
 */
export const PERIODICITY = /^(?:R\d*\/)?P(?=\d|T\d)(?:\d+(?:[.,]\d+)?Y)?(?:\d+(?:[.,]\d+)?M)?(?:\d+(?:[.,]\d+)?W)?(?:\d+(?:[.,]\d+)?D)?(?:T(?=\d)(?:\d+(?:[.,]\d+)?H)?(?:\d+(?:[.,]\d+)?M)?(?:\d+(?:[.,]\d+)?S)?)?$|^eventual$/;

/** A list as CKAN clients and portals send it: an array, a JSON array in a string, or one value ('None' is Python's null). */
export function parseList(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'string' && v.trim().startsWith('[')) {
    try {
      const a = JSON.parse(v);
      return Array.isArray(a) ? a.map(String) : [];
    } catch {
      return [];
    }
  }
  return typeof v === 'string' && v && v !== 'None' ? [v] : [];
}

export interface ParsedPackage {
  input: Omit<DatasetInput, 'office_id' | 'status' | 'source'>;
  ownerOrg: string | null;
  private: boolean | null;
  resources: unknown[] | undefined;
  id?: string;
}

/**
 * A package dict as CKAN clients send it → our columns. Collects every field error, as CKAN
 * does, instead of stopping at the first.
 */
export function parsePackage(body: Record<string, unknown>): ParsedPackage {
  const errors: Record<string, string[]> = {};
  const name = str(body.name).trim();
  if (!name) errors.name = ['Missing value'];
  else if (!NAME.test(name)) errors.name = ['Must be purely lowercase alphanumeric (ascii) characters and these symbols: -_'];
  else if (RESERVED_NAMES.has(name)) errors.name = ['That name cannot be used'];
  const tags: string[] = [];
  if (body.tags !== undefined) {
    if (!Array.isArray(body.tags)) errors.tags = ['Must be a list of {name}'];
    else
      for (const t of body.tags) {
        const n = typeof t === 'string' ? t : str((t as { name?: unknown })?.name);
        if (!n.trim() || n.length > 100) (errors.tags ??= []).push(`Tag "${n}" must be 1 to 100 characters long`);
        else tags.push(n.trim());
      }
  }
  const themes: string[] = [];
  if (body.groups !== undefined) {
    if (!Array.isArray(body.groups)) errors.groups = ['Must be a list of {name}'];
    else for (const g of body.groups) themes.push(typeof g === 'string' ? g : str((g as { name?: unknown; id?: unknown })?.name ?? (g as { id?: unknown })?.id));
  }
  const extrasIn: Array<{ key: string; value: string }> = [];
  if (body.extras !== undefined) {
    if (!Array.isArray(body.extras)) errors.extras = ['Must be a list of {key, value}'];
    else
      for (const e of body.extras) {
        const key = str((e as { key?: unknown })?.key);
        if (!key) (errors.extras ??= []).push('Every extra needs a key');
        else extrasIn.push({ key, value: str((e as { value?: unknown })?.value) });
      }
  }
  if (body.resources !== undefined && !Array.isArray(body.resources)) errors.resources = ['Must be a list'];
  for (const k of ['author_email', 'maintainer_email'] as const) {
    const v = str(body[k]);
    if (v && !/^[^@\s]+@[^@\s]+$/.test(v)) errors[k] = ['Email address is not valid'];
  }
  const extra = (key: string) => extrasIn.find((e) => e.key === key)?.value;
  const periodicity = str(body.accrualPeriodicity ?? body.accrual_periodicity ?? extra('accrualPeriodicity')).trim();
  if (periodicity && !PERIODICITY.test(periodicity)) {
    errors.accrualPeriodicity = [`"${periodicity}" is not an ISO 8601 repeating interval (R/P1D, R/P1W, R/P1M, R/P1Y, R/PT1H…) or "eventual"`];
  }
  const issued = parseDate(body.issued ?? extra('issued'), 'issued', errors);
  const modified = parseDate(body.modified ?? extra('modified'), 'modified', errors);
  if (Object.keys(errors).length) throw validationError(errors);
  const theme = str(body.theme);
  return {
    id: body.id ? str(body.id) : undefined,
    ownerOrg: body.owner_org != null && body.owner_org !== '' ? str(body.owner_org) : null,
    private: body.private === undefined ? null : body.private === true || body.private === 'true' || body.private === 'True',
    resources: body.resources as unknown[] | undefined,
    input: {
      name,
      title: str(body.title).trim() || name,
      notes: str(body.notes),
      license_id: str(body.license_id),
      license_title: str(body.license_title),
      license_url: str(body.license_url),
      author: str(body.author),
      author_email: str(body.author_email),
      maintainer: str(body.maintainer),
      maintainer_email: str(body.maintainer_email),
      url: str(body.url),
      version: str(body.version),
      accrual_periodicity: periodicity,
      temporal: str(body.temporal ?? extra('temporal')),
      spatial: str(body.spatial ?? extra('spatial')),
      language: parseList(body.language ?? extra('language')),
      issued,
      modified,
      tags: [...new Set(tags)],
      themes: [...new Set(theme ? [...themes, theme] : themes)].filter(Boolean),
      extras: extrasIn.filter((e) => !DCAT_EXTRAS.includes(e.key)),
    },
  };
}

const RESOURCE_KEYS = new Set([
  'id', 'package_id', 'name', 'description', 'format', 'mimetype', 'url', 'url_type', 'size', 'hash', 'position', 'state',
  'created', 'last_modified', 'metadata_modified', 'datastore_active', 'resource_type', 'cache_url', 'cache_last_updated',
  'mimetype_inner', 'upload', 'attributesDescription', 'fields', 'revision_id',
  // Ours, shown by resource_show/package_show: a client sending a dict back does not store them.
  'versions', 'downloads',
]);

export function parseDictionary(v: unknown): DictionaryField[] {
  let list: unknown = v;
  if (typeof v === 'string') {
    try {
      list = JSON.parse(v);
    } catch {
      return [];
    }
  }
  if (!Array.isArray(list)) return [];
  return list
    .map((f: Record<string, unknown>) => {
      const id = str(f.id ?? f.title).trim();
      const info = (f.info ?? {}) as Record<string, unknown>;
      return {
        id,
        type: str(f.type) || 'text',
        info: {
          label: str(info.label ?? f.label),
          notes: str(info.notes ?? f.description),
          unit: str(info.unit ?? f.units ?? f.unit),
          type_override: str(info.type_override),
        },
      };
    })
    .filter((f) => f.id);
}

/** A resource dict → our columns; the file itself (upload) is handled by the caller. */
export function parseResource(body: Record<string, unknown>, opts: { requireUrl: boolean }): ResourceInput & { id?: string } {
  const errors: Record<string, string[]> = {};
  const url = str(body.url).trim();
  if (opts.requireUrl && !url) errors.url = ['Missing value'];
  if (url && !/^https?:\/\//i.test(url)) errors.url = ['Must be an http(s) URL'];
  if (body.size != null && body.size !== '' && !(Number.isFinite(Number(body.size)) && Number(body.size) >= 0)) errors.size = ['Must be a number of bytes, zero or more'];
  if (Object.keys(errors).length) throw validationError(errors);
  const extras: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) if (!RESOURCE_KEYS.has(k)) extras[k] = v;
  const format = str(body.format).trim() || (url.match(/\.([a-z0-9]{2,7})(?:\?|$)/i)?.[1] ?? '').toUpperCase();
  return {
    id: body.id ? str(body.id) : undefined,
    name: str(body.name) || url.split('/').pop() || '',
    description: str(body.description),
    format,
    mimetype: body.mimetype ? str(body.mimetype) : null,
    url,
    url_type: null,
    file_id: null,
    size: body.size != null && body.size !== '' ? Number(body.size) : null,
    hash: str(body.hash),
    fields: parseDictionary(body.fields ?? body.attributesDescription),
    extras,
  };
}

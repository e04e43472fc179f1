import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { sql, type QueryResult, type RawBuilder } from 'kysely';
import { Alert, CsrfField, Field } from '../../core/ui/layout';
import type { PageContext } from '../../core/ui/context';
import type { Locale, Translate } from '../../core/i18n';
import { HttpError, NulCharacterError, notFound, nulIn, requireUser } from '../../core/http/guards';
import type { Services } from '../../core/services';
import { odDb, coreDb, viewerOf, canEdit, findDataset, findResource, allThemes, datastoreInfo, type OdDb } from './store';
import { createPackage, updatePackage, createResource, updateResource, loadSettings, queueLoad, receiveUpload, discardUnused, type Upload } from './publishing';
import { packageDicts } from './ckan-api';
import { CkanError, parsePackage } from './ckan';
import { loadDatastore, tableRef, LoadError } from './datastore';
import { CKAN_TYPE, SQL_TYPE, cellProblem, columnTypeFromCkan, type ColumnType } from './domain/tabular';
import { xlsxAsCsv, jsonAsCsv } from './tabular-sources';
import type { DatasetRow, DictionaryField } from './tables';

const PERIODICITIES = ['R/P1D', 'R/P1W', 'R/P1M', 'R/P3M', 'R/P6M', 'R/P1Y', 'eventual'];
const LICENSES = [
  ['CC-BY-4.0', 'Creative Commons Attribution 4.0'],
  ['CC-BY-2.5-AR', 'Atribución 2.5 Argentina (CC BY 2.5 AR)'],
  ['ODbL-1.0', 'Open Data Commons Open Database License'],
  ['CC0-1.0', 'Creative Commons CC0'],
];
const DICTIONARY_TYPES: ColumnType[] = ['text', 'int', 'numeric', 'date', 'timestamp', 'bool'];
/** The languages the dataset form offers (ISO 639-2, as Argentina's data.json profile writes them); a dataset's other codes are kept. */
const LANGUAGES = ['spa', 'eng', 'por', 'grn', 'que'];
const LANGUAGE_CODE = /^[a-z]{2,3}$/;

type Form = Record<string, string>;
/** A form's body: checkbox groups (themes, languages) arrive as arrays. */
type FormBody = Record<string, string | string[]>;

const listOf = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' && v ? [v] : []);
const one = (v: unknown): string => (Array.isArray(v) ? String(v[0] ?? '') : v == null ? '' : String(v));

/** A language's name in the page's language ("Español (spa)"), or the code when Intl does not know it. */
export function languageName(locale: Locale, code: string): string {
  try {
    const name = new Intl.DisplayNames([locale === 'en' ? 'en' : 'es-AR'], { type: 'language', fallback: 'none' }).of(code);
    return name ? `${name[0].toLocaleUpperCase(locale)}${name.slice(1)} (${code})` : code;
  } catch {
    return code;
  }
}

/** A DataStore type as the pages name it: "Número entero (int8)", "Integer (int8)". */
export function typeLabel(t: Translate, ckan: string): string {
  const base = columnTypeFromCkan(ckan) ?? 'text';
  return `${t(`open-data.type.${base}`)} (${ckan || ckanType(base)})`;
}

/** The page's label of each field a dataset form (or CKAN's validation) names. */
const FIELD_LABELS: Record<string, string> = {
  name: 'open-data.new.field.name',
  title: 'open-data.new.field.title',
  notes: 'open-data.new.field.notes',
  owner_org: 'open-data.field.publisher',
  groups: 'open-data.field.theme',
  tags: 'open-data.field.keywords',
  license_id: 'open-data.field.license',
  accrualPeriodicity: 'open-data.field.periodicity',
  maintainer: 'open-data.new.field.maintainer',
  maintainer_email: 'open-data.new.field.maintainer_email',
  author_email: 'open-data.error.field.author_email',
  temporal: 'open-data.field.temporal',
  spatial: 'open-data.field.spatial',
  issued: 'open-data.new.field.issued',
  modified: 'open-data.new.field.modified',
  language: 'open-data.new.field.language',
  extras: 'open-data.error.field.extras',
  url: 'open-data.resource.url',
  upload: 'open-data.resource.file',
  form: 'open-data.error.field.form',
};
/** Where the error summary's link for a field goes (the Field components' ids are f-<name>). */
const FIELD_ANCHORS: Record<string, string> = { owner_org: 'od-owner', groups: 'od-theme-0', license_id: 'od-license', accrualPeriodicity: 'od-period', language: 'od-lang-0' };

export const fieldLabel = (t: Translate, field: string) => (FIELD_LABELS[field] ? t(FIELD_LABELS[field]) : field);

/**
 * One of CKAN's validation messages (English, as the API gives them) in the page's language:
 * the known cases get their own explanation; any other keeps CKAN's text (the form's summary
 * still names the field in the page's language).
 */
function fieldMessage(t: Translate, field: string, message: string, values: FormBody): string {
  let m: RegExpExecArray | null;
  switch (field) {
    case 'name':
      if (/^Missing value/.test(message)) return t('open-data.error.name.missing');
      if (/lowercase alphanumeric/.test(message)) return t('open-data.error.name.format');
      if (/cannot be used/.test(message)) return t('open-data.error.name.reserved', { name: one(values.name) });
      if (/already in use/.test(message)) return t('open-data.error.name.taken');
      break;
    case 'owner_org':
      if (/^Missing value/.test(message)) return t('open-data.error.owner_org.missing');
      if (/does not exist/.test(message)) return t('open-data.error.owner_org.unknown');
      if (/not authorized/.test(message)) return t('open-data.error.owner_org.forbidden');
      break;
    case 'groups':
      if ((m = /^Group "(.*)" does not exist/.exec(message))) return t('open-data.error.groups.unknown', { name: m[1] });
      if (/^Must be a list/.test(message)) return t('open-data.error.list');
      break;
    case 'tags':
      if ((m = /^Tag "(.*)" must be/.exec(message))) return t('open-data.error.tags.length', { tag: m[1] });
      if (/^Must be a list/.test(message)) return t('open-data.error.list');
      break;
    case 'maintainer_email':
    case 'author_email':
      return t('open-data.error.email');
    case 'accrualPeriodicity':
      return t('open-data.error.periodicity');
    case 'issued':
    case 'modified':
      return t('open-data.error.date');
    case 'size':
      return t('open-data.error.size');
    case 'language':
      return t('open-data.error.language');
  }
  return message;
}

/** A refused dataset form's errors, field by field, in the page's language. */
export function formErrors(err: CkanError, t: Translate, values: FormBody = {}): Record<string, string> {
  if (!err.fieldErrors) {
    if (err.status === 403) return { owner_org: t('open-data.error.owner_org.forbidden') };
    return { form: err.status === 404 ? t('open-data.error.not-found') : err.message };
  }
  return Object.fromEntries(Object.entries(err.fieldErrors).map(([k, msgs]) => [k, [...new Set(msgs.map((msg) => fieldMessage(t, k, msg, values)))].join(' ')]));
}

/** The form's own checks, before CKAN's (which parsePackage collects without writing anything). */
function pageChecks(body: FormBody): Record<string, string[]> {
  const errors: Record<string, string[]> = {};
  const bad = listOf(body.language).filter((c) => !LANGUAGE_CODE.test(c));
  if (bad.length) errors.language = bad.map((c) => `"${c}" is not an ISO 639 language code`);
  return errors;
}

/** Refuses the form with every problem at once: the page's own and CKAN's field checks. */
function checkForm(body: FormBody, params: Record<string, unknown>) {
  const own = pageChecks(body);
  if (!Object.keys(own).length) return;
  let ckan: Record<string, string[]> = {};
  try {
    parsePackage(params);
  } catch (err) {
    if (err instanceof CkanError && err.fieldErrors) ckan = err.fieldErrors;
  }
  throw new CkanError(409, 'Validation Error', 'Validation Error', { ...ckan, ...own });
}

const officeOnly = () => new HttpError(403, 'You act only for your own office', 'open-data.error.office');

/** The dataset's DCAT metadata: the same form creates a draft and edits an existing dataset. */
function DatasetForm({
  ctx,
  offices,
  themes,
  values,
  errors,
  edit,
}: {
  ctx: PageContext;
  offices: Array<{ slug: string; name: string }>;
  themes: Array<{ name: string; title: string }>;
  values: FormBody;
  errors: Record<string, string>;
  /** The dataset's name when editing (its address does not change here). */
  edit?: string;
}) {
  const { t } = ctx;
  const v = (k: string) => one(values[k]);
  const chosenThemes = listOf(values.theme);
  const chosenLanguages = listOf(values.language);
  const languages = [...LANGUAGES, ...chosenLanguages.filter((c) => !LANGUAGES.includes(c))];
  return (
    <div class="grid-container">
      <h1>{edit ? t('open-data.edit.title', { name: edit }) : t('open-data.new.title')}</h1>
      {Object.keys(errors).length > 0 && (
        <Alert type="error" heading={t('open-data.new.errors')}>
          <ul>
            {Object.entries(errors).map(([k, msg]) => (
              <li key={k}>
                {k === 'form' ? fieldLabel(t, k) : <a href={`#${FIELD_ANCHORS[k] ?? `f-${k}`}`}>{fieldLabel(t, k)}</a>}: {msg}
              </li>
            ))}
          </ul>
        </Alert>
      )}
      <form class="usa-form usa-form--large" method="post" action={edit ? `/datasets/${edit}/edit` : '/datasets/new'}>
        <CsrfField ctx={ctx} />
        <Field name="title" label={t('open-data.new.field.title')} value={v('title')} error={errors.title} required />
        {!edit && <Field name="name" label={t('open-data.new.field.name')} hint={t('open-data.new.field.name.hint')} value={v('name')} error={errors.name} required />}
        <Field name="notes" label={t('open-data.new.field.notes')} value={v('notes')} error={errors.notes} multiline required />
        <label class="usa-label" for="od-owner">
          {t('open-data.field.publisher')}
        </label>
        {errors.owner_org && (
          <span class="usa-error-message" id="od-owner-error" role="alert">
            {errors.owner_org}
          </span>
        )}
        <select class={errors.owner_org ? 'usa-select usa-input--error' : 'usa-select'} id="od-owner" name="owner_org" required aria-describedby={errors.owner_org ? 'od-owner-error' : undefined}>
          {offices.map((o) => (
            <option value={o.slug} selected={v('owner_org') === o.slug} key={o.slug}>
              {o.name}
            </option>
          ))}
        </select>
        <fieldset class="usa-fieldset">
          <legend class="usa-legend">{t('open-data.field.theme')}</legend>
          {errors.groups && (
            <span class="usa-error-message" id="od-theme-error">
              {errors.groups}
            </span>
          )}
          {themes.map((th, i) => (
            <div class="usa-checkbox" key={th.name}>
              <input class="usa-checkbox__input" id={`od-theme-${i}`} type="checkbox" name="theme" value={th.name} checked={chosenThemes.includes(th.name)} />
              <label class="usa-checkbox__label" for={`od-theme-${i}`}>
                {th.title}
              </label>
            </div>
          ))}
        </fieldset>
        <Field name="tags" label={t('open-data.field.keywords')} hint={t('open-data.new.field.tags.hint')} value={v('tags')} error={errors.tags} />
        <label class="usa-label" for="od-license">
          {t('open-data.field.license')}
        </label>
        <select class="usa-select" id="od-license" name="license_id">
          {(LICENSES.some(([id]) => id === v('license_id')) || !v('license_id') ? LICENSES : [...LICENSES, [v('license_id'), v('license_id')]]).map(([id, title]) => (
            <option value={id} selected={v('license_id') === id} key={id}>
              {title}
            </option>
          ))}
        </select>
        <label class="usa-label" for="od-period">
          {t('open-data.field.periodicity')}
        </label>
        {errors.accrualPeriodicity && (
          <span class="usa-error-message" id="od-period-error" role="alert">
            {errors.accrualPeriodicity}
          </span>
        )}
        <select class={errors.accrualPeriodicity ? 'usa-select usa-input--error' : 'usa-select'} id="od-period" name="accrualPeriodicity" aria-describedby={errors.accrualPeriodicity ? 'od-period-error' : undefined}>
          {(PERIODICITIES.includes(v('accrualPeriodicity')) || !v('accrualPeriodicity') ? PERIODICITIES : [...PERIODICITIES, v('accrualPeriodicity')]).map((p) => (
            <option value={p} selected={v('accrualPeriodicity') === p} key={p}>
              {PERIODICITIES.includes(p) ? t(`open-data.periodicity.${p}`) : p}
            </option>
          ))}
        </select>
        <fieldset class="usa-fieldset">
          <legend class="usa-legend">{t('open-data.new.field.language')}</legend>
          {errors.language && (
            <span class="usa-error-message" id="od-lang-error" role="alert">
              {errors.language}
            </span>
          )}
          {languages.map((code, i) => (
            <div class="usa-checkbox" key={code}>
              <input class="usa-checkbox__input" id={`od-lang-${i}`} type="checkbox" name="language" value={code} checked={chosenLanguages.includes(code)} />
              <label class="usa-checkbox__label" for={`od-lang-${i}`}>
                {languageName(ctx.locale, code)}
              </label>
            </div>
          ))}
        </fieldset>
        <Field name="issued" type="date" label={t('open-data.new.field.issued')} hint={t('open-data.new.field.date.hint')} value={v('issued')} error={errors.issued} />
        <Field name="modified" type="date" label={t('open-data.new.field.modified')} hint={t('open-data.new.field.date.hint')} value={v('modified')} error={errors.modified} />
        <Field name="maintainer" label={t('open-data.new.field.maintainer')} value={v('maintainer')} />
        <Field name="maintainer_email" type="email" label={t('open-data.new.field.maintainer_email')} value={v('maintainer_email')} error={errors.maintainer_email} />
        <Field name="temporal" label={t('open-data.field.temporal')} hint={t('open-data.new.field.temporal.hint')} value={v('temporal')} />
        <Field name="spatial" label={t('open-data.field.spatial')} value={v('spatial')} />
        <button class="usa-button" type="submit">
          {edit ? t('open-data.edit.submit') : t('open-data.new.submit')}
        </button>
      </form>
    </div>
  );
}

/** A stored date as the form's date input shows it (its UTC calendar day, as bare dates are stored). */
const dayOf = (d: Date | null) => (d ? new Date(d).toISOString().slice(0, 10) : '');
/** Today in the city, for the new dataset's date of publication. */
const today = () => new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Argentina/Buenos_Aires' }).format(new Date());

/**
 * A date field of the form → the value for the package dict. The input holds a day: when it is
 * still the day of the stored value (a harvested date-time, today's "now"), that exact value is
 * kept instead of truncating it to midnight.
 */
function dateField(body: FormBody, key: string, current: Date | null): string {
  const day = one(body[key]).trim();
  return current && day === dayOf(current) ? new Date(current).toISOString() : day;
}

/** Form fields → the package dict fields they set. */
function packageFields(body: FormBody, current?: Pick<DatasetRow, 'issued' | 'modified'>) {
  return {
    title: one(body.title),
    notes: one(body.notes),
    owner_org: one(body.owner_org),
    groups: listOf(body.theme).map((name) => ({ name })),
    tags: one(body.tags)
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)
      .map((name) => ({ name })),
    license_id: one(body.license_id),
    license_title: LICENSES.find(([id]) => id === one(body.license_id))?.[1] ?? one(body.license_id),
    accrualPeriodicity: one(body.accrualPeriodicity),
    maintainer: one(body.maintainer),
    maintainer_email: one(body.maintainer_email),
    temporal: one(body.temporal),
    spatial: one(body.spatial),
    language: listOf(body.language).map((c) => c.trim()).filter(Boolean),
    issued: dateField(body, 'issued', current?.issued ?? null),
    modified: dateField(body, 'modified', current?.modified ?? null),
  };
}

/** The size limit of uploads as the pages say it: "20 MB", "512 KB". */
const sizeText = (bytes: number) => (bytes >= 1024 * 1024 ? `${Math.round((bytes / 1024 / 1024) * 10) / 10} MB` : `${Math.ceil(bytes / 1024)} KB`);

/** What to do about a file the loader refused, from its reason (which the page quotes as the loader gives it). */
function loadHint(reason: string): string {
  if (/ragged|extra data after last expected column|missing data for column/i.test(reason)) return 'open-data.error.upload.hint.ragged';
  if (/UTF-8|encoding/i.test(reason)) return 'open-data.error.upload.hint.encoding';
  if (/file is empty|no header row/i.test(reason)) return 'open-data.error.upload.hint.empty';
  if (/is not (an integer|a number|a date|a timestamp|true\/false)|data dictionary says|invalid input syntax/i.test(reason)) return 'open-data.error.upload.hint.type';
  return 'open-data.error.upload.hint.other';
}

const withoutPeriod = (s: string) => s.trim().replace(/\.$/, '');

/**
 * A refused upload (a new resource or a new version) as an error page in the visitor's language:
 * too large (413), a file the DataStore could not load (the loader's row and reason inside a
 * localized sentence, with what to do), a missing or bad link, someone else's dataset.
 */
function uploadProblem(err: unknown, t: Translate, services: Services, kind: 'resource' | 'version'): unknown {
  const code = (err as { code?: string }).code;
  if ((err instanceof CkanError && err.status === 413) || code === 'FST_REQ_FILE_TOO_LARGE' || code === 'FST_PARTS_LIMIT' || code === 'FST_FILES_LIMIT') {
    return new HttpError(413, t('open-data.error.upload.size', { limit: sizeText(services.files.limitBytes) }));
  }
  if (!(err instanceof CkanError)) return err;
  if (err.status === 403) return officeOnly();
  if (err.status === 404) return new HttpError(404, err.message, 'open-data.error.not-found');
  const fields = err.fieldErrors ?? {};
  if (fields.upload?.length) {
    const reason = withoutPeriod(fields.upload.join('; '));
    return new HttpError(400, t(kind === 'version' ? 'open-data.error.version.load' : 'open-data.error.upload.load', { error: reason, hint: t(loadHint(reason)) }));
  }
  if (fields.url?.length) return new HttpError(400, t(/Missing value/.test(fields.url[0]) ? 'open-data.error.upload.url' : 'open-data.error.upload.url-format'));
  const text = Object.entries(formErrors(err, t))
    .map(([k, msg]) => `${fieldLabel(t, k)}: ${msg}`)
    .join(' ');
  return new HttpError(400, t('open-data.error.upload.other', { error: text }));
}

/**
 * A multipart form with one file part `upload` (streamed into the file store, see receiveUpload)
 * or a urlencoded one. An empty file input is no upload. The caller discards an upload nobody took.
 */
async function readUploadForm(services: Services, request: FastifyRequest): Promise<{ fields: Form; upload?: Upload }> {
  const fields: Form = {};
  let upload: Upload | undefined;
  if (!request.isMultipart()) return { fields: Object.fromEntries(Object.entries((request.body ?? {}) as FormBody).map(([k, v]) => [k, one(v)])) };
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        if (part.fieldname !== 'upload' || upload) {
          part.file.resume();
          continue;
        }
        // A file name with U+0000 would reach the database as the stored file's name.
        if (part.filename?.includes('\u0000')) {
          part.file.resume();
          throw new NulCharacterError('upload');
        }
        upload = await receiveUpload(services, part, request.user!.id);
        // The form's empty file input (a link was given instead).
        if (!upload.file!.size) {
          await discardUnused(services, upload);
          upload = undefined;
        }
      } else fields[part.fieldname] = String(part.value);
    }
    // The platform checks urlencoded and JSON bodies for U+0000; multipart fields are read here.
    const nul = nulIn(fields);
    if (nul !== null) throw new NulCharacterError(nul || undefined);
  } catch (err) {
    await discardUnused(services, upload);
    throw err;
  }
  return { fields, upload };
}

/** The officials' side: new datasets (as drafts), resources (upload or link), new versions, data dictionaries. */
export async function publishPages(app: FastifyInstance) {
  const services = app.services;
  const db = odDb(services);

  async function myOffices(request: FastifyRequest) {
    const v = viewerOf(request.user);
    if (v.admin) return db.selectFrom('offices').select(['slug', 'name']).orderBy('name').execute();
    if (!v.officeIds.length) return [];
    return db.selectFrom('offices').select(['slug', 'name']).where('id', 'in', v.officeIds).orderBy('name').execute();
  }

  const noOffice = () => new HttpError(403, 'Only members of an office publish datasets', 'open-data.error.no-office');

  app.get('/datasets/new', { preHandler: requireUser }, async (request, reply) => {
    const offices = await myOffices(request);
    if (!offices.length) throw noOffice();
    const themes = await allThemes(db);
    const values: FormBody = { license_id: 'CC-BY-4.0', accrualPeriodicity: 'R/P1Y', language: ['spa'], issued: today() };
    return reply.page(request.t('open-data.new.title'), <DatasetForm ctx={request.pageContext()} offices={offices} themes={themes} values={values} errors={{}} />, {
      breadcrumbs: [{ href: '/datasets', label: request.t('open-data.title') }, { label: request.t('open-data.new.title') }],
    });
  });

  app.post('/datasets/new', { preHandler: requireUser }, async (request, reply) => {
    const body = (request.body ?? {}) as FormBody;
    const offices = await myOffices(request);
    if (!offices.length) throw noOffice();
    try {
      const fields = packageFields(body);
      // The form proposes today: left as it is, the dataset is issued now (to the second).
      if (one(body.issued).trim() === today()) fields.issued = new Date().toISOString();
      const params = { ...fields, name: one(body.name), extras: [{ key: 'accrualPeriodicity', value: fields.accrualPeriodicity }] };
      checkForm(body, params);
      const d = await createPackage(services, request.actor(), viewerOf(request.user), params, { status: 'draft' });
      return reply.redirect(`/datasets/${d.name}`, 303);
    } catch (err) {
      if (!(err instanceof CkanError)) throw err;
      const themes = await allThemes(db);
      return reply.page(request.t('open-data.new.title'), <DatasetForm ctx={request.pageContext()} offices={offices} themes={themes} values={body} errors={formErrors(err, request.t, body)} />, {
        status: err.status === 403 ? 403 : 400,
      });
    }
  });

  /** The metadata edit form, for the editors and administrators of the dataset's office. */
  async function editable(request: FastifyRequest) {
    const { name } = request.params as { name: string };
    const d = await findDataset(db, name);
    if (!d || d.state === 'deleted') throw notFound();
    if (!canEdit(viewerOf(request.user), d.office_id)) throw officeOnly();
    return d;
  }

  app.get('/datasets/:name/edit', { preHandler: requireUser }, async (request, reply) => {
    const d = await editable(request);
    const [offices, themes, office] = await Promise.all([myOffices(request), allThemes(db), db.selectFrom('offices').select(['slug', 'name']).where('id', '=', d.office_id).executeTakeFirstOrThrow()]);
    const values: FormBody = {
      title: d.title,
      notes: d.notes,
      owner_org: office.slug,
      theme: d.themes,
      tags: d.tags.join(', '),
      license_id: d.license_id,
      accrualPeriodicity: d.accrual_periodicity,
      language: d.language,
      issued: dayOf(d.issued),
      modified: dayOf(d.modified),
      maintainer: d.maintainer,
      maintainer_email: d.maintainer_email,
      temporal: d.temporal,
      spatial: d.spatial,
    };
    const list = offices.some((o) => o.slug === office.slug) ? offices : [office, ...offices];
    return reply.page(request.t('open-data.edit.title', { name: d.name }), <DatasetForm ctx={request.pageContext()} offices={list} themes={themes} values={values} errors={{}} edit={d.name} />, {
      breadcrumbs: [{ href: '/datasets', label: request.t('open-data.title') }, { href: `/datasets/${d.name}`, label: d.title }, { label: request.t('open-data.edit.link') }],
    });
  });

  app.post('/datasets/:name/edit', { preHandler: requireUser }, async (request, reply) => {
    const d = await editable(request);
    const body = (request.body ?? {}) as FormBody;
    const viewer = viewerOf(request.user);
    const fields = packageFields(body, d);
    // Everything the form does not show (resources, other extras) stays as it is.
    const current = (await packageDicts({ services, db }, [d]))[0] as Record<string, unknown>;
    const extras = (current.extras as Array<{ key: string; value: string }>).filter((e) => !['accrualPeriodicity', 'temporal', 'spatial', 'issued', 'modified', 'language'].includes(e.key));
    const params = { ...current, ...fields, extras, id: d.id, resources: undefined };
    try {
      checkForm(body, { ...params, id: undefined });
      await updatePackage(services, request.actor(), viewer, params, 'edit');
    } catch (err) {
      if (!(err instanceof CkanError)) throw err;
      // Moving the dataset to an office that is not the user's: said on the form's publisher field.
      if (err.status === 403 && one(body.owner_org) === current.owner_org) throw officeOnly();
      if (err.status === 404) throw notFound();
      const [offices, themes] = await Promise.all([myOffices(request), allThemes(db)]);
      return reply.page(request.t('open-data.edit.title', { name: d.name }), <DatasetForm ctx={request.pageContext()} offices={offices} themes={themes} values={body} errors={formErrors(err, request.t, body)} edit={d.name} />, {
        status: err.status === 403 ? 403 : 400,
      });
    }
    return reply.redirect(`/datasets/${d.name}`, 303);
  });

  /** A resource from a form: a file (multipart, CSRF token in the URL) or a link. */
  app.post('/datasets/:name/resources', { preHandler: requireUser }, async (request, reply) => {
    const { name } = request.params as { name: string };
    const d = await findDataset(db, name);
    if (!d || d.state === 'deleted') throw notFound();
    if (!canEdit(viewerOf(request.user), d.office_id)) throw officeOnly();
    const { fields, upload } = await readUploadForm(services, request).catch((err) => {
      throw uploadProblem(err, request.t, services, 'resource');
    });
    try {
      await createResource(services, request.actor(), viewerOf(request.user), { package_id: d.id, name: fields.name, description: fields.description, format: fields.format, url: fields.url }, upload);
    } catch (err) {
      throw uploadProblem(err, request.t, services, 'resource');
    } finally {
      await discardUnused(services, upload);
    }
    return reply.redirect(`/datasets/${d.name}`, 303);
  });

  /**
   * A new version of a resource's file, from its page (the dataset office's editors and
   * administrators): the API's resource_patch with an upload, so the old file stays in the
   * version history (downloadable) and a tabular file reloads the DataStore table (or queues the
   * load, for a big one). A file that does not load changes nothing.
   */
  app.post('/datasets/:name/resource/:id/version', { preHandler: requireUser }, async (request, reply) => {
    const { name, id } = request.params as { name: string; id: string };
    const d = await findDataset(db, name);
    const r = await findResource(db, id);
    if (!d || d.state === 'deleted' || !r || r.dataset_id !== d.id) throw notFound();
    if (!canEdit(viewerOf(request.user), d.office_id)) throw officeOnly();
    const { fields, upload } = await readUploadForm(services, request).catch((err) => {
      throw uploadProblem(err, request.t, services, 'version');
    });
    try {
      if (!upload) throw new HttpError(400, request.t('open-data.error.upload.missing'));
      const format = (fields.format ?? '').trim();
      await updateResource(services, request.actor(), viewerOf(request.user), { id: r.id, ...(format ? { format } : {}) }, upload, 'patch');
    } catch (err) {
      throw uploadProblem(err, request.t, services, 'version');
    } finally {
      await discardUnused(services, upload);
    }
    return reply.redirect(`/datasets/${d.name}/resource/${r.id}?saved=version`, 303);
  });

  /**
   * The dictionary: descriptions, units and types. A changed type reloads a file's table from the
   * stored file; the columns of a table without a file (datastore_create's) are converted in place.
   */
  app.post('/datasets/:name/resource/:id/dictionary', { preHandler: requireUser }, async (request, reply) => {
    const { name, id } = request.params as { name: string; id: string };
    const body = (request.body ?? {}) as Form;
    const d = await findDataset(db, name);
    const r = await findResource(db, id);
    if (!d || !r || r.dataset_id !== d.id) throw notFound();
    if (!canEdit(viewerOf(request.user), d.office_id)) throw officeOnly();
    const chosen = (i: number): ColumnType | null => {
      const type = one(body[`type_${i}`]) as ColumnType;
      return DICTIONARY_TYPES.includes(type) ? type : null;
    };
    const described = (f: DictionaryField, i: number): DictionaryField['info'] => ({
      ...f.info,
      notes: one(body[`notes_${i}`] ?? f.info?.notes ?? '').slice(0, 2000),
      unit: one(body[`unit_${i}`] ?? f.info?.unit ?? '').slice(0, 100),
    });
    const info = r.datastore_active ? await datastoreInfo(db, r.id) : undefined;
    if (!r.file_id && info) {
      // A table written through the API has no file to reload: its types are the columns' own,
      // so a new type converts the column (CKAN sets them with datastore_create).
      const columns = new Map(info.fields.map((f) => [f.id, columnTypeFromCkan(f.type) ?? 'text']));
      const changes: Array<{ id: string; to: ColumnType }> = [];
      const fields: DictionaryField[] = r.fields.map((f, i) => {
        const now = columns.get(f.id);
        const to = chosen(i);
        if (now && to && to !== now) changes.push({ id: f.id, to });
        const type = now && to ? ckanType(to) : f.type;
        return { ...f, type, info: { ...described(f, i), type_override: '' } };
      });
      const byId = new Map(fields.map((f) => [f.id, f]));
      const stored = info.fields.map((f) => byId.get(f.id) ?? f);
      try {
        await db.transaction().execute(async (trx) => {
          await retypeColumns(trx, r.id, changes);
          await trx.updateTable('od_resources').set({ fields: JSON.stringify(fields) }).where('id', '=', r.id).execute();
          await trx.updateTable('od_datastore').set({ fields: JSON.stringify(stored) }).where('resource_id', '=', r.id).execute();
          await services.audit.record(request.actor(), { action: 'resource.dictionary', subjectType: 'resource', subjectId: r.id, officeId: d.office_id, details: { converted: changes.map((c) => `${c.id}:${c.to}`) } }, coreDb(trx));
        });
      } catch (err) {
        if (err instanceof RetypeProblem) throw new HttpError(400, request.t('open-data.error.retype', { column: err.column, type: typeLabel(request.t, ckanType(err.type)), id: err.rowId, value: err.value }));
        const code = (err as { code?: string }).code;
        if (code && /^2[23]/.test(code)) throw new HttpError(400, request.t('open-data.error.retype.db', { error: withoutPeriod((err as Error).message) }));
        throw err;
      }
      return reply.redirect(`/datasets/${d.name}/resource/${r.id}`, 303);
    }
    const fields: DictionaryField[] = r.fields.map((f, i) => {
      const type = chosen(i);
      return { ...f, info: { ...described(f, i), type_override: type && (type !== baseType(f.type) || f.info?.type_override) ? type : '' } };
    });
    const typesChanged = fields.some((f, i) => (f.info?.type_override ?? '') !== (r.fields[i].info?.type_override ?? ''));
    // A big file reloads in a job; until it finishes the table keeps its old types, and so does its dictionary in od_datastore.
    const queued = typesChanged && !!r.file_id && r.datastore_active && (r.size ?? 0) > loadSettings.jobThresholdBytes;
    if (queued) {
      await queueLoad(services, r.id, r.file_id!, r.format, fields, request.user!.id);
    } else if (typesChanged && r.file_id && r.datastore_active) {
      // The stored file is read back and converted again. If it is gone or no longer parses (a
      // JSON that is not an array of records, a broken XLSX), or if its data contradict the new
      // types, nothing changes and the editor is told why, in their language.
      const file = r.file_id;
      const raw = () => services.files.storage.read(file) as Readable;
      try {
        const source = r.format === 'XLSX' ? xlsxAsCsv(raw) : r.format === 'JSON' ? await jsonAsCsv(raw).catch(unreadable) : raw;
        await loadDatastore(services, r.id, guarded(source), { dictionary: fields });
      } catch (err) {
        if (err instanceof UnreadableFile) throw new HttpError(409, request.t('open-data.error.stored-file', { format: r.format || '?' }));
        if (err instanceof LoadError) throw new HttpError(400, request.t('open-data.error.reload', { error: withoutPeriod(err.message) }));
        throw err;
      }
    }
    await db.transaction().execute(async (trx) => {
      await trx.updateTable('od_resources').set({ fields: JSON.stringify(fields) }).where('id', '=', r.id).execute();
      if (!queued) await trx.updateTable('od_datastore').set({ fields: JSON.stringify(fields.map((f) => ({ ...f, type: f.info?.type_override ? ckanType(f.info.type_override) : f.type }))) }).where('resource_id', '=', r.id).execute();
      await services.audit.record(request.actor(), { action: 'resource.dictionary', subjectType: 'resource', subjectId: r.id, officeId: d.office_id, details: { reloaded: typesChanged, queued } }, coreDb(trx));
    });
    return reply.redirect(`/datasets/${d.name}/resource/${r.id}`, 303);
  });
}

/** A value of a column that does not fit the type it is being converted to. */
class RetypeProblem extends Error {
  constructor(
    readonly column: string,
    readonly type: ColumnType,
    readonly rowId: number,
    readonly value: string,
  ) {
    super(`column "${column}": row _id ${rowId}: "${value}" is not ${type}`);
  }
}

const CHECK_BATCH = 5000;

/**
 * Converts columns of a DataStore table in place (ALTER TABLE … TYPE … USING), inside the
 * caller's transaction. Every value is first checked with the loader's rules (cellProblem),
 * batch by batch in `_id` order, so that a refusal names the first row that does not fit; the
 * conversion itself trims the text, reads empty text as null and a decimal comma as a point.
 */
async function retypeColumns(trx: OdDb, resourceId: string, changes: Array<{ id: string; to: ColumnType }>): Promise<void> {
  const table = sql.raw(tableRef(resourceId));
  for (const c of changes) {
    const col = sql.id(c.id);
    if (c.to !== 'text') {
      for (let last: number | null = null; ; ) {
        const after: RawBuilder<unknown> = last == null ? sql`` : sql`and "_id" > ${last}`;
        const batch: QueryResult<{ _id: number; v: string }> = await sql<{ _id: number; v: string }>`select "_id", ${col}::text as v from ${table} where ${col} is not null ${after} order by "_id" limit ${CHECK_BATCH}`.execute(trx);
        for (const row of batch.rows) {
          if (cellProblem(c.to, row.v)) throw new RetypeProblem(c.id, c.to, Number(row._id), row.v);
        }
        if (batch.rows.length < CHECK_BATCH) break;
        last = Number(batch.rows[batch.rows.length - 1]._id);
      }
    }
    const text = sql`btrim(${col}::text)`;
    const using =
      c.to === 'text'
        ? sql`${col}::text`
        : c.to === 'numeric'
          ? sql`(case when ${text} ~ '^[-+]?[0-9]+,[0-9]+$' then replace(${text}, ',', '.') else nullif(${text}, '') end)::numeric`
          : sql`nullif(${text}, '')::${sql.raw(SQL_TYPE[c.to])}`;
    await sql`alter table ${table} alter column ${col} type ${sql.raw(SQL_TYPE[c.to])} using ${using}`.execute(trx);
  }
}

/** A resource's stored file that cannot be read back (missing) or parsed as its format. */
class UnreadableFile extends Error {}

const unreadable = (err: unknown): never => {
  throw err instanceof UnreadableFile ? err : new UnreadableFile(err instanceof Error ? err.message : String(err));
};

/**
 * A source for the loader whose own failures (reading the file, converting XLSX or JSON to CSV)
 * are UnreadableFile, told apart from the loader's (a LoadError) and the database's. The file
 * loaded once, so a source that now yields nothing (exceljs reads a file that is not an XLSX as
 * one without sheets) is unreadable too.
 */
function guarded(open: () => Readable): () => Readable {
  return () =>
    Readable.from(
      (async function* () {
        let bytes = 0;
        try {
          for await (const chunk of open()) {
            bytes += (chunk as Buffer | string).length;
            yield chunk;
          }
        } catch (err) {
          unreadable(err);
        }
        if (!bytes) unreadable(new Error('the stored file yields no data'));
      })(),
    );
}

const baseType = (ckan: string): ColumnType => columnTypeFromCkan(ckan) ?? 'text';
export const ckanType = (t: string): string => CKAN_TYPE[t as ColumnType] ?? 'text';

/** Shown to the dataset's editors on the dataset page. */
export function ResourceForm({ ctx, datasetName }: { ctx: PageContext; datasetName: string }) {
  const { t } = ctx;
  return (
    <section aria-labelledby="od-add">
      <h2 id="od-add">{t('open-data.resource.add')}</h2>
      <form class="usa-form usa-form--large" method="post" encType="multipart/form-data" action={`/datasets/${datasetName}/resources?_csrf=${encodeURIComponent(ctx.csrfToken)}`}>
        <Field name="name" label={t('open-data.resource.name')} required />
        <Field name="description" label={t('open-data.resource.description')} multiline />
        <Field name="format" label={t('open-data.resource.format')} hint={t('open-data.resource.format.hint')} />
        <label class="usa-label" for="od-upload">
          {t('open-data.resource.file')}
        </label>
        <input class="usa-file-input" id="od-upload" name="upload" type="file" />
        <Field name="url" type="url" label={t('open-data.resource.url')} hint={t('open-data.resource.url.hint')} />
        <button class="usa-button" type="submit">
          {t('open-data.resource.submit')}
        </button>
      </form>
    </section>
  );
}

/** Shown to editors on the resource page: each field's type, description and unit. */
export function DictionaryForm({ ctx, action, fields }: { ctx: PageContext; action: string; fields: DictionaryField[] }) {
  const { t } = ctx;
  return (
    <form method="post" action={action}>
      <CsrfField ctx={ctx} />
      <table class="usa-table">
        <caption>{t('open-data.dictionary.edit')}</caption>
        <thead>
          <tr>
            <th scope="col">{t('open-data.dictionary.field')}</th>
            <th scope="col">{t('open-data.dictionary.type')}</th>
            <th scope="col">{t('open-data.dictionary.description')}</th>
            <th scope="col">{t('open-data.dictionary.unit')}</th>
          </tr>
        </thead>
        <tbody>
          {fields.map((f, i) => (
            <tr key={f.id}>
              <th scope="row">{f.id}</th>
              <td>
                <label class="usa-sr-only" for={`type_${i}`}>
                  {t('open-data.dictionary.type')} {f.id}
                </label>
                <select class="usa-select" id={`type_${i}`} name={`type_${i}`}>
                  {DICTIONARY_TYPES.map((ty) => (
                    <option value={ty} selected={(f.info?.type_override || baseType(f.type)) === ty} key={ty}>
                      {typeLabel(t, ckanType(ty))}
                    </option>
                  ))}
                </select>
              </td>
              <td>
                <label class="usa-sr-only" for={`notes_${i}`}>
                  {t('open-data.dictionary.description')} {f.id}
                </label>
                <input class="usa-input" id={`notes_${i}`} name={`notes_${i}`} value={f.info?.notes ?? ''} />
              </td>
              <td>
                <label class="usa-sr-only" for={`unit_${i}`}>
                  {t('open-data.dictionary.unit')} {f.id}
                </label>
                <input class="usa-input" id={`unit_${i}`} name={`unit_${i}`} value={f.info?.unit ?? ''} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <button class="usa-button" type="submit">
        {t('open-data.dictionary.save')}
      </button>
    </form>
  );
}

/** Shown to the dataset's editors on the resource page: a new file for the resource (a new version). */
export function VersionForm({ ctx, datasetName, resourceId }: { ctx: PageContext; datasetName: string; resourceId: string }) {
  const { t } = ctx;
  return (
    <section aria-labelledby="od-version">
      <h2 id="od-version">{t('open-data.version.title')}</h2>
      <p>{t('open-data.version.intro')}</p>
      <form class="usa-form usa-form--large" method="post" encType="multipart/form-data" action={`/datasets/${datasetName}/resource/${resourceId}/version?_csrf=${encodeURIComponent(ctx.csrfToken)}`}>
        <label class="usa-label" for="od-version-file">
          {t('open-data.version.file')}
        </label>
        <input class="usa-file-input" id="od-version-file" name="upload" type="file" required />
        <Field name="format" label={t('open-data.resource.format')} hint={t('open-data.resource.format.hint')} />
        <button class="usa-button" type="submit">
          {t('open-data.version.submit')}
        </button>
      </form>
    </section>
  );
}

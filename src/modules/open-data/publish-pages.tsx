import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { Alert, CsrfField, Field } from '../../core/ui/layout';
import type { PageContext } from '../../core/ui/context';
import { HttpError, forbidden, notFound, requireUser } from '../../core/http/guards';
import { odDb, coreDb, viewerOf, canEdit, findDataset, findResource, allThemes } from './store';
import { createPackage, updatePackage, createResource, loadSettings, queueLoad, receiveUpload, discardUnused, type Upload } from './publishing';
import { packageDicts } from './ckan-api';
import { CkanError } from './ckan';
import { loadDatastore, LoadError } from './datastore';
import { xlsxAsCsv, jsonAsCsv } from './tabular-sources';
import type { DictionaryField } from './tables';

const PERIODICITIES = ['R/P1D', 'R/P1W', 'R/P1M', 'R/P3M', 'R/P6M', 'R/P1Y', 'eventual'];
const LICENSES = [
  ['CC-BY-4.0', 'Creative Commons Attribution 4.0'],
  ['CC-BY-2.5-AR', 'Atribución 2.5 Argentina (CC BY 2.5 AR)'],
  ['ODbL-1.0', 'Open Data Commons Open Database License'],
  ['CC0-1.0', 'Creative Commons CC0'],
];
const DICTIONARY_TYPES = ['text', 'int', 'numeric', 'date', 'timestamp', 'bool'];

type Form = Record<string, string>;
/** A form's body: checkbox groups (themes) arrive as arrays. */
type FormBody = Record<string, string | string[]>;

const listOf = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' && v ? [v] : []);
const one = (v: unknown): string => (Array.isArray(v) ? String(v[0] ?? '') : v == null ? '' : String(v));

/** Field errors whose CKAN message (English, for API clients) the form says in the visitor's language. */
const TRANSLATED_ERRORS: Record<string, string> = {
  accrualPeriodicity: 'open-data.error.periodicity',
  issued: 'open-data.error.date',
  modified: 'open-data.error.date',
  size: 'open-data.error.size',
};

function errorText(err: CkanError, t?: PageContext['t']): Record<string, string> {
  return Object.fromEntries(
    Object.entries(err.fieldErrors ?? { form: [err.message] }).map(([k, v]) => [k, t && TRANSLATED_ERRORS[k] ? t(TRANSLATED_ERRORS[k]) : v.join('; ')]),
  );
}

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
  return (
    <div class="grid-container">
      <h1>{edit ? t('open-data.edit.title', { name: edit }) : t('open-data.new.title')}</h1>
      {Object.keys(errors).length > 0 && (
        <Alert type="error" heading={t('open-data.new.errors')}>
          <ul>
            {Object.entries(errors).map(([k, msg]) => (
              <li key={k}>
                {k}: {msg}
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
        <select class="usa-select" id="od-owner" name="owner_org" required>
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

/** Form fields → the package dict fields they set. */
function packageFields(body: FormBody) {
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
  };
}

/** The officials' side: new datasets (as drafts), resources (upload or link), data dictionaries. */
export async function publishPages(app: FastifyInstance) {
  const services = app.services;
  const db = odDb(services);

  async function myOffices(request: FastifyRequest) {
    const v = viewerOf(request.user);
    if (v.admin) return db.selectFrom('offices').select(['slug', 'name']).orderBy('name').execute();
    if (!v.officeIds.length) return [];
    return db.selectFrom('offices').select(['slug', 'name']).where('id', 'in', v.officeIds).orderBy('name').execute();
  }

  app.get('/datasets/new', { preHandler: requireUser }, async (request, reply) => {
    const offices = await myOffices(request);
    if (!offices.length) throw forbidden('Only members of an office publish datasets');
    const themes = await allThemes(db);
    return reply.page(request.t('open-data.new.title'), <DatasetForm ctx={request.pageContext()} offices={offices} themes={themes} values={{ license_id: 'CC-BY-4.0', accrualPeriodicity: 'R/P1Y' }} errors={{}} />, {
      breadcrumbs: [{ href: '/datasets', label: request.t('open-data.title') }, { label: request.t('open-data.new.title') }],
    });
  });

  app.post('/datasets/new', { preHandler: requireUser }, async (request, reply) => {
    const body = (request.body ?? {}) as FormBody;
    const offices = await myOffices(request);
    if (!offices.length) throw forbidden('Only members of an office publish datasets');
    try {
      const fields = packageFields(body);
      const d = await createPackage(
        services,
        request.actor(),
        viewerOf(request.user),
        { ...fields, name: one(body.name), extras: [{ key: 'accrualPeriodicity', value: fields.accrualPeriodicity }], language: ['spa'], issued: new Date().toISOString() },
        { status: 'draft' },
      );
      return reply.redirect(`/datasets/${d.name}`, 303);
    } catch (err) {
      if (!(err instanceof CkanError)) throw err;
      const themes = await allThemes(db);
      return reply.page(request.t('open-data.new.title'), <DatasetForm ctx={request.pageContext()} offices={offices} themes={themes} values={body} errors={errorText(err, request.t)} />, { status: 400 });
    }
  });

  /** The metadata edit form, for the editors and administrators of the dataset's office. */
  async function editable(request: FastifyRequest) {
    const { name } = request.params as { name: string };
    const d = await findDataset(db, name);
    if (!d || d.state === 'deleted') throw notFound();
    if (!canEdit(viewerOf(request.user), d.office_id)) throw forbidden('You act only for your own office');
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
    const fields = packageFields(body);
    // Everything the form does not show (resources, extras, language, dates) stays as it is.
    const current = (await packageDicts({ services, db }, [d]))[0] as Record<string, unknown>;
    const extras = (current.extras as Array<{ key: string; value: string }>).filter((e) => !['accrualPeriodicity', 'temporal', 'spatial'].includes(e.key));
    try {
      await updatePackage(services, request.actor(), viewer, { ...current, ...fields, extras, id: d.id, resources: undefined }, 'edit');
    } catch (err) {
      if (!(err instanceof CkanError)) throw err;
      if (err.status === 403) throw forbidden(err.message);
      const [offices, themes] = await Promise.all([myOffices(request), allThemes(db)]);
      return reply.page(request.t('open-data.edit.title', { name: d.name }), <DatasetForm ctx={request.pageContext()} offices={offices} themes={themes} values={body} errors={errorText(err, request.t)} edit={d.name} />, { status: 400 });
    }
    return reply.redirect(`/datasets/${d.name}`, 303);
  });

  const pageError = (err: unknown) =>
    err instanceof CkanError ? new HttpError(err.status === 403 ? 403 : err.status === 413 ? 413 : 400, Object.values(errorText(err)).join(' ')) : err;

  /** A resource from a form: a file (multipart, CSRF token in the URL) or a link. */
  app.post('/datasets/:name/resources', { preHandler: requireUser }, async (request, reply) => {
    const { name } = request.params as { name: string };
    const d = await findDataset(db, name);
    if (!d || d.state === 'deleted') throw notFound();
    if (!canEdit(viewerOf(request.user), d.office_id)) throw forbidden('You act only for your own office');
    const fields: Record<string, string> = {};
    let upload: Upload | undefined;
    if (request.isMultipart()) {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          if (part.fieldname !== 'upload' || upload) {
            part.file.resume();
            continue;
          }
          try {
            upload = await receiveUpload(services, part, request.user!.id);
          } catch (err) {
            await discardUnused(services, upload);
            throw pageError(err);
          }
          // The form's empty file input (a link was given instead).
          if (!upload.file!.size) {
            await discardUnused(services, upload);
            upload = undefined;
          }
        } else fields[part.fieldname] = String(part.value);
      }
    } else Object.assign(fields, request.body as Form);
    try {
      await createResource(services, request.actor(), viewerOf(request.user), { package_id: d.id, name: fields.name, description: fields.description, format: fields.format, url: fields.url }, upload);
    } catch (err) {
      throw pageError(err);
    } finally {
      await discardUnused(services, upload);
    }
    return reply.redirect(`/datasets/${d.name}`, 303);
  });

  /** The dictionary: descriptions, units and types; a changed type reloads the table from the file. */
  app.post('/datasets/:name/resource/:id/dictionary', { preHandler: requireUser }, async (request, reply) => {
    const { name, id } = request.params as { name: string; id: string };
    const body = (request.body ?? {}) as Form;
    const d = await findDataset(db, name);
    const r = await findResource(db, id);
    if (!d || !r || r.dataset_id !== d.id) throw notFound();
    if (!canEdit(viewerOf(request.user), d.office_id)) throw forbidden('You act only for your own office');
    const fields: DictionaryField[] = r.fields.map((f, i) => {
      const type = body[`type_${i}`];
      return {
        ...f,
        info: {
          ...f.info,
          notes: (body[`notes_${i}`] ?? f.info?.notes ?? '').slice(0, 2000),
          unit: (body[`unit_${i}`] ?? f.info?.unit ?? '').slice(0, 100),
          type_override: type && DICTIONARY_TYPES.includes(type) && (type !== baseType(f.type) || f.info?.type_override) ? type : '',
        },
      };
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
        if (err instanceof LoadError) throw new HttpError(400, request.t('open-data.error.reload', { error: err.message }));
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

const baseType = (ckan: string) => ({ int8: 'int', int: 'int', numeric: 'numeric', date: 'date', timestamp: 'timestamp', bool: 'bool' })[ckan] ?? 'text';
const ckanType = (t: string) => ({ int: 'int8', numeric: 'numeric', date: 'date', timestamp: 'timestamp', bool: 'bool' })[t] ?? 'text';

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
                      {ty}
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

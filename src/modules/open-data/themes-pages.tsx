import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Alert, CsrfField, Field } from '../../core/ui/layout';
import type { PageContext } from '../../core/ui/context';
import { HttpError, requireAdmin } from '../../core/http/guards';
import { odDb, viewerOf, findTheme } from './store';
import { CkanError } from './ckan';
import { createTheme, updateTheme, deleteTheme, themesForAdmin, ThemeError } from './themes';

type Form = Record<string, string>;

const one = (v: unknown): string => (Array.isArray(v) ? String(v[0] ?? '') : v == null ? '' : String(v));

/** The site administrators' list of themes (sectors) with a create/edit form. */
export async function themesPages(app: FastifyInstance) {
  const services = app.services;
  const db = odDb(services);

  async function render(request: FastifyRequest, reply: FastifyReply, values: Form, errors: Record<string, string>, status = 200) {
    const t = request.t;
    const ctx = request.pageContext();
    const themes = await themesForAdmin(db);
    const saved = one((request.query as Record<string, unknown>)?.saved);
    return reply.page(
      t('open-data.themes.title'),
      <div class="grid-container">
        <h1>{t('open-data.themes.title')}</h1>
        <p>{t('open-data.themes.intro')}</p>
        {saved && status === 200 && <Alert type="success">{t('open-data.themes.saved', { name: saved })}</Alert>}
        <table class="usa-table usa-table--stacked">
          <caption>{t('open-data.themes.caption')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('open-data.themes.field.title')}</th>
              <th scope="col">{t('open-data.themes.field.name')}</th>
              <th scope="col">{t('open-data.themes.datasets')}</th>
              <th scope="col">{t('open-data.themes.published')}</th>
              <th scope="col">{t('open-data.status')}</th>
              <th scope="col">{t('open-data.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {themes.map((th) => (
              <tr key={th.id}>
                <th scope="row">{th.state === 'active' ? <a href={`/datasets?groups=${encodeURIComponent(th.name)}`}>{th.title}</a> : th.title}</th>
                <td>
                  <code>{th.name}</code>
                </td>
                <td>{th.datasets}</td>
                <td>{th.published}</td>
                <td>{t(`open-data.themes.state.${th.state}`)}</td>
                <td>
                  <a href={`/datasets/themes?edit=${encodeURIComponent(th.name)}#theme-form`}>{t('open-data.themes.edit', { title: th.title })}</a>
                  {th.state === 'active' && (
                    <form method="post" action="/datasets/themes">
                      <CsrfField ctx={ctx} />
                      <input type="hidden" name="id" value={th.id} />
                      <input type="hidden" name="op" value="delete" />
                      <button type="submit" class="usa-button usa-button--unstyled">
                        {t('open-data.themes.delete', { title: th.title })}
                      </button>
                    </form>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <p>{t('open-data.themes.delete.hint')}</p>
        <ThemeForm ctx={ctx} values={values} errors={errors} />
      </div>,
      { status },
    );
  }

  app.get('/datasets/themes', { preHandler: requireAdmin }, async (request, reply) => {
    const edit = one((request.query as Record<string, unknown>)?.edit);
    let values: Form = {};
    if (edit) {
      const th = await findTheme(db, edit);
      if (!th) throw new HttpError(404, 'Theme not found', 'open-data.themes.notfound');
      values = { id: th.id, name: th.name, title: th.title, description: th.description, image_url: th.image_url, state: th.state };
    }
    return render(request, reply, values, {});
  });

  app.post('/datasets/themes', { preHandler: requireAdmin }, async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const form: Form = Object.fromEntries(['id', 'name', 'title', 'description', 'image_url', 'state', 'op'].map((k) => [k, one(body[k]).trim()]));
    const actor = request.actor();
    const viewer = viewerOf(request.user);
    try {
      let name: string;
      if (form.op === 'delete') name = (await deleteTheme(services, actor, viewer, { id: form.id })).theme.name;
      else if (form.id) name = (await updateTheme(services, actor, viewer, { id: form.id, name: form.name, title: form.title, description: form.description, image_url: form.image_url, state: form.state || undefined }, 'update')).name;
      else name = (await createTheme(services, actor, viewer, { name: form.name, title: form.title, description: form.description, image_url: form.image_url })).name;
      return reply.redirect(`/datasets/themes?saved=${encodeURIComponent(name)}`, 303);
    } catch (err) {
      if (err instanceof ThemeError) return render(request, reply, form, { [err.field]: request.t(err.key) }, 400);
      if (err instanceof CkanError) {
        // CKAN's English messages (the API's) are said in the administrator's language here.
        const status = err.status === 404 ? 404 : err.status === 403 ? 403 : 400;
        const key = status === 404 ? 'open-data.themes.notfound' : status === 403 ? 'open-data.themes.error.admins' : err.fieldErrors?.id ? 'open-data.themes.error.missing-id' : 'error.400.title';
        throw new HttpError(status, err.message, key);
      }
      throw err;
    }
  });
}

function ThemeForm({ ctx, values, errors }: { ctx: PageContext; values: Form; errors: Record<string, string> }) {
  const { t } = ctx;
  const editing = !!values.id;
  return (
    <section id="theme-form" aria-labelledby="theme-form-title">
      <h2 id="theme-form-title">{editing ? t('open-data.themes.form.edit', { name: values.name ?? '' }) : t('open-data.themes.form.new')}</h2>
      {Object.keys(errors).length > 0 && (
        <Alert type="error" heading={t('open-data.new.errors')}>
          <ul>
            {Object.entries(errors).map(([k, msg]) => (
              <li key={k}>
                <a href={`#f-${k}`}>{t(`open-data.themes.field.${k}`)}</a>: {msg}
              </li>
            ))}
          </ul>
        </Alert>
      )}
      <form class="usa-form usa-form--large" method="post" action="/datasets/themes">
        <CsrfField ctx={ctx} />
        {editing && <input type="hidden" name="id" value={values.id} />}
        <Field name="name" label={t('open-data.themes.field.name')} hint={t('open-data.themes.name.hint')} value={values.name} error={errors.name} required />
        <Field name="title" label={t('open-data.themes.field.title')} value={values.title} error={errors.title} />
        <Field name="description" label={t('open-data.themes.field.description')} value={values.description} error={errors.description} multiline />
        <Field name="image_url" label={t('open-data.themes.field.image_url')} type="url" value={values.image_url} error={errors.image_url} />
        {editing && values.state === 'deleted' && (
          <div class="usa-checkbox">
            <input class="usa-checkbox__input" type="checkbox" id="state" name="state" value="active" />
            <label class="usa-checkbox__label" for="state">
              {t('open-data.themes.restore')}
            </label>
          </div>
        )}
        <button type="submit" class="usa-button">
          {editing ? t('open-data.themes.save') : t('open-data.themes.create')}
        </button>
        {editing && (
          <a class="usa-button usa-button--outline" href="/datasets/themes">
            {t('open-data.themes.cancel')}
          </a>
        )}
      </form>
    </section>
  );
}

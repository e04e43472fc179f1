import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { requireAdmin, notFound } from '../http/guards';
import { createApiToken } from '../auth/session';
import { CsrfField, Field, Pagination } from '../ui/layout';
import { adminCrumb, AdminPage, ErrorSummary, field, Flash, intId, PAGE_SIZE, pageNumber, queryString, withParams } from './common';

interface TokenFormState {
  email?: string;
  name?: string;
  errors?: Record<string, string>;
  /** The new token: shown on this one response and never again (only its hash is kept). */
  created?: { token: string; email: string; name: string };
  status?: number;
}

export async function tokenRoutes(app: FastifyInstance) {
  const db = app.services.db;
  const audit = app.services.audit;

  async function showTokens(request: FastifyRequest, reply: FastifyReply, state: TokenFormState = {}) {
    const ctx = request.pageContext();
    const { t, fmt } = ctx;
    const page = pageNumber(request.query);
    const { total } = await db.selectFrom('api_tokens').select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
    const pages = Math.max(1, Math.ceil(Number(total) / PAGE_SIZE));
    const tokens = await db
      .selectFrom('api_tokens as k')
      .innerJoin('users as u', 'u.id', 'k.user_id')
      .select(['k.id', 'k.name', 'k.prefix', 'k.created_at', 'k.last_used_at', 'k.revoked_at', 'u.id as user_id', 'u.email'])
      .orderBy('k.revoked_at', (ob) => ob.desc().nullsFirst())
      .orderBy('k.id', 'desc')
      .limit(PAGE_SIZE)
      .offset((page - 1) * PAGE_SIZE)
      .execute();
    const errors = state.errors ?? {};
    return reply.page(
      t('admin.tokens.title'),
      <AdminPage title={t('admin.tokens.title')}>
        <p>{t('admin.tokens.lead')}</p>
        <Flash ctx={ctx} done={queryString(request.query, 'done')} />
        {state.created && (
          <div class="usa-alert usa-alert--success" role="status">
            <div class="usa-alert__body">
              <h2 class="usa-alert__heading">{t('admin.tokens.created', { email: state.created.email })}</h2>
              <p class="usa-alert__text">{t('admin.tokens.once')}</p>
              <p class="usa-alert__text">
                <label class="usa-label" for="new-token">
                  {t('admin.tokens.token', { name: state.created.name })}
                </label>
                <input class="usa-input" id="new-token" readOnly value={state.created.token} />
              </p>
            </div>
          </div>
        )}
        <h2>{t('admin.tokens.new')}</h2>
        <ErrorSummary ctx={ctx} errors={errors} />
        <form method="post" action="/admin/tokens" class="usa-form">
          <CsrfField ctx={ctx} />
          <Field name="email" type="email" label={t('admin.tokens.owner')} hint={t('admin.tokens.ownerHint')} value={state.email} error={errors.email} required autocomplete="off" />
          <Field name="name" label={t('admin.tokens.name')} hint={t('admin.tokens.nameHint')} value={state.name} error={errors.name} required />
          <button class="usa-button" type="submit">
            {t('admin.tokens.create')}
          </button>
        </form>
        <h2>{t('admin.tokens.list')}</h2>
        {tokens.length === 0 ? (
          <p>{t('common.none')}</p>
        ) : (
          <table class="usa-table usa-table--borderless usa-table--stacked">
            <caption>{t('admin.tokens.caption', { page, pages })}</caption>
            <thead>
              <tr>
                <th scope="col">{t('admin.tokens.name')}</th>
                <th scope="col">{t('admin.tokens.prefix')}</th>
                <th scope="col">{t('admin.tokens.owner')}</th>
                <th scope="col">{t('admin.tokens.createdAt')}</th>
                <th scope="col">{t('admin.tokens.lastUsed')}</th>
                <th scope="col">{t('admin.tokens.status')}</th>
              </tr>
            </thead>
            <tbody>
              {tokens.map((k) => (
                <tr key={k.id}>
                  <th scope="row" data-label={t('admin.tokens.name')}>
                    {k.name}
                  </th>
                  <td data-label={t('admin.tokens.prefix')}>
                    <code>{k.prefix}…</code>
                  </td>
                  <td data-label={t('admin.tokens.owner')}>
                    <a href={`/admin/users/${k.user_id}`}>{k.email}</a>
                  </td>
                  <td data-label={t('admin.tokens.createdAt')}>{fmt.dateTime(k.created_at)}</td>
                  <td data-label={t('admin.tokens.lastUsed')}>{k.last_used_at ? fmt.dateTime(k.last_used_at) : t('admin.tokens.never')}</td>
                  <td data-label={t('admin.tokens.status')}>
                    {k.revoked_at ? (
                      t('admin.tokens.revokedAt', { date: fmt.dateTime(k.revoked_at) })
                    ) : (
                      <form method="post" action={`/admin/tokens/${k.id}/revoke`}>
                        <CsrfField ctx={ctx} />
                        <button class="usa-button usa-button--secondary usa-button--unstyled" type="submit" aria-label={t('admin.tokens.revokeWho', { name: k.name, email: k.email })}>
                          {t('admin.tokens.revoke')}
                        </button>
                      </form>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <Pagination ctx={ctx} page={page} pages={pages} href={(p) => withParams('/admin/tokens', { page: p })} />
      </AdminPage>,
      { status: state.status ?? 200, breadcrumbs: [adminCrumb(ctx), { label: t('admin.tokens.title') }] },
    );
  }

  app.get('/admin/tokens', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => showTokens(request, reply));

  app.post('/admin/tokens', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const email = field(request.body, 'email');
    const name = field(request.body, 'name');
    const errors: Record<string, string> = {};
    if (!name) errors.name = request.t('admin.form.required');
    else if (name.length > 100) errors.name = request.t('admin.form.tooLong', { max: 100 });
    const owner = email ? await db.selectFrom('users').select(['id', 'email', 'disabled_at']).where(sql<boolean>`lower(email) = lower(${email})`).executeTakeFirst() : undefined;
    if (!email) errors.email = request.t('admin.form.required');
    else if (!owner) errors.email = request.t('admin.members.noSuchUser');
    else if (owner.disabled_at) errors.email = request.t('admin.tokens.disabledOwner');
    if (Object.keys(errors).length || !owner) return showTokens(request, reply, { email, name, errors, status: 400 });
    const created = await db.transaction().execute(async (trx) => {
      const { id, token } = await createApiToken(trx, owner.id, name);
      // The audit keeps the prefix to recognise the token, never the token itself.
      await audit.record(request.actor(), { action: 'api_token.create', subjectType: 'api_token', subjectId: id, details: { user_id: owner.id, email: owner.email, name, prefix: token.slice(0, 8) } }, trx);
      return token;
    });
    reply.header('cache-control', 'no-store');
    return showTokens(request, reply, { created: { token: created, email: owner.email, name }, status: 201 });
  });

  app.post<{ Params: { id: string } }>('/admin/tokens/:id/revoke', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const id = intId(request.params.id);
    if (!id) throw notFound();
    const revoked = await db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('api_tokens')
        .set({ revoked_at: new Date() })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .returning(['id', 'user_id', 'name', 'prefix'])
        .executeTakeFirst();
      if (!row) return false;
      await audit.record(request.actor(), { action: 'api_token.revoke', subjectType: 'api_token', subjectId: id, details: { user_id: row.user_id, name: row.name, prefix: row.prefix } }, trx);
      return true;
    });
    if (!revoked) {
      const exists = await db.selectFrom('api_tokens').select('id').where('id', '=', id).executeTakeFirst();
      if (!exists) throw notFound();
    }
    return reply.redirect('/admin/tokens?done=revoked', 303);
  });
}

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { requireAdmin, notFound } from '../http/guards';
import type { Role } from '../db/schema';
import { CsrfField, Pagination } from '../ui/layout';
import type { PageContext } from '../ui/context';
import { adminCrumb, AdminPage, escapeLike, field, Flash, intId, PAGE_SIZE, pageNumber, queryString, withParams } from './common';

const ROLES: Role[] = ['official', 'moderator', 'admin'];

async function loadUser(app: FastifyInstance, id: number) {
  const db = app.services.db;
  const user = await db
    .selectFrom('users')
    .leftJoin('communes', 'communes.id', 'users.commune_id')
    .select(['users.id', 'users.email', 'users.name', 'users.roles', 'users.verified_at', 'users.commune_id', 'communes.name as commune_name', 'users.disabled_at', 'users.created_at', 'users.email_confirmed_at'])
    .where('users.id', '=', id)
    .executeTakeFirst();
  if (!user) return undefined;
  const offices = await db
    .selectFrom('office_members')
    .innerJoin('offices', 'offices.id', 'office_members.office_id')
    .select(['offices.id', 'offices.name'])
    .where('office_members.user_id', '=', id)
    .orderBy('offices.name')
    .execute();
  const organizations = await db
    .selectFrom('organization_members')
    .innerJoin('organizations', 'organizations.id', 'organization_members.organization_id')
    .select(['organizations.id', 'organizations.name'])
    .where('organization_members.user_id', '=', id)
    .orderBy('organizations.name')
    .execute();
  return { ...user, offices, organizations };
}

type LoadedUser = NonNullable<Awaited<ReturnType<typeof loadUser>>>;

function UserPage({ ctx, user, done, errors }: { ctx: PageContext; user: LoadedUser; done: string; errors: Record<string, string> }) {
  const { t, fmt } = ctx;
  const base = `/admin/users/${user.id}`;
  return (
    <AdminPage title={user.name || user.email}>
      <Flash ctx={ctx} done={done} />
      <dl class="city-facts">
        <dt>{t('admin.users.email')}</dt>
        <dd>{user.email}</dd>
        <dt>{t('admin.users.created')}</dt>
        <dd>{fmt.dateTime(user.created_at)}</dd>
        <dt>{t('admin.users.confirmed')}</dt>
        <dd>{user.email_confirmed_at ? fmt.dateTime(user.email_confirmed_at) : t('common.no')}</dd>
        <dt>{t('admin.users.verified')}</dt>
        <dd>
          {user.verified_at ? fmt.dateTime(user.verified_at) : t('common.no')}
          {user.commune_name ? ` · ${user.commune_name}` : ''}
        </dd>
        <dt>{t('admin.users.status')}</dt>
        <dd>{user.disabled_at ? t('admin.users.disabledSince', { date: fmt.dateTime(user.disabled_at) }) : t('admin.users.active')}</dd>
        <dt>{t('admin.users.offices')}</dt>
        <dd>
          {user.offices.length
            ? user.offices.map((o, i) => (
                <span key={o.id}>
                  {i > 0 && ', '}
                  <a href={`/admin/offices/${o.id}`}>{o.name}</a>
                </span>
              ))
            : '—'}
        </dd>
        <dt>{t('admin.users.organizations')}</dt>
        <dd>
          {user.organizations.length
            ? user.organizations.map((o, i) => (
                <span key={o.id}>
                  {i > 0 && ', '}
                  <a href={`/admin/organizations/${o.id}`}>{o.name}</a>
                </span>
              ))
            : '—'}
        </dd>
      </dl>

      <h2>{t('admin.users.roles')}</h2>
      <form method="post" action={`${base}/roles`} class="usa-form">
        <CsrfField ctx={ctx} />
        <fieldset class={`usa-fieldset${errors.roles ? ' usa-form-group usa-form-group--error' : ''}`} aria-describedby={errors.roles ? 'f-roles-error' : undefined}>
          <legend class="usa-legend">{t('admin.users.roles.legend')}</legend>
          {errors.roles && (
            <span class="usa-error-message" id="f-roles-error" role="alert">
              {errors.roles}
            </span>
          )}
          {ROLES.map((r) => (
            <div class="usa-checkbox" key={r}>
              <input class="usa-checkbox__input" id={`role-${r}`} type="checkbox" name="roles" value={r} checked={user.roles.includes(r)} />
              <label class="usa-checkbox__label" for={`role-${r}`}>
                {t(`admin.role.${r}`)}
              </label>
            </div>
          ))}
        </fieldset>
        <button class="usa-button" type="submit">
          {t('admin.users.roles.save')}
        </button>
      </form>

      <h2>{t('admin.users.verification')}</h2>
      <p>{t('admin.users.verification.help')}</p>
      <form method="post" action={`${base}/verification`}>
        <CsrfField ctx={ctx} />
        <input type="hidden" name="action" value={user.verified_at ? 'revoke' : 'grant'} />
        <button class={`usa-button${user.verified_at ? ' usa-button--secondary' : ''}`} type="submit">
          {user.verified_at ? t('admin.users.verification.revoke') : t('admin.users.verification.grant')}
        </button>
      </form>

      <h2>{t('admin.users.account')}</h2>
      {errors.status && (
        <span class="usa-error-message" role="alert">
          {errors.status}
        </span>
      )}
      <form method="post" action={`${base}/status`}>
        <CsrfField ctx={ctx} />
        <input type="hidden" name="action" value={user.disabled_at ? 'enable' : 'disable'} />
        <button class={`usa-button${user.disabled_at ? '' : ' usa-button--secondary'}`} type="submit">
          {user.disabled_at ? t('admin.users.enable') : t('admin.users.disable')}
        </button>
      </form>
      <p>
        <a href={withParams('/admin/audit', { subject_type: 'user', subject_id: user.id })}>{t('admin.users.history')}</a>
      </p>
    </AdminPage>
  );
}

export async function userAdminRoutes(app: FastifyInstance) {
  const db = app.services.db;
  const audit = app.services.audit;

  app.get('/admin/users', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const ctx = request.pageContext();
    const { t, fmt } = ctx;
    const q = queryString(request.query, 'q');
    const roleParam = queryString(request.query, 'role');
    // 'resident' means an account with no other role.
    const role = (ROLES as string[]).includes(roleParam) || roleParam === 'resident' ? (roleParam as Role | 'resident') : '';
    const statusParam = queryString(request.query, 'status');
    const status = statusParam === 'enabled' || statusParam === 'disabled' ? statusParam : '';
    const verifiedParam = queryString(request.query, 'verified');
    const verified = verifiedParam === 'yes' || verifiedParam === 'no' ? verifiedParam : '';
    const page = pageNumber(request.query);

    let base = db.selectFrom('users');
    if (q) {
      const pattern = `%${escapeLike(q)}%`;
      base = base.where((eb) => eb.or([eb('email', 'ilike', pattern), eb('name', 'ilike', pattern)]));
    }
    if (role === 'resident') base = base.where(sql<boolean>`cardinality(roles) = 0`);
    else if (role) base = base.where(sql<boolean>`${role} = any(roles)`);
    if (status === 'enabled') base = base.where('disabled_at', 'is', null);
    if (status === 'disabled') base = base.where('disabled_at', 'is not', null);
    if (verified === 'yes') base = base.where('verified_at', 'is not', null);
    if (verified === 'no') base = base.where('verified_at', 'is', null);
    const { total } = await base.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
    const pages = Math.max(1, Math.ceil(Number(total) / PAGE_SIZE));
    const users = await base
      .select(['id', 'email', 'name', 'roles', 'verified_at', 'disabled_at', 'created_at'])
      .orderBy('id', 'desc')
      .limit(PAGE_SIZE)
      .offset((page - 1) * PAGE_SIZE)
      .execute();
    const filters = { q, role, verified, status };

    return reply.page(
      t('admin.users.title'),
      <AdminPage title={t('admin.users.title')}>
        <form method="get" action="/admin/users" class="usa-form usa-form--large" role="search">
          <label class="usa-label" for="users-q">
            {t('admin.users.search')}
          </label>
          <input class="usa-input" id="users-q" name="q" type="search" value={q} />
          <label class="usa-label" for="users-role">
            {t('admin.users.filter.role')}
          </label>
          <select class="usa-select" id="users-role" name="role">
            <option value="">{t('admin.users.filter.any')}</option>
            <option value="resident" selected={role === 'resident'}>
              {t('admin.users.filter.residentOnly')}
            </option>
            {ROLES.map((r) => (
              <option value={r} selected={r === role} key={r}>
                {t(`admin.role.${r}`)}
              </option>
            ))}
          </select>
          <label class="usa-label" for="users-verified">
            {t('admin.users.filter.verified')}
          </label>
          <select class="usa-select" id="users-verified" name="verified">
            <option value="">{t('admin.users.filter.any')}</option>
            <option value="yes" selected={verified === 'yes'}>
              {t('admin.users.filter.verified.yes')}
            </option>
            <option value="no" selected={verified === 'no'}>
              {t('admin.users.filter.verified.no')}
            </option>
          </select>
          <label class="usa-label" for="users-status">
            {t('admin.users.status')}
          </label>
          <select class="usa-select" id="users-status" name="status">
            <option value="">{t('admin.users.filter.any')}</option>
            <option value="enabled" selected={status === 'enabled'}>
              {t('admin.users.active')}
            </option>
            <option value="disabled" selected={status === 'disabled'}>
              {t('admin.users.disabled')}
            </option>
          </select>
          <button class="usa-button margin-top-2" type="submit">
            {t('admin.filter')}
          </button>
        </form>
        <p role="status">{t('admin.users.count', { count: fmt.number(Number(total)) })}</p>
        {users.length > 0 && (
          <table class="usa-table usa-table--borderless usa-table--stacked">
            <caption>{t('admin.users.caption', { page, pages })}</caption>
            <thead>
              <tr>
                <th scope="col">{t('admin.users.email')}</th>
                <th scope="col">{t('admin.users.name')}</th>
                <th scope="col">{t('admin.users.roles')}</th>
                <th scope="col">{t('admin.users.verified')}</th>
                <th scope="col">{t('admin.users.status')}</th>
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.id}>
                  <th scope="row" data-label={t('admin.users.email')}>
                    <a href={`/admin/users/${u.id}`}>{u.email}</a>
                  </th>
                  <td data-label={t('admin.users.name')}>{u.name}</td>
                  <td data-label={t('admin.users.roles')}>{u.roles.length ? u.roles.map((r) => t(`admin.role.${r}`)).join(', ') : t('admin.role.resident')}</td>
                  <td data-label={t('admin.users.verified')}>{u.verified_at ? t('common.yes') : t('common.no')}</td>
                  <td data-label={t('admin.users.status')}>{u.disabled_at ? t('admin.users.disabled') : t('admin.users.active')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <Pagination ctx={ctx} page={page} pages={pages} href={(p) => withParams('/admin/users', { ...filters, page: p })} />
      </AdminPage>,
      { breadcrumbs: [adminCrumb(ctx), { label: t('admin.users.title') }] },
    );
  });

  async function showUser(request: FastifyRequest, reply: FastifyReply, id: number, errors: Record<string, string> = {}, status = 200) {
    const user = await loadUser(app, id);
    if (!user) throw notFound();
    const ctx = request.pageContext();
    return reply.page(user.name || user.email, <UserPage ctx={ctx} user={user} done={queryString(request.query, 'done')} errors={errors} />, {
      status,
      breadcrumbs: [adminCrumb(ctx), { href: '/admin/users', label: ctx.t('admin.users.title') }, { label: user.email }],
    });
  }

  app.get<{ Params: { id: string } }>('/admin/users/:id', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const id = intId(request.params.id);
    if (!id) throw notFound();
    return showUser(request, reply, id);
  });

  app.post<{ Params: { id: string } }>('/admin/users/:id/roles', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const id = intId(request.params.id);
    if (!id) throw notFound();
    const raw = (request.body as Record<string, unknown> | undefined)?.roles;
    const asked = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).filter((r): r is string => typeof r === 'string');
    if (asked.some((r) => !(ROLES as string[]).includes(r))) return showUser(request, reply, id, { roles: request.t('admin.users.roles.invalid') }, 400);
    const roles = ROLES.filter((r) => asked.includes(r));
    if (id === request.user!.id && !roles.includes('admin')) {
      return showUser(request, reply, id, { roles: request.t('admin.users.roles.selfAdmin') }, 400);
    }
    const changed = await db.transaction().execute(async (trx) => {
      const before = await trx.selectFrom('users').select(['roles', 'email']).where('id', '=', id).forUpdate().executeTakeFirst();
      if (!before) throw notFound();
      if ([...before.roles].sort().join() === [...roles].sort().join()) return false;
      await trx.updateTable('users').set({ roles }).where('id', '=', id).execute();
      await audit.record(request.actor(), { action: 'user.roles', subjectType: 'user', subjectId: id, details: { email: before.email, before: before.roles, after: roles } }, trx);
      return true;
    });
    return reply.redirect(`/admin/users/${id}?done=${changed ? 'roles' : 'unchanged'}`, 303);
  });

  app.post<{ Params: { id: string } }>('/admin/users/:id/verification', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const id = intId(request.params.id);
    if (!id) throw notFound();
    const action = field(request.body, 'action');
    if (action !== 'grant' && action !== 'revoke') return showUser(request, reply, id, {}, 400);
    await db.transaction().execute(async (trx) => {
      const before = await trx.selectFrom('users').select(['verified_at', 'commune_id', 'email']).where('id', '=', id).forUpdate().executeTakeFirst();
      if (!before) throw notFound();
      if ((action === 'grant') === (before.verified_at != null)) return;
      // The commune comes from the census: a revoked verification takes the commune (and its voting rights) with it.
      const after = action === 'grant' ? { verified_at: new Date(), commune_id: before.commune_id } : { verified_at: null, commune_id: null };
      await trx.updateTable('users').set(after).where('id', '=', id).execute();
      await audit.record(
        request.actor(),
        {
          action: action === 'grant' ? 'user.verify' : 'user.unverify',
          subjectType: 'user',
          subjectId: id,
          details: {
            email: before.email,
            before: { verified: before.verified_at != null, commune_id: before.commune_id },
            after: { verified: action === 'grant', commune_id: after.commune_id },
          },
        },
        trx,
      );
    });
    return reply.redirect(`/admin/users/${id}?done=${action === 'grant' ? 'verified' : 'unverified'}`, 303);
  });

  app.post<{ Params: { id: string } }>('/admin/users/:id/status', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const id = intId(request.params.id);
    if (!id) throw notFound();
    const action = field(request.body, 'action');
    if (action !== 'disable' && action !== 'enable') return showUser(request, reply, id, {}, 400);
    if (action === 'disable' && id === request.user!.id) return showUser(request, reply, id, { status: request.t('admin.users.disable.self') }, 400);
    await db.transaction().execute(async (trx) => {
      const before = await trx.selectFrom('users').select(['disabled_at', 'email']).where('id', '=', id).forUpdate().executeTakeFirst();
      if (!before) throw notFound();
      if ((action === 'disable') === (before.disabled_at != null)) return;
      await trx.updateTable('users').set({ disabled_at: action === 'disable' ? new Date() : null }).where('id', '=', id).execute();
      // A disabled account is signed out everywhere at once.
      if (action === 'disable') await trx.deleteFrom('sessions').where('user_id', '=', id).execute();
      await audit.record(
        request.actor(),
        { action: action === 'disable' ? 'user.disable' : 'user.enable', subjectType: 'user', subjectId: id, details: { email: before.email, before: { disabled: before.disabled_at != null }, after: { disabled: action === 'disable' } } },
        trx,
      );
    });
    return reply.redirect(`/admin/users/${id}?done=${action === 'disable' ? 'disabled' : 'enabled'}`, 303);
  });
}

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { requireAdmin, notFound } from '../http/guards';
import type { Db } from '../db';
import { CsrfField, Field } from '../ui/layout';
import type { PageContext } from '../ui/context';
import type { Translate } from '../i18n';
import { listOrganizations, organizationById } from '../offices/store';
import { adminCrumb, checkPublicBody, AdminPage, ErrorSummary, field, Flash, intId, isUniqueViolation, queryString } from './common';
import { MembersSection, type Member } from './members';

interface OrgForm {
  name: string;
  slug: string;
  description: string;
  email: string;
  url: string;
}

interface OrgValues {
  name: string;
  slug: string;
  description: string;
  email: string | null;
  url: string | null;
}

const emptyForm: OrgForm = { name: '', slug: '', description: '', email: '', url: '' };

function readForm(body: unknown): OrgForm {
  return {
    name: field(body, 'name'),
    slug: field(body, 'slug').toLowerCase(),
    description: field(body, 'description'),
    email: field(body, 'email'),
    url: field(body, 'url'),
  };
}

async function validate(db: Db, t: Translate, f: OrgForm, selfId: number | null): Promise<{ values?: OrgValues; errors: Record<string, string> }> {
  const errors: Record<string, string> = {};
  await checkPublicBody(db, 'organizations', t, f, selfId, errors);
  if (Object.keys(errors).length) return { errors };
  return { errors, values: { name: f.name, slug: f.slug, description: f.description, email: f.email || null, url: f.url || null } };
}

function OrgFormFields({ ctx, form, errors }: { ctx: PageContext; form: OrgForm; errors: Record<string, string> }) {
  const { t } = ctx;
  return (
    <>
      <Field name="name" label={t('offices.field.name')} value={form.name} error={errors.name} required />
      <Field name="slug" label={t('offices.field.slug')} hint={t('admin.form.slugHint')} value={form.slug} error={errors.slug} required />
      <Field name="description" label={t('offices.field.description')} value={form.description} error={errors.description} multiline />
      <Field name="email" label={t('offices.field.email')} type="email" value={form.email} error={errors.email} />
      <Field name="url" label={t('offices.field.url')} type="url" value={form.url} error={errors.url} />
    </>
  );
}

async function representatives(db: Db, orgId: number): Promise<Member[]> {
  return db
    .selectFrom('organization_members as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['m.user_id', 'u.email', 'u.name', 'u.roles', 'm.created_at'])
    .where('m.organization_id', '=', orgId)
    .orderBy('u.email')
    .execute();
}

export async function organizationAdminRoutes(app: FastifyInstance) {
  const db = app.services.db;
  const audit = app.services.audit;

  app.get('/admin/organizations', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const ctx = request.pageContext();
    const { t } = ctx;
    const orgs = await listOrganizations(db);
    return reply.page(
      t('admin.organizations.title'),
      <AdminPage title={t('admin.organizations.title')}>
        <Flash ctx={ctx} done={queryString(request.query, 'done')} />
        <p>
          <a class="usa-button" href="/admin/organizations/new">
            {t('admin.organizations.new')}
          </a>
        </p>
        {orgs.length === 0 ? (
          <p>{t('common.none')}</p>
        ) : (
          <table class="usa-table usa-table--borderless usa-table--stacked">
            <caption>{t('admin.organizations.caption', { count: orgs.length })}</caption>
            <thead>
              <tr>
                <th scope="col">{t('offices.field.name')}</th>
                <th scope="col">{t('offices.field.slug')}</th>
                <th scope="col">{t('organizations.members.count')}</th>
              </tr>
            </thead>
            <tbody>
              {orgs.map((o) => (
                <tr key={o.id}>
                  <th scope="row" data-label={t('offices.field.name')}>
                    <a href={`/admin/organizations/${o.id}`}>{o.name}</a>
                  </th>
                  <td data-label={t('offices.field.slug')}>{o.slug}</td>
                  <td data-label={t('organizations.members.count')}>{o.members}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </AdminPage>,
      { breadcrumbs: [adminCrumb(ctx), { label: t('admin.organizations.title') }] },
    );
  });

  function showNew(request: FastifyRequest, reply: FastifyReply, form: OrgForm, errors: Record<string, string>, status: number) {
    const ctx = request.pageContext();
    const { t } = ctx;
    return reply.page(
      t('admin.organizations.new'),
      <AdminPage title={t('admin.organizations.new')}>
        <ErrorSummary ctx={ctx} errors={errors} />
        <form method="post" action="/admin/organizations" class="usa-form usa-form--large">
          <CsrfField ctx={ctx} />
          <OrgFormFields ctx={ctx} form={form} errors={errors} />
          <button class="usa-button" type="submit">
            {t('common.create')}
          </button>
        </form>
      </AdminPage>,
      { status, breadcrumbs: [adminCrumb(ctx), { href: '/admin/organizations', label: t('admin.organizations.title') }, { label: t('admin.organizations.new') }] },
    );
  }

  app.get('/admin/organizations/new', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => showNew(request, reply, emptyForm, {}, 200));

  app.post('/admin/organizations', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const form = readForm(request.body);
    const { values, errors } = await validate(db, request.t, form, null);
    if (!values) return showNew(request, reply, form, errors, 400);
    try {
      const id = await db.transaction().execute(async (trx) => {
        const row = await trx.insertInto('organizations').values(values).returning('id').executeTakeFirstOrThrow();
        await audit.record(request.actor(), { action: 'organization.create', subjectType: 'organization', subjectId: row.id, details: { after: values } }, trx);
        return row.id;
      });
      return reply.redirect(`/admin/organizations/${id}?done=created`, 303);
    } catch (err) {
      if (isUniqueViolation(err)) return showNew(request, reply, form, { slug: request.t('admin.form.slugTaken') }, 400);
      throw err;
    }
  });

  async function showOrg(
    request: FastifyRequest,
    reply: FastifyReply,
    id: number,
    state: { form?: OrgForm; errors?: Record<string, string>; memberError?: string; memberEmail?: string; status?: number } = {},
  ) {
    const org = await organizationById(db, id);
    if (!org) throw notFound();
    const ctx = request.pageContext();
    const { t } = ctx;
    const list = await representatives(db, id);
    const errors = state.errors ?? {};
    const form = state.form ?? { name: org.name, slug: org.slug, description: org.description, email: org.email ?? '', url: org.url ?? '' };
    return reply.page(
      org.name,
      <AdminPage title={org.name}>
        <Flash ctx={ctx} done={queryString(request.query, 'done')} />
        <p>
          <a href={`/organizations/${org.slug}`}>{t('admin.offices.public')}</a> ·{' '}
          <a href={`/admin/audit?subject_type=organization&subject_id=${org.id}`}>{t('admin.users.history')}</a>
        </p>
        <h2>{t('admin.organizations.edit')}</h2>
        <ErrorSummary ctx={ctx} errors={errors} />
        <form method="post" action={`/admin/organizations/${id}`} class="usa-form usa-form--large">
          <CsrfField ctx={ctx} />
          <OrgFormFields ctx={ctx} form={form} errors={errors} />
          <button class="usa-button" type="submit">
            {t('common.save')}
          </button>
        </form>
        <MembersSection ctx={ctx} base={`/admin/organizations/${id}`} members={list} error={state.memberError} email={state.memberEmail} heading={t('admin.organizations.representatives')} />
      </AdminPage>,
      { status: state.status ?? 200, breadcrumbs: [adminCrumb(ctx), { href: '/admin/organizations', label: t('admin.organizations.title') }, { label: org.name }] },
    );
  }

  app.get<{ Params: { id: string } }>('/admin/organizations/:id', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const id = intId(request.params.id);
    if (!id) throw notFound();
    return showOrg(request, reply, id);
  });

  app.post<{ Params: { id: string } }>('/admin/organizations/:id', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const id = intId(request.params.id);
    if (!id) throw notFound();
    const before = await organizationById(db, id);
    if (!before) throw notFound();
    const form = readForm(request.body);
    const { values, errors } = await validate(db, request.t, form, id);
    if (!values) return showOrg(request, reply, id, { form, errors, status: 400 });
    try {
      await db.transaction().execute(async (trx) => {
        await trx.updateTable('organizations').set(values).where('id', '=', id).execute();
        const old: Record<string, unknown> = { name: before.name, slug: before.slug, description: before.description, email: before.email, url: before.url };
        const changedBefore: Record<string, unknown> = {};
        const changedAfter: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(values)) {
          if (old[k] !== v) {
            changedBefore[k] = old[k];
            changedAfter[k] = v;
          }
        }
        if (Object.keys(changedAfter).length) {
          await audit.record(request.actor(), { action: 'organization.update', subjectType: 'organization', subjectId: id, details: { before: changedBefore, after: changedAfter } }, trx);
        }
      });
    } catch (err) {
      if (isUniqueViolation(err)) return showOrg(request, reply, id, { form, errors: { slug: request.t('admin.form.slugTaken') }, status: 400 });
      throw err;
    }
    return reply.redirect(`/admin/organizations/${id}?done=saved`, 303);
  });

  app.post<{ Params: { id: string } }>('/admin/organizations/:id/members', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const id = intId(request.params.id);
    if (!id) throw notFound();
    if (!(await organizationById(db, id))) throw notFound();
    const email = field(request.body, 'member_email');
    if (!email) return showOrg(request, reply, id, { memberError: request.t('admin.form.required'), status: 400 });
    const user = await db.selectFrom('users').select(['id', 'email']).where(sql<boolean>`lower(email) = lower(${email})`).executeTakeFirst();
    if (!user) return showOrg(request, reply, id, { memberError: request.t('admin.members.noSuchUser'), memberEmail: email, status: 400 });
    const added = await db.transaction().execute(async (trx) => {
      const res = await trx
        .insertInto('organization_members')
        .values({ organization_id: id, user_id: user.id })
        .onConflict((oc) => oc.doNothing())
        .returning('user_id')
        .executeTakeFirst();
      if (!res) return false;
      await audit.record(request.actor(), { action: 'organization.member.add', subjectType: 'organization', subjectId: id, details: { user_id: user.id, email: user.email } }, trx);
      return true;
    });
    if (!added) return showOrg(request, reply, id, { memberError: request.t('admin.members.already'), memberEmail: email, status: 400 });
    return reply.redirect(`/admin/organizations/${id}?done=memberAdded`, 303);
  });

  app.post<{ Params: { id: string; userId: string } }>('/admin/organizations/:id/members/:userId/remove', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const id = intId(request.params.id);
    const userId = intId(request.params.userId);
    if (!id || !userId) throw notFound();
    const removed = await db.transaction().execute(async (trx) => {
      const row = await trx.deleteFrom('organization_members').where('organization_id', '=', id).where('user_id', '=', userId).returning('user_id').executeTakeFirst();
      if (!row) return false;
      const u = await trx.selectFrom('users').select('email').where('id', '=', userId).executeTakeFirst();
      await audit.record(request.actor(), { action: 'organization.member.remove', subjectType: 'organization', subjectId: id, details: { user_id: userId, email: u?.email ?? null } }, trx);
      return true;
    });
    if (!removed) throw notFound();
    return reply.redirect(`/admin/organizations/${id}?done=memberRemoved`, 303);
  });
}

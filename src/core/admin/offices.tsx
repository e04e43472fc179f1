import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { requireAdmin, notFound, HttpError } from '../http/guards';
import type { Db } from '../db';
import type { OfficeKind, OfficeRole } from '../db/schema';
import { CsrfField, Field } from '../ui/layout';
import type { PageContext } from '../ui/context';
import type { Translate } from '../i18n';
import { isOfficeKind, listOffices, officeById, OFFICE_KINDS } from '../offices/store';
import { adminCrumb, checkPublicBody, AdminPage, ErrorSummary, field, Flash, intId, isUniqueViolation, queryString, Select } from './common';
import { MembersSection, type Member } from './members';

interface OfficeForm {
  name: string;
  slug: string;
  kind: string;
  parent_id: string;
  commune_id: string;
  description: string;
  email: string;
  url: string;
}

interface OfficeValues {
  name: string;
  slug: string;
  kind: OfficeKind;
  parent_id: number | null;
  commune_id: number | null;
  description: string;
  email: string | null;
  url: string | null;
}

const emptyForm: OfficeForm = { name: '', slug: '', kind: 'ministry', parent_id: '', commune_id: '', description: '', email: '', url: '' };

function readForm(body: unknown): OfficeForm {
  return {
    name: field(body, 'name'),
    slug: field(body, 'slug').toLowerCase(),
    kind: field(body, 'kind'),
    parent_id: field(body, 'parent_id'),
    commune_id: field(body, 'commune_id'),
    description: field(body, 'description'),
    email: field(body, 'email'),
    url: field(body, 'url'),
  };
}

/** Checks what a person typed; every problem is reported next to its field. */
async function validate(db: Db, t: Translate, f: OfficeForm, selfId: number | null): Promise<{ values?: OfficeValues; errors: Record<string, string> }> {
  const errors: Record<string, string> = {};
  await checkPublicBody(db, 'offices', t, f, selfId, errors);
  if (!isOfficeKind(f.kind)) errors.kind = t('admin.form.choose');
  let parentId: number | null = null;
  if (f.parent_id) {
    parentId = intId(f.parent_id);
    const parent = parentId ? await db.selectFrom('offices').select('id').where('id', '=', parentId).executeTakeFirst() : undefined;
    if (!parent) errors.parent_id = t('admin.form.choose');
    else if (selfId != null && (await isSelfOrDescendant(db, parentId!, selfId))) errors.parent_id = t('admin.offices.parentCycle');
  }
  let communeId: number | null = null;
  if (f.commune_id) {
    communeId = intId(f.commune_id);
    const commune = communeId ? await db.selectFrom('communes').select('id').where('id', '=', communeId).executeTakeFirst() : undefined;
    if (!commune) errors.commune_id = t('admin.form.choose');
  }
  if (Object.keys(errors).length) return { errors };
  return {
    errors,
    values: {
      name: f.name,
      slug: f.slug,
      kind: f.kind as OfficeKind,
      parent_id: parentId,
      commune_id: communeId,
      description: f.description,
      email: f.email || null,
      url: f.url || null,
    },
  };
}

/** Walks up from `candidate` (bounded): making an office its own ancestor would loop the hierarchy. */
async function isSelfOrDescendant(db: Db, candidate: number, selfId: number): Promise<boolean> {
  let current: number | null = candidate;
  for (let i = 0; i < 100 && current != null; i++) {
    if (current === selfId) return true;
    const row: { parent_id: number | null } | undefined = await db.selectFrom('offices').select('parent_id').where('id', '=', current).executeTakeFirst();
    current = row?.parent_id ?? null;
  }
  return false;
}

function OfficeFormFields({
  ctx,
  form,
  errors,
  parents,
  communes,
}: {
  ctx: PageContext;
  form: OfficeForm;
  errors: Record<string, string>;
  parents: Array<{ id: number; name: string }>;
  communes: Array<{ id: number; name: string }>;
}) {
  const { t } = ctx;
  return (
    <>
      <Field name="name" label={t('offices.field.name')} value={form.name} error={errors.name} required />
      <Field name="slug" label={t('offices.field.slug')} hint={t('admin.form.slugHint')} value={form.slug} error={errors.slug} required />
      <Select name="kind" label={t('offices.field.kind')} value={form.kind} error={errors.kind} options={OFFICE_KINDS.map((k) => ({ value: k, label: t(`offices.kind.${k}`) }))} />
      <Select
        name="parent_id"
        label={t('offices.field.parent')}
        value={form.parent_id}
        error={errors.parent_id}
        options={[{ value: '', label: t('admin.offices.noParent') }, ...parents.map((p) => ({ value: String(p.id), label: p.name }))]}
      />
      <Select
        name="commune_id"
        label={t('offices.field.commune')}
        value={form.commune_id}
        error={errors.commune_id}
        options={[{ value: '', label: t('admin.offices.noCommune') }, ...communes.map((c) => ({ value: String(c.id), label: c.name }))]}
      />
      <Field name="description" label={t('offices.field.description')} value={form.description} error={errors.description} multiline />
      <Field name="email" label={t('offices.field.email')} type="email" value={form.email} error={errors.email} />
      <Field name="url" label={t('offices.field.url')} type="url" value={form.url} error={errors.url} />
    </>
  );
}

async function members(db: Db, officeId: number): Promise<Member[]> {
  return db
    .selectFrom('office_members as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['m.user_id', 'u.email', 'u.name', 'u.roles', 'm.created_at', 'm.role'])
    .where('m.office_id', '=', officeId)
    .orderBy('u.email')
    .execute();
}

function toForm(o: NonNullable<Awaited<ReturnType<typeof officeById>>>): OfficeForm {
  return {
    name: o.name,
    slug: o.slug,
    kind: o.kind,
    parent_id: o.parent_id == null ? '' : String(o.parent_id),
    commune_id: o.commune_id == null ? '' : String(o.commune_id),
    description: o.description,
    email: o.email ?? '',
    url: o.url ?? '',
  };
}

export async function officeAdminRoutes(app: FastifyInstance) {
  const db = app.services.db;
  const audit = app.services.audit;
  const communes = () => db.selectFrom('communes').select(['id', 'name']).orderBy('id').execute();
  const parentsFor = (selfId: number | null) => {
    let q = db.selectFrom('offices').select(['id', 'name']).orderBy('name');
    if (selfId != null) q = q.where('id', '!=', selfId);
    return q.execute();
  };

  app.get('/admin/offices', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const ctx = request.pageContext();
    const { t } = ctx;
    const offices = await listOffices(db);
    return reply.page(
      t('admin.offices.title'),
      <AdminPage title={t('admin.offices.title')}>
        <Flash ctx={ctx} done={queryString(request.query, 'done')} />
        <p>
          <a class="usa-button" href="/admin/offices/new">
            {t('admin.offices.new')}
          </a>
        </p>
        {offices.length === 0 ? (
          <p>{t('common.none')}</p>
        ) : (
          <table class="usa-table usa-table--borderless usa-table--stacked">
            <caption>{t('offices.caption', { count: offices.length })}</caption>
            <thead>
              <tr>
                <th scope="col">{t('offices.field.name')}</th>
                <th scope="col">{t('offices.field.slug')}</th>
                <th scope="col">{t('offices.field.kind')}</th>
                <th scope="col">{t('offices.field.parent')}</th>
                <th scope="col">{t('offices.members.count')}</th>
              </tr>
            </thead>
            <tbody>
              {offices.map((o) => (
                <tr key={o.id}>
                  <th scope="row" data-label={t('offices.field.name')}>
                    <a href={`/admin/offices/${o.id}`}>{o.name}</a>
                  </th>
                  <td data-label={t('offices.field.slug')}>{o.slug}</td>
                  <td data-label={t('offices.field.kind')}>{t(`offices.kind.${o.kind}`)}</td>
                  <td data-label={t('offices.field.parent')}>{o.parent_name ?? '—'}</td>
                  <td data-label={t('offices.members.count')}>{o.members}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </AdminPage>,
      { breadcrumbs: [adminCrumb(ctx), { label: t('admin.offices.title') }] },
    );
  });

  async function showNew(request: FastifyRequest, reply: FastifyReply, form: OfficeForm, errors: Record<string, string>, status: number) {
    const ctx = request.pageContext();
    const { t } = ctx;
    const [parents, cs] = await Promise.all([parentsFor(null), communes()]);
    return reply.page(
      t('admin.offices.new'),
      <AdminPage title={t('admin.offices.new')}>
        <ErrorSummary ctx={ctx} errors={errors} />
        <form method="post" action="/admin/offices" class="usa-form usa-form--large">
          <CsrfField ctx={ctx} />
          <OfficeFormFields ctx={ctx} form={form} errors={errors} parents={parents} communes={cs} />
          <button class="usa-button" type="submit">
            {t('common.create')}
          </button>
        </form>
      </AdminPage>,
      { status, breadcrumbs: [adminCrumb(ctx), { href: '/admin/offices', label: t('admin.offices.title') }, { label: t('admin.offices.new') }] },
    );
  }

  app.get('/admin/offices/new', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => showNew(request, reply, emptyForm, {}, 200));

  app.post('/admin/offices', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const form = readForm(request.body);
    const { values, errors } = await validate(db, request.t, form, null);
    if (!values) return showNew(request, reply, form, errors, 400);
    try {
      const id = await db.transaction().execute(async (trx) => {
        const row = await trx.insertInto('offices').values(values).returning('id').executeTakeFirstOrThrow();
        await audit.record(request.actor(), { action: 'office.create', subjectType: 'office', subjectId: row.id, officeId: row.id, details: { after: values } }, trx);
        return row.id;
      });
      return reply.redirect(`/admin/offices/${id}?done=created`, 303);
    } catch (err) {
      if (isUniqueViolation(err)) return showNew(request, reply, form, { slug: request.t('admin.form.slugTaken') }, 400);
      throw err;
    }
  });

  async function showOffice(
    request: FastifyRequest,
    reply: FastifyReply,
    id: number,
    state: { form?: OfficeForm; errors?: Record<string, string>; memberError?: string; memberEmail?: string; status?: number } = {},
  ) {
    const office = await officeById(db, id);
    if (!office) throw notFound();
    const ctx = request.pageContext();
    const { t } = ctx;
    const [parents, cs, list] = await Promise.all([parentsFor(id), communes(), members(db, id)]);
    const errors = state.errors ?? {};
    return reply.page(
      office.name,
      <AdminPage title={office.name}>
        <Flash ctx={ctx} done={queryString(request.query, 'done')} />
        <p>
          <a href={`/offices/${office.slug}`}>{t('admin.offices.public')}</a> ·{' '}
          <a href={`/admin/audit?subject_type=office&subject_id=${office.id}`}>{t('admin.users.history')}</a>
        </p>
        <h2>{t('admin.offices.edit')}</h2>
        <ErrorSummary ctx={ctx} errors={errors} />
        <form method="post" action={`/admin/offices/${id}`} class="usa-form usa-form--large">
          <CsrfField ctx={ctx} />
          <OfficeFormFields ctx={ctx} form={state.form ?? toForm(office)} errors={errors} parents={parents} communes={cs} />
          <button class="usa-button" type="submit">
            {t('common.save')}
          </button>
        </form>
        <MembersSection ctx={ctx} base={`/admin/offices/${id}`} members={list} error={state.memberError} email={state.memberEmail} heading={t('admin.offices.members')} showOfficialHint roles />
      </AdminPage>,
      { status: state.status ?? 200, breadcrumbs: [adminCrumb(ctx), { href: '/admin/offices', label: t('admin.offices.title') }, { label: office.name }] },
    );
  }

  app.get<{ Params: { id: string } }>('/admin/offices/:id', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const id = intId(request.params.id);
    if (!id) throw notFound();
    return showOffice(request, reply, id);
  });

  app.post<{ Params: { id: string } }>('/admin/offices/:id', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const id = intId(request.params.id);
    if (!id) throw notFound();
    const before = await officeById(db, id);
    if (!before) throw notFound();
    const form = readForm(request.body);
    const { values, errors } = await validate(db, request.t, form, id);
    if (!values) return showOffice(request, reply, id, { form, errors, status: 400 });
    try {
      await db.transaction().execute(async (trx) => {
        await trx.updateTable('offices').set(values).where('id', '=', id).execute();
        const old: Record<string, unknown> = { ...toValues(before) };
        const changedBefore: Record<string, unknown> = {};
        const changedAfter: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(values)) {
          if (old[k] !== v) {
            changedBefore[k] = old[k];
            changedAfter[k] = v;
          }
        }
        if (Object.keys(changedAfter).length) {
          await audit.record(request.actor(), { action: 'office.update', subjectType: 'office', subjectId: id, officeId: id, details: { before: changedBefore, after: changedAfter } }, trx);
        }
      });
    } catch (err) {
      if (isUniqueViolation(err)) return showOffice(request, reply, id, { form, errors: { slug: request.t('admin.form.slugTaken') }, status: 400 });
      throw err;
    }
    return reply.redirect(`/admin/offices/${id}?done=saved`, 303);
  });

  app.post<{ Params: { id: string } }>('/admin/offices/:id/members', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const id = intId(request.params.id);
    if (!id) throw notFound();
    if (!(await officeById(db, id))) throw notFound();
    const email = field(request.body, 'member_email');
    if (!email) return showOffice(request, reply, id, { memberError: request.t('admin.form.required'), status: 400 });
    // Absent (an older form, a script): an editor; anything else but the two roles is a mistake.
    const rawRole = field(request.body, 'role');
    const role = rawRole ? officeRole(rawRole) : 'editor';
    if (!role) return showOffice(request, reply, id, { memberError: request.t('admin.members.badRole'), memberEmail: email, status: 400 });
    const user = await db.selectFrom('users').select(['id', 'email']).where(sql<boolean>`lower(email) = lower(${email})`).executeTakeFirst();
    if (!user) return showOffice(request, reply, id, { memberError: request.t('admin.members.noSuchUser'), memberEmail: email, status: 400 });
    const added = await db.transaction().execute(async (trx) => {
      const res = await trx.insertInto('office_members').values({ office_id: id, user_id: user.id, role }).onConflict((oc) => oc.doNothing()).returning('user_id').executeTakeFirst();
      if (!res) return false;
      await audit.record(request.actor(), { action: 'office.member.add', subjectType: 'office', subjectId: id, officeId: id, details: { user_id: user.id, email: user.email, role } }, trx);
      return true;
    });
    if (!added) return showOffice(request, reply, id, { memberError: request.t('admin.members.already'), memberEmail: email, status: 400 });
    return reply.redirect(`/admin/offices/${id}?done=memberAdded`, 303);
  });

  app.post<{ Params: { id: string; userId: string } }>('/admin/offices/:id/members/:userId/role', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const id = intId(request.params.id);
    const userId = intId(request.params.userId);
    if (!id || !userId) throw notFound();
    const role = officeRole((request.body as Record<string, unknown> | undefined)?.role);
    if (!role) throw new HttpError(400, 'Unknown role', 'admin.members.badRole');
    const changed = await db.transaction().execute(async (trx) => {
      const before = await trx.selectFrom('office_members').select('role').where('office_id', '=', id).where('user_id', '=', userId).forUpdate().executeTakeFirst();
      if (!before) return false;
      if (before.role !== role) {
        await trx.updateTable('office_members').set({ role }).where('office_id', '=', id).where('user_id', '=', userId).execute();
        await audit.record(request.actor(), { action: 'office.member.role', subjectType: 'office', subjectId: id, officeId: id, details: { user_id: userId, from: before.role, to: role } }, trx);
      }
      return true;
    });
    if (!changed) throw notFound();
    return reply.redirect(`/admin/offices/${id}?done=memberRole`, 303);
  });

  app.post<{ Params: { id: string; userId: string } }>('/admin/offices/:id/members/:userId/remove', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const id = intId(request.params.id);
    const userId = intId(request.params.userId);
    if (!id || !userId) throw notFound();
    const removed = await db.transaction().execute(async (trx) => {
      const row = await trx.deleteFrom('office_members').where('office_id', '=', id).where('user_id', '=', userId).returning('user_id').executeTakeFirst();
      if (!row) return false;
      const u = await trx.selectFrom('users').select('email').where('id', '=', userId).executeTakeFirst();
      await audit.record(request.actor(), { action: 'office.member.remove', subjectType: 'office', subjectId: id, officeId: id, details: { user_id: userId, email: u?.email ?? null } }, trx);
      return true;
    });
    if (!removed) throw notFound();
    return reply.redirect(`/admin/offices/${id}?done=memberRemoved`, 303);
  });
}

function officeRole(v: unknown): OfficeRole | null {
  return v === 'editor' || v === 'admin' ? v : null;
}

function toValues(o: NonNullable<Awaited<ReturnType<typeof officeById>>>): OfficeValues {
  return { name: o.name, slug: o.slug, kind: o.kind, parent_id: o.parent_id, commune_id: o.commune_id, description: o.description, email: o.email, url: o.url };
}

import type { FastifyInstance } from 'fastify';
import { requireAdmin, notFound } from '../http/guards';
import { Pagination } from '../ui/layout';
import { adminCrumb, AdminPage, escapeLike, intId, PAGE_SIZE, pageNumber, queryString, withParams } from './common';

/** Subjects that have an admin page of their own, so the log links to them. */
const SUBJECT_PAGES: Record<string, string> = { user: '/admin/users', office: '/admin/offices', organization: '/admin/organizations' };

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
/** The city's dates are Buenos Aires dates (UTC−3 all year, no daylight saving). */
const CITY_OFFSET = '-03:00';

function cityDay(s: string): Date | null {
  if (!DATE_RE.test(s)) return null;
  const d = new Date(`${s}T00:00:00${CITY_OFFSET}`);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Audit details as nested key/values a person can read, never raw JSON. */
function Details({ value, depth = 0 }: { value: unknown; depth?: number }) {
  if (value === null || value === undefined) return <>—</>;
  if (Array.isArray(value)) return <>{value.length ? value.map((v) => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v))).join(', ') : '[]'}</>;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return <>—</>;
    if (depth > 3) return <>{JSON.stringify(value)}</>;
    return (
      <dl class="city-details">
        {entries.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>
              <Details value={v} depth={depth + 1} />
            </dd>
          </div>
        ))}
      </dl>
    );
  }
  return <>{String(value)}</>;
}

export async function recordRoutes(app: FastifyInstance) {
  const db = app.services.db;

  app.get('/admin/audit', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const ctx = request.pageContext();
    const { t, fmt } = ctx;
    const f = {
      actor: queryString(request.query, 'actor'),
      action: queryString(request.query, 'action'),
      subject_type: queryString(request.query, 'subject_type'),
      subject_id: queryString(request.query, 'subject_id'),
      from: queryString(request.query, 'from'),
      to: queryString(request.query, 'to'),
    };
    const page = pageNumber(request.query);
    const errors: Record<string, string> = {};
    const from = f.from ? cityDay(f.from) : null;
    const to = f.to ? cityDay(f.to) : null;
    if (f.from && !from) errors.from = t('admin.form.date');
    if (f.to && !to) errors.to = t('admin.form.date');

    let q = db.selectFrom('audit_log');
    if (f.actor) q = q.where('actor_email', 'ilike', `%${escapeLike(f.actor)}%`);
    // 'office' finds office.create, office.member.add…; 'office.update' finds exactly that.
    if (f.action) q = q.where((eb) => eb.or([eb('action', '=', f.action), eb('action', 'like', `${escapeLike(f.action)}.%`)]));
    if (f.subject_type) q = q.where('subject_type', '=', f.subject_type);
    if (f.subject_id) q = q.where('subject_id', '=', f.subject_id);
    if (from) q = q.where('at', '>=', from);
    if (to) q = q.where('at', '<', new Date(to.getTime() + 86400_000));
    const { total } = await q.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
    const pages = Math.max(1, Math.ceil(Number(total) / PAGE_SIZE));
    const rows = await q
      .select(['id', 'at', 'actor_id', 'actor_email', 'ip', 'action', 'subject_type', 'subject_id', 'office_id', 'details'])
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(PAGE_SIZE)
      .offset((page - 1) * PAGE_SIZE)
      .execute();
    const subjectTypes = await db.selectFrom('audit_log').select('subject_type').distinct().orderBy('subject_type').execute();

    const input = (name: keyof typeof f, label: string, type = 'text') => (
      <div class={`usa-form-group${errors[name] ? ' usa-form-group--error' : ''}`}>
        <label class="usa-label" for={`audit-${name}`}>
          {label}
        </label>
        {errors[name] && (
          <span class="usa-error-message" id={`audit-${name}-error`} role="alert">
            {errors[name]}
          </span>
        )}
        <input class="usa-input" id={`audit-${name}`} name={name} type={type} value={f[name]} aria-describedby={errors[name] ? `audit-${name}-error` : undefined} />
      </div>
    );

    return reply.page(
      t('admin.audit.title'),
      <AdminPage title={t('admin.audit.title')}>
        <p>{t('admin.audit.lead')}</p>
        <form method="get" action="/admin/audit" class="usa-form usa-form--large" role="search">
          {input('actor', t('admin.audit.actor'), 'search')}
          {input('action', t('admin.audit.action'))}
          <div class="usa-form-group">
            <label class="usa-label" for="audit-subject_type">
              {t('admin.audit.subjectType')}
            </label>
            <select class="usa-select" id="audit-subject_type" name="subject_type">
              <option value="">{t('admin.users.filter.any')}</option>
              {subjectTypes.map((s) => (
                <option value={s.subject_type} selected={s.subject_type === f.subject_type} key={s.subject_type}>
                  {s.subject_type}
                </option>
              ))}
            </select>
          </div>
          {f.subject_id && <input type="hidden" name="subject_id" value={f.subject_id} />}
          {input('from', t('admin.audit.from'), 'date')}
          {input('to', t('admin.audit.to'), 'date')}
          <button class="usa-button margin-top-2" type="submit">
            {t('admin.filter')}
          </button>
        </form>
        {f.subject_id && (
          <p>
            {t('admin.audit.onlySubject', { subject: `${f.subject_type || '?'} #${f.subject_id}` })}{' '}
            <a href={withParams('/admin/audit', { ...f, subject_id: undefined, subject_type: undefined })}>{t('admin.audit.allSubjects')}</a>
          </p>
        )}
        <p role="status">{t('admin.audit.count', { count: fmt.number(Number(total)) })}</p>
        {rows.length > 0 && (
          <table class="usa-table usa-table--borderless usa-table--stacked">
            <caption>{t('admin.audit.caption', { page, pages })}</caption>
            <thead>
              <tr>
                <th scope="col">{t('admin.audit.when')}</th>
                <th scope="col">{t('admin.audit.actor')}</th>
                <th scope="col">{t('admin.audit.action')}</th>
                <th scope="col">{t('admin.audit.subject')}</th>
                <th scope="col">{t('admin.audit.ip')}</th>
                <th scope="col">{t('admin.audit.details')}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id}>
                  <th scope="row" data-label={t('admin.audit.when')}>
                    <time dateTime={new Date(r.at).toISOString()}>{fmt.dateTime(r.at)}</time>
                  </th>
                  <td data-label={t('admin.audit.actor')}>
                    {r.actor_id ? <a href={`/admin/users/${r.actor_id}`}>{r.actor_email}</a> : (r.actor_email ?? t('admin.audit.system'))}
                  </td>
                  <td data-label={t('admin.audit.action')}>
                    <code>{r.action}</code>
                  </td>
                  <td data-label={t('admin.audit.subject')}>
                    {r.subject_id && SUBJECT_PAGES[r.subject_type] && /^\d+$/.test(r.subject_id) ? (
                      <a href={`${SUBJECT_PAGES[r.subject_type]}/${r.subject_id}`}>
                        {r.subject_type} #{r.subject_id}
                      </a>
                    ) : (
                      <>
                        {r.subject_type}
                        {r.subject_id ? ` #${r.subject_id}` : ''}
                      </>
                    )}
                  </td>
                  <td data-label={t('admin.audit.ip')}>{r.ip ?? '—'}</td>
                  <td data-label={t('admin.audit.details')}>
                    <Details value={r.details} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <Pagination ctx={ctx} page={page} pages={pages} href={(p) => withParams('/admin/audit', { ...f, page: p })} />
      </AdminPage>,
      { status: Object.keys(errors).length ? 400 : 200, breadcrumbs: [adminCrumb(ctx), { label: t('admin.audit.title') }] },
    );
  });

  app.get('/admin/outbox', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const ctx = request.pageContext();
    const { t, fmt } = ctx;
    const page = pageNumber(request.query);
    const { total } = await db.selectFrom('mail_outbox').select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
    const pages = Math.max(1, Math.ceil(Number(total) / PAGE_SIZE));
    const rows = await db
      .selectFrom('mail_outbox')
      .select(['id', 'to_address', 'subject', 'created_at', 'sent_at', 'attempts', 'last_error'])
      .orderBy('id', 'desc')
      .limit(PAGE_SIZE)
      .offset((page - 1) * PAGE_SIZE)
      .execute();
    return reply.page(
      t('admin.outbox.title'),
      <AdminPage title={t('admin.outbox.title')}>
        <p>{t('admin.outbox.lead')}</p>
        <p role="status">{t('admin.outbox.count', { count: fmt.number(Number(total)) })}</p>
        {rows.length > 0 && (
          <table class="usa-table usa-table--borderless usa-table--stacked">
            <caption>{t('admin.outbox.caption', { page, pages })}</caption>
            <thead>
              <tr>
                <th scope="col">{t('admin.outbox.subject')}</th>
                <th scope="col">{t('admin.outbox.to')}</th>
                <th scope="col">{t('admin.outbox.created')}</th>
                <th scope="col">{t('admin.outbox.status')}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id}>
                  <th scope="row" data-label={t('admin.outbox.subject')}>
                    <a href={`/admin/outbox/${r.id}`}>{r.subject}</a>
                  </th>
                  <td data-label={t('admin.outbox.to')}>{r.to_address}</td>
                  <td data-label={t('admin.outbox.created')}>{fmt.dateTime(r.created_at)}</td>
                  <td data-label={t('admin.outbox.status')}>
                    {r.sent_at
                      ? t('admin.outbox.sent', { date: fmt.dateTime(r.sent_at) })
                      : r.last_error
                        ? t('admin.outbox.failed', { attempts: r.attempts, error: r.last_error })
                        : t('admin.outbox.pending')}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <Pagination ctx={ctx} page={page} pages={pages} href={(p) => withParams('/admin/outbox', { page: p })} />
      </AdminPage>,
      { breadcrumbs: [adminCrumb(ctx), { label: t('admin.outbox.title') }] },
    );
  });

  app.get<{ Params: { id: string } }>('/admin/outbox/:id', { preHandler: requireAdmin, schema: { hide: true } }, async (request, reply) => {
    const id = intId(request.params.id);
    if (!id) throw notFound();
    const m = await db.selectFrom('mail_outbox').selectAll().where('id', '=', id).executeTakeFirst();
    if (!m) throw notFound();
    const ctx = request.pageContext();
    const { t, fmt } = ctx;
    return reply.page(
      m.subject,
      <AdminPage title={m.subject}>
        <dl class="city-facts">
          <dt>{t('admin.outbox.to')}</dt>
          <dd>{m.to_address}</dd>
          <dt>{t('admin.outbox.created')}</dt>
          <dd>{fmt.dateTime(m.created_at)}</dd>
          <dt>{t('admin.outbox.status')}</dt>
          <dd>{m.sent_at ? t('admin.outbox.sent', { date: fmt.dateTime(m.sent_at) }) : t('admin.outbox.pending')}</dd>
          <dt>{t('admin.outbox.attempts')}</dt>
          <dd>{m.attempts}</dd>
          {m.last_error && (
            <>
              <dt>{t('admin.outbox.error')}</dt>
              <dd>{m.last_error}</dd>
            </>
          )}
        </dl>
        <h2>{t('admin.outbox.body')}</h2>
        {/* The text body is shown as text: an HTML body is never rendered here, so a message cannot script the admin's page. */}
        <pre class="city-mail-body">{m.text_body}</pre>
      </AdminPage>,
      { breadcrumbs: [adminCrumb(ctx), { href: '/admin/outbox', label: t('admin.outbox.title') }, { label: m.subject }] },
    );
  });
}

import type { FastifyInstance } from 'fastify';
import type { PageContext } from '../ui/context';
import { notFound } from '../http/guards';
import { childOffices, isOfficeKind, listOffices, listOrganizations, officeBySlug, organizationBySlug, OFFICE_KINDS, type OfficeSummary } from './store';

const slugParam = { type: 'object', properties: { slug: { type: 'string', maxLength: 200 } }, required: ['slug'] } as const;

function Contact({ ctx, email, url }: { ctx: PageContext; email: string | null; url: string | null }) {
  if (!email && !url) return null;
  return (
    <>
      <h2>{ctx.t('offices.contact')}</h2>
      <ul class="usa-list usa-list--unstyled">
        {email && (
          <li>
            {ctx.t('offices.field.email')}: <a href={`mailto:${email}`}>{email}</a>
          </li>
        )}
        {url && (
          <li>
            {ctx.t('offices.field.url')}:{' '}
            {/^https?:\/\//i.test(url) ? (
              <a href={url} rel="noopener noreferrer">
                {url}
              </a>
            ) : (
              url
            )}
          </li>
        )}
      </ul>
    </>
  );
}

function OfficeTable({ ctx, offices, caption }: { ctx: PageContext; offices: OfficeSummary[]; caption: string }) {
  return (
    <table class="usa-table usa-table--borderless usa-table--stacked">
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">{ctx.t('offices.field.name')}</th>
          <th scope="col">{ctx.t('offices.field.kind')}</th>
          <th scope="col">{ctx.t('offices.field.parent')}</th>
          <th scope="col">{ctx.t('offices.members.count')}</th>
        </tr>
      </thead>
      <tbody>
        {offices.map((o) => (
          <tr key={o.id}>
            <th scope="row" data-label={ctx.t('offices.field.name')}>
              <a href={`/offices/${o.slug}`}>{o.name}</a>
            </th>
            <td data-label={ctx.t('offices.field.kind')}>{ctx.t(`offices.kind.${o.kind}`)}</td>
            <td data-label={ctx.t('offices.field.parent')}>{o.parent_slug ? <a href={`/offices/${o.parent_slug}`}>{o.parent_name}</a> : '—'}</td>
            <td data-label={ctx.t('offices.members.count')}>{ctx.fmt.number(o.members)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Public directory of the government's offices and the city's civil-society organisations. */
export async function officesPages(app: FastifyInstance) {
  const db = app.services.db;

  app.get('/offices', { schema: { hide: true } }, async (request, reply) => {
    const ctx = request.pageContext();
    const { t } = ctx;
    const kindParam = (request.query as Record<string, unknown>)?.kind;
    const kind = typeof kindParam === 'string' && isOfficeKind(kindParam) ? kindParam : undefined;
    const offices = await listOffices(db, { kind });
    return reply.page(
      t('offices.title'),
      <div class="grid-container">
        <h1>{t('offices.title')}</h1>
        <p class="usa-intro">{t('offices.lead')}</p>
        <form method="get" action="/offices" class="usa-form">
          <label class="usa-label" for="offices-kind">
            {t('offices.field.kind')}
          </label>
          <select class="usa-select" id="offices-kind" name="kind">
            <option value="">{t('offices.kind.all')}</option>
            {OFFICE_KINDS.map((k) => (
              <option value={k} selected={k === kind} key={k}>
                {t(`offices.kind.${k}`)}
              </option>
            ))}
          </select>
          <button class="usa-button margin-top-1" type="submit">
            {t('offices.filter')}
          </button>
        </form>
        {offices.length === 0 ? <p>{t('common.none')}</p> : <OfficeTable ctx={ctx} offices={offices} caption={t('offices.caption', { count: offices.length })} />}
      </div>,
      { breadcrumbs: [{ href: '/', label: t('site.home') }, { label: t('offices.title') }] },
    );
  });

  app.get<{ Params: { slug: string } }>('/offices/:slug', { schema: { hide: true, params: slugParam } }, async (request, reply) => {
    const office = await officeBySlug(db, request.params.slug);
    if (!office) throw notFound();
    const ctx = request.pageContext();
    const { t } = ctx;
    const children = await childOffices(db, office.id);
    return reply.page(
      office.name,
      <div class="grid-container">
        <h1>{office.name}</h1>
        <p>
          <span class="usa-tag">{t(`offices.kind.${office.kind}`)}</span>
        </p>
        {office.description && <p class="usa-intro">{office.description}</p>}
        <dl class="city-facts">
          {office.parent_slug && (
            <>
              <dt>{t('offices.field.parent')}</dt>
              <dd>
                <a href={`/offices/${office.parent_slug}`}>{office.parent_name}</a>
              </dd>
            </>
          )}
          {office.commune_name && (
            <>
              <dt>{t('offices.field.commune')}</dt>
              <dd>{office.commune_name}</dd>
            </>
          )}
          <dt>{t('offices.members.count')}</dt>
          <dd>{ctx.fmt.number(office.members)}</dd>
        </dl>
        <Contact ctx={ctx} email={office.email} url={office.url} />
        {children.length > 0 && (
          <>
            <h2>{t('offices.children')}</h2>
            <ul class="usa-list">
              {children.map((c) => (
                <li key={c.slug}>
                  <a href={`/offices/${c.slug}`}>{c.name}</a> ({t(`offices.kind.${c.kind}`)})
                </li>
              ))}
            </ul>
          </>
        )}
      </div>,
      { breadcrumbs: [{ href: '/', label: t('site.home') }, { href: '/offices', label: t('offices.title') }, { label: office.name }] },
    );
  });

  app.get('/organizations', { schema: { hide: true } }, async (request, reply) => {
    const ctx = request.pageContext();
    const { t } = ctx;
    const orgs = await listOrganizations(db);
    return reply.page(
      t('organizations.title'),
      <div class="grid-container">
        <h1>{t('organizations.title')}</h1>
        <p class="usa-intro">{t('organizations.lead')}</p>
        {orgs.length === 0 ? (
          <p>{t('common.none')}</p>
        ) : (
          <ul class="usa-collection">
            {orgs.map((o) => (
              <li class="usa-collection__item" key={o.id}>
                <div class="usa-collection__body">
                  <h2 class="usa-collection__heading">
                    <a class="usa-link" href={`/organizations/${o.slug}`}>
                      {o.name}
                    </a>
                  </h2>
                  {o.description && <p class="usa-collection__description">{o.description}</p>}
                </div>
              </li>
            ))}
          </ul>
        )}
      </div>,
      { breadcrumbs: [{ href: '/', label: t('site.home') }, { label: t('organizations.title') }] },
    );
  });

  app.get<{ Params: { slug: string } }>('/organizations/:slug', { schema: { hide: true, params: slugParam } }, async (request, reply) => {
    const org = await organizationBySlug(db, request.params.slug);
    if (!org) throw notFound();
    const ctx = request.pageContext();
    const { t } = ctx;
    return reply.page(
      org.name,
      <div class="grid-container">
        <h1>{org.name}</h1>
        {org.description && <p class="usa-intro">{org.description}</p>}
        <dl class="city-facts">
          <dt>{t('organizations.members.count')}</dt>
          <dd>{ctx.fmt.number(org.members)}</dd>
        </dl>
        <Contact ctx={ctx} email={org.email} url={org.url} />
      </div>,
      { breadcrumbs: [{ href: '/', label: t('site.home') }, { href: '/organizations', label: t('organizations.title') }, { label: org.name }] },
    );
  });
}

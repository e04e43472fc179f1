import type { FastifyInstance } from 'fastify';
import type { AdminLink } from '../manifest';
import { AdminPage, requireStaff } from './common';
import { userAdminRoutes } from './users';
import { officeAdminRoutes } from './offices';
import { organizationAdminRoutes } from './organizations';
import { recordRoutes } from './records';
import { tokenRoutes } from './tokens';

/** Core's own administration pages, for administrators only. */
const CORE_LINKS: Array<{ href: string; labelKey: string; descriptionKey: string }> = [
  { href: '/admin/users', labelKey: 'admin.users.title', descriptionKey: 'admin.users.description' },
  { href: '/admin/offices', labelKey: 'admin.offices.title', descriptionKey: 'admin.offices.description' },
  { href: '/admin/organizations', labelKey: 'admin.organizations.title', descriptionKey: 'admin.organizations.description' },
  { href: '/admin/census', labelKey: 'admin.link.census', descriptionKey: 'admin.link.census.description' },
  { href: '/admin/audit', labelKey: 'admin.audit.title', descriptionKey: 'admin.audit.description' },
  { href: '/admin/outbox', labelKey: 'admin.outbox.title', descriptionKey: 'admin.outbox.description' },
  { href: '/admin/tokens', labelKey: 'admin.tokens.title', descriptionKey: 'admin.tokens.description' },
];

/** Which module links a person sees: administrators see all, others those meant for one of their roles. */
export function visibleModuleLinks(links: AdminLink[], roles: string[]): AdminLink[] {
  if (roles.includes('admin')) return links;
  return links.filter((l) => l.audience !== 'admin' && roles.includes(l.audience));
}

/** /admin and everything under it (except /admin/census, which the accounts area serves). */
export async function adminPages(app: FastifyInstance) {
  const { db, registry } = app.services;

  app.get('/admin', { preHandler: requireStaff, schema: { hide: true } }, async (request, reply) => {
    const ctx = request.pageContext();
    const { t } = ctx;
    const user = request.user!;
    const isAdmin = user.roles.includes('admin');
    const moduleLinks = visibleModuleLinks(registry.adminLinks(), user.roles);
    const myOffices = user.officeIds.length
      ? await db.selectFrom('offices').select(['slug', 'name', 'kind']).where('id', 'in', user.officeIds).orderBy('name').execute()
      : [];
    return reply.page(
      t('admin.title'),
      <AdminPage title={t('admin.title')}>
        <p class="usa-intro">{t('admin.lead', { name: user.name || user.email })}</p>
        <p>{user.roles.map((r) => t(`admin.role.${r}`)).join(' · ')}</p>
        {isAdmin && (
          <section aria-labelledby="admin-core">
            <h2 id="admin-core">{t('admin.section.platform')}</h2>
            <ul class="usa-card-group">
              {CORE_LINKS.map((l) => (
                <li class="usa-card tablet:grid-col-6 desktop:grid-col-4" key={l.href}>
                  <div class="usa-card__container">
                    <div class="usa-card__header">
                      <h3 class="usa-card__heading">
                        <a href={l.href}>{t(l.labelKey)}</a>
                      </h3>
                    </div>
                    <div class="usa-card__body">
                      <p>{t(l.descriptionKey)}</p>
                    </div>
                  </div>
                </li>
              ))}
            </ul>
          </section>
        )}
        {user.roles.includes('official') && (
          <section aria-labelledby="admin-offices">
            <h2 id="admin-offices">{t('admin.section.myOffices')}</h2>
            {myOffices.length === 0 ? (
              <p>{t('admin.myOffices.none')}</p>
            ) : (
              <ul class="usa-list">
                {myOffices.map((o) => (
                  <li key={o.slug}>
                    <a href={`/offices/${o.slug}`}>{o.name}</a> ({t(`offices.kind.${o.kind}`)})
                  </li>
                ))}
              </ul>
            )}
          </section>
        )}
        <section aria-labelledby="admin-modules">
          <h2 id="admin-modules">{t('admin.section.modules')}</h2>
          {moduleLinks.length === 0 ? (
            <p>{t('admin.modules.none')}</p>
          ) : (
            <ul class="usa-list">
              {moduleLinks.map((l) => (
                <li key={l.href}>
                  <a href={l.href}>{t(l.labelKey)}</a>
                </li>
              ))}
            </ul>
          )}
        </section>
      </AdminPage>,
      { breadcrumbs: [{ href: '/', label: t('site.home') }, { label: t('admin.title') }] },
    );
  });

  await app.register(userAdminRoutes);
  await app.register(officeAdminRoutes);
  await app.register(organizationAdminRoutes);
  await app.register(recordRoutes);
  await app.register(tokenRoutes);
}

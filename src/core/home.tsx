import type { FastifyInstance } from 'fastify';
import type { PageContext } from './ui/context';
import type { ModuleManifest } from './manifest';
import { CommunesMap } from './ui/map';

function ModuleCard({ ctx, m }: { ctx: PageContext; m: ModuleManifest }) {
  const coming = m.status === 'coming';
  const headingId = `card-${m.name}`;
  return (
    <li class={`usa-card tablet:grid-col-6 desktop:grid-col-3${coming ? ' city-card-coming' : ''}`}>
      <div class="usa-card__container">
        <div class="usa-card__header">
          <h3 class="usa-card__heading" id={headingId}>
            {ctx.t(m.titleKey)}
          </h3>
        </div>
        <div class="usa-card__body">
          <p>{ctx.t(m.descriptionKey)}</p>
          {coming && (
            <p>
              <span class="usa-tag city-tag-coming">{ctx.t('home.coming')}</span> {ctx.t('home.coming.body')}
            </p>
          )}
        </div>
        {!coming && (
          <div class="usa-card__footer">
            <a class="usa-button" href={m.path} aria-describedby={headingId}>
              {ctx.t('home.open')}
            </a>
          </div>
        )}
      </div>
    </li>
  );
}

export async function homeRoutes(app: FastifyInstance) {
  app.get('/', { schema: { hide: true } }, async (request, reply) => {
    const ctx = request.pageContext();
    const { t } = ctx;
    const communes = await app.services.geo.communes();
    const city = app.services.config.cityShortName;
    return reply.page(
      t('home.title', { city }),
      <>
        <section class="usa-hero city-hero" aria-labelledby="hero-title">
          <div class="grid-container">
            <h1 class="usa-hero__heading" id="hero-title">
              {t('home.title', { city })}
            </h1>
            <p>{t('home.lead')}</p>
          </div>
        </section>
        <div class="grid-container">
          <h2>{t('home.modules')}</h2>
          <ul class="usa-card-group">
            {app.services.registry.modules.map((m) => (
              <ModuleCard ctx={ctx} m={m} key={m.name} />
            ))}
          </ul>
        </div>
        {communes.length > 0 && (
          <section class="grid-container" aria-labelledby="communes-title">
            <h2 id="communes-title">{t('home.map.title')}</h2>
            <p>
              {t('home.map.lead')} <a href="/communes">{t('geo.communes.title')}</a>
            </p>
            <CommunesMap ctx={ctx} communes={communes} id="home-communes-map" />
          </section>
        )}
      </>,
    );
  });
}

import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { SearchHit } from '../manifest';
import type { Services } from '../services';
import type { Locale } from '../i18n';

/** Core's own searchable things: offices and civil-society organisations. */
async function coreHits(services: Services, q: string, limit: number): Promise<SearchHit[]> {
  const pattern = `%${q.replace(/[\\%_]/g, (c) => '\\' + c)}%`;
  const offices = await services.db
    .selectFrom('offices')
    .select(['slug', 'name', 'description'])
    .where(sql<boolean>`immutable_unaccent(name) ilike immutable_unaccent(${pattern}) or es_tsvector(name || ' ' || description) @@ plainto_tsquery('spanish', immutable_unaccent(${q}))`)
    .orderBy('name')
    .limit(limit)
    .execute();
  const orgs = await services.db
    .selectFrom('organizations')
    .select(['slug', 'name', 'description'])
    .where(sql<boolean>`immutable_unaccent(name) ilike immutable_unaccent(${pattern}) or es_tsvector(name || ' ' || description) @@ plainto_tsquery('spanish', immutable_unaccent(${q}))`)
    .orderBy('name')
    .limit(limit)
    .execute();
  return [
    ...offices.map((o) => ({ title: o.name, url: `/offices/${o.slug}`, snippet: o.description, kindKey: 'search.kind.office', rank: 0.5 })),
    ...orgs.map((o) => ({ title: o.name, url: `/organizations/${o.slug}`, snippet: o.description, kindKey: 'search.kind.organization', rank: 0.4 })),
  ];
}

/** Asks core and every module's search provider, then merges by rank. */
export async function globalSearch(services: Services, q: string, locale: Locale, limit = 50): Promise<SearchHit[]> {
  const providers = services.registry.searchProviders();
  const results = await Promise.all([
    coreHits(services, q, limit),
    ...providers.map(({ module, provider }) =>
      provider.search(services, q, locale, limit).catch((err) => {
        // One module's failing search must not take the whole page down.
        services.log.error({ err, module }, 'search provider failed');
        return [] as SearchHit[];
      }),
    ),
  ]);
  return results.flat().sort((a, b) => b.rank - a.rank).slice(0, limit);
}

export async function searchRoutes(app: FastifyInstance) {
  app.get<{ Querystring: { q?: string } }>(
    '/search',
    { schema: { hide: true, querystring: { type: 'object', properties: { q: { type: 'string', maxLength: 200 } } } } },
    async (request, reply) => {
      const q = (request.query.q ?? '').trim();
      const { t } = request;
      const hits = q ? await globalSearch(app.services, q, request.locale) : [];
      return reply.page(
        t('search.title'),
        <div class="grid-container">
          <h1>{t('search.title')}</h1>
          <form class="usa-search" role="search" method="get" action="/search">
            <label class="usa-sr-only" for="search-page-q">
              {t('site.search.label')}
            </label>
            <input class="usa-input" id="search-page-q" type="search" name="q" value={q} />
            <button class="usa-button" type="submit">
              <span class="usa-search__submit-text">{t('site.search.button')}</span>
            </button>
          </form>
          {!q && <p>{t('search.empty')}</p>}
          {q && (
            <p role="status">{hits.length ? t('search.results', { count: hits.length, q }) : t('search.none', { q })}</p>
          )}
          {hits.length > 0 && (
            <ul class="usa-collection">
              {hits.map((h, i) => (
                <li class="usa-collection__item" key={i}>
                  <div class="usa-collection__body">
                    <h2 class="usa-collection__heading">
                      <a class="usa-link" href={h.url}>
                        {h.title}
                      </a>
                    </h2>
                    {h.snippet && <p class="usa-collection__description">{h.snippet.slice(0, 240)}</p>}
                    <ul class="usa-collection__meta">
                      <li class="usa-collection__meta-item usa-tag">{t(h.kindKey)}</li>
                    </ul>
                  </div>
                </li>
              ))}
            </ul>
          )}
        </div>,
      );
    },
  );
}

import { sql } from 'kysely';
import type { SearchProvider } from '../../core/manifest';
import { rqDb } from './store';

/** Finds categories and open requests by their words (Spanish stemming, accents ignored). */
export const requestsSearch: SearchProvider = {
  async search(services, q, locale, limit) {
    const db = rqDb(services);
    const query = sql`websearch_to_tsquery('spanish', immutable_unaccent(${q}))`;
    const cats = await db
      .selectFrom('rq_services')
      .select(['code', 'name', 'name_en', 'description', sql<number>`ts_rank(es_tsvector(name || ' ' || coalesce(keywords, '') || ' ' || description), ${query})`.as('rank')])
      .where('active', '=', true)
      .where(sql<boolean>`es_tsvector(name || ' ' || coalesce(keywords, '') || ' ' || description) @@ ${query}`)
      .orderBy('rank', 'desc')
      .limit(limit)
      .execute();
    const reqs = await db
      .selectFrom('rq_requests as r')
      .innerJoin('rq_services as s', 's.id', 'r.service_id')
      .select(['r.id', 'r.description', 's.name', 's.name_en', sql<number>`ts_rank(to_tsvector('spanish'::regconfig, public.immutable_unaccent(r.description)), ${query})`.as('rank')])
      .where('r.status', 'in', ['submitted', 'acknowledged', 'in_progress'])
      .where(sql<boolean>`to_tsvector('spanish'::regconfig, public.immutable_unaccent(r.description)) @@ ${query}`)
      .orderBy('rank', 'desc')
      .limit(limit)
      .execute();
    return [
      ...cats.map((c) => ({ title: (locale === 'en' && c.name_en) || c.name, url: `/requests/new?service=${encodeURIComponent(c.code)}`, snippet: c.description, kindKey: 'requests.kind.service', rank: Number(c.rank) + 0.1 })),
      ...reqs.map((r) => ({ title: `#${r.id} ${(locale === 'en' && r.name_en) || r.name}`, url: `/requests/${r.id}`, snippet: r.description.slice(0, 200), kindKey: 'requests.kind.request', rank: Number(r.rank) })),
    ].slice(0, limit);
  },
};

import { sql } from 'kysely';
import type { Services } from '../../core/services';
import type { SearchHit } from '../../core/manifest';
import type { Locale } from '../../core/i18n';
import { worksDb } from './store';

/** The global /search finds works by name, description, address and contractor (Spanish stemming, no accents). */
export async function searchWorks(services: Services, q: string, _locale: Locale, limit: number): Promise<SearchHit[]> {
  // The stored column (migration 0002): the GIN index answers without recomputing each row's vector.
  const doc = sql`search_tsv`;
  const query = sql`plainto_tsquery('spanish', immutable_unaccent(${q}))`;
  const rows = await worksDb(services)
    .selectFrom('works_projects')
    .select(['id', 'name', 'description', sql<number>`ts_rank(${doc}, ${query})`.as('rank')])
    .where(sql<boolean>`${doc} @@ ${query}`)
    .orderBy('rank', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    title: r.name,
    url: `/works/${r.id}`,
    snippet: r.description.slice(0, 200),
    kindKey: 'works.kind',
    rank: Number(r.rank),
  }));
}

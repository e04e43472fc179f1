import { sql } from 'kysely';
import type { SearchProvider } from '../../core/manifest';
import { bgDb } from './tables';

/** Finds visible budget projects by their words (Spanish stemming, accents ignored). */
export const budgetingSearch: SearchProvider = {
  async search(services, q, _locale, limit) {
    const db = bgDb(services);
    const query = sql`websearch_to_tsquery('spanish', immutable_unaccent(${q}))`;
    const rows = await db
      .selectFrom('bg_proposals as p')
      .innerJoin('bg_budgets as b', 'b.id', 'p.budget_id')
      .select(['p.id', 'p.budget_id', 'p.title', 'p.description', 'b.name as budget', sql<number>`ts_rank(to_tsvector('spanish'::regconfig, public.immutable_unaccent(p.title || ' ' || p.description)), ${query})`.as('rank')])
      .where('p.hidden_at', 'is', null)
      .where(sql<boolean>`to_tsvector('spanish'::regconfig, public.immutable_unaccent(p.title || ' ' || p.description)) @@ ${query}`)
      .orderBy('rank', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      title: r.title,
      url: `/budgets/${r.budget_id}/proposals/${r.id}`,
      snippet: `${r.budget} · ${r.description.slice(0, 180)}`,
      kindKey: 'budgeting.kind',
      rank: Number(r.rank),
    }));
  },
};

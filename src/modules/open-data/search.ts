import type { SearchProvider } from '../../core/manifest';
import { odDb, searchDatasets, anonymous } from './store';
import { parseSort } from './domain/search-query';

/** The global /search finds published datasets (Spanish stemming, accents ignored). */
export const searchProvider: SearchProvider = {
  async search(services, q, _locale, limit) {
    if (!q.trim()) return [];
    const r = await searchDatasets(odDb(services), { text: q, filters: [], sort: parseSort(null), rows: limit, start: 0, facets: [], facetLimit: 0, viewer: anonymous, includePrivate: false });
    return r.datasets.map((d, i) => ({
      title: d.title,
      url: `/datasets/${d.name}`,
      snippet: d.notes.slice(0, 200),
      kindKey: 'open-data.kind.dataset',
      rank: 1 - i / Math.max(1, r.datasets.length),
    }));
  },
};

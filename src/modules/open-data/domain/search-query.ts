/**
 * CKAN's package_search speaks Solr: `fq` is a list of `field:value` clauses. We accept the
 * subset clients actually send (AND-ed clauses, optional quotes, `+`/`-` prefixes,
 * `field:(a OR b)`), and reject fields we do not index instead of silently ignoring them.
 */
export const FACET_FIELDS = ['organization', 'groups', 'tags', 'res_format', 'license_id'] as const;
export type FacetField = (typeof FACET_FIELDS)[number];
export const FILTER_FIELDS = [...FACET_FIELDS, 'name', 'id', 'state', 'private', 'owner_org', 'theme'] as const;
export type FilterField = (typeof FILTER_FIELDS)[number];

export interface FilterClause {
  field: FilterField;
  values: string[];
  negate: boolean;
}

export class SearchQueryError extends Error {}

const CLAUSE = /^([+-]?)([A-Za-z_][A-Za-z0-9_.]*):(?:"((?:[^"\\]|\\.)*)"|\(([^)]*)\)|(\S+))/;

function unquote(v: string) {
  v = v.trim();
  if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
  return v.replace(/\\(.)/g, '$1');
}

export function parseFq(fq: string | undefined | null): FilterClause[] {
  const out: FilterClause[] = [];
  if (!fq) return out;
  let rest = fq.trim();
  let guard = 0;
  while (rest.length && guard++ < 100) {
    const and = /^(AND|&&)\s+/i.exec(rest);
    if (and) {
      rest = rest.slice(and[0].length).trimStart();
      continue;
    }
    const m = CLAUSE.exec(rest);
    if (!m) throw new SearchQueryError(`Cannot parse fq near "${rest.slice(0, 40)}": expected field:value`);
    const field = m[2] === 'groups' || m[2] === 'theme' ? (m[2] as FilterField) : (m[2] as FilterField);
    if (!(FILTER_FIELDS as readonly string[]).includes(field)) {
      throw new SearchQueryError(`Unknown field "${m[2]}" in fq; known fields: ${FILTER_FIELDS.join(', ')}`);
    }
    let values: string[];
    if (m[4] !== undefined) {
      values = m[4]
        .split(/\s+OR\s+/i)
        .map(unquote)
        .filter((v) => v.length);
      if (!values.length) throw new SearchQueryError(`Empty value list for "${field}" in fq`);
    } else {
      values = [m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : unquote(m[5])];
    }
    out.push({ field, values, negate: m[1] === '-' });
    rest = rest.slice(m[0].length).trimStart();
  }
  return out;
}

/** `facet.field` arrives as a JSON list (CKAN's own clients) or, from forms, as a plain name. */
export function parseFacetFields(raw: unknown): FacetField[] {
  if (raw == null || raw === '') return [];
  let list: unknown = raw;
  if (typeof raw === 'string') {
    const s = raw.trim();
    if (s.startsWith('[')) {
      try {
        list = JSON.parse(s);
      } catch {
        throw new SearchQueryError('facet.field must be a JSON list of field names');
      }
    } else list = [s];
  }
  if (!Array.isArray(list)) throw new SearchQueryError('facet.field must be a list of field names');
  return list.map((f) => {
    if (typeof f !== 'string' || !(FACET_FIELDS as readonly string[]).includes(f)) {
      throw new SearchQueryError(`Cannot facet on "${String(f)}"; facet fields: ${FACET_FIELDS.join(', ')}`);
    }
    return f as FacetField;
  });
}

export type SortKey = 'score' | 'title' | 'name' | 'metadata_modified' | 'metadata_created' | 'views';
export interface SortSpec {
  key: SortKey;
  dir: 'asc' | 'desc';
}

const SORT_ALIASES: Record<string, SortKey> = {
  score: 'score',
  rank: 'score',
  relevance: 'score',
  title_string: 'title',
  title: 'title',
  name: 'name',
  metadata_modified: 'metadata_modified',
  metadata_created: 'metadata_created',
  views_recent: 'views',
  views_total: 'views',
  views: 'views',
};

export function parseSort(raw: string | undefined | null): SortSpec[] {
  if (!raw) return [{ key: 'score', dir: 'desc' }, { key: 'metadata_modified', dir: 'desc' }];
  return raw.split(',').map((part) => {
    const [f, d = 'asc'] = part.trim().split(/\s+/);
    const key = SORT_ALIASES[f];
    if (!key) throw new SearchQueryError(`Cannot sort by "${f}"`);
    const dir = d.toLowerCase();
    if (dir !== 'asc' && dir !== 'desc') throw new SearchQueryError(`Sort direction must be asc or desc, not "${d}"`);
    return { key, dir };
  });
}

/** `q` may be Solr's match-all or carry `field:value` terms; those become filters. */
export function splitQuery(q: string | undefined | null): { text: string; filters: FilterClause[] } {
  const s = (q ?? '').trim();
  if (!s || s === '*:*' || s === '*') return { text: '', filters: [] };
  const words: string[] = [];
  const filters: FilterClause[] = [];
  for (const token of s.match(/[+-]?[A-Za-z_]+:"[^"]*"|\S+/g) ?? []) {
    const m = /^[+-]?([A-Za-z_]+):/.exec(token);
    if (m && (FILTER_FIELDS as readonly string[]).includes(m[1])) filters.push(...parseFq(token));
    else if (m && m[1] === 'text') words.push(token.slice(m[0].length));
    else words.push(token);
  }
  return { text: words.join(' '), filters };
}

export function median(values: number[]): number | null {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Open311 dates: ISO 8601 with the city's offset (Buenos Aires keeps UTC−3 all year). */
export function open311DateTime(d: Date | null | undefined): string | null {
  if (!d) return null;
  const local = new Date(d.getTime() - 3 * 3600_000);
  return local.toISOString().replace(/\.\d{3}Z$/, '-03:00');
}

/** Parses an Open311 date filter (any ISO 8601 form); null when absent, NaN-date when malformed. */
export function parseDateFilter(v: unknown): Date | null | 'invalid' {
  if (v === undefined || v === null || v === '') return null;
  const t = Date.parse(String(v));
  return Number.isNaN(t) ? 'invalid' : new Date(t);
}

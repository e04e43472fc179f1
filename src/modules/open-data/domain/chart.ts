import type { DictionaryField } from '../tables';

export interface BarDatum {
  label: string;
  value: number;
}

const NUMERIC = new Set(['int', 'int4', 'int8', 'numeric', 'float8', 'number']);

/**
 * A chart for a table's numbers: the first numeric column (not `_id`), summed by the first
 * text column when there is one, the 15 largest. Empty when the table has no numbers.
 */
export function barChartData(fields: DictionaryField[], records: Record<string, unknown>[]): BarDatum[] {
  const num = fields.find((f) => f.id !== '_id' && NUMERIC.has(f.type));
  if (!num) return [];
  const label = fields.find((f) => f.type === 'text');
  const sums = new Map<string, number>();
  records.forEach((r, i) => {
    const v = Number(r[num.id]);
    if (!Number.isFinite(v)) return;
    const key = label ? String(r[label.id] ?? '—') : String(i + 1);
    sums.set(key, (sums.get(key) ?? 0) + v);
  });
  return [...sums]
    .map(([l, value]) => ({ label: `${l}`, value }))
    .sort((a, b) => b.value - a.value)
    .slice(0, 15)
    .map((d) => ({ ...d, label: d.label.length > 40 ? `${d.label.slice(0, 39)}…` : d.label }));
}

/** Rounded-up axis maximum (1, 2 or 5 times a power of ten). */
export function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

import { ParseError, parseCoordinate, parseCount, parseDate, repairText } from './normalise';

/**
 * The project data its office may correct by hand (the contract, stage and progress have forms
 * of their own). Each group is what a re-import compares: `location` is the point (and the
 * shape it replaces) as one value.
 */
export const EDIT_GROUPS = {
  description: ['description'],
  address: ['address'],
  location: ['lat', 'lng', 'geometry'],
  start_date: ['start_date'],
  planned_end: ['planned_end'],
  current_planned_end: ['current_planned_end'],
  actual_end: ['actual_end'],
  sites: ['sites'],
  workers: ['workers'],
  beneficiaries: ['beneficiaries'],
  funding: ['funding'],
} as const;
export type EditGroup = keyof typeof EDIT_GROUPS;
export const EDIT_GROUP_NAMES = Object.keys(EDIT_GROUPS) as EditGroup[];

/** Columns the office's point decides along with lat/lng: a re-import that keeps the point keeps them. */
export const LOCATION_DERIVED = ['communes', 'commune_id', 'neighbourhood'] as const;

export interface EditValues {
  description: string;
  address: string | null;
  lat: number | null;
  lng: number | null;
  start_date: string | null;
  planned_end: string | null;
  current_planned_end: string | null;
  actual_end: string | null;
  sites: number | null;
  workers: number | null;
  beneficiaries: string | null;
  funding: string | null;
}

export interface EditError {
  /** Message key (works.edit.error.*), the form field it is about and its parameters. */
  key: string;
  field: string;
  params?: Record<string, string | number>;
}

const TEXT_LIMITS = { description: 5000, address: 300, beneficiaries: 300, funding: 300 } as const;

/**
 * Reads the edit form with the importer's own normalisers: dates as the BA Obras files write
 * them (2024-03-01 from a date input, 1/3/2024 typed), counts with es-AR thousands ("1.200"),
 * coordinates with a decimal comma or point. Returns the values or the first problem.
 */
export function checkProjectEdit(raw: Record<string, string | undefined>): EditValues | EditError {
  const text = (k: keyof typeof TEXT_LIMITS): string | null | EditError => {
    const s = repairText(raw[k] ?? '').trim();
    if (s.length > TEXT_LIMITS[k]) return { key: 'works.edit.error.long', field: k, params: { max: TEXT_LIMITS[k] } };
    return s || null;
  };
  const date = (k: 'start_date' | 'planned_end' | 'current_planned_end' | 'actual_end'): string | null | EditError => {
    try {
      return parseDate(raw[k] ?? '') ?? null;
    } catch (e) {
      if (e instanceof ParseError) return { key: 'works.edit.error.date', field: k, params: { value: (raw[k] ?? '').trim() } };
      throw e;
    }
  };
  const count = (k: 'sites' | 'workers'): number | null | EditError => {
    let n: number | undefined;
    try {
      n = parseCount(raw[k] ?? '', k);
    } catch (e) {
      if (e instanceof ParseError) return { key: 'works.edit.error.count', field: k, params: { value: (raw[k] ?? '').trim() } };
      throw e;
    }
    if (n === undefined) return null;
    if (!Number.isInteger(n) || n < 0 || n > 1_000_000) return { key: 'works.edit.error.count', field: k, params: { value: (raw[k] ?? '').trim() } };
    return n;
  };
  const coord = (k: 'lat' | 'lng'): number | null | EditError => {
    try {
      const n = parseCoordinate(raw[k] ?? '', k);
      if (n === undefined) return null;
      if (Math.abs(n) > (k === 'lat' ? 90 : 180)) return { key: 'works.edit.error.coordinate', field: k, params: { value: (raw[k] ?? '').trim() } };
      return n;
    } catch (e) {
      if (e instanceof ParseError) return { key: 'works.edit.error.coordinate', field: k, params: { value: (raw[k] ?? '').trim() } };
      throw e;
    }
  };
  const isErr = (v: unknown): v is EditError => !!v && typeof v === 'object' && 'key' in v;
  const out = {
    description: text('description'),
    address: text('address'),
    lat: coord('lat'),
    lng: coord('lng'),
    start_date: date('start_date'),
    planned_end: date('planned_end'),
    current_planned_end: date('current_planned_end'),
    actual_end: date('actual_end'),
    sites: count('sites'),
    workers: count('workers'),
    beneficiaries: text('beneficiaries'),
    funding: text('funding'),
  };
  for (const v of Object.values(out)) if (isErr(v)) return v;
  const v = out as { [K in keyof EditValues]: EditValues[K] | null };
  if ((v.lat === null) !== (v.lng === null)) return { key: 'works.edit.error.pointPair', field: v.lat === null ? 'lat' : 'lng' };
  for (const k of ['planned_end', 'current_planned_end', 'actual_end'] as const) {
    if (v.start_date && v[k] && v[k]! < v.start_date) return { key: 'works.edit.error.dateOrder', field: k, params: { start: v.start_date, end: v[k]! } };
  }
  if (v.planned_end && v.current_planned_end && v.current_planned_end < v.planned_end) {
    return { key: 'works.edit.error.currentBeforePlanned', field: 'current_planned_end', params: { planned: v.planned_end, current: v.current_planned_end } };
  }
  return { ...v, description: v.description ?? '' };
}

/** JSON with object keys sorted: the same value reads the same whether it came from jsonb or from a file. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/** A group's value in a row ({lat, lng, geometry, …} with geometry as an object or null). */
export function groupValue(group: EditGroup, row: Record<string, unknown>): unknown {
  const cols = EDIT_GROUPS[group] as readonly string[];
  if (cols.length === 1) return normal(row[cols[0]]);
  return Object.fromEntries(cols.map((c) => [c, normal(row[c])]));
}

/** A column's value as the comparisons see it: empty is null, numeric text is a number. */
export function normal(v: unknown): unknown {
  if (v === undefined || v === '') return null;
  // numeric columns come back as text on PostgreSQL; compare the numbers.
  if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  return v;
}

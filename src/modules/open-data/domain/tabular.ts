/**
 * Pure helpers of the DataStore loader: delimiter detection, column names, type inference
 * and the conversion of a cell into what PostgreSQL's COPY (text format) expects.
 */
export type ColumnType = 'int' | 'numeric' | 'date' | 'timestamp' | 'bool' | 'text';

const CANDIDATES = [',', ';', '\t', '|'];

/** The delimiter that splits the first lines into the same, largest number of columns. */
export function detectDelimiter(sample: string): string {
  const lines = sample.split(/\r?\n/).filter((l) => l.trim()).slice(0, 20);
  if (!lines.length) return ',';
  let best = ',';
  let bestScore = -1;
  for (const d of CANDIDATES) {
    const counts = lines.map((l) => countOutsideQuotes(l, d));
    const first = counts[0];
    if (first === 0) continue;
    // Consistent counts across lines weigh more than a high count on one line.
    const consistent = counts.filter((c) => c === first).length / counts.length;
    const score = consistent * 1000 + first;
    if (score > bestScore) {
      best = d;
      bestScore = score;
    }
  }
  return best;
}

function countOutsideQuotes(line: string, d: string): number {
  let n = 0;
  let quoted = false;
  for (const c of line) {
    if (c === '"') quoted = !quoted;
    else if (c === d && !quoted) n++;
  }
  return n;
}

/** Unique, non-empty column names; `_id` and `_full_text` are the DataStore's own. */
export function columnNames(header: string[]): string[] {
  const seen = new Map<string, number>();
  return header.map((raw, i) => {
    let name = raw.replace(/^\uFEFF/, '').trim() || `column_${i + 1}`;
    if (name.startsWith('_')) name = `col${name}`;
    name = name.slice(0, 60);
    const n = seen.get(name.toLowerCase()) ?? 0;
    seen.set(name.toLowerCase(), n + 1);
    return n ? `${name}_${n + 1}` : name;
  });
}

const INT = /^[-+]?\d{1,15}$/;
const NUMERIC = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
// Months and days of one or two digits, as PostgreSQL's COPY reads them too.
const DATE = /^\d{4}-\d{1,2}-\d{1,2}$/;
const TIMESTAMP = /^\d{4}-\d{1,2}-\d{1,2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;
const BOOL = /^(true|false)$/i;
/** Numbers written with a decimal comma, as Argentine files do ("1234,5"); no thousands separators. */
const NUMERIC_COMMA = /^[-+]?\d+,\d+$/;

/** A calendar date that exists: JavaScript's Date.parse takes 2021-02-30, PostgreSQL does not. */
function realDate(v: string): boolean {
  const m = /^(\d{4})-(\d{1,2})-(\d{1,2})/.exec(v);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (y < 1 || mo < 1 || mo > 12 || d < 1) return false;
  return d <= new Date(Date.UTC(y, mo, 0)).getUTCDate();
}

function realTimestamp(v: string): boolean {
  const m = /[T ](\d{2}):(\d{2})(?::(\d{2}))?/.exec(v);
  return realDate(v) && !!m && Number(m[1]) < 24 && Number(m[2]) < 60 && Number(m[3] ?? 0) < 60;
}

/** A number's text as PostgreSQL reads it: a decimal comma becomes a point. */
export function numberText(v: string): string {
  return NUMERIC_COMMA.test(v) ? v.replace(',', '.') : v;
}

/** Whether a value is written with a decimal comma (the loader then converts its column). */
export function hasDecimalComma(v: string): boolean {
  return NUMERIC_COMMA.test(v.trim());
}

/** Narrows a column's type by one more value; empty cells say nothing. */
export function widen(current: ColumnType | null, value: string): ColumnType | null {
  const v = value.trim();
  if (v === '') return current;
  const kind: ColumnType = INT.test(v)
    ? 'int'
    : NUMERIC.test(v) || NUMERIC_COMMA.test(v)
      ? 'numeric'
      : DATE.test(v) && realDate(v)
        ? 'date'
        : TIMESTAMP.test(v) && realTimestamp(v)
          ? 'timestamp'
          : BOOL.test(v)
            ? 'bool'
            : 'text';
  if (current === null || current === kind) return kind;
  if ((current === 'int' && kind === 'numeric') || (current === 'numeric' && kind === 'int')) return 'numeric';
  if ((current === 'date' && kind === 'timestamp') || (current === 'timestamp' && kind === 'date')) return 'timestamp';
  return 'text';
}

export const SQL_TYPE: Record<ColumnType, string> = {
  int: 'bigint',
  numeric: 'numeric',
  date: 'date',
  timestamp: 'timestamp',
  bool: 'boolean',
  text: 'text',
};

/** CKAN's DataStore type names, as datastore_search reports them. */
export const CKAN_TYPE: Record<ColumnType, string> = {
  int: 'int8',
  numeric: 'numeric',
  date: 'date',
  timestamp: 'timestamp',
  bool: 'bool',
  text: 'text',
};

export function columnTypeFromCkan(t: string | undefined): ColumnType | null {
  switch ((t ?? '').toLowerCase()) {
    case 'int': case 'int4': case 'int8': case 'integer': case 'bigint':
      return 'int';
    case 'numeric': case 'float': case 'float8': case 'number': case 'double precision':
      return 'numeric';
    case 'date':
      return 'date';
    case 'timestamp': case 'datetime':
      return 'timestamp';
    case 'bool': case 'boolean':
      return 'bool';
    case 'text': case 'string':
      return 'text';
    default:
      return null;
  }
}

/** Checks a cell against its column's type; returns a reason when it does not fit. */
export function cellProblem(type: ColumnType, value: string): string | null {
  const v = value.trim();
  if (v === '' || type === 'text') return null;
  if (type === 'int' && !INT.test(v)) return `"${v}" is not an integer`;
  if (type === 'numeric' && !NUMERIC.test(v) && !NUMERIC_COMMA.test(v)) return `"${v}" is not a number`;
  if (type === 'date' && !(DATE.test(v) && realDate(v))) return `"${v}" is not a date (YYYY-MM-DD)`;
  if (type === 'timestamp' && !((TIMESTAMP.test(v) && realTimestamp(v)) || (DATE.test(v) && realDate(v)))) return `"${v}" is not a timestamp`;
  if (type === 'bool' && !BOOL.test(v)) return `"${v}" is not true/false`;
  return null;
}

/** One cell in COPY's text format: empty is NULL; backslash, tab and newlines escaped. */
export function copyCell(type: ColumnType, value: string): string {
  const v = type === 'text' ? value : value.trim();
  if (v === '') return '\\N';
  return v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

/** The JS value of a cell for a parameterised INSERT. */
export function paramCell(type: ColumnType, value: string): string | null {
  const v = type === 'text' ? value : value.trim();
  return v === '' ? null : type === 'numeric' ? numberText(v) : v;
}

import iconv from 'iconv-lite';

/**
 * Normalisation of the values BA Obras publishes: stages, types, communes, numbers, dates,
 * coordinates and procedures arrive in many spellings across vintages of the dataset.
 * Every parser returns `undefined` for "empty", `null`-free values when it understood the
 * input, and throws a ParseError with a reason when it did not.
 */

export const STAGES = ['planned', 'tendering', 'in_progress', 'paused', 'finished', 'cancelled'] as const;
export type Stage = (typeof STAGES)[number];

export const WORK_TYPES = ['school', 'health', 'public_space', 'housing', 'transport', 'hydraulic', 'architecture', 'infrastructure', 'other'] as const;
export type WorkType = (typeof WORK_TYPES)[number];

export type ProcurementMethod = 'open' | 'selective' | 'limited' | 'direct';

/** A value that cannot be read: an English message (CLI) and a code + params the pages translate (`works.reject.<code>`). */
export class ParseError extends Error {
  constructor(
    message: string,
    readonly code?: string,
    readonly params: Record<string, string | number> = {},
  ) {
    super(message);
  }
}

/** Lower case, accents and punctuation folded: the key we compare spellings by. */
export function fold(s: string): string {
  return s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9/]+/g, ' ')
    .trim();
}

export function slugify(s: string): string {
  return fold(s).replace(/\//g, ' ').trim().replace(/\s+/g, '-').slice(0, 80) || 'x';
}

/**
 * Repairs the mojibake found in the source: UTF-8 read as Latin-1 ("Ã©"), and a second
 * variant where the lead byte Ã became "í" ("Secretarí\u00ada", "desagí¼es").
 */
export function repairText(s: string): string {
  // C1 controls are Windows-1252 bytes read as Latin-1: "\u0093" is a curly quote.
  let out = s.replace(/[\u0080-\u009f]/g, (c) => iconv.decode(Buffer.from([c.charCodeAt(0)]), 'win1252')).replace(/\u00a0/g, ' ');
  // UTF-8 punctuation read as Windows-1252, sometimes twice ("âÂ€Âœ" for "“").
  out = out.replace(/Â(?=[€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ])/g, '');
  out = out.replace(/â[€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ\u00a0-\u00bf]{2}/g, (m) => {
    try {
      const fixed = new TextDecoder('utf-8', { fatal: true }).decode(iconv.encode(m, 'win1252'));
      return fixed.length === 1 ? fixed : m;
    } catch {
      return m;
    }
  });
  if (/Ã[\u0080-\u00bf]/.test(out)) {
    out = out.replace(/Ã([\u0080-\u00bf])/g, (_m, c: string) => Buffer.from([0xc3, c.charCodeAt(0)]).toString('utf8'));
  }
  // "í" + a continuation byte: the byte pair C3 xx decoded as UTF-8 gives the intended letter.
  out = out.replace(/í([\u00a0-\u00bf])/g, (_m, c: string) => Buffer.from([0xc3, c.charCodeAt(0)]).toString('utf8'));
  // Spanish has no grave accents: ù is a damaged ú.
  out = out.replace(/ù/g, 'ú').replace(/Ù/g, 'Ú');
  return out.replace(/[ \t]+/g, ' ').trim();
}

const STAGE_SPELLINGS: Array<[RegExp, Stage]> = [
  [/desestimad|rescindid|cancelad|anulad|suspendid(a|o) definitiv/, 'cancelled'],
  [/neutralizad|paralizad|pausad|suspendid|detenid/, 'paused'],
  [/finalizad|terminad|concluid|completad|inaugurad/, 'finished'],
  [/licitacion|adjudicad|en compra|contratacion/, 'tendering'],
  [/ejecucion|en obra|en curso|iniciad|en proceso|en marcha/, 'in_progress'],
  [/proyecto|planificad|a iniciar|previst|en estudio/, 'planned'],
];

/** The 17+ spellings of `etapa` folded into six stages; undefined for an empty cell. */
export function parseStage(raw: string): Stage | undefined {
  const f = fold(raw);
  if (!f) return undefined;
  if ((STAGES as readonly string[]).includes(f.replace(/ /g, '_'))) return f.replace(/ /g, '_') as Stage;
  for (const [re, stage] of STAGE_SPELLINGS) if (re.test(f)) return stage;
  throw new ParseError(`unknown stage "${raw}"`, 'stage', { value: raw });
}

const TYPE_SPELLINGS: Array<[RegExp, WorkType]> = [
  [/escuel|educa|jardin/, 'school'],
  [/salud|hospital|cesac/, 'health'],
  [/hidraul/, 'hydraulic'],
  [/vivienda|habitat/, 'housing'],
  [/transporte|subte|metrobus|vial/, 'transport'],
  [/espacio public|plaza|parque/, 'public_space'],
  [/arquitectura/, 'architecture'],
  [/infraestructura|instalacion|ingenieria/, 'infrastructure'],
];

export function parseType(raw: string): WorkType {
  const f = fold(raw);
  if (!f) return 'other';
  if ((WORK_TYPES as readonly string[]).includes(f.replace(/ /g, '_'))) return f.replace(/ /g, '_') as WorkType;
  for (const [re, type] of TYPE_SPELLINGS) if (re.test(f)) return type;
  return 'other';
}

/** "12", "4 y 1", "14, 2 , 1", "1 a 15", "Comuna 4" → sorted commune numbers 1..15. */
export function parseCommunes(raw: string): number[] {
  const f = fold(raw).replace(/comunas?/g, '').trim();
  if (!f) return [];
  const out = new Set<number>();
  const range = /^(\d+) a (\d+)$/.exec(f);
  if (range) {
    for (let i = Number(range[1]); i <= Number(range[2]) && i <= 15; i++) out.add(i);
  } else {
    for (const part of f.split(/\s*(?:,|\by\b|\be\b|\/|-)\s*|\s+/).filter(Boolean)) {
      if (!/^\d+$/.test(part)) throw new ParseError(`unreadable commune "${raw}"`, 'commune', { value: raw });
      out.add(Number(part));
    }
  }
  for (const c of out) if (c < 1 || c > 15) throw new ParseError(`commune ${c} does not exist (1–15)`, 'communeRange', { n: c });
  if (!out.size) throw new ParseError(`unreadable commune "${raw}"`, 'commune', { value: raw });
  return [...out].sort((a, b) => a - b);
}

/**
 * Amounts in every format the vintages use: "67065700", "$ 67.065.700,00", "53,160,000.00",
 * "21.883.237", "10.168.380,09". The last separator is the decimal one only when both kinds
 * appear or when it is not followed by exactly three digits.
 */
export function parseAmount(raw: string): number | undefined {
  let s = raw.replace(/[\s\u00a0]/g, '').replace(/^(ARS|\$)+/i, '').replace(/^\$/, '');
  if (!s || s === '-' || /^(a\/d|s\/d|n\/a)$/i.test(s)) return undefined;
  if (!/^-?[\d.,]+$/.test(s)) throw new ParseError(`unreadable amount "${raw.trim()}"`, 'amount', { value: raw.trim() });
  const dots = (s.match(/\./g) ?? []).length;
  const commas = (s.match(/,/g) ?? []).length;
  if (dots && commas) {
    const decimal = s.lastIndexOf(',') > s.lastIndexOf('.') ? ',' : '.';
    const thousands = decimal === ',' ? '.' : ',';
    s = s.split(thousands).join('').replace(decimal, '.');
  } else if (dots + commas > 1) {
    s = s.replace(/[.,]/g, '');
  } else if (dots + commas === 1) {
    const sep = dots ? '.' : ',';
    const after = s.length - s.indexOf(sep) - 1;
    s = after === 3 ? s.replace(sep, '') : s.replace(sep, '.');
  }
  const n = Number(s);
  if (!Number.isFinite(n) || n < 0) throw new ParseError(`unreadable amount "${raw.trim()}"`, 'amount', { value: raw.trim() });
  return n;
}

/** Plain counts and percentages ("16", "1.200", "75,5"). */
export function parseCount(raw: string, what: string): number | undefined {
  const s = raw.replace(/[\s\u00a0]/g, '');
  if (!s || s === '-' || /^(a\/d|s\/d|n\/a)$/i.test(s)) return undefined;
  if (/^\d{1,3}(\.\d{3})+$/.test(s)) return Number(s.replace(/\./g, ''));
  const n = Number(s.replace(',', '.'));
  if (!/^-?[\d.,]+$/.test(s) || !Number.isFinite(n)) throw new ParseError(`unreadable ${what} "${raw.trim()}"`, 'number', { value: raw.trim() });
  return n;
}

export function parsePercent(raw: string): number | undefined {
  const n = parseCount(raw.replace('%', ''), 'progress');
  if (n === undefined) return undefined;
  if (n < 0 || n > 100) throw new ParseError(`progress ${n} % is outside 0–100`, 'progressRange', { n });
  return n;
}

function isoDate(y: number, m: number, d: number, raw: string): string {
  const dt = new Date(Date.UTC(y, m - 1, d));
  if (dt.getUTCFullYear() !== y || dt.getUTCMonth() !== m - 1 || dt.getUTCDate() !== d || y < 1900 || y > 2100) {
    throw new ParseError(`unreadable date "${raw.trim()}"`, 'date', { value: raw.trim() });
  }
  return dt.toISOString().slice(0, 10);
}

/** "2013-12-01", "31/07/2023", "1/7/23", "10/21" (month/year), "A/D" (to be defined) → YYYY-MM-DD. */
export function parseDate(raw: string): string | undefined {
  const s = raw.replace(/\u00a0/g, ' ').trim();
  if (!s || s === '-' || /^(a\/d|s\/d|n\/a|a definir)$/i.test(s)) return undefined;
  let m = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$/.exec(s);
  if (m) return isoDate(+m[1], +m[2], +m[3], raw);
  m = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})$/.exec(s);
  if (m) return isoDate(m[3].length === 2 ? 2000 + +m[3] : +m[3], +m[2], +m[1], raw);
  m = /^(\d{1,2})[/.-](\d{2}|\d{4})$/.exec(s);
  if (m) return isoDate(m[2].length === 2 ? 2000 + +m[2] : +m[2], +m[1], 1, raw);
  throw new ParseError(`unreadable date "${raw.trim()}"`, 'date', { value: raw.trim() });
}

/**
 * Coordinates: "-34,56715312", "-34.56715312", and the damaged "-34.578.254" or "-584.699.185"
 * (thousands separators put in by a spreadsheet). Degrees in Buenos Aires have two digits, so
 * a damaged value is rebuilt from its digits with the point after the second one.
 */
export function parseCoordinate(raw: string, axis: 'lat' | 'lng'): number | undefined {
  const s = raw.replace(/[\s\u00a0]/g, '');
  if (!s) return undefined;
  if (!/^-?[\d.,]+$/.test(s)) throw new ParseError(`unreadable ${axis} "${raw.trim()}"`, 'coordinate', { value: raw.trim() });
  const seps = (s.match(/[.,]/g) ?? []).length;
  let n = Number(s.replace(',', '.'));
  const max = axis === 'lat' ? 90 : 180;
  if (seps !== 1 || !Number.isFinite(n) || Math.abs(n) > max) {
    const digits = s.replace(/[^\d]/g, '');
    n = Number(`${s.startsWith('-') ? '-' : ''}${digits.slice(0, 2)}.${digits.slice(2)}`);
  }
  if (!Number.isFinite(n)) throw new ParseError(`unreadable ${axis} "${raw.trim()}"`, 'coordinate', { value: raw.trim() });
  return n;
}

/** "34°36'04\"S", "34° 33' 53\" sur", "_34,56484°": degrees (south and west negative). */
function parseDegrees(raw: string, axis: 'lat' | 'lng'): number | undefined {
  const s = raw.replace(/[\s\u00a0]+/g, ' ').trim();
  const south = axis === 'lat' ? /\b(s|sur|south)\b|\ds$/i : /\b(o|w|oeste|west)\b|\d(o|w)$/i;
  const dec = /^[-_]?\s*(\d{1,3}[.,]\d+)\s*°/.exec(s);
  const dms = /^[-_]?\s*(\d{1,3})\s*°\s*(\d{1,2})\D+?(\d{1,2}(?:[.,]\d+)?)/.exec(s);
  let n: number;
  if (dec) n = Number(dec[1].replace(',', '.'));
  else if (dms) n = Number(dms[1]) + Number(dms[2]) / 60 + Number(dms[3].replace(',', '.')) / 3600;
  else return undefined;
  // "_34,56…" is a mistyped minus; the hemisphere letter says the same.
  const negative = /^[-_]/.test(s) || south.test(s.replace(/^[-_]?\s*\d{1,3}[.,]\d+\s*°\s*(o|or)\s/i, ''));
  return Math.round((negative ? -n : n) * 1e7) / 1e7;
}

/**
 * Cells with several points: "-34.650675\n-34.666304", "(')-34.614729 / -34.607188", one value
 * per line or between slashes or semicolons, each read as parseCoordinate reads one. Returns
 * every value in order (empty for an empty cell).
 */
export function parseCoordinates(raw: string, axis: 'lat' | 'lng'): number[] {
  const cell = raw.replace(/^\s*\(?'\)?/, '').trim();
  if (!cell) return [];
  if (cell.includes('°')) {
    const n = parseDegrees(cell, axis);
    if (n === undefined) throw new ParseError(`unreadable ${axis} "${raw.trim()}"`, 'coordinate', { value: raw.trim() });
    return [n];
  }
  const out: number[] = [];
  for (const part of cell.split(/\s*(?:[\r\n]+|\/|;|\|)\s*/)) {
    const n = parseCoordinate(part.replace(/^\(?'\)?/, ''), axis);
    if (n !== undefined) out.push(n);
  }
  return out;
}

/** A generous box around the City of Buenos Aires, used when no commune boundaries are loaded. */
export const CITY_BOX = { minLat: -34.71, maxLat: -34.52, minLng: -58.54, maxLng: -58.33 };

export function inCityBox(lat: number, lng: number): boolean {
  return lat >= CITY_BOX.minLat && lat <= CITY_BOX.maxLat && lng >= CITY_BOX.minLng && lng <= CITY_BOX.maxLng;
}

/** The 67 spellings of `contratacion_tipo` mapped to the OCDS method codelist. */
export function parseProcurementMethod(raw: string): ProcurementMethod | undefined {
  const f = fold(repairText(raw));
  if (!f) return undefined;
  // "LICICITACIÓN PÚBLICA" (sic) is in the 2024 snapshot.
  if (/li(ci)?citacion publica|licitacion$|etapa multiple|concurso publico/.test(f)) return 'open';
  if (/licitacion privada|concurso privado/.test(f)) return 'selective';
  if (/directa|emergencia|menor|433|decreto|2095|mantenimiento/.test(f)) return 'direct';
  return undefined;
}

/** CUITs: 11 digits, written with or without dashes, several per cell. */
export function parseCuits(raw: string): string[] {
  const out: string[] = [];
  for (const m of raw.matchAll(/\b(\d{2})-?(\d{8})-?(\d)\b/g)) {
    const cuit = `${m[1]}-${m[2]}-${m[3]}`;
    if (!out.includes(cuit)) out.push(cuit);
  }
  return out;
}

export function parseYesNo(raw: string): boolean {
  return /^(si|sí|s|yes|true|1|x)$/i.test(raw.trim());
}

export function parseYear(raw: string): number | undefined {
  const s = raw.trim();
  const m = /^(\d{4})$/.exec(s);
  if (!m) return undefined;
  const y = Number(m[1]);
  return y >= 1950 && y <= 2100 ? y : undefined;
}

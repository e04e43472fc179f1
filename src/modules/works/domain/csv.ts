import crypto from 'node:crypto';
import chardet from 'chardet';
import iconv from 'iconv-lite';
import { parse } from 'csv-parse/sync';
import {
  ParseError,
  fold,
  parseAmount,
  parseCommunes,
  parseCoordinates,
  parseCount,
  parseCuits,
  parseDate,
  parsePercent,
  parseProcurementMethod,
  parseStage,
  parseType,
  parseYear,
  parseYesNo,
  repairText,
} from './normalise';
import type { Contractor, Photo, ProjectInput, ReadResult, RejectedRow } from './project';
import { parseBudgetRef } from './budgetref';

/** Thrown when the whole file cannot be read (not CSV, wrong columns). */
export class FileError extends Error {
  constructor(
    message: string,
    /** For the pages: `works.importError.<code>` with these params. */
    readonly code?: string,
    readonly params: Record<string, string | number> = {},
  ) {
    super(message);
  }
}

/** Column names across vintages, folded (lower case, no accents, "_" for separators) → our field. */
const COLUMN_ALIASES: Record<string, string[]> = {
  id: ['id', 'id_obra', 'codigo'],
  entorno: ['entorno', 'programa'],
  nombre: ['nombre', 'nombre_obra', 'obra'],
  etapa: ['etapa', 'estado'],
  tipo: ['tipo', 'tipo_obra'],
  area_responsable: ['area_responsable', 'area', 'organismo'],
  descripcion: ['descripcion'],
  monto_contrato: ['monto_contrato', 'monto'],
  comuna: ['comuna', 'comunas'],
  barrio: ['barrio'],
  direccion: ['direccion'],
  lat: ['lat', 'latitud'],
  lng: ['lng', 'long', 'lon', 'longitud'],
  fecha_inicio: ['fecha_inicio'],
  fecha_fin_inicial: ['fecha_fin_inicial', 'fecha_fin'],
  fecha_fin_actual: ['fecha_fin_actual'],
  fecha_fin_real: ['fecha_fin_real', 'fecha_finalizacion', 'fecha_fin_obra'],
  plazo_meses: ['plazo_meses', 'plazo'],
  porcentaje_avance: ['porcentaje_avance', 'avance'],
  motivo_avance: ['motivo_avance', 'avance_motivo'],
  licitacion_oferta_empresa: ['licitacion_oferta_empresa', 'empresa', 'contratista'],
  licitacion_anio: ['licitacion_anio'],
  contratacion_tipo: ['contratacion_tipo'],
  nro_contratacion: ['nro_contratacion'],
  cuit_contratista: ['cuit_contratista', 'cuit'],
  beneficiarios: ['beneficiarios'],
  mano_obra: ['mano_obra'],
  compromiso: ['compromiso'],
  destacada: ['destacada'],
  ba_elige: ['ba_elige'],
  ba_elige_url: ['ba_elige_url', 'ba_elige_link', 'link_ba_elige', 'url_ba_elige', 'proyecto_ba_elige_url'],
  ba_elige_titulo: ['ba_elige_titulo', 'ba_elige_proyecto', 'proyecto_ba_elige', 'titulo_ba_elige'],
  link_interno: ['link_interno'],
  pliego_descarga: ['pliego_descarga'],
  expediente_numero: ['expediente_numero', 'expediente'],
  estudio_ambiental_descarga: ['estudio_ambiental_descarga'],
  financiamiento: ['financiamiento'],
  imagen_1: ['imagen_1'],
  imagen_2: ['imagen_2'],
  imagen_3: ['imagen_3'],
  imagen_4: ['imagen_4'],
};
const REQUIRED = ['nombre', 'etapa'];

export function decode(buf: Buffer): { text: string; encoding: string } {
  if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) return { text: buf.subarray(3).toString('utf8'), encoding: 'UTF-8' };
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(buf), encoding: 'UTF-8' };
  } catch {
    // Not valid UTF-8: the BA files are Latin-1 or its Windows superset.
    const guess = chardet.detect(buf.subarray(0, 65536)) ?? 'windows-1252';
    const encoding = /utf-?8/i.test(guess) || !iconv.encodingExists(guess) ? 'windows-1252' : guess;
    return { text: iconv.decode(buf, encoding), encoding };
  }
}

/** The separator that splits the header line into the most columns. */
export function detectDelimiter(headerLine: string): string {
  let best = ';';
  let bestCount = 0;
  for (const d of [';', ',', '\t', '|']) {
    const n = headerLine.split(d).length - 1;
    if (n > bestCount) {
      best = d;
      bestCount = n;
    }
  }
  return best;
}

function headerKey(h: string): string {
  return fold(h).replace(/[ /]+/g, '_');
}

/** Reads a BA Obras CSV of any known vintage into normalised projects and rejected rows. */
export function readBaObrasCsv(buf: Buffer): ReadResult {
  const { text, encoding } = decode(buf);
  const firstLine = text.slice(0, text.search(/\r?\n|$/));
  const delimiter = detectDelimiter(firstLine);
  let records: string[][];
  try {
    records = parse(text, { delimiter, relax_column_count: true, relax_quotes: true, skip_empty_lines: true, bom: true }) as string[][];
  } catch (err) {
    throw new FileError(`not a readable CSV file: ${(err as Error).message}`, 'csv', { detail: (err as Error).message });
  }
  if (records.length < 1) throw new FileError('the file is empty', 'empty');
  const header = records[0].map(headerKey);
  const col: Record<string, number> = {};
  for (const [field, aliases] of Object.entries(COLUMN_ALIASES)) {
    const i = header.findIndex((h) => aliases.includes(h));
    if (i >= 0) col[field] = i;
  }
  const missing = REQUIRED.filter((c) => col[c] === undefined);
  if (missing.length) {
    throw new FileError(`missing required columns: ${missing.join(', ')} (found: ${records[0].filter(Boolean).join(', ')})`, 'columns', {
      missing: missing.join(', '),
      found: records[0].filter(Boolean).join(', '),
    });
  }

  const projects: ProjectInput[] = [];
  const rejected: RejectedRow[] = [];
  const warnings: RejectedRow[] = [];
  const seen = new Map<string, number>();
  const lineOf = new Map<string, number>();
  // csv-parse counts physical lines; quoted cells may span lines, so track each record's first line.
  const lines = recordStartLines(text, delimiter, records.length);
  for (let r = 1; r < records.length; r++) {
    const row = records[r];
    const line = lines[r] ?? r + 1;
    const get = (f: string) => (col[f] === undefined ? '' : repairText(row[col[f]] ?? ''));
    if (row.every((c) => !c.trim())) continue;
    const ref = get('id') || get('nombre') || undefined;
    const rowWarnings: RejectedRow[] = [];
    const warn: Warn = (code, reason, params) => rowWarnings.push({ line, reason, ref, code, params });
    try {
      const p = toProject(get, warn);
      const dup = seen.get(p.externalId);
      if (dup !== undefined) throw new ParseError(`duplicate id ${p.externalId} (first on line ${dup})`, 'duplicate', { id: p.externalId, line: dup });
      seen.set(p.externalId, line);
      lineOf.set(p.externalId, line);
      projects.push(p);
      // Only for rows that are kept: a rejected row's reason already says what to fix.
      warnings.push(...rowWarnings);
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
      rejected.push({ line, reason: err.message, ref, ...(err.code ? { code: err.code, params: err.params } : {}) });
    }
  }
  return { projects, rejected, warnings, lines: lineOf, format: { encoding, delimiter, rows: records.length - 1 } };
}

function recordStartLines(text: string, delimiter: string, count: number): number[] {
  const out: number[] = [];
  try {
    const info = parse(text, { delimiter, relax_column_count: true, relax_quotes: true, skip_empty_lines: true, bom: true, info: true }) as unknown as Array<{
      info: { lines: number };
      record: string[];
    }>;
    // info.lines is the line where the record ends; a record starts one after the previous ends.
    let prevEnd = 0;
    for (const rec of info) {
      out.push(prevEnd + 1);
      prevEnd = rec.info.lines;
    }
  } catch {
    for (let i = 0; i < count; i++) out.push(i + 1);
  }
  return out;
}

export function stableKey(name: string, programme: string | null, address: string | null): string {
  const basis = [name, programme ?? '', address ?? ''].map(fold).join('|');
  return 'k-' + crypto.createHash('sha256').update(basis).digest('hex').slice(0, 16);
}

/** A value of a kept row that was dropped: the row is imported without it, and the import report says so. */
type Warn = (code: string, reason: string, params: Record<string, string | number>) => void;

/** The cell as the report shows it: one line, not too long. */
function shown(v: string): string {
  const s = v.replace(/\s+/g, ' ').trim();
  return s.length > 80 ? s.slice(0, 79) + '…' : s;
}

/** A cell that says "no value" ("-", "s/d"): nothing to warn about. */
const noValue = (v: string) => /^\s*([-–—.]|s\/?d|n\/?a)?\s*$/i.test(v);

function toProject(get: (f: string) => string, warnAlways: Warn = () => {}): ProjectInput {
  const warn: Warn = (code, reason, params) => {
    if (!noValue(String(params.value ?? ''))) warnAlways(code, reason, params);
  };
  const name = get('nombre');
  if (!name) throw new ParseError('the project has no name', 'noName');
  const stage = parseStage(get('etapa'));
  if (!stage) throw new ParseError('the project has no stage', 'noStage');
  const programme = get('entorno') || null;
  const address = get('direccion') || null;
  const lats = parseCoordinates(get('lat'), 'lat');
  const lngs = parseCoordinates(get('lng'), 'lng');
  if (!lats.length !== !lngs.length) throw new ParseError('only one of lat and lng is given', 'halfPoint');
  if (lats.length !== lngs.length) throw new ParseError(`${lats.length} latitudes but ${lngs.length} longitudes: the points cannot be paired`, 'pairs', { lats: lats.length, lngs: lngs.length });
  // Several points in one cell (a work on several sites): every one is a location of the work.
  const points: Array<[number, number]> = [];
  lats.forEach((la, i) => {
    if (!points.some(([x, y]) => x === lngs[i] && y === la)) points.push([lngs[i], la]);
  });
  const lat = points[0]?.[1];
  const lng = points[0]?.[0];
  const amount = parseAmount(get('monto_contrato'));
  const startDate = parseDate(get('fecha_inicio'));
  const plannedEnd = parseDate(get('fecha_fin_inicial'));
  const currentEnd = parseDate(get('fecha_fin_actual'));
  const actualEnd = parseDate(get('fecha_fin_real'));
  const progress = parsePercent(get('porcentaje_avance'));
  // plazo_meses sometimes holds a sentence ("Fin de obra: Diciembre 2021"): keep the number when there is one.
  const plazo = get('plazo_meses');
  let duration: number | undefined;
  if (/^\s*[\d.,]+\s*$/.test(plazo)) duration = parseCount(plazo, 'duration');
  else if (/^\s*\d+\s*d[ií]as/i.test(plazo)) duration = Math.round((Number(/\d+/.exec(plazo)![0]) / 30) * 10) / 10;
  const workersRaw = get('mano_obra');
  const workers = /^[\d.,\s]+$/.test(workersRaw) ? parseCount(workersRaw, 'workers') : undefined;
  if (workersRaw.trim() && workers === undefined) warn('workers', `workers employed (mano_obra) "${shown(workersRaw)}" is not a number: left empty`, { value: shown(workersRaw) });
  const cuitCell = get('cuit_contratista');
  const cuits = parseCuits(cuitCell);
  if (cuitCell.trim() && !cuits.length) warn('cuit', `no CUIT (11 digits) in cuit_contratista "${shown(cuitCell)}": the contractor has no tax id`, { value: shown(cuitCell) });
  const firmNames = get('licitacion_oferta_empresa')
    .split(/\n+/)
    .map((s) => s.trim())
    .filter(Boolean);
  const contractors: Contractor[] = [];
  const n = Math.max(cuits.length, firmNames.length);
  for (let i = 0; i < n; i++) {
    // One name for several CUITs (a joint venture): the name goes with the first.
    contractors.push({ name: firmNames[i] ?? (firmNames.length === 1 && i > 0 ? null : null), cuit: cuits[i] ?? null });
  }
  // Only http(s) addresses are kept (the pages link them); anything else is reported, not silently lost.
  const url = (column: string): string | null => {
    const raw = get(column);
    const u = safeUrl(raw);
    if (raw.trim() && u === null) warn('url', `${column} "${shown(raw)}" is not an http(s) address: left out`, { column, value: shown(raw) });
    return u;
  };
  const photos: Photo[] = ['imagen_1', 'imagen_2', 'imagen_3', 'imagen_4']
    .map(url)
    .filter((u): u is string => u !== null)
    .map((u) => ({ url: u, caption: null, takenOn: null }));
  // A BA Elige link: its own column in some files; others put the project's URL in ba_elige itself.
  const pbCell = get('ba_elige_url') || (/^(https?:\/\/|\/budgets\/)/i.test(get('ba_elige')) ? get('ba_elige') : '');
  const pbRef = pbCell ? parseBudgetRef(pbCell, get('ba_elige_titulo') || null) : undefined;
  if (pbCell && !pbRef) throw new ParseError(`unreadable BA Elige link "${pbCell}"`, 'pbLink', { value: pbCell });
  const procedure = get('contratacion_tipo');
  const procurementMethod = parseProcurementMethod(procedure);
  if (procedure.trim() && !procurementMethod) warn('procedure', `unknown procedure type (contratacion_tipo) "${shown(procedure)}": kept as text, no OCDS method`, { value: shown(procedure) });
  const yearRaw = get('licitacion_anio');
  const tenderYear = parseYear(yearRaw);
  if (yearRaw.trim() && tenderYear === undefined) warn('year', `tender year (licitacion_anio) "${shown(yearRaw)}" is not a year: left empty`, { value: shown(yearRaw) });
  const id = get('id').trim();
  if (id && !/^[\w.-]{1,64}$/.test(id)) throw new ParseError(`unreadable id "${id}"`, 'id', { value: id });
  return {
    externalId: id || stableKey(name, programme, address),
    name,
    description: get('descripcion'),
    type: parseType(get('tipo')),
    rawType: get('tipo') || null,
    programme,
    officeName: get('area_responsable') || null,
    stage,
    progress: progress ?? (stage === 'finished' ? 100 : null),
    startDate: startDate ?? null,
    plannedEnd: plannedEnd ?? null,
    currentPlannedEnd: currentEnd ?? plannedEnd ?? null,
    // Only a date the source gives: a planned end is not when the work ended.
    actualEnd: stage === 'finished' ? (actualEnd ?? null) : null,
    durationMonths: duration ?? null,
    communes: parseCommunes(get('comuna')),
    neighbourhood: get('barrio') || null,
    address,
    lat: lat ?? null,
    lng: lng ?? null,
    geometry: points.length > 1 ? { type: 'MultiPoint', coordinates: points } : null,
    sites: points.length > 1 ? points.length : null,
    workers: workers ?? null,
    beneficiaries: get('beneficiarios') || null,
    funding: get('financiamiento') || null,
    participatory: parseYesNo(get('ba_elige')) || !!pbRef,
    commitment: parseYesNo(get('compromiso')),
    featured: parseYesNo(get('destacada')),
    procurementMethod: procurementMethod ?? null,
    procedureType: get('contratacion_tipo') || null,
    procedureNumber: get('nro_contratacion') || null,
    tenderYear: tenderYear ?? null,
    contractors,
    contractAmount: amount ?? null,
    currency: 'ARS',
    bidders: null,
    fileNumber: get('expediente_numero') || null,
    tenderDocsUrl: url('pliego_descarga'),
    environmentalStudyUrl: url('estudio_ambiental_descarga'),
    link: url('link_interno'),
    photos,
    amendments: [],
    ...(pbRef ? { pbRef } : {}),
    ...(get('motivo_avance').trim() ? { progressReason: get('motivo_avance').trim() } : {}),
  };
}

/** An absolute http(s) URL, percent-encoded (the source has accents and spaces in some), or null. */
export function safeUrl(s: string): string | null {
  let v = s.trim();
  // The 2024 snapshot writes 310 photo addresses without their scheme ("cdn2.buenosaires.gob.ar/baobras/…").
  if (/^[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}\/\S/i.test(v)) v = `https://${v}`;
  if (!/^https?:\/\//i.test(v)) return null;
  try {
    // WHATWG URLs keep characters RFC 3986 forbids ("|" in BA Compras links): escape them too.
    return new URL(v).href.replace(/[|{}^`\\"<>]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  } catch {
    return null;
  }
}

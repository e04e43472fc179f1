import { Readable } from 'node:stream';
import ExcelJS from 'exceljs';
import { stringify } from 'csv-stringify/sync';

/**
 * XLSX and JSON arrays enter the DataStore as CSV: a converter yields CSV text row by row, so
 * the loader (encoding, delimiter, COPY) treats every tabular format the same way.
 */
export const TABULAR_FORMATS = new Set(['CSV', 'TSV', 'TXT', 'XLSX', 'JSON']);

function cell(v: unknown): string {
  if (v == null) return '';
  if (v instanceof Date) return v.toISOString().replace(/T00:00:00\.000Z$/, '').replace(/\.000Z$/, 'Z');
  if (typeof v === 'object') {
    const o = v as { result?: unknown; text?: unknown; richText?: Array<{ text: string }>; hyperlink?: string };
    if (o.result !== undefined) return cell(o.result);
    if (o.richText) return o.richText.map((r) => r.text).join('');
    if (o.text !== undefined) return cell(o.text);
    if (o.hyperlink) return o.hyperlink;
    return JSON.stringify(v);
  }
  return String(v);
}

/** The first worksheet of an XLSX, streamed (exceljs' reader) as CSV lines. */
export function xlsxAsCsv(open: () => Readable): () => Readable {
  return () =>
    Readable.from(
      (async function* () {
        // Styles are read because a date is a number with a date format in XLSX.
        const reader = new ExcelJS.stream.xlsx.WorkbookReader(open(), { sharedStrings: 'cache', worksheets: 'emit', hyperlinks: 'ignore', styles: 'cache', entries: 'ignore' });
        for await (const sheet of reader) {
          let width = 0;
          for await (const row of sheet) {
            const values = (row.values as unknown[]).slice(1).map(cell);
            if (!width) width = values.length;
            while (values.length < width) values.push('');
            yield stringify([values.slice(0, Math.max(width, 1))]);
          }
          break; // the first sheet only
        }
      })(),
    );
}

/** A JSON array of objects (or of arrays with a header row) as CSV; the keys of all rows are the columns. */
export function jsonAsCsv(data: Buffer): () => Readable {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString('utf8'));
  } catch {
    throw new Error('the file is not valid JSON');
  }
  const rows = Array.isArray(parsed) ? parsed : Array.isArray((parsed as { records?: unknown })?.records) ? (parsed as { records: unknown[] }).records : null;
  if (!rows || !rows.length) throw new Error('the JSON file is not a non-empty array of records');
  let header: string[];
  let body: unknown[][];
  if (rows.every((r) => Array.isArray(r))) {
    header = (rows[0] as unknown[]).map(cell);
    body = rows.slice(1) as unknown[][];
  } else if (rows.every((r) => r && typeof r === 'object')) {
    const keys = new Set<string>();
    for (const r of rows as Record<string, unknown>[]) for (const k of Object.keys(r)) keys.add(k);
    header = [...keys];
    body = (rows as Record<string, unknown>[]).map((r) => header.map((k) => r[k]));
  } else throw new Error('the JSON array must hold objects or arrays');
  return () =>
    Readable.from(
      (function* () {
        yield stringify([header]);
        for (const r of body) yield stringify([header.map((_, i) => cell(r[i]))]);
      })(),
    );
}

import { Readable } from 'node:stream';
import ExcelJS from 'exceljs';
import { stringify } from 'csv-stringify/sync';
import { LoadError } from './datastore';

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
        try {
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
        } catch (err) {
          // A zip that is not a workbook, or a broken one: the publisher's file, not our fault.
          throw new LoadError(`the file is not a readable XLSX workbook (${(err as Error).message})`, null);
        }
      })(),
    );
}

const NOT_JSON = 'the file is not valid JSON';
const NOT_RECORDS = 'the JSON file is not a non-empty array of records';
const NOT_ROWS = 'the JSON array must hold objects or arrays';

/**
 * The records of a JSON array — the whole document, or CKAN's `{"records": [...]}` — read from a
 * stream one record at a time: a scanner tracks strings and nesting, keeps only the text of the
 * record it is in, and parses that record alone, so memory is bounded by the largest record, not
 * the file. Elements must be objects or arrays; anything else is an error.
 */
export async function* jsonRecords(source: AsyncIterable<Buffer | string>): AsyncGenerator<unknown> {
  const decoder = new TextDecoder('utf-8');
  const stack: string[] = []; // the open containers, '[' or '{'
  let inString = false;
  let escape = false;
  let target = 0; // depth of the records array: 1 or 2 once found, -1 once closed
  let expectRecord = true; // between records: a record next (else a comma or the end)
  let seen = 0;
  let record: string[] = []; // the current record's text, chunk by chunk
  let inRecord = false;
  let key = ''; // the last string at depth 1 of a top-level object
  let keyParts: string[] = [];
  let inKey = false;
  let colonAfter: string | null = null; // the key whose value comes next
  let done = false;
  let first = true;
  for await (const raw of source) {
    let text = typeof raw === 'string' ? raw : decoder.decode(raw, { stream: true });
    if (first && text.length) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
    }
    let recordStart = inRecord ? 0 : -1;
    let keyStart = inKey ? 0 : -1;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (inString) {
        if (escape) escape = false;
        else if (ch === '\\') escape = true;
        else if (ch === '"') {
          inString = false;
          if (inKey) {
            keyParts.push(text.slice(keyStart, i));
            key = keyParts.join('').slice(0, 64);
            keyParts = [];
            inKey = false;
            keyStart = -1;
          }
        }
        continue;
      }
      if (ch === ' ' || ch === '\n' || ch === '\r' || ch === '\t') continue;
      if (done) throw new Error(NOT_JSON);
      const depth = stack.length;
      if (target > 0 && depth === target) {
        // Between records: a comma, the end of the array, or the next record.
        if (ch === ']') {
          if (expectRecord && seen) throw new Error(NOT_JSON);
          stack.pop();
          if (target === 1) done = true;
          target = -1;
        } else if (ch === ',') {
          if (expectRecord) throw new Error(NOT_JSON);
          expectRecord = true;
        } else {
          if (!expectRecord) throw new Error(NOT_JSON);
          if (ch !== '{' && ch !== '[') throw new Error(NOT_ROWS);
          stack.push(ch);
          inRecord = true;
          recordStart = i;
        }
        continue;
      }
      if (ch === '"') {
        inString = true;
        if (target <= 0 && depth === 1 && stack[0] === '{') {
          inKey = true;
          keyStart = i + 1;
        }
      } else if (ch === ':') {
        if (depth === 1) colonAfter = key;
      } else if (ch === ',') {
        if (depth === 1) colonAfter = null;
      } else if (ch === '{' || ch === '[') {
        stack.push(ch);
        if (depth === 0 && ch === '[') target = 1;
        else if (depth === 1 && target === 0 && stack[0] === '{' && ch === '[' && colonAfter === 'records') target = 2;
      } else if (ch === '}' || ch === ']') {
        if (stack.pop() !== (ch === '}' ? '{' : '[')) throw new Error(NOT_JSON);
        if (inRecord && stack.length === target) {
          // A record closed: parse it alone.
          record.push(text.slice(recordStart, i + 1));
          const json = record.join('');
          record = [];
          inRecord = false;
          recordStart = -1;
          let value: unknown;
          try {
            value = JSON.parse(json);
          } catch {
            throw new Error(NOT_JSON);
          }
          expectRecord = false;
          seen++;
          yield value;
        } else if (stack.length === 0) done = true;
      } else if (depth === 0) {
        // A scalar document: perhaps valid JSON, but not records.
        throw new Error(/[-0-9tfn"]/.test(ch) ? NOT_RECORDS : NOT_JSON);
      }
    }
    if (inRecord) record.push(text.slice(recordStart));
    if (inKey) keyParts.push(text.slice(keyStart));
  }
  if (!done || inString) throw new Error(NOT_JSON);
  if (target === 0 || !seen) throw new Error(NOT_RECORDS);
}

/**
 * A JSON array of objects (or of arrays with a header row) as CSV; the keys of all rows are the
 * columns. The file is read twice, streamed both times: once for the columns (and to refuse a bad
 * file before the load starts), once for the rows.
 */
export async function jsonAsCsv(open: () => Readable): Promise<() => Readable> {
  let mode: 'arrays' | 'objects' | undefined;
  let header: string[] = [];
  const keys = new Set<string>();
  for await (const r of jsonRecords(open())) {
    const kind = Array.isArray(r) ? 'arrays' : 'objects';
    if (mode && kind !== mode) throw new Error(NOT_ROWS);
    if (!mode) {
      mode = kind;
      if (kind === 'arrays') header = (r as unknown[]).map(cell);
    }
    if (kind === 'objects') for (const k of Object.keys(r as object)) keys.add(k);
  }
  if (mode === 'objects') header = [...keys];
  return () =>
    Readable.from(
      (async function* () {
        yield stringify([header]);
        let skip = mode === 'arrays';
        for await (const r of jsonRecords(open())) {
          if (skip) {
            skip = false;
            continue;
          }
          const values = Array.isArray(r) ? r : header.map((k) => (r as Record<string, unknown>)[k]);
          yield stringify([header.map((_, i) => cell(values[i]))]);
        }
      })(),
    );
}

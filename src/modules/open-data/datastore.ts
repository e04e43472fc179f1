import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import crypto from 'node:crypto';
import { parse as csvParse, CsvError } from 'csv-parse';
import chardet from 'chardet';
import iconv from 'iconv-lite';
import { from as copyFrom } from 'pg-copy-streams';
import { sql } from 'kysely';
import type { Services } from '../../core/services';
import { odDb, type OdDb } from './store';
import type { DictionaryField } from './tables';
import { CKAN_TYPE, SQL_TYPE, cellProblem, columnNames, columnTypeFromCkan, detectDelimiter, hasDecimalComma, numberText, paramCell, widen, type ColumnType } from './domain/tabular';
import { guardSelect, planFacts, SqlGuardError } from './domain/sql-guard';
import { DATASTORE_READER } from './migrations/0001_open_data';

/** A load that could not finish: the row (1-based, counting the header) and why. */
export class LoadError extends Error {
  constructor(
    message: string,
    readonly row: number | null,
  ) {
    super(row != null ? `Row ${row}: ${message}` : message);
  }
}

export interface LoadResult {
  /** Milliseconds spent streaming the rows in (COPY on PostgreSQL), for the benchmark. */
  copyMs?: number;
  rows: number;
  fields: DictionaryField[];
  encoding: string;
  delimiter: string;
}

export interface LoadOptions {
  /** The dictionary as the publisher edited it: `info.type_override` wins over inference. */
  dictionary?: DictionaryField[];
  /** Columns to index (CKAN's `indexes`), for fast filters on big tables. */
  indexes?: string[];
}

export const qi = (name: string) => '"' + name.replace(/"/g, '""') + '"';
export const tableRef = (resourceId: string) => `datastore.${qi(resourceId)}`;

async function readHead(open: () => Readable, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  const stream = open();
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    chunks.push(b);
    n += b.length;
    if (n >= bytes) break;
  }
  stream.destroy();
  return Buffer.concat(chunks).subarray(0, bytes);
}

function isUtf8(buf: Buffer): boolean {
  // A sample may end in the middle of a character: ignore an incomplete tail.
  let end = buf.length;
  for (let k = 1; k <= 3 && end - k >= 0; k++) {
    const b = buf[end - k];
    if ((b & 0xc0) === 0xc0) {
      end -= k;
      break;
    }
    if ((b & 0x80) === 0) break;
  }
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(0, end));
    return true;
  } catch {
    return false;
  }
}

/** UTF-8 when the sample is valid UTF-8; otherwise what chardet says, Windows-1252 by default. */
export function detectEncoding(sample: Buffer): string {
  if (isUtf8(sample)) return 'utf-8';
  // Part UTF-8, part single-byte: the mixed Latin-1 reading (chardet would guess a Central European code page).
  if (new RegExp(UTF8_IN_LATIN1.source).test(sample.toString('latin1'))) return 'windows-1252';
  const guess = (chardet.detect(sample) ?? '').toLowerCase();
  if (guess === 'iso-8859-1' || guess === 'windows-1252' || !guess || guess === 'utf-8') return 'windows-1252';
  return iconv.encodingExists(guess) ? guess : 'windows-1252';
}

/** Bytes → text; invalid UTF-8 stops the load with the line it is on. */
function decoder(encoding: string): Transform {
  let line = 1;
  if (encoding === 'utf-8') {
    const td = new TextDecoder('utf-8', { fatal: true });
    return new Transform({
      decodeStrings: true,
      transform(chunk: Buffer, _enc, cb) {
        try {
          const text = td.decode(chunk, { stream: true });
          line += countLines(text);
          cb(null, text);
        } catch {
          const loose = new TextDecoder('utf-8').decode(chunk);
          const at = loose.indexOf('\uFFFD');
          cb(new LoadError('invalid UTF-8 byte sequence (mixed or mis-declared encoding)', line + countLines(loose.slice(0, Math.max(0, at)))));
        }
      },
      flush(cb) {
        try {
          cb(null, td.decode());
        } catch {
          cb(new LoadError('file ends in the middle of a UTF-8 character', line));
        }
      },
    });
  }
  if (encoding === 'windows-1252') {
    // Real files mix encodings: BA's SUACI counts are Latin-1 with some lines in UTF-8 ("NUÃ\x91EZ").
    // Valid UTF-8 sequences are read as UTF-8 and every other byte as Windows-1252, so both kinds of
    // line load as written. A sequence cut by the chunk's end waits for the next chunk.
    let carry = Buffer.alloc(0);
    return new Transform({
      transform(chunk: Buffer, _enc, cb) {
        const buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
        const cut = utf8LeadTail(buf);
        carry = Buffer.from(buf.subarray(buf.length - cut));
        cb(null, decodeMixed(buf.subarray(0, buf.length - cut)));
      },
      flush(cb) {
        cb(null, carry.length ? decodeMixed(carry) : '');
      },
    });
  }
  const dec = iconv.getDecoder(encoding);
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      cb(null, dec.write(chunk));
    },
    flush(cb) {
      cb(null, dec.end() ?? '');
    },
  });
}

// Windows-1252 leaves five bytes undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D); files declared
// Latin-1 do contain them, so they keep their ISO-8859-1 meaning instead of becoming U+FFFD.
const CP1252 = (() => {
  const map = new Map<string, string>();
  for (let b = 0x80; b <= 0x9f; b++) {
    const c = iconv.decode(Buffer.from([b]), 'windows-1252');
    if (c !== '\uFFFD') map.set(String.fromCharCode(b), c);
  }
  return map;
})();

// Only the UTF-8 of Latin-1's own letters and signs (Ã±, Ã©, Â¿: lead bytes C2, C3) and of the
// typographic punctuation (â€œ, â€“, â€¦: E2 80–82). In genuine Latin-1 text "Ã" or "Â" before a
// byte 80–BF, or "â€", hardly occur; a wider net ("É" + no-break space is valid UTF-8) would.
const UTF8_IN_LATIN1 = /[\xC2\xC3][\x80-\xBF]|\xE2[\x80-\x82][\x80-\xBF]/g;

/** Windows-1252, except the UTF-8 sequences above, which are read as UTF-8. */
export function decodeMixed(buf: Buffer): string {
  const text = buf.toString('latin1').replace(UTF8_IN_LATIN1, (m) => Buffer.from(m, 'latin1').toString('utf8'));
  return text.replace(/[\x80-\x9f]/g, (c) => CP1252.get(c) ?? c);
}

/** How many bytes at the end could begin a UTF-8 sequence the next chunk completes. */
function utf8LeadTail(buf: Buffer): number {
  const n = buf.length;
  if (n >= 1 && (buf[n - 1] === 0xc2 || buf[n - 1] === 0xc3 || buf[n - 1] === 0xe2)) return 1;
  if (n >= 2 && buf[n - 2] === 0xe2 && buf[n - 1] >= 0x80 && buf[n - 1] <= 0x82) return 2;
  return 0;
}

/** Byte-per-character decoding: native latin1, then the 0x80–0x9F range remapped. */
export function decodeWindows1252(buf: Buffer): string {
  return buf.toString('latin1').replace(/[\x80-\x9f]/g, (c) => CP1252.get(c) ?? c);
}

function countLines(s: string) {
  let n = 0;
  for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

function parser(delimiter: string) {
  return csvParse({ delimiter, bom: true, skip_empty_lines: true, relax_column_count: false, relax_quotes: true, trim: false });
}

function asLoadError(err: unknown): Error {
  if (err instanceof LoadError) return err;
  if (err instanceof CsvError) {
    const e = err as CsvError & { lines?: number; record?: string[] };
    const reason =
      e.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH'
        ? `has ${e.record?.length ?? '?'} fields where the header has a different number (ragged row)`
        : e.message.replace(/^Invalid [^:]*: /, '');
    return new LoadError(reason, e.lines ?? null);
  }
  return err instanceof Error ? err : new Error(String(err));
}

interface Plan {
  encoding: string;
  delimiter: string;
  columns: string[];
  types: ColumnType[];
  rows: number;
}

/** First pass: encoding, delimiter, header, types, and every row checked, before anything is written. */
async function plan(open: () => Readable, dictionary: DictionaryField[]): Promise<Plan> {
  // The same sample as the PostgreSQL path reads, so both engines detect the same encoding.
  const head = await readHead(open, 256 * 1024);
  if (!head.length) throw new LoadError('the file is empty', null);
  const encoding = detectEncoding(head);
  const sampleText = encoding === 'utf-8' ? head.toString('utf8') : encoding === 'windows-1252' ? decodeWindows1252(head) : iconv.decode(head, encoding);
  const delimiter = detectDelimiter(sampleText);
  let columns: string[] = [];
  let types: Array<ColumnType | null> = [];
  let overrides: Array<ColumnType | null> = [];
  let rows = 0;
  let line = 0;
  await pipeline(
    open(),
    decoder(encoding),
    parser(delimiter),
    new Writable({
      objectMode: true,
      write(record: string[], _enc, cb) {
        line++;
        if (line === 1) {
          columns = columnNames(record);
          types = columns.map(() => null);
          overrides = columns.map((c) => columnTypeFromCkan(dictionary.find((f) => f.id === c)?.info?.type_override));
          return cb();
        }
        for (let i = 0; i < record.length; i++) {
          const forced = overrides[i];
          if (forced) {
            const problem = cellProblem(forced, record[i]);
            if (problem) return cb(new LoadError(`column "${columns[i]}": ${problem}`, line));
          } else types[i] = widen(types[i], record[i]);
        }
        rows++;
        cb();
      },
    }),
  ).catch((err) => {
    throw asLoadError(err);
  });
  if (!columns.length) throw new LoadError('no header row', null);
  return { encoding, delimiter, columns, types: types.map((t, i) => overrides[i] ?? t ?? 'text'), rows };
}

function fieldsOf(p: Plan, dictionary: DictionaryField[]): DictionaryField[] {
  return p.columns.map((id, i) => {
    const prior = dictionary.find((f) => f.id === id);
    return { id, type: CKAN_TYPE[p.types[i]], info: prior?.info ?? {} };
  });
}

let readerRole: boolean | undefined;
/** Whether the app may SET ROLE to the DataStore reader; `fresh` asks the database again (a role an administrator just created or dropped). */
export async function readerRoleUsable(db: OdDb, fresh = false): Promise<boolean> {
  if (readerRole !== undefined && !fresh) return readerRole;
  const r = await sql<{ ok: boolean }>`
    select pg_has_role(current_user, oid, 'MEMBER') as ok from pg_roles where rolname = ${DATASTORE_READER}`.execute(db);
  readerRole = !!r.rows[0]?.ok;
  return readerRole;
}

/**
 * Loads a CSV into the DataStore table of a resource. The new table is built beside the old
 * one in one transaction and swapped in at the end: a failed load leaves the old table as it was.
 */
export async function loadDatastore(services: Services, resourceId: string, open: () => Readable, opts: LoadOptions = {}): Promise<LoadResult> {
  if (services.database.engine === 'postgres' && services.database.pool) return loadWithCopy(services, resourceId, open, opts);
  const db = odDb(services);
  const dictionary = opts.dictionary ?? [];
  const p = await plan(open, dictionary);
  const fields = fieldsOf(p, dictionary);
  const tmp = `load_${crypto.randomBytes(6).toString('hex')}`;
  const columnsSql = p.columns.map((c, i) => `${qi(c)} ${SQL_TYPE[p.types[i]]}`).join(', ');
  const create = `create table datastore.${qi(tmp)} ("_id" integer generated by default as identity, ${columnsSql})`;
  const indexes = (opts.indexes ?? []).filter((c) => p.columns.includes(c));
  const finish = [
    `alter table datastore.${qi(tmp)} add primary key ("_id")`,
    ...indexes.map((c, i) => `create index ${qi(`${tmp}_i${i}`)} on datastore.${qi(tmp)} (${qi(c)})`),
    `analyze datastore.${qi(tmp)}`,
    `drop table if exists ${tableRef(resourceId)}`,
    `alter table datastore.${qi(tmp)} rename to ${qi(resourceId)}`,
  ];
  const fullText = p.rows <= fullTextSettings.inlineRows;
  const grant = (await readerRoleUsable(db)) ? `grant select on ${tableRef(resourceId)} to ${DATASTORE_READER}` : null;
  const meta = {
    resource_id: resourceId,
    fields: JSON.stringify(fields),
    row_count: p.rows,
    encoding: p.encoding,
    delimiter: p.delimiter,
    loaded_at: new Date(),
    full_text: fullText,
  };

  // With csv-parse's info: each record knows the line it ends on, for an error the database finds.
  const records = () =>
    open()
      .pipe(decoder(p.encoding))
      .pipe(csvParse({ delimiter: p.delimiter, bom: true, skip_empty_lines: true, relax_column_count: false, relax_quotes: true, trim: false, info: true }));

  await db.transaction().execute(async (trx) => {
    await sql.raw(create).execute(trx);
    const batchSize = Math.max(1, Math.min(1000, Math.floor(30000 / p.columns.length)));
    const insertPrefix = `insert into datastore.${qi(tmp)} (${p.columns.map(qi).join(', ')}) values `;
    let batch: string[][] = [];
    let lines: number[] = [];
    const insert = (rows: string[][]) =>
      sql`${sql.raw(insertPrefix)}${sql.join(rows.map((r) => sql`(${sql.join(r.map((v, i) => sql`${paramCell(p.types[i], v)}`))})`))}`.execute(trx);
    const flush = async () => {
      if (!batch.length) return;
      await sql`savepoint batch`.execute(trx);
      try {
        await insert(batch);
      } catch (err) {
        // A value the checks let through and the database refuses (a NUL, a number out of range):
        // find its row, one insert at a time, to name it as COPY does on PostgreSQL.
        await sql`rollback to savepoint batch`.execute(trx);
        const code = (err as { code?: string }).code ?? '';
        if (!/^22/.test(code)) throw err;
        for (const [k, row] of batch.entries()) {
          await sql`savepoint one`.execute(trx);
          try {
            await insert([row]);
          } catch (e) {
            throw new LoadError((e as Error).message, lines[k]);
          }
        }
        throw new LoadError((err as Error).message, lines[0]);
      }
      batch = [];
      lines = [];
    };
    let first = true;
    try {
      for await (const chunk of records()) {
        const { record, info } = chunk as { record: string[]; info: { lines: number } };
        if (first) {
          first = false;
          continue;
        }
        batch.push(record);
        lines.push(info.lines);
        if (batch.length >= batchSize) await flush();
      }
      await flush();
    } catch (err) {
      throw asLoadError(err);
    }
    const run = (statement: string) => sql.raw(statement).execute(trx);
    if (fullText) await fillFullText(run, `datastore.${qi(tmp)}`);
    for (const s of finish) await run(s);
    if (fullText) await indexFullText(run, resourceId);
    if (grant) await run(grant);
    await trx
      .insertInto('od_datastore')
      .values(meta)
      .onConflict((oc) =>
        oc.column('resource_id').doUpdateSet((eb) => ({
          fields: eb.ref('excluded.fields'),
          row_count: eb.ref('excluded.row_count'),
          encoding: eb.ref('excluded.encoding'),
          delimiter: eb.ref('excluded.delimiter'),
          loaded_at: eb.ref('excluded.loaded_at'),
          full_text: eb.ref('excluded.full_text'),
          // A file replaces the table and with it any datastore_create key.
          primary_key: [],
        })),
      )
      .execute();
    await trx.updateTable('od_resources').set({ datastore_active: true, fields: meta.fields }).where('id', '=', resourceId).execute();
  });
  await queueFullText(services, resourceId, fullText);
  return { rows: p.rows, fields, encoding: p.encoding, delimiter: p.delimiter };
}

/** Passes bytes through unchanged after checking they are valid UTF-8 (COPY reads them as such). */
function utf8Check(): Transform {
  const td = new TextDecoder('utf-8', { fatal: true });
  let line = 1;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        td.decode(chunk, { stream: true });
        for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) line++;
        cb(null, chunk);
      } catch {
        const loose = new TextDecoder('utf-8').decode(chunk);
        cb(new LoadError('invalid UTF-8 byte sequence (mixed or mis-declared encoding)', line + countLines(loose.slice(0, Math.max(0, loose.indexOf('\uFFFD'))))));
      }
    },
  });
}

/**
 * Drops empty lines (or lines of only carriage returns) outside quoted fields, as csv-parse's
 * skip_empty_lines does for the other loaders; a quoted field keeps its empty lines.
 */
function blankLineFilter(): Transform & { originalLine: (line: number) => number } {
  let quoted = false;
  let content = false; // the current line has something besides \r
  let pendingCr = 0;
  let emitted = 0;
  const drops: number[] = []; // for each dropped line, the number of the next line let through
  const filter = new Transform({
    transform(chunk: Buffer, _e, cb) {
      const out = Buffer.allocUnsafe(chunk.length + pendingCr);
      let n = 0;
      for (let k = 0; k < chunk.length; k++) {
        const b = chunk[k];
        if (!quoted && b === 0x0d && !content) {
          pendingCr++;
          continue;
        }
        if (!quoted && b === 0x0a) {
          if (!content) {
            pendingCr = 0;
            drops.push(emitted + 1);
            continue;
          }
          content = false;
          emitted++;
          out[n++] = b;
          continue;
        }
        if (pendingCr) {
          out.fill(0x0d, n, n + pendingCr);
          n += pendingCr;
          pendingCr = 0;
        }
        if (b === 0x22) quoted = !quoted;
        content = true;
        out[n++] = b;
      }
      cb(null, out.subarray(0, n));
    },
  });
  // COPY's line numbers count what it was given: the file's own count adds the lines dropped before.
  return Object.assign(filter, { originalLine: (line: number) => line + drops.filter((d) => d <= line).length });
}

function copyLoadError(err: unknown): Error {
  if (err instanceof LoadError) return err;
  const e = err as { code?: string; message?: string; where?: string };
  const line = /line (\d+)/.exec(e.where ?? '')?.[1];
  if (e.code && /^(22|42)/.test(e.code) && line) {
    const reason = /extra data after last expected column|missing data for column/.test(e.message ?? '') ? `${e.message} (ragged row)` : (e.message ?? 'invalid row');
    return new LoadError(reason, Number(line));
  }
  if (e.code && /^22/.test(e.code)) return new LoadError(e.message ?? 'invalid data', null);
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * PostgreSQL: PostgreSQL itself parses the CSV (COPY into a text table, streamed), checks each
 * column against the type the first rows suggest in one scan, and converts them in one rewrite.
 * Node only detects the encoding and delimiter, and re-encodes to UTF-8 when needed.
 */
async function loadWithCopy(services: Services, resourceId: string, open: () => Readable, opts: LoadOptions): Promise<LoadResult> {
  const db = odDb(services);
  const dictionary = opts.dictionary ?? [];
  const head = await readHead(open, 256 * 1024);
  if (!head.length) throw new LoadError('the file is empty', null);
  const encoding = detectEncoding(head);
  const sampleText = encoding === 'utf-8' ? head.toString('utf8') : encoding === 'windows-1252' ? decodeWindows1252(head) : iconv.decode(head, encoding);
  const delimiter = detectDelimiter(sampleText);
  // The sample (minus a possibly cut last line) gives the header and candidate types.
  const sample: string[][] = [];
  await pipeline(
    Readable.from([sampleText.slice(0, Math.max(sampleText.lastIndexOf('\n'), 0) || sampleText.length)]),
    csvParse({ delimiter, bom: true, skip_empty_lines: true, relax_column_count: true, relax_quotes: true, to: 2000 }),
    new Writable({
      objectMode: true,
      write(r: string[], _e, cb) {
        sample.push(r);
        cb();
      },
    }),
  ).catch((err) => {
    throw asLoadError(err);
  });
  if (!sample.length) throw new LoadError('no header row', null);
  const columns = columnNames(sample[0]);
  const overrides = columns.map((c) => columnTypeFromCkan(dictionary.find((f) => f.id === c)?.info?.type_override));
  const guess: ColumnType[] = columns.map((_, i) => {
    if (overrides[i]) return overrides[i]!;
    let t: ColumnType | null = null;
    for (const r of sample.slice(1)) t = widen(t, r[i] ?? '');
    return t ?? 'text';
  });
  const tmp = `load_${crypto.randomBytes(6).toString('hex')}`;
  const table = `datastore.${qi(tmp)}`;
  const grant = (await readerRoleUsable(db)) ? `grant select on ${tableRef(resourceId)} to ${DATASTORE_READER}` : null;
  const client = await services.database.pool!.connect();
  try {
    await client.query('begin');
    // Dates are read year first: under the default MDY a later "5/1/2020" in a column the first rows
    // made a date would silently be May 1st; this way it is refused and the column becomes text.
    await client.query(`set local datestyle = 'ISO, YMD'`);
    const delim = delimiter === '\t' ? "E'\\t'" : `'${delimiter}'`;
    // COPY straight into the types the first rows suggest. When a later row disagrees, PostgreSQL
    // names the column: demote it (int → numeric → text, date → timestamp → text) and stream again.
    const types = [...guess];
    // Numbers with a decimal comma are copied as text and converted after (COPY reads only points).
    const commas = new Set<number>();
    columns.forEach((_, i) => {
      if (types[i] === 'numeric' && sample.slice(1).some((r) => hasDecimalComma(r[i] ?? ''))) commas.add(i);
    });
    // COPY reads an empty line as a row; the other loaders skip it. Filtered only when needed:
    // a one-column file (where it would load silently) or after COPY stopped on one.
    // COPY's HEADER skips the first line, blank or not: a file that starts with a blank line needs the filter too.
    let skipBlankLines = columns.length === 1 || /^\uFEFF?[ \t]*\r?\n/.test(sampleText);
    let rows = 0;
    const copyStart = Date.now();
    for (let attempt = 0; ; attempt++) {
      await client.query('savepoint attempt');
      // A cached identity takes one sequence lock per 1,000 rows instead of per row.
      await client.query(`create table ${table} ("_id" integer generated by default as identity (cache 1000), ${columns.map((c, i) => `${qi(c)} ${commas.has(i) ? 'text' : SQL_TYPE[types[i]]}`).join(', ')})`);
      // FREEZE (the table is new in this subtransaction): rows are written already visible to
      // all, so the first searches do not each rewrite every page to set hint bits.
      const copy = client.query(copyFrom(`copy ${table} (${columns.map(qi).join(', ')}) from stdin with (format csv, header true, delimiter ${delim}, encoding 'UTF8', freeze true)`));
      const source = open();
      const filter = skipBlankLines ? blankLineFilter() : null;
      try {
        await pipeline([
          source,
          ...(encoding === 'utf-8'
            ? [utf8Check()]
            : [
                decoder(encoding),
                new Transform({
                  transform(chunk: string | Buffer, _e, cb) {
                    cb(null, Buffer.from(String(chunk), 'utf8'));
                  },
                }),
              ]),
          ...(filter ? [filter] : []),
          copy,
        ]);
        rows = Number(copy.rowCount ?? 0);
        // The decimal-comma columns become numeric; one that holds something else stays text.
        for (const i of commas) {
          await client.query('savepoint comma');
          try {
            await client.query(`alter table ${table} alter column ${qi(columns[i])} type numeric using replace(nullif(btrim(${qi(columns[i])}), ''), ',', '.')::numeric`);
          } catch (err) {
            await client.query('rollback to savepoint comma');
            if (overrides[i]) throw new LoadError(`column "${columns[i]}" is not ${types[i]} as the data dictionary says: ${(err as Error).message}`, null);
            types[i] = 'text';
          }
        }
        break;
      } catch (err) {
        const e = err as { code?: string; where?: string; message?: string };
        if (err instanceof LoadError) throw err;
        if (filter && e.where) e.where = e.where.replace(/line (\d+)/, (_, l: string) => `line ${filter.originalLine(Number(l))}`);
        const m = /, column (.+?): /.exec(e.where ?? '');
        const i = m ? columns.indexOf(m[1]) : -1;
        if (e.code === '22P04' && !skipBlankLines && /, line \d+: ""$/.test(e.where ?? '')) {
          await client.query('rollback to savepoint attempt');
          skipBlankLines = true;
          continue;
        }
        const typeError = !!e.code && ['22P02', '22003', '22007', '22008', '22009', '22P05'].includes(e.code);
        if (!typeError || i < 0 || types[i] === 'text' || attempt > columns.length * 3) throw copyLoadError(err);
        const comma = types[i] === 'numeric' && !commas.has(i) && hasDecimalComma(/"(.*)"$/.exec(e.message ?? '')?.[1] ?? '');
        if (overrides[i] && !comma) throw new LoadError(`column "${columns[i]}" is not ${types[i]} as the data dictionary says`, Number(/line (\d+)/.exec(e.where ?? '')?.[1] ?? 0) || null);
        await client.query('rollback to savepoint attempt');
        if (comma) commas.add(i);
        else types[i] = types[i] === 'int' ? 'numeric' : types[i] === 'date' ? 'timestamp' : 'text';
      }
    }
    const copyMs = Date.now() - copyStart;
    const indexes = (opts.indexes ?? []).filter((c) => columns.includes(c));
    // CKAN's indexes: the primary key and the fields the publisher marks as indexed. Sorts for
    // the builds stay in memory; statistics are gathered now so that the first filtered search
    // (and its estimated total) is planned on real numbers.
    await client.query(`set local maintenance_work_mem = '256MB'`);
    await client.query(`alter table ${table} add primary key ("_id")`);
    for (const [i, c] of indexes.entries()) await client.query(`create index ${qi(`${tmp}_i${i}`)} on ${table} (${qi(c)})`);
    const run = (statement: string) => client.query(statement);
    const fullText = rows <= fullTextSettings.inlineRows;
    if (fullText) await fillFullText(run, table);
    await client.query(`analyze ${table}`);
    await client.query(`drop table if exists ${tableRef(resourceId)}`);
    await client.query(`alter table ${table} rename to ${qi(resourceId)}`);
    if (fullText) await indexFullText(run, resourceId);
    if (grant) await client.query(grant);
    const fields: DictionaryField[] = columns.map((id, i) => ({ id, type: CKAN_TYPE[types[i]], info: dictionary.find((f) => f.id === id)?.info ?? {} }));
    const json = JSON.stringify(fields);
    await client.query(
      `insert into od_datastore (resource_id, fields, row_count, encoding, delimiter, loaded_at, full_text) values ($1, $2, $3, $4, $5, now(), $6)
       on conflict (resource_id) do update set fields = excluded.fields, row_count = excluded.row_count, encoding = excluded.encoding,
       delimiter = excluded.delimiter, loaded_at = excluded.loaded_at, full_text = excluded.full_text, primary_key = '{}'`,
      [resourceId, json, rows, encoding, delimiter, fullText],
    );
    await client.query('update od_resources set datastore_active = true, fields = $2 where id = $1', [resourceId, json]);
    await client.query('commit');
    await queueFullText(services, resourceId, fullText);
    return { rows, fields, encoding, delimiter, copyMs };
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

// ---------- full text (CKAN's _full_text) ----------

export const FULL_TEXT_JOB = 'open-data.datastore-full-text';
/**
 * Tables up to `inlineRows` get `_full_text` inside their load; bigger ones from a job, after the load
 * reports done. Until then q computes each row's vector, on tables of up to `scanRows`.
 */
export const fullTextSettings = { inlineRows: 50_000, chunkRows: 50_000, scanRows: 100_000 };

const addFullTextColumn = (table: string) => `alter table ${table} add column if not exists "_full_text" tsvector`;
const fullTextTrigger = (table: string) => `create trigger zfulltext before insert or update on ${table} for each row execute function public.od_full_text_trigger()`;
const fullTextIndex = (resourceId: string, concurrently = false) =>
  `create index ${concurrently ? 'concurrently ' : ''}${qi(`${resourceId.slice(0, 48)}_full_text`)} on ${tableRef(resourceId)} using gin ("_full_text")`;

/** Fills `_full_text` of a table the load just built (nobody else sees it yet, so no trigger is needed yet). */
async function fillFullText(run: (statement: string) => Promise<unknown>, table: string) {
  await run(addFullTextColumn(table));
  await run(`update ${table} t set "_full_text" = public.od_full_text(row_to_json(t.*))`);
}

/** The index and the trigger that keeps `_full_text` right for later writes, once the table has its final name. */
export async function indexFullText(run: (statement: string) => Promise<unknown>, resourceId: string) {
  await run(fullTextIndex(resourceId));
  await run(fullTextTrigger(tableRef(resourceId)));
}

/** After a load: tables too big to fill inline get their `_full_text` from a job. */
async function queueFullText(services: Services, resourceId: string, inline: boolean) {
  if (!inline) await services.jobs.enqueue(FULL_TEXT_JOB, { resourceId });
}

/**
 * The job for big tables: the column and its trigger first (so rows written meanwhile are right),
 * then the existing rows in chunks, each its own short transaction, then the index. If a new load
 * replaces the table meanwhile, it stops: that load queued its own job.
 */
export async function buildFullText(services: Services, resourceId: string, progress?: (fraction: number) => Promise<void>) {
  const db = odDb(services);
  const table = tableRef(resourceId);
  const oidOf = async () => (await sql<{ oid: number | null }>`select to_regclass(${table})::oid::int as oid`.execute(db)).rows[0]?.oid ?? null;
  const oid = await oidOf();
  if (oid == null) return { skipped: 'the table no longer exists' };
  const state = await db.selectFrom('od_datastore').select(['full_text']).where('resource_id', '=', resourceId).executeTakeFirst();
  if (!state) return { skipped: 'the resource is no longer in the DataStore' };
  if (state.full_text) return { skipped: 'already built' };
  await db.transaction().execute(async (trx) => {
    await sql.raw(addFullTextColumn(table)).execute(trx);
    await sql.raw(`drop trigger if exists zfulltext on ${table}`).execute(trx);
    await sql.raw(fullTextTrigger(table)).execute(trx);
  });
  const range = (await sql<{ lo: number | null; hi: number | null }>`select min("_id")::bigint as lo, max("_id")::bigint as hi from ${sql.raw(table)}`.execute(db)).rows[0];
  const lo = Number(range?.lo ?? 0);
  const hi = Number(range?.hi ?? -1);
  for (let from = lo; from <= hi; from += fullTextSettings.chunkRows) {
    if ((await oidOf()) !== oid) return { skipped: 'a new load replaced the table' };
    // The trigger computes the vector on this update: setting it here too would compute it twice.
    await sql`update ${sql.raw(table)} t set "_full_text" = null where "_id" >= ${from} and "_id" < ${from + fullTextSettings.chunkRows} and "_full_text" is null`.execute(db);
    await progress?.(Math.min(0.9, (from - lo + fullTextSettings.chunkRows) / (hi - lo + 1)));
  }
  if ((await oidOf()) !== oid) return { skipped: 'a new load replaced the table' };
  await sql.raw(`drop index if exists datastore.${qi(`${resourceId.slice(0, 48)}_full_text`)}`).execute(db);
  // CONCURRENTLY on PostgreSQL: searches and writes go on while the index is built.
  await sql.raw(fullTextIndex(resourceId, services.database.engine === 'postgres')).execute(db);
  await sql.raw(`vacuum (analyze) ${table}`).execute(db);
  // Only if the table is still the one filled: a load that replaced it reset the flag.
  await db
    .updateTable('od_datastore')
    .set({ full_text: true })
    .where('resource_id', '=', resourceId)
    .where(sql<boolean>`to_regclass(${table})::oid::int = ${oid}`)
    .execute();
  return { resourceId, rows: hi - lo + 1 };
}

/** Drops a resource's DataStore table and its bookkeeping: in the caller's transaction if given one, else in its own. */
export async function dropDatastore(db: OdDb, resourceId: string) {
  const drop = async (trx: OdDb) => {
    await sql.raw(`drop table if exists ${tableRef(resourceId)}`).execute(trx);
    await trx.deleteFrom('od_datastore').where('resource_id', '=', resourceId).execute();
    await trx.updateTable('od_resources').set({ datastore_active: false }).where('id', '=', resourceId).execute();
  };
  await (db.isTransaction ? drop(db) : db.transaction().execute(drop));
}

// ---------- datastore_search ----------

export class DatastoreQueryError extends Error {
  constructor(
    message: string,
    readonly field?: string,
    /** For pages that explain it in the visitor's language. */
    readonly code?: 'full-text-pending' | 'full-text-language',
  ) {
    super(message);
  }
}

export interface DatastoreSearch {
  filters?: Record<string, unknown>;
  q?: string | Record<string, string>;
  fields?: string[];
  sort?: string;
  limit?: number;
  offset?: number;
  distinct?: boolean;
  includeTotal?: boolean;
  /** CKAN 2.10's total_estimation_threshold: above it the total is the planner's estimate. */
  totalEstimationThreshold?: number | null;
  /** CKAN's `plain` (default true): `q` is plain words; false reads it as tsquery syntax (`&`, `|`, `!`, `:*`). */
  plain?: boolean;
  /** CKAN's `language`: a text-search configuration; by default Spanish, which the index is built in. */
  language?: string;
  /** CKAN returns `rank` (and `rank <field>` for a per-field q) with the records: the API asks for it, the preview does not. */
  rank?: boolean;
}

export interface DatastoreResult {
  fields: Array<{ id: string; type: string; info?: DictionaryField['info'] }>;
  records: Record<string, unknown>[];
  total?: number;
  totalWasEstimated?: boolean;
  limit: number;
  offset: number;
}

export function toList(v: unknown): string[] | undefined {
  if (v == null || v === '') return undefined;
  if (Array.isArray(v)) return v.map(String);
  return String(v)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** What a search needs of the table's od_datastore row, which every caller has already read. */
export interface DatastoreTable {
  fields: DictionaryField[];
  full_text: boolean;
  row_count: number | string;
}

export async function searchDatastore(db: OdDb, resourceId: string, table: DatastoreTable, s: DatastoreSearch): Promise<DatastoreResult> {
  const all = [{ id: '_id', type: 'int' } as DictionaryField, ...table.fields];
  const known = new Map(all.map((f) => [f.id, f]));
  const typeOf = (c: string) => columnTypeFromCkan(known.get(c)?.type) ?? 'text';
  const isRank = (f: string) => !!s.rank && !!s.q && (f === 'rank' || f.startsWith('rank '));
  const chosen = (s.fields?.length ? s.fields : all.map((f) => f.id)).filter((f) => !isRank(f));
  for (const f of chosen) if (!known.has(f)) throw new DatastoreQueryError(`field "${f}" not in the table`, 'fields');
  const where: ReturnType<typeof sql>[] = [];
  for (const [col, raw] of Object.entries(s.filters ?? {})) {
    if (!known.has(col)) throw new DatastoreQueryError(`field "${col}" not in the table`, 'filters');
    const values = (Array.isArray(raw) ? raw : [raw]).map((v) => (v == null ? null : String(v)));
    const t = typeOf(col);
    for (const v of values) if (v != null && cellProblem(t, v)) throw new DatastoreQueryError(`filter on "${col}": ${cellProblem(t, v)}`, 'filters');
    if (t === 'numeric') values.forEach((v, i) => (values[i] = v == null ? v : numberText(v.trim())));
    // A single value uses "=" so that an index on (column, _id) also gives the page order.
    where.push(values.length === 1 ? sql`${sql.id(col)} = ${values[0]}::${sql.raw(SQL_TYPE[t])}` : sql`${sql.id(col)} = any(${values}::${sql.raw(SQL_TYPE[t])}[])`);
  }
  // CKAN's full-text q: words (Spanish stemming, accents ignored) against the row's _full_text,
  // or against one column's text for a per-field q. Without q the order is _id; with it, rank.
  const ranks: Array<{ alias: string; expr: ReturnType<typeof sql> }> = [];
  const qEntries: Array<[string | null, string]> =
    typeof s.q === 'string' ? (s.q.trim() ? [[null, s.q.trim()]] : []) : s.q && typeof s.q === 'object' ? Object.entries(s.q).map(([k, v]) => [k, String(v ?? '')]) : [];
  if (qEntries.length) {
    const language = s.language?.trim() || null;
    if (language && !/^[a-z_]{1,63}$/.test(language)) throw new DatastoreQueryError(`"${language}" is not a text-search language`, 'language');
    if (language) {
      const cfg = await sql<{ n: number }>`select count(*)::int as n from pg_ts_config where cfgname = ${language}`.execute(db);
      if (!cfg.rows[0]?.n) throw new DatastoreQueryError(`"${language}" is not a text-search language of this database`, 'language');
    }
    const spanish = !language || language === 'spanish';
    const ready = spanish && table.full_text;
    // Without the index every row's vector is computed (about 15 µs a row): fine for the portal's
    // tables, minutes on millions of rows, so a big table answers q once its index exists.
    if (!ready && Number(table.row_count) > fullTextSettings.scanRows) {
      throw new DatastoreQueryError(
        spanish
          ? `full-text search on this table (${table.row_count} rows) is still being prepared; filters work now, q will in a few minutes`
          : `q in a language other than Spanish reads every row, and this table has ${table.row_count} (the most is ${fullTextSettings.scanRows}): leave out "language" or use filters`,
        spanish ? 'q' : 'language',
        spanish ? 'full-text-pending' : 'full-text-language',
      );
    }
    const doc = (col: string | null) => {
      const text = col == null ? null : sql`left(${sql.id(col)}::text, 200000)`;
      if (spanish) return col == null ? (ready ? sql`t."_full_text"` : sql`public.od_full_text(row_to_json(t.*))`) : sql`public.es_tsvector(${text})`;
      const rowText = sql`(select string_agg(value, ' ') from json_each_text(row_to_json(t.*)) where key not like '\\_%')`;
      return sql`to_tsvector(${language}::regconfig, public.immutable_unaccent(coalesce(${col == null ? rowText : text}, '')))`;
    };
    const cfg = spanish ? sql`'pg_catalog.spanish'::regconfig` : sql`${language}::regconfig`;
    for (const [col, text] of qEntries) {
      if (col != null && !known.has(col)) throw new DatastoreQueryError(`field "${col}" not in the table`, 'q');
      const query = s.plain === false ? sql`to_tsquery(${cfg}, public.immutable_unaccent(${text}))` : sql`plainto_tsquery(${cfg}, public.immutable_unaccent(${text}))`;
      // A field's words are words of its row: the row's index narrows, the field's own vector decides.
      where.push(col != null && ready ? sql`t."_full_text" @@ ${query} and ${doc(col)} @@ ${query}` : sql`${doc(col)} @@ ${query}`);
      ranks.push({ alias: col == null ? 'rank' : `rank ${col}`, expr: sql`ts_rank(${doc(col)}, ${query}, 32)` });
    }
  }
  const order: ReturnType<typeof sql>[] = [];
  for (const part of (s.sort ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = /^"?([^"]+?)"?(?:\s+(asc|desc))?(?:\s+nulls\s+(first|last))?$/i.exec(part);
    const rank = m && ranks.find((r) => r.alias === m[1]);
    if (!m || (!known.has(m[1]) && !rank)) throw new DatastoreQueryError(`cannot sort by "${part}"`, 'sort');
    // PostgreSQL sorts a DISTINCT answer only by what it returns.
    if (s.distinct && !chosen.includes(m[1])) throw new DatastoreQueryError(`with distinct, sort only by the fields returned ("${m[1]}" is not among them)`, 'sort');
    order.push(sql`${rank ? rank.expr : sql.id(m[1])} ${sql.raw((m[2] ?? 'asc').toLowerCase())}${m[3] ? sql.raw(` nulls ${m[3].toLowerCase()}`) : sql``}`);
  }
  if (!order.length && !s.distinct) {
    for (const r of ranks) order.push(sql`${r.expr} desc`);
    order.push(sql`"_id" asc`);
  }
  const limit = Math.max(0, Math.min(32000, s.limit ?? 100));
  const offset = Math.max(0, s.offset ?? 0);
  const from = sql.raw(`${tableRef(resourceId)} t`);
  const whereSql = where.length ? sql`where ${sql.join(where, sql` and `)}` : sql``;
  const cols = sql.join(chosen.map((c) => sql.id(c)));
  // As CKAN: the rank columns come with the records unless `fields` leaves them out.
  const rankColumns = s.rank && !s.distinct ? ranks.filter((r) => !s.fields?.length || s.fields.includes(r.alias)) : [];
  const selected = rankColumns.length ? sql.join([...(chosen.length ? [cols] : []), ...rankColumns.map((r) => sql`${r.expr} as ${sql.id(r.alias)}`)]) : cols;
  const select = s.distinct ? sql`select distinct ${cols}` : sql`select ${selected}`;
  const orderSql = order.length ? sql`order by ${sql.join(order)}` : s.distinct ? sql`order by 1` : sql``;
  // The page and the total are independent: on PostgreSQL they run side by side.
  const recordsQuery = sql<Record<string, unknown>>`${select} from ${from} ${whereSql} ${orderSql} limit ${limit} offset ${offset}`.execute(db);
  recordsQuery.catch(() => {});
  let total: number | undefined;
  let totalWasEstimated = false;
  // As CKAN does: a large total is estimated (table statistics without filters, the planner's
  // row estimate with them) instead of counted; below the threshold the count is exact.
  if (s.includeTotal !== false && s.totalEstimationThreshold != null && !s.distinct) {
    let estimate: number;
    if (!where.length) {
      const r = await sql<{ n: number }>`select greatest(reltuples, 0)::bigint as n from pg_class where oid = ${tableRef(resourceId)}::regclass`.execute(db);
      estimate = Number(r.rows[0]?.n ?? 0);
    } else {
      const r = await sql<{ 'QUERY PLAN': unknown }>`explain (format json) select 1 from ${from} ${whereSql}`.execute(db);
      const plan = r.rows[0]?.['QUERY PLAN'];
      const parsed = (typeof plan === 'string' ? JSON.parse(plan) : plan) as Array<{ Plan: { 'Plan Rows': number } }>;
      estimate = Math.round(parsed[0]?.Plan['Plan Rows'] ?? 0);
    }
    if (estimate >= s.totalEstimationThreshold) {
      total = estimate;
      totalWasEstimated = true;
    }
  }
  if (s.includeTotal !== false && !totalWasEstimated) {
    const c = s.distinct
      ? await sql<{ n: number }>`select count(*)::int as n from (select distinct ${cols} from ${from} ${whereSql}) x`.execute(db)
      : await sql<{ n: number }>`select count(*)::int as n from ${from} ${whereSql}`.execute(db);
    total = Number(c.rows[0].n);
  }
  const records = await recordsQuery;
  return {
    fields: [
      ...chosen.map((c) => known.get(c)!).map((f) => ({ id: f.id, type: f.type, ...(f.info && Object.values(f.info).some(Boolean) ? { info: f.info } : {}) })),
      ...rankColumns.map((r) => ({ id: r.alias, type: 'float' })),
    ],
    records: records.rows.map(normaliseRecord),
    total,
    totalWasEstimated,
    limit,
    offset,
  };
}

function normaliseRecord(r: Record<string, unknown>) {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) out[k] = v instanceof Date ? v.toISOString().replace(/\.000Z$|Z$/, '') : v;
  return out;
}

// ---------- datastore_search_sql ----------

export const SQL_TIMEOUT_MS = 5000;
/** CKAN's ckan.datastore.search.rows_max: the most records datastore_search_sql returns. */
export const sqlSettings = { rowsMax: 32000 };
/**
 * The largest planner cost datastore_search_sql runs. PGlite has no statement timeout (one
 * WebAssembly thread: nothing can cancel a running query), so a cross join of two big tables
 * would block the whole database; the plan's cost is the only fence there. Measured on PGlite, a
 * cost of 150,000 (a 3,000 × 3,000-row cross join, counted) takes 1–2 s, so 500,000 stays near the
 * 5 s statement timeout; a full sort or grouping of a 1M-row table costs well under it.
 */
export const SQL_MAX_COST = Number(process.env.OPEN_DATA_SQL_MAX_COST) || 500_000;

/** datastore_search_sql cannot run safely here: the reader role is missing or not granted to the app. */
export class DatastoreSqlUnavailable extends Error {}

/**
 * Runs one guarded SELECT: READ ONLY transaction, statement timeout, search_path limited to
 * the datastore schema and the reader role that can read nothing else (on both engines). Before
 * it runs, its plan says what it reads: only DataStore tables the caller may see, under a cost bound.
 */
export async function searchDatastoreSql(
  services: Services,
  statement: string,
  tableAllowed: (id: string, db: OdDb) => Promise<boolean>,
): Promise<{ records: Record<string, unknown>[]; fields: Array<{ id: string; type: string }>; truncated: boolean }> {
  const guarded = guardSelect(statement);
  const db = odDb(services);
  for (const t of guarded.tables) {
    if (!(await tableAllowed(t, db))) throw new SqlGuardError(`"${t}" is not a DataStore table`);
  }
  // Both engines: PGlite runs as a superuser, so without the role a statement could read anything
  // the plan check missed. Never fall back to the app's own role.
  if (!(await readerRoleUsable(db, true))) {
    services.log.error({ role: DATASTORE_READER }, 'datastore_search_sql refused: the reader role is missing or not granted to the app');
    throw new DatastoreSqlUnavailable(
      `datastore_search_sql is unavailable: the database role "${DATASTORE_READER}" is missing or not granted to the application; an administrator must create it (see the open-data README)`,
    );
  }
  const rows = await db.transaction().execute(async (trx) => {
    await sql`set transaction read only`.execute(trx);
    await sql.raw(`set local statement_timeout = ${SQL_TIMEOUT_MS}`).execute(trx);
    await sql`set local search_path = datastore`.execute(trx);
    await sql`set local standard_conforming_strings = on`.execute(trx);
    await sql.raw(`set local role ${DATASTORE_READER}`).execute(trx);
    const explained = await sql<{ 'QUERY PLAN': unknown }>`explain (verbose, format json) ${sql.raw(guarded.sql)}`.execute(trx);
    const facts = planFacts(explained.rows[0]?.['QUERY PLAN']);
    if (facts.totalCost > SQL_MAX_COST) {
      throw new SqlGuardError(`The query is too expensive to run (estimated cost ${Math.round(facts.totalCost)}, the limit is ${SQL_MAX_COST}): add filters, a LIMIT, or avoid cross joins`);
    }
    // The checks read the catalogue, which the reader role cannot: as the app, then back.
    await sql`reset role`.execute(trx);
    await sql`reset search_path`.execute(trx);
    const seen = new Set<string>();
    for (const r of facts.relations) {
      if (seen.has(`${r.schema}.${r.name}`)) continue;
      seen.add(`${r.schema}.${r.name}`);
      if (r.schema !== 'datastore' || !(await tableAllowed(r.name, trx))) {
        throw new SqlGuardError(`"${r.schema ? `${r.schema}.` : ''}${r.name}" is not a DataStore table you may read`);
      }
    }
    await sql`set local search_path = datastore`.execute(trx);
    await sql.raw(`set local role ${DATASTORE_READER}`).execute(trx);
    // As CKAN: one row more than the most it returns, so that it can say the answer was cut,
    // and never the whole of a big table in memory.
    const r = await sql<Record<string, unknown>>`select * from (
${sql.raw(guarded.sql)}
) as "_statement" limit ${sqlSettings.rowsMax + 1}`.execute(trx);
    return r.rows;
  });
  const truncated = rows.length > sqlSettings.rowsMax;
  if (truncated) rows.pop();
  const first = rows[0] ?? {};
  const fields = Object.keys(first).map((id) => {
    const v = first[id];
    const type = typeof v === 'number' ? 'numeric' : typeof v === 'boolean' ? 'bool' : v instanceof Date ? 'timestamp' : 'text';
    return { id, type };
  });
  return { records: rows.map(normaliseRecord), fields, truncated };
}

export { SqlGuardError };
export const readableFrom = (buf: Buffer) => () => Readable.from([buf]);

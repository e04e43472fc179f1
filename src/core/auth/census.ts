import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { sql } from 'kysely';
import type { Services } from '../services';
import type { Actor } from '../audit';

/** What the census knows of a resident: where they live, and optionally their gender. */
export interface CensusEntry {
  communeId: number;
  gender?: string | null;
}

/** The city's census, wherever it lives: a table the administrator uploads, or a web service. */
export interface CensusConnector {
  /** dateOfBirth is YYYY-MM-DD. Null when the census has no such person. Throws CensusUnavailableError. */
  lookup(documentNumber: string, dateOfBirth: string): Promise<CensusEntry | null>;
}

export class CensusUnavailableError extends Error {}

/** Document numbers are written 30.111.222, 30 111 222 or 30111222: only the digits count. */
export function normaliseDocument(doc: string): string {
  return doc.replace(/\D/g, '');
}

/** A plausible DNI/LE/LC: 6 to 9 digits once the dots are gone. */
export function isDocumentNumber(doc: string): boolean {
  return /^\d{6,9}$/.test(normaliseDocument(doc)) && /^[\d.\s-]+$/.test(doc.trim());
}

/** The keyed hash under which a document number is stored: never the number itself. */
export function censusHash(secret: string, documentNumber: string): string {
  return crypto.createHmac('sha256', secret).update(normaliseDocument(documentNumber)).digest('hex');
}

/** YYYY-MM-DD or DD/MM/YYYY (as Argentines write it) → YYYY-MM-DD, or null when not a real past date. */
export function parseBirthDate(raw: string): string | null {
  const s = raw.trim();
  let y: number, m: number, d: number;
  let match = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(s);
  if (match) [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
  else if ((match = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(s))) [d, m, y] = [Number(match[1]), Number(match[2]), Number(match[3])];
  else return null;
  const date = new Date(Date.UTC(y, m - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return null;
  if (y < 1890 || date.getTime() > Date.now()) return null;
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

const COMMUNES = 15;

/** Census files say F/M/X, mujer/varón… ; we keep female/male/other. */
export function normaliseGender(raw: string | null | undefined): string | null | undefined {
  if (raw == null || raw.trim() === '') return null;
  const g = raw.trim().toLowerCase();
  if (['f', 'female', 'femenino', 'mujer'].includes(g)) return 'female';
  if (['m', 'male', 'masculino', 'varón', 'varon', 'hombre'].includes(g)) return 'male';
  if (['x', 'other', 'otro', 'no binario', 'nonbinary'].includes(g)) return 'other';
  return undefined; // not understood
}

/** The census the administrator uploads, stored as keyed hashes in census_records. */
export class LocalCensus implements CensusConnector {
  constructor(private readonly services: Services) {}

  async lookup(documentNumber: string, dateOfBirth: string): Promise<CensusEntry | null> {
    const row = await this.services.db
      .selectFrom('census_records')
      .select(['commune_id', 'gender'])
      .where('document_hash', '=', censusHash(this.services.secret, documentNumber))
      .where('date_of_birth', '=', dateOfBirth)
      .executeTakeFirst();
    return row ? { communeId: row.commune_id, gender: row.gender } : null;
  }
}

/**
 * The city's census web service: GET {url}?document=…&birth_date=YYYY-MM-DD with a Bearer token,
 * answering 200 {commune, gender?} or 404. Anything else, or no answer in time, is "unavailable":
 * the resident is told to try later and the attempt does not count against them.
 */
export class HttpCensus implements CensusConnector {
  constructor(
    private readonly url: string,
    private readonly token: string | undefined,
    private readonly timeoutMs = 5000,
  ) {}

  async lookup(documentNumber: string, dateOfBirth: string): Promise<CensusEntry | null> {
    const u = new URL(this.url);
    u.searchParams.set('document', normaliseDocument(documentNumber));
    u.searchParams.set('birth_date', dateOfBirth);
    let res: Response;
    try {
      res = await fetch(u, {
        headers: { accept: 'application/json', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new CensusUnavailableError(`census service unreachable: ${(err as Error).message}`);
    }
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new CensusUnavailableError(`census service answered ${res.status}`);
    }
    let body: { commune?: unknown; gender?: unknown };
    try {
      body = (await res.json()) as typeof body;
    } catch {
      throw new CensusUnavailableError('census service answered something that is not JSON');
    }
    const communeId = Number(body?.commune);
    if (!Number.isInteger(communeId) || communeId < 1 || communeId > COMMUNES) {
      throw new CensusUnavailableError(`census service answered an unknown commune: ${String(body?.commune)}`);
    }
    const gender = typeof body.gender === 'string' ? normaliseGender(body.gender) : null;
    return { communeId, gender: gender ?? null };
  }
}

/** The connector chosen by configuration (CENSUS_CONNECTOR, CENSUS_URL, CENSUS_TOKEN). */
export function censusConnector(services: Services): CensusConnector {
  const c = services.config.census;
  if (c.connector === 'http' && c.url) return new HttpCensus(c.url, c.token);
  return new LocalCensus(services);
}

export interface CensusRejectedLine {
  line: number;
  /** i18n key suffix: census.reject.<code> */
  code: 'document' | 'birthDate' | 'commune' | 'gender' | 'duplicate';
  message: string;
}

export interface CensusImportResult {
  imported: number;
  rejected: CensusRejectedLine[];
  /** Records in the census after the import. */
  total: number;
  mode: 'upsert' | 'replace';
}

export class CensusFileError extends Error {}

const REQUIRED = ['document_number', 'date_of_birth', 'commune'];
const BATCH = 1000;

/**
 * Imports a census CSV (document_number, date_of_birth, commune, gender optional; comma or
 * semicolon separated; header required). Default mode 'upsert': each valid row inserts or
 * updates its record and records absent from the file stay, so a partial file never wipes the
 * census. Mode 'replace' empties the census first (a full new census), in the same transaction.
 * Bad rows are reported with their line and reason and skipped; the valid rows are imported.
 */
export async function importCensusCsv(
  services: Services,
  input: string | Buffer | Readable,
  actor: Actor,
  opts: { mode?: 'upsert' | 'replace' } = {},
): Promise<CensusImportResult> {
  const mode = opts.mode ?? 'upsert';
  const source = typeof input === 'string' || Buffer.isBuffer(input) ? Readable.from([input]) : input;
  const parser = source.pipe(
    parse({
      bom: true,
      delimiter: [',', ';'],
      columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()),
      skip_empty_lines: true,
      trim: true,
      relax_column_count: true,
      info: true,
    }),
  );
  // Records point at a commune of the city: a census uploaded before the city's map is refused whole.
  const communes = new Set((await services.db.selectFrom('communes').select('id').execute()).map((c) => c.id));
  if (communes.size === 0) throw new CensusFileError('the city has no communes loaded yet');
  const records = new Map<string, { date_of_birth: string; commune_id: number; gender: string | null; line: number }>();
  const rejected: CensusRejectedLine[] = [];
  let checkedHeader = false;
  try {
    for await (const item of parser as AsyncIterable<{ record: Record<string, string | undefined>; info: { lines: number } }>) {
      const { record, info } = item;
      const line = info.lines;
      if (!checkedHeader) {
        const missing = REQUIRED.filter((c) => !(c in record));
        if (missing.length) throw new CensusFileError(`missing column(s): ${missing.join(', ')}`);
        checkedHeader = true;
      }
      const reject = (code: CensusRejectedLine['code'], message: string) => rejected.push({ line, code, message });
      const doc = record.document_number ?? '';
      if (!isDocumentNumber(doc)) {
        reject('document', 'document number must have 6 to 9 digits');
        continue;
      }
      const dob = parseBirthDate(record.date_of_birth ?? '');
      if (!dob) {
        reject('birthDate', `not a date (YYYY-MM-DD or DD/MM/YYYY): "${record.date_of_birth ?? ''}"`);
        continue;
      }
      const commune = Number(record.commune);
      if (!/^\d+$/.test(record.commune ?? '') || !communes.has(commune)) {
        reject('commune', `no such commune: "${record.commune ?? ''}"`);
        continue;
      }
      const gender = normaliseGender(record.gender);
      if (gender === undefined) {
        reject('gender', `unknown gender "${record.gender}" (F, M or X)`);
        continue;
      }
      const hash = censusHash(services.secret, doc);
      const earlier = records.get(hash);
      if (earlier) {
        reject('duplicate', `same document as line ${earlier.line}`);
        continue;
      }
      records.set(hash, { date_of_birth: dob, commune_id: commune, gender, line });
    }
  } catch (err) {
    if (err instanceof CensusFileError) throw err;
    throw new CensusFileError(`not a readable CSV file: ${(err as Error).message}`);
  }
  if (!checkedHeader) throw new CensusFileError('the file has no rows');

  const rows = [...records].map(([document_hash, r]) => ({
    document_hash,
    date_of_birth: r.date_of_birth,
    commune_id: r.commune_id,
    gender: r.gender,
  }));
  const total = await services.db.transaction().execute(async (trx) => {
    if (mode === 'replace') await trx.deleteFrom('census_records').execute();
    for (let i = 0; i < rows.length; i += BATCH) {
      await trx
        .insertInto('census_records')
        .values(rows.slice(i, i + BATCH))
        .onConflict((oc) =>
          oc.column('document_hash').doUpdateSet({
            date_of_birth: (eb) => eb.ref('excluded.date_of_birth'),
            commune_id: (eb) => eb.ref('excluded.commune_id'),
            gender: (eb) => eb.ref('excluded.gender'),
            imported_at: sql`now()`,
          }),
        )
        .execute();
    }
    await services.audit.record(
      actor,
      { action: 'census.import', subjectType: 'census', details: { mode, imported: rows.length, rejected: rejected.length } },
      trx,
    );
    const n = await trx.selectFrom('census_records').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(n.n);
  });
  return { imported: rows.length, rejected, total, mode };
}

export async function censusCount(services: Services): Promise<number> {
  const n = await services.db.selectFrom('census_records').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(n.n);
}

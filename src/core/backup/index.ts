import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import zlib from 'node:zlib';
import { once } from 'node:events';
import { sql, type Kysely } from 'kysely';
import type { Services } from '../services';
import type { CoreTables } from '../db/schema';

/**
 * A logical dump: gzip'd JSON lines, readable by any PostgreSQL (PGlite or a server), so a city
 * can move from the embedded database to PostgreSQL and back without losing a row or a file.
 *
 *   {"format":"cabildo-backup","version":1,…,"tables":[{name,columns,rows}],"files":n}   header
 *   {"table":"users"}                                                                 then its rows,
 *   {…row as PostgreSQL's to_jsonb gives it; bytea as base64…}                        one per line
 *   {"file":"ab/abcd…","data":"<base64>"}                                             uploaded files
 *   {"end":true}                                                                      a dump cut short is refused
 *
 * Rows are written by PostgreSQL itself (to_jsonb → text, never parsed here), so timestamps keep
 * their microseconds and numerics their digits; restore reads them back with jsonb_populate_record.
 */
export const BACKUP_FORMAT = 'cabildo-backup';
export const BACKUP_VERSION = 1;

export interface ColumnInfo {
  name: string;
  type: string;
  bytea: boolean;
  generated: boolean;
}

export interface TableInfo {
  name: string;
  columns: ColumnInfo[];
  primaryKey: string[];
}

export interface ForeignKey {
  name: string;
  table: string;
  references: string;
  deferrable: boolean;
}

export interface BackupHeader {
  format: typeof BACKUP_FORMAT;
  version: number;
  createdAt: string;
  engine: string;
  /** Migration bookkeeping table → names of the migrations applied, in order. */
  migrations: Record<string, string[]>;
  tables: Array<{ name: string; columns: string[]; rows: number }>;
  files: number;
}

export interface Progress {
  start(total: number): void;
  tick(n?: number): void;
  stop(): void;
}

const silent: Progress = { start() {}, tick() {}, stop() {} };

/** Kysely's migration bookkeeping tables: restore recreates them by migrating, so they are not data. */
const isBookkeeping = (name: string) => /^migrations_/.test(name);

export async function listTables(db: Kysely<any>): Promise<TableInfo[]> {
  const tables = await sql<{ name: string }>`
    select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
    order by c.relname`.execute(db);
  const out: TableInfo[] = [];
  for (const { name } of tables.rows) {
    if (isBookkeeping(name)) continue;
    const cols = await sql<{ name: string; type: string; typname: string; generated: string }>`
      select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, t.typname, a.attgenerated as generated
      from pg_attribute a join pg_type t on t.oid = a.atttypid
      where a.attrelid = ${`public.${quoteIdent(name)}`}::regclass and a.attnum > 0 and not a.attisdropped
      order by a.attnum`.execute(db);
    const pk = await sql<{ name: string }>`
      select a.attname as name from pg_index i
      join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey::int2[])
      where i.indrelid = ${`public.${quoteIdent(name)}`}::regclass and i.indisprimary
      order by array_position(i.indkey::int2[], a.attnum)`.execute(db);
    out.push({
      name,
      columns: cols.rows.map((c) => ({ name: c.name, type: c.type, bytea: c.typname === 'bytea', generated: c.generated !== '' })),
      primaryKey: pk.rows.map((r) => r.name),
    });
  }
  return out;
}

export async function listForeignKeys(db: Kysely<any>): Promise<ForeignKey[]> {
  const res = await sql<ForeignKey>`
    select con.conname as name, cl.relname as table, ref.relname as references, con.condeferrable as deferrable
    from pg_constraint con
    join pg_class cl on cl.oid = con.conrelid
    join pg_class ref on ref.oid = con.confrelid
    join pg_namespace n on n.oid = cl.relnamespace
    where con.contype = 'f' and n.nspname = 'public'
    order by cl.relname, con.conname`.execute(db);
  return res.rows;
}

/**
 * Tables so that every table comes after the tables it references. Foreign keys that cannot be
 * ordered (a table referencing itself, or a cycle) are returned as `deferred`: restore checks
 * them at the end of its transaction instead of row by row.
 */
export function dependencyOrder(tables: string[], fks: ForeignKey[]): { order: string[]; deferred: ForeignKey[] } {
  const known = new Set(tables);
  const deps = new Map(tables.map((t) => [t, new Set<string>()]));
  const deferred: ForeignKey[] = [];
  for (const fk of fks) {
    if (!known.has(fk.table) || !known.has(fk.references)) continue;
    if (fk.table === fk.references) deferred.push(fk);
    else deps.get(fk.table)!.add(fk.references);
  }
  const order: string[] = [];
  const placed = new Set<string>();
  let progressed = true;
  while (placed.size < tables.length && progressed) {
    progressed = false;
    for (const t of tables) {
      if (placed.has(t)) continue;
      if ([...deps.get(t)!].every((d) => placed.has(d))) {
        order.push(t);
        placed.add(t);
        progressed = true;
      }
    }
  }
  const cyclic = tables.filter((t) => !placed.has(t));
  for (const t of cyclic) order.push(t);
  const inCycle = new Set(cyclic);
  for (const fk of fks) if (inCycle.has(fk.table) && inCycle.has(fk.references) && fk.table !== fk.references) deferred.push(fk);
  return { order, deferred };
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

async function migrationState(db: Kysely<any>): Promise<Record<string, string[]>> {
  const res = await sql<{ name: string }>`
    select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind = 'r' and c.relname like 'migrations\\_%' and c.relname not like '%\\_lock'
    order by c.relname`.execute(db);
  const out: Record<string, string[]> = {};
  for (const { name } of res.rows) {
    const rows = await sql<{ name: string }>`select name from ${sql.id(name)} order by name`.execute(db);
    out[name] = rows.rows.map((r) => r.name);
  }
  return out;
}

/** Every file under dir, as paths relative to it (sorted, so dumps are reproducible). */
async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(rel: string) {
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(path.join(dir, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(r);
      else if (e.isFile() && !e.name.endsWith('.tmp')) out.push(r);
    }
  }
  await walk('');
  return out.sort();
}

const PAGE = 1000;

/** Writes the whole database (every table of the public schema) and the uploaded files to `file`. */
export async function backup(services: Services, file: string, progress: Progress = silent): Promise<BackupHeader> {
  const filesDir = path.join(services.config.dataDir, 'files');
  const gzip = zlib.createGzip();
  const out = fs.createWriteStream(file);
  gzip.pipe(out);
  const write = async (line: string) => {
    if (!gzip.write(line + '\n')) await once(gzip, 'drain');
  };
  // One snapshot for every table: rows written later reference rows written earlier.
  const header = await services.db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const tables = await listTables(trx);
      const { order } = dependencyOrder(
        tables.map((t) => t.name),
        await listForeignKeys(trx),
      );
      const byName = new Map(tables.map((t) => [t.name, t]));
      const counts = new Map<string, number>();
      for (const t of order) {
        const r = await sql<{ n: number }>`select count(*)::int as n from ${sql.id(t)}`.execute(trx);
        counts.set(t, Number(r.rows[0].n));
      }
      const files = await listFiles(filesDir);
      const header: BackupHeader = {
        format: BACKUP_FORMAT,
        version: BACKUP_VERSION,
        createdAt: new Date().toISOString(),
        engine: services.database.engine,
        migrations: await migrationState(trx),
        tables: order.map((name) => ({ name, columns: byName.get(name)!.columns.map((c) => c.name), rows: counts.get(name)! })),
        files: files.length,
      };
      await write(JSON.stringify(header));
      progress.start(header.tables.reduce((s, t) => s + t.rows, 0) + files.length);
      for (const name of order) {
        const info = byName.get(name)!;
        await write(JSON.stringify({ table: name }));
        const rowExpr = info.columns.some((c) => c.bytea)
          ? sql`(to_jsonb(_row.*) || jsonb_build_object(${sql.join(
              info.columns.filter((c) => c.bytea).flatMap((c) => [sql.lit(c.name), sql`encode(_row.${sql.id(c.name)}, 'base64')`]),
            )}))::text`
          : sql`to_jsonb(_row.*)::text`;
        // Without a primary key every column orders the rows, so pages never skip or repeat one.
        const orderBy = (info.primaryKey.length ? info.primaryKey : info.columns.filter((c) => !['json', 'xml', 'point'].includes(c.type)).map((c) => c.name)).map((c) => sql.id(c));
        for (let offset = 0; offset < counts.get(name)!; offset += PAGE) {
          const page = await sql<{ j: string }>`
            select ${rowExpr} as j from ${sql.id(name)} as _row
            order by ${sql.join(orderBy)} limit ${PAGE} offset ${offset}`.execute(trx);
          for (const r of page.rows) await write(r.j);
          progress.tick(page.rows.length);
          if (page.rows.length < PAGE) break;
        }
      }
      for (const rel of files) {
        const data = await fsp.readFile(path.join(filesDir, rel));
        await write(JSON.stringify({ file: rel, data: data.toString('base64') }));
        progress.tick();
      }
      await write(JSON.stringify({ end: true }));
      return header;
    });
  gzip.end();
  await once(out, 'finish');
  progress.stop();
  return header;
}

export class RestoreError extends Error {}

/**
 * Core's tables. Every key of CoreTables must be listed (the compiler checks), so a new core
 * table is never forgotten by the "is this database empty?" check.
 */
const CORE_TABLES: Record<keyof CoreTables, true> = {
  users: true,
  sessions: true,
  email_tokens: true,
  offices: true,
  office_members: true,
  organizations: true,
  organization_members: true,
  census_records: true,
  verification_attempts: true,
  api_tokens: true,
  audit_log: true,
  mail_outbox: true,
  jobs: true,
  files: true,
  communes: true,
  neighbourhoods: true,
  settings: true,
};

/**
 * Core tables holding rows: a database with any is in use. (Start-up writes the instance secret
 * into settings before any command runs; that row does not count.) Modules' tables may hold rows
 * their migrations wrote (a version counter, a list of themes): restore replaces those.
 */
async function coreTablesInUse(db: Kysely<any>, tables: TableInfo[]): Promise<string[]> {
  const out: string[] = [];
  for (const t of tables) {
    if (!(t.name in CORE_TABLES)) continue;
    const where = t.name === 'settings' ? sql`where key <> 'secret'` : sql``;
    const r = await sql<{ any: boolean }>`select exists(select 1 from ${sql.id(t.name)} ${where}) as any`.execute(db);
    if (r.rows[0].any) out.push(t.name);
  }
  return out;
}

async function tablesWithRows(db: Kysely<any>, tables: TableInfo[]): Promise<string[]> {
  const out: string[] = [];
  for (const t of tables) {
    const r = await sql<{ any: boolean }>`select exists(select 1 from ${sql.id(t.name)}) as any`.execute(db);
    if (r.rows[0].any) out.push(t.name);
  }
  return out;
}

/** Tables with triggers of their own (not the ones PostgreSQL makes for foreign keys). */
async function tablesWithUserTriggers(db: Kysely<any>): Promise<string[]> {
  const r = await sql<{ name: string }>`
    select distinct c.relname as name from pg_trigger tg
    join pg_class c on c.oid = tg.tgrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and not tg.tgisinternal order by c.relname`.execute(db);
  return r.rows.map((x) => x.name).filter((name) => !isBookkeeping(name));
}

function readLines(file: string): AsyncIterable<string> {
  const input = fs.createReadStream(file).pipe(zlib.createGunzip());
  return readline.createInterface({ input, crlfDelay: Infinity });
}

const BATCH_ROWS = 500;
const BATCH_CHARS = 8 * 1024 * 1024;

/**
 * Loads a dump into this database, which must be freshly migrated and empty. One transaction:
 * a dump that fails half-way leaves the database as empty as it was.
 */
export async function restore(services: Services, file: string, progress: Progress = silent): Promise<BackupHeader> {
  if (!fs.existsSync(file)) throw new RestoreError(`No such file: ${file}`);
  const lines = readLines(file)[Symbol.asyncIterator]();
  let first: IteratorResult<string>;
  try {
    first = await lines.next();
  } catch (err) {
    throw new RestoreError(`${file} is not a Cabildo backup (${(err as Error).message})`);
  }
  let header: BackupHeader;
  try {
    header = JSON.parse(first.done ? '' : first.value);
  } catch {
    throw new RestoreError(`${file} is not a Cabildo backup`);
  }
  if (header?.format !== BACKUP_FORMAT) throw new RestoreError(`${file} is not a Cabildo backup`);
  if (header.version > BACKUP_VERSION) throw new RestoreError(`${file} was written by a newer Cabildo (backup format ${header.version}); upgrade first`);

  const db = services.db;
  const target = await migrationState(db);
  const unknown = Object.entries(header.migrations).flatMap(([set, names]) => names.filter((n) => !(target[set] ?? []).includes(n)).map((n) => `${set}/${n}`));
  if (unknown.length) throw new RestoreError(`The backup has migrations this Cabildo does not know (${unknown.join(', ')}); restore it with the version that wrote it`);

  const tables = await listTables(db);
  const byName = new Map(tables.map((t) => [t.name, t]));
  const busy = await coreTablesInUse(db, tables);
  if (busy.length) {
    throw new RestoreError(`Refusing to restore into a database that already holds data (tables: ${busy.join(', ')}). Restore into an empty database: a new DATA_DIR, or a new PostgreSQL database in DATABASE_URL.`);
  }
  const missing = header.tables.filter((t) => t.rows > 0 && !byName.has(t.name)).map((t) => t.name);
  if (missing.length) throw new RestoreError(`The backup has rows for tables this Cabildo does not have: ${missing.join(', ')}`);

  const filesDir = path.join(services.config.dataDir, 'files');
  // Files go to a staging folder and move into place only once the rows have committed.
  const staging = path.join(services.config.dataDir, `files.restore-${process.pid}`);
  await fsp.rm(staging, { recursive: true, force: true });
  progress.start(header.tables.reduce((s, t) => s + t.rows, 0) + header.files);
  const stagedFiles: string[] = [];
  try {
    await db.transaction().execute(async (trx) => {
      const { order, deferred } = dependencyOrder(
        tables.map((t) => t.name),
        await listForeignKeys(trx),
      );
      const relaxed = deferred.filter((fk) => !fk.deferrable);
      for (const fk of relaxed) await sql`alter table ${sql.id(fk.table)} alter constraint ${sql.id(fk.name)} deferrable initially deferred`.execute(trx);
      // The rows are restored as they were: triggers (counters, search columns) must not rewrite them.
      const triggered = await tablesWithUserTriggers(trx);
      for (const t of triggered) await sql`alter table ${sql.id(t)} disable trigger user`.execute(trx);
      // What the target's migrations and start-up wrote is replaced by the backup's rows.
      await sql`delete from settings where key = 'secret'`.execute(trx);
      const seeded = new Set((await tablesWithRows(trx, tables)).filter((name) => !(name in CORE_TABLES)));
      for (const name of [...order].reverse()) if (seeded.has(name)) await sql`delete from ${sql.id(name)}`.execute(trx);

      let table: TableInfo | undefined;
      let columns: ColumnInfo[] = [];
      let batch: string[] = [];
      let batchChars = 0;
      const restored = new Map<string, number>();
      const flush = async () => {
        if (!table || batch.length === 0) return;
        const values = columns.map((c) => (c.bytea ? sql`decode(_e->>${sql.lit(c.name)}, 'base64')` : sql`_r.${sql.id(c.name)}`));
        await sql`
          insert into ${sql.id(table.name)} (${sql.join(columns.map((c) => sql.id(c.name)))}) overriding system value
          select ${sql.join(values)} from jsonb_array_elements(${`[${batch.join(',')}]`}::jsonb) as _e,
            jsonb_populate_record(null::${sql.id(table.name)}, _e) as _r`.execute(trx);
        restored.set(table.name, (restored.get(table.name) ?? 0) + batch.length);
        progress.tick(batch.length);
        batch = [];
        batchChars = 0;
      };
      let ended = false;
      for (;;) {
        const next = await lines.next();
        if (next.done) break;
        const line = next.value;
        if (!line) continue;
        if (line.startsWith('{"table":')) {
          await flush();
          const name = (JSON.parse(line) as { table: string }).table;
          table = byName.get(name);
          const dumped = new Set(header.tables.find((t) => t.name === name)?.columns ?? []);
          // Columns added by later migrations keep their defaults.
          columns = table ? table.columns.filter((c) => !c.generated && dumped.has(c.name)) : [];
          continue;
        }
        if (line.startsWith('{"file":')) {
          await flush();
          table = undefined;
          const f = JSON.parse(line) as { file: string; data: string };
          if (f.file.split('/').some((part) => part === '..' || part === '') || path.isAbsolute(f.file)) throw new RestoreError(`Bad file path in backup: ${f.file}`);
          const dest = path.join(staging, f.file);
          await fsp.mkdir(path.dirname(dest), { recursive: true });
          await fsp.writeFile(dest, Buffer.from(f.data, 'base64'));
          stagedFiles.push(f.file);
          progress.tick();
          continue;
        }
        if (line === '{"end":true}' || line.startsWith('{"end":')) {
          await flush();
          ended = true;
          break;
        }
        if (!table) continue; // rows of a table without rows to keep (checked above)
        batch.push(line);
        batchChars += line.length;
        if (batch.length >= BATCH_ROWS || batchChars >= BATCH_CHARS) await flush();
      }
      if (!ended) throw new RestoreError(`${file} is incomplete (it has no end marker): nothing was restored`);
      for (const t of header.tables) {
        if (byName.has(t.name) && (restored.get(t.name) ?? 0) !== t.rows) {
          throw new RestoreError(`Table ${t.name}: the backup announces ${t.rows} rows but holds ${restored.get(t.name) ?? 0}; nothing was restored`);
        }
      }
      if (stagedFiles.length !== header.files) throw new RestoreError(`The backup announces ${header.files} files but holds ${stagedFiles.length}; nothing was restored`);

      // Deferred checks run now: ALTER TABLE refuses a table with checks still pending.
      await sql`set constraints all immediate`.execute(trx);
      for (const t of triggered) await sql`alter table ${sql.id(t)} enable trigger user`.execute(trx);
      if (relaxed.length) {
        for (const fk of relaxed) await sql`alter table ${sql.id(fk.table)} alter constraint ${sql.id(fk.name)} not deferrable`.execute(trx);
      }
      // Identity and serial columns continue after the highest restored id.
      for (const t of tables) {
        for (const c of t.columns) {
          const seq = await sql<{ seq: string | null }>`select pg_get_serial_sequence(${`public.${quoteIdent(t.name)}`}, ${c.name}) as seq`.execute(trx);
          const s = seq.rows[0]?.seq;
          if (!s) continue;
          await sql`select setval(${s}::regclass, coalesce((select max(${sql.id(c.name)}) from ${sql.id(t.name)}), 0) + 1, false)`.execute(trx);
        }
      }
    });
  } catch (err) {
    await fsp.rm(staging, { recursive: true, force: true });
    progress.stop();
    throw err;
  }
  for (const rel of stagedFiles) {
    const dest = path.join(filesDir, rel);
    await fsp.mkdir(path.dirname(dest), { recursive: true });
    await fsp.rename(path.join(staging, rel), dest);
  }
  await fsp.rm(staging, { recursive: true, force: true });
  progress.stop();
  return header;
}

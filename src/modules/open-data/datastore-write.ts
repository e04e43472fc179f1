import { sql, type Kysely } from 'kysely';
import type { Services } from '../../core/services';
import { odDb, datastoreInfo, type OdDb } from './store';
import { tableRef, readerRoleUsable, dropDatastore, indexFullText, qi } from './datastore';
import { CKAN_TYPE, SQL_TYPE, cellProblem, columnTypeFromCkan, numberText, type ColumnType } from './domain/tabular';
import { DATASTORE_READER } from './migrations/0001_open_data';
import type { DictionaryField } from './tables';

/**
 * CKAN's DataStore write actions (datastore_create, datastore_upsert, datastore_delete) on the
 * tables the loader builds. Each runs in one transaction: an invalid record leaves the table,
 * its dictionary and its row count as they were.
 */
export class DatastoreWriteError extends Error {
  constructor(readonly fields: Record<string, string[]>) {
    super(Object.entries(fields).map(([k, v]) => `${k}: ${v.join('; ')}`).join(', '));
  }
}

const FIELD_NAME = /^[^_"][^"]{0,62}$/;

function list(v: unknown): string[] {
  if (v == null || v === '') return [];
  if (Array.isArray(v)) return v.map(String);
  return String(v)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function records(v: unknown): Array<Record<string, unknown>> {
  if (v == null) return [];
  if (!Array.isArray(v) || v.some((r) => typeof r !== 'object' || r === null || Array.isArray(r))) throw new DatastoreWriteError({ records: ['Must be a list of dictionaries'] });
  return v as Array<Record<string, unknown>>;
}

/** A record's value as the text PostgreSQL casts to the column's type (null stays null). */
function cellText(v: unknown): string | null {
  if (v == null) return null;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function guessType(v: unknown): ColumnType {
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'numeric';
  return 'text';
}

interface Column {
  id: string;
  type: ColumnType;
}

function columnsOf(fields: DictionaryField[]): Map<string, Column> {
  return new Map(fields.map((f) => [f.id, { id: f.id, type: columnTypeFromCkan(f.type) ?? 'text' }]));
}

/** Checks every record against the columns before anything is written; CKAN's messages. */
function checkRecords(rows: Array<Record<string, unknown>>, columns: Map<string, Column>, allowId: boolean) {
  rows.forEach((r, n) => {
    const extra = Object.keys(r).filter((k) => !columns.has(k) && !(allowId && k === '_id'));
    if (extra.length) throw new DatastoreWriteError({ records: [`row "${n + 1}" has extra keys "${extra.join(', ')}"`] });
    for (const [k, v] of Object.entries(r)) {
      if (k === '_id') {
        if (!Number.isInteger(Number(v))) throw new DatastoreWriteError({ records: [`row "${n + 1}": _id must be an integer`] });
        continue;
      }
      const text = cellText(v);
      const problem = text == null ? null : cellProblem(columns.get(k)!.type, text);
      if (problem) throw new DatastoreWriteError({ records: [`row "${n + 1}": field "${k}": ${problem}`] });
    }
  });
}

const typedText = (c: Column, v: unknown) => {
  const text = cellText(v);
  return text != null && c.type === 'numeric' ? numberText(text.trim()) : text;
};

type Row = Record<string, unknown>;

/**
 * A key value as the column holds it, so that `1`, `"+1"`, `" 1"` and `"1.0"` are one key: two
 * spellings of one row in a run would meet in one statement (ON CONFLICT refuses that, UPDATE … FROM
 * would keep the first), where one by one the later wins.
 */
function keyValue(c: Column, v: unknown): string | null {
  const text = typedText(c, v);
  if (text == null) return null;
  const t = text.trim();
  if (c.type === 'int' || c.type === 'numeric') return String(Number(t));
  if (c.type === 'bool') return t.toLowerCase();
  if (c.type === 'date' || c.type === 'timestamp') return Number.isNaN(Date.parse(t)) ? t : new Date(t.replace(' ', 'T')).toISOString();
  return text;
}

/**
 * Records as a set: one text array per column, unnested and cast to the column's type in SQL.
 * A write of any number of records is one statement of a few parameters.
 */
function recordSet(rows: Row[], keys: string[], columns: Map<string, Column>, withId = false) {
  const names = [...(withId ? ['_id'] : []), ...keys];
  const arrays = names.map((k) => sql`${rows.map((r) => (k === '_id' ? String(Number(r._id)) : typedText(columns.get(k)!, r[k])))}::text[]`);
  const alias = names.map((_, i) => `c${i}`);
  const from = sql`unnest(${sql.join(arrays)}) as u(${sql.raw(alias.join(', '))})`;
  const cell = (k: string) => {
    const i = names.indexOf(k);
    return sql`u.${sql.raw(alias[i])}::${sql.raw(k === '_id' ? 'integer' : SQL_TYPE[columns.get(k)!.type])}`;
  };
  return { from, cell };
}

async function insertRows(trx: Kysely<unknown>, resourceId: string, rows: Row[], columns: Map<string, Column>) {
  const table = sql.raw(tableRef(resourceId));
  for (const run of runs(rows, () => null)) {
    const keys = Object.keys(run[0]).filter((k) => k !== '_id');
    if (!keys.length) {
      for (let n = 0; n < run.length; n++) await sql`insert into ${table} default values`.execute(trx);
      continue;
    }
    const set = recordSet(run, keys, columns);
    await sql`insert into ${table} (${sql.join(keys.map((k) => sql.id(k)))}) select ${sql.join(keys.map(set.cell))} from ${set.from}`.execute(trx);
  }
}

/**
 * Consecutive records that can go in one statement: the same fields, matched the same way, and
 * no match key twice (a later record must see the earlier one's write, as one by one would).
 */
function runs(rows: Row[], matchKey: (r: Row) => string | null): Row[][] {
  const out: Row[][] = [];
  let current: Row[] = [];
  let shape = '';
  let seen = new Set<string>();
  for (const r of rows) {
    const s = `${r._id != null}|${Object.keys(r).filter((k) => k !== '_id').sort().join('\u0000')}`;
    const m = matchKey(r);
    if (current.length && (s !== shape || (m != null && seen.has(m)))) {
      out.push(current);
      current = [];
      seen = new Set();
    }
    shape = s;
    if (m != null) seen.add(m);
    current.push(r);
  }
  if (current.length) out.push(current);
  return out;
}

function pgError(err: unknown): never {
  const e = err as { code?: string; message?: string; detail?: string };
  // 21000: one statement met a row twice, a key spelled in ways the grouping did not foresee.
  if (e.code && (/^(22|23)/.test(e.code) || e.code === '21000')) throw new DatastoreWriteError({ records: [[e.message, e.detail].filter(Boolean).join(': ')] });
  throw err;
}

async function saveInfo(trx: OdDb, resourceId: string, fields: DictionaryField[], rowDelta: number, primaryKey?: string[]) {
  const json = JSON.stringify(fields);
  await trx
    .insertInto('od_datastore')
    // A table datastore_create makes has its _full_text from the start.
    .values({ resource_id: resourceId, fields: json, row_count: Math.max(0, rowDelta), encoding: '', delimiter: '', loaded_at: new Date(), primary_key: primaryKey ?? [], full_text: true })
    .onConflict((oc) =>
      oc.column('resource_id').doUpdateSet((eb) => ({
        fields: eb.ref('excluded.fields'),
        row_count: sql`greatest(0, od_datastore.row_count + ${rowDelta})`,
        loaded_at: eb.ref('excluded.loaded_at'),
        ...(primaryKey ? { primary_key: eb.ref('excluded.primary_key') } : {}),
      })),
    )
    .execute();
  await trx.updateTable('od_resources').set({ datastore_active: true, fields: json }).where('id', '=', resourceId).execute();
}

export interface CreateInput {
  fields?: unknown;
  records?: unknown;
  primary_key?: unknown;
  indexes?: unknown;
}

/** datastore_create: a new table (or new columns on an existing one), its keys and indexes, and records. */
export async function datastoreCreate(services: Services, resourceId: string, input: CreateInput) {
  const db = odDb(services);
  const rows = records(input.records);
  const existing = await datastoreInfo(db, resourceId);
  const fields: DictionaryField[] = existing ? [...existing.fields] : [];
  const given = input.fields == null ? [] : input.fields;
  if (!Array.isArray(given)) throw new DatastoreWriteError({ fields: ['Must be a list of dictionaries'] });
  const added: Column[] = [];
  const seen = new Set<string>();
  for (const raw of given as Array<Record<string, unknown>>) {
    const id = typeof raw?.id === 'string' ? raw.id : '';
    if (!FIELD_NAME.test(id)) throw new DatastoreWriteError({ fields: [`"${id}" is not a valid field name`] });
    if (seen.has(id)) throw new DatastoreWriteError({ fields: [`duplicate key "${id}"`] });
    seen.add(id);
    const type = raw.type == null || raw.type === '' ? guessType(rows.find((r) => r[id] != null)?.[id]) : columnTypeFromCkan(String(raw.type));
    if (!type) throw new DatastoreWriteError({ fields: [`"${String(raw.type)}" is not a valid field type`] });
    const info = (raw.info && typeof raw.info === 'object' ? raw.info : {}) as DictionaryField['info'];
    const prior = fields.find((f) => f.id === id);
    if (prior) {
      if ((columnTypeFromCkan(prior.type) ?? 'text') !== type) throw new DatastoreWriteError({ fields: [`field "${id}" already exists with type ${prior.type}`] });
      if (raw.info) prior.info = info;
      continue;
    }
    fields.push({ id, type: CKAN_TYPE[type], info });
    added.push({ id, type });
  }
  if (!fields.length) throw new DatastoreWriteError({ fields: ['a new table needs at least one field'] });
  const columns = columnsOf(fields);
  const primaryKey = input.primary_key === undefined ? undefined : list(input.primary_key);
  const indexes = list(input.indexes);
  for (const k of [...(primaryKey ?? []), ...indexes]) if (!columns.has(k)) throw new DatastoreWriteError({ [primaryKey?.includes(k) ? 'primary_key' : 'indexes']: [`field "${k}" not in the table`] });
  checkRecords(rows, columns, false);
  const grant = !existing && (await readerRoleUsable(db)) ? `grant select on ${tableRef(resourceId)} to ${DATASTORE_READER}` : null;
  await db
    .transaction()
    .execute(async (trx) => {
      const table = tableRef(resourceId);
      if (!existing) {
        await sql.raw(`drop table if exists ${table}`).execute(trx);
        await sql.raw(`create table ${table} ("_id" integer generated by default as identity primary key${added.map((c) => `, ${qi(c.id)} ${SQL_TYPE[c.type]}`).join('')}, "_full_text" tsvector)`).execute(trx);
        await indexFullText((statement) => sql.raw(statement).execute(trx), resourceId);
        if (grant) await sql.raw(grant).execute(trx);
      } else for (const c of added) await sql.raw(`alter table ${table} add column ${qi(c.id)} ${SQL_TYPE[c.type]}`).execute(trx);
      const pkIndex = qi(`${resourceId.slice(0, 40)}_pk`);
      if (primaryKey) {
        await sql.raw(`drop index if exists datastore.${pkIndex}`).execute(trx);
        if (primaryKey.length) await sql.raw(`create unique index ${pkIndex} on ${table} (${primaryKey.map(qi).join(', ')})`).execute(trx);
      }
      for (const c of indexes) await sql.raw(`create index if not exists ${qi(`${resourceId.slice(0, 40)}_${c.slice(0, 20)}`)} on ${table} (${qi(c)})`).execute(trx);
      await insertRows(trx as unknown as Kysely<unknown>, resourceId, rows, columns).catch(pgError);
      await saveInfo(trx, resourceId, fields, rows.length, primaryKey);
    })
    .catch(pgError);
  const info = (await datastoreInfo(db, resourceId))!;
  return { fields: info.fields, primaryKey: info.primary_key, indexes, inserted: rows.length };
}

export type UpsertMethod = 'upsert' | 'insert' | 'update';

/** datastore_upsert: insert, update (by primary key or _id) or both, in one transaction, a statement per run of like records. */
export async function datastoreUpsert(services: Services, resourceId: string, input: { records?: unknown; method?: unknown }) {
  const db = odDb(services);
  const method = (input.method == null || input.method === '' ? 'upsert' : String(input.method)) as UpsertMethod;
  if (!['upsert', 'insert', 'update'].includes(method)) throw new DatastoreWriteError({ method: [`"${method}" is not a valid method (upsert, insert or update)`] });
  const info = await datastoreInfo(db, resourceId);
  if (!info) throw new DatastoreWriteError({ resource_id: [`Resource "${resourceId}" was not found in the DataStore`] });
  const rows = records(input.records);
  const columns = columnsOf(info.fields);
  checkRecords(rows, columns, method !== 'insert');
  const key = info.primary_key;
  const table = sql.raw(tableRef(resourceId));
  for (const r of rows) {
    if (method === 'insert' || r._id != null) continue;
    if (!key.length) throw new DatastoreWriteError({ key: ['table does not have a unique key defined'] });
    const missing = key.filter((k) => r[k] == null);
    if (missing.length) throw new DatastoreWriteError({ key: [`fields "${missing.join(', ')}" are missing but needed as key`] });
  }
  let delta = 0;
  const matchKey = (r: Row) => (r._id != null ? `_id:${Number(r._id)}` : JSON.stringify(key.map((k) => keyValue(columns.get(k)!, r[k]))));
  await db
    .transaction()
    .execute(async (trx) => {
      if (method === 'insert') {
        await insertRows(trx as unknown as Kysely<unknown>, resourceId, rows, columns);
        delta = rows.length;
      } else {
        for (const run of runs(rows, matchKey)) {
          const byId = run[0]._id != null;
          const keys = Object.keys(run[0]).filter((k) => k !== '_id');
          const match = byId ? ['_id'] : key;
          const set = recordSet(run, keys, columns, byId);
          const cond = sql.join(
            match.map((k) => sql`t.${sql.id(k)} = ${set.cell(k)}`),
            sql` and `,
          );
          if (method === 'update' || byId) {
            // Every record must find its row: name the first that does not, as CKAN does.
            const missing = await sql<Record<string, unknown>>`select ${sql.join(match.map((k) => sql`${set.cell(k)} as ${sql.id(k)}`))} from ${set.from} where not exists (select 1 from ${table} t where ${cond}) limit 1`.execute(trx);
            if (missing.rows.length) {
              const shown = byId ? String(missing.rows[0]._id) : JSON.stringify(key.map((k) => missing.rows[0][k]));
              throw new DatastoreWriteError({ key: [byId ? `_id "${shown}" not found` : `key "${shown}" not found`] });
            }
            const changed = keys.filter((k) => byId || !key.includes(k));
            if (changed.length) {
              await sql`update ${table} t set ${sql.join(changed.map((k) => sql`${sql.id(k)} = ${set.cell(k)}`))} from ${set.from} where ${cond}`.execute(trx);
            }
            continue;
          }
          // Upsert by primary key: PostgreSQL's ON CONFLICT on the key's unique index.
          const res = await sql<{ inserted: boolean }>`
            insert into ${table} (${sql.join(keys.map((k) => sql.id(k)))}) select ${sql.join(keys.map(set.cell))} from ${set.from}
            on conflict (${sql.join(key.map((k) => sql.id(k)))}) do update set ${sql.join(keys.map((k) => sql`${sql.id(k)} = excluded.${sql.id(k)}`))}
            returning (xmax = 0) as inserted`.execute(trx);
          delta += res.rows.filter((r) => r.inserted).length;
        }
      }
      await saveInfo(trx, resourceId, info.fields, delta);
    })
    .catch(pgError);
  return { method, records: rows };
}

/** datastore_delete: rows matching `filters`, or the whole table when no filters are given. */
export async function datastoreDelete(services: Services, resourceId: string, filters: unknown) {
  const db = odDb(services);
  const info = await datastoreInfo(db, resourceId);
  if (!info) throw new DatastoreWriteError({ resource_id: [`Resource "${resourceId}" was not found in the DataStore`] });
  if (filters === undefined) {
    await dropDatastore(db, resourceId);
    return { dropped: true, deleted: info.row_count };
  }
  if (typeof filters !== 'object' || filters === null || Array.isArray(filters)) throw new DatastoreWriteError({ filters: ['Must be a JSON object'] });
  const columns = columnsOf(info.fields);
  columns.set('_id', { id: '_id', type: 'int' });
  const where = Object.entries(filters as Record<string, unknown>).map(([k, raw]) => {
    const c = columns.get(k);
    if (!c) throw new DatastoreWriteError({ filters: [`field "${k}" not in the table`] });
    const values = Array.isArray(raw) ? raw : [raw];
    for (const v of values) {
      const problem = v == null ? null : cellProblem(c.type, String(v));
      if (problem) throw new DatastoreWriteError({ filters: [`field "${k}": ${problem}`] });
    }
    return sql`${sql.id(k)} = any(${values.map((v) => typedText(c, v))}::${sql.raw(SQL_TYPE[c.type])}[])`;
  });
  let deleted = 0;
  await db.transaction().execute(async (trx) => {
    const res = await sql`delete from ${sql.raw(tableRef(resourceId))} ${where.length ? sql`where ${sql.join(where, sql` and `)}` : sql``}`.execute(trx);
    deleted = Number(res.numAffectedRows ?? 0);
    await saveInfo(trx, resourceId, info.fields, -deleted);
  });
  return { dropped: false, deleted };
}

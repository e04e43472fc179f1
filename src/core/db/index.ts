import fs from 'node:fs';
import path from 'node:path';
import { Kysely, Migrator, PostgresDialect, type Migration, type MigrationProvider } from 'kysely';
import pg from 'pg';
import type { PGlite } from '@electric-sql/pglite';
import type { CoreTables } from './schema';
import * as core0001 from './migrations/0001_core';
import * as core0002 from './migrations/0002_office_roles';

export type Engine = 'pglite' | 'postgres';
export type Db = Kysely<CoreTables>;

export interface Database {
  db: Db;
  engine: Engine;
  /** Only for PGlite: the embedded instance (backup/restore use its dump). */
  pglite?: PGlite;
  /** Only for PostgreSQL: the pool, for COPY and LISTEN. */
  pool?: pg.Pool;
  close(): Promise<void>;
}

// Both engines return bigint (int8) and numeric as strings by default; counts and sums are
// small enough for JS numbers, and one type on both engines keeps the code honest.
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

export interface OpenOptions {
  databaseUrl?: string;
  /** Directory for PGlite's files; 'memory://' for an in-memory database. */
  dataDir?: string;
  /** A PGlite dump (tarball) to start from: the tests use one to skip migrations. */
  loadDataDir?: Blob;
  poolSize?: number;
}

export async function openDatabase(opts: OpenOptions): Promise<Database> {
  if (opts.databaseUrl) {
    const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: opts.poolSize ?? 10 });
    // An idle connection the server drops (restart, failover) must not crash the process: the
    // pool discards it and the next query opens a new one.
    pool.on('error', (err) => process.emitWarning(`PostgreSQL connection lost: ${err.message}`));
    // Fail at start-up with a clear message rather than on the first request.
    const client = await pool.connect().catch((err: Error) => {
      throw new Error(`Cannot connect to DATABASE_URL: ${err.message}`);
    });
    client.release();
    const db = new Kysely<CoreTables>({ dialect: new PostgresDialect({ pool }) });
    return { db, engine: 'postgres', pool, close: () => db.destroy() };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const { unaccent } = await import('@electric-sql/pglite/contrib/unaccent');
  const { pg_trgm } = await import('@electric-sql/pglite/contrib/pg_trgm');
  const { createPgConfig } = await import('@electric-sql/pglite/node-postgres');
  let dataDir = opts.dataDir ?? 'memory://';
  if (!dataDir.startsWith('memory://')) {
    dataDir = path.join(dataDir, 'pglite');
    fs.mkdirSync(dataDir, { recursive: true });
  }
  const pglite = await PGlite.create({ dataDir, extensions: { unaccent, pg_trgm }, loadDataDir: opts.loadDataDir });
  const pool = new pg.Pool(createPgConfig(pglite) as unknown as pg.PoolConfig);
  const db = new Kysely<CoreTables>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    engine: 'pglite',
    pglite,
    close: async () => {
      await db.destroy();
      await pglite.close();
    },
  };
}

/** A set of migrations that belong together, kept in their own bookkeeping table. */
export interface MigrationSet {
  name: string;
  migrations: Record<string, Migration>;
}

export const coreMigrations: MigrationSet = { name: 'core', migrations: { '0001_core': core0001, '0002_office_roles': core0002 } };

class StaticProvider implements MigrationProvider {
  constructor(private readonly migrations: Record<string, Migration>) {}
  async getMigrations() {
    return this.migrations;
  }
}

/** Runs core's migrations, then each module's, each set tracked in its own table. */
export async function migrate(db: Kysely<any>, sets: MigrationSet[]): Promise<string[]> {
  const applied: string[] = [];
  for (const set of sets) {
    const table = `migrations_${set.name.replace(/[^a-z0-9]/gi, '_')}`;
    const migrator = new Migrator({
      db,
      provider: new StaticProvider(set.migrations),
      migrationTableName: table,
      migrationLockTableName: `${table}_lock`,
    });
    const { error, results } = await migrator.migrateToLatest();
    for (const r of results ?? []) {
      if (r.status === 'Success') applied.push(`${set.name}/${r.migrationName}`);
      if (r.status === 'Error') throw new Error(`Migration ${set.name}/${r.migrationName} failed: ${String(error)}`);
    }
    if (error) throw error instanceof Error ? error : new Error(String(error));
  }
  return applied;
}

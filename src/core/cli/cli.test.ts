import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import argon2 from 'argon2';
import { sql } from 'kysely';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { createTestApp, createUser, testEngine, type TestContext } from '../testing/harness';
import { loadConfig } from '../../config';
import { createServices } from '../services';
import { openDatabase, type Db } from '../db';
import { userFromApiToken } from '../auth/session';
import { runCabildo } from './spawn';

/**
 * create-admin and token create as an operator runs them, in a child process pointed at the
 * test's database: DATABASE_URL on PostgreSQL, the DATA_DIR of a closed PGlite otherwise.
 */
let t: TestContext | undefined;
let env: Record<string, string>;
let liteDir: string | undefined;

before(async () => {
  if (testEngine === 'postgres') {
    t = await createTestApp();
    await createUser(t.services, { email: 'funcionaria@cabildo.test', roles: ['official'] });
    env = { DATABASE_URL: t.databaseUrl!, DATA_DIR: t.config.dataDir };
  } else {
    // PGlite is one process: the test prepares its DATA_DIR, closes it, then the CLI opens it.
    liteDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cabildo-cli-'));
    const services = await createServices(loadConfig({ SEED: 'none', DATA_DIR: liteDir }, { logLevel: 'silent' }), { modules: [] });
    await createUser(services, { email: 'funcionaria@cabildo.test', roles: ['official'] });
    await services.close();
    env = { DATA_DIR: liteDir };
  }
});
after(async () => {
  await t?.close();
  if (liteDir) fs.rmSync(liteDir, { recursive: true, force: true });
});

/** The database the commands wrote to, opened once they have exited. */
async function withDb<T>(fn: (db: Db) => Promise<T>): Promise<T> {
  if (t) return fn(t.services.db);
  const database = await openDatabase({ dataDir: env.DATA_DIR });
  try {
    return await fn(database.db);
  } finally {
    await database.close();
  }
}

test('create-admin prints a password for a new administrator (argon2id) and promotes an existing account', async () => {
  const created = await runCabildo(['create-admin', 'Admin@Cabildo.test', '--name', 'Administradora'], env);
  assert.equal(created.code, 0, created.stderr);
  const password = /Password[^:]*: (\S+)/.exec(created.stdout)?.[1];
  assert.ok(password, created.stdout);
  const promoted = await runCabildo(['create-admin', 'funcionaria@cabildo.test'], env);
  assert.equal(promoted.code, 0, promoted.stderr);
  assert.doesNotMatch(promoted.stdout, /Password/);

  const token = await runCabildo(['token', 'create', '--email', 'admin@cabildo.test', '--name', 'harvester'], env);
  assert.equal(token.code, 0, token.stderr);
  const last = token.stdout.trim().split('\n').at(-1)!;
  assert.match(last, /^cab_[A-Za-z0-9_-]{32}$/);

  await withDb(async (db) => {
    const admin = await db.selectFrom('users').selectAll().where('email', '=', 'admin@cabildo.test').executeTakeFirstOrThrow();
    assert.deepEqual(admin.roles, ['admin']);
    assert.equal(admin.name, 'Administradora');
    assert.ok(admin.email_confirmed_at);
    assert.match(admin.password_hash!, /^\$argon2id\$/);
    assert.ok(await argon2.verify(admin.password_hash!, password!));
    const official = await db.selectFrom('users').select('roles').where('email', '=', 'funcionaria@cabildo.test').executeTakeFirstOrThrow();
    assert.deepEqual(official.roles, ['official', 'admin']);
    const viaToken = await userFromApiToken(db, last);
    assert.equal(viaToken?.email, 'admin@cabildo.test');
    const stored = await db.selectFrom('api_tokens').select(['name', 'token_hash']).executeTakeFirstOrThrow();
    assert.equal(stored.name, 'harvester');
    assert.notEqual(stored.token_hash, last, 'only the hash is stored');
    const audit = await db.selectFrom('audit_log').select('action').where(sql<boolean>`details @> ${JSON.stringify({ via: 'cli' })}::jsonb`).execute();
    assert.deepEqual(audit.map((a) => a.action).sort(), ['api_token.create', 'user.create', 'user.roles']);
  });
});

test('token create for an unknown account fails with a clear message', async () => {
  const noUser = await runCabildo(['token', 'create', '--email', 'nadie@cabildo.test'], env);
  assert.equal(noUser.code, 1);
  assert.match(noUser.stderr, /No active account with email nadie@cabildo\.test/);
});

test('restore into a database that holds data is refused with a clear message and exit code 1', async () => {
  const dump = path.join(os.tmpdir(), `cabildo-empty-${process.pid}.gz`);
  const header = { format: 'cabildo-backup', version: 1, createdAt: new Date().toISOString(), engine: 'pglite', migrations: {}, tables: [], files: 0 };
  fs.writeFileSync(dump, zlib.gzipSync(`${JSON.stringify(header)}\n{"end":true}\n`));
  try {
    const r = await runCabildo(['restore', dump], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Restore refused: Refusing to restore into a database that already holds data \(tables: .*users/m);
  } finally {
    fs.rmSync(dump, { force: true });
  }
});

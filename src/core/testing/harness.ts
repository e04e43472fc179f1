import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { loadConfig, type Config } from '../../config';
import { createServices, type Services } from '../services';
import { openDatabase, type Database } from '../db';
import { createSession, SESSION_COOKIE } from '../auth/session';
import type { ModuleManifest } from '../manifest';
import type { Role } from '../db/schema';
import { buildApp } from '../../app';

/** The tests run on PGlite by default and on PostgreSQL with TEST_DATABASE=postgres. */
export const testEngine = process.env.TEST_DATABASE === 'postgres' ? 'postgres' : 'pglite';
export const ADMIN_PG_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * A PGlite data directory with core's migrations applied (modules' run per test: they change
 * while modules are being built, core's rarely), made once and shared by all test files
 * (as a tarball under tmp/): starting from it takes a second or two instead of initdb plus migrations.
 * Its name carries a hash of the migrations' sources, so a changed migration makes a new one.
 */
async function pgliteTemplate(): Promise<Blob> {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else files.push(p);
    }
  };
  walk(path.resolve('src/core/db/migrations'));
  const hash = crypto.createHash('sha256');
  for (const f of files.sort()) hash.update(f).update(fs.readFileSync(f));
  const file = path.resolve('tmp', `pglite-template-${hash.digest('hex').slice(0, 16)}.tar.gz`);
  if (!fs.existsSync(file)) {
    const { migrate, coreMigrations } = await import('../db');
    const database = await openDatabase({ dataDir: 'memory://' });
    await migrate(database.db, [coreMigrations]);
    const dump = await database.pglite!.dumpDataDir('gzip');
    await database.close();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, Buffer.from(await dump.arrayBuffer()));
    fs.renameSync(tmp, file);
  }
  return new Blob([fs.readFileSync(file)]);
}

/** A fresh database on the chosen engine; close() drops it. */
export async function freshDatabase(): Promise<{ database: Database; url?: string; drop(): Promise<void> }> {
  if (testEngine === 'pglite') {
    const database = await openDatabase({ dataDir: 'memory://', loadDataDir: await pgliteTemplate() });
    return { database, drop: async () => {} };
  }
  const name = `cabildo_t_${Date.now().toString(36)}_${crypto.randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_PG_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(ADMIN_PG_URL);
  url.pathname = `/${name}`;
  const database = await openDatabase({ databaseUrl: url.toString(), poolSize: 5 });
  return {
    database,
    url: url.toString(),
    drop: async () => {
      const a = new pg.Client({ connectionString: ADMIN_PG_URL });
      await a.connect();
      await a.query(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}

export interface TestContext {
  services: Services;
  app: FastifyInstance;
  config: Config;
  /** The database URL on PostgreSQL (for tests that start a second process). */
  databaseUrl?: string;
  close(): Promise<void>;
}

/** Services and app on a fresh database, with the given modules (none by default). */
export async function createTestApp(opts: { modules?: ModuleManifest[]; config?: Partial<Config>; env?: NodeJS.ProcessEnv } = {}): Promise<TestContext> {
  const fresh = await freshDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cabildo-test-'));
  const config = loadConfig({ SEED: 'none', ...(opts.env ?? {}) }, { dataDir, testing: true, logLevel: 'silent', ...opts.config });
  if (fresh.url) config.databaseUrl = fresh.url;
  const services = await createServices(config, { modules: opts.modules ?? [], database: fresh.database });
  const app = await buildApp(services, { logger: false });
  await app.ready();
  return {
    services,
    app,
    config,
    databaseUrl: fresh.url,
    close: async () => {
      await app.close();
      await services.close();
      await fresh.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

let userCounter = 0;

/** Creates an account directly in the database (no sign-up flow). */
export async function createUser(
  services: Services,
  opts: { email?: string; roles?: Role[]; verified?: boolean; communeId?: number | null; officeIds?: number[]; officeAdminIds?: number[]; passwordHash?: string | null; name?: string } = {},
) {
  const email = opts.email ?? `user${++userCounter}.${crypto.randomBytes(3).toString('hex')}@test.cabildo`;
  const user = await services.db
    .insertInto('users')
    .values({
      email,
      name: opts.name ?? email.split('@')[0],
      password_hash: opts.passwordHash ?? null,
      roles: opts.roles ?? [],
      email_confirmed_at: new Date(),
      verified_at: opts.verified ? new Date() : null,
      commune_id: opts.communeId ?? null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  for (const officeId of opts.officeIds ?? []) {
    await services.db.insertInto('office_members').values({ office_id: officeId, user_id: user.id, role: opts.officeAdminIds?.includes(officeId) ? 'admin' : 'editor' }).execute();
  }
  return user;
}

export async function createOffice(services: Services, opts: { name?: string; slug?: string; kind?: 'ministry' | 'agency' | 'commune' | 'other' } = {}) {
  const slug = opts.slug ?? `office-${crypto.randomBytes(3).toString('hex')}`;
  return services.db
    .insertInto('offices')
    .values({ slug, name: opts.name ?? slug, kind: opts.kind ?? 'ministry', description: '' })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * A browser-like client over app.inject: keeps cookies, and finds the CSRF token in the last
 * page it loaded so that forms can be posted the way a browser posts them.
 */
export class TestClient {
  readonly cookies = new Map<string, string>();
  csrf = '';

  constructor(readonly app: FastifyInstance) {}

  async signInAs(services: Services, userId: number): Promise<this> {
    this.cookies.set(SESSION_COOKIE, await createSession(services.db, userId, {}));
    return this;
  }

  private cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(opts: InjectOptions): Promise<LightMyRequestResponse> {
    const res = await this.app.inject({ ...opts, headers: { cookie: this.cookieHeader(), ...(opts.headers ?? {}) } });
    for (const c of res.cookies as Array<{ name: string; value: string; maxAge?: number; expires?: Date }>) {
      const expired = c.maxAge === 0 || (c.expires && c.expires.getTime() < Date.now()) || c.value === '';
      if (expired) this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
    const m = /name="_csrf" value="([^"]+)"/.exec(res.body);
    if (m) this.csrf = m[1];
    return res;
  }

  get(url: string, headers: Record<string, string> = {}) {
    return this.request({ method: 'GET', url, headers });
  }

  /** Posts a form as a browser would: urlencoded, with the CSRF token of the last page seen. */
  async post(url: string, form: Record<string, string | string[] | number | undefined>, opts: { csrf?: boolean } = {}) {
    // A signed-in page carries a token (the sign-out form); for a visitor, the sign-in form does.
    if (opts.csrf !== false && !this.csrf) await this.get('/');
    if (opts.csrf !== false && !this.csrf) await this.get('/signin');
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) {
      if (v === undefined) continue;
      for (const item of Array.isArray(v) ? v : [v]) params.append(k, String(item));
    }
    if (opts.csrf !== false && !params.has('_csrf')) params.set('_csrf', this.csrf);
    return this.request({
      method: 'POST',
      url,
      payload: params.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  }
}

/** A multipart/form-data body as a browser sends it, for `app.inject` or TestClient.request. */
export function multipart(fields: Record<string, string>, files: Array<{ name: string; filename: string; type: string; data: Buffer }> = []) {
  const boundary = '----cabildo' + crypto.randomBytes(8).toString('hex');
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  for (const f of files) {
    parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${f.name}"; filename="${f.filename}"\r\ncontent-type: ${f.type}\r\n\r\n`), f.data, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

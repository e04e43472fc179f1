import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import argon2 from 'argon2';
import { createTestApp, createUser, testEngine, type TestContext } from '../testing/harness';

/**
 * Two app processes against one PostgreSQL, as behind a load balancer: a session started on
 * one works on the other, a job queued anywhere is run by a worker, and with REDIS_URL the
 * sign-in rate limit is counted across both.
 */
const BIN = path.resolve('bin/cabildo.mjs');
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const onPg = testEngine === 'postgres';
const SKIP = onPg ? false : 'several processes need PostgreSQL (PGlite is one process): run with --pg';

let t: TestContext;
const servers: Array<{ child: ChildProcess; port: number; base: string; output: string[] }> = [];
const email = `dos.procesos.${crypto.randomBytes(3).toString('hex')}@cabildo.test`;
const password = 'una clave larga y segura 2026';
let userId: number;

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function redisReachable(): Promise<boolean> {
  const u = new URL(REDIS_URL);
  return new Promise((resolve) => {
    const s = net.connect(Number(u.port || 6379), u.hostname);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

async function startServer(env: Record<string, string>) {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', SEED: 'none', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const server = { child, port, base: `http://127.0.0.1:${port}`, output: [] as string[] };
  child.stdout!.on('data', (d) => server.output.push(String(d)));
  child.stderr!.on('data', (d) => server.output.push(String(d)));
  servers.push(server);
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}): ${server.output.join('')}`);
    const ok = await fetch(`${server.base}/healthz`).then((r) => r.ok, () => false);
    if (ok) return server;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`server on ${port} did not start: ${server.output.join('')}`);
}

/** A cookie jar of one browser, which may talk to either process. */
class Browser {
  cookies = new Map<string, string>();
  async fetch(url: string, init: RequestInit = {}) {
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      this.cookies.set(pair.slice(0, i), pair.slice(i + 1));
    }
    return res;
  }
  async csrfFrom(url: string): Promise<string> {
    const html = await (await this.fetch(url)).text();
    const m = /name="_csrf" value="([^"]+)"/.exec(html);
    assert.ok(m, 'the page has a CSRF token');
    return m[1];
  }
  postForm(url: string, form: Record<string, string>) {
    return this.fetch(url, { method: 'POST', body: new URLSearchParams(form).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  }
}

let redis = false;

before(async () => {
  if (!onPg) return;
  t = await createTestApp();
  const user = await createUser(t.services, { email, name: 'Vecina de Dos Procesos', passwordHash: await argon2.hash(password, { type: argon2.argon2id }) });
  userId = user.id;
  redis = await redisReachable();
  const env = { DATABASE_URL: t.databaseUrl!, DATA_DIR: t.config.dataDir, ...(redis ? { REDIS_URL } : {}) };
  // One after the other: the first one runs the modules' migrations.
  await startServer(env);
  await startServer(env);
});

after(async () => {
  for (const s of servers) {
    if (s.child.exitCode === null) {
      s.child.kill('SIGTERM');
      const exited = await Promise.race([new Promise((r) => s.child.once('exit', r)), new Promise((r) => setTimeout(() => r('timeout'), 5000))]);
      if (exited === 'timeout') s.child.kill('SIGKILL');
    }
  }
  await t?.close();
});

test('a session started on process 1 works on process 2', { skip: SKIP }, async () => {
  const [one, two] = servers;
  const browser = new Browser();
  const csrf = await browser.csrfFrom(`${one.base}/signin`);
  const signin = await browser.postForm(`${one.base}/signin`, { _csrf: csrf, email, password, next: '/account' });
  assert.equal(signin.status, 303, await signin.text());
  assert.ok(browser.cookies.has('cabildo_sid'), 'session cookie set by process 1');

  const account = await browser.fetch(`${two.base}/account`);
  assert.equal(account.status, 200);
  assert.ok((await account.text()).includes(email), 'process 2 knows who is signed in');

  // Signing out on process 2 ends the session for process 1 too.
  const csrf2 = await browser.csrfFrom(`${two.base}/account`);
  const out = await browser.postForm(`${two.base}/signout`, { _csrf: csrf2 });
  assert.equal(out.status, 303);
  const again = await fetch(`${one.base}/account`, { redirect: 'manual', headers: { cookie: `cabildo_sid=${browser.cookies.get('cabildo_sid') || 'gone'}` } });
  assert.equal(again.status, 303);
});

test('a job queued elsewhere is run by a server process worker and its page is shared', { skip: SKIP }, async () => {
  const [one, two] = servers;
  const pids = servers.map((s) => s.child.pid);
  const id = await t.services.jobs.enqueue('mail.deliver', {}, { createdBy: userId });
  const deadline = Date.now() + 60_000;
  let job;
  while (Date.now() < deadline) {
    job = await t.services.db.selectFrom('jobs').select(['status', 'locked_by']).where('id', '=', id).executeTakeFirstOrThrow();
    if (job.status === 'done' || job.status === 'failed') break;
    await new Promise((r) => setTimeout(r, 300));
  }
  assert.equal(job?.status, 'done');
  const runner = Number(job!.locked_by!.split(':')[1]);
  assert.ok(pids.includes(runner), `run by a server (${job!.locked_by}), not by the test process ${process.pid}`);

  const browser = new Browser();
  const csrf = await browser.csrfFrom(`${two.base}/signin`);
  assert.equal((await browser.postForm(`${two.base}/signin`, { _csrf: csrf, email, password, next: '/' })).status, 303);
  const page = await browser.fetch(`${one.base}/jobs/${id}`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /value="100"/);
});

test('with REDIS_URL the sign-in limit is shared by both processes', { skip: SKIP }, async (ctx) => {
  if (!redis) return ctx.skip(`Redis is not reachable at ${REDIS_URL}`);
  const [one, two] = servers;
  const browser = new Browser();
  const csrf = await browser.csrfFrom(`${one.base}/signin`);
  const target = `nadie.${crypto.randomBytes(3).toString('hex')}@cabildo.test`;
  const attempt = (s: { base: string }) => browser.postForm(`${s.base}/signin`, { _csrf: csrf, email: target, password: 'mal' });
  // The limit is 10 a minute per address and account: 6 here and 4 there use it up…
  for (let i = 0; i < 6; i++) assert.equal((await attempt(one)).status, 401);
  for (let i = 0; i < 4; i++) assert.equal((await attempt(two)).status, 401);
  // …so process 2, which alone saw only 4, refuses the 11th.
  assert.equal((await attempt(two)).status, 429);
  assert.equal((await attempt(one)).status, 429);
});

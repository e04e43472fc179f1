import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestApp, createUser, TestClient, type TestContext } from '../testing/harness';
import { sql } from 'kysely';
import { runJobWithProgressBar } from '../cli/progress';

let t: TestContext;
let owner: { id: number };
let other: { id: number };
let admin: { id: number };
/** Lets a test hold a running job half-way, to look at its page while it runs. */
let release: () => void = () => {};
let reachedHalf: Promise<void>;
let signalHalf: () => void = () => {};

before(async () => {
  t = await createTestApp();
  owner = await createUser(t.services);
  other = await createUser(t.services);
  admin = await createUser(t.services, { roles: ['admin'] });
  t.services.jobs.register(
    {
      'test.import': async (ctx) => {
        await ctx.progress(0.25, 'Leídas 250 de 1000 filas');
        await ctx.progress(0.5, 'Leídas 500 de 1000 filas');
        signalHalf();
        await new Promise<void>((resolve) => (release = resolve));
        await ctx.progress(1, 'Listo: 1000 filas');
        return { rows: 1000 };
      },
      'test.broken': async (ctx) => {
        await ctx.progress(0.1, 'Empezando');
        throw new Error('La fila 17 no tiene comuna');
      },
      'test.quick': async (ctx) => {
        for (let i = 1; i <= 4; i++) await ctx.progress(i / 4, `paso ${i}`);
        return { steps: 4 };
      },
    },
    t.services,
  );
});
after(() => t.close());

test('a running job shows its percentage, status and log to its owner, and refreshes itself', async () => {
  const id = await t.services.jobs.enqueue('test.import', {}, { createdBy: owner.id });
  reachedHalf = new Promise<void>((r) => (signalHalf = r));
  const running = t.services.jobs.runNow(id);
  await reachedHalf;

  const c = await new TestClient(t.app).signInAs(t.services, owner.id);
  const page = await c.get(`/jobs/${id}`);
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /<progress id="job-progress" max="100" value="50"/);
  assert.match(page.body, /50\s?% completado/);
  assert.match(page.body, /En curso/);
  assert.match(page.body, /<li>Leídas 250 de 1000 filas<\/li><li>Leídas 500 de 1000 filas<\/li>/);
  assert.match(page.body, /<head><meta http-equiv="refresh" content="3"\/>/);

  const api = await c.get(`/api/v1/jobs/${id}`);
  assert.equal(api.statusCode, 200);
  const json = api.json();
  assert.equal(json.status, 'running');
  assert.equal(json.progress, 0.5);
  assert.deepEqual(json.log, ['Leídas 250 de 1000 filas', 'Leídas 500 de 1000 filas']);

  release();
  await running;
  const done = await c.get(`/jobs/${id}?lang=en`);
  assert.match(done.body, /value="100"/);
  assert.match(done.body, /Done/);
  assert.match(done.body, /Listo: 1000 filas/);
  assert.doesNotMatch(done.body, /http-equiv="refresh"/, 'no refresh once finished');
  const doneJson = (await c.get(`/api/v1/jobs/${id}`)).json();
  assert.equal(doneJson.status, 'done');
  assert.deepEqual(doneJson.result, { rows: 1000 });
  assert.ok(doneJson.finishedAt);
});

test('a failed job shows its error', async () => {
  const id = await t.services.jobs.enqueue('test.broken', {}, { createdBy: owner.id });
  await t.services.jobs.runNow(id);
  const c = await new TestClient(t.app).signInAs(t.services, owner.id);
  const page = await c.get(`/jobs/${id}`);
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /Falló/);
  assert.match(page.body, /<span id="job-error">La fila 17 no tiene comuna<\/span>/);
  assert.match(page.body, /value="10"/);
  const json = (await c.get(`/api/v1/jobs/${id}`)).json();
  assert.equal(json.status, 'failed');
  assert.equal(json.error, 'La fila 17 no tiene comuna');
});

test('only the owner or an administrator sees a job; anonymous visitors are sent to sign in', async () => {
  const id = await t.services.jobs.enqueue('test.quick', {}, { createdBy: owner.id });
  const stranger = await new TestClient(t.app).signInAs(t.services, other.id);
  assert.equal((await stranger.get(`/jobs/${id}`)).statusCode, 403);
  assert.equal((await stranger.get(`/api/v1/jobs/${id}`)).statusCode, 403);
  const boss = await new TestClient(t.app).signInAs(t.services, admin.id);
  assert.equal((await boss.get(`/jobs/${id}`)).statusCode, 200);
  assert.equal((await boss.get(`/api/v1/jobs/${id}`)).statusCode, 200);
  const anon = await t.app.inject(`/jobs/${id}`);
  assert.equal(anon.statusCode, 303);
  assert.match(anon.headers.location as string, /^\/signin\?next=/);
  const anonApi = await t.app.inject(`/api/v1/jobs/${id}`);
  assert.equal(anonApi.statusCode, 401);
  assert.equal((await boss.get('/jobs/999999')).statusCode, 404);
  const openapi = (await t.app.inject('/api/openapi.json')).json();
  assert.ok(openapi.paths['/api/v1/jobs/{id}']?.get, 'documented in OpenAPI');
  assert.equal((await boss.get('/api/v1/jobs/abc')).statusCode, 400);
});

test('runJobWithProgressBar runs a queued job here and reports its progress', async () => {
  const id = await t.services.jobs.enqueue('test.quick', {}, { createdBy: owner.id });
  const lines: string[] = [];
  const stream = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream;
  assert.equal(await runJobWithProgressBar(t.services, id, stream), 'done');
  assert.deepEqual(lines, ['25% paso 1\n', '50% paso 2\n', '75% paso 3\n', '100% paso 4\n']);
  const failing = await t.services.jobs.enqueue('test.broken', {});
  assert.equal(await runJobWithProgressBar(t.services, failing, stream), 'failed');
  assert.match(lines.at(-1)!, /failed: La fila 17 no tiene comuna/);
});

test('jobs left running by a stopped process are queued again, or failed after three tries', async () => {
  const orphan = async (attempts: number, minutesAgo: number) =>
    (
      await t.services.db
        .insertInto('jobs')
        .values({ kind: 'test.quick', payload: '{}', log: '[]', status: 'running', attempts, locked_by: 'gone:1:x', locked_at: sql<Date>`now() - ${minutesAgo} * interval '1 minute'` })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
  const retry = await orphan(1, 20);
  const givenUp = await orphan(3, 20);
  const alive = await orphan(1, 1);
  assert.deepEqual(await t.services.jobs.recoverStale(), { requeued: 1, failed: 1 });
  const status = async (id: number) => (await t.services.db.selectFrom('jobs').select(['status', 'locked_by', 'error']).where('id', '=', id).executeTakeFirstOrThrow());
  assert.deepEqual(await status(retry), { status: 'queued', locked_by: null, error: null });
  assert.equal((await status(givenUp)).status, 'failed');
  assert.match((await status(givenUp)).error!, /stopped/);
  assert.equal((await status(alive)).status, 'running', 'a job with a recent heartbeat is left alone');
  // The requeued one runs to the end on the next pass of a worker.
  await t.services.jobs.drain(10);
  assert.equal((await status(retry)).status, 'done');
  await t.services.db.deleteFrom('jobs').where('id', '=', alive).execute();
});

test('a scheduled job is queued when the worker starts, never twice while one waits or runs', async () => {
  let runs = 0;
  t.services.jobs.register({ 'test.sync': async () => void (runs += 1) }, t.services);
  t.services.jobs.schedule('test.sync', 60 * 60_000);
  const queued = () => t.services.db.selectFrom('jobs').select(['id', 'status']).where('kind', '=', 'test.sync').execute();
  const first = await t.services.jobs.enqueueIfIdle('test.sync');
  assert.ok(first);
  assert.equal(await t.services.jobs.enqueueIfIdle('test.sync'), null, 'one is already waiting');
  assert.equal((await queued()).length, 1);
  await t.services.jobs.drain();
  assert.equal(runs, 1);
  // The worker's first tick queues the scheduled job (it is due at start-up) and runs it.
  t.services.jobs.start(20);
  for (let i = 0; i < 200 && runs < 2; i++) await new Promise((r) => setTimeout(r, 20));
  t.services.jobs.stop();
  assert.equal(runs, 2);
  assert.deepEqual((await queued()).map((j) => j.status), ['done', 'done']);
});

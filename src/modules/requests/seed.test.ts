import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestApp, type TestContext } from '../../core/testing/harness';
import { seedCore, demoDir } from '../../core/seed';
import { manifest } from './manifest';
import { rqDb } from './store';

let t: TestContext;
before(async () => {
  t = await createTestApp({ modules: [manifest] });
  await seedCore(t.services, () => {});
});
after(() => t.close());

test('the demo seed loads categories and requests spread over the city, once', async (ctx) => {
  const log: string[] = [];
  const t0 = performance.now();
  await manifest.seed!(t.services, { log: (m) => log.push(m), demoDir });
  ctx.diagnostic(`requests seed took ${Math.round(performance.now() - t0)} ms`);
  const db = rqDb(t.services);
  const cats = await db.selectFrom('rq_services').select(['code', 'office_id']).execute();
  assert.ok(cats.length >= 8);
  assert.ok(cats.every((c) => c.office_id != null), 'every demo category is routed to a demo office');
  const byCommune = await db.selectFrom('rq_requests').select(['commune_id', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('commune_id').execute();
  assert.equal(byCommune.length, 15, 'requests in every commune');
  const total = byCommune.reduce((s, r) => s + Number(r.n), 0);
  assert.ok(total >= 2000);
  const statuses = await db.selectFrom('rq_requests').select('status').distinct().execute();
  assert.ok(statuses.length >= 5);
  const rated = await db.selectFrom('rq_ratings').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  assert.ok(Number(rated.n) > 0);
  // Every point really falls in its neighbourhood's commune.
  const sample = await db.selectFrom('rq_requests').select(['lat', 'lng', 'commune_id']).where('id', '<=', 50).execute();
  for (const r of sample) assert.equal((await t.services.geo.locate(r.lat!, r.lng!))?.commune.id, r.commune_id);

  await manifest.seed!(t.services, { log: (m) => log.push(m), demoDir });
  const again = await db.selectFrom('rq_requests').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  assert.equal(Number(again.n), total, 'idempotent');

  // The Open311 list and the pages work on the demo city.
  assert.equal((await t.app.inject('/open311/v2/requests.json?page_size=50')).statusCode, 200);
  assert.equal((await t.app.inject('/requests/stats')).statusCode, 200);
  assert.equal((await t.app.inject('/requests?sort=upvotes')).statusCode, 200);
});

test('cabildo requests-categories loads a category file; a malformed one is refused', async () => {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rq-cats-'));
  const good = path.join(dir, 'good.json');
  fs.writeFileSync(good, JSON.stringify([{ code: 'graffiti', name: 'Grafiti', office: 'atencion-ciudadana', target_days: 10, questions: [{ code: 'superficie', datatype: 'string', required: false, description: '¿Dónde?' }] }]));
  const cmd = manifest.cli!['requests-categories'];
  assert.equal(await cmd.run(t.services, [good]), 0);
  const row = await rqDb(t.services).selectFrom('rq_services').select(['name', 'target_days']).where('code', '=', 'graffiti').executeTakeFirstOrThrow();
  assert.deepEqual(row, { name: 'Grafiti', target_days: 10 });
  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(bad, JSON.stringify([{ code: 'con espacios', name: 'x', target_days: 3 }]));
  await assert.rejects(() => cmd.run(t.services, [bad]), /expected an array of categories/);
  fs.rmSync(dir, { recursive: true, force: true });
});

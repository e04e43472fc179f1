import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createTestApp, createUser, TestClient, type TestContext } from '../../core/testing/harness';
import { manifest } from './manifest';
import { bgDb } from './tables';
import { parsePb } from './domain/pabulib';
import { greedy } from './domain/rules';
import { fromPb, selectedOf } from './domain/instance';

let t: TestContext;

before(async () => {
  t = await createTestApp({ modules: [manifest] });
  for (const id of [1, 2, 3]) {
    const x = -58.5 + id * 0.02;
    const geometry = { type: 'Polygon', coordinates: [[[x, -34.6], [x + 0.01, -34.6], [x + 0.01, -34.59], [x, -34.59], [x, -34.6]]] };
    await t.services.db.insertInto('communes').values({ id, name: `Comuna ${id}`, population: 100, area_m2: 1, geometry: JSON.stringify(geometry) }).execute();
  }
});

after(async () => {
  await t?.close();
});

test('the demo seed loads a finished and a balloting budget by commune, once', async () => {
  const logs: string[] = [];
  const ctx = { log: (m: string) => logs.push(m), demoDir: path.resolve('data/demo') };
  await manifest.seed!(t.services, ctx);
  await manifest.seed!(t.services, ctx);
  const db = bgDb(t.services);
  const budgets = await db.selectFrom('bg_budgets').select(['id', 'phase']).orderBy('id').execute();
  assert.deepEqual(budgets.map((b) => b.phase), ['finished', 'balloting']);
  const headings = await db.selectFrom('bg_headings').select(['commune_id']).where('budget_id', '=', budgets[0].id).orderBy('commune_id').execute();
  assert.deepEqual(headings.map((h) => h.commune_id), [1, 2, 3]);

  // The finished budget's export recomputes to its published winners in every heading.
  const api = await t.app.inject({ url: `/api/v1/budgets/${budgets[0].id}` });
  for (const h of api.json().headings as Array<{ results_pb: string }>) {
    const res = await t.app.inject({ url: h.results_pb });
    assert.equal(res.statusCode, 200);
    const pb = parsePb(res.body);
    assert.ok(pb.votes.length > 0);
    assert.deepEqual(greedy(fromPb(pb)).selected.sort(), selectedOf(pb)!.sort());
  }

  // A resident of commune 2 can open the ballot of the balloting budget and sees pesos.
  const resident = await createUser(t.services, { verified: true, communeId: 2 });
  const c = await new TestClient(t.app).signInAs(t.services, resident.id);
  const page = await c.get(`/budgets/${budgets[1].id}/ballot`);
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /Te quedan \$/);
  const results = await t.app.inject({ url: `/budgets/${budgets[0].id}/results?lang=en` });
  assert.equal(results.statusCode, 200);
  assert.match(results.body, /Turnout by commune/);
});

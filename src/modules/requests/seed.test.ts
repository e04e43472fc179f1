import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestApp, type TestContext } from '../../core/testing/harness';
import { seedCore, demoDir } from '../../core/seed';
import { manifest } from './manifest';
import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { rqDb, attributesOf } from './store';
import { validateAnswers } from './domain/attributes';
import { deriveCloseTimes, readSamples } from './demo/close-times';

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

  // Answers to each category's questions, consistent with the description they come with.
  const withQuestions = await db.selectFrom('rq_services').select(['id', 'code']).execute();
  for (const svc of withQuestions) {
    const defs = await attributesOf(db, svc.id);
    if (!defs.length) continue;
    const reqs = await db.selectFrom('rq_requests').select(['answers', 'description']).where('service_id', '=', svc.id).execute();
    for (const r of reqs) assert.deepEqual(validateAnswers(defs, r.answers).errors, [], `${svc.code}: ${r.description}`);
    if (defs.some((d) => d.required)) assert.ok(reqs.length && reqs.every((r) => Object.keys(r.answers).length > 0), `${svc.code} requests answer its questions`);
  }
  const lightsOnByDay = await db.selectFrom('rq_requests').select(sql<string>`answers->>'estado'`.as('estado')).where('description', 'like', '%se prende de día%').execute();
  assert.ok(lightsOnByDay.length && lightsOnByDay.every((r) => r.estado === 'prendida_dia'));

  // Ratings with comments; solved on time rates better than "not solvable".
  const ratings = await db
    .selectFrom('rq_ratings as g')
    .innerJoin('rq_requests as r', 'r.id', 'g.request_id')
    .select(['g.score', 'g.comment', 'r.status'])
    .execute();
  assert.ok(ratings.filter((g) => g.comment !== '').length >= 5, 'some ratings carry a comment');
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(avg(ratings.filter((g) => g.status === 'solved').map((g) => g.score)) > avg(ratings.filter((g) => g.status === 'not_solvable').map((g) => g.score)));

  // Times to close follow the NYC 311 samples: parking complaints (NYPD) often close within two hours,
  // street repairs (DOT) almost never.
  const quickShare = async (code: string) => {
    const row = await db
      .selectFrom('rq_requests as r')
      .innerJoin('rq_services as s', 's.id', 'r.service_id')
      .select([sql<number>`avg(case when r.closed_at - r.requested_at <= interval '2 hours' then 1.0 else 0.0 end)`.as('share'), sql<number>`count(*)`.as('n')])
      .where('s.code', '=', code)
      .where('r.status', 'in', ['solved', 'not_solvable'])
      .executeTakeFirstOrThrow();
    return { share: Number(row.share), n: Number(row.n) };
  };
  const parking = await quickShare('estacionamiento');
  const potholes = await quickShare('bache');
  ctx.diagnostic(`closed within 2 h: estacionamiento ${parking.share.toFixed(2)} of ${parking.n}, bache ${potholes.share.toFixed(2)} of ${potholes.n}`);
  assert.ok(parking.share > 0.2 && parking.share < 0.75, `parking ${parking.share}`);
  assert.ok(potholes.share < 0.15, `potholes ${potholes.share}`);

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

const samples = path.resolve('../shared/data/service-requests');
test('close-times.json is what the script derives from the NYC 311 samples', { skip: !fs.existsSync(samples) && 'no ../shared/data' }, () => {
  const committed = JSON.parse(fs.readFileSync(path.join(demoDir, 'requests', 'close-times.json'), 'utf8'));
  const derived = deriveCloseTimes(readSamples(samples));
  assert.deepEqual(committed, derived);
  // The figures a reader can check by hand in the CSVs.
  assert.equal(derived.families['NYPD parking'].closed_within_horizon, derived.families['NYPD parking'].quick_minutes.length);
  assert.ok(derived.families['NYPD parking'].at_risk > 200);
  assert.equal(derived.categories.bache, 'DOT streets');
});

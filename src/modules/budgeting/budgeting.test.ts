import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createOffice, createTestApp, createUser, TestClient, testEngine, type TestContext } from '../../core/testing/harness';
import { manifest } from './manifest';
import { twoCommunes } from './testing/communes';
import { bgDb } from './tables';
import { parsePb } from './domain/pabulib';
import { fromPb, selectedOf } from './domain/instance';
import { greedy } from './domain/rules';
import { importPb, saveBallot, BallotConflict } from './store';
import { pbCommand, resultsOfFile } from './cli';

let t: TestContext;
const PABULIB = path.resolve('../shared/data/pabulib/instances');

before(async () => {
  t = await createTestApp({ modules: [manifest] });
  await twoCommunes(t.services);
});

after(async () => {
  await t?.close();
});

async function countRows(table: 'bg_ballots' | 'bg_ballot_lines' | 'bg_supports' | 'bg_proposals') {
  const r = await bgDb(t.services).selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

async function audit(action: string) {
  return t.services.db.selectFrom('audit_log').selectAll().where('action', '=', action).execute();
}

test('the whole cycle: create, propose, support, valuate, ballot, paper ballot, results and Pabulib export', async () => {
  const db = bgDb(t.services);
  const admin = await createUser(t.services, { roles: ['admin'] });
  const valuator = await createUser(t.services, { roles: ['official'] });
  const alice = await createUser(t.services, { verified: true, communeId: 1 });
  const bob = await createUser(t.services, { verified: true, communeId: 1 });
  const carol = await createUser(t.services, { verified: true, communeId: 2 });
  const dave = await createUser(t.services, { verified: true, communeId: 1 });
  const unverified = await createUser(t.services, { verified: false, communeId: 1 });

  const adminC = await new TestClient(t.app).signInAs(t.services, admin.id);
  await adminC.get('/budgets/new');
  let res = await adminC.post('/budgets', { name: 'BA Elige test', year: '2026', voting_rule: 'knapsack', result_rule: 'greedy', max_supports: '2', commune_amount: '1000', city_amount: '' });
  assert.equal(res.statusCode, 303, res.body);
  const budget = await db.selectFrom('bg_budgets').selectAll().where('name', '=', 'BA Elige test').executeTakeFirstOrThrow();
  const headings = await db.selectFrom('bg_headings').selectAll().where('budget_id', '=', budget.id).orderBy('commune_id').execute();
  assert.equal(headings.length, 2);
  const [h1, h2] = headings;

  res = await t.app.inject({ url: '/api/v1/budgets' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json().find((b: { id: number }) => b.id === budget.id), { id: budget.id, name: 'BA Elige test', phase: 'informing', year: 2026 });

  const setPhase = async (phase: string) => {
    assert.equal((await adminC.get(`/budgets/${budget.id}/admin`)).statusCode, 200);
    const r = await adminC.post(`/budgets/${budget.id}/phase`, { phase });
    assert.equal(r.statusCode, 303, r.body);
  };

  // Proposals: only verified residents, only while accepting.
  const aliceC = await new TestClient(t.app).signInAs(t.services, alice.id);
  res = await aliceC.get(`/budgets/${budget.id}/proposals/new`);
  assert.equal(res.statusCode, 409);
  await setPhase('accepting');
  const unverifiedC = await new TestClient(t.app).signInAs(t.services, unverified.id);
  res = await unverifiedC.get(`/budgets/${budget.id}/proposals/new`);
  assert.equal(res.statusCode, 403);
  res = await aliceC.get(`/budgets/${budget.id}/proposals/new`);
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /<label class="usa-label" for="f-title">/);
  res = await aliceC.post(`/budgets/${budget.id}/proposals`, { title: 'x', description: 'short', heading: String(h1.id) });
  assert.equal(res.statusCode, 422);
  assert.equal(await countRows('bg_proposals'), 0);
  res = await aliceC.post(`/budgets/${budget.id}/proposals`, { title: 'Plaza', description: 'Arreglar la plaza del barrio', heading: String(h1.id), latitude: '-58.5', longitude: '0' });
  assert.equal(res.statusCode, 422, 'a place outside the commune is refused');
  const titles = ['Plaza nueva', 'Bicisenda', 'Huerta comunitaria'];
  for (const title of titles) {
    res = await aliceC.post(`/budgets/${budget.id}/proposals`, { title, description: `Proyecto ${title} para la comuna`, heading: String(h1.id), latitude: '-34.595', longitude: '-58.395', tags: 'verde, barrio' });
    assert.equal(res.statusCode, 303, res.body);
  }
  res = await aliceC.post(`/budgets/${budget.id}/proposals`, { title: 'Luminarias', description: 'Luces nuevas en la comuna dos', heading: String(h2.id) });
  assert.equal(res.statusCode, 303);
  const proposals = await db.selectFrom('bg_proposals').selectAll().where('budget_id', '=', budget.id).orderBy('id').execute();
  const [plaza, bici, huerta, luces] = proposals;
  assert.deepEqual(plaza.tags, ['verde', 'barrio']);
  // The author edits while accepting; nobody else can.
  res = await aliceC.get(`/budgets/${budget.id}/proposals/${plaza.id}/edit`);
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /value="Plaza nueva"/);
  res = await aliceC.post(`/budgets/${budget.id}/proposals/${plaza.id}/edit`, { title: 'Plaza nueva y verde', description: 'Arreglar la plaza y plantar árboles', heading: String(h1.id), tags: 'verde' });
  assert.equal(res.statusCode, 303);
  assert.equal((await db.selectFrom('bg_proposals').select('title').where('id', '=', plaza.id).executeTakeFirstOrThrow()).title, 'Plaza nueva y verde');
  const otherC = await new TestClient(t.app).signInAs(t.services, bob.id);
  assert.equal((await otherC.get(`/budgets/${budget.id}/proposals/${plaza.id}/edit`)).statusCode, 403);

  // Comments: any signed-in resident; moderators hide them (audited).
  await aliceC.get(`/budgets/${budget.id}/proposals/${bici.id}`);
  assert.equal((await aliceC.post(`/budgets/${budget.id}/proposals/${bici.id}/comments`, { body: '' })).statusCode, 400);
  assert.equal((await aliceC.post(`/budgets/${budget.id}/proposals/${bici.id}/comments`, { body: '¡Muy buena idea! <b>sí</b>' })).statusCode, 303);
  res = await t.app.inject({ url: `/budgets/${budget.id}/proposals/${bici.id}` });
  assert.match(res.body, /¡Muy buena idea! &lt;b(&gt;|>)sí&lt;\/b/);
  const comment = await db.selectFrom('bg_comments').select('id').where('proposal_id', '=', bici.id).executeTakeFirstOrThrow();
  await adminC.get(`/budgets/${budget.id}/proposals/${bici.id}`);
  assert.equal((await adminC.post(`/budgets/${budget.id}/proposals/${bici.id}/comments/${comment.id}/hide`, { hidden: '1' })).statusCode, 303);
  res = await t.app.inject({ url: `/budgets/${budget.id}/proposals/${bici.id}` });
  assert.doesNotMatch(res.body, /Muy buena idea/);
  assert.equal((await audit('budget.comment.hide')).length, 1);

  // Supports: up to the limit, only in one's headings, withdrawable.
  await setPhase('selecting');
  await aliceC.get(`/budgets/${budget.id}/proposals/${plaza.id}`);
  for (const p of [plaza, bici]) assert.equal((await aliceC.post(`/budgets/${budget.id}/proposals/${p.id}/support`, {})).statusCode, 303);
  res = await aliceC.post(`/budgets/${budget.id}/proposals/${huerta.id}/support`, {});
  assert.equal(res.statusCode, 409, 'over the support limit');
  res = await aliceC.post(`/budgets/${budget.id}/proposals/${luces.id}/support`, {});
  assert.equal(res.statusCode, 403, 'not their commune');
  assert.equal((await aliceC.post(`/budgets/${budget.id}/proposals/${bici.id}/unsupport`, {})).statusCode, 303);
  assert.equal(await countRows('bg_supports'), 1);
  res = await t.app.inject({ url: `/budgets/${budget.id}/proposals/${plaza.id}` });
  assert.match(res.body, /<dd>1<\/dd>/);

  // Valuation: assigned valuator only; unfeasible needs a reason and mails the author.
  await setPhase('valuating');
  await adminC.get(`/budgets/${budget.id}/admin`);
  for (const p of proposals) assert.equal((await adminC.post(`/budgets/${budget.id}/proposals/${p.id}/assign`, { valuator: String(valuator.id) })).statusCode, 303);
  const valC = await new TestClient(t.app).signInAs(t.services, valuator.id);
  for (const url of ['/budgets', `/budgets/${budget.id}`, `/budgets/${budget.id}/proposals`, `/budgets/${budget.id}/proposals?heading=${h1.id}&q=plaza`, `/budgets/${budget.id}/proposals/${plaza.id}/valuation`]) {
    assert.equal((await valC.get(url)).statusCode, 200, url);
  }
  res = await aliceC.get(`/budgets/${budget.id}/proposals/${plaza.id}/valuation`);
  assert.equal(res.statusCode, 403);
  await valC.get(`/budgets/${budget.id}/proposals/${plaza.id}/valuation`);
  res = await valC.post(`/budgets/${budget.id}/proposals/${huerta.id}/valuation`, { feasibility: 'unfeasible', unfeasibility_reason: '' });
  assert.equal(res.statusCode, 400);
  res = await valC.post(`/budgets/${budget.id}/proposals/${huerta.id}/valuation`, { feasibility: 'unfeasible', unfeasibility_reason: 'El terreno es privado' });
  assert.equal(res.statusCode, 303);
  const mails = await t.services.db.selectFrom('mail_outbox').selectAll().where('to_address', '=', alice.email).execute();
  assert.equal(mails.length, 1);
  assert.match(mails[0].text_body, /terreno es privado/);
  for (const [p, price] of [[plaza, '600'], [bici, '500'], [luces, '300']] as const) {
    res = await valC.post(`/budgets/${budget.id}/proposals/${p.id}/valuation`, { feasibility: 'feasible', price, price_explanation: 'Presupuesto oficial', duration: '6 meses' });
    assert.equal(res.statusCode, 303);
  }
  assert.equal((await audit('budget.proposal.valuate')).length, 4);

  // Ballots: outside the phase, unverified, over the amount, other heading → refused, nothing stored.
  const bobC = await new TestClient(t.app).signInAs(t.services, bob.id);
  await bobC.get(`/budgets/${budget.id}`);
  res = await bobC.post(`/budgets/${budget.id}/ballot`, { heading: String(h1.id), proposal: [String(plaza.id)] });
  assert.equal(res.statusCode, 409, 'outside the balloting phase');
  await setPhase('balloting');
  res = await bobC.get(`/budgets/${budget.id}/ballot`);
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /type="checkbox"/);
  res = await bobC.post(`/budgets/${budget.id}/ballot`, { heading: String(h1.id), proposal: [String(plaza.id), String(bici.id)] });
  assert.equal(res.statusCode, 422, 'over the amount');
  assert.match(res.body, /supera el monto/);
  assert.match(res.body, /checked/);
  res = await bobC.post(`/budgets/${budget.id}/ballot`, { heading: String(h2.id), proposal: [String(luces.id)] });
  assert.equal(res.statusCode, 403, 'heading of another commune');
  res = await bobC.post(`/budgets/${budget.id}/ballot`, { heading: String(h1.id), proposal: [String(huerta.id)] });
  assert.equal(res.statusCode, 422, 'unfeasible proposal');
  await unverifiedC.get(`/budgets/${budget.id}`);
  res = await unverifiedC.post(`/budgets/${budget.id}/ballot`, { heading: String(h1.id), proposal: [String(plaza.id)] });
  assert.equal(res.statusCode, 403);
  assert.equal(await countRows('bg_ballots'), 0);

  // Valid ballots; changing one keeps one ballot.
  res = await bobC.post(`/budgets/${budget.id}/ballot`, { heading: String(h1.id), proposal: [String(bici.id)] });
  assert.equal(res.statusCode, 303, res.body);
  res = await bobC.get(res.headers.location as string);
  assert.match(res.body, /Te quedan \$\s?500/);
  res = await bobC.post(`/budgets/${budget.id}/ballot`, { heading: String(h1.id), proposal: [String(plaza.id)] });
  assert.equal(res.statusCode, 303);
  res = await aliceC.post(`/budgets/${budget.id}/ballot`, { heading: String(h1.id), proposal: [String(plaza.id)] });
  assert.equal(res.statusCode, 303);
  const carolC = await new TestClient(t.app).signInAs(t.services, carol.id);
  await carolC.get(`/budgets/${budget.id}`);
  res = await carolC.post(`/budgets/${budget.id}/ballot`, { heading: String(h2.id), proposal: [String(luces.id)] });
  assert.equal(res.statusCode, 303);
  assert.equal(await countRows('bg_ballots'), 3);

  // Paper ballots: by the budget's organising office; never both channels; audited.
  const organiser = await createOffice(t.services, { name: 'Participación Ciudadana' });
  await t.services.db.insertInto('office_members').values({ office_id: organiser.id, user_id: valuator.id }).execute();
  await adminC.get(`/budgets/${budget.id}/admin`);
  assert.equal((await adminC.post(`/budgets/${budget.id}/office`, { office: String(organiser.id) })).statusCode, 303);
  const desk = await new TestClient(t.app).signInAs(t.services, valuator.id);
  assert.equal((await desk.get(`/budgets/${budget.id}/paper-ballot?heading=${h1.id}`)).statusCode, 200);
  res = await desk.post(`/budgets/${budget.id}/paper-ballot`, { heading: String(h1.id), email: bob.email, proposal: [String(bici.id)] });
  assert.equal(res.statusCode, 409, 'bob already voted online');
  res = await desk.post(`/budgets/${budget.id}/paper-ballot`, { heading: String(h1.id), email: dave.email, proposal: [String(bici.id)] });
  assert.equal(res.statusCode, 303, res.body);
  assert.equal((await audit('budget.ballot.paper')).length, 1);
  const daveC = await new TestClient(t.app).signInAs(t.services, dave.id);
  await daveC.get(`/budgets/${budget.id}`);
  res = await daveC.post(`/budgets/${budget.id}/ballot`, { heading: String(h1.id), proposal: [String(plaza.id)] });
  assert.equal(res.statusCode, 409, 'dave voted on paper');
  assert.equal(await countRows('bg_ballots'), 4);

  // Results: hidden until finished, then charts, tables and a Pabulib file anyone can recompute.
  res = await t.app.inject({ url: `/budgets/${budget.id}/results.pb?heading=${h1.id}` });
  assert.equal(res.statusCode, 409);
  await setPhase('finished');
  assert.deepEqual(
    (await audit('budget.phase')).map((a) => (a.details as { to: string }).to),
    ['accepting', 'selecting', 'valuating', 'balloting', 'finished'],
  );
  res = await t.app.inject({ url: `/budgets/${budget.id}/results` });
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /<svg class="bg-chart" role="img"/);
  assert.match(res.body, /<caption>/);
  res = await t.app.inject({ url: `/budgets/${budget.id}/results.pb?heading=${h1.id}` });
  assert.equal(res.statusCode, 200);
  const pb = parsePb(res.body);
  assert.equal(pb.meta.num_votes, '3');
  assert.equal(pb.meta.currency, 'ARS');
  assert.ok(pb.votes.every((v) => v.fields.district === '1' && /^[0-9a-f]{16}$/.test(v.voter_id)));
  assert.deepEqual(pb.votes.map((v) => v.fields.voting_method).sort(), ['internet', 'internet', 'paper']);
  // plaza 2 votes (600), bici 1 vote (500): plaza funded, bici does not fit.
  assert.deepEqual(selectedOf(pb), [String(plaza.id)]);
  assert.deepEqual(greedy(fromPb(pb)).selected, [String(plaza.id)]);
  const stored = await db.selectFrom('bg_proposals').select('id').where('budget_id', '=', budget.id).where('selected', '=', true).orderBy('id').execute();
  assert.deepEqual(stored.map((r) => r.id), [plaza.id, luces.id], 'the winners of both headings');
  res = await t.app.inject({ url: `/api/v1/budgets/${budget.id}/results` });
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().headings.find((h: { heading_id: number }) => h.heading_id === h1.id).projects.find((p: { id: number }) => p.id === plaza.id).votes, 2);

  // Execution tracking on a winner, by the office an administrator names for it.
  const office = await createOffice(t.services, { name: 'Espacio Público' });
  await t.services.db.insertInto('office_members').values({ office_id: office.id, user_id: valuator.id }).execute();
  await adminC.get(`/budgets/${budget.id}/proposals/${plaza.id}`);
  assert.equal((await adminC.post(`/budgets/${budget.id}/proposals/${plaza.id}/office`, { office: String(office.id) })).statusCode, 303);
  await valC.get(`/budgets/${budget.id}/proposals/${plaza.id}`);
  res = await valC.post(`/budgets/${budget.id}/proposals/${plaza.id}/milestones`, { title: 'Licitación adjudicada', status: 'in_progress', happened_on: '2026-03-01' });
  assert.equal(res.statusCode, 303);
  res = await t.app.inject({ url: `/budgets/${budget.id}/proposals/${plaza.id}` });
  assert.match(res.body, /Licitación adjudicada/);

  // The hub's calendar lists the dated phases.
  const events = await manifest.hubEvents!.events(t.services, { from: new Date(Date.now() - 86400_000), to: new Date(Date.now() + 86400_000) });
  assert.ok(events.some((e) => e.id === `budget-${budget.id}-balloting` && e.url === `/budgets/${budget.id}`));

  // Search and the open-data CSV see the projects.
  const hits = await manifest.search!.search(t.services, 'bicisenda', 'es-AR', 5);
  assert.equal(hits[0]?.url, `/budgets/${budget.id}/proposals/${bici.id}`);
  const csv = String(await manifest.datasets![0].resources[0].produce(t.services));
  assert.match(csv, /Plaza nueva/);
});

test('one ballot per resident per group, also for two transactions racing', async (ctx) => {
  const db = bgDb(t.services);
  const budget = await db.insertInto('bg_budgets').values({ name: 'Carrera', phase: 'balloting', source: null, year: null, max_votes: null }).returning('id').executeTakeFirstOrThrow();
  const group = await db.insertInto('bg_groups').values({ budget_id: budget.id, name: 'g' }).returning('id').executeTakeFirstOrThrow();
  const heading = await db.insertInto('bg_headings').values({ budget_id: budget.id, group_id: group.id, name: 'h', amount: 100, population: null, commune_id: null }).returning('id').executeTakeFirstOrThrow();
  const resident = await createUser(t.services, { verified: true, communeId: 1 });
  const ballot = { budgetId: budget.id, groupId: group.id, headingId: heading.id, userId: resident.id, communeId: 1, proposalIds: [], channel: 'online' as const };
  // A plain second insert is refused by the database itself.
  await db.insertInto('bg_ballots').values({ budget_id: budget.id, group_id: group.id, heading_id: heading.id, user_id: resident.id, voter_ref: null, entered_by: null, commune_id: 1, age: null, sex: null }).execute();
  await assert.rejects(
    db.insertInto('bg_ballots').values({ budget_id: budget.id, group_id: group.id, heading_id: heading.id, user_id: resident.id, voter_ref: null, entered_by: null, commune_id: 1, age: null, sex: null }).execute(),
    /bg_ballots_group_user_key|duplicate key/,
  );
  await db.deleteFrom('bg_ballots').where('budget_id', '=', budget.id).execute();
  if (testEngine !== 'postgres') {
    ctx.diagnostic('PGlite has one connection: the concurrent-transaction race runs on PostgreSQL only (npm run test:pg)');
    await db.transaction().execute((trx) => saveBallot(trx, ballot));
  } else {
    // Two transactions on two connections, both open before either commits.
    const results = await Promise.allSettled(
      [0, 1].map(() =>
        db.transaction().execute(async (trx) => {
          const id = await saveBallot(trx, ballot);
          await new Promise((r) => setTimeout(r, 50));
          return id;
        }),
      ),
    );
    assert.ok(results.every((r) => r.status === 'fulfilled'), 'the loser updates the winner\'s ballot');
  }
  const rows = await db.selectFrom('bg_ballots').select('id').where('group_id', '=', group.id).execute();
  assert.equal(rows.length, 1);
  await assert.rejects(
    db.transaction().execute((trx) => saveBallot(trx, { ...ballot, channel: 'paper' })),
    BallotConflict,
  );
});

test('two app processes casting the same resident\'s ballot at once store one ballot (PostgreSQL)', async (ctx) => {
  if (testEngine !== 'postgres' || !t.databaseUrl) {
    ctx.skip('needs PostgreSQL: PGlite is one in-process connection (run npm run test:pg)');
    return;
  }
  const db = bgDb(t.services);
  const budget = await db.insertInto('bg_budgets').values({ name: 'Dos procesos', phase: 'balloting', source: null, year: null, max_votes: null }).returning('id').executeTakeFirstOrThrow();
  const group = await db.insertInto('bg_groups').values({ budget_id: budget.id, name: 'g' }).returning('id').executeTakeFirstOrThrow();
  const heading = await db.insertInto('bg_headings').values({ budget_id: budget.id, group_id: group.id, name: 'h', amount: 1000, population: null, commune_id: null }).returning('id').executeTakeFirstOrThrow();
  const props = await db
    .insertInto('bg_proposals')
    .values([1, 2, 3, 4].map((i) => ({ budget_id: budget.id, heading_id: heading.id, author_id: null, external_id: null, title: `p${i}`, feasibility: 'feasible' as const, price: 10, latitude: null, longitude: null, unfeasibility_reason: null, price_explanation: null, duration: null, valuator_id: null })))
    .returning('id')
    .execute();
  const resident = await createUser(t.services, { verified: true });
  const startAt = Date.now() + 4000;
  const worker = path.resolve('src/modules/budgeting/testing/race-worker.ts');
  const run = () =>
    new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', worker, t.databaseUrl!, String(budget.id), String(group.id), String(heading.id), String(resident.id), String(startAt), props.map((p) => p.id).join(',')], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`worker exited ${code}`))));
    });
  const outs = await Promise.all([run(), run()]);
  assert.deepEqual(outs.map((o) => JSON.parse(o.trim().split('\n').pop()!).ok), [100, 100]);
  const ballots = await db.selectFrom('bg_ballots').select('id').where('group_id', '=', group.id).execute();
  assert.equal(ballots.length, 1);
  const lines = await db.selectFrom('bg_ballot_lines').select('proposal_id').where('ballot_id', '=', ballots[0].id).execute();
  assert.equal(lines.length, 2, 'the lines of exactly one of the racing ballots');
});

test('cabildo pb results and pb import on real Pabulib instances', async () => {
  const file = path.join(PABULIB, 'Netherlands_Assen_2024.pb');
  const text = fs.readFileSync(file, 'utf8');
  const pb = parsePb(text);
  const official = selectedOf(pb)!;
  const mes = resultsOfFile(text, 'mes');
  assert.deepEqual([...mes.selected].sort(), [...official].sort());
  assert.deepEqual(mes.selected, pb.projects.map((p) => p.project_id).filter((id) => official.includes(id)), 'in file order');
  const wieliczkaText = fs.readFileSync(path.join(PABULIB, 'Poland_Wieliczka_2023_Green_Budget.pb'), 'utf8');
  const wieliczka = parsePb(wieliczkaText);
  const compared = resultsOfFile(wieliczkaText, 'mes-compare-greedy');
  assert.deepEqual([...compared.selected].sort(), [...selectedOf(wieliczka)!].sort(), 'Wieliczka by its own rule');

  const lines: string[] = [];
  const log = console.log;
  console.log = (s: string) => lines.push(s);
  try {
    assert.equal(await pbCommand.run(t.services, ['results', path.join(PABULIB, 'Poland_Warszawa_2017_Plac_Wojska_Polskiego.pb'), '--rule', 'greedy', '--json']), 0);
    assert.equal(await pbCommand.run(t.services, ['import', file]), 0);
  } finally {
    console.log = log;
  }
  assert.deepEqual(JSON.parse(lines[0]), { selected: ['427', '915', '2567', '1623'], cost: 44720 });
  const db = bgDb(t.services);
  const imported = await db.selectFrom('bg_budgets').selectAll().where('name', 'like', '%Assen%').executeTakeFirstOrThrow();
  assert.equal(imported.phase, 'finished');
  assert.equal(imported.result_rule, 'mes');
  const winners = await db.selectFrom('bg_proposals').select('external_id').where('budget_id', '=', imported.id).where('selected', '=', true).execute();
  assert.deepEqual(winners.map((w) => w.external_id).sort(), [...official].sort());
  // Export again and recompute: the same winners.
  const res = await t.app.inject({ url: `/budgets/${imported.id}/results.pb` });
  assert.equal(res.statusCode, 200);
  const again = parsePb(res.body);
  assert.equal(again.votes.length, pb.votes.length);
  assert.equal(again.meta.rule, 'equalshares/add1');
  const idMap = new Map((await db.selectFrom('bg_proposals').select(['id', 'external_id']).where('budget_id', '=', imported.id).execute()).map((r) => [String(r.id), r.external_id]));
  assert.deepEqual(resultsOfFile(res.body, 'mes').selected.map((id) => idMap.get(id)).sort(), [...official].sort());
  assert.equal(await pbCommand.run(t.services, ['results', '/nonexistent.pb']), 1);
  assert.equal(await pbCommand.run(t.services, ['bogus', 'x']), 2);
});

test('a Pabulib import of cumulative ballots keeps points', async () => {
  const pb = parsePb(fs.readFileSync(path.join(PABULIB, 'Poland_Czestochowa_2024_Podjasnogorska.pb'), 'utf8'));
  const id = await importPb(t.services, pb);
  const db = bgDb(t.services);
  const winners = await db.selectFrom('bg_proposals').select('external_id').where('budget_id', '=', id).where('selected', '=', true).execute();
  assert.deepEqual(winners.map((w) => w.external_id).sort(), [...selectedOf(pb)!].sort());
});

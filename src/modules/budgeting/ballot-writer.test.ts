import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestApp, createUser, type TestContext } from '../../core/testing/harness';
import { manifest } from './manifest';
import { bgDb } from './tables';
import { BallotContexts, BallotWriter, saveBallot } from './store';

let t: TestContext;

before(async () => {
  t = await createTestApp({ modules: [manifest] });
  const square = { type: 'Polygon', coordinates: [[[-58.4, -34.6], [-58.39, -34.6], [-58.39, -34.59], [-58.4, -34.59], [-58.4, -34.6]]] };
  for (const id of [1, 2]) await t.services.db.insertInto('communes').values({ id, name: `Comuna ${id}`, population: 1, area_m2: 1, geometry: JSON.stringify(square) }).execute();
});

after(async () => {
  await t?.close();
});

async function fixture(votingRule: 'knapsack' | 'approval' = 'knapsack', maxVotes: number | null = null) {
  const db = bgDb(t.services);
  const budget = await db.insertInto('bg_budgets').values({ name: 'Lote', phase: 'balloting', voting_rule: votingRule, max_votes: maxVotes, source: null, year: null }).returning('id').executeTakeFirstOrThrow();
  const group = await db.insertInto('bg_groups').values({ budget_id: budget.id, name: 'g' }).returning('id').executeTakeFirstOrThrow();
  const heading = await db.insertInto('bg_headings').values({ budget_id: budget.id, group_id: group.id, name: 'Comuna 1', amount: 100, population: null, commune_id: 1 }).returning('id').executeTakeFirstOrThrow();
  const other = await db.insertInto('bg_headings').values({ budget_id: budget.id, group_id: group.id, name: 'Comuna 2', amount: 100, population: null, commune_id: 2 }).returning('id').executeTakeFirstOrThrow();
  const base = { budget_id: budget.id, author_id: null, external_id: null, latitude: null, longitude: null, unfeasibility_reason: null, price_explanation: null, duration: null, valuator_id: null };
  const props = await db
    .insertInto('bg_proposals')
    .values([
      { ...base, heading_id: heading.id, title: 'a', feasibility: 'feasible' as const, price: 40 },
      { ...base, heading_id: heading.id, title: 'b', feasibility: 'feasible' as const, price: 50 },
      { ...base, heading_id: heading.id, title: 'c', feasibility: 'feasible' as const, price: 30 },
      { ...base, heading_id: heading.id, title: 'unfeasible', feasibility: 'unfeasible' as const, price: 1 },
      { ...base, heading_id: other.id, title: 'other', feasibility: 'feasible' as const, price: 1 },
    ])
    .returning('id')
    .execute();
  return { db, budget: budget.id, group: group.id, heading: heading.id, other: other.id, p: props.map((r) => r.id) };
}

test('group commit: concurrent ballots are stored in batches, each answered with its own outcome', async () => {
  const f = await fixture();
  const residents = await Promise.all(Array.from({ length: 40 }, () => createUser(t.services, { verified: true, communeId: 1 })));
  const unverified = await createUser(t.services, { verified: false, communeId: 1 });
  const elsewhere = await createUser(t.services, { verified: true, communeId: 2 });
  const paperVoter = residents[39];
  await f.db.transaction().execute((trx) => saveBallot(trx, { budgetId: f.budget, groupId: f.group, headingId: f.heading, userId: paperVoter.id, communeId: 1, proposalIds: [f.p[0]], channel: 'paper' }));

  const writer = new BallotWriter(f.db, 1, 64);
  const [a, b, c, unfeasible, foreign] = f.p;
  const good = residents.slice(0, 30).map((r, i) => writer.cast({ budgetId: f.budget, headingId: f.heading, userId: r.id, proposalIds: i % 2 ? [a, b] : [c] }));
  const bad = [
    writer.cast({ budgetId: f.budget, headingId: f.heading, userId: residents[30].id, proposalIds: [a, b, c] }), // over the amount
    writer.cast({ budgetId: f.budget, headingId: f.heading, userId: residents[31].id, proposalIds: [unfeasible] }),
    writer.cast({ budgetId: f.budget, headingId: f.heading, userId: residents[32].id, proposalIds: [foreign] }),
    writer.cast({ budgetId: f.budget, headingId: f.heading, userId: residents[33].id, proposalIds: [a, a] }),
    writer.cast({ budgetId: f.budget, headingId: f.heading, userId: unverified.id, proposalIds: [a] }),
    writer.cast({ budgetId: f.budget, headingId: f.heading, userId: elsewhere.id, proposalIds: [a] }), // not their commune
    writer.cast({ budgetId: f.budget, headingId: f.other, userId: residents[34].id, proposalIds: [] }), // heading of another commune
    writer.cast({ budgetId: f.budget + 999, headingId: f.heading, userId: residents[35].id, proposalIds: [a] }), // heading of another budget
  ];
  const paper = writer.cast({ budgetId: f.budget, headingId: f.heading, userId: paperVoter.id, proposalIds: [a] });
  // The same resident twice in one batch: the later one wins, one ballot.
  const twice = [writer.cast({ budgetId: f.budget, headingId: f.heading, userId: residents[36].id, proposalIds: [a] }), writer.cast({ budgetId: f.budget, headingId: f.heading, userId: residents[36].id, proposalIds: [b, c] })];

  const okOutcomes = await Promise.all(good);
  assert.ok(okOutcomes.every((o) => o.status === 'ok'));
  assert.deepEqual((await Promise.all(bad)).map((o) => o.status), Array(8).fill('rejected'));
  assert.equal((await paper).status, 'paper');
  assert.deepEqual((await Promise.all(twice)).map((o) => o.status), ['ok', 'ok']);

  const stored = await f.db.selectFrom('bg_ballots').select(['id', 'user_id', 'channel', 'commune_id']).where('budget_id', '=', f.budget).execute();
  assert.equal(stored.length, 30 + 1 + 1, 'the 30 good ballots, the double one once, the paper one');
  const lines = await f.db.selectFrom('bg_ballot_lines as l').innerJoin('bg_ballots as b', 'b.id', 'l.ballot_id').select(['b.user_id', 'l.proposal_id']).where('b.budget_id', '=', f.budget).execute();
  const of = (uid: number) => lines.filter((l) => l.user_id === uid).map((l) => l.proposal_id).sort();
  assert.deepEqual(of(residents[1].id), [a, b].sort());
  assert.deepEqual(of(residents[2].id), [c]);
  assert.deepEqual(of(residents[36].id), [b, c].sort());
  assert.deepEqual(of(paperVoter.id), [a], 'the paper ballot is untouched');
  assert.ok(stored.filter((s) => s.channel === 'online').every((s) => s.commune_id === 1), 'the voter\'s commune comes from the account');
});

test('the database re-checks the rules: a ballot checked against stale data is refused', async () => {
  const f = await fixture('approval', 1);
  const resident = await createUser(t.services, { verified: true, communeId: 1 });
  const contexts = new BallotContexts(f.db, 60_000);
  const before = await contexts.get(f.budget, f.heading);
  assert.equal(before?.phase, 'balloting');
  const writer = new BallotWriter(f.db);
  assert.equal((await writer.cast({ budgetId: f.budget, headingId: f.heading, userId: resident.id, proposalIds: [f.p[0], f.p[1]] })).status, 'rejected', 'over K');
  await f.db.updateTable('bg_budgets').set({ phase: 'reviewing_ballots' }).where('id', '=', f.budget).execute();
  assert.equal((await contexts.get(f.budget, f.heading))?.phase, 'balloting', 'the process still remembers the open phase');
  assert.equal((await writer.cast({ budgetId: f.budget, headingId: f.heading, userId: resident.id, proposalIds: [f.p[0]] })).status, 'rejected', 'closed phase');
  assert.equal((await contexts.get(f.budget, f.heading, true))?.phase, 'reviewing_ballots');
  await f.db.updateTable('bg_budgets').set({ phase: 'balloting' }).where('id', '=', f.budget).execute();
  await f.db.updateTable('bg_proposals').set({ hidden_at: new Date() }).where('id', '=', f.p[0]).execute();
  assert.equal((await writer.cast({ budgetId: f.budget, headingId: f.heading, userId: resident.id, proposalIds: [f.p[0]] })).status, 'rejected', 'hidden proposal');
  assert.equal((await writer.cast({ budgetId: f.budget, headingId: f.heading, userId: resident.id, proposalIds: [f.p[1]] })).status, 'ok');
  assert.equal((await f.db.selectFrom('bg_ballots').select('id').where('budget_id', '=', f.budget).execute()).length, 1);
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestApp, createUser, type TestContext } from '../../core/testing/harness';
import { manifest } from './manifest';
import { bgDb } from './tables';
import { BallotContexts, BallotWriter, castBatch, saveBallot, type OnlineBallot } from './store';

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

/** A group with two city-wide headings and one for commune 1, so a resident can try to change heading. */
async function cityFixture() {
  const db = bgDb(t.services);
  const budget = await db.insertInto('bg_budgets').values({ name: 'Ciudad', phase: 'balloting', voting_rule: 'knapsack', max_votes: null, source: null, year: null }).returning('id').executeTakeFirstOrThrow();
  const group = await db.insertInto('bg_groups').values({ budget_id: budget.id, name: 'g' }).returning('id').executeTakeFirstOrThrow();
  const headings: number[] = [];
  for (const commune of [null, null, 1]) {
    const h = await db.insertInto('bg_headings').values({ budget_id: budget.id, group_id: group.id, name: `h${headings.length}`, amount: 100, population: null, commune_id: commune }).returning('id').executeTakeFirstOrThrow();
    headings.push(h.id);
  }
  const base = { budget_id: budget.id, author_id: null, external_id: null, latitude: null, longitude: null, unfeasibility_reason: null, price_explanation: null, duration: null, valuator_id: null };
  // Per heading: three feasible proposals (40, 50, 30) and an unfeasible one, in that order.
  const proposals: number[][] = [];
  for (const heading_id of headings) {
    const rows = await db
      .insertInto('bg_proposals')
      .values([
        { ...base, heading_id, title: 'a', feasibility: 'feasible' as const, price: 40 },
        { ...base, heading_id, title: 'b', feasibility: 'feasible' as const, price: 50 },
        { ...base, heading_id, title: 'c', feasibility: 'feasible' as const, price: 30 },
        { ...base, heading_id, title: 'x', feasibility: 'unfeasible' as const, price: 1 },
      ])
      .returning('id')
      .execute();
    proposals.push(rows.map((r) => r.id));
  }
  return { db, budget: budget.id, group: group.id, headings, proposals };
}

test('the same resident several times in one batch: answered as if stored one after the other', async () => {
  const f = await cityFixture();
  const [u, v, w] = await Promise.all([1, 1, 1].map((communeId) => createUser(t.services, { verified: true, communeId })));
  const [h1, h2] = f.headings;
  const [p1, p2] = f.proposals;
  const cast = (userId: number, headingId: number, proposalIds: number[]): OnlineBallot => ({ budgetId: f.budget, headingId, userId, proposalIds });
  const out = await castBatch(f.db, [
    cast(u.id, h1, [p1[0]]), // stored
    cast(v.id, h1, [p1[0], p1[1], p1[2]]), // over the amount
    cast(u.id, h2, [p2[0]]), // another heading while the first has lines
    cast(v.id, h1, [p1[1]]), // stored: a refused ballot does not count
    cast(u.id, h1, []), // empties the ballot
    cast(w.id, h1, [p1[2], p1[0]]),
    cast(u.id, h2, [p2[1], p2[2]]), // now the heading may change
    cast(w.id, h1, [p1[0], p1[2]]), // same proposals, another order
  ]);
  assert.deepEqual(out.map((o) => o.status), ['ok', 'rejected', 'heading', 'ok', 'ok', 'ok', 'ok', 'ok']);
  const id = (i: number) => (out[i] as { id: number }).id;
  assert.equal(id(0), id(4));
  assert.equal(id(4), id(6), 'one ballot for u, updated in place');
  assert.equal(id(5), id(7));
  const stored = async (userId: number) => {
    const b = await f.db.selectFrom('bg_ballots').select(['id', 'heading_id']).where('group_id', '=', f.group).where('user_id', '=', userId).executeTakeFirstOrThrow();
    const lines = await f.db.selectFrom('bg_ballot_lines').select(['proposal_id', 'position']).where('ballot_id', '=', b.id).orderBy('position').execute();
    return { heading: b.heading_id, lines: lines.map((l) => [l.proposal_id, l.position]) };
  };
  assert.deepEqual(await stored(u.id), { heading: h2, lines: [[p2[1], 0], [p2[2], 1]] });
  assert.deepEqual(await stored(v.id), { heading: h1, lines: [[p1[1], 0]] });
  assert.deepEqual(await stored(w.id), { heading: h1, lines: [[p1[0], 0], [p1[2], 1]] }, 'the later one wins, positions included');
});

test('a batch answers and stores exactly what the same ballots cast one at a time do', async () => {
  // Two identical budgets: random batches go to one in a single call, and one ballot per call to
  // the other, in the batch's order (what migration 0002's loop did). Outcomes and stored ballots
  // must be the same, across rounds that update earlier ballots.
  const batched = await cityFixture();
  const single = await cityFixture();
  const residents = [
    ...(await Promise.all(Array.from({ length: 8 }, () => createUser(t.services, { verified: true, communeId: 1 })))),
    await createUser(t.services, { verified: true, communeId: 2 }),
    await createUser(t.services, { verified: false, communeId: 1 }),
  ];
  const paper = residents[7];
  for (const f of [batched, single]) {
    await f.db.transaction().execute((trx) => saveBallot(trx, { budgetId: f.budget, groupId: f.group, headingId: f.headings[0], userId: paper.id, communeId: 1, proposalIds: [f.proposals[0][0]], channel: 'paper' }));
  }
  // mulberry32: deterministic, and unlike a bare LCG its low bits are random too.
  let seed = 20261127;
  const rand = (n: number) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return Math.floor((((x ^ (x >>> 14)) >>> 0) / 4294967296) * n);
  };
  // Items as indexes (heading, proposal) so each budget maps them to its own ids.
  type Item = { user: number; heading: number; picks: Array<[number, number]> };
  const as = (f: Awaited<ReturnType<typeof cityFixture>>, it: Item): OnlineBallot => ({
    budgetId: f.budget,
    headingId: f.headings[it.heading],
    userId: residents[it.user].id,
    proposalIds: it.picks.map(([h, p]) => f.proposals[h][p]),
  });
  const snapshot = async (f: Awaited<ReturnType<typeof cityFixture>>) => {
    const rows = await f.db
      .selectFrom('bg_ballots as b')
      .leftJoin('bg_ballot_lines as l', 'l.ballot_id', 'b.id')
      .select(['b.user_id', 'b.heading_id', 'b.channel', 'l.proposal_id', 'l.position'])
      .where('b.group_id', '=', f.group)
      .orderBy('b.user_id')
      .orderBy('l.position')
      .execute();
    return rows.map((r) => ({
      user: r.user_id,
      heading: f.headings.indexOf(r.heading_id),
      channel: r.channel,
      line: r.proposal_id == null ? null : [f.proposals.findIndex((ps) => ps.includes(r.proposal_id!)), f.proposals.flat().indexOf(r.proposal_id) % 4, r.position],
    }));
  };
  let duplicates = 0;
  const seen = new Set<string>();
  for (let round = 0; round < 6; round++) {
    const items: Item[] = Array.from({ length: 30 }, () => {
      const heading = rand(10) < 6 ? 0 : rand(2) + 1;
      const n = rand(4); // 0..3 proposals: 3 is over the amount unless it repeats a cheap one
      // Mostly the heading's own proposals; now and then a foreign or unfeasible one.
      const picks = Array.from({ length: n }, (): [number, number] => (rand(12) === 0 ? [(heading + 1) % 3, 0] : [heading, rand(12) === 0 ? 3 : rand(3)]));
      return { user: rand(residents.length), heading, picks };
    });
    duplicates += items.length - new Set(items.map((i) => i.user)).size;
    const batchOut = await castBatch(batched.db, items.map((it) => as(batched, it)));
    const singleOut: string[] = [];
    for (const it of items) singleOut.push((await castBatch(single.db, [as(single, it)]))[0].status);
    assert.deepEqual(batchOut.map((o) => o.status), singleOut, `round ${round}`);
    for (const s of singleOut) seen.add(s);
    assert.deepEqual(await snapshot(batched), await snapshot(single), `round ${round}`);
  }
  assert.ok(duplicates > 20, 'the batches did hold the same resident several times');
  assert.deepEqual([...seen].sort(), ['heading', 'ok', 'paper', 'rejected'], 'every outcome came up');
  const statuses = new Set((await castBatch(batched.db, [])).map((o) => o.status));
  assert.equal(statuses.size, 0, 'an empty batch answers nothing');
});

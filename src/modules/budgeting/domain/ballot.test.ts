import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkBallot, type BallotRules } from './ballot';
import { splitByCommune } from './demo';
import { phaseRules, isPhase } from './phases';
import type { PbInstance } from './pabulib';

const knapsack: BallotRules = { phase: 'balloting', votingRule: 'knapsack', maxVotes: null };
const heading = { id: 1, groupId: 1, amount: 1000, communeId: 3 };
const proposals = [
  { id: 10, headingId: 1, price: 600, feasible: true },
  { id: 11, headingId: 1, price: 500, feasible: true },
  { id: 12, headingId: 1, price: null, feasible: false },
  { id: 20, headingId: 2, price: 100, feasible: true },
];
const resident = { verified: true, communeId: 3 };

test('a ballot within the amount passes and reports the money left', () => {
  assert.deepEqual(checkBallot(knapsack, resident, heading, proposals, [10]), { ok: true, total: 600, left: 400 });
  assert.deepEqual(checkBallot(knapsack, resident, heading, proposals, []), { ok: true, total: 0, left: 1000 });
});

test('each refusal names its reason', () => {
  const reason = (r: ReturnType<typeof checkBallot>) => (r.ok ? 'ok' : r.errorKey);
  assert.equal(reason(checkBallot(knapsack, resident, heading, proposals, [10, 11])), 'budgeting.ballot.error.amount');
  assert.equal(checkBallot(knapsack, resident, heading, proposals, [10, 11]).left, -100);
  assert.equal(reason(checkBallot({ ...knapsack, phase: 'selecting' }, resident, heading, proposals, [10])), 'budgeting.ballot.error.phase');
  assert.equal(reason(checkBallot(knapsack, { verified: false, communeId: 3 }, heading, proposals, [10])), 'budgeting.ballot.error.unverified');
  assert.equal(reason(checkBallot(knapsack, { verified: true, communeId: 4 }, heading, proposals, [10])), 'budgeting.ballot.error.heading');
  assert.equal(reason(checkBallot(knapsack, resident, { ...heading, communeId: null }, proposals, [10])), 'ok', 'city-wide headings are for everyone');
  assert.equal(reason(checkBallot(knapsack, resident, heading, proposals, [12])), 'budgeting.ballot.error.proposal');
  assert.equal(reason(checkBallot(knapsack, resident, heading, proposals, [20])), 'budgeting.ballot.error.proposal');
  assert.equal(reason(checkBallot(knapsack, resident, heading, proposals, [99])), 'budgeting.ballot.error.proposal');
  assert.equal(reason(checkBallot(knapsack, resident, heading, proposals, [10, 10])), 'budgeting.ballot.error.duplicate');
  const approval: BallotRules = { phase: 'balloting', votingRule: 'approval', maxVotes: 1 };
  assert.equal(reason(checkBallot(approval, resident, heading, proposals, [10, 11])), 'budgeting.ballot.error.max');
  assert.equal(reason(checkBallot({ ...approval, maxVotes: 2 }, resident, heading, proposals, [10, 11])), 'ok', 'approval ignores the amount');
});

test('phases decide what residents may do', () => {
  assert.ok(isPhase('balloting') && !isPhase('voting'));
  assert.ok(phaseRules.canPropose('accepting') && !phaseRules.canPropose('selecting'));
  assert.ok(phaseRules.canSupport('selecting') && !phaseRules.canSupport('balloting'));
  assert.ok(phaseRules.canBallot('balloting') && !phaseRules.canBallot('finished'));
  assert.ok(!phaseRules.showPrices('valuating') && phaseRules.showPrices('publishing_prices'));
  assert.ok(phaseRules.showResults('finished') && !phaseRules.showResults('reviewing_ballots'));
});

test('the demo split sends districts to communes and each voter to one commune', () => {
  const pb: PbInstance = {
    meta: { budget: '100' },
    projectColumns: ['project_id', 'cost', 'district'],
    projects: [
      { project_id: 'a', cost: 10, fields: { district: '1 - Centro' } },
      { project_id: 'b', cost: 20, fields: { district: '2 - Norte' } },
      { project_id: 'c', cost: 30, fields: { district: '3 - Sur' } },
    ],
    voteColumns: ['voter_id', 'vote'],
    votes: [
      { voter_id: 'v1', vote: ['a', 'c'], fields: {} },
      { voter_id: 'v2', vote: ['b', 'c'], fields: {} },
      { voter_id: 'v3', vote: ['c'], fields: {} },
    ],
  };
  const parts = splitByCommune(pb, 2, 1000);
  // District 3 wraps onto commune 1.
  assert.deepEqual(parts.get(1)!.projects.map((p) => [p.project_id, p.cost]), [['a', 10000], ['c', 30000]]);
  assert.deepEqual(parts.get(2)!.projects.map((p) => p.project_id), ['b']);
  assert.deepEqual(parts.get(1)!.votes.map((v) => [v.voter_id, v.vote]), [['v1', ['a', 'c']], ['v3', ['c']]]);
  // v2 chose one project in each commune: the first wins, its other vote is dropped.
  assert.deepEqual(parts.get(2)!.votes.map((v) => [v.voter_id, v.vote]), [['v2', ['b']]]);
});

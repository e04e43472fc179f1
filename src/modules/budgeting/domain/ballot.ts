/**
 * Whether a ballot may be stored: pure rules, so the page, the API and the paper-ballot desk give
 * the same answer. Each failure carries an i18n key the pages show as is.
 */

export interface BallotHeading {
  id: number;
  groupId: number;
  amount: number;
  communeId: number | null;
}

export interface BallotProposal {
  id: number;
  headingId: number;
  price: number | null;
  feasible: boolean;
}

export interface BallotRules {
  phase: string;
  votingRule: 'knapsack' | 'approval';
  /** K: the most projects an approval ballot may name. */
  maxVotes: number | null;
}

export interface Voter {
  verified: boolean;
  communeId: number | null;
}

export type BallotCheck =
  | { ok: true; total: number; left: number }
  | { ok: false; errorKey: string; total: number; left: number };

export function checkBallot(rules: BallotRules, voter: Voter, heading: BallotHeading, proposals: BallotProposal[], chosen: number[]): BallotCheck {
  const byId = new Map(proposals.map((p) => [p.id, p]));
  let total = 0;
  for (const id of chosen) total += byId.get(id)?.price ?? 0;
  const left = heading.amount - total;
  const fail = (errorKey: string): BallotCheck => ({ ok: false, errorKey, total, left });
  if (rules.phase !== 'balloting') return fail('budgeting.ballot.error.phase');
  if (!voter.verified) return fail('budgeting.ballot.error.unverified');
  if (heading.communeId !== null && heading.communeId !== voter.communeId) return fail('budgeting.ballot.error.heading');
  if (new Set(chosen).size !== chosen.length) return fail('budgeting.ballot.error.duplicate');
  for (const id of chosen) {
    const p = byId.get(id);
    if (!p || p.headingId !== heading.id || !p.feasible || p.price === null) return fail('budgeting.ballot.error.proposal');
  }
  if (rules.votingRule === 'knapsack' && total > heading.amount) return fail('budgeting.ballot.error.amount');
  if (rules.votingRule === 'approval' && rules.maxVotes !== null && chosen.length > rules.maxVotes) return fail('budgeting.ballot.error.max');
  return { ok: true, total, left };
}

/**
 * Results rules of participatory budgeting, as pure functions over (projects, costs, ballots, budget).
 *
 * - greedy: CONSUL's and Pabulib's rule. Sort by votes (by points for cumulative/ordinal ballots),
 *   descending, fund each project that still fits, skip those that do not ('no-skip' stops instead).
 * - mes: the Method of Equal Shares (Peters, Pierczyński, Skowron) with the satisfaction pabutools
 *   calls Cost_Sat for approval ballots (a voter's utility for a project is its cost) and
 *   Additive_Cardinal_Sat for cumulative ballots (the points given), and the completions pabutools
 *   offers: 'add1' (raise every voter's virtual budget by one currency unit until the outcome no
 *   longer fits, see Add1Variant) and utilitarian greedy completion.
 *
 * Ties: see README.md. Greedy breaks ties by lower cost, then project id (Pabulib's convention);
 * MES and its completion break ties by project id compared as strings (pabutools' lexico order).
 * MES runs in floating point; two values within a relative 1e-9 count as a tie.
 */

export interface ElectionProject {
  id: string;
  cost: number;
}

export interface ElectionBallot {
  /** Project ids. For ordinal ballots convert ranks to points first (see fromPb). */
  projects: string[];
  /** Aligned with projects; absent means approval (1 each). */
  points?: number[];
  /** Identical ballots may be merged; defaults to 1. */
  weight?: number;
}

export interface Election {
  budget: number;
  projects: ElectionProject[];
  ballots: ElectionBallot[];
}

export interface Outcome {
  /** In the order the rule picked them. */
  selected: string[];
  cost: number;
}

export type TieBreak = 'cost' | 'id';

export interface Tally {
  votes: number;
  score: number;
}

const EPS = 1e-9;

/** Votes (ballots naming the project) and score (sum of points; votes for approval ballots). */
export function tally(e: Election): Map<string, Tally> {
  const t = new Map<string, Tally>(e.projects.map((p) => [p.id, { votes: 0, score: 0 }]));
  for (const b of e.ballots) {
    const w = b.weight ?? 1;
    b.projects.forEach((id, i) => {
      const x = t.get(id);
      if (!x) return;
      x.votes += w;
      x.score += w * (b.points ? b.points[i] : 1);
    });
  }
  return t;
}

function byId(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface GreedyOptions {
  variant?: 'skip' | 'no-skip';
  /** Only projects with at least this score may be funded (Pabulib's greedy-threshold). */
  threshold?: number;
  tieBreak?: TieBreak;
}

export function greedy(e: Election, opts: GreedyOptions = {}): Outcome {
  const t = tally(e);
  const tieBreak = opts.tieBreak ?? 'cost';
  const order = e.projects
    .filter((p) => t.get(p.id)!.score >= (opts.threshold ?? -Infinity))
    .sort((a, b) => {
      const d = t.get(b.id)!.score - t.get(a.id)!.score;
      if (d !== 0) return d;
      if (tieBreak === 'cost' && a.cost !== b.cost) return a.cost - b.cost;
      return byId(a.id, b.id);
    });
  const selected: string[] = [];
  let cost = 0;
  for (const p of order) {
    if (cost + p.cost <= e.budget * (1 + EPS)) {
      selected.push(p.id);
      cost += p.cost;
    } else if (opts.variant === 'no-skip') break;
  }
  return { selected, cost };
}

/** The election in arrays, with identical ballots merged: what MES iterates over. */
interface Compiled {
  budget: number;
  ids: string[];
  cost: Float64Array;
  /** Position of each project in lexicographic id order (the tie-break). */
  rank: Int32Array;
  weight: Float64Array;
  voters: number;
  supporters: Int32Array[];
  utility: Float64Array[];
  totalUtility: Float64Array;
}

export type Satisfaction = 'cost' | 'points';

function compile(e: Election, sat: Satisfaction): Compiled {
  const index = new Map(e.projects.map((p, i) => [p.id, i]));
  const groups = new Map<string, { b: ElectionBallot; w: number }>();
  let voters = 0;
  for (const b of e.ballots) {
    const key = b.projects.join(',') + '|' + (b.points ? b.points.join(',') : '');
    const w = b.weight ?? 1;
    voters += w;
    const g = groups.get(key);
    if (g) g.w += w;
    else groups.set(key, { b, w });
  }
  const n = e.projects.length;
  const sup: number[][] = Array.from({ length: n }, () => []);
  const utl: number[][] = Array.from({ length: n }, () => []);
  const weight: number[] = [];
  let v = 0;
  for (const { b, w } of groups.values()) {
    b.projects.forEach((id, k) => {
      const i = index.get(id);
      if (i === undefined) return;
      const u = sat === 'cost' ? e.projects[i].cost : b.points ? b.points[k] : 1;
      if (u <= 0) return;
      sup[i].push(v);
      utl[i].push(u);
    });
    weight.push(w);
    v++;
  }
  const ranked = e.projects.map((p, i) => i).sort((a, b) => byId(e.projects[a].id, e.projects[b].id));
  const rank = new Int32Array(n);
  ranked.forEach((p, r) => (rank[p] = r));
  const W = Float64Array.from(weight);
  const totalUtility = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let k = 0; k < sup[i].length; k++) totalUtility[i] += W[sup[i][k]] * utl[i][k];
  return {
    budget: e.budget,
    ids: e.projects.map((p) => p.id),
    cost: Float64Array.from(e.projects.map((p) => p.cost)),
    rank,
    weight: W,
    voters,
    supporters: sup.map((s) => Int32Array.from(s)),
    utility: utl.map((u) => Float64Array.from(u)),
    totalUtility,
  };
}

/**
 * The smallest price per unit of utility ρ at which the supporters of project i can pay its cost,
 * each paying min(budget, ρ·utility); Infinity when they cannot.
 */
function affordability(c: Compiled, i: number, budget: Float64Array): number {
  const cost = c.cost[i];
  if (cost <= 0) return 0;
  const sup = c.supporters[i];
  const utl = c.utility[i];
  let money = 0;
  for (let k = 0; k < sup.length; k++) money += c.weight[sup[k]] * budget[sup[k]];
  if (money < cost * (1 - EPS)) return Infinity;
  // Fixed point instead of a sort: voters whose budget is below ρ·u pay everything they have; the
  // rest share what is left in proportion to utility. ρ grows monotonically to the answer, and each
  // step caps at least one more voter, so it ends after as many steps as there are budget levels.
  let rho = cost / c.totalUtility[i];
  let capped = -1;
  for (;;) {
    let paid = 0;
    let denom = 0;
    let count = 0;
    for (let k = 0; k < sup.length; k++) {
      const v = sup[k];
      if (budget[v] < rho * utl[k] * (1 - EPS)) {
        paid += c.weight[v] * budget[v];
        count++;
      } else denom += c.weight[v] * utl[k];
    }
    if (denom <= 0) return rho;
    const next = (cost - paid) / denom;
    if (count === capped) return next;
    capped = count;
    rho = Math.max(rho, next);
  }
}

/** One run of MES with the given per-voter budget; returns project indexes in selection order. */
function mesRun(c: Compiled, perVoter: number): number[] {
  const budget = new Float64Array(c.weight.length).fill(perVoter);
  const lower = new Float64Array(c.ids.length);
  let remaining: number[] = [];
  for (let i = 0; i < c.ids.length; i++) {
    if (c.cost[i] <= 0 || c.supporters[i].length > 0) {
      remaining.push(i);
      lower[i] = c.totalUtility[i] > 0 ? c.cost[i] / c.totalUtility[i] : 0;
    }
  }
  const winners: number[] = [];
  for (;;) {
    // ρ only grows as budgets shrink, so last round's ρ bounds this round's from below.
    remaining.sort((a, b) => lower[a] - lower[b] || c.rank[a] - c.rank[b]);
    let best = -1;
    let bestRho = Infinity;
    const dropped = new Set<number>();
    for (const i of remaining) {
      if (best >= 0 && lower[i] > bestRho * (1 + EPS)) break;
      const rho = affordability(c, i, budget);
      if (rho === Infinity) {
        dropped.add(i);
        continue;
      }
      lower[i] = rho;
      if (best < 0 || rho < bestRho * (1 - EPS) || (rho <= bestRho * (1 + EPS) && c.rank[i] < c.rank[best])) {
        best = i;
        bestRho = rho;
      }
    }
    if (best < 0) break;
    bestRho = lower[best];
    winners.push(best);
    const sup = c.supporters[best];
    const utl = c.utility[best];
    for (let k = 0; k < sup.length; k++) budget[sup[k]] -= Math.min(budget[sup[k]], bestRho * utl[k]);
    dropped.add(best);
    remaining = remaining.filter((i) => !dropped.has(i));
  }
  return winners;
}

function costOf(c: Compiled, sel: number[]): number {
  let s = 0;
  for (const i of sel) s += c.cost[i];
  return s;
}

function exhaustive(c: Compiled, sel: number[]): boolean {
  const left = c.budget - costOf(c, sel);
  const chosen = new Set(sel);
  for (let i = 0; i < c.ids.length; i++) if (!chosen.has(i) && c.cost[i] <= left * (1 + EPS)) return false;
  return true;
}

/** Utilitarian greedy completion: by total utility per cost, ties by id, skipping what does not fit. */
function complete(c: Compiled, sel: number[]): number[] {
  const chosen = new Set(sel);
  const out = [...sel];
  let spent = costOf(c, sel);
  const ratio = (i: number) => (c.cost[i] > 0 ? c.totalUtility[i] / c.cost[i] : Infinity);
  const rest = c.ids
    .map((_, i) => i)
    .filter((i) => !chosen.has(i) && c.totalUtility[i] > 0)
    .sort((a, b) => {
      const ra = ratio(a);
      const rb = ratio(b);
      if (Math.abs(ra - rb) > EPS * Math.max(ra, rb)) return rb - ra;
      return c.rank[a] - c.rank[b];
    });
  for (const i of rest) {
    if (spent + c.cost[i] <= c.budget * (1 + EPS)) {
      out.push(i);
      spent += c.cost[i];
    }
  }
  return out;
}

/**
 * 'last-feasible': keep raising the per-voter budget while the outcome fits the real budget and
 * take the last outcome that fits (how Assen 2024, Świecie 2023 and Wieliczka 2023 were decided).
 * 'first-exhaustive': stop at the first outcome to which nothing more fits (pabutools'
 * voter_budget_increment and the equalshares.net tool).
 */
export type Add1Variant = 'last-feasible' | 'first-exhaustive';

export interface MesOptions {
  satisfaction?: Satisfaction;
  /** 'add1' raises per-voter budgets; 'greedy' completes with utilitarian greedy afterwards. */
  add1?: boolean;
  add1Variant?: Add1Variant;
  /** Currency units added to each voter's budget per add1 round (1 by default). */
  increment?: number;
  greedyCompletion?: boolean;
  /** Safety bound on the runs of MES add1 makes; past it mes() throws MesRoundsExceeded. */
  maxRounds?: number;
}

export function mes(e: Election, opts: MesOptions = {}): Outcome & { perVoterBudget: number } {
  const sat = opts.satisfaction ?? (e.ballots.some((b) => b.points) ? 'points' : 'cost');
  const c = compile(e, sat);
  const n = c.voters;
  if (n === 0) {
    const sel = opts.greedyCompletion ? complete(c, []) : [];
    return { selected: sel.map((i) => c.ids[i]), cost: costOf(c, sel), perVoterBudget: 0 };
  }
  let perVoter = c.budget / n;
  let sel = mesRun(c, perVoter);
  if (opts.add1) {
    const inc = opts.increment ?? 1;
    const variant = opts.add1Variant ?? 'last-feasible';
    const maxRuns = opts.maxRounds ?? 100_000;
    const supported = c.ids.filter((_, i) => c.supporters[i].length > 0 || c.cost[i] <= 0).length;
    // Past the sum of all costs every supporter can pay any project alone: nothing changes any more.
    const ceiling = c.cost.reduce((s, x) => s + x, 0) + c.budget + inc;
    let runs = 0;
    const run = (b: number) => {
      if (++runs > maxRuns) throw new MesRoundsExceeded(maxRuns, b);
      return mesRun(c, b);
    };
    const key = (out: number[]) => out.join(',');
    // Start from the whole-unit budget below B/n, as the official add1 runs did.
    let b = Math.floor(c.budget / n);
    let cur = run(b);
    let prev: number[] | null = null;
    let prevB = b;
    // Equivalent to raising b by `inc` per round and stopping at the first outcome that does not
    // fit (or is exhaustive, or funds everything), but without running the plateaus where the
    // outcome stays the same: gallop (inc, 2·inc, 4·inc…) to a budget whose outcome differs, then
    // bisect back to the first such budget on the `inc` grid. At peso amounts a plateau is
    // millions of units wide; this needs a few dozen runs per change of outcome.
    for (;;) {
      if (costOf(c, cur) > c.budget * (1 + EPS)) break;
      prev = cur;
      prevB = b;
      if (variant === 'first-exhaustive' && exhaustive(c, cur)) break;
      if (cur.length >= supported) break;
      const same = key(cur);
      let lo = b;
      let step = inc;
      let hi = b + step;
      let hiOut = run(hi);
      while (key(hiOut) === same) {
        if (hi > ceiling) throw new MesRoundsExceeded(runs, hi);
        lo = hi;
        step *= 2;
        hi = lo + step;
        hiOut = run(hi);
      }
      while (hi - lo > inc) {
        const mid = lo + Math.floor((hi - lo) / inc / 2) * inc;
        const o = run(mid);
        if (key(o) === same) lo = mid;
        else {
          hi = mid;
          hiOut = o;
        }
      }
      b = hi;
      cur = hiOut;
    }
    if (prev) {
      sel = prev;
      perVoter = prevB;
    }
  }
  if (opts.greedyCompletion) sel = complete(c, sel);
  return { selected: sel.map((i) => c.ids[i]), cost: costOf(c, sel), perVoterBudget: perVoter };
}

/** add1 needed more runs of MES than allowed: never a silently truncated outcome. */
export class MesRoundsExceeded extends Error {
  constructor(
    readonly runs: number,
    readonly perVoterBudget: number,
  ) {
    super(`MES add1 stopped after ${runs} runs (per-voter budget ${perVoterBudget}) without reaching its end: no outcome is given rather than a possibly wrong one`);
  }
}

export type ResultRule = 'greedy' | 'mes';

/** The rule a budget declares, with the defaults Cabildo uses (README: "Results rules"). */
export function decide(e: Election, rule: ResultRule): Outcome {
  if (rule === 'greedy') return greedy(e);
  const r = mes(e, { add1: true, add1Variant: 'last-feasible' });
  return { selected: r.selected, cost: r.cost };
}

/** How a voter's satisfaction with an outcome is measured when two outcomes are compared. */
export type ComparisonMeasure = 'cardinality' | 'cost';

export interface ComparisonOptions {
  /**
   * 'cardinality' (default): how many of the projects the voter approved are funded (pabutools'
   * Cardinality_Sat, the measure of its "as implemented in Wieliczka and Świecie" recipe);
   * 'cost': how much money goes to projects the voter approved (Cost_Sat).
   */
  measure?: ComparisonMeasure;
  /** The MES run compared; by default the official add1, last-feasible (as decide('mes')). */
  mes?: MesOptions;
}

export interface ComparisonOutcome extends Outcome {
  /** Which outcome was kept. */
  chosen: 'mes' | 'greedy';
  /** Voters (ballot weights) strictly better off under each outcome; the rest are indifferent. */
  preferMes: number;
  preferGreedy: number;
  mes: Outcome;
  greedy: Outcome;
}

/**
 * Wieliczka's rule (Pabulib's `equalshares/add1-comparison`): compute MES, then compare it with
 * greedy by votes and switch to greedy if more voters prefer greedy — a voter prefers the outcome
 * that gives them more (see ComparisonMeasure). A tie keeps MES. Ballot points are ignored: the
 * comparison counts approvals, as Wieliczka's approval ballots do.
 */
export function mesCompareGreedy(e: Election, opts: ComparisonOptions = {}): ComparisonOutcome {
  const measure = opts.measure ?? 'cardinality';
  const m = mes(e, opts.mes ?? { satisfaction: 'cost', add1: true, add1Variant: 'last-feasible' });
  const g = greedy(e);
  const cost = new Map(e.projects.map((p) => [p.id, p.cost]));
  const inM = new Set(m.selected);
  const inG = new Set(g.selected);
  let preferMes = 0;
  let preferGreedy = 0;
  for (const b of e.ballots) {
    let sm = 0;
    let sg = 0;
    for (const id of new Set(b.projects)) {
      const value = measure === 'cost' ? (cost.get(id) ?? 0) : cost.has(id) ? 1 : 0;
      if (inM.has(id)) sm += value;
      if (inG.has(id)) sg += value;
    }
    const w = b.weight ?? 1;
    if (sm > sg) preferMes += w;
    else if (sg > sm) preferGreedy += w;
  }
  const mesOutcome = { selected: m.selected, cost: m.cost };
  const chosen = preferGreedy > preferMes ? 'greedy' : 'mes';
  return { ...(chosen === 'greedy' ? g : mesOutcome), chosen, preferMes, preferGreedy, mes: mesOutcome, greedy: g };
}

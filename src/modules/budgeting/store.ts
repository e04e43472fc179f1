import crypto from 'node:crypto';
import { sql } from 'kysely';
import type { Services } from '../../core/services';
import type { Db } from '../../core/db';
import { bgDb, type BgDb } from './tables';
import type { Phase } from './domain/phases';
import { decide, tally, type Election, type ResultRule } from './domain/rules';
import type { PbInstance } from './domain/pabulib';

export type Trx = BgDb;

/** Audit and mail take core's view of the same transaction. */
export const asCore = (trx: BgDb) => trx as unknown as Db;

export async function listBudgets(db: BgDb) {
  return db.selectFrom('bg_budgets').select(['id', 'name', 'phase', 'year', 'description', 'voting_rule', 'result_rule']).orderBy('id', 'desc').execute();
}

export async function getBudget(db: BgDb, id: number) {
  return db.selectFrom('bg_budgets').selectAll().where('id', '=', id).executeTakeFirst();
}

export type Budget = NonNullable<Awaited<ReturnType<typeof getBudget>>>;

export async function headingsOf(db: BgDb, budgetId: number) {
  return db
    .selectFrom('bg_headings as h')
    .innerJoin('bg_groups as g', 'g.id', 'h.group_id')
    .leftJoin('communes as c', 'c.id', 'h.commune_id')
    .select(['h.id', 'h.name', 'h.amount', 'h.population', 'h.commune_id', 'h.group_id', 'g.name as group_name', 'c.name as commune_name'])
    .where('h.budget_id', '=', budgetId)
    .orderBy('g.id')
    .orderBy('h.commune_id')
    .orderBy('h.id')
    .execute();
}

export type Heading = Awaited<ReturnType<typeof headingsOf>>[number];

export async function phasesOf(db: BgDb, budgetId: number) {
  return db.selectFrom('bg_phases').selectAll().where('budget_id', '=', budgetId).execute();
}

export interface NewBudget {
  name: string;
  description?: string;
  year?: number | null;
  phase?: Phase;
  voting_rule?: 'knapsack' | 'approval';
  max_votes?: number | null;
  result_rule?: ResultRule;
  max_supports?: number;
  source?: Record<string, string> | null;
}

export async function createBudget(trx: BgDb, b: NewBudget) {
  return trx
    .insertInto('bg_budgets')
    .values({ ...b, year: b.year ?? null, max_votes: b.max_votes ?? null, source: b.source ? JSON.stringify(b.source) : null })
    .returning('id')
    .executeTakeFirstOrThrow();
}

export async function createGroup(trx: BgDb, budgetId: number, name: string) {
  return trx.insertInto('bg_groups').values({ budget_id: budgetId, name }).returning('id').executeTakeFirstOrThrow();
}

export async function createHeading(trx: BgDb, h: { budget_id: number; group_id: number; name: string; amount: number; population?: number | null; commune_id?: number | null }) {
  return trx
    .insertInto('bg_headings')
    .values({ ...h, population: h.population ?? null, commune_id: h.commune_id ?? null })
    .returning('id')
    .executeTakeFirstOrThrow();
}

export async function listProposals(db: BgDb, budgetId: number, opts: { headingId?: number; includeHidden?: boolean; feasibleOnly?: boolean; q?: string } = {}) {
  let q = db
    .selectFrom('bg_proposals as p')
    .innerJoin('bg_headings as h', 'h.id', 'p.heading_id')
    .select((eb) => [
      'p.id',
      'p.title',
      'p.description',
      'p.heading_id',
      'h.name as heading_name',
      'p.feasibility',
      'p.price',
      'p.selected',
      'p.hidden_at',
      'p.author_id',
      'p.valuator_id',
      'p.external_id',
      'p.tags',
      eb.selectFrom('bg_supports as s').select(eb.fn.countAll<number>().as('n')).whereRef('s.proposal_id', '=', 'p.id').as('supports'),
      eb.selectFrom('bg_ballot_lines as l').select(eb.fn.countAll<number>().as('n')).whereRef('l.proposal_id', '=', 'p.id').as('votes'),
    ])
    .where('p.budget_id', '=', budgetId);
  if (opts.headingId) q = q.where('p.heading_id', '=', opts.headingId);
  if (!opts.includeHidden) q = q.where('p.hidden_at', 'is', null);
  if (opts.feasibleOnly) q = q.where('p.feasibility', '=', 'feasible').where('p.price', 'is not', null);
  if (opts.q) q = q.where(sql<boolean>`to_tsvector('spanish'::regconfig, public.immutable_unaccent(p.title || ' ' || p.description)) @@ plainto_tsquery('spanish', immutable_unaccent(${opts.q}))`);
  return q.orderBy('p.id').execute();
}

/** What a ballot needs of the heading's proposals, without counting supports or votes. */
export async function ballotProposals(db: BgDb, headingId: number) {
  return db
    .selectFrom('bg_proposals')
    .select(['id', 'title', 'heading_id', 'price', 'feasibility'])
    .where('heading_id', '=', headingId)
    .where('feasibility', '=', 'feasible')
    .where('price', 'is not', null)
    .where('hidden_at', 'is', null)
    .orderBy('id')
    .execute();
}

export type ProposalRow = Awaited<ReturnType<typeof listProposals>>[number];

export async function getProposal(db: BgDb, id: number) {
  return db
    .selectFrom('bg_proposals as p')
    .innerJoin('bg_headings as h', 'h.id', 'p.heading_id')
    .leftJoin('users as u', 'u.id', 'p.author_id')
    .selectAll('p')
    .select((eb) => [
      'h.name as heading_name',
      'h.commune_id as heading_commune_id',
      'u.name as author_name',
      'u.email as author_email',
      eb.selectFrom('bg_supports as s').select(eb.fn.countAll<number>().as('n')).whereRef('s.proposal_id', '=', 'p.id').as('supports'),
      eb.selectFrom('bg_ballot_lines as l').select(eb.fn.countAll<number>().as('n')).whereRef('l.proposal_id', '=', 'p.id').as('votes'),
    ])
    .where('p.id', '=', id)
    .executeTakeFirst();
}

export type Proposal = NonNullable<Awaited<ReturnType<typeof getProposal>>>;

/** A proposal's images and documents, oldest first, with what the page shows of each file. */
export async function attachmentsOf(db: BgDb, proposalId: number) {
  return db
    .selectFrom('bg_proposal_files as a')
    .innerJoin('files as f', 'f.id', 'a.file_id')
    .select(['a.file_id', 'a.kind', 'a.title', 'f.original_name', 'f.size', 'f.width', 'f.height', 'f.content_type'])
    .where('a.proposal_id', '=', proposalId)
    .orderBy('a.position')
    .orderBy('a.file_id')
    .execute();
}

export async function linkFiles(trx: BgDb, proposalId: number, files: Array<{ file: { id: string }; kind: 'image' | 'document'; title: string }>) {
  if (!files.length) return;
  const last = await trx.selectFrom('bg_proposal_files').select((eb) => eb.fn.max('position').as('n')).where('proposal_id', '=', proposalId).executeTakeFirst();
  const start = last?.n == null ? 0 : Number(last.n) + 1;
  await trx
    .insertInto('bg_proposal_files')
    .values(files.map((f, i) => ({ proposal_id: proposalId, file_id: f.file.id, kind: f.kind, title: f.title.slice(0, 200), position: start + i })))
    .execute();
}

export async function supportedBy(db: BgDb, budgetId: number, userId: number): Promise<Set<number>> {
  const rows = await db.selectFrom('bg_supports').select('proposal_id').where('budget_id', '=', budgetId).where('user_id', '=', userId).execute();
  return new Set(rows.map((r) => r.proposal_id));
}

/** A resident's ballot in a group, with its lines. */
export async function ballotOf(db: BgDb, groupId: number, userId: number) {
  const ballot = await db.selectFrom('bg_ballots').selectAll().where('group_id', '=', groupId).where('user_id', '=', userId).executeTakeFirst();
  if (!ballot) return null;
  const lines = await db.selectFrom('bg_ballot_lines').select(['proposal_id', 'points']).where('ballot_id', '=', ballot.id).orderBy('position').execute();
  return { ...ballot, proposalIds: lines.map((l) => l.proposal_id) };
}

export class BallotConflict extends Error {
  constructor(readonly reason: 'paper' | 'heading') {
    super(reason === 'paper' ? 'A ballot for this resident already exists on another channel' : 'The resident already voted in another heading of this group');
  }
}

export class BallotRejected extends Error {
  constructor() {
    super('The ballot breaks a rule of the budget as it is now');
  }
}

export interface OnlineBallot {
  budgetId: number;
  headingId: number;
  userId: number;
  proposalIds: number[];
}

export type CastOutcome = { status: 'ok'; id: number } | { status: 'paper' | 'heading' | 'rejected' };

type Pending = { ballot: OnlineBallot; resolve: (o: CastOutcome) => void; reject: (e: unknown) => void };

/** One call of bg_cast_online_ballots: the batch's outcomes, in the order of `items`. */
export async function castBatch(db: BgDb, items: OnlineBallot[]): Promise<CastOutcome[]> {
  const payload = JSON.stringify(items.map((b, k) => ({ k, budget: b.budgetId, heading: b.headingId, user: b.userId, ids: b.proposalIds })));
  const r = await sql<{ o_k: number; o_id: number | null; o_status: string }>`select o_k, o_id, o_status from bg_cast_online_ballots(${payload}::jsonb)`.execute(db);
  const out: CastOutcome[] = new Array(items.length);
  for (const row of r.rows) out[row.o_k] = row.o_status === 'ok' ? { status: 'ok', id: row.o_id! } : { status: row.o_status as 'paper' | 'heading' | 'rejected' };
  return out;
}

/**
 * Group commit for online ballots. A ballot is sent at once when fewer than `maxInFlight` batches
 * are being stored; otherwise it waits for one of them to finish and goes with every ballot that
 * arrived meanwhile, in one call of bg_cast_online_ballots (migration 0003): one transaction, one
 * WAL flush for the whole batch. Each caller is answered only after that transaction committed,
 * with its own outcome. If the batch fails as a whole (a deadlock with another process, say),
 * nothing of it was stored and each ballot is retried alone, so one bad ballot fails only itself.
 *
 * A call costs PostgreSQL several ballots' worth of CPU whatever its size, so under load the
 * batches should grow rather than multiply: one batch in flight by default (concurrent batches also
 * share-lock the same budget and proposal rows — the budget lock and every line's foreign-key
 * checks — which PostgreSQL then tracks as multixacts), and calls start at least `spacingMs` apart.
 * An idle writer sends a ballot at once; a busy one makes a ballot wait at most `spacingMs` more.
 * Measured at 2,000 ballots/s straight into the writer: 1 in flight and 4 ms spacing used 120–141 µs
 * of PostgreSQL CPU per ballot, against 194–227 µs for 3 in flight without spacing (README).
 */
export class BallotWriter {
  private queue: Pending[] = [];
  private inFlight = 0;
  private lastStart = -Infinity;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: BgDb,
    private readonly maxInFlight = 1,
    private readonly maxBatch = 256,
    private readonly spacingMs = 4,
  ) {}

  cast(ballot: OnlineBallot): Promise<CastOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ballot, resolve, reject });
      this.pump();
    });
  }

  private pump() {
    while (this.inFlight < this.maxInFlight && this.queue.length && !this.timer) {
      const wait = this.lastStart + this.spacingMs - performance.now();
      if (wait > 0 && this.queue.length < this.maxBatch) {
        this.timer = setTimeout(() => {
          this.timer = null;
          this.pump();
        }, wait);
        return;
      }
      this.lastStart = performance.now();
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      void this.flush(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async flush(batch: Pending[]) {
    try {
      const out = await castBatch(this.db, batch.map((p) => p.ballot));
      batch.forEach((p, i) => p.resolve(out[i]));
    } catch (err) {
      if (batch.length === 1) return batch[0].reject(err);
      await Promise.all(
        batch.map(async (p) => {
          try {
            p.resolve((await castBatch(this.db, [p.ballot]))[0]);
          } catch (e) {
            p.reject(e);
          }
        }),
      );
    }
  }
}

/**
 * A resident's online ballot in one round trip, inside the caller's transaction when given one:
 * bg_cast_online_ballots (migration 0003) checks the rules against the current rows, upserts on
 * the unique (group, user) key — only over an online ballot of the same heading, or an empty one —
 * which takes the row lock, then replaces the lines in later statements whose fresh snapshots see
 * whatever a racing request committed meanwhile (a data-modifying CTE in one statement would not,
 * and could leave the union of two ballots).
 */
export async function castOnlineBallot(db: BgDb, b: OnlineBallot): Promise<number> {
  const [o] = await castBatch(db, [b]);
  if (o.status === 'ok') return o.id;
  if (o.status === 'rejected') throw new BallotRejected();
  throw new BallotConflict(o.status);
}

/**
 * Stores a resident's ballot for a group, replacing the previous one. The unique (group, user)
 * constraint decides between racing requests; a paper ballot is never replaced online.
 */
export async function saveBallot(
  trx: BgDb,
  b: { budgetId: number; groupId: number; headingId: number; userId: number; communeId: number | null; proposalIds: number[]; channel: 'online' | 'paper'; enteredBy?: number | null },
): Promise<number> {
  if (b.channel === 'online') return castOnlineBallot(trx, b);
  const row = await trx
    .insertInto('bg_ballots')
    .values({ budget_id: b.budgetId, group_id: b.groupId, heading_id: b.headingId, user_id: b.userId, channel: 'paper', entered_by: b.enteredBy ?? null, commune_id: b.communeId, voter_ref: null, age: null, sex: null })
    .onConflict((oc) => oc.columns(['group_id', 'user_id']).doNothing())
    .returning('id')
    .executeTakeFirst();
  if (!row) throw new BallotConflict('paper');
  if (b.proposalIds.length) {
    await trx
      .insertInto('bg_ballot_lines')
      .values(b.proposalIds.map((proposal_id, position) => ({ ballot_id: row.id, proposal_id, position })))
      .execute();
  }
  return row.id;
}

/** Everything a ballot needs to be checked, in one query: budget, heading and its priced proposals. */
export async function ballotContext(db: BgDb, budgetId: number, headingId: number) {
  const row = await db
    .selectFrom('bg_headings as h')
    .innerJoin('bg_budgets as b', 'b.id', 'h.budget_id')
    .select([
      'b.phase',
      'b.voting_rule',
      'b.max_votes',
      'h.id',
      'h.group_id',
      'h.amount',
      'h.commune_id',
      sql<Array<{ id: number; price: number }>>`coalesce((select json_agg(json_build_object('id', p.id, 'price', p.price)) from bg_proposals p
        where p.heading_id = h.id and p.feasibility = 'feasible' and p.price is not null and p.hidden_at is null), '[]'::json)`.as('proposals'),
    ])
    .where('h.id', '=', headingId)
    .where('h.budget_id', '=', budgetId)
    .executeTakeFirst();
  if (!row) return null;
  return { ...row, amount: Number(row.amount), proposals: row.proposals.map((p) => ({ id: p.id, price: Number(p.price) })) };
}

export type BallotContext = NonNullable<Awaited<ReturnType<typeof ballotContext>>>;

/**
 * ballotContext remembered for a moment per process: on voting day every ballot of a heading
 * needs the same budget, heading and prices. Only the fast path trusts it — the database re-checks
 * every rule when it stores the ballot (bg_cast_online_ballots), and a ballot refused on cached
 * data is checked again on fresh data before the resident is told no. Concurrent misses share
 * one query.
 */
export class BallotContexts {
  private cache = new Map<string, { at: number; ctx: Promise<BallotContext | null> }>();

  constructor(
    private readonly db: BgDb,
    private readonly ttlMs = 2000,
    private readonly max = 1000,
  ) {}

  get(budgetId: number, headingId: number, fresh = false): Promise<BallotContext | null> {
    const key = `${budgetId}:${headingId}`;
    const hit = this.cache.get(key);
    if (!fresh && hit && Date.now() - hit.at < this.ttlMs) return hit.ctx;
    const ctx = ballotContext(this.db, budgetId, headingId);
    if (this.cache.size >= this.max) this.cache.clear();
    const entry = { at: Date.now(), ctx };
    this.cache.set(key, entry);
    // Unknown headings and failures are not remembered.
    ctx.then(
      (c) => {
        if (!c && this.cache.get(key) === entry) this.cache.delete(key);
      },
      () => {
        if (this.cache.get(key) === entry) this.cache.delete(key);
      },
    );
    return ctx;
  }
}

/** The heading's ballot as an election: feasible, priced, visible proposals and every ballot line. */
export async function electionOf(db: BgDb, headingId: number): Promise<{ election: Election; proposals: Map<string, { id: number; title: string; external_id: string | null }> }> {
  const heading = await db.selectFrom('bg_headings').select(['amount']).where('id', '=', headingId).executeTakeFirstOrThrow();
  const props = await db
    .selectFrom('bg_proposals')
    .select(['id', 'title', 'price', 'external_id'])
    .where('heading_id', '=', headingId)
    .where('feasibility', '=', 'feasible')
    .where('price', 'is not', null)
    .where('hidden_at', 'is', null)
    .orderBy('id')
    .execute();
  const lines = await db
    .selectFrom('bg_ballot_lines as l')
    .innerJoin('bg_ballots as b', 'b.id', 'l.ballot_id')
    .select(['l.ballot_id', 'l.proposal_id', 'l.points'])
    .where('b.heading_id', '=', headingId)
    .orderBy('l.ballot_id')
    .orderBy('l.position')
    .execute();
  const valid = new Set(props.map((p) => p.id));
  const ballots = new Map<number, { projects: string[]; points: number[] }>();
  let cumulative = false;
  for (const l of lines) {
    if (!valid.has(l.proposal_id)) continue;
    let b = ballots.get(l.ballot_id);
    if (!b) ballots.set(l.ballot_id, (b = { projects: [], points: [] }));
    b.projects.push(String(l.proposal_id));
    b.points.push(l.points);
    if (l.points !== 1) cumulative = true;
  }
  return {
    election: {
      budget: Number(heading.amount),
      projects: props.map((p) => ({ id: String(p.id), cost: Number(p.price) })),
      ballots: [...ballots.values()].map((b) => (cumulative ? b : { projects: b.projects })),
    },
    proposals: new Map(props.map((p) => [String(p.id), p])),
  };
}

export interface HeadingResult {
  headingId: number;
  amount: number;
  voters: number;
  rows: Array<{ id: number; title: string; external_id: string | null; price: number; votes: number; score: number; selected: boolean }>;
  cost: number;
}

/** Decides the heading with the budget's rule. Rows come sorted by votes, as CONSUL shows them. */
export async function resultsOf(db: BgDb, headingId: number, rule: ResultRule): Promise<HeadingResult> {
  const { election, proposals } = await electionOf(db, headingId);
  return headingResult(headingId, election, proposals, new Set(decide(election, rule).selected));
}

/**
 * The heading's results as published: the winners stored by publishResults when the budget
 * finished (bg_proposals.selected), with today's tallies. Results pages, the API and results.pb
 * read this instead of deciding again on every request (MES add1 is not free at peso amounts).
 */
export async function publishedResultsOf(db: BgDb, headingId: number): Promise<HeadingResult> {
  const { election, proposals } = await electionOf(db, headingId);
  const selected = await db.selectFrom('bg_proposals').select('id').where('heading_id', '=', headingId).where('selected', '=', true).execute();
  return headingResult(headingId, election, proposals, new Set(selected.map((r) => String(r.id))));
}

/** Rows with their tallies and whether each was chosen, sorted by votes as CONSUL shows them; the cost of the chosen. */
function headingResult(headingId: number, election: Election, proposals: Map<string, { id: number; title: string; external_id: string | null }>, chosen: Set<string>): HeadingResult {
  const t = tally(election);
  const rows = election.projects
    .map((p) => ({
      id: proposals.get(p.id)!.id,
      title: proposals.get(p.id)!.title,
      external_id: proposals.get(p.id)!.external_id,
      price: p.cost,
      votes: t.get(p.id)!.votes,
      score: t.get(p.id)!.score,
      selected: chosen.has(p.id),
    }))
    .sort((a, b) => b.score - a.score || a.price - b.price || a.id - b.id);
  const cost = rows.filter((r) => r.selected).reduce((sum, r) => sum + r.price, 0);
  return { headingId, amount: election.budget, voters: election.ballots.length, rows, cost };
}

/** Stores the winners of every heading (when the budget finishes). */
export async function publishResults(trx: BgDb, budget: { id: number; result_rule: ResultRule }) {
  const headings = await trx.selectFrom('bg_headings').select('id').where('budget_id', '=', budget.id).execute();
  await trx.updateTable('bg_proposals').set({ selected: false }).where('budget_id', '=', budget.id).execute();
  for (const h of headings) {
    const r = await resultsOf(trx, h.id, budget.result_rule);
    const ids = r.rows.filter((x) => x.selected).map((x) => x.id);
    if (ids.length) await trx.updateTable('bg_proposals').set({ selected: true }).where('id', 'in', ids).execute();
  }
}

/** Turnout by commune for a budget: ballots by the voter's commune (and by channel). */
export async function turnoutByCommune(db: BgDb, budgetId: number) {
  return db
    .selectFrom('bg_ballots as b')
    .leftJoin('communes as c', 'c.id', 'b.commune_id')
    .select((eb) => ['b.commune_id', 'c.name', eb.fn.countAll<number>().as('ballots')])
    .where('b.budget_id', '=', budgetId)
    .groupBy(['b.commune_id', 'c.name'])
    .orderBy('b.commune_id')
    .execute();
}

export async function participationByDay(db: BgDb, budgetId: number) {
  const ballots = await db
    .selectFrom('bg_ballots')
    .select((eb) => [sql<string>`to_char(created_at at time zone 'America/Argentina/Buenos_Aires', 'YYYY-MM-DD')`.as('day'), eb.fn.countAll<number>().as('n')])
    .where('budget_id', '=', budgetId)
    .groupBy(sql`1`)
    .orderBy(sql`1`)
    .execute();
  const supports = await db
    .selectFrom('bg_supports')
    .select((eb) => [sql<string>`to_char(created_at at time zone 'America/Argentina/Buenos_Aires', 'YYYY-MM-DD')`.as('day'), eb.fn.countAll<number>().as('n')])
    .where('budget_id', '=', budgetId)
    .groupBy(sql`1`)
    .orderBy(sql`1`)
    .execute();
  return { ballots, supports };
}

/** What exactly `equalshares/add1` means here, for whoever recomputes the file (README: "Results rules"). */
export const MES_RULE_NOTE =
  'Method of Equal Shares (Cost_Sat) with add1 completion, last-feasible variant: the per-voter budget starts at floor(budget/voters) and rises by 1 currency unit while the outcome fits the budget, and the last outcome that fits is selected (not the first exhaustive one), without greedy completion, ties by project_id compared as strings';

/** Pabulib voter ids must not reveal accounts: a keyed hash of the ballot id. */
export function anonymousVoterId(secret: string, ballotId: number): string {
  return crypto.createHmac('sha256', secret).update(`bg-ballot:${ballotId}`).digest('hex').slice(0, 16);
}

/** The heading's ballot and results as a Pabulib instance anyone can recompute. */
export async function exportHeading(services: Services, budget: Budget, heading: Heading): Promise<PbInstance> {
  const db = bgDb(services);
  const results = await publishedResultsOf(db, heading.id);
  const lines = await db
    .selectFrom('bg_ballot_lines as l')
    .innerJoin('bg_ballots as b', 'b.id', 'l.ballot_id')
    .select(['b.id', 'b.commune_id', 'b.channel', 'l.proposal_id', 'l.points'])
    .where('b.heading_id', '=', heading.id)
    .orderBy('b.id')
    .orderBy('l.position')
    .execute();
  const valid = new Set(results.rows.map((r) => r.id));
  const votes = new Map<number, { commune: number | null; channel: string; ids: string[]; points: number[] }>();
  let cumulative = false;
  for (const l of lines) {
    if (!valid.has(l.proposal_id)) continue;
    let v = votes.get(l.id);
    if (!v) votes.set(l.id, (v = { commune: l.commune_id, channel: l.channel, ids: [], points: [] }));
    v.ids.push(String(l.proposal_id));
    v.points.push(l.points);
    if (l.points !== 1) cumulative = true;
  }
  const phases = await phasesOf(db, budget.id);
  const balloting = phases.find((p) => p.kind === 'balloting');
  const dmy = (d: Date | null | undefined) => (d ? `${String(d.getDate()).padStart(2, '0')}.${String(d.getMonth() + 1).padStart(2, '0')}.${d.getFullYear()}` : String(budget.year ?? new Date().getFullYear()));
  const meta: Record<string, string> = {
    description: `${budget.name} — ${heading.name}`,
    country: 'Argentina',
    unit: services.config.cityName,
    instance: String(budget.year ?? budget.id),
    subunit: heading.name,
    num_projects: '0',
    num_votes: '0',
    budget: String(heading.amount),
    vote_type: cumulative ? 'cumulative' : 'approval',
    rule: budget.result_rule === 'mes' ? 'equalshares/add1' : 'greedy',
    ...(budget.result_rule === 'mes' ? { rule_variant: 'add1-last-feasible', comment: MES_RULE_NOTE } : {}),
    date_begin: dmy(balloting?.starts_at),
    date_end: dmy(balloting?.ends_at),
    language: 'es',
    currency: budget.currency,
  };
  if (budget.voting_rule === 'approval' && budget.max_votes) meta.max_length = String(budget.max_votes);
  if (budget.voting_rule === 'knapsack') meta.max_sum_cost = String(heading.amount);
  if (heading.commune_id) meta.district = String(heading.commune_id);
  const projectColumns = ['project_id', 'cost', 'votes', ...(cumulative ? ['score'] : []), 'name', 'selected'];
  const voteColumns = ['voter_id', 'vote', ...(cumulative ? ['points'] : []), 'district', 'voting_method'];
  return {
    meta,
    projectColumns,
    projects: results.rows.map((r) => ({
      project_id: String(r.id),
      cost: r.price,
      fields: { votes: String(r.votes), score: String(r.score), name: r.title, selected: r.selected ? '1' : '0' },
    })),
    voteColumns,
    votes: [...votes.entries()].map(([ballotId, v]) => ({
      voter_id: anonymousVoterId(services.secret, ballotId),
      vote: v.ids,
      points: cumulative ? v.points : undefined,
      fields: { district: v.commune === null ? '' : String(v.commune), voting_method: v.channel === 'paper' ? 'paper' : v.channel === 'import' ? 'unknown' : 'internet' },
    })),
  };
}

export interface ImportPart {
  name: string;
  amount: number;
  communeId?: number | null;
  pb: PbInstance;
}

/**
 * Loads Pabulib instances as one budget: each part becomes a heading of one group, its projects
 * feasible priced proposals and its ballots anonymous imported ballots (voters take the heading's
 * commune). Rows go in batches to keep statements small on PGlite. Returns the new budget's id.
 */
export async function importParts(services: Services, budgetDef: NewBudget, groupName: string, parts: ImportPart[]) {
  const db = bgDb(services);
  return db.transaction().execute(async (trx) => {
    const budget = await createBudget(trx, budgetDef);
    const group = await createGroup(trx, budget.id, groupName);
    for (const part of parts) {
      const pb = part.pb;
      const voteType = pb.meta.vote_type ?? 'approval';
      const maxLength = Number(pb.meta.max_length) || Math.max(0, ...pb.votes.map((v) => v.vote.length));
      const heading = await createHeading(trx, { budget_id: budget.id, group_id: group.id, name: part.name, amount: part.amount, commune_id: part.communeId ?? null });
      const ids = new Map<string, number>();
      for (let i = 0; i < pb.projects.length; i += 500) {
        const rows = await trx
          .insertInto('bg_proposals')
          .values(
            pb.projects.slice(i, i + 500).map((p) => ({
              budget_id: budget.id,
              heading_id: heading.id,
              author_id: null,
              external_id: p.project_id,
              title: p.fields.name || p.project_id,
              description: p.fields.description ?? '',
              tags: p.fields.category ? p.fields.category.split(',').map((c) => c.trim()).filter(Boolean) : [],
              feasibility: 'feasible' as const,
              price: p.cost,
              latitude: p.fields.latitude ? Number(p.fields.latitude) || null : null,
              longitude: p.fields.longitude ? Number(p.fields.longitude) || null : null,
              unfeasibility_reason: null,
              price_explanation: null,
              duration: null,
              valuator_id: null,
            })),
          )
          .returning(['id', 'external_id'])
          .execute();
        for (const r of rows) ids.set(r.external_id!, r.id);
      }
      const BATCH = 1000;
      for (let i = 0; i < pb.votes.length; i += BATCH) {
        const chunk = pb.votes.slice(i, i + BATCH);
        const rows = await trx
          .insertInto('bg_ballots')
          .values(
            chunk.map((v) => ({
              budget_id: budget.id,
              group_id: group.id,
              heading_id: heading.id,
              user_id: null,
              voter_ref: v.voter_id,
              channel: 'import' as const,
              entered_by: null,
              commune_id: part.communeId ?? null,
              age: v.fields.age && /^\d+$/.test(v.fields.age) ? Number(v.fields.age) : null,
              sex: v.fields.sex || null,
            })),
          )
          .returning('id')
          .execute();
        const lines: Array<{ ballot_id: number; proposal_id: number; points: number; position: number }> = [];
        chunk.forEach((v, k) => {
          v.vote.forEach((pid, pos) => {
            const points = voteType === 'ordinal' ? maxLength - pos : v.points ? v.points[pos] : 1;
            lines.push({ ballot_id: rows[k].id, proposal_id: ids.get(pid)!, points, position: pos });
          });
        });
        for (let j = 0; j < lines.length; j += 5000) await trx.insertInto('bg_ballot_lines').values(lines.slice(j, j + 5000)).execute();
      }
    }
    if ((budgetDef.phase ?? 'informing') === 'finished') await publishResults(trx, { id: budget.id, result_rule: budgetDef.result_rule ?? 'greedy' });
    return budget.id;
  });
}

/** `cabildo pb import`: one instance as a finished budget with one heading. */
export async function importPb(services: Services, pb: PbInstance, opts: { name?: string } = {}) {
  const rule: ResultRule = (pb.meta.rule ?? '').startsWith('equalshares') ? 'mes' : 'greedy';
  const voteType = pb.meta.vote_type ?? 'approval';
  const name = opts.name ?? ([pb.meta.unit, pb.meta.instance, pb.meta.subunit].filter(Boolean).join(' ') || 'Pabulib');
  return importParts(
    services,
    {
      name,
      description: pb.meta.description ?? '',
      year: Number.parseInt(pb.meta.instance ?? '', 10) || null,
      phase: 'finished',
      voting_rule: voteType === 'approval' && !pb.meta.max_length ? 'knapsack' : 'approval',
      max_votes: pb.meta.max_length ? Number(pb.meta.max_length) : null,
      result_rule: rule,
      source: pb.meta,
    },
    pb.meta.unit ?? name,
    [{ name: pb.meta.subunit || pb.meta.district || name, amount: Number(pb.meta.budget), pb }],
  );
}

export async function countBallots(db: BgDb, budgetId: number): Promise<number> {
  const r = await db.selectFrom('bg_ballots').select((eb) => eb.fn.countAll<number>().as('n')).where('budget_id', '=', budgetId).executeTakeFirstOrThrow();
  return Number(r.n);
}

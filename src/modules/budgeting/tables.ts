import type { ColumnType, Generated, Kysely } from 'kysely';
import type { CoreTables, Json, NullableTimestamp } from '../../core/db/schema';
import type { Services } from '../../core/services';
import type { Phase } from './domain/phases';

export interface BgBudgetsTable {
  id: Generated<number>;
  name: string;
  description: ColumnType<string, string | undefined, string>;
  year: number | null;
  phase: ColumnType<Phase, Phase | undefined, Phase>;
  voting_rule: ColumnType<'knapsack' | 'approval', 'knapsack' | 'approval' | undefined, 'knapsack' | 'approval'>;
  max_votes: number | null;
  result_rule: ColumnType<'greedy' | 'mes', 'greedy' | 'mes' | undefined, 'greedy' | 'mes'>;
  max_supports: ColumnType<number, number | undefined, number>;
  currency: ColumnType<string, string | undefined, string>;
  /** The organising office (migration 0004): its officials enter paper ballots. */
  office_id: ColumnType<number | null, number | null | undefined, number | null>;
  /** For imported Pabulib instances: the file's META. */
  source: Json<Record<string, string>> | null;
  created_at: Generated<Date>;
}

export interface BgPhasesTable {
  budget_id: number;
  kind: Phase;
  starts_at: NullableTimestamp;
  ends_at: NullableTimestamp;
  description: ColumnType<string, string | undefined, string>;
}

export interface BgGroupsTable {
  id: Generated<number>;
  budget_id: number;
  name: string;
}

export interface BgHeadingsTable {
  id: Generated<number>;
  budget_id: number;
  group_id: number;
  name: string;
  amount: ColumnType<number, number | string, number | string>;
  population: number | null;
  commune_id: number | null;
}

export type Feasibility = 'undecided' | 'feasible' | 'unfeasible';

export interface BgProposalsTable {
  id: Generated<number>;
  budget_id: number;
  heading_id: number;
  author_id: number | null;
  external_id: string | null;
  title: string;
  description: ColumnType<string, string | undefined, string>;
  tags: ColumnType<string[], string[] | undefined, string[]>;
  latitude: number | null;
  longitude: number | null;
  address: ColumnType<string | null, string | null | undefined, string | null>;
  /** The office responsible for carrying out a winning project (posts its milestones). */
  office_id: ColumnType<number | null, number | null | undefined, number | null>;
  feasibility: ColumnType<Feasibility, Feasibility | undefined, Feasibility>;
  unfeasibility_reason: string | null;
  price: ColumnType<number | null, number | string | null | undefined, number | string | null>;
  price_explanation: string | null;
  duration: string | null;
  valuator_id: number | null;
  selected: ColumnType<boolean, boolean | undefined, boolean>;
  hidden_at: NullableTimestamp;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface BgSupportsTable {
  proposal_id: number;
  user_id: number;
  budget_id: number;
  created_at: Generated<Date>;
}

export type BallotChannel = 'online' | 'paper' | 'import';

export interface BgBallotsTable {
  id: Generated<number>;
  budget_id: number;
  group_id: number;
  heading_id: number;
  user_id: number | null;
  voter_ref: string | null;
  channel: ColumnType<BallotChannel, BallotChannel | undefined, BallotChannel>;
  entered_by: number | null;
  commune_id: number | null;
  age: number | null;
  sex: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface BgBallotLinesTable {
  ballot_id: number;
  proposal_id: number;
  points: ColumnType<number, number | undefined, number>;
  position: ColumnType<number, number | undefined, number>;
}

export interface BgProposalFilesTable {
  proposal_id: number;
  file_id: string;
  kind: 'image' | 'document';
  title: ColumnType<string, string | undefined, string>;
  position: ColumnType<number, number | undefined, number>;
  created_at: Generated<Date>;
}

export interface BgCommentsTable {
  id: Generated<number>;
  proposal_id: number;
  author_id: number | null;
  body: string;
  hidden_at: NullableTimestamp;
  created_at: Generated<Date>;
}

export interface BgMilestonesTable {
  id: Generated<number>;
  proposal_id: number;
  title: string;
  description: ColumnType<string, string | undefined, string>;
  status: ColumnType<string, string | undefined, string>;
  photo_file_id: string | null;
  author_id: number | null;
  happened_on: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: Generated<Date>;
}

export type BgTables = {
  bg_budgets: BgBudgetsTable;
  bg_phases: BgPhasesTable;
  bg_groups: BgGroupsTable;
  bg_headings: BgHeadingsTable;
  bg_proposals: BgProposalsTable;
  bg_supports: BgSupportsTable;
  bg_ballots: BgBallotsTable;
  bg_ballot_lines: BgBallotLinesTable;
  bg_comments: BgCommentsTable;
  bg_proposal_files: BgProposalFilesTable;
  bg_milestones: BgMilestonesTable;
};

export type BgDb = Kysely<CoreTables & BgTables>;

export function bgDb(services: Services): BgDb {
  return services.db.withTables<BgTables>();
}

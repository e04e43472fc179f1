import type { Election, ElectionBallot, GreedyOptions } from './rules';
import type { PbInstance } from './pabulib';

/**
 * A Pabulib instance as an election. Ordinal ballots become Borda points (max_length − position,
 * as Kraków's `score` column is computed); approval and choose-1 ballots stay approvals.
 */
export function fromPb(pb: PbInstance): Election {
  const voteType = pb.meta.vote_type ?? 'approval';
  const maxLength = Number(pb.meta.max_length) || Math.max(0, ...pb.votes.map((v) => v.vote.length));
  const ballots: ElectionBallot[] = pb.votes.map((v) => {
    if (voteType === 'ordinal') return { projects: v.vote, points: v.vote.map((_, i) => maxLength - i) };
    if ((voteType === 'cumulative' || voteType === 'scoring') && v.points) return { projects: v.vote, points: v.points };
    return { projects: v.vote };
  });
  return { budget: Number(pb.meta.budget), projects: pb.projects.map((p) => ({ id: p.project_id, cost: p.cost })), ballots };
}

/** The greedy variant a file's META `rule` names, or null when the rule is not a greedy one. */
export function greedyVariantOf(pb: PbInstance): GreedyOptions | null {
  const rule = pb.meta.rule ?? '';
  if (!rule.startsWith('greedy')) return null;
  const threshold = pb.meta.min_project_score_threshold ? Number(pb.meta.min_project_score_threshold) : undefined;
  return { variant: rule === 'greedy-no-skip' ? 'no-skip' : 'skip', threshold };
}

/** Ids of projects whose `selected` column is 1 (null when the file has no such column). */
export function selectedOf(pb: PbInstance): string[] | null {
  if (!pb.projectColumns.includes('selected')) return null;
  return pb.projects.filter((p) => p.fields.selected === '1').map((p) => p.project_id);
}

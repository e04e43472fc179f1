import type { PbInstance, PbVote } from './pabulib';

/**
 * Maps a city-wide Pabulib instance with a `district` column onto communes: district n goes to
 * commune ((n − 1) mod communes) + 1, each voter to the commune holding most of the projects they
 * chose (the first such on a tie), keeping only their votes there. Pure, so the demo is repeatable.
 */
export function splitByCommune(pb: PbInstance, communes: number, costFactor = 1): Map<number, PbInstance> {
  const communeOf = new Map<string, number>();
  for (const p of pb.projects) {
    const n = Number.parseInt(p.fields.district ?? '', 10);
    communeOf.set(p.project_id, Number.isFinite(n) && n > 0 ? ((n - 1) % communes) + 1 : 1);
  }
  const parts = new Map<number, PbInstance>();
  for (let c = 1; c <= communes; c++) {
    parts.set(c, { meta: { ...pb.meta, district: String(c) }, projectColumns: pb.projectColumns, projects: [], voteColumns: pb.voteColumns, votes: [] });
  }
  for (const p of pb.projects) parts.get(communeOf.get(p.project_id)!)!.projects.push({ ...p, cost: Math.round(p.cost * costFactor) });
  for (const v of pb.votes) {
    const counts = new Map<number, number>();
    for (const id of v.vote) counts.set(communeOf.get(id)!, (counts.get(communeOf.get(id)!) ?? 0) + 1);
    let best = 0;
    let bestN = 0;
    for (const id of v.vote) {
      const c = communeOf.get(id)!;
      if (counts.get(c)! > bestN) {
        best = c;
        bestN = counts.get(c)!;
      }
    }
    if (!best) continue;
    const kept: PbVote = { ...v, vote: v.vote.filter((id) => communeOf.get(id) === best), points: undefined };
    parts.get(best)!.votes.push(kept);
  }
  return parts;
}

import { sql } from 'kysely';
import type { BgDb } from './tables';
import { ageBand } from './domain/privacy';

// Participation statistics of one budget (GET /budgets/:id/stats): aggregates only, the page
// withholds small cells (domain/privacy.ts). A voter is a person, not a ballot: a resident votes
// once per group, so ballots over-count people in budgets with several groups. Imported ballots
// have no account: each is its own voter (Pabulib's voter id, or the ballot).
const voterKey = sql<string>`coalesce('u' || b.user_id::text, 'r' || b.voter_ref, 'b' || b.id::text)`;
const day = (column: string) => sql<string>`to_char(${sql.ref(column)} at time zone 'America/Argentina/Buenos_Aires', 'YYYY-MM-DD')`;

export interface CommuneRow {
  communeId: number | null;
  name: string | null;
  population: number | null;
  supports: number;
  supporters: number;
  ballots: number;
  voters: number;
}

/** Supports (by the supporter's commune) and ballots and voters (by the voter's commune), with the commune's population. */
export async function participationByCommune(db: BgDb, budgetId: number): Promise<CommuneRow[]> {
  const [communes, supports, ballots] = await Promise.all([
    db.selectFrom('communes').select(['id', 'name', 'population']).orderBy('id').execute(),
    db
      .selectFrom('bg_supports as s')
      .innerJoin('users as u', 'u.id', 's.user_id')
      .select((eb) => ['u.commune_id', eb.fn.countAll<number>().as('supports'), sql<number>`count(distinct s.user_id)`.as('supporters')])
      .where('s.budget_id', '=', budgetId)
      .groupBy('u.commune_id')
      .execute(),
    db
      .selectFrom('bg_ballots as b')
      .select((eb) => ['b.commune_id', eb.fn.countAll<number>().as('ballots'), sql<number>`count(distinct ${voterKey})`.as('voters')])
      .where('b.budget_id', '=', budgetId)
      .groupBy('b.commune_id')
      .execute(),
  ]);
  const rows = new Map<number | null, CommuneRow>();
  for (const c of communes) rows.set(c.id, { communeId: c.id, name: c.name, population: Number(c.population), supports: 0, supporters: 0, ballots: 0, voters: 0 });
  const row = (id: number | null) => {
    let r = rows.get(id);
    if (!r) rows.set(id, (r = { communeId: id, name: null, population: null, supports: 0, supporters: 0, ballots: 0, voters: 0 }));
    return r;
  };
  for (const s of supports) Object.assign(row(s.commune_id), { supports: Number(s.supports), supporters: Number(s.supporters) });
  for (const b of ballots) Object.assign(row(b.commune_id), { ballots: Number(b.ballots), voters: Number(b.voters) });
  return [...rows.values()];
}

/**
 * Distinct voters by age band and gender, the age taken in the budget's year (a 2025 budget read
 * in 2030 still shows who voted in 2025). The ballot's own age/sex (Pabulib imports) come first.
 */
export async function votersByAgeBandAndGender(db: BgDb, budgetId: number, year: number) {
  const rows = await db
    .selectFrom('bg_ballots as b')
    .leftJoin('users as u', 'u.id', 'b.user_id')
    .select([
      sql<number | null>`coalesce(b.age, ${year}::int - u.birth_year)`.as('age'),
      sql<string>`coalesce(b.sex, u.gender, 'unknown')`.as('gender'),
      sql<number>`count(distinct ${voterKey})`.as('n'),
    ])
    .where('b.budget_id', '=', budgetId)
    .groupBy(sql`1, 2`)
    .execute();
  // Bands are summed from ages in the process: a voter's age is one value, so no one counts twice.
  const out = new Map<string, { band: string; gender: string; n: number }>();
  for (const r of rows) {
    const band = ageBand(r.age === null ? null : Number(r.age));
    const key = `${band}|${r.gender}`;
    const cur = out.get(key) ?? { band, gender: r.gender, n: 0 };
    cur.n += Number(r.n);
    out.set(key, cur);
  }
  return [...out.values()].sort((a, b) => (a.band === b.band ? a.gender.localeCompare(b.gender) : a.band.localeCompare(b.band)));
}

/** Per day (Buenos Aires time): supports, distinct supporters, ballots saved (first cast) and distinct voters. */
export async function participationPerDay(db: BgDb, budgetId: number) {
  const [supports, ballots] = await Promise.all([
    db
      .selectFrom('bg_supports as s')
      .select((eb) => [day('s.created_at').as('day'), eb.fn.countAll<number>().as('n'), sql<number>`count(distinct s.user_id)`.as('people')])
      .where('s.budget_id', '=', budgetId)
      .groupBy(sql`1`)
      .execute(),
    db
      .selectFrom('bg_ballots as b')
      .select((eb) => [day('b.created_at').as('day'), eb.fn.countAll<number>().as('n'), sql<number>`count(distinct ${voterKey})`.as('people')])
      .where('b.budget_id', '=', budgetId)
      .groupBy(sql`1`)
      .execute(),
  ]);
  const days = new Map<string, { day: string; supports: number; supporters: number; ballots: number; voters: number }>();
  const at = (d: string) => {
    let r = days.get(d);
    if (!r) days.set(d, (r = { day: d, supports: 0, supporters: 0, ballots: 0, voters: 0 }));
    return r;
  };
  for (const s of supports) Object.assign(at(s.day), { supports: Number(s.n), supporters: Number(s.people) });
  for (const b of ballots) Object.assign(at(b.day), { ballots: Number(b.n), voters: Number(b.people) });
  return [...days.values()].sort((a, b) => a.day.localeCompare(b.day));
}

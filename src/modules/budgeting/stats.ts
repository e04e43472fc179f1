import type { Statistic } from '../../core/manifest';
import type { Services } from '../../core/services';
import { bgDb } from './tables';

/** Headline participation figures for the platform's statistics page. */
export async function budgetingStatistics(services: Services): Promise<Statistic[]> {
  const db = bgDb(services);
  const count = async (table: 'bg_budgets' | 'bg_ballots' | 'bg_supports' | 'bg_proposals') =>
    Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  return [
    { key: 'budgeting.budgets', labelKey: 'budgeting.stat.budgets', value: await count('bg_budgets') },
    { key: 'budgeting.proposals', labelKey: 'budgeting.stat.proposals', value: await count('bg_proposals') },
    { key: 'budgeting.supports', labelKey: 'budgeting.stat.supports', value: await count('bg_supports') },
    { key: 'budgeting.ballots', labelKey: 'budgeting.stat.ballots', value: await count('bg_ballots') },
  ];
}

import type { HubEventProvider } from '../../core/manifest';
import { bgDb } from './tables';

/** Each dated phase of a budget is a way to take part: the hub's calendar lists it. */
export const budgetingHubEvents: HubEventProvider = {
  async events(services, range) {
    const t = services.i18n.translator('es-AR');
    const rows = await bgDb(services)
      .selectFrom('bg_phases as p')
      .innerJoin('bg_budgets as b', 'b.id', 'p.budget_id')
      .select(['b.id', 'b.name', 'p.kind', 'p.starts_at', 'p.ends_at'])
      .where('p.starts_at', 'is not', null)
      .where('p.starts_at', '<=', range.to)
      .where((eb) => eb.or([eb('p.ends_at', 'is', null), eb('p.ends_at', '>=', range.from)]))
      .orderBy('p.starts_at')
      .execute();
    return rows.map((r) => ({
      id: `budget-${r.id}-${r.kind}`,
      title: `${r.name}: ${t(`budgeting.phase.${r.kind}`)}`,
      url: `/budgets/${r.id}`,
      starts_at: r.starts_at!,
      ends_at: r.ends_at ?? undefined,
      kindKey: 'budgeting.kind.phase',
      description: t(`budgeting.phase.${r.kind}.help`),
    }));
  },
};

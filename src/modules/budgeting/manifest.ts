import { fileURLToPath } from 'node:url';
import type { ModuleManifest } from '../../core/manifest';
import { messages } from './messages';
import * as m0001 from './migrations/0001_budgeting';
import * as m0002 from './migrations/0002_ballots_attachments';
import * as m0003 from './migrations/0003_set_based_ballots';
import * as m0004 from './migrations/0004_budget_office';
import { budgetingRoutes } from './routes';
import { budgetingApi } from './api';
import { pbCommand } from './cli';
import { budgetingSearch } from './search';
import { budgetingHubEvents } from './hub';
import { budgetingDatasets } from './datasets';
import { budgetingStatistics } from './stats';
import { seedBudgeting } from './seed';

/** BA Elige: participatory budgeting, CONSUL's cycle, with Pabulib import/export. */
export const manifest: ModuleManifest = {
  name: 'budgeting',
  path: '/budgets',
  titleKey: 'budgeting.title',
  descriptionKey: 'budgeting.description',
  status: 'ready',
  messages,
  migrations: { '0001_budgeting': m0001, '0002_ballots_attachments': m0002, '0003_set_based_ballots': m0003, '0004_budget_office': m0004 },
  routes: budgetingRoutes,
  api: budgetingApi,
  islands: { 'budgeting-ballot': fileURLToPath(new URL('./islands/ballot.ts', import.meta.url)) },
  nav: { order: 20 },
  adminLinks: [{ href: '/budgets', labelKey: 'budgeting.title', audience: 'admin' }],
  search: budgetingSearch,
  hubEvents: budgetingHubEvents,
  datasets: budgetingDatasets,
  statistics: budgetingStatistics,
  seed: seedBudgeting,
  cli: { pb: pbCommand },
};

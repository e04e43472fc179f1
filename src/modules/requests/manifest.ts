import { fileURLToPath } from 'node:url';
import type { ModuleManifest } from '../../core/manifest';
import { messages } from './messages';
import * as m0001 from './migrations/0001_requests';
import * as m0002 from './migrations/0002_service_revision';
import * as m0003 from './migrations/0003_guest_ratings';
import { requestsRoutes } from './routes';
import { requestsApi } from './api';
import { requestsDatasets } from './datasets';
import { requestsSearch } from './search';
import { seedRequests, loadCategoriesFile } from './seed';

/** Collaborative management: service requests residents file and upvote, answered by the office in charge, over Open311. */
export const manifest: ModuleManifest = {
  name: 'requests',
  path: '/requests',
  titleKey: 'requests.title',
  descriptionKey: 'requests.description',
  status: 'ready',
  messages,
  migrations: { '0001_requests': m0001, '0002_service_revision': m0002, '0003_guest_ratings': m0003 },
  routes: requestsRoutes,
  api: requestsApi,
  islands: { 'requests-locate': fileURLToPath(new URL('./islands/locate.ts', import.meta.url)) },
  nav: { order: 40 },
  adminLinks: [
    { href: '/requests/office', labelKey: 'requests.office.title', audience: 'official' },
    { href: '/requests/office/dashboard', labelKey: 'requests.dashboard.title', audience: 'official' },
    { href: '/requests/admin/services', labelKey: 'requests.admin.title', audience: 'admin' },
  ],
  search: requestsSearch,
  datasets: requestsDatasets,
  seed: seedRequests,
  cli: {
    'requests-categories': {
      summary: 'requests-categories <file.json>: add or update service request categories and their questions',
      async run(services, args) {
        if (!args[0]) {
          console.error('Usage: cabildo requests-categories <file.json> (shape: data/demo/requests/categories.json)');
          return 2;
        }
        const cats = await loadCategoriesFile(services, args[0]);
        console.log(`${cats.length} categories loaded`);
        return 0;
      },
    },
  },
  statistics: async (services) => {
    const row = await services.db
      .withTables<{ rq_requests: { status: string } }>()
      .selectFrom('rq_requests')
      .select((eb) => [eb.fn.countAll<number>().as('n')])
      .where('status', '!=', 'merged')
      .executeTakeFirstOrThrow();
    return [{ key: 'requests.total', labelKey: 'requests.stats.total', value: Number(row.n) }];
  },
};

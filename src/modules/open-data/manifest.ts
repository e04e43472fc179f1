import type { ModuleManifest } from '../../core/manifest';
import { messages } from './messages';
import * as m0001 from './migrations/0001_open_data';
import * as m0002 from './migrations/0002_catalogue_version';
import * as m0003 from './migrations/0003_search_speed';
import * as m0004 from './migrations/0004_theme_state';
import * as m0005 from './migrations/0005_datastore_full_text';
import { openDataRoutes } from './routes';
import { searchProvider } from './search';
import { seed } from './seed';
import { harvestCommand } from './harvest';
import { syncRegistry, SYNC_JOB } from './registry-sync';
import { LOAD_JOB, runLoadJob } from './publishing';
import { buildFullText, FULL_TEXT_JOB } from './datastore';
import type { OpenDataTables } from './tables';

export const manifest: ModuleManifest = {
  name: 'open-data',
  path: '/datasets',
  titleKey: 'open-data.title',
  descriptionKey: 'open-data.description',
  status: 'ready',
  messages,
  migrations: { '0001_open_data': m0001, '0002_catalogue_version': m0002, '0003_search_speed': m0003, '0004_theme_state': m0004, '0005_datastore_full_text': m0005 },
  routes: openDataRoutes,
  nav: { order: 10 },
  adminLinks: [
    { href: '/datasets/publish', labelKey: 'open-data.admin.publish', audience: 'official' },
    { href: '/datasets/themes', labelKey: 'open-data.admin.themes', audience: 'admin' },
  ],
  search: searchProvider,
  statistics: async (services) => {
    const db = services.db.withTables<OpenDataTables>();
    const d = await db.selectFrom('od_datasets').select((eb) => eb.fn.countAll<number>().as('n')).where('state', '=', 'active').where('status', '=', 'published').executeTakeFirstOrThrow();
    const s = await db.selectFrom('od_datastore').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return [
      { key: 'open-data.datasets', labelKey: 'open-data.stat.datasets', value: Number(d.n) },
      { key: 'open-data.datastore', labelKey: 'open-data.stat.datastore', value: Number(s.n) },
    ];
  },
  seed,
  jobs: {
    [SYNC_JOB]: async ({ services }) => ({ ...(await syncRegistry(services)) }),
    [LOAD_JOB]: runLoadJob,
    [FULL_TEXT_JOB]: async ({ services, payload, progress }) => ({ ...(await buildFullText(services, String(payload.resourceId), (f) => progress(f))) }),
  },
  // What the modules publish follows their data: at start-up (a deploy that added a dataset) and hourly.
  schedules: [{ job: SYNC_JOB, everyMinutes: 60 }],
  cli: {
    harvest: harvestCommand,
    'open-data-sync': {
      summary: 'publish the datasets other modules declare in the open-data catalogue',
      run: async (services) => {
        const r = await syncRegistry(services);
        console.log(`Registry datasets: ${r.created} created, ${r.updated} updated, ${r.unchanged} unchanged.`);
      },
    },
  },
};

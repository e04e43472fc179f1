import type { ModuleManifest } from '../../core/manifest';
import { messages } from './messages';
import * as m0001 from './migrations/0001_works';
import * as m0002 from './migrations/0002_speed_links_places';
import * as m0003 from './migrations/0003_sources';
import * as m0004 from './migrations/0004_documents_office_edits';
import { worksRoutes, projectsGeoJson, projectsCsv } from './routes';
import { worksApi } from './api';
import { worksCli } from './cli';
import { seedWorks } from './seed';
import { searchWorks } from './search';
import { worksDb, overview } from './store';
import { oc4idsPackageStream } from './export';
import { DEFAULT_PREFIX, type ExportContext } from './domain/oc4ids';
import type { Services } from '../../core/services';

/** BA Obras on Cabildo: every public work's money, progress, workers and place, in OC4IDS. */
export const manifest: ModuleManifest = {
  name: 'works',
  path: '/works',
  titleKey: 'works.title',
  descriptionKey: 'works.description',
  status: 'ready',
  messages,
  migrations: { '0001_works': m0001, '0002_speed_links_places': m0002, '0003_sources': m0003, '0004_documents_office_edits': m0004 },
  routes: worksRoutes,
  api: worksApi,
  nav: { order: 30 },
  adminLinks: [
    { href: '/works/mine', labelKey: 'works.admin.mine', audience: 'official' },
    { href: '/works/import', labelKey: 'works.admin.import', audience: 'official' },
  ],
  search: { search: searchWorks },
  cli: { works: worksCli },
  seed: seedWorks,
  statistics: async (services) => {
    const { totals } = await overview(worksDb(services));
    return [
      { key: 'works.projects', labelKey: 'works.totals.projects', value: totals.projects },
      { key: 'works.investment', labelKey: 'works.totals.investment', value: totals.investment },
      { key: 'works.workers', labelKey: 'works.totals.workers', value: totals.workers },
    ];
  },
  datasets: [
    {
      slug: 'obras-publicas',
      title: { 'es-AR': 'Obras públicas (BA Obras)', en: 'Public works (BA Obras)' },
      description: {
        'es-AR': 'Todas las obras públicas de la ciudad: etapa, avance, monto, contratista, ubicación. También en OC4IDS.',
        en: "All the city's public works: stage, progress, amount, contractor, location. Also in OC4IDS.",
      },
      theme: 'urbanismo-y-territorio',
      keywords: ['obras', 'obra pública', 'contrataciones', 'OC4IDS', 'BA Obras'],
      accrualPeriodicity: 'R/P1D',
      resources: [
        {
          slug: 'obras.csv',
          name: 'Obras (CSV)',
          format: 'CSV',
          mediaType: 'text/csv',
          produce: (services) => projectsCsv(worksDb(services), exportContext(services)),
        },
        {
          slug: 'obras.geojson',
          name: 'Obras (GeoJSON)',
          format: 'GeoJSON',
          mediaType: 'application/geo+json',
          produce: (services) => projectsGeoJson(worksDb(services)),
        },
        {
          slug: 'obras-oc4ids.json',
          name: 'Obras (OC4IDS project package)',
          format: 'JSON',
          mediaType: 'application/json',
          produce: async (services) => {
            const ctx = exportContext(services);
            const chunks: string[] = [];
            for await (const c of oc4idsPackageStream(worksDb(services), ctx, `${ctx.baseUrl}/api/oc4ids/project-package.json`, new Date())) chunks.push(String(c));
            return chunks.join('');
          },
        },
      ],
    },
  ],
};

function exportContext(services: Services): ExportContext {
  return { baseUrl: services.config.baseUrl, prefix: process.env.OC4IDS_PREFIX ?? DEFAULT_PREFIX, cityName: services.config.cityName };
}

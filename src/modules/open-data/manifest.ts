import type { ModuleManifest } from '../../core/manifest';

/** Not built yet: the home page shows an honest "coming soon" card. */
export const manifest: ModuleManifest = {
  name: 'open-data',
  path: '/datasets',
  titleKey: 'open-data.title',
  descriptionKey: 'open-data.description',
  status: 'coming',
  messages: {
    'es-AR': { 'open-data.title': "Datos abiertos", 'open-data.description': "Los datos de la ciudad por sector, con su API CKAN y DCAT." },
    en: { 'open-data.title': "Open data", 'open-data.description': "The city's data by sector, with its CKAN API and DCAT." },
  },
};

import type { ModuleManifest } from '../../core/manifest';

/** Not built yet: the home page shows an honest "coming soon" card. */
export const manifest: ModuleManifest = {
  name: 'works',
  path: '/works',
  titleKey: 'works.title',
  descriptionKey: 'works.description',
  status: 'coming',
  messages: {
    'es-AR': { 'works.title': "Obras públicas", 'works.description': "Cada obra de la ciudad: inversión, avance, empleo y ubicación (OC4IDS)." },
    en: { 'works.title': "Public works", 'works.description': "Every public work: investment, progress, jobs and place (OC4IDS)." },
  },
};

import type { ModuleManifest } from '../../core/manifest';

/** Not built yet: the home page shows an honest "coming soon" card. */
export const manifest: ModuleManifest = {
  name: 'hub',
  path: '/participate',
  titleKey: 'hub.title',
  descriptionKey: 'hub.description',
  status: 'coming',
  messages: {
    'es-AR': { 'hub.title': "Participá", 'hub.description': "Todas las formas de participar, en un calendario." },
    en: { 'hub.title': "Take part", 'hub.description': "Every way to take part, in one calendar." },
  },
};

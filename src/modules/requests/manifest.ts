import type { ModuleManifest } from '../../core/manifest';

/** Not built yet: the home page shows an honest "coming soon" card. */
export const manifest: ModuleManifest = {
  name: 'requests',
  path: '/requests',
  titleKey: 'requests.title',
  descriptionKey: 'requests.description',
  status: 'coming',
  messages: {
    'es-AR': { 'requests.title': "Gestión colaborativa", 'requests.description': "Reportá un problema en la vía pública, sumate a los de tus vecinos y seguí la respuesta." },
    en: { 'requests.title': "Service requests", 'requests.description': "Report a problem in public space, back your neighbours' reports and follow the answer." },
  },
};

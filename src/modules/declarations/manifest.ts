import type { ModuleManifest } from '../../core/manifest';

/** Not built yet: the home page shows an honest "coming soon" card. */
export const manifest: ModuleManifest = {
  name: 'declarations',
  path: '/declarations',
  titleKey: 'declarations.title',
  descriptionKey: 'declarations.description',
  status: 'coming',
  messages: {
    'es-AR': { 'declarations.title': "Declaraciones juradas", 'declarations.description': "Buscá las declaraciones patrimoniales de los funcionarios." },
    en: { 'declarations.title': "Asset declarations", 'declarations.description': "Search the asset declarations of officials." },
  },
};

import type { ModuleManifest } from '../../core/manifest';

/** Not built yet: the home page shows an honest "coming soon" card. */
export const manifest: ModuleManifest = {
  name: 'dialogue',
  path: '/debates',
  titleKey: 'dialogue.title',
  descriptionKey: 'dialogue.description',
  status: 'coming',
  messages: {
    'es-AR': { 'dialogue.title': "Dialogando BA", 'dialogue.description': "Foro permanente de debate con vecinos, expertos y el gobierno." },
    en: { 'dialogue.title': "Dialogando BA", 'dialogue.description': "A continuing forum of debate among residents, experts and the government." },
  },
};

import type { ModuleManifest } from '../../core/manifest';

/** Not built yet: the home page shows an honest "coming soon" card. */
export const manifest: ModuleManifest = {
  name: 'action-plans',
  path: '/action-plans',
  titleKey: 'action-plans.title',
  descriptionKey: 'action-plans.description',
  status: 'coming',
  messages: {
    'es-AR': { 'action-plans.title': "Planes de gobierno abierto", 'action-plans.description': "Los compromisos de la ciudad ante OGP, su avance y tu opinión." },
    en: { 'action-plans.title': "Open government action plans", 'action-plans.description': "The city's OGP commitments, their progress and your feedback." },
  },
};

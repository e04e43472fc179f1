import type { ModuleManifest } from '../../core/manifest';

/** Not built yet: the home page shows an honest "coming soon" card. */
export const manifest: ModuleManifest = {
  name: 'budgeting',
  path: '/budgets',
  titleKey: 'budgeting.title',
  descriptionKey: 'budgeting.description',
  status: 'coming',
  messages: {
    'es-AR': { 'budgeting.title': "Presupuesto participativo", 'budgeting.description': "Proponé proyectos para tu comuna, apoyalos y votalos: BA Elige." },
    en: { 'budgeting.title': "Participatory budgeting", 'budgeting.description': "Propose projects for your commune, support them and vote: BA Elige." },
  },
};

import { stringify } from 'csv-stringify/sync';
import type { PublishedDataset } from '../../core/manifest';
import { bgDb } from './tables';

/** The projects of every budget, with price, votes and whether they were funded. */
export const budgetingDatasets: PublishedDataset[] = [
  {
    slug: 'presupuesto-participativo',
    title: { 'es-AR': 'Presupuesto participativo: proyectos y resultados', en: 'Participatory budgeting: projects and results' },
    description: {
      'es-AR': 'Proyectos presentados al presupuesto participativo, con partida, viabilidad, costo, apoyos, votos y si resultaron financiados. Los votos anónimos de cada partida están en formato Pabulib en /budgets/{id}/results.pb.',
      en: 'Projects proposed to participatory budgeting, with heading, feasibility, price, supports, votes and whether they were funded. Each heading\'s anonymous ballots are in Pabulib format at /budgets/{id}/results.pb.',
    },
    theme: 'gobierno-y-participacion',
    keywords: ['presupuesto participativo', 'BA Elige', 'pabulib'],
    accrualPeriodicity: 'R/P1D',
    resources: [
      {
        slug: 'proyectos',
        name: 'proyectos.csv',
        format: 'CSV',
        mediaType: 'text/csv',
        async produce(services) {
          const db = bgDb(services);
          const rows = await db
            .selectFrom('bg_proposals as p')
            .innerJoin('bg_budgets as b', 'b.id', 'p.budget_id')
            .innerJoin('bg_headings as h', 'h.id', 'p.heading_id')
            .select((eb) => [
              'b.id as budget_id',
              'b.name as budget',
              'b.phase',
              'h.name as heading',
              'h.commune_id',
              'p.id',
              'p.title',
              'p.feasibility',
              'p.price',
              'p.selected',
              eb.selectFrom('bg_supports as s').select(eb.fn.countAll<number>().as('n')).whereRef('s.proposal_id', '=', 'p.id').as('supports'),
              eb.selectFrom('bg_ballot_lines as l').select(eb.fn.countAll<number>().as('n')).whereRef('l.proposal_id', '=', 'p.id').as('votes'),
            ])
            .where('p.hidden_at', 'is', null)
            .orderBy('b.id')
            .orderBy('p.id')
            .execute();
          return stringify(
            rows.map((r) => ({
              ...r,
              price: r.phase === 'finished' || r.phase === 'balloting' || r.phase === 'publishing_prices' || r.phase === 'reviewing_ballots' ? r.price : null,
              votes: r.phase === 'finished' ? r.votes : null,
              selected: r.phase === 'finished' ? r.selected : null,
            })),
            { header: true, columns: ['budget_id', 'budget', 'phase', 'heading', 'commune_id', 'id', 'title', 'feasibility', 'price', 'supports', 'votes', 'selected'] },
          );
        },
      },
    ],
  },
];

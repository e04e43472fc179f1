import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { HttpError } from '../../core/http/guards';
import { PHASES } from './domain/phases';
import { getBudget, headingsOf, listBudgets, publishedResultsOf } from './store';
import { bgDb } from './tables';

const Phase = Type.Union(PHASES.map((p) => Type.Literal(p)));
const BudgetSummary = Type.Object({ id: Type.Integer(), name: Type.String(), phase: Phase, year: Type.Union([Type.Integer(), Type.Null()]) });

/** JSON API under /api/v1: budgets and their results. */
export async function budgetingApi(app: FastifyInstance) {
  const db = bgDb(app.services);

  app.get(
    '/budgets',
    { schema: { tags: ['budgets'], summary: 'Participatory budgets with their phase', response: { 200: Type.Array(BudgetSummary) } } },
    async () => (await listBudgets(db)).map((b) => ({ id: b.id, name: b.name, phase: b.phase, year: b.year })),
  );

  app.get(
    '/budgets/:id',
    {
      schema: {
        tags: ['budgets'],
        summary: 'A budget with its headings (amounts in the budget currency)',
        params: Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2147483647 }) }),
      },
    },
    async (request) => {
      const { id } = request.params as { id: number };
      const b = await getBudget(db, id);
      if (!b) throw new HttpError(404, `No budget ${id}`);
      const headings = await headingsOf(db, id);
      return {
        id: b.id,
        name: b.name,
        phase: b.phase,
        year: b.year,
        voting_rule: b.voting_rule,
        max_votes: b.max_votes,
        result_rule: b.result_rule,
        currency: b.currency,
        headings: headings.map((h) => ({ id: h.id, name: h.name, group: h.group_name, amount: Number(h.amount), commune_id: h.commune_id, results_pb: `/budgets/${id}/results.pb?heading=${h.id}` })),
      };
    },
  );

  app.get(
    '/budgets/:id/results',
    {
      schema: {
        tags: ['budgets'],
        summary: 'Winners per heading by the budget rule (only once the budget is finished)',
        params: Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2147483647 }) }),
      },
    },
    async (request) => {
      const { id } = request.params as { id: number };
      const b = await getBudget(db, id);
      if (!b) throw new HttpError(404, `No budget ${id}`);
      if (b.phase !== 'finished') throw new HttpError(409, 'Results are published when the budget is finished');
      const headings = await headingsOf(db, id);
      const out = [];
      for (const h of headings) {
        const r = await publishedResultsOf(db, h.id);
        out.push({
          heading_id: h.id,
          heading: h.name,
          amount: r.amount,
          voters: r.voters,
          cost: r.cost,
          projects: r.rows.map((x) => ({ id: x.id, external_id: x.external_id, title: x.title, price: x.price, votes: x.votes, score: x.score, selected: x.selected })),
        });
      }
      return { id: b.id, rule: b.result_rule, headings: out };
    },
  );
}

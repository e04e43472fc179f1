import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { notFound } from '../../core/http/guards';
import { FLAGS } from './domain/flags';
import { STAGES, WORK_TYPES } from './domain/normalise';
import { listProjects, worksDb, type Filters } from './store';
import { exportOne } from './export';
import { toOc4ids } from './domain/oc4ids';
import { exportContext } from './routes';

const ProjectSummary = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  type: Type.String(),
  stage: Type.String(),
  progress: Type.Union([Type.Number(), Type.Null()]),
  contract_amount: Type.Union([Type.Number(), Type.Null()]),
  currency: Type.String(),
  communes: Type.Array(Type.Integer()),
  neighbourhood: Type.Union([Type.String(), Type.Null()]),
  office_name: Type.Union([Type.String(), Type.Null()]),
  current_planned_end: Type.Union([Type.String(), Type.Null()]),
  lat: Type.Union([Type.Number(), Type.Null()]),
  lng: Type.Union([Type.Number(), Type.Null()]),
  url: Type.String(),
});

/** JSON API under /api/v1: the same search as /works/projects, and one project in OC4IDS shape. */
export async function worksApi(app: FastifyInstance) {
  const db = worksDb(app.services);

  app.get(
    '/works/projects',
    {
      schema: {
        tags: ['works'],
        summary: 'Search public works (same filters as /works/projects)',
        querystring: Type.Object({
          q: Type.Optional(Type.String({ maxLength: 200 })),
          type: Type.Optional(Type.Union(WORK_TYPES.map((x) => Type.Literal(x)))),
          commune: Type.Optional(Type.Integer({ minimum: 1, maximum: 15 })),
          neighbourhood: Type.Optional(Type.String({ maxLength: 100 })),
          stage: Type.Optional(Type.Union(STAGES.map((x) => Type.Literal(x)))),
          office: Type.Optional(Type.Integer({ minimum: 1 })),
          programme: Type.Optional(Type.Integer({ minimum: 1 })),
          year: Type.Optional(Type.Integer({ minimum: 1900, maximum: 2100 })),
          contractor: Type.Optional(Type.String({ maxLength: 200 })),
          flag: Type.Optional(Type.Union(FLAGS.map((x) => Type.Literal(x)))),
          page: Type.Optional(Type.Integer({ minimum: 1, default: 1 })),
          per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
        }),
        response: { 200: Type.Object({ total: Type.Integer(), page: Type.Integer(), per_page: Type.Integer(), projects: Type.Array(ProjectSummary) }) },
      },
    },
    async (request) => {
      const { page = 1, per_page = 50, ...f } = request.query as Filters & { page?: number; per_page?: number };
      const { rows, total } = await listProjects(db, f, page, per_page);
      const base = app.services.config.baseUrl;
      return {
        total,
        page,
        per_page,
        projects: rows.map((r) => ({
          ...r,
          progress: r.progress === null ? null : Number(r.progress),
          contract_amount: r.contract_amount === null ? null : Number(r.contract_amount),
          url: `${base}/works/${r.id}`,
        })),
      };
    },
  );

  app.get(
    '/works/projects/:id',
    {
      schema: {
        tags: ['works'],
        summary: 'One public work as an OC4IDS project',
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
      },
    },
    async (request) => {
      const { id } = request.params as { id: number };
      const ctx = exportContext(request);
      const p = await exportOne(db, ctx, id);
      if (!p) throw notFound('No such project');
      return toOc4ids(p, ctx);
    },
  );
}

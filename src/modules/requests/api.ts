import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { HttpError } from '../../core/http/guards';
import { estimatedRows, findNearby, rqDb, serviceByCode, viewport } from './store';
import { parseBbox, viewportStrategy } from './domain/geo';
import { OPEN_STATUSES, CLOSED_STATUSES, isOpen, isStatus, type RequestStatus } from './domain/status';
import { OPEN_COLOR, CLOSED_COLOR } from './views/map';

const MAP_LIMIT = 1000;
/** Six decimals (about 10 cm) are more than a map shows, and a third less JSON than a double's digits. */
const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

/** JSON for the map and the report form's duplicate check; Open311 lives at /open311. */
export async function requestsApi(app: FastifyInstance) {
  const db = rqDb(app.services);

  app.get(
    '/requests/map.geojson',
    {
      schema: {
        tags: ['requests'],
        summary:
          'Requests inside a viewport, as GeoJSON (at most 1000: nearest the centre when zoomed in, newest when wide; `truncated` says when there were more). Each feature has `title`, `url` (its page) and `color` (red open, green closed) for maps.',
        querystring: Type.Object({
          bbox: Type.String({ description: 'minLng,minLat,maxLng,maxLat' }),
          service: Type.Optional(Type.String({ description: 'category code' })),
          status: Type.Optional(Type.String({ description: 'open, closed, or one status: submitted, acknowledged, in_progress, solved, not_solvable' })),
          commune: Type.Optional(Type.Integer()),
          neighbourhood: Type.Optional(Type.Integer()),
          from: Type.Optional(Type.String({ format: 'date', description: 'filed on or after (YYYY-MM-DD)' })),
          to: Type.Optional(Type.String({ format: 'date', description: 'filed on or before (YYYY-MM-DD, whole day in the city)' })),
        }),
      },
    },
    async (request, reply) => {
      const q = request.query as { bbox: string; service?: string; status?: string; commune?: number; neighbourhood?: number; from?: string; to?: string };
      const bbox = parseBbox(q.bbox);
      if (!bbox) throw new HttpError(400, 'bbox must be minLng,minLat,maxLng,maxLat');
      let serviceId: number | undefined;
      if (q.service) {
        const s = await serviceByCode(db, q.service);
        if (!s) throw new HttpError(404, `Unknown service "${q.service}"`);
        serviceId = s.id;
      }
      let statuses: RequestStatus[] | undefined;
      if (q.status === 'open') statuses = [...OPEN_STATUSES];
      else if (q.status === 'closed') statuses = CLOSED_STATUSES.filter((s) => s !== 'merged');
      else if (q.status && isStatus(q.status) && q.status !== 'merged') statuses = [q.status];
      else if (q.status) throw new HttpError(400, 'status must be open, closed, submitted, acknowledged, in_progress, solved or not_solvable');
      const from = q.from ? new Date(`${q.from}T00:00:00-03:00`) : undefined;
      const to = q.to ? new Date(`${q.to}T23:59:59-03:00`) : undefined;
      const strategy = viewportStrategy(bbox, await app.services.geo.bounds(), await estimatedRows(db), MAP_LIMIT);
      const rows = await viewport(db, bbox, { serviceId, statuses, communeId: q.commune, neighbourhoodId: q.neighbourhood, from, to }, MAP_LIMIT + 1, strategy);
      const en = request.locale === 'en';
      // Lean properties: a wide viewport sends a thousand of these.
      const features = rows.slice(0, MAP_LIMIT).map((r) => ({
        type: 'Feature' as const,
        id: r.id,
        geometry: { type: 'Point' as const, coordinates: [round6(r.lng!), round6(r.lat!)] },
        properties: {
          title: `#${r.id} ${(en && r.service_name_en) || r.service_name}`,
          url: `/requests/${r.id}`,
          color: isOpen(r.status) ? OPEN_COLOR : CLOSED_COLOR,
          service_code: r.service_code,
          status: r.status,
          upvotes: r.upvotes,
          requested_at: r.requested_at.toISOString(),
        },
      }));
      return reply.type('application/geo+json').send({ type: 'FeatureCollection', truncated: rows.length > MAP_LIMIT, features });
    },
  );

  app.get(
    '/requests/nearby',
    {
      schema: {
        tags: ['requests'],
        summary: 'Open requests of a category within ~100 m filed in the last 90 days: likely duplicates',
        querystring: Type.Object({ service: Type.String(), lat: Type.Number(), lng: Type.Number(), meters: Type.Optional(Type.Integer({ minimum: 10, maximum: 500 })) }),
      },
    },
    async (request) => {
      const q = request.query as { service: string; lat: number; lng: number; meters?: number };
      const s = await serviceByCode(db, q.service);
      if (!s) throw new HttpError(404, `Unknown service "${q.service}"`);
      const rows = await findNearby(db, { serviceId: s.id, lat: q.lat, lng: q.lng, meters: q.meters ?? 100 });
      return { items: rows.map((r) => ({ id: r.id, description: r.description, status: r.status, upvotes: r.upvotes, meters: Math.round(r.meters), requested_at: r.requested_at.toISOString(), url: `/requests/${r.id}` })) };
    },
  );
}

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { HttpError } from '../../core/http/guards';
import { estimatedRows, findNearby, rqDb, serviceByCode, viewport } from './store';
import { parseBbox, viewportStrategy } from './domain/geo';
import { OPEN_STATUSES, CLOSED_STATUSES, open311Status } from './domain/status';

const MAP_LIMIT = 1000;

/** JSON for the map and the report form's duplicate check; Open311 lives at /open311. */
export async function requestsApi(app: FastifyInstance) {
  const db = rqDb(app.services);

  app.get(
    '/requests/map.geojson',
    {
      schema: {
        tags: ['requests'],
        summary: 'Requests inside a viewport, as GeoJSON (at most 1000: nearest the centre when zoomed in, newest when wide; `truncated` says when there were more)',
        querystring: Type.Object({
          bbox: Type.String({ description: 'minLng,minLat,maxLng,maxLat' }),
          service: Type.Optional(Type.String()),
          status: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('closed')])),
        }),
      },
    },
    async (request, reply) => {
      const q = request.query as { bbox: string; service?: string; status?: 'open' | 'closed' };
      const bbox = parseBbox(q.bbox);
      if (!bbox) throw new HttpError(400, 'bbox must be minLng,minLat,maxLng,maxLat');
      let serviceId: number | undefined;
      if (q.service) {
        const s = await serviceByCode(db, q.service);
        if (!s) throw new HttpError(404, `Unknown service "${q.service}"`);
        serviceId = s.id;
      }
      const statuses = q.status === 'open' ? [...OPEN_STATUSES] : q.status === 'closed' ? CLOSED_STATUSES.filter((s) => s !== 'merged') : undefined;
      const strategy = viewportStrategy(bbox, await app.services.geo.bounds(), await estimatedRows(db), MAP_LIMIT);
      const rows = await viewport(db, bbox, { serviceId, statuses }, MAP_LIMIT + 1, strategy);
      const features = rows.slice(0, MAP_LIMIT).map((r) => ({
        type: 'Feature' as const,
        id: r.id,
        geometry: { type: 'Point' as const, coordinates: [r.lng, r.lat] },
        properties: { service_code: r.service_code, service_name: r.service_name, status: r.status, open: open311Status(r.status) === 'open', upvotes: r.upvotes, requested_at: r.requested_at.toISOString() },
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

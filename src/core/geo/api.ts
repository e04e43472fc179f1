import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { HttpError } from '../http/guards';
import { communesGeoJson, neighbourhoodsGeoJson } from './datasets';

export async function geoApi(app: FastifyInstance) {
  const geo = app.services.geo;

  app.get(
    '/geo/locate',
    {
      schema: {
        tags: ['geo'],
        summary: 'Commune and neighbourhood of a point',
        querystring: Type.Object({ lat: Type.Number({ minimum: -90, maximum: 90 }), lng: Type.Number({ minimum: -180, maximum: 180 }) }),
        response: {
          200: Type.Object({
            commune: Type.Object({ id: Type.Integer(), name: Type.String() }),
            neighbourhood: Type.Union([Type.Object({ id: Type.Integer(), slug: Type.String(), name: Type.String() }), Type.Null()]),
          }),
        },
      },
    },
    async (request) => {
      const { lat, lng } = request.query as { lat: number; lng: number };
      const place = await geo.locate(lat, lng);
      if (!place) throw new HttpError(400, `The point (${lat}, ${lng}) is outside the city`);
      return place;
    },
  );

  app.get(
    '/geo/communes',
    { schema: { tags: ['geo'], summary: 'The communes as a GeoJSON FeatureCollection (15 features in the demo city)' } },
    async (_request, reply) => {
      reply.type('application/geo+json').header('cache-control', 'public, max-age=300');
      return communesGeoJson(app.services);
    },
  );

  app.get(
    '/geo/neighbourhoods',
    {
      schema: {
        tags: ['geo'],
        summary: 'The neighbourhoods as a GeoJSON FeatureCollection',
        querystring: Type.Object({ commune: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }),
      },
    },
    async (request, reply) => {
      const { commune } = request.query as { commune?: number };
      reply.type('application/geo+json').header('cache-control', 'public, max-age=300');
      return neighbourhoodsGeoJson(app.services, commune);
    },
  );
}

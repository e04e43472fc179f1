import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { HttpError } from '../http/guards';

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
    { schema: { tags: ['geo'], summary: 'The communes as a GeoJSON FeatureCollection' } },
    async (_request, reply) => {
      const rows = await app.services.db.selectFrom('communes').select(['id', 'name', 'population', 'area_m2', 'geometry']).orderBy('id').execute();
      reply.type('application/geo+json');
      return {
        type: 'FeatureCollection',
        features: rows.map((r) => ({
          type: 'Feature',
          id: r.id,
          properties: { id: r.id, name: r.name, population: r.population, area_m2: r.area_m2 },
          geometry: r.geometry,
        })),
      };
    },
  );

  app.get(
    '/geo/neighbourhoods',
    { schema: { tags: ['geo'], summary: 'The neighbourhoods as a GeoJSON FeatureCollection' } },
    async (_request, reply) => {
      const rows = await app.services.db
        .selectFrom('neighbourhoods')
        .select(['id', 'slug', 'name', 'commune_id', 'population', 'area_m2', 'geometry'])
        .orderBy('id')
        .execute();
      reply.type('application/geo+json');
      return {
        type: 'FeatureCollection',
        features: rows.map(({ geometry, ...p }) => ({ type: 'Feature', id: p.id, properties: p, geometry })),
      };
    },
  );
}

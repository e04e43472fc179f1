import { stringify } from 'csv-stringify/sync';
import type { PublishedDataset } from '../manifest';
import type { Services } from '../services';
import { geoMessages } from './messages';

async function communeRows(services: Services) {
  return services.db.selectFrom('communes').select(['id', 'name', 'population', 'area_m2', 'geometry']).orderBy('id').execute();
}

async function neighbourhoodRows(services: Services) {
  return services.db
    .selectFrom('neighbourhoods')
    .select(['id', 'slug', 'name', 'commune_id', 'population', 'area_m2', 'geometry'])
    .orderBy('name')
    .execute();
}

/** The communes as a GeoJSON FeatureCollection (also served by /api/v1/geo/communes). */
export async function communesGeoJson(services: Services): Promise<GeoJSON.FeatureCollection> {
  const rows = await communeRows(services);
  const hoods = await services.db.selectFrom('neighbourhoods').select(['name', 'commune_id']).orderBy('name').execute();
  return {
    type: 'FeatureCollection',
    features: rows.map(({ geometry, ...p }) => ({
      type: 'Feature',
      id: p.id,
      properties: { ...p, neighbourhoods: hoods.filter((h) => h.commune_id === p.id).map((h) => h.name) },
      geometry,
    })),
  };
}

/** The neighbourhoods as a GeoJSON FeatureCollection, optionally those of one commune. */
export async function neighbourhoodsGeoJson(services: Services, communeId?: number): Promise<GeoJSON.FeatureCollection> {
  let rows = await neighbourhoodRows(services);
  if (communeId != null) rows = rows.filter((r) => r.commune_id === communeId);
  return {
    type: 'FeatureCollection',
    features: rows.map(({ geometry, ...p }) => ({ type: 'Feature', id: p.id, properties: p, geometry })),
  };
}

const m = geoMessages;

/** Datasets core itself publishes through the open-data registry (communes and neighbourhoods). */
export const coreDatasets: PublishedDataset[] = [
  {
    slug: 'comunas-y-barrios',
    title: { 'es-AR': m['es-AR']['geo.dataset.title'], en: m.en['geo.dataset.title'] },
    description: { 'es-AR': m['es-AR']['geo.dataset.description'], en: m.en['geo.dataset.description'] },
    theme: 'urbanismo-y-territorio',
    keywords: ['comunas', 'barrios', 'límites', 'población', 'geografía'],
    accrualPeriodicity: 'R/P1Y',
    resources: [
      {
        slug: 'comunas.geojson',
        name: 'Comunas (GeoJSON)',
        format: 'GeoJSON',
        mediaType: 'application/geo+json',
        produce: async (services) => JSON.stringify(await communesGeoJson(services)),
      },
      {
        slug: 'comunas.csv',
        name: 'Comunas (CSV)',
        format: 'CSV',
        mediaType: 'text/csv',
        produce: async (services) => {
          const geo = await communesGeoJson(services);
          return stringify(
            geo.features.map((f) => {
              const p = f.properties as { id: number; name: string; population: number; area_m2: number; neighbourhoods: string[] };
              return [p.id, p.name, p.population, Math.round(p.area_m2), p.neighbourhoods.join('; ')];
            }),
            { header: true, columns: ['id', 'name', 'population', 'area_m2', 'neighbourhoods'] },
          );
        },
      },
      {
        slug: 'barrios.geojson',
        name: 'Barrios (GeoJSON)',
        format: 'GeoJSON',
        mediaType: 'application/geo+json',
        produce: async (services) => JSON.stringify(await neighbourhoodsGeoJson(services)),
      },
      {
        slug: 'barrios.csv',
        name: 'Barrios (CSV)',
        format: 'CSV',
        mediaType: 'text/csv',
        produce: async (services) => {
          const rows = await neighbourhoodRows(services);
          return stringify(
            rows.map((r) => [r.id, r.slug, r.name, r.commune_id, r.population, Math.round(r.area_m2)]),
            { header: true, columns: ['id', 'slug', 'name', 'commune_id', 'population', 'area_m2'] },
          );
        },
      },
    ],
  },
];

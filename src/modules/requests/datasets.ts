import { stringify } from 'csv-stringify/sync';
import type { PublishedDataset } from '../../core/manifest';
import { datasetRows, rqDb } from './store';
import { open311Status } from './domain/status';

// Points are rounded to ~11 m: enough to place a pothole, not to single out a doorway.
const round = (x: number | null) => (x == null ? null : Math.round(x * 1e4) / 1e4);

/** The requests as open data: no names, e-mails, descriptions or photos (residents write personal details there). */
export const requestsDatasets: PublishedDataset[] = [
  {
    slug: 'reclamos-y-solicitudes',
    title: { 'es-AR': 'Reclamos y solicitudes de gestión colaborativa', en: 'Collaborative management service requests' },
    description: {
      'es-AR': 'Cada reclamo o solicitud de vecinos: categoría, área responsable, estado, fechas, comuna, barrio, ubicación aproximada, apoyos y calificación. Sin datos personales.',
      en: 'Every service request residents filed: category, office, status, dates, commune, neighbourhood, approximate location, upvotes and rating. No personal data.',
    },
    theme: 'urbanismo-y-territorio',
    keywords: ['reclamos', 'open311', 'gestión colaborativa', 'espacio público'],
    accrualPeriodicity: 'R/P1D',
    resources: [
      {
        slug: 'reclamos-csv',
        name: 'reclamos.csv',
        format: 'CSV',
        mediaType: 'text/csv',
        async produce(services) {
          const rows = await datasetRows(rqDb(services));
          return stringify(
            rows.map((r) => [r.id, r.service_code, r.service_name, r.office ?? '', r.status, open311Status(r.status), r.requested_at.toISOString(), r.expected_at?.toISOString() ?? '', r.closed_at?.toISOString() ?? '', r.commune_id ?? '', r.neighbourhood ?? '', round(r.lat) ?? '', round(r.lng) ?? '', r.upvotes, r.source, r.rating ?? '']),
            { header: true, columns: ['id', 'categoria_codigo', 'categoria', 'area_responsable', 'estado', 'estado_open311', 'fecha_ingreso', 'fecha_objetivo', 'fecha_cierre', 'comuna', 'barrio', 'lat', 'lng', 'apoyos', 'canal', 'calificacion'] },
          );
        },
      },
      {
        slug: 'reclamos-geojson',
        name: 'reclamos.geojson',
        format: 'GeoJSON',
        mediaType: 'application/geo+json',
        async produce(services) {
          const rows = await datasetRows(rqDb(services));
          return JSON.stringify({
            type: 'FeatureCollection',
            features: rows
              .filter((r) => r.lat != null && r.lng != null)
              .map((r) => ({
                type: 'Feature',
                geometry: { type: 'Point', coordinates: [round(r.lng), round(r.lat)] },
                properties: { id: r.id, categoria_codigo: r.service_code, categoria: r.service_name, area_responsable: r.office, estado: r.status, fecha_ingreso: r.requested_at.toISOString(), fecha_cierre: r.closed_at?.toISOString() ?? null, comuna: r.commune_id, barrio: r.neighbourhood, apoyos: r.upvotes, calificacion: r.rating },
              })),
          });
        },
      },
    ],
  },
];

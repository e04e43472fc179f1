import booleanPointInPolygon from '@turf/boolean-point-in-polygon';
import type { Kysely } from 'kysely';
import type { CoreTables } from '../db/schema';

export interface Place {
  commune: { id: number; name: string };
  neighbourhood: { id: number; slug: string; name: string } | null;
}

interface Area {
  id: number;
  name: string;
  slug?: string;
  commune_id?: number;
  geometry: GeoJSON.Polygon | GeoJSON.MultiPolygon;
  bbox: [number, number, number, number];
}

/**
 * Communes and neighbourhoods: boundaries and point-in-polygon. The boundaries are reference
 * data that change only when an administrator reloads them, so each process keeps a copy in
 * memory and drops it on `invalidate()`.
 */
export class Geo {
  private cache?: Promise<{ communes: Area[]; neighbourhoods: Area[] }>;

  constructor(private readonly db: Kysely<CoreTables>) {}

  invalidate(): void {
    this.cache = undefined;
  }

  private load() {
    const cached = this.cache;
    if (cached) return cached;
    const loading = (async () => {
      const communes = await this.db.selectFrom('communes').select(['id', 'name', 'geometry']).orderBy('id').execute();
      const hoods = await this.db.selectFrom('neighbourhoods').select(['id', 'slug', 'name', 'commune_id', 'geometry']).orderBy('id').execute();
      const toArea = (r: { id: number; name: string; geometry: GeoJSON.Geometry; slug?: string; commune_id?: number }): Area => ({
        ...r,
        geometry: r.geometry as Area['geometry'],
        bbox: bboxOf(r.geometry),
      });
      return { communes: communes.map(toArea), neighbourhoods: hoods.map(toArea) };
    })();
    this.cache = loading;
    // An empty city is not remembered: another process (`cabildo seed --demo`) may load it any time.
    loading.then(
      (r) => {
        if (!r.communes.length && this.cache === loading) this.cache = undefined;
      },
      () => {
        if (this.cache === loading) this.cache = undefined;
      },
    );
    return loading;
  }

  /** The commune and neighbourhood of a point, or null when it is outside the city. */
  async locate(lat: number, lng: number): Promise<Place | null> {
    if (!Number.isFinite(lat) || !Number.isFinite(lng)) return null;
    const { communes, neighbourhoods } = await this.load();
    const pt: [number, number] = [lng, lat];
    const inside = (a: Area) =>
      lng >= a.bbox[0] && lng <= a.bbox[2] && lat >= a.bbox[1] && lat <= a.bbox[3] && booleanPointInPolygon(pt, a.geometry);
    const hood = neighbourhoods.find(inside);
    // The two layers disagree slightly at their edges; the neighbourhood's commune wins when there is one.
    const commune = (hood && communes.find((c) => c.id === hood.commune_id)) || communes.find(inside);
    if (!commune) return null;
    return {
      commune: { id: commune.id, name: commune.name },
      neighbourhood: hood ? { id: hood.id, slug: hood.slug!, name: hood.name } : null,
    };
  }

  async communes() {
    return (await this.load()).communes;
  }

  async neighbourhoods() {
    return (await this.load()).neighbourhoods;
  }

  /** The city's bounding box [minLng, minLat, maxLng, maxLat]. */
  async bounds(): Promise<[number, number, number, number] | null> {
    const { communes } = await this.load();
    if (!communes.length) return null;
    return communes.reduce<[number, number, number, number]>(
      (b, c) => [Math.min(b[0], c.bbox[0]), Math.min(b[1], c.bbox[1]), Math.max(b[2], c.bbox[2]), Math.max(b[3], c.bbox[3])],
      [Infinity, Infinity, -Infinity, -Infinity],
    );
  }
}

export function bboxOf(g: GeoJSON.Geometry): [number, number, number, number] {
  const b: [number, number, number, number] = [Infinity, Infinity, -Infinity, -Infinity];
  const visit = (c: unknown): void => {
    if (Array.isArray(c) && typeof c[0] === 'number') {
      const [x, y] = c as number[];
      if (x < b[0]) b[0] = x;
      if (y < b[1]) b[1] = y;
      if (x > b[2]) b[2] = x;
      if (y > b[3]) b[3] = y;
    } else if (Array.isArray(c)) c.forEach(visit);
  };
  if ('coordinates' in g) visit(g.coordinates);
  return b;
}

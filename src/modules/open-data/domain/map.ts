/**
 * A small server-side map: longitude/latitude projected (equirectangular, corrected by the
 * latitude's cosine, which is exact enough at a city's scale) into an SVG box.
 */
export type Position = [number, number];

export interface MapShapes {
  points: Position[];
  /** Rings of polygons and lines, as lists of positions. */
  lines: Position[][];
}

const LAT = /^(lat|latitud|latitude|y_lat|coord_y)$/i;
const LNG = /^(lng|lon|long|longitud|longitude|x_lon|coord_x)$/i;

/** The latitude and longitude columns of a table, when it has both. */
export function coordinateColumns(fieldIds: string[]): { lat: string; lng: string } | null {
  const lat = fieldIds.find((f) => LAT.test(f));
  const lng = fieldIds.find((f) => LNG.test(f));
  return lat && lng ? { lat, lng } : null;
}

/** A coordinate cell: numbers, or text with a decimal comma as Argentine files write them. */
export function coordinate(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v !== 'string' || !v.trim()) return null;
  const n = Number(v.trim().replace(',', '.'));
  return Number.isFinite(n) ? n : null;
}

export function validPosition(lng: number | null, lat: number | null): lng is number {
  return lng != null && lat != null && Math.abs(lat) <= 90 && Math.abs(lng) <= 180 && !(lat === 0 && lng === 0);
}

/** Points and rings of any GeoJSON (Feature, FeatureCollection or bare geometry). */
export function shapesOf(geojson: unknown, out: MapShapes = { points: [], lines: [] }, limit = 20000): MapShapes {
  const g = geojson as { type?: string; features?: unknown[]; geometry?: unknown; geometries?: unknown[]; coordinates?: unknown };
  if (!g || typeof g !== 'object' || out.points.length + out.lines.length > limit) return out;
  switch (g.type) {
    case 'FeatureCollection':
      for (const f of g.features ?? []) shapesOf(f, out, limit);
      break;
    case 'Feature':
      shapesOf(g.geometry, out, limit);
      break;
    case 'GeometryCollection':
      for (const x of g.geometries ?? []) shapesOf(x, out, limit);
      break;
    case 'Point':
      out.points.push(g.coordinates as Position);
      break;
    case 'MultiPoint':
      out.points.push(...(g.coordinates as Position[]));
      break;
    case 'LineString':
      out.lines.push(g.coordinates as Position[]);
      break;
    case 'MultiLineString':
    case 'Polygon':
      out.lines.push(...(g.coordinates as Position[][]));
      break;
    case 'MultiPolygon':
      for (const p of g.coordinates as Position[][][]) out.lines.push(...p);
      break;
  }
  return out;
}

export interface Projection {
  width: number;
  height: number;
  project(p: Position): [number, number];
}

export function projection(shapes: MapShapes, width = 640, pad = 10): Projection | null {
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
  const add = ([x, y]: Position) => {
    minX = Math.min(minX, x);
    maxX = Math.max(maxX, x);
    minY = Math.min(minY, y);
    maxY = Math.max(maxY, y);
  };
  shapes.points.forEach(add);
  shapes.lines.forEach((l) => l.forEach(add));
  if (!Number.isFinite(minX)) return null;
  const k = Math.cos((((minY + maxY) / 2) * Math.PI) / 180);
  const spanX = Math.max((maxX - minX) * k, 1e-6);
  const spanY = Math.max(maxY - minY, 1e-6);
  const scale = (width - 2 * pad) / spanX;
  const height = Math.min(900, Math.round(spanY * scale + 2 * pad));
  const s = Math.min(scale, (height - 2 * pad) / spanY);
  return {
    width,
    height,
    project: ([x, y]) => [Math.round((pad + (x - minX) * k * s) * 10) / 10, Math.round((height - pad - (y - minY) * s) * 10) / 10],
  };
}

export function pathOf(line: Position[], p: Projection): string {
  return line.map((pt, i) => `${i ? 'L' : 'M'}${p.project(pt).join(' ')}`).join('');
}

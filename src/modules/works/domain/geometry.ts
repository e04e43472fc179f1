/** Lines and areas of a work (OC4IDS locations): their vertices and a point that stands for them. */

export type Shape = GeoJSON.LineString | GeoJSON.MultiLineString | GeoJSON.Polygon | GeoJSON.MultiPolygon;

const SHAPES = new Set(['LineString', 'MultiLineString', 'Polygon', 'MultiPolygon']);

export function isShape(g: GeoJSON.Geometry | null | undefined): g is Shape {
  return !!g && SHAPES.has(g.type);
}

/** Every position of a geometry, in order ([lng, lat]). */
export function positionsOf(g: GeoJSON.Geometry | null | undefined): Array<[number, number]> {
  if (!g || !('coordinates' in g)) return [];
  const out: Array<[number, number]> = [];
  const walk = (c: unknown): void => {
    if (Array.isArray(c) && typeof c[0] === 'number') out.push([c[0] as number, c[1] as number]);
    else if (Array.isArray(c)) c.forEach(walk);
  };
  walk(g.coordinates);
  return out;
}

/**
 * The vertex nearest the middle of the shape's box: a real vertex, so it is inside the city
 * whenever the shape is, and it gives the work its commune, its place in lists and its
 * neighbours (the box's centre itself could fall outside a bent line or a concave area).
 */
export function representativePoint(g: GeoJSON.Geometry | null | undefined): [number, number] | null {
  const pts = positionsOf(g);
  if (!pts.length) return null;
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of pts) [minX, minY, maxX, maxY] = [Math.min(minX, x), Math.min(minY, y), Math.max(maxX, x), Math.max(maxY, y)];
  const cx = (minX + maxX) / 2;
  const cy = (minY + maxY) / 2;
  let best = pts[0];
  let d = Infinity;
  for (const p of pts) {
    const dd = (p[0] - cx) ** 2 + (p[1] - cy) ** 2;
    if (dd < d) [best, d] = [p, dd];
  }
  return best;
}

/** A geometry with its positions rounded to 5 decimals (about a metre): small GeoJSON for the maps. */
export function rounded(g: GeoJSON.Geometry): GeoJSON.Geometry {
  const r = (c: unknown): unknown => (Array.isArray(c) && typeof c[0] === 'number' ? c.slice(0, 2).map((n) => Math.round((n as number) * 1e5) / 1e5) : Array.isArray(c) ? c.map(r) : c);
  return 'coordinates' in g ? ({ type: g.type, coordinates: r(g.coordinates) } as GeoJSON.Geometry) : g;
}

const EARTH_RADIUS_M = 6_371_008.8;

/** Great-circle distance in metres. */
export function distanceMeters(a: { lat: number; lng: number }, b: { lat: number; lng: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLng = (b.lng - a.lng) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** The lat/lng box that contains a circle of `meters` around a point (for an index lookup). */
export function boxAround(lat: number, lng: number, meters: number): { minLat: number; maxLat: number; minLng: number; maxLng: number } {
  const dLat = (meters / EARTH_RADIUS_M) * (180 / Math.PI);
  const dLng = dLat / Math.max(0.01, Math.cos((lat * Math.PI) / 180));
  return { minLat: lat - dLat, maxLat: lat + dLat, minLng: lng - dLng, maxLng: lng + dLng };
}

/** Parses "minLng,minLat,maxLng,maxLat" as maps send it; null when malformed or absurdly large. */
export function parseBbox(s: unknown): [number, number, number, number] | null {
  if (typeof s !== 'string') return null;
  const p = s.split(',').map(Number);
  if (p.length !== 4 || p.some((n) => !Number.isFinite(n))) return null;
  const [a, b, c, d] = p;
  if (a >= c || b >= d || c - a > 10 || d - b > 10) return null;
  if (Math.abs(b) > 90 || Math.abs(d) > 90 || Math.abs(a) > 180 || Math.abs(c) > 180) return null;
  return [a, b, c, d];
}

/** A lat/lng pair typed by a person: accepts comma decimals; null when not a coordinate. */
export function parseCoordinate(v: unknown, max: number): number | null {
  if (typeof v !== 'string' && typeof v !== 'number') return null;
  const s = String(v).trim().replace(',', '.');
  if (s === '') return null;
  const n = Number(s);
  return Number.isFinite(n) && Math.abs(n) <= max ? n : null;
}

/**
 * How to find the newest points in a viewport. A small viewport holds few rows: read them through
 * the spatial index and keep the newest. A wide one holds many: walk the requests newest-first and
 * keep those inside until the map has enough. With `rows` spread over the city and `limit` wanted,
 * both cost about the same when the viewport covers sqrt(limit / rows) of the city.
 */
export function viewportStrategy(bbox: [number, number, number, number], city: [number, number, number, number] | null, rows: number, limit: number): 'spatial' | 'newest' {
  if (!city || rows <= 0) return 'spatial';
  const w = Math.max(0, Math.min(bbox[2], city[2]) - Math.max(bbox[0], city[0]));
  const h = Math.max(0, Math.min(bbox[3], city[3]) - Math.max(bbox[1], city[1]));
  const share = (w * h) / ((city[2] - city[0]) * (city[3] - city[1]));
  return share > Math.sqrt(limit / rows) ? 'newest' : 'spatial';
}

import type { PageContext } from '../../../core/ui/context';

export interface MapPoint {
  id: number;
  lat: number;
  lng: number;
  label: string;
  open: boolean;
}

export interface Outline {
  id: number;
  name: string;
  geometry: GeoJSON.Polygon | GeoJSON.MultiPolygon;
}

const W = 600;

/** Open requests red, closed green: the SVG map and the interactive one alike. */
export const OPEN_COLOR = '#d83933';
export const CLOSED_COLOR = '#00a91c';

/** Projects the city's box onto an SVG (equirectangular, corrected for latitude: fine at city scale). */
function projector(bounds: [number, number, number, number]) {
  const [minLng, minLat, maxLng, maxLat] = bounds;
  const k = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
  const width = (maxLng - minLng) * k;
  const height = maxLat - minLat;
  const H = Math.round((W * height) / width);
  return { H, xy: (lng: number, lat: number) => [((lng - minLng) * k * W) / width, ((maxLat - lat) * H) / height] as const };
}

function pathOf(g: Outline['geometry'], xy: (lng: number, lat: number) => readonly [number, number]): string {
  const polys = g.type === 'Polygon' ? [g.coordinates] : g.coordinates;
  const parts: string[] = [];
  for (const poly of polys) {
    for (const ring of poly) {
      // Every few vertices are enough at this size.
      const step = Math.max(1, Math.floor(ring.length / 120));
      const pts = ring.filter((_, i) => i % step === 0).map(([x, y]) => xy(x, y));
      parts.push('M' + pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join('L') + 'Z');
    }
  }
  return parts.join('');
}

/**
 * A server-rendered map: commune outlines and request points; works without JS. One image (no
 * focusable points: hundreds of tab stops would bury the page); the list beside it links each request.
 */
export function CityMap({ ctx, title, bounds, outlines, points = [], desc }: { ctx: PageContext; title: string; desc?: string; bounds: [number, number, number, number] | null; outlines: Outline[]; points?: MapPoint[] }) {
  if (!bounds) return null;
  const { H, xy } = projector(bounds);
  return (
    <svg class="rq-map" viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="rq-map-title rq-map-desc" xmlns="http://www.w3.org/2000/svg">
      <title id="rq-map-title">{title}</title>
      <desc id="rq-map-desc">{desc ?? ctx.t('requests.map.desc', { n: points.length })}</desc>
      {outlines.map((o) => (
        <path
          key={o.id}
          d={pathOf(o.geometry, xy)}
          fill="#f0f0f0"
          stroke="#71767a"
          stroke-width="0.8"
        >
          <title>{o.name}</title>
        </path>
      ))}
      {points.map((p) => {
        const [x, y] = xy(p.lng, p.lat);
        return (
          <circle key={p.id} cx={x.toFixed(1)} cy={y.toFixed(1)} r="3.5" fill={p.open ? OPEN_COLOR : CLOSED_COLOR} stroke="#fff" stroke-width="0.8">
            <title>{p.label}</title>
          </circle>
        );
      })}
    </svg>
  );
}

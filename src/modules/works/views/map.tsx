import type { ComponentChildren } from 'preact';
import type { PageContext } from '../../../core/ui/context';
import { MapIsland } from '../../../core/ui/map';
import type { Shape } from '../domain/geometry';

export interface MapPoint {
  id: number;
  name: string;
  lat: number;
  lng: number;
  stage: string;
}

export interface MapArea {
  id: number;
  name: string;
  geometry: GeoJSON.Polygon | GeoJSON.MultiPolygon;
}

const STAGE_COLOURS: Record<string, string> = {
  planned: '#71767a',
  tendering: '#e5a000',
  in_progress: '#005ea2',
  paused: '#d54309',
  finished: '#00a91c',
  cancelled: '#1b1b1b',
};

export const stageColour = (s: string) => STAGE_COLOURS[s] ?? '#71767a';

/** Equirectangular projection of the city's box onto the SVG, correct enough at this latitude. */
function projector(bbox: [number, number, number, number], width: number) {
  const [minLng, minLat, maxLng, maxLat] = bbox;
  const k = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
  const scale = width / ((maxLng - minLng) * k || 1);
  const height = Math.max(50, (maxLat - minLat) * scale);
  return {
    height,
    x: (lng: number) => ((lng - minLng) * k * scale).toFixed(1),
    y: (lat: number) => ((maxLat - lat) * scale).toFixed(1),
  };
}

/** A ring as an SVG path, dropping vertices within a pixel of the last one kept (display only). */
function ringPath(ring: number[][], p: ReturnType<typeof projector>) {
  let out = '';
  let lx = Infinity;
  let ly = Infinity;
  for (const c of ring) {
    const x = Number(p.x(c[0]));
    const y = Number(p.y(c[1]));
    if (out && Math.abs(x - lx) < 1 && Math.abs(y - ly) < 1) continue;
    out += `${out ? 'L' : 'M'}${Math.round(x)} ${Math.round(y)}`;
    lx = x;
    ly = y;
  }
  return out + 'Z';
}

function linePath(g: GeoJSON.LineString | GeoJSON.MultiLineString, p: ReturnType<typeof projector>) {
  const lines = g.type === 'LineString' ? [g.coordinates] : g.coordinates;
  return lines.map((l) => l.map((c, i) => `${i ? 'L' : 'M'}${p.x(c[0])} ${p.y(c[1])}`).join('')).join('');
}

function areaPath(g: MapArea['geometry'], p: ReturnType<typeof projector>) {
  const polys = g.type === 'Polygon' ? [g.coordinates] : g.coordinates;
  return polys.map((poly) => poly.map((r) => ringPath(r, p)).join('')).join('');
}

/**
 * Every project as a dot over the communes, linked to its page (up to 2,000 dots; beyond that
 * the page would weigh megabytes, so the dots are drawn without links and the table links).
 * Works without JavaScript.
 * The list beside it (or the table on the page) is the accessible alternative.
 */
export function ProjectMap({
  ctx,
  title,
  points,
  areas,
  bbox,
  linked = true,
  shapes = [],
}: {
  ctx: PageContext;
  title: string;
  points: MapPoint[];
  areas: MapArea[];
  bbox: [number, number, number, number];
  linked?: boolean;
  /** A work's line (a street, a duct) or area (a park), drawn in its stage's colour. */
  shapes?: Array<{ geometry: Shape; stage: string }>;
}) {
  const width = 600;
  const pr = projector(bbox, width);
  return (
    <div class="city-map">
      {/* With links inside, the map is a group of links rather than one image (axe: nested-interactive). */}
      <svg viewBox={`0 0 ${width} ${pr.height.toFixed(0)}`} role={linked ? 'group' : 'img'} aria-label={title} xmlns="http://www.w3.org/2000/svg">
        <title>{title}</title>
        {areas.map((a) => (
          <path key={a.id} class="commune" d={areaPath(a.geometry, pr)} fill="#e7f2f8" stroke="#005ea2" stroke-width="0.6" />
        ))}
        {shapes.map((sh, i) =>
          sh.geometry.type === 'LineString' || sh.geometry.type === 'MultiLineString' ? (
            <path key={`s${i}`} class="work-line" d={linePath(sh.geometry, pr)} fill="none" stroke={stageColour(sh.stage)} stroke-width="4" stroke-linecap="round" stroke-linejoin="round" />
          ) : (
            <path key={`s${i}`} class="work-area" d={areaPath(sh.geometry, pr)} fill={stageColour(sh.stage)} fill-opacity="0.35" stroke={stageColour(sh.stage)} stroke-width="2" />
          ),
        )}
        {points.map((pt) => {
          const dot = <circle cx={pr.x(pt.lng)} cy={pr.y(pt.lat)} r="3" fill={stageColour(pt.stage)} fill-opacity="0.8" stroke="#fff" stroke-width="0.5" />;
          return linked ? (
            <a key={pt.id} href={`/works/${pt.id}`} aria-label={pt.name}>
              <title>{pt.name}</title>
              {dot}
            </a>
          ) : (
            <g key={pt.id}>{dot}</g>
          );
        })}
      </svg>
      <ul class="usa-list usa-list--unstyled display-flex flex-wrap margin-top-1">
        {Object.keys(STAGE_COLOURS).map((s) => (
          <li key={s} class="margin-right-2">
            <svg width="12" height="12" aria-hidden="true">
              <circle cx="6" cy="6" r="5" fill={stageColour(s)} />
            </svg>{' '}
            {ctx.t(`works.stage.${s}`)}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** Bounding box of the points, padded, for when no commune boundaries are loaded. */
export function pointsBox(points: Array<{ lat: number; lng: number }>): [number, number, number, number] {
  if (!points.length) return [-58.54, -34.71, -58.33, -34.52];
  let b: [number, number, number, number] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const p of points) b = [Math.min(b[0], p.lng), Math.min(b[1], p.lat), Math.max(b[2], p.lng), Math.max(b[3], p.lat)];
  const pad = 0.005;
  return [b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad];
}

/**
 * Core's map island turns the SVG inside into Leaflet once tiles load: the communes as the base
 * layer and the works (`/works/map.geojson`, same filters) as coloured points whose popup links
 * to each work. Without a tile server configured the SVG, with its communes, is the better map.
 */
export function Interactive({ ctx, pointsUrl, children }: { ctx: PageContext; pointsUrl: string; children: ComponentChildren }) {
  if (!ctx.config.tileUrl) return <>{children}</>;
  return (
    <MapIsland ctx={ctx} pointsUrl={pointsUrl} label={ctx.t('works.map.interactive')}>
      {children}
    </MapIsland>
  );
}

export function interactiveAssets(ctx: PageContext): { islands?: string[]; styles?: Array<'leaflet'> } {
  return ctx.config.tileUrl ? { islands: ['map'], styles: ['leaflet'] } : {};
}

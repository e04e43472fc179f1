import type { ComponentChildren } from 'preact';
import { render } from 'preact-render-to-string';
import type { PageContext } from './context';

/** What the map needs of a commune: the shape Geo.communes() returns. */
export interface MapArea {
  id: number;
  name: string;
  geometry: GeoJSON.Geometry;
}

export interface CommunesMapProps {
  ctx: PageContext;
  communes: MapArea[];
  /** A commune drawn in the accent colour (e.g. the one a page is about). */
  highlight?: number;
  /** Where each commune links, with {id} replaced; null draws a picture without links. Default /communes/{id}. */
  link?: string | null;
  /** A value per commune id: the map becomes a choropleth with a legend and a data table. */
  values?: Record<number, number>;
  /** Column heading of the values in the data table, and how to write them. */
  valueLabel?: string;
  formatValue?: (v: number) => string;
  /** Accessible name of the map; a sensible default otherwise. */
  label?: string;
  /** Unique per page when a page shows two maps. */
  id?: string;
  /** Hide the accessible list/table under the map (when the page already lists the communes). */
  list?: boolean;
}

// Small enough that the stylesheet's 11px labels stay readable once the map is scaled to fit the page.
const WIDTH = 440;
const PAD = 6;
/** Light to dark, readable with black labels on the lighter half and colour-blind safe (ColorBrewer Blues). */
const SHADES = ['#deebf7', '#9ecae1', '#6baed6', '#3182bd', '#08519c'];

interface Projection {
  x(lng: number): number;
  y(lat: number): number;
  height: number;
}

/** Equirectangular with cos(lat) scaling: at a city's scale it looks like the city. */
function projection(bbox: [number, number, number, number]): Projection {
  const [minLng, minLat, maxLng, maxLat] = bbox;
  const k = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
  const s = (WIDTH - 2 * PAD) / ((maxLng - minLng) * k || 1);
  return {
    x: (lng) => PAD + (lng - minLng) * k * s,
    y: (lat) => PAD + (maxLat - lat) * s,
    height: Math.ceil((maxLat - minLat) * s + 2 * PAD),
  };
}

function rings(g: GeoJSON.Geometry): GeoJSON.Position[][] {
  if (g.type === 'Polygon') return g.coordinates;
  if (g.type === 'MultiPolygon') return g.coordinates.flat();
  return [];
}

function bboxOf(areas: MapArea[]): [number, number, number, number] {
  const b: [number, number, number, number] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const a of areas)
    for (const ring of rings(a.geometry))
      for (const [x, y] of ring) {
        if (x < b[0]) b[0] = x;
        if (y < b[1]) b[1] = y;
        if (x > b[2]) b[2] = x;
        if (y > b[3]) b[3] = y;
      }
  return b;
}

/**
 * An SVG path for a geometry. The real boundaries have thousands of vertices; on screen a point
 * closer than about a pixel to the last one kept adds nothing, so it is dropped (display only).
 */
function pathOf(g: GeoJSON.Geometry, p: Projection): string {
  const parts: string[] = [];
  for (const ring of rings(g)) {
    let last: [number, number] | null = null;
    const pts: string[] = [];
    ring.forEach(([lng, lat], i) => {
      const x = p.x(lng);
      const y = p.y(lat);
      const isLast = i === ring.length - 1;
      if (last && !isLast && Math.hypot(x - last[0], y - last[1]) < 0.8) return;
      last = [x, y];
      pts.push(`${x.toFixed(1)} ${y.toFixed(1)}`);
    });
    if (pts.length >= 3) parts.push(`M${pts.join('L')}Z`);
  }
  return parts.join('');
}

/** Where to put a commune's label: the area-weighted centroid of its largest ring. */
function labelPoint(g: GeoJSON.Geometry, p: Projection): [number, number] {
  let best: { area: number; cx: number; cy: number } | null = null;
  const outer = g.type === 'Polygon' ? [g.coordinates[0]] : g.type === 'MultiPolygon' ? g.coordinates.map((poly) => poly[0]) : [];
  for (const ring of outer) {
    let a = 0;
    let cx = 0;
    let cy = 0;
    for (let i = 0; i < ring.length - 1; i++) {
      const x0 = p.x(ring[i][0]);
      const y0 = p.y(ring[i][1]);
      const x1 = p.x(ring[i + 1][0]);
      const y1 = p.y(ring[i + 1][1]);
      const f = x0 * y1 - x1 * y0;
      a += f;
      cx += (x0 + x1) * f;
      cy += (y0 + y1) * f;
    }
    if (a !== 0 && (!best || Math.abs(a) > best.area)) best = { area: Math.abs(a), cx: cx / (3 * a), cy: cy / (3 * a) };
  }
  return best ? [best.cx, best.cy] : [0, 0];
}

interface Drawing {
  height: number;
  shapes: Map<number, { d: string; label: [number, number] }>;
  /** Finished SVG markup by options. */
  svg: Map<string, string>;
}

// Projecting thousands of vertices costs tens of milliseconds; Geo hands out the same array until the
// boundaries change, so the drawing is made once per array (and dropped with it).
const drawings = new WeakMap<MapArea[], Drawing>();

function drawingOf(communes: MapArea[]): Drawing {
  let drawing = drawings.get(communes);
  if (!drawing) {
    const p = projection(bboxOf(communes));
    drawing = { height: p.height, svg: new Map(), shapes: new Map(communes.map((c) => [c.id, { d: pathOf(c.geometry, p), label: labelPoint(c.geometry, p) }])) };
    drawings.set(communes, drawing);
  }
  return drawing;
}

/** Class breaks for a choropleth: equal-count (quantile) classes, at most five. */
export function classBreaks(values: number[], classes = SHADES.length): number[] {
  const sorted = [...values].filter(Number.isFinite).sort((a, b) => a - b);
  if (!sorted.length) return [];
  const n = Math.min(classes, new Set(sorted).size);
  const breaks: number[] = [];
  for (let i = 1; i < n; i++) breaks.push(sorted[Math.floor((i * sorted.length) / n)]);
  return [...new Set(breaks)];
}

function classOf(v: number, breaks: number[]): number {
  let i = 0;
  while (i < breaks.length && v >= breaks[i]) i++;
  return i;
}

/**
 * The communes of the city as a server-rendered SVG: works without JavaScript and without a
 * tile server. With `link` (the default) each commune is a keyboard-reachable link, so the SVG
 * is a group of links rather than role="img" (an image may not contain focusable content);
 * without links it is one image with an accessible name. A list or data table follows for
 * screen readers and for anyone who would rather read than look.
 */
export function CommunesMap(props: CommunesMapProps) {
  const { ctx, communes, highlight, values } = props;
  const { t, fmt } = ctx;
  const link = props.link === undefined ? '/communes/{id}' : props.link;
  const id = props.id ?? 'communes-map';
  const fmtValue = props.formatValue ?? ((v: number) => fmt.number(v));
  if (!communes.length) return <p>{t('geo.communes.empty')}</p>;

  const drawing = drawingOf(communes);
  const highlighted = communes.find((c) => c.id === highlight);
  const label = props.label ?? (highlighted ? t('geo.map.labelHighlight', { name: highlighted.name }) : t('geo.map.label'));
  const breaks = values ? classBreaks(Object.values(values)) : [];
  const fillOf = (cid: number): string | undefined => {
    if (values) {
      const v = values[cid];
      return v == null || !Number.isFinite(v) ? '#f0f0f0' : SHADES[Math.min(classOf(v, breaks) + (SHADES.length - 1 - breaks.length), SHADES.length - 1)];
    }
    if (cid === highlight) return '#fdd306';
    return undefined;
  };
  const titleId = `${id}-title`;

  const shapes = () => communes.map((c) => {
    const fill = fillOf(c.id);
    const { d, label: [lx, ly] } = drawing.shapes.get(c.id)!;
    const name = values && values[c.id] != null ? `${c.name}: ${fmtValue(values[c.id])}` : c.name;
    // A fill attribute only wins over the stylesheet when the path does not carry the default class.
    const path = fill ? (
      <path class="commune-shaded" d={d} fill={fill} stroke="#1b1b1b" stroke-width={c.id === highlight ? 2 : 0.6} />
    ) : (
      <path class="commune" d={d} />
    );
    const text = (
      // The stylesheet sets the labels' colour; a white halo keeps them readable on the darker shades.
      <text x={lx.toFixed(1)} y={ly.toFixed(1)} text-anchor="middle" dominant-baseline="central" stroke="#ffffff" stroke-width={3} paint-order="stroke" aria-hidden="true">
        {String(c.id)}
      </text>
    );
    if (link) {
      return (
        <a href={link.replace('{id}', String(c.id))} key={c.id} data-commune={c.id}>
          <title>{name}</title>
          {path}
          {text}
        </a>
      );
    }
    return (
      <g key={c.id} data-commune={c.id}>
        {path}
        {text}
      </g>
    );
  });

  // Rendered once per drawing and set of options (a choropleth's values change, so it is not kept);
  // the markup comes from preact's renderer, which escapes every name and attribute.
  const svg = () => {
    const key = values ? null : JSON.stringify([id, label, link, highlight ?? null]);
    const cached = key == null ? undefined : drawing.svg.get(key);
    if (cached) return cached;
    const markup = render(
      <svg id={id} viewBox={`0 0 ${WIDTH} ${drawing.height}`} xmlns="http://www.w3.org/2000/svg" role={link ? undefined : 'img'} aria-labelledby={titleId}>
        <title id={titleId}>{label}</title>
        {shapes()}
      </svg>,
    );
    if (key != null) {
      if (drawing.svg.size >= 64) drawing.svg.clear();
      drawing.svg.set(key, markup);
    }
    return markup;
  };

  // The SVG alone sits in .city-map (the island hides that box once Leaflet is live); the legend
  // and the list stay readable either way.
  return (
    <>
      <div class="city-map" dangerouslySetInnerHTML={{ __html: svg() }} />
      {values && <Legend ctx={ctx} breaks={breaks} values={values} fmtValue={fmtValue} />}
      {props.list !== false &&
        (values ? (
          <div class="city-table-wrap">
            <table class="usa-table usa-table--borderless usa-table--compact">
              <caption>{t('geo.map.table')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('geo.map.commune')}</th>
                  <th scope="col">{props.valueLabel ?? t('geo.map.value')}</th>
                </tr>
              </thead>
              <tbody>
                {communes.map((c) => (
                  <tr key={c.id}>
                    <th scope="row">{link ? <a href={link.replace('{id}', String(c.id))}>{c.name}</a> : c.name}</th>
                    <td>{values[c.id] == null ? t('geo.map.noValue') : fmtValue(values[c.id])}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <nav aria-label={t('geo.map.list')}>
            <ul class="usa-list usa-list--unstyled grid-row grid-gap-1">
              {communes.map((c) => (
                <li key={c.id} class="grid-col-6 tablet:grid-col-3">
                  {link ? (
                    <a href={link.replace('{id}', String(c.id))} aria-current={c.id === highlight ? 'page' : undefined}>
                      {c.name}
                    </a>
                  ) : (
                    c.name
                  )}
                </li>
              ))}
            </ul>
          </nav>
        ))}
    </>
  );
}

function Legend({ ctx, breaks, values, fmtValue }: { ctx: PageContext; breaks: number[]; values: Record<number, number>; fmtValue: (v: number) => string }) {
  const all = Object.values(values).filter(Number.isFinite);
  if (!all.length) return null;
  const min = Math.min(...all);
  const max = Math.max(...all);
  const edges = [min, ...breaks, max];
  const offset = SHADES.length - 1 - breaks.length;
  return (
    <figure class="city-map-legend">
      <figcaption>{ctx.t('geo.map.legend')}</figcaption>
      <ul class="usa-list usa-list--unstyled">
        {edges.slice(0, -1).map((from, i) => (
          <li key={i}>
            <svg width="16" height="12" viewBox="0 0 16 12" aria-hidden="true" focusable="false">
              <rect width="16" height="12" fill={SHADES[i + offset]} stroke="#1b1b1b" stroke-width="0.5" />
            </svg>{' '}
            {ctx.t('geo.map.range', { from: fmtValue(from), to: fmtValue(edges[i + 1]) })}
          </li>
        ))}
      </ul>
    </figure>
  );
}

/**
 * The element the map island (src/core/ui/islands/map.ts) mounts on, around a server-drawn SVG map
 * that stays when JavaScript, the GeoJSON or the tiles are missing. Pages that use it pass
 * `{ islands: ['map'], styles: ['leaflet'] }` to reply.page. See src/core/geo/README.md.
 */
export function MapIsland(props: {
  ctx: PageContext;
  /** Accessible name of the live map. */
  label: string;
  /** The base layer; the city's communes by default. */
  geojsonUrl?: string;
  /** Points drawn above it (features with title, url, color). */
  pointsUrl?: string;
  /** Ids of the latitude and longitude inputs a click fills. */
  pick?: [string, string];
  highlight?: number;
  /** Credit for the base layer; the city's boundaries by default. */
  attribution?: string;
  children: ComponentChildren;
}) {
  const { ctx } = props;
  return (
    <div
      data-island="map"
      data-geojson-url={props.geojsonUrl ?? '/api/v1/geo/communes'}
      data-points-url={props.pointsUrl}
      data-pick={props.pick?.join(',')}
      data-tile-url={ctx.config.tileUrl ?? ''}
      data-tile-attribution={ctx.config.tileAttribution}
      data-attribution={props.attribution ?? ctx.t('geo.map.attribution')}
      data-label={props.label}
      data-highlight={props.highlight != null ? String(props.highlight) : undefined}
    >
      {props.children}
    </div>
  );
}

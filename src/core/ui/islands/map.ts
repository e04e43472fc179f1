/**
 * Interactive map island. The server renders an SVG map inside every `[data-island="map"]`
 * element; this script replaces it with Leaflet only when the GeoJSON layer has loaded and,
 * when a tile URL is configured, the first tiles have loaded too. On any failure the SVG stays,
 * so the page never ends up with a blank box.
 *
 * Attributes: data-geojson-url (required), data-tile-url, data-tile-attribution,
 * data-attribution (of the boundaries), data-label (accessible name), data-highlight
 * (a commune id). The view fits the GeoJSON layer.
 *
 * data-points-url: a FeatureCollection of points drawn above the boundaries as circle markers;
 * `properties.title` and `properties.url` (a same-site path) make a popup, `properties.color`
 * colours the marker. A failure to load the points keeps the SVG map (it shows them).
 *
 * data-pick="<lat input id>,<lon input id>": a click on the map writes the point into those
 * inputs and marks it. The inputs stay the way to type a point with the keyboard or without
 * JavaScript; editing them moves the mark.
 */
import L from 'leaflet';

const TILE_TIMEOUT_MS = 8000;

interface FeatureProps {
  id?: number;
  name?: string;
  commune_id?: number;
  title?: string;
  url?: string;
  color?: string;
}

const PRIMARY = '#07385a';

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function tilesLoaded(layer: L.TileLayer): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), TILE_TIMEOUT_MS);
    layer.once('load', () => done(true));
    // One bad tile is not a failure; a tile server that answers nothing at all is.
    let errors = 0;
    layer.on('tileerror', () => {
      errors += 1;
      if (errors >= 4) done(false);
    });
  });
}

async function fetchGeoJson(url: string): Promise<GeoJSON.FeatureCollection | undefined> {
  try {
    const res = await fetch(url, { headers: { accept: 'application/geo+json, application/json' }, credentials: 'same-origin' });
    if (!res.ok) return undefined;
    const data = (await res.json()) as GeoJSON.FeatureCollection;
    return Array.isArray(data.features) ? data : undefined;
  } catch {
    return undefined;
  }
}

/** Only same-site paths become links: a feature's URL is data, not trusted markup. */
function safePath(url: string | undefined): string | undefined {
  return url && url.startsWith('/') && !url.startsWith('//') ? url : undefined;
}

function popupHtml(p: FeatureProps): string | undefined {
  if (!p.title) return undefined;
  const href = safePath(p.url);
  const title = escapeHtml(p.title);
  return href ? `<a href="${escapeHtml(href)}">${title}</a>` : title;
}

function pointLayer(latlng: L.LatLng, p: FeatureProps): L.CircleMarker {
  const color = p.color && /^#[0-9a-f]{3,8}$/i.test(p.color) ? p.color : PRIMARY;
  return L.circleMarker(latlng, { radius: 6, color: '#ffffff', weight: 1.5, fillColor: color, fillOpacity: 0.9 });
}

function bindPick(map: L.Map, spec: string): void {
  const [latId, lonId] = spec.split(',').map((s) => s.trim());
  const latInput = latId ? (document.getElementById(latId) as HTMLInputElement | null) : null;
  const lonInput = lonId ? (document.getElementById(lonId) as HTMLInputElement | null) : null;
  if (!latInput || !lonInput) return;
  let mark: L.CircleMarker | undefined;
  const place = (lat: number, lon: number) => {
    if (!Number.isFinite(lat) || !Number.isFinite(lon)) return;
    if (mark) mark.setLatLng([lat, lon]);
    else mark = L.circleMarker([lat, lon], { radius: 9, color: '#1b1b1b', weight: 2, fillColor: '#fdd306', fillOpacity: 1 }).addTo(map);
  };
  const fromInputs = () => {
    if (latInput.value.trim() && lonInput.value.trim()) place(Number(latInput.value), Number(lonInput.value));
  };
  fromInputs();
  latInput.addEventListener('change', fromInputs);
  lonInput.addEventListener('change', fromInputs);
  map.on('click', (e: L.LeafletMouseEvent) => {
    latInput.value = e.latlng.lat.toFixed(6);
    lonInput.value = e.latlng.lng.toFixed(6);
    place(e.latlng.lat, e.latlng.lng);
    // Forms that react to the point (a commune check, nearby requests) hear it as a user edit.
    latInput.dispatchEvent(new Event('change', { bubbles: true }));
  });
  map.getContainer().classList.add('city-map-pick');
}

async function mount(host: HTMLElement): Promise<void> {
  const url = host.dataset.geojsonUrl;
  if (!url) return;
  const svg = host.querySelector<HTMLElement>('.city-map');
  const [data, points] = await Promise.all([fetchGeoJson(url), host.dataset.pointsUrl ? fetchGeoJson(host.dataset.pointsUrl) : Promise.resolve(undefined)]);
  if (!data?.features.length) return;
  if (host.dataset.pointsUrl && !points) return;

  const el = document.createElement('div');
  el.className = 'city-map-leaflet';
  // Leaflet needs a sized box; CSSOM styles are allowed under the strict CSP (style attributes are not).
  el.style.height = '28rem';
  el.setAttribute('role', 'region');
  el.setAttribute('aria-label', host.dataset.label ?? 'Map');
  host.insertBefore(el, host.firstChild);

  let map: L.Map | undefined;
  try {
    // Canvas draws thousands of points (every request, every work) far faster than SVG elements.
    map = L.map(el, { scrollWheelZoom: false, keyboard: true, attributionControl: true, zoomSnap: 0.25, preferCanvas: true });
    const highlight = Number(host.dataset.highlight) || undefined;
    const layer = L.geoJSON(data, {
      style: (f) => {
        const p = (f?.properties ?? {}) as FeatureProps;
        const on = highlight != null && (p.id === highlight || p.commune_id === highlight);
        return { color: PRIMARY, weight: on ? 3 : 1, fillColor: on ? '#fdd306' : '#0b5b8f', fillOpacity: on ? 0.45 : 0.15 };
      },
      pointToLayer: (f, latlng) => pointLayer(latlng, (f.properties ?? {}) as FeatureProps),
      onEachFeature: (f, l) => {
        const p = (f.properties ?? {}) as FeatureProps;
        const popup = popupHtml(p);
        if (popup) {
          l.bindPopup(popup);
          return;
        }
        if (!p.name) return;
        // Communes link to their page; neighbourhoods show their name.
        const isCommune = p.commune_id == null && p.id != null;
        l.bindTooltip(escapeHtml(p.name), { sticky: true });
        // On a map that picks a point, a click is the point, not a way to the commune's page.
        if (isCommune && !host.dataset.pick) l.on('click', () => window.location.assign(`/communes/${p.id}`));
      },
    }).addTo(map);
    if (host.dataset.attribution) map.attributionControl.addAttribution(escapeHtml(host.dataset.attribution));
    map.fitBounds(layer.getBounds(), { padding: [8, 8] });
    if (points?.features.length) {
      L.geoJSON(points, {
        // Lines and areas among the points (a work along a street, a park) take their colour too.
        style: (f) => {
          const c = (f?.properties as FeatureProps | undefined)?.color;
          return { color: c && /^#[0-9a-f]{3,8}$/i.test(c) ? c : PRIMARY, weight: 4, fillOpacity: 0.35 };
        },
        pointToLayer: (f, latlng) => pointLayer(latlng, (f.properties ?? {}) as FeatureProps),
        onEachFeature: (f, l) => {
          const popup = popupHtml((f.properties ?? {}) as FeatureProps);
          if (popup) l.bindPopup(popup);
        },
      }).addTo(map);
    }
    if (host.dataset.pick) bindPick(map, host.dataset.pick);

    const tileUrl = host.dataset.tileUrl;
    if (tileUrl) {
      const tiles = L.tileLayer(tileUrl, { attribution: escapeHtml(host.dataset.tileAttribution ?? ''), maxZoom: 19 });
      tiles.addTo(map);
      tiles.bringToBack();
      if (!(await tilesLoaded(tiles))) throw new Error('tiles did not load');
    }
    host.classList.add('city-map-interactive', 'is-live');
    // Hidden by CSS once live; hidden from assistive technology too, which now reads the map region.
    svg?.setAttribute('aria-hidden', 'true');
    map.invalidateSize();
  } catch {
    // Restore the server's SVG map exactly as it was.
    map?.remove();
    el.remove();
    host.classList.remove('city-map-interactive', 'is-live');
    svg?.removeAttribute('aria-hidden');
  }
}

for (const host of Array.from(document.querySelectorAll<HTMLElement>('[data-island="map"]'))) {
  void mount(host);
}

/**
 * Interactive map island. The server renders an SVG map inside every `[data-island="map"]`
 * element; this script replaces it with Leaflet only when the GeoJSON layer has loaded and,
 * when a tile URL is configured, the first tiles have loaded too. On any failure the SVG stays,
 * so the page never ends up with a blank box.
 *
 * Attributes: data-geojson-url (required), data-tile-url, data-tile-attribution,
 * data-attribution (of the boundaries), data-label (accessible name), data-highlight
 * (a commune id). The view fits the GeoJSON layer.
 */
import L from 'leaflet';

const TILE_TIMEOUT_MS = 8000;

interface FeatureProps {
  id?: number;
  name?: string;
  commune_id?: number;
}

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

async function mount(host: HTMLElement): Promise<void> {
  const url = host.dataset.geojsonUrl;
  if (!url) return;
  const svg = host.querySelector<HTMLElement>('.city-map');
  let data: GeoJSON.FeatureCollection;
  try {
    const res = await fetch(url, { headers: { accept: 'application/geo+json, application/json' }, credentials: 'same-origin' });
    if (!res.ok) return;
    data = (await res.json()) as GeoJSON.FeatureCollection;
    if (!data.features?.length) return;
  } catch {
    return;
  }

  const el = document.createElement('div');
  el.className = 'city-map-leaflet';
  // Leaflet needs a sized box; CSSOM styles are allowed under the strict CSP (style attributes are not).
  el.style.height = '28rem';
  el.setAttribute('role', 'region');
  el.setAttribute('aria-label', host.dataset.label ?? 'Map');
  host.insertBefore(el, host.firstChild);

  let map: L.Map | undefined;
  try {
    map = L.map(el, { scrollWheelZoom: false, keyboard: true, attributionControl: true, zoomSnap: 0.25 });
    const highlight = Number(host.dataset.highlight) || undefined;
    const layer = L.geoJSON(data, {
      style: (f) => {
        const p = (f?.properties ?? {}) as FeatureProps;
        const on = highlight != null && (p.id === highlight || p.commune_id === highlight);
        return { color: '#07385a', weight: on ? 3 : 1, fillColor: on ? '#fdd306' : '#0b5b8f', fillOpacity: on ? 0.45 : 0.15 };
      },
      onEachFeature: (f, l) => {
        const p = (f.properties ?? {}) as FeatureProps;
        if (!p.name) return;
        // Communes link to their page; neighbourhoods show their name.
        const isCommune = p.commune_id == null && p.id != null;
        l.bindTooltip(escapeHtml(p.name), { sticky: true });
        if (isCommune) l.on('click', () => window.location.assign(`/communes/${p.id}`));
      },
    }).addTo(map);
    if (host.dataset.attribution) map.attributionControl.addAttribution(escapeHtml(host.dataset.attribution));
    map.fitBounds(layer.getBounds(), { padding: [8, 8] });

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

/**
 * Geocoding: an address typed by a resident → a point. Providers speak HTTP to a geocoder the city
 * runs or chooses: Nominatim (the standard self-hostable one, OpenStreetMap data) or Buenos Aires'
 * USIG address normaliser. Optional: without GEOCODER_URL there is no geocoder and callers keep the
 * address as typed.
 */

export interface GeocodeResult {
  lat: number;
  lng: number;
  /** The address as the geocoder understood it. */
  label: string;
}

export interface GeocodeOptions {
  /** Prefer (Nominatim: restrict to) results inside [minLng, minLat, maxLng, maxLat]. */
  viewbox?: [number, number, number, number] | null;
  /** Language of the label (Accept-Language). */
  locale?: string;
}

export interface Geocoder {
  readonly kind: string;
  /** The best match, or null when the geocoder knows no such address. Throws GeocoderUnavailable. */
  geocode(address: string, opts?: GeocodeOptions): Promise<GeocodeResult | null>;
}

/** The geocoder did not answer in time, or answered with an error: the address is neither found nor unknown. */
export class GeocoderUnavailable extends Error {}

export interface HttpGeocoderOptions {
  url: string;
  /** ISO 3166-1 alpha-2 codes, comma-separated (Nominatim's countrycodes). */
  countryCodes?: string;
  timeoutMs?: number;
  /** Sent as User-Agent: public Nominatim servers require one that names the application. */
  userAgent?: string;
  fetch?: typeof fetch;
}

const DEFAULT_TIMEOUT_MS = 3000;

async function getJson(o: HttpGeocoderOptions, url: URL, locale?: string): Promise<unknown> {
  const f = o.fetch ?? fetch;
  let res: Response;
  try {
    res = await f(url, {
      headers: { accept: 'application/json', 'user-agent': o.userAgent ?? 'Cabildo', ...(locale ? { 'accept-language': locale } : {}) },
      signal: AbortSignal.timeout(o.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    });
  } catch (err) {
    throw new GeocoderUnavailable(`Geocoder unreachable: ${(err as Error).message}`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new GeocoderUnavailable(`Geocoder answered HTTP ${res.status}`);
  }
  try {
    return await res.json();
  } catch (err) {
    throw new GeocoderUnavailable(`Geocoder answered something that is not JSON: ${(err as Error).message}`);
  }
}

const coordinate = (v: unknown, max: number): number | null => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) && Math.abs(n) <= max ? n : null;
};

/** Nominatim's /search (format=jsonv2), and servers that answer it the same way. */
export class NominatimGeocoder implements Geocoder {
  readonly kind = 'nominatim';
  constructor(private readonly o: HttpGeocoderOptions) {}

  async geocode(address: string, opts: GeocodeOptions = {}): Promise<GeocodeResult | null> {
    const url = new URL(this.o.url.replace(/\/+$/, '') + '/search');
    url.searchParams.set('q', address);
    url.searchParams.set('format', 'jsonv2');
    url.searchParams.set('limit', '1');
    if (this.o.countryCodes) url.searchParams.set('countrycodes', this.o.countryCodes);
    if (opts.viewbox) {
      url.searchParams.set('viewbox', opts.viewbox.join(','));
      url.searchParams.set('bounded', '1');
    }
    const body = await getJson(this.o, url, opts.locale);
    if (!Array.isArray(body)) throw new GeocoderUnavailable('Geocoder answered something that is not a list of places');
    const first = body[0] as { lat?: unknown; lon?: unknown; display_name?: unknown } | undefined;
    if (!first) return null;
    const lat = coordinate(first.lat, 90);
    const lng = coordinate(first.lon, 180);
    if (lat === null || lng === null) throw new GeocoderUnavailable('Geocoder answered a place without coordinates');
    return { lat, lng, label: typeof first.display_name === 'string' ? first.display_name : address };
  }
}

/** Buenos Aires' USIG normaliser: GET {url}/normalizar/?direccion=…&geocodificar=TRUE&srid=4326. */
export class UsigGeocoder implements Geocoder {
  readonly kind = 'usig';
  constructor(private readonly o: HttpGeocoderOptions) {}

  async geocode(address: string, opts: GeocodeOptions = {}): Promise<GeocodeResult | null> {
    const url = new URL(this.o.url.replace(/\/+$/, '') + '/normalizar/');
    url.searchParams.set('direccion', address);
    url.searchParams.set('geocodificar', 'TRUE');
    url.searchParams.set('srid', '4326');
    const body = (await getJson(this.o, url, opts.locale)) as {
      direccionesNormalizadas?: Array<{ direccion?: unknown; coordenadas?: { x?: unknown; y?: unknown } }>;
      errorMessage?: unknown;
    } | null;
    if (!body || typeof body !== 'object') throw new GeocoderUnavailable('Geocoder answered something that is not an object');
    // USIG says "no such street" as an errorMessage with HTTP 200.
    const first = body.direccionesNormalizadas?.find((d) => d.coordenadas);
    if (!first) return null;
    const lng = coordinate(first.coordenadas!.x, 180);
    const lat = coordinate(first.coordenadas!.y, 90);
    if (lat === null || lng === null) return null;
    return { lat, lng, label: typeof first.direccion === 'string' ? first.direccion : address };
  }
}

/** What config.ts reads from the environment for the geocoder. */
export interface GeocoderSettings {
  kind: 'nominatim' | 'usig';
  url: string;
  /** ISO 3166-1 alpha-2 codes, comma-separated. */
  country: string;
  timeoutMs: number;
}

/**
 * The geocoder settings in the environment, or undefined when there is none: GEOCODER_URL (base
 * URL), GEOCODER_KIND (`nominatim`, the default, or `usig`), GEOCODER_COUNTRY (default `ar`),
 * GEOCODER_TIMEOUT_MS (default 3000). A wrong value throws, so the server does not start with it.
 */
export function geocoderSettings(env: Record<string, string | undefined>): GeocoderSettings | undefined {
  const url = env.GEOCODER_URL?.trim();
  if (!url) return undefined;
  if (!/^https?:\/\//i.test(url)) throw new Error(`GEOCODER_URL must be an http(s) URL, not "${url}"`);
  const timeoutMs = env.GEOCODER_TIMEOUT_MS ? Number(env.GEOCODER_TIMEOUT_MS) : DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new Error('GEOCODER_TIMEOUT_MS must be a positive number of milliseconds');
  const kind = (env.GEOCODER_KIND ?? 'nominatim').trim().toLowerCase();
  if (kind !== 'nominatim' && kind !== 'usig') throw new Error(`GEOCODER_KIND must be nominatim or usig, not "${kind}"`);
  return { kind, url, country: env.GEOCODER_COUNTRY?.trim() || 'ar', timeoutMs };
}

export function createGeocoder(settings: GeocoderSettings | undefined, opts: { userAgent?: string; fetch?: typeof fetch } = {}): Geocoder | null {
  if (!settings) return null;
  const o: HttpGeocoderOptions = { url: settings.url, countryCodes: settings.country, timeoutMs: settings.timeoutMs, ...opts };
  return settings.kind === 'usig' ? new UsigGeocoder(o) : new NominatimGeocoder(o);
}

/** Settings and geocoder in one step, for tests and scripts. */
export function geocoderFromEnv(env: Record<string, string | undefined>, opts: { userAgent?: string; fetch?: typeof fetch } = {}): Geocoder | null {
  return createGeocoder(geocoderSettings(env), opts);
}

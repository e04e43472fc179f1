import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { localServer } from '../auth/testing';
import { geocoderFromEnv, GeocoderUnavailable, NominatimGeocoder, UsigGeocoder } from './geocode';

// A local stand-in for Nominatim and USIG: never the internet.
const seen: URL[] = [];
let server: Awaited<ReturnType<typeof localServer>>;
before(async () => {
  server = await localServer((req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url!, 'http://x');
    seen.push(url);
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const q = url.searchParams.get('q') ?? url.searchParams.get('direccion') ?? '';
    if (q.includes('lento')) return setTimeout(() => json(200, []), 1000);
    if (q.includes('roto')) return json(500, { error: 'boom' });
    if (url.pathname === '/search') {
      if (q === 'Av. Corrientes 1000') return json(200, [{ place_id: 1, lat: '-34.6037', lon: '-58.3816', display_name: 'Avenida Corrientes 1000, San Nicolás, Buenos Aires', importance: 0.5 }]);
      return json(200, []);
    }
    if (url.pathname === '/normalizar/') {
      if (q === 'Corrientes 1000') return json(200, { direccionesNormalizadas: [{ direccion: 'CORRIENTES AV. 1000, CABA', coordenadas: { x: '-58.3816', y: '-34.6037', srid: 4326 } }] });
      return json(200, { errorMessage: 'Calle inexistente: nada' });
    }
    json(404, {});
  });
});
after(() => server.close());

test('Nominatim: the first match, with the standard query parameters', async () => {
  const g = geocoderFromEnv({ GEOCODER_URL: server.url + '/' }, { userAgent: 'Cabildo test' })!;
  assert.ok(g instanceof NominatimGeocoder);
  const r = await g.geocode('Av. Corrientes 1000', { viewbox: [-58.53, -34.71, -58.33, -34.52], locale: 'es-AR' });
  assert.deepEqual(r, { lat: -34.6037, lng: -58.3816, label: 'Avenida Corrientes 1000, San Nicolás, Buenos Aires' });
  const u = seen.at(-1)!;
  assert.equal(u.pathname, '/search');
  assert.equal(u.searchParams.get('format'), 'jsonv2');
  assert.equal(u.searchParams.get('limit'), '1');
  assert.equal(u.searchParams.get('countrycodes'), 'ar');
  assert.equal(u.searchParams.get('viewbox'), '-58.53,-34.71,-58.33,-34.52');
  assert.equal(u.searchParams.get('bounded'), '1');
  assert.equal(await g.geocode('Calle que no existe 1'), null);
});

test('USIG: the normalised address and its WGS84 point; an unknown street is no result', async () => {
  const g = geocoderFromEnv({ GEOCODER_URL: server.url, GEOCODER_KIND: 'usig' })!;
  assert.ok(g instanceof UsigGeocoder);
  assert.deepEqual(await g.geocode('Corrientes 1000'), { lat: -34.6037, lng: -58.3816, label: 'CORRIENTES AV. 1000, CABA' });
  const u = seen.at(-1)!;
  assert.equal(u.searchParams.get('geocodificar'), 'TRUE');
  assert.equal(u.searchParams.get('srid'), '4326');
  assert.equal(await g.geocode('nada'), null);
});

test('a slow or failing geocoder is "unavailable", not "not found"', async () => {
  const g = geocoderFromEnv({ GEOCODER_URL: server.url, GEOCODER_TIMEOUT_MS: '100' })!;
  await assert.rejects(g.geocode('lento'), GeocoderUnavailable);
  await assert.rejects(g.geocode('roto'), GeocoderUnavailable);
  const closed = geocoderFromEnv({ GEOCODER_URL: 'http://127.0.0.1:1' })!;
  await assert.rejects(closed.geocode('Av. Corrientes 1000'), GeocoderUnavailable);
});

test('configuration: none without GEOCODER_URL, clear errors for bad values', () => {
  assert.equal(geocoderFromEnv({}), null);
  assert.equal(geocoderFromEnv({ GEOCODER_URL: '  ' }), null);
  assert.throws(() => geocoderFromEnv({ GEOCODER_URL: 'ftp://x' }), /http\(s\)/);
  assert.throws(() => geocoderFromEnv({ GEOCODER_URL: 'http://x', GEOCODER_KIND: 'google' }), /nominatim or usig/);
  assert.throws(() => geocoderFromEnv({ GEOCODER_URL: 'http://x', GEOCODER_TIMEOUT_MS: 'soon' }), /milliseconds/);
});

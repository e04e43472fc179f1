import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import sharp from 'sharp';
import { sql } from 'kysely';
import { createTestApp, createUser, TestClient, type TestContext } from '../../core/testing/harness';
import { localServer } from '../../core/auth/testing';
import { manifest } from './manifest';
import { requestsFixture } from './testing';
import { rqDb } from './store';

// A local stand-in for a Nominatim server: never the internet.
const asked: string[] = [];
let geocoder: Awaited<ReturnType<typeof localServer>>;
let t: TestContext;
let f: Awaited<ReturnType<typeof requestsFixture>>;

before(async () => {
  geocoder = await localServer((req: http.IncomingMessage, res: http.ServerResponse) => {
    const q = new URL(req.url!, 'http://x').searchParams.get('q') ?? '';
    asked.push(q);
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (q.includes('caído')) return json(503, { error: 'down' });
    if (q === 'Av. Corrientes 1000') return json(200, [{ lat: '-34.6037', lon: '-58.3816', display_name: 'Avenida Corrientes 1000, San Nicolás' }]);
    if (q === 'Calle 50 800, La Plata') return json(200, [{ lat: '-34.9205', lon: '-57.9536', display_name: 'Calle 50 800, La Plata' }]);
    json(200, []);
  });
  // A small upload limit, so that a too-large photo is cheap to send.
  t = await createTestApp({ modules: [manifest], env: { GEOCODER_URL: geocoder.url }, config: { uploadLimitBytes: 200_000 } });
  f = await requestsFixture(t.services);
});
after(async () => {
  await t.close();
  await geocoder.close();
});

function multipart(fields: Record<string, string>, files: Array<{ filename: string; type: string; data: Buffer }>) {
  const boundary = '----cabildo' + Math.random().toString(16).slice(2);
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  for (const file of files) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="photos"; filename="${file.filename}"\r\nContent-Type: ${file.type}\r\n\r\n`));
    parts.push(file.data, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}
const fileByForm = (c: TestClient, fields: Record<string, string>, files: Parameters<typeof multipart>[1] = []) => {
  const m = multipart(fields, files);
  return c.request({ method: 'POST', url: `/requests/new?_csrf=${encodeURIComponent(c.csrf)}`, payload: m.payload, headers: m.headers });
};
const open311 = (body: Record<string, string>) =>
  t.app.inject({ method: 'POST', url: '/open311/v2/requests.json', payload: new URLSearchParams({ api_key: f.token, ...body }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
const count = async (table: 'rq_requests' | 'files') => Number((await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(t.services.db)).rows[0].n);
const row = (id: number) => rqDb(t.services).selectFrom('rq_requests').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const fields = { step: 'details', service: 'alumbrado', lat: '-34.6037', lng: '-58.3816', address: '', description: 'Luminaria apagada', 'attribute[estado]': 'apagada' };

test('the report form: a photo too large or not an image gets its message in Spanish, a 4xx, and nothing is stored', async () => {
  const resident = await createUser(t.services, { verified: true });
  const c = await new TestClient(t.app).signInAs(t.services, resident.id);
  await c.get('/requests/new');
  const [requests0, files0] = [await count('rq_requests'), await count('files')];
  const good = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#888' } }).jpeg().toBuffer();

  // Over UPLOAD_LIMIT_BYTES (200 kB here): 413, the message next to the photo field, what was typed kept.
  const big = await fileByForm(c, fields, [{ filename: 'grande.jpg', type: 'image/jpeg', data: Buffer.concat([good, Buffer.alloc(300_000)]) }]);
  assert.equal(big.statusCode, 413);
  assert.match(big.body, /id="f-photos"/);
  assert.match(big.body, /usa-error-message" role="alert">Una de las fotos es demasiado grande/);
  assert.match(big.body, /Luminaria apagada<\/textarea>/);

  // A good photo then a text file named .jpg: 400, and not even the good photo is stored.
  const fake = await fileByForm(c, fields, [
    { filename: 'bien.jpg', type: 'image/jpeg', data: good },
    { filename: 'foto.jpg', type: 'image/jpeg', data: Buffer.from('esto no es una imagen') },
  ]);
  assert.equal(fake.statusCode, 400);
  assert.match(fake.body, /usa-error-message" role="alert">Uno de los archivos no es una imagen/);
  assert.equal(await count('rq_requests'), requests0);
  assert.equal(await count('files'), files0, 'no photo stored');
});

test('an address alone is geocoded: the point must be in the city, and the request gets commune and neighbourhood', async () => {
  const resident = await createUser(t.services, { verified: true });
  const c = await new TestClient(t.app).signInAs(t.services, resident.id);

  // The form finds the point at step 1, shows where, and carries it into the details form.
  const step = await c.get(`/requests/new?step=place&service=alumbrado&address=${encodeURIComponent('Av. Corrientes 1000')}`);
  assert.equal(step.statusCode, 200);
  assert.match(step.body, /Ubicamos la dirección en: Avenida Corrientes 1000, San Nicolás/);
  assert.match(step.body, /name="lat" value="-34.6037"/);
  const unknown = await c.get(`/requests/new?step=place&service=alumbrado&address=${encodeURIComponent('Calle Falsa 123')}`);
  assert.equal(unknown.statusCode, 400);
  assert.match(unknown.body, /id="f-address-error" role="alert">No encontramos esa dirección/);

  // Posted with the address only (no JavaScript, point fields left empty): geocoded on filing.
  const web = await fileByForm(c, { ...fields, lat: '', lng: '', address: 'Av. Corrientes 1000' });
  assert.equal(web.statusCode, 303, web.body.slice(0, 300));
  const webRow = await row(Number(/\/requests\/(\d+)/.exec(web.headers.location as string)![1]));
  assert.deepEqual([webRow.lat, webRow.lng, webRow.commune_id, webRow.neighbourhood_id, webRow.address], [-34.6037, -58.3816, 1, f.hood, 'Av. Corrientes 1000']);
  const outside = await fileByForm(c, { ...fields, lat: '', lng: '', address: 'Calle 50 800, La Plata' });
  assert.equal(outside.statusCode, 400);
  assert.match(outside.body, /Esa dirección queda fuera de la ciudad/);

  // Open311's address_string: the same, with the spec's error list.
  const api = await open311({ service_code: 'bache', address_string: 'Av. Corrientes 1000', description: 'Pozo' });
  assert.equal(api.statusCode, 200, api.body);
  const apiRow = await row(Number(api.json()[0].service_request_id));
  assert.deepEqual([apiRow.lat, apiRow.commune_id, apiRow.neighbourhood_id], [-34.6037, 1, f.hood]);
  const far = await open311({ service_code: 'bache', address_string: 'Calle 50 800, La Plata' });
  assert.equal(far.statusCode, 400);
  assert.deepEqual(far.json(), [{ code: 400, description: 'address_string is outside the city' }]);
  const nowhere = await open311({ service_code: 'bache', address_string: 'Calle Falsa 123' });
  assert.equal(nowhere.statusCode, 400);
  assert.match(nowhere.json()[0].description, /not found/);
  assert.ok(asked.includes('Calle Falsa 123'));
});

test('with the geocoder down the request is kept without a point, and only its office places it', async () => {
  const res = await open311({ service_code: 'alumbrado', address_string: 'Esquina del poste caído', 'attribute[estado]': 'apagada' });
  assert.equal(res.statusCode, 200, res.body);
  const id = Number(res.json()[0].service_request_id);
  assert.deepEqual([(await row(id)).lat, (await row(id)).commune_id], [null, null]);
  const page = await new TestClient(t.app).get(`/requests/${id}`);
  assert.match(page.body, /Sin ubicar en el mapa/);

  const stranger = await createUser(t.services, { roles: ['official'], officeIds: [f.other.id] });
  const s = await new TestClient(t.app).signInAs(t.services, stranger.id);
  await s.get('/requests');
  assert.equal((await s.post(`/requests/${id}/action`, { action: 'place', lat: '-34.6037', lng: '-58.3816' })).statusCode, 403);

  const official = await createUser(t.services, { roles: ['official'], officeIds: [f.office.id] });
  const c = await new TestClient(t.app).signInAs(t.services, official.id);
  const own = await c.get(`/requests/${id}`);
  assert.match(own.body, /name="action" value="place"/);
  const outside = await c.post(`/requests/${id}/action`, { action: 'place', lat: '-34.9', lng: '-57.9' });
  assert.equal(outside.statusCode, 400);
  assert.match(outside.body, /fuera de la ciudad/);
  const placed = await c.post(`/requests/${id}/action`, { action: 'place', lat: '-34.6', lng: '-58.38' });
  assert.equal(placed.statusCode, 303);
  const r = await row(id);
  assert.deepEqual([r.lat, r.lng, r.commune_id, r.neighbourhood_id], [-34.6, -58.38, 1, f.hood]);
  const logged = await t.services.db.selectFrom('audit_log').select(['action', 'actor_id']).where('subject_id', '=', String(id)).where('action', '=', 'request.place').execute();
  assert.deepEqual(logged, [{ action: 'request.place', actor_id: official.id }]);
});

test('a category changed by another process is re-read before filing: its new required question applies', async () => {
  const ok = await open311({ service_code: 'bache', lat: '-34.6037', long: '-58.3816', description: 'Pozo' });
  assert.equal(ok.statusCode, 200, 'the catalogue is now cached in this process');
  const before_ = await rqDb(t.services).selectFrom('rq_services').select('revision').where('code', '=', 'bache').executeTakeFirstOrThrow();
  // Behind this process's back, as another app process or the CLI would.
  await sql`insert into rq_attributes (service_id, code, datatype, required, description) values (${f.pothole}, 'profundidad', 'number', true, '¿Qué profundidad?')`.execute(t.services.db);
  const after_ = await rqDb(t.services).selectFrom('rq_services').select('revision').where('code', '=', 'bache').executeTakeFirstOrThrow();
  assert.ok(after_.revision > before_.revision, 'the database bumps the revision');
  const n = await count('rq_requests');
  const missing = await open311({ service_code: 'bache', lat: '-34.6037', long: '-58.3816', description: 'Pozo' });
  assert.equal(missing.statusCode, 400, missing.body);
  assert.match(missing.json()[0].description, /attribute\[profundidad\]: required/);
  assert.equal(await count('rq_requests'), n);
  const answered = await open311({ service_code: 'bache', lat: '-34.6037', long: '-58.3816', 'attribute[profundidad]': '20' });
  assert.equal(answered.statusCode, 200);
  assert.deepEqual((await row(Number(answered.json()[0].service_request_id))).answers, { profundidad: '20' });
  // Deactivated elsewhere: unknown from then on.
  await sql`update rq_services set active = false where id = ${f.pothole}`.execute(t.services.db);
  assert.equal((await open311({ service_code: 'bache', lat: '-34.6037', long: '-58.3816', 'attribute[profundidad]': '20' })).statusCode, 404);
  await sql`update rq_services set active = true where id = ${f.pothole}`.execute(t.services.db);
});

test('the list and the report form carry the interactive map: points with the list filters, a picker on the form', async () => {
  const list = await new TestClient(t.app).get('/requests?service=alumbrado&status=open&commune=1');
  assert.equal(list.statusCode, 200);
  assert.match(list.body, /data-island="map"/);
  assert.match(list.body, /data-geojson-url="\/api\/v1\/geo\/communes"/);
  const pointsUrl = /data-points-url="([^"]+)"/.exec(list.body)![1].replace(/&amp;/g, '&');
  assert.match(pointsUrl, /^\/api\/v1\/requests\/map\.geojson\?bbox=[-\d.%C]+&service=alumbrado&status=open&commune=1$/);
  assert.match(list.body, /<script type="module" src="[^"]*map[^"]*\.js"/);
  const geo = await t.app.inject(pointsUrl);
  assert.equal(geo.statusCode, 200, geo.body);
  const features = geo.json().features as Array<{ id: number; properties: Record<string, unknown> }>;
  assert.ok(features.length > 0);
  for (const x of features) {
    assert.match(String(x.properties.title), new RegExp(`^#${x.id} Luminaria apagada$`));
    assert.equal(x.properties.url, `/requests/${x.id}`);
    assert.equal(x.properties.color, '#d83933');
  }
  const en = await t.app.inject({ url: pointsUrl, headers: { cookie: 'cabildo_lang=en' } });
  assert.match(en.json().features[0].properties.title, /Street light out$/);
  assert.equal((await t.app.inject(pointsUrl.replace('commune=1', 'commune=2'))).json().features.length, 0);
  assert.equal((await t.app.inject(pointsUrl.replace('status=open', 'status=closed'))).json().features.length, 0);
  assert.equal((await t.app.inject(pointsUrl.replace('status=open', 'status=nonsense'))).statusCode, 400);

  const resident = await createUser(t.services, { verified: true });
  const c = await new TestClient(t.app).signInAs(t.services, resident.id);
  const form = await c.get('/requests/new');
  assert.match(form.body, /data-pick="f-lat,f-lng"/);
  assert.match(form.body, /id="f-lat"/);
  assert.match(form.body, /id="f-lng"/);
});

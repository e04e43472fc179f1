import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv-draft-04';
import addFormats from 'ajv-formats';
import { XMLParser } from 'fast-xml-parser';
import sharp from 'sharp';
import { createTestApp, type TestContext } from '../../core/testing/harness';
import { manifest } from './manifest';
import { requestsFixture } from './testing';

const schemaDir = path.resolve('../shared/schemas/open311');
const load = (f: string) => JSON.parse(fs.readFileSync(path.join(schemaDir, f), 'utf8'));
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
ajv.addFormat('uid', true);
ajv.addSchema(load('service.json'), 'service.json');
ajv.addSchema(load('request.json'), 'request.json');
const validServices = ajv.compile(load('services.json'));
const validDefinition = ajv.compile(load('service-definition.json'));
const validRequests = ajv.compile(load('requests.json'));
const swagger = load('swagger.json');
const validPostResponse = ajv.compile({ type: 'array', items: swagger.definitions.RequestResponse, minItems: 1 });
const validToken = ajv.compile({ type: 'array', items: swagger.definitions.TokenResponse, minItems: 1 });
const validErrors = ajv.compile({ type: 'array', minItems: 1, items: { type: 'object', required: ['code', 'description'], properties: { code: { type: 'integer' }, description: { type: 'string' } } } });

function check(validate: ReturnType<typeof ajv.compile>, data: unknown) {
  assert.ok(validate(data), JSON.stringify(validate.errors, null, 1) + '\n' + JSON.stringify(data).slice(0, 500));
}
const xml = new XMLParser({ isArray: (name) => ['request', 'service', 'error', 'attribute', 'value', 'request_update'].includes(name) });

let t: TestContext;
let f: Awaited<ReturnType<typeof requestsFixture>>;
const form = (o: Record<string, string | string[]>) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) for (const x of Array.isArray(v) ? v : [v]) p.append(k, x);
  return p.toString();
};
const post = (url: string, body: Record<string, string | string[]>) =>
  t.app.inject({ method: 'POST', url, payload: form(body), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
const countRequests = async () => Number((await t.services.db.withTables<{ rq_requests: { id: number } }>().selectFrom('rq_requests').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

before(async () => {
  // A small upload limit, so that a too-large photo is cheap to send.
  t = await createTestApp({ modules: [manifest], config: { uploadLimitBytes: 200_000 } });
  f = await requestsFixture(t.services);
});
after(() => t.close());

test('discovery and services, JSON and XML, match the spec', async () => {
  const d = await t.app.inject('/open311/discovery.json');
  assert.equal(d.statusCode, 200);
  assert.equal(d.json().endpoints[0].url, `${t.config.baseUrl}/open311/v2`);
  const dx = xml.parse((await t.app.inject('/open311/discovery.xml')).body);
  assert.ok(dx.discovery.endpoints.endpoint.formats.format.includes('text/xml'));

  const s = await t.app.inject('/open311/v2/services.json');
  assert.equal(s.statusCode, 200);
  check(validServices, s.json());
  const light = s.json().find((x: { service_code: string }) => x.service_code === 'alumbrado');
  assert.equal(light.metadata, true);
  assert.equal(light.group, 'Alumbrado');
  assert.equal(s.json().find((x: { service_code: string }) => x.service_code === 'bache').metadata, false);

  const sx = await t.app.inject('/open311/v2/services.xml?jurisdiction_id=localhost');
  assert.match(sx.headers['content-type'] as string, /text\/xml/);
  const parsed = xml.parse(sx.body);
  assert.equal(parsed.services.service.length, 2);
  assert.equal(String(parsed.services.service[0].service_code), 'alumbrado');

  const def = await t.app.inject('/open311/v2/services/alumbrado.json');
  check(validDefinition, def.json());
  const estado = def.json().attributes.find((a: { code: string }) => a.code === 'estado');
  assert.equal(estado.required, true);
  assert.equal(estado.datatype, 'singlevaluelist');
  assert.deepEqual(estado.values.map((v: { key: string }) => v.key), ['apagada', 'prendida_dia']);
  const defx = xml.parse((await t.app.inject('/open311/v2/services/alumbrado.xml')).body);
  assert.equal(defx.service_definition.attributes.attribute.length, 3);

  const missing = await t.app.inject('/open311/v2/services/nope.json');
  assert.equal(missing.statusCode, 404);
  check(validErrors, missing.json());
  const wrongJ = await t.app.inject('/open311/v2/services.json?jurisdiction_id=elsewhere.example');
  assert.equal(wrongJ.statusCode, 404);
});

test('an Open311 client posts form-encoded with attribute[code] and reads XML back', async () => {
  const res = await post('/open311/v2/requests.xml', {
    api_key: f.token,
    jurisdiction_id: 'localhost',
    service_code: 'alumbrado',
    lat: String(f.inside.lat),
    long: String(f.inside.lng),
    address_string: 'Av. Corrientes 1000',
    description: 'La luminaria de la esquina está apagada.',
    'attribute[estado]': 'apagada',
    'attribute[cantidad]': '2',
    'attribute[bloquea][]': ['vereda', 'calle'],
    email: 'vecina@example.org',
    first_name: 'Ana',
    last_name: 'Pérez',
  });
  assert.equal(res.statusCode, 200, res.body);
  const doc = xml.parse(res.body).service_requests.request[0];
  const id = String(doc.service_request_id);
  assert.match(id, /^\d+$/);
  assert.ok(doc.token);
  assert.ok(doc.service_notice);

  const one = await t.app.inject(`/open311/v2/requests/${id}.json?extensions=true`);
  assert.equal(one.statusCode, 200);
  check(validRequests, one.json());
  const r = one.json()[0];
  assert.equal(r.service_request_id, id);
  assert.equal(r.status, 'open');
  assert.equal(r.service_code, 'alumbrado');
  assert.equal(r.agency_responsible, 'Espacio Público');
  assert.equal(r.lat, f.inside.lat);
  assert.equal(r.long, f.inside.lng);
  assert.equal(r.extended_attributes.neighbourhood, 'San Nicolás');
  assert.deepEqual(r.extended_attributes.attributes, { estado: 'apagada', cantidad: '2', bloquea: ['vereda', 'calle'] });
  assert.equal(r.notes.length, 1);
  // The resident named by the app hears about it; the Open311 response carries no personal data.
  assert.ok(!JSON.stringify(r).includes('vecina@example.org'));

  const tok = await t.app.inject(`/open311/v2/tokens/${doc.token}.json`);
  check(validToken, tok.json());
  assert.equal(tok.json()[0].service_request_id, id);

  const jsonPost = await post('/open311/v2/requests.json', { api_key: f.token, service_code: 'bache', lat: String(f.inside.lat), long: String(f.inside.lng) });
  assert.equal(jsonPost.statusCode, 200);
  check(validPostResponse, jsonPost.json());
  assert.equal(jsonPost.json()[0].account_id, String(f.client.id));
});

test('bad input gets an Open311 error list with the spec status, and nothing is stored', async () => {
  const before = await countRequests();
  const base = { api_key: f.token, service_code: 'alumbrado', lat: String(f.inside.lat), long: String(f.inside.lng), 'attribute[estado]': 'apagada' };
  const cases: Array<[Record<string, string>, number, RegExp]> = [
    [{ ...base, api_key: 'cab_wrong' }, 403, /api_key/],
    // GeoReport v2: "403 - api_key was not provided or is invalid".
    [{ ...base, api_key: '' }, 403, /api_key/],
    [{ ...base, service_code: 'nope' }, 404, /service_code/],
    [{ ...base, lat: '-34.9', long: '-58.9' }, 400, /outside/],
    [{ ...base, lat: 'north' }, 400, /lat/],
    [{ ...base, 'attribute[estado]': '' }, 400, /estado/],
    [{ ...base, 'attribute[estado]': 'rota' }, 400, /estado/],
    [{ ...base, lat: '', long: '' }, 400, /location/],
    [{ ...base, jurisdiction_id: 'elsewhere.example' }, 404, /jurisdiction/],
  ];
  for (const [body, status, re] of cases) {
    const res = await post('/open311/v2/requests.json', body);
    assert.equal(res.statusCode, status, `${JSON.stringify(body)} → ${res.body}`);
    check(validErrors, res.json());
    assert.equal(res.json()[0].code, status);
    assert.match(res.json()[0].description, re);
  }
  const x = await post('/open311/v2/requests.xml', { ...base, api_key: 'cab_wrong' });
  assert.equal(x.statusCode, 403);
  const e = xml.parse(x.body).errors.error[0];
  assert.equal(e.code, 403);
  assert.equal(await countRequests(), before);
  assert.equal((await t.app.inject('/open311/v2/requests/999999.json')).statusCode, 404);
  assert.equal((await t.app.inject('/open311/v2/requests.json?start_date=yesterday')).statusCode, 400);
  // Unknown jurisdiction: 404 everywhere but GET requests, where the spec's swagger gives 401.
  assert.equal((await t.app.inject('/open311/v2/services.json?jurisdiction_id=elsewhere.example')).statusCode, 404);
  const j = await t.app.inject('/open311/v2/requests.json?jurisdiction_id=elsewhere.example');
  assert.equal(j.statusCode, 401);
  check(validErrors, j.json());
  assert.equal(j.json()[0].code, 401);
  assert.equal((await t.app.inject('/open311/v2/nothing-here.json')).json()[0].code, 404);
});

test('GET requests filters and pages; updates reach apps through servicerequestupdates', async () => {
  const all = await t.app.inject('/open311/v2/requests.json');
  check(validRequests, all.json());
  assert.ok(all.json().length >= 2);
  const bache = await t.app.inject('/open311/v2/requests.json?service_code=bache');
  assert.ok(bache.json().every((r: { service_code: string }) => r.service_code === 'bache'));
  const paged = await t.app.inject('/open311/v2/requests.json?page=1&page_size=1');
  assert.equal(paged.json().length, 1);
  const page2 = await t.app.inject('/open311/v2/requests.json?page=2&page_size=1');
  assert.notEqual(page2.json()[0].service_request_id, paged.json()[0].service_request_id);
  const ids = all.json().map((r: { service_request_id: string }) => r.service_request_id).join(',');
  assert.equal((await t.app.inject(`/open311/v2/requests.json?service_request_id=${ids}`)).json().length, all.json().length);
  assert.equal((await t.app.inject('/open311/v2/requests.json?status=closed')).json().length, 0);
  const future = await t.app.inject('/open311/v2/requests.json?start_date=2099-01-01T00:00:00Z');
  assert.equal(future.json().length, 0);

  // The office closes one: the change is visible to apps.
  const id = Number(all.json().find((r: { service_code: string }) => r.service_code === 'alumbrado').service_request_id);
  const { rqDb, setStatus } = await import('./store');
  await rqDb(t.services).transaction().execute((trx) => setStatus(trx, id, 'solved', 'Se cambió la lámpara.', null));
  const closed = await t.app.inject('/open311/v2/requests.xml?status=closed');
  const rq = xml.parse(closed.body).service_requests.request;
  assert.equal(rq.length, 1);
  assert.equal(rq[0].status, 'closed');
  assert.equal(rq[0].status_notes, 'Se cambió la lámpara.');
  const upd = await t.app.inject('/open311/v2/servicerequestupdates.json?start_date=2000-01-01T00:00:00Z');
  const u = upd.json().find((x: { service_request_id: string }) => x.service_request_id === String(id));
  assert.equal(u.status, 'FIXED');
  assert.equal(u.description, 'Se cambió la lámpara.');
  const updx = xml.parse((await t.app.inject('/open311/v2/servicerequestupdates.xml')).body);
  assert.ok(updx.service_request_updates.request_update.length >= 1);
});

test('GET requests: service_request_id overrides every other argument; status may be repeated or comma-separated', async () => {
  const { rqDb, setStatus } = await import('./store');
  const db = rqDb(t.services);
  const file = async () => {
    const res = await post('/open311/v2/requests.json', { api_key: f.token, service_code: 'alumbrado', lat: String(f.inside.lat), long: String(f.inside.lng), 'attribute[estado]': 'apagada' });
    assert.equal(res.statusCode, 200, res.body);
    return { id: Number(res.json()[0].service_request_id) };
  };
  const one = await file();
  const two = await file();
  await db.transaction().execute((trx) => setStatus(trx, two.id, 'not_solvable', 'No corresponde.', null));
  // An old closed request, outside the default 90-day window.
  await db.updateTable('rq_requests').set({ requested_at: new Date('2020-01-02T12:00:00Z') }).where('id', '=', two.id).execute();
  const ids = `${one.id},${two.id}`;
  const overridden = await t.app.inject(`/open311/v2/requests.json?service_request_id=${ids}&status=open&service_code=bache&start_date=2099-01-01T00:00:00Z&page=5&page_size=1`);
  assert.equal(overridden.statusCode, 200);
  check(validRequests, overridden.json());
  assert.deepEqual(overridden.json().map((r: { service_request_id: string }) => r.service_request_id).sort(), [String(one.id), String(two.id)].sort());
  const ox = xml.parse((await t.app.inject(`/open311/v2/requests.xml?service_request_id=${ids}&status=closed`)).body).service_requests.request;
  assert.equal(ox.length, 2);

  const window = 'start_date=2019-01-01T00:00:00Z';
  const open = (await t.app.inject(`/open311/v2/requests.json?${window}&status=open`)).json();
  const closed = (await t.app.inject(`/open311/v2/requests.json?${window}&status=closed`)).json();
  assert.ok(open.length > 0 && closed.length > 0);
  const both = await t.app.inject(`/open311/v2/requests.json?${window}&status=open&status=closed`);
  assert.equal(both.statusCode, 200);
  check(validRequests, both.json());
  assert.equal(both.json().length, open.length + closed.length, 'status declared twice: both');
  const comma = (await t.app.inject(`/open311/v2/requests.json?${window}&status=open,closed`)).json();
  assert.equal(comma.length, open.length + closed.length, 'comma-separated: both');
  assert.equal((await t.app.inject(`/open311/v2/requests.json?status=open&status=pending`)).statusCode, 400);
});

function multipart(fields: Record<string, string>, files: Array<{ name: string; filename: string; data: Buffer }>) {
  const boundary = '----o311' + Math.random().toString(16).slice(2);
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  for (const f of files) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${f.name}"; filename="${f.filename}"\r\nContent-Type: image/jpeg\r\n\r\n`), f.data, Buffer.from('\r\n'));
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

test('apps may send photos as multipart; a photo too large or not an image is refused whole', async () => {
  const before = await countRequests();
  const fields = { api_key: f.token, service_code: 'bache', lat: String(f.inside.lat), long: String(f.inside.lng), description: 'Con foto' };
  const big = multipart(fields, [{ name: 'media', filename: 'big.jpg', data: Buffer.alloc(300_000, 7) }]);
  const tooLarge = await t.app.inject({ method: 'POST', url: '/open311/v2/requests.json', ...big });
  assert.equal(tooLarge.statusCode, 413, tooLarge.body);
  check(validErrors, tooLarge.json());
  const text = multipart(fields, [{ name: 'media', filename: 'x.jpg', data: Buffer.from('plain text, not a picture') }]);
  const notImage = await t.app.inject({ method: 'POST', url: '/open311/v2/requests.json', ...text });
  assert.equal(notImage.statusCode, 400);
  assert.match(notImage.json()[0].description, /not an image/);
  assert.equal(await countRequests(), before, 'nothing stored');

  const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#c00' } }).png().toBuffer();
  const ok = await t.app.inject({ method: 'POST', url: '/open311/v2/requests.json', ...multipart(fields, [{ name: 'media', filename: 'bache.png', data: png }]) });
  assert.equal(ok.statusCode, 200, ok.body);
  const r = (await t.app.inject(`/open311/v2/requests/${ok.json()[0].service_request_id}.json`)).json()[0];
  assert.match(r.media_url, /\/requests\/photos\/[a-f0-9]{32}$/);
  assert.equal((await t.app.inject(new URL(r.media_url).pathname)).headers['content-type'], 'image/jpeg');
});

test('a flood of attempts without a valid api_key from one address gets 429 in the Open311 error format', async () => {
  // Keyed requests count per account (open311-limits.test.ts); an address is what limits the rest.
  const body = new URLSearchParams({ api_key: 'not-a-token', service_code: 'bache', lat: String(f.inside.lat), long: String(f.inside.lng) }).toString();
  const before = await countRequests();
  let last = 0;
  for (let i = 0; i < 80 && last !== 429; i++) {
    last = (await t.app.inject({ method: 'POST', url: '/open311/v2/requests.xml', payload: body, headers: { 'content-type': 'application/x-www-form-urlencoded' } })).statusCode;
    if (last !== 429) assert.equal(last, 403);
  }
  assert.equal(last, 429);
  const res = await t.app.inject({ method: 'POST', url: '/open311/v2/requests.xml', payload: body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(res.statusCode, 429);
  assert.equal(xml.parse(res.body).errors.error[0].code, 429);
  assert.equal(await countRequests(), before);
});

import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { XMLParser } from 'fast-xml-parser';
import { createApiToken } from '../../core/auth/session';
import { createTestApp, createUser, type TestContext } from '../../core/testing/harness';
import { manifest } from './manifest';
import { requestsFixture } from './testing';
import { open311PostLimits } from './open311';

// Small limits so that a flood is a handful of requests; read when the routes are registered.
process.env.REQUESTS_API_POSTS_PER_MINUTE = '3';
process.env.REQUESTS_API_POSTS_PER_KEY_PER_MINUTE = '5';

let t: TestContext;
let f: Awaited<ReturnType<typeof requestsFixture>>;
const xml = new XMLParser({ isArray: (name) => name === 'error' });

before(async () => {
  t = await createTestApp({ modules: [manifest], config: { uploadLimitBytes: 2000 } });
  f = await requestsFixture(t.services);
});
after(() => t.close());

const countRequests = async () => Number((await t.services.db.withTables<{ rq_requests: { id: number } }>().selectFrom('rq_requests').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
const post = (apiKey: string | null, ip: string, format: 'json' | 'xml' = 'json') => {
  const p = new URLSearchParams({ service_code: 'bache', lat: String(f.inside.lat), long: String(f.inside.lng), description: 'Bache' });
  if (apiKey) p.set('api_key', apiKey);
  return t.app.inject({ method: 'POST', url: `/open311/v2/requests.${format}`, payload: p.toString(), remoteAddress: ip, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
};

test('limits read from the environment, with defaults for missing or malformed values', () => {
  assert.deepEqual(open311PostLimits({}), { perIp: 60, perAccount: 120 });
  assert.deepEqual(open311PostLimits({ REQUESTS_API_POSTS_PER_MINUTE: '7', REQUESTS_API_POSTS_PER_KEY_PER_MINUTE: '0' }), { perIp: 7, perAccount: 120 });
  assert.deepEqual(open311PostLimits({ REQUESTS_API_POSTS_PER_MINUTE: 'x', REQUESTS_API_POSTS_PER_KEY_PER_MINUTE: '300' }), { perIp: 60, perAccount: 300 });
});

test('one api_key spread over many addresses is limited per key, as an Open311 error list (JSON and XML)', async () => {
  const before = await countRequests();
  for (let i = 1; i <= 5; i++) assert.equal((await post(f.token, `10.1.0.${i}`)).statusCode, 200, `post ${i} from its own address`);
  const json = await post(f.token, '10.1.0.6');
  assert.equal(json.statusCode, 429);
  assert.ok(Number(json.headers['retry-after']) >= 1);
  const errors = json.json() as Array<{ code: number; description: string }>;
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 429);
  assert.match(errors[0].description, /this api_key .*5 a minute/);
  const x = await post(f.token, '10.1.0.7', 'xml');
  assert.equal(x.statusCode, 429);
  assert.match(x.headers['content-type'] as string, /text\/xml/);
  assert.equal(xml.parse(x.body).errors.error[0].code, 429);
  assert.equal(await countRequests(), before + 5, 'nothing stored past the limit');

  // Another token of the same account shares its budget: the limit is the account's.
  const { token: second } = await createApiToken(t.services.db, f.client.id, 'second');
  assert.equal((await post(second, '10.1.0.8')).statusCode, 429);
});

test('an app server behind one address is limited by its key, not by the address limit', async () => {
  const app = await createUser(t.services, { email: 'server-app@test.cabildo' });
  const { token } = await createApiToken(t.services.db, app.id, 'server');
  // Five reports from one address, over the per-address limit of 3: the key's own limit governs.
  for (let i = 1; i <= 5; i++) assert.equal((await post(token, '10.2.0.1')).statusCode, 200, `post ${i}`);
  assert.equal((await post(token, '10.2.0.1')).statusCode, 429);
  // Keyless attempts from that same address still have their own allowance (403: no key), then 429.
  for (let i = 1; i <= 3; i++) assert.equal((await post(null, '10.2.0.1')).statusCode, 403);
  const flood = await post('cab_wrong', '10.2.0.1');
  assert.equal(flood.statusCode, 429);
  assert.match(flood.json()[0].description, /this address/);
  // Another address is not affected.
  assert.equal((await post('cab_wrong', '10.2.0.2')).statusCode, 403);
});

test('a multipart flood is refused before its photos are read (429, not the 413 of reading a too-large photo)', async () => {
  const app = await createUser(t.services, { email: 'photo-app@test.cabildo' });
  const { token } = await createApiToken(t.services.db, app.id, 'photos');
  for (let i = 1; i <= 5; i++) assert.equal((await post(token, `10.3.0.${i}`)).statusCode, 200);
  const boundary = '----limit';
  const field = (k: string, v: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`;
  const payload = Buffer.concat([
    Buffer.from(field('api_key', token) + field('service_code', 'bache') + field('lat', String(f.inside.lat)) + field('long', String(f.inside.lng))),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="media"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
    Buffer.alloc(5000, 1),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const res = await t.app.inject({ method: 'POST', url: '/open311/v2/requests.json', payload, remoteAddress: '10.3.0.9', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
  assert.equal(res.statusCode, 429, res.body);
  assert.equal(res.json()[0].code, 429);
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestApp, testEngine, type TestContext } from './testing/harness';
import { modules } from '../modules';

let t: TestContext;
before(async () => {
  t = await createTestApp({ modules });
});
after(() => t.close());

test('healthz names the engine', async () => {
  const res = await t.app.inject('/healthz');
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { status: 'ok', db: testEngine });
});

test('home page presents one card per module, in Spanish by default', async () => {
  const res = await t.app.inject('/');
  assert.equal(res.statusCode, 200);
  assert.match(res.headers['content-type'] as string, /text\/html/);
  assert.match(res.body, /<html lang="es-AR"/);
  for (const m of modules) assert.ok(res.body.includes(`id="card-${m.name}"`), `card for ${m.name}`);
  const csp = res.headers['content-security-policy'] as string;
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.doesNotMatch(res.body, /<script>(?!<\/script>)/, 'no inline script');
});

test('?lang=en switches to English and is remembered in a cookie', async () => {
  const res = await t.app.inject('/?lang=en');
  assert.match(res.body, /<html lang="en"/);
  const cookie = res.cookies.find((c) => c.name === 'cabildo_lang');
  assert.equal(cookie?.value, 'en');
  const again = await t.app.inject({ url: '/', headers: { cookie: 'cabildo_lang=en' } });
  assert.match(again.body, /Ways to take part/);
});

test('unknown page is a friendly 404 in the user language; unknown API path is a problem document', async () => {
  const page = await t.app.inject('/no-such-page');
  assert.equal(page.statusCode, 404);
  assert.match(page.body, /No encontramos esta página/);
  const api = await t.app.inject('/api/v1/no-such-thing');
  assert.equal(api.statusCode, 404);
  assert.equal(api.headers['content-type'], 'application/problem+json; charset=utf-8');
  assert.equal(api.json().status, 404);
});

test('OpenAPI 3.1 document and docs are served', async () => {
  const res = await t.app.inject('/api/openapi.json');
  assert.equal(res.statusCode, 200);
  const doc = res.json();
  assert.equal(doc.openapi, '3.1.0');
  assert.ok(doc.paths['/api/v1/geo/locate']);
  const docs = await t.app.inject('/api/docs/');
  assert.equal(docs.statusCode, 200);
});

test('API validation errors are RFC 9457 problems with the failing field', async () => {
  const res = await t.app.inject('/api/v1/geo/locate?lat=abc&lng=1');
  assert.equal(res.statusCode, 400);
  const body = res.json();
  assert.equal(body.status, 400);
  assert.ok(body.detail);
});

test('metrics are exposed in Prometheus format', async () => {
  await t.app.inject('/healthz');
  const res = await t.app.inject('/metrics');
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /cabildo_http_request_duration_seconds_bucket/);
  assert.match(res.body, /process_cpu_user_seconds_total/);
});

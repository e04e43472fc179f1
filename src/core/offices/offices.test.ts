import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestApp, createUser, TestClient, type TestContext } from '../testing/harness';

const XSS = '<script>alert("xss")</script><img src=x onerror=alert(1)>';

let t: TestContext;
let ministryId: number;

before(async () => {
  t = await createTestApp();
  const db = t.services.db;
  const ministry = await db
    .insertInto('offices')
    .values({ slug: 'ministerio-de-cultura', name: 'Ministerio de Cultura', kind: 'ministry', description: 'Cultura de la ciudad', email: 'cultura@test.cabildo', url: 'https://example.org/cultura' })
    .returning('id')
    .executeTakeFirstOrThrow();
  ministryId = ministry.id;
  await db.insertInto('offices').values({ slug: 'ente-de-museos', name: 'Ente de Museos', kind: 'agency', parent_id: ministry.id, description: '' }).execute();
  await db.insertInto('offices').values({ slug: 'xss-office', name: XSS, kind: 'other', description: XSS, url: 'javascript:alert(1)' }).execute();
  await createUser(t.services, { email: 'secret.member@test.cabildo', officeIds: [ministry.id] });
  await createUser(t.services, { email: 'other.member@test.cabildo', officeIds: [ministry.id] });
  await db.insertInto('organizations').values({ slug: 'fundacion-abierta', name: 'Fundación Abierta', description: 'Datos abiertos', url: 'https://example.org' }).execute();
  await db.insertInto('organizations').values({ slug: 'xss-org', name: XSS, description: XSS }).execute();
});
after(() => t.close());

test('/offices lists offices with kind and parent, filters by kind', async () => {
  const res = await t.app.inject('/offices');
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /Ministerio de Cultura/);
  assert.match(res.body, /href="\/offices\/ente-de-museos"/);
  assert.match(res.body, /<caption>/);
  const agencies = await t.app.inject('/offices?kind=agency');
  assert.match(agencies.body, /Ente de Museos/);
  assert.doesNotMatch(agencies.body, /scope="row"[^>]*><a href="\/offices\/ministerio-de-cultura"/);
  assert.equal((await t.app.inject('/offices?kind=<b>')).statusCode, 200);
});

test('/offices/:slug shows contact, parent, children and a member count but never member emails', async () => {
  const res = await t.app.inject('/offices/ministerio-de-cultura');
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /cultura@test\.cabildo/);
  assert.match(res.body, /href="https:\/\/example\.org\/cultura"/);
  assert.match(res.body, /Ente de Museos/);
  assert.match(res.body, /<dd>2<\/dd>/);
  assert.doesNotMatch(res.body, /secret\.member/);
  const child = await t.app.inject('/offices/ente-de-museos?lang=en');
  assert.match(child.body, /Reports to/);
  assert.match(child.body, /href="\/offices\/ministerio-de-cultura"/);
  assert.equal((await t.app.inject('/offices/no-such-office')).statusCode, 404);
});

test('an XSS payload in an office or organisation name and description comes back escaped', async () => {
  for (const url of ['/offices', '/offices/xss-office', '/organizations', '/organizations/xss-org']) {
    const res = await t.app.inject(url);
    assert.equal(res.statusCode, 200, url);
    assert.ok(!res.body.includes('<script>alert("xss")'), `${url} has a raw script`);
    assert.ok(!res.body.includes('<img src=x onerror'), `${url} has a raw handler`);
    assert.ok(res.body.includes('&lt;script>alert(&quot;xss&quot;)') || res.body.includes('&lt;script&gt;'), `${url} shows the payload as text`);
    assert.ok(!res.body.includes('href="javascript:'), `${url} links a javascript: URL`);
  }
  // The admin pages escape it too.
  const a = await createUser(t.services, { roles: ['admin'] });
  const admin = await new TestClient(t.app).signInAs(t.services, a.id);
  for (const url of ['/admin/offices', '/admin/organizations', '/admin']) {
    const res = await admin.get(url);
    assert.equal(res.statusCode, 200, url);
    assert.ok(!res.body.includes('<script>alert("xss")'), `${url} has a raw script`);
  }
});

test('/organizations and /organizations/:slug', async () => {
  const list = await t.app.inject('/organizations');
  assert.match(list.body, /href="\/organizations\/fundacion-abierta"/);
  const one = await t.app.inject('/organizations/fundacion-abierta');
  assert.equal(one.statusCode, 200);
  assert.match(one.body, /Datos abiertos/);
  assert.equal((await t.app.inject('/organizations/nope')).statusCode, 404);
});

test('JSON API: offices, one office, organisations; in the OpenAPI document', async () => {
  const list = await t.app.inject('/api/v1/offices');
  assert.equal(list.statusCode, 200);
  const offices = list.json().offices as Array<{ slug: string; members: number; parent: string | null }>;
  const museos = offices.find((o) => o.slug === 'ente-de-museos');
  assert.equal(museos?.parent, 'ministerio-de-cultura');
  const one = await t.app.inject('/api/v1/offices/ministerio-de-cultura');
  assert.equal(one.statusCode, 200);
  assert.equal(one.json().members, 2);
  assert.equal(one.json().kind, 'ministry');
  assert.ok(!one.body.includes('secret.member'));
  const missing = await t.app.inject('/api/v1/offices/nope');
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.headers['content-type'], 'application/problem+json; charset=utf-8');
  const orgs = await t.app.inject('/api/v1/organizations');
  assert.ok((orgs.json().organizations as Array<{ slug: string }>).some((o) => o.slug === 'fundacion-abierta'));
  assert.equal((await t.app.inject('/api/v1/organizations/fundacion-abierta')).json().name, 'Fundación Abierta');
  const doc = (await t.app.inject('/api/openapi.json')).json();
  for (const p of ['/api/v1/me', '/api/v1/offices', '/api/v1/offices/{slug}', '/api/v1/organizations']) assert.ok(doc.paths[p], `${p} documented`);
  assert.ok(ministryId > 0);
});

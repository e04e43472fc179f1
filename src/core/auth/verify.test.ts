import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import { createTestApp, createUser, TestClient, type TestContext } from '../testing/harness';
import { systemActor } from '../audit';
import { HttpCensus, CensusUnavailableError, importCensusCsv } from './census';
import { ensureCommunes, localServer } from './testing';

// Each test posts from its own address, so the per-IP limit of one test never trips another.
async function postFrom(c: TestClient, ip: string, url: string, form: Record<string, string>): Promise<LightMyRequestResponse> {
  const params = new URLSearchParams({ ...form, _csrf: c.csrf });
  return c.request({ method: 'POST', url, payload: params.toString(), remoteAddress: ip, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
}

async function verifiedUser(t: TestContext, userId: number) {
  return t.services.db.selectFrom('users').select(['verified_at', 'commune_id', 'gender']).where('id', '=', userId).executeTakeFirstOrThrow();
}

async function signedIn(t: TestContext, opts: { verified?: boolean } = {}) {
  const u = await createUser(t.services, { verified: opts.verified });
  const c = await new TestClient(t.app).signInAs(t.services, u.id);
  const page = await c.get('/account/verify');
  return { u, c, page };
}

let t: TestContext;
let census: { url: string; close(): Promise<void> };
let h: TestContext;
const seen: Array<{ auth?: string; url: string }> = [];

before(async () => {
  t = await createTestApp({ config: { verificationAttempts: 3 } });
  await ensureCommunes(t.services);
  await importCensusCsv(
    t.services,
    'document_number,date_of_birth,commune,gender\n30111222,1990-05-17,3,\n28.444.555,02/11/1981,14,F\n',
    systemActor,
  );

  // The city's census web service, as the HTTP connector expects it.
  census = await localServer((req, res) => {
    seen.push({ auth: req.headers.authorization, url: req.url ?? '' });
    const u = new URL(req.url ?? '/', 'http://x');
    if (req.headers.authorization !== 'Bearer census-token') {
      res.writeHead(401).end();
    } else if (u.searchParams.get('document') === '20333444' && u.searchParams.get('birth_date') === '1985-01-02') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ commune: 7, gender: 'F' }));
    } else if (u.searchParams.get('document') === '11111111') {
      res.writeHead(500).end('boom');
    } else if (u.searchParams.get('document') === '22222222') {
      // Never answers: the connector's timeout must give up.
    } else {
      res.writeHead(404).end();
    }
  });
  h = await createTestApp({ env: { CENSUS_CONNECTOR: 'http', CENSUS_URL: `${census.url}/census`, CENSUS_TOKEN: 'census-token' } });
});

after(async () => {
  await t.close();
  await h.close();
  await census.close();
});

test('good data verifies: commune from the census, audit without the document in clear', async () => {
  const { u, c, page } = await signedIn(t);
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /Te quedan 3 intentos/);
  const res = await postFrom(c, '10.0.1.1', '/account/verify', { document: '30.111.222', birth_date: '17/05/1990' });
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, '/account?verified=1');
  const row = await verifiedUser(t, u.id);
  assert.ok(row.verified_at);
  assert.equal(row.commune_id, 3);
  const account = await c.get('/account');
  assert.match(account.body, /verificada de Comuna 3/);
  const audit = await t.services.db.selectFrom('audit_log').selectAll().where('action', '=', 'user.verify').where('subject_id', '=', String(u.id)).executeTakeFirstOrThrow();
  assert.equal(audit.actor_id, u.id);
  assert.equal(audit.ip, '10.0.1.1');
  assert.ok(!JSON.stringify(audit.details).includes('30111222'));
  // A verified resident is not asked again.
  assert.equal((await c.get('/account/verify')).statusCode, 303);
  const census = await t.services.db.selectFrom('census_records').selectAll().execute();
  assert.ok(census.every((r) => !r.document_hash.includes('30111222') && /^[0-9a-f]{64}$/.test(r.document_hash)));
});

test('bad data is refused and counts; malformed input is a field error that does not count', async () => {
  const { u, c } = await signedIn(t);
  let res = await postFrom(c, '10.0.2.1', '/account/verify', { document: 'abc', birth_date: '31/02/1990' });
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /id="f-document-error"/);
  assert.match(res.body, /id="f-birth_date-error"/);
  res = await postFrom(c, '10.0.2.1', '/account/verify', { document: '30111222', birth_date: '1990-05-18' });
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /No encontramos a nadie en el padrón/);
  assert.match(res.body, /Te quedan 2 intentos/);
  const row = await verifiedUser(t, u.id);
  assert.equal(row.verified_at, null);
  assert.equal(row.commune_id, null);
  const attempts = await t.services.db.selectFrom('verification_attempts').selectAll().where('user_id', '=', u.id).execute();
  assert.deepEqual(attempts.map((a) => a.success), [false]);
});

test('attempts exhausted: refused even with good data, for 24 hours', async () => {
  const { u, c } = await signedIn(t);
  for (let i = 0; i < 3; i++) {
    const res = await postFrom(c, '10.0.3.1', '/account/verify', { document: '28444555', birth_date: `1981-11-0${i + 3}` });
    assert.equal(res.statusCode, 400);
  }
  const res = await postFrom(c, '10.0.3.1', '/account/verify', { document: '28444555', birth_date: '1981-11-02' });
  assert.equal(res.statusCode, 429);
  assert.match(res.body, /límite de intentos/);
  assert.doesNotMatch(res.body, /action="\/account\/verify"/);
  assert.equal((await verifiedUser(t, u.id)).verified_at, null);
  // Attempts older than a day no longer count.
  await t.services.db.updateTable('verification_attempts').set({ at: new Date(Date.now() - 25 * 3600_000) }).where('user_id', '=', u.id).execute();
  const page = await c.get('/account/verify');
  assert.match(page.body, /Te quedan 3 intentos/);
  const ok = await postFrom(c, '10.0.3.1', '/account/verify', { document: '28444555', birth_date: '1981-11-02' });
  assert.equal(ok.statusCode, 303);
  const row = await verifiedUser(t, u.id);
  assert.equal(row.commune_id, 14);
  assert.equal(row.gender, 'female', 'the census fills a gender the profile left blank');
});

test('a document already used by another verified account is refused', async () => {
  // 30111222 verified the account of the first test; this run must not depend on it.
  const first = await signedIn(t);
  // Verifies it, or is refused because the first test's account holds it: either way it has a holder.
  await postFrom(first.c, '10.0.4.1', '/account/verify', { document: '30111222', birth_date: '1990-05-17' });
  const holder = await t.services.db
    .selectFrom('audit_log')
    .select('subject_id')
    .where('action', '=', 'user.verify')
    .executeTakeFirstOrThrow();
  assert.ok(holder.subject_id);
  const { u, c } = await signedIn(t);
  const res = await postFrom(c, '10.0.4.2', '/account/verify', { document: '30111222', birth_date: '1990-05-17' });
  assert.equal(res.statusCode, 409);
  assert.match(res.body, /ya se usó para verificar otra cuenta/);
  assert.equal((await verifiedUser(t, u.id)).verified_at, null);
  // Once the holder is no longer verified (an administrator revoked it), the document is free.
  await t.services.db.updateTable('users').set({ verified_at: null }).where('verified_at', 'is not', null).execute();
  const again = await postFrom(c, '10.0.4.2', '/account/verify', { document: '30111222', birth_date: '1990-05-17' });
  assert.equal(again.statusCode, 303);
});

test('the per-address rate limit answers 429 with a page', async () => {
  const { c } = await signedIn(t);
  const codes: number[] = [];
  for (let i = 0; i < 11; i++) codes.push((await postFrom(c, '10.0.5.1', '/account/verify', { document: 'x', birth_date: 'y' })).statusCode);
  assert.deepEqual(codes.slice(0, 10), Array(10).fill(400));
  assert.equal(codes[10], 429);
});

test('anonymous visitors are sent to sign in', async () => {
  const res = await t.app.inject('/account/verify');
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, '/signin?next=%2Faccount%2Fverify');
});

test('HTTP connector: the city census service verifies with a Bearer token', async () => {
  const { u, c } = await signedIn(h);
  seen.length = 0;
  const res = await postFrom(c, '10.0.6.1', '/account/verify', { document: '20.333.444', birth_date: '02/01/1985' });
  assert.equal(res.statusCode, 303);
  const row = await verifiedUser(h, u.id);
  assert.equal(row.commune_id, 7);
  assert.equal(row.gender, 'female');
  assert.equal(seen[0].auth, 'Bearer census-token');
  assert.equal(seen[0].url, '/census?document=20333444&birth_date=1985-01-02');
});

test('HTTP connector: 404 is "not in the census"; a failing service is a 503 page and costs no attempt', async () => {
  const { u, c } = await signedIn(h);
  let res = await postFrom(c, '10.0.7.1', '/account/verify', { document: '20333444', birth_date: '1985-01-03' });
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /No encontramos a nadie/);
  res = await postFrom(c, '10.0.7.1', '/account/verify', { document: '11111111', birth_date: '1985-01-03' });
  assert.equal(res.statusCode, 503);
  assert.match(String(res.headers['content-type']), /text\/html/);
  assert.match(res.body, /no está disponible/);
  const attempts = await h.services.db.selectFrom('verification_attempts').selectAll().where('user_id', '=', u.id).execute();
  assert.equal(attempts.length, 1, 'only the real "not found" counted');
});

test('HTTP connector gives up after its timeout, and on a closed port', async () => {
  const slow = new HttpCensus(`${census.url}/census`, 'census-token', 200);
  await assert.rejects(slow.lookup('22222222', '1990-01-01'), CensusUnavailableError);
  const unauthorised = new HttpCensus(`${census.url}/census`, 'wrong-token', 2000);
  await assert.rejects(unauthorised.lookup('20333444', '1985-01-02'), CensusUnavailableError);
  const closed = await localServer(() => undefined);
  const url = closed.url;
  await closed.close();
  await assert.rejects(new HttpCensus(url, undefined, 2000).lookup('20333444', '1985-01-02'), CensusUnavailableError);
  assert.deepEqual(await new HttpCensus(`${census.url}/census`, 'census-token', 2000).lookup('20333444', '1985-01-02'), { communeId: 7, gender: 'female' });
});

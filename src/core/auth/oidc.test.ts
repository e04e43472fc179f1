import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { createTestApp, createUser, TestClient, type TestContext } from '../testing/harness';
import { SESSION_COOKIE } from './session';
import { localServer } from './testing';

// A tiny OpenID Connect provider: discovery, keys, and a token endpoint that signs ID tokens.
const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' };
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
let provider: { url: string; close(): Promise<void> };
/** What the next token request answers with: the test sets the identity and the expected nonce. */
let identity: { sub: string; email?: string; email_verified?: boolean; name?: string; nonce: string };
const tokenRequests: URLSearchParams[] = [];

let t: TestContext;
let plain: TestContext;

before(async () => {
  provider = await localServer((req, res) => {
    const issuer = provider.url;
    if (req.url === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          jwks_uri: `${issuer}/jwks`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
          code_challenge_methods_supported: ['S256'],
        }),
      );
    } else if (req.url === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    } else if (req.url === '/token' && req.method === 'POST') {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        tokenRequests.push(form);
        if (form.get('code') !== 'good-code') return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_grant"}');
        const now = Math.floor(Date.now() / 1000);
        const payload = { iss: issuer, aud: 'cabildo', iat: now, exp: now + 300, ...identity };
        const signingInput = `${b64({ alg: 'RS256', typ: 'JWT', kid: 'k1' })}.${b64(payload)}`;
        const signature = crypto.sign('RSA-SHA256', Buffer.from(signingInput), privateKey).toString('base64url');
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({ access_token: 'at', token_type: 'Bearer', expires_in: 300, id_token: `${signingInput}.${signature}` }),
        );
      });
    } else {
      res.writeHead(404).end();
    }
  });
  t = await createTestApp({
    env: { OIDC_ISSUER: provider.url, OIDC_CLIENT_ID: 'cabildo', OIDC_CLIENT_SECRET: 'shh', OIDC_LABEL: 'Mi BA' },
    config: { secureCookies: true },
  });
  plain = await createTestApp();
});

after(async () => {
  await t.close();
  await plain.close();
  await provider.close();
});

/** Starts the sign-in, plays the provider's part, and comes back to the callback. */
async function signInThroughProvider(c: TestClient, who: Omit<typeof identity, 'nonce'>, code = 'good-code') {
  const start = await c.get('/signin/oidc?next=%2Faccount');
  assert.equal(start.statusCode, 303);
  const auth = new URL(String(start.headers.location));
  identity = { ...who, nonce: auth.searchParams.get('nonce') ?? '' };
  return c.get(`/signin/oidc/callback?code=${code}&state=${encodeURIComponent(auth.searchParams.get('state') ?? '')}`);
}

test('without OIDC configured: no button, no route', async () => {
  const page = await plain.app.inject('/signin');
  assert.doesNotMatch(page.body, /signin\/oidc/);
  assert.equal((await plain.app.inject('/signin/oidc')).statusCode, 404);
});

test('with OIDC configured: the button, and a redirect to the provider with PKCE, state and nonce', async () => {
  const page = await t.app.inject('/signin?next=%2Fproposals');
  assert.match(page.body, /href="\/signin\/oidc\?next=%2Fproposals"[^>]*>Ingresar con Mi BA</);
  const res = await t.app.inject('/signin/oidc?next=%2Fproposals');
  assert.equal(res.statusCode, 303);
  const url = new URL(String(res.headers.location));
  assert.equal(url.origin + url.pathname, `${provider.url}/authorize`);
  assert.equal(url.searchParams.get('client_id'), 'cabildo');
  assert.equal(url.searchParams.get('response_type'), 'code');
  assert.equal(url.searchParams.get('redirect_uri'), 'http://localhost:3000/signin/oidc/callback');
  assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
  assert.match(url.searchParams.get('scope') ?? '', /openid/);
  for (const p of ['state', 'nonce', 'code_challenge']) assert.ok(url.searchParams.get(p), p);
  const flow = res.cookies.find((k: { name: string }) => k.name === 'cabildo_oidc') as Record<string, unknown>;
  assert.ok(flow);
  assert.equal(flow.httpOnly, true);
  assert.equal(flow.secure, true, 'Secure behind HTTPS');
  const unsigned = t.app.unsignCookie(String(flow.value));
  assert.equal(unsigned.valid, true, 'signed with the instance secret');
  assert.equal(JSON.parse(unsigned.value!).state, url.searchParams.get('state'));
  assert.equal(t.app.unsignCookie(String(flow.value).replace(/.$/, (ch) => (ch === 'A' ? 'B' : 'A'))).valid, false);
});

test('the callback creates the account, then finds it again by subject; the session is Secure', async () => {
  const c = new TestClient(t.app);
  const res = await signInThroughProvider(c, { sub: 'mi-ba-1', email: 'Vecina@Example.org', email_verified: true, name: 'Vecina' });
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, '/account');
  const session = res.cookies.find((k: { name: string }) => k.name === SESSION_COOKIE) as Record<string, unknown>;
  assert.equal(session.secure, true);
  assert.equal(tokenRequests.at(-1)?.get('code_verifier')?.length, 43, 'PKCE verifier sent to the token endpoint');
  const user = await t.services.db.selectFrom('users').selectAll().where('oidc_subject', '=', 'mi-ba-1').executeTakeFirstOrThrow();
  assert.equal(user.email, 'vecina@example.org');
  assert.equal(user.password_hash, null);
  assert.ok(user.email_confirmed_at);
  const account = await c.get('/account');
  assert.equal(account.statusCode, 200);
  assert.match(account.body, /no tiene contraseña/);

  const again = await signInThroughProvider(new TestClient(t.app), { sub: 'mi-ba-1', email: 'changed@example.org', email_verified: true });
  assert.equal(again.statusCode, 303);
  const count = await t.services.db.selectFrom('users').select('id').where('oidc_subject', '=', 'mi-ba-1').execute();
  assert.equal(count.length, 1);
});

test('an existing account is linked by a verified email only', async () => {
  const existing = await createUser(t.services, { email: 'linked@example.org' });
  const refused = await signInThroughProvider(new TestClient(t.app), { sub: 'mi-ba-2', email: 'linked@example.org', email_verified: false });
  assert.equal(refused.statusCode, 400);
  const ok = await signInThroughProvider(new TestClient(t.app), { sub: 'mi-ba-2', email: 'LINKED@example.org', email_verified: true });
  assert.equal(ok.statusCode, 303);
  const row = await t.services.db.selectFrom('users').select('oidc_subject').where('id', '=', existing.id).executeTakeFirstOrThrow();
  assert.equal(row.oidc_subject, 'mi-ba-2');
});

test('a forged state, a refused code or a missing flow cookie sign nobody in', async () => {
  const c = new TestClient(t.app);
  await c.get('/signin/oidc');
  const forged = await c.get('/signin/oidc/callback?code=good-code&state=forged');
  assert.equal(forged.statusCode, 400);
  assert.equal(c.cookies.get(SESSION_COOKIE), undefined);
  const bad = await signInThroughProvider(new TestClient(t.app), { sub: 'mi-ba-3', email: 'x@example.org' }, 'bad-code');
  assert.equal(bad.statusCode, 400);
  const none = await t.app.inject('/signin/oidc/callback?code=good-code&state=x');
  assert.equal(none.statusCode, 400);
  assert.equal(await t.services.db.selectFrom('users').select('id').where('oidc_subject', '=', 'mi-ba-3').executeTakeFirst(), undefined);
});

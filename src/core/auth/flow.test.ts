import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestApp, createUser, TestClient, type TestContext } from '../testing/harness';
import { createSession, SESSION_COOKIE, sha256 } from './session';
import { hashPassword } from './password';
import { safeNext } from './helpers';

let t: TestContext;
before(async () => {
  t = await createTestApp();
});
after(async () => {
  await t.close();
});

async function lastMailTo(email: string) {
  return t.services.db
    .selectFrom('mail_outbox')
    .selectAll()
    .where('to_address', '=', email)
    .orderBy('id', 'desc')
    .executeTakeFirstOrThrow();
}

function linkIn(text: string, path: 'confirm' | 'reset'): string {
  const m = new RegExp(`https?://[^\\s]+(/${path}/[A-Za-z0-9_-]+)`).exec(text);
  assert.ok(m, `no /${path}/ link in: ${text}`);
  return m[1];
}

async function sessionCount(userId: number) {
  const r = await t.services.db.selectFrom('sessions').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow();
  return Number(r.n);
}

test('sign up → confirm from the outbox → sign out → sign in → forgot → reset', async () => {
  const c = new TestClient(t.app);
  const email = 'Ana.Resident@Example.org';
  let res = await c.get('/signup');
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /name="password"/);

  res = await c.post('/signup', { email, name: 'Ana <b>Pérez</b>', password: 'correct horse battery', confirm: 'correct horse battery' });
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, '/account?welcome=1');
  assert.ok(c.cookies.get(SESSION_COOKIE), 'signed in after sign-up');

  const user = await t.services.db.selectFrom('users').selectAll().where('email', '=', email.toLowerCase()).executeTakeFirstOrThrow();
  assert.match(user.password_hash ?? '', /^\$argon2id\$/);
  assert.equal(user.email_confirmed_at, null);

  // Unconfirmed: the account page offers to resend the confirmation, and escapes the name.
  res = await c.get('/account?welcome=1');
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /action="\/account\/confirm\/resend"/);
  assert.ok(res.body.includes('Ana &lt;b>Pérez&lt;/b>') || res.body.includes('Ana &lt;b&gt;Pérez&lt;/b&gt;'));
  assert.ok(!res.body.includes('<b>Pérez</b>'));

  const mail = await lastMailTo(email.toLowerCase());
  assert.match(mail.subject, /Confirmá tu correo/);
  const confirmPath = linkIn(mail.text_body, 'confirm');
  res = await c.get(confirmPath);
  assert.equal(res.statusCode, 200);
  const confirmed = await t.services.db.selectFrom('users').select('email_confirmed_at').where('id', '=', user.id).executeTakeFirstOrThrow();
  assert.ok(confirmed.email_confirmed_at);
  // Single use.
  res = await c.get(confirmPath);
  assert.equal(res.statusCode, 400);

  res = await c.get('/account');
  assert.doesNotMatch(res.body, /action="\/account\/confirm\/resend"/);

  res = await c.post('/signout', {});
  assert.equal(res.statusCode, 303);
  assert.equal(c.cookies.get(SESSION_COOKIE), undefined);
  assert.equal(await sessionCount(user.id), 0);
  res = await c.get('/account');
  assert.equal(res.statusCode, 303);
  assert.match(String(res.headers.location), /^\/signin\?next=/);

  // Sign in with the email in another case, and come back to a local page.
  await c.get('/signin?next=/account');
  res = await c.post('/signin', { email: 'ana.resident@example.ORG', password: 'correct horse battery', next: '/account' });
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, '/account');
  const cookie = res.cookies.find((k: { name: string }) => k.name === SESSION_COOKIE) as Record<string, unknown>;
  assert.equal(cookie.httpOnly, true);
  assert.equal(String(cookie.sameSite).toLowerCase(), 'lax');
  assert.equal(cookie.path, '/');
  assert.equal(cookie.maxAge, 30 * 86400);
  assert.ok(!cookie.secure, 'no Secure flag on plain http');
  res = await c.get('/account');
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /ana\.resident@example\.org/);

  // Forgot: the same answer for a known and an unknown address; only the known one gets mail.
  const other = new TestClient(t.app);
  await other.get('/forgot');
  const before = await t.services.db.selectFrom('mail_outbox').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  const unknown = await other.post('/forgot', { email: 'nobody@example.org' });
  const known = await other.post('/forgot', { email });
  assert.equal(unknown.statusCode, 200);
  assert.equal(known.statusCode, 200);
  const strip = (s: string) => s.replace(/name="_csrf" value="[^"]+"/g, '');
  assert.equal(strip(unknown.body), strip(known.body));
  const afterCount = await t.services.db.selectFrom('mail_outbox').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  assert.equal(Number(afterCount.n), Number(before.n) + 1);

  const resetPath = linkIn((await lastMailTo(email.toLowerCase())).text_body, 'reset');
  res = await other.get(resetPath);
  assert.equal(res.statusCode, 200);
  res = await other.post(resetPath, { password: 'short', confirm: 'short' });
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /al menos 10 caracteres/);
  assert.ok(await sessionCount(user.id) > 0);
  res = await other.post(resetPath, { password: 'a brand new secret', confirm: 'a brand new secret' });
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, '/signin?reset=1');
  assert.equal(await sessionCount(user.id), 0, 'reset signs out every session of the account');
  res = await c.get('/account');
  assert.equal(res.statusCode, 303, 'the old browser session no longer works');
  // Single use.
  res = await other.get(resetPath);
  assert.equal(res.statusCode, 400);

  const audit = await t.services.db.selectFrom('audit_log').selectAll().where('action', '=', 'user.password.reset').executeTakeFirstOrThrow();
  assert.equal(audit.subject_id, String(user.id));
  assert.ok(!JSON.stringify(audit.details).includes('brand new'), 'no secret in the audit log');

  res = await other.post('/signin', { email, password: 'correct horse battery' });
  assert.equal(res.statusCode, 401);
  res = await other.post('/signin', { email, password: 'a brand new secret' });
  assert.equal(res.statusCode, 303);
});

test('sign-up refuses a taken email next to the field, a short password and a mismatch', async () => {
  const existing = await createUser(t.services, { email: 'taken@example.org' });
  const c = new TestClient(t.app);
  await c.get('/signup');
  let res = await c.post('/signup', { email: 'TAKEN@example.org', name: 'X', password: 'long enough password', confirm: 'long enough password' });
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /id="f-email-error"[^>]*>Ya hay una cuenta con este correo/);
  res = await c.post('/signup', { email: 'new@example.org', name: 'X', password: 'short', confirm: 'short' });
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /id="f-password-error"/);
  res = await c.post('/signup', { email: 'new@example.org', name: 'X', password: 'long enough password', confirm: 'long enough passw0rd' });
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /id="f-confirm-error"/);
  res = await c.post('/signup', { email: 'not-an-email', name: '', password: 'long enough password', confirm: 'long enough password' });
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /id="f-name-error"/);
  const n = await t.services.db.selectFrom('users').select('id').where('email', 'in', ['new@example.org', 'not-an-email']).execute();
  assert.equal(n.length, 0);
  assert.ok(existing.id);
});

test('wrong password and unknown email get the same refusal; disabled accounts cannot sign in', async () => {
  const hash = await hashPassword('the right password');
  const u = await createUser(t.services, { email: 'wrongpw@example.org', passwordHash: hash });
  const c = new TestClient(t.app);
  await c.get('/signin');
  const wrong = await c.post('/signin', { email: u.email, password: 'not the right one' });
  const unknown = await c.post('/signin', { email: 'ghost@example.org', password: 'not the right one' });
  assert.equal(wrong.statusCode, 401);
  assert.equal(unknown.statusCode, 401);
  assert.match(wrong.body, /El correo o la contraseña no son correctos/);
  assert.match(unknown.body, /El correo o la contraseña no son correctos/);
  assert.equal(c.cookies.get(SESSION_COOKIE), undefined);

  await t.services.db.updateTable('users').set({ disabled_at: new Date() }).where('id', '=', u.id).execute();
  const disabled = await c.post('/signin', { email: u.email, password: 'the right password' });
  assert.equal(disabled.statusCode, 401);
  assert.match(disabled.body, /deshabilitada/);
  assert.equal(c.cookies.get(SESSION_COOKIE), undefined);
});

test('sign-in rotates the session: new cookie, the old session deleted', async () => {
  const u = await createUser(t.services, { email: 'rotate@example.org', passwordHash: await hashPassword('rotate me please') });
  const planted = await createSession(t.services.db, u.id, {});
  const c = new TestClient(t.app);
  c.cookies.set(SESSION_COOKIE, planted);
  await c.get('/');
  const res = await c.post('/signin', { email: u.email, password: 'rotate me please', next: '/account' });
  assert.equal(res.statusCode, 303);
  const fresh = c.cookies.get(SESSION_COOKIE);
  assert.ok(fresh);
  assert.notEqual(fresh, planted);
  const old = await t.services.db.selectFrom('sessions').select('id').where('id', '=', sha256(planted)).executeTakeFirst();
  assert.equal(old, undefined, 'the session the browser came with is gone');
  assert.equal((await c.get('/account')).statusCode, 200);
});

test('next is followed only to local paths', async () => {
  assert.equal(safeNext('/proposals?x=1'), '/proposals?x=1');
  assert.equal(safeNext('https://evil.example/'), '/');
  assert.equal(safeNext('//evil.example/'), '/');
  assert.equal(safeNext('/\\evil.example'), '/');
  assert.equal(safeNext('/signin'), '/');
  const u = await createUser(t.services, { email: 'next@example.org', passwordHash: await hashPassword('next please 123') });
  const c = new TestClient(t.app);
  await c.get('/signin');
  const res = await c.post('/signin', { email: u.email, password: 'next please 123', next: 'https://evil.example/' });
  assert.equal(res.headers.location, '/');
});

test('profile and password change (needs the current one; other sessions signed out; audited without secrets)', async () => {
  const u = await createUser(t.services, { email: 'profile@example.org', passwordHash: await hashPassword('old password 123') });
  const elsewhere = await createSession(t.services.db, u.id, {});
  const c = await new TestClient(t.app).signInAs(t.services, u.id);
  await c.get('/account');
  let res = await c.post('/account/profile', { name: 'Profe', locale: 'en', gender: 'female', birth_year: '1985' });
  assert.equal(res.statusCode, 303);
  const row = await t.services.db.selectFrom('users').selectAll().where('id', '=', u.id).executeTakeFirstOrThrow();
  assert.equal(row.name, 'Profe');
  assert.equal(row.locale, 'en');
  assert.equal(row.gender, 'female');
  assert.equal(row.birth_year, 1985);
  assert.equal(c.cookies.get('cabildo_lang'), 'en');
  res = await c.get('/account');
  assert.match(res.body, /anonymous participation statistics/);

  res = await c.post('/account/profile', { name: 'Profe', locale: 'en', gender: 'robot', birth_year: '85' });
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /id="f-birth_year-error"/);

  res = await c.post('/account/password', { current: 'wrong password', password: 'new password 456', confirm: 'new password 456' });
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /id="f-current-error"/);
  res = await c.post('/account/password', { current: 'old password 123', password: 'new password 456', confirm: 'new password 456' });
  assert.equal(res.statusCode, 303);
  assert.equal((await c.get('/account')).statusCode, 200, 'this browser stays signed in');
  const other = await t.services.db.selectFrom('sessions').select('id').where('id', '=', sha256(elsewhere)).executeTakeFirst();
  assert.equal(other, undefined, 'other sessions are signed out');
  const audit = await t.services.db.selectFrom('audit_log').selectAll().where('action', '=', 'user.password').where('subject_id', '=', String(u.id)).executeTakeFirstOrThrow();
  assert.ok(!JSON.stringify(audit).includes('new password'));

  // Another browser: the profile's language comes along with the sign-in.
  const laptop = new TestClient(t.app);
  await laptop.get('/signin');
  res = await laptop.post('/signin', { email: u.email, password: 'new password 456', next: '/account' });
  assert.equal(res.statusCode, 303);
  assert.equal(laptop.cookies.get('cabildo_lang'), 'en');
  assert.match((await laptop.get('/account')).body, /<h1>My account<\/h1>/);
});

test('resend confirmation puts a new link in the outbox', async () => {
  const u = await createUser(t.services, { email: 'resend@example.org' });
  await t.services.db.updateTable('users').set({ email_confirmed_at: null }).where('id', '=', u.id).execute();
  const c = await new TestClient(t.app).signInAs(t.services, u.id);
  await c.get('/account');
  const res = await c.post('/account/confirm/resend', {});
  assert.equal(res.statusCode, 303);
  const mail = await lastMailTo(u.email);
  const path = linkIn(mail.text_body, 'confirm');
  assert.equal((await c.get(path)).statusCode, 200);
});

test('state-changing forms without a CSRF token get 403', async () => {
  const u = await createUser(t.services, { email: 'csrf@example.org', passwordHash: await hashPassword('csrf password 1') });
  const c = await new TestClient(t.app).signInAs(t.services, u.id);
  for (const url of ['/signin', '/signup', '/signout', '/forgot', '/account/profile', '/account/password', '/account/verify', '/account/confirm/resend']) {
    const res = await c.post(url, { email: u.email, password: 'csrf password 1', name: 'X' }, { csrf: false });
    assert.equal(res.statusCode, 403, url);
  }
  assert.equal((await c.get('/account')).statusCode, 200, 'still signed in: the sign-out without token did nothing');
});

test('too many sign-in attempts for one account from one address get a friendly 429 page', async () => {
  const u = await createUser(t.services, { email: 'ratelimit@example.org', passwordHash: await hashPassword('rate limited pw') });
  const c = new TestClient(t.app);
  await c.get('/signin');
  const codes: number[] = [];
  for (let i = 0; i < 11; i++) codes.push((await c.post('/signin', { email: u.email, password: 'wrong guess ' + i })).statusCode);
  assert.deepEqual(codes.slice(0, 10), Array(10).fill(401));
  const res = await c.post('/signin', { email: u.email, password: 'rate limited pw' });
  assert.equal(res.statusCode, 429);
  assert.match(String(res.headers['content-type']), /text\/html/);
  assert.match(res.body, /<h1>/);
  // Another account from the same address is not locked out by it.
  const v = await createUser(t.services, { email: 'ratelimit2@example.org', passwordHash: await hashPassword('rate limited pw') });
  assert.equal((await c.post('/signin', { email: v.email, password: 'rate limited pw' })).statusCode, 303);
});

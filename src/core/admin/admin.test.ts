import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestApp, createUser, createOffice, TestClient, type TestContext } from '../testing/harness';
import type { ModuleManifest } from '../manifest';
import { adminMessages } from './messages';
import { officesMessages } from '../offices/messages';
import { visibleModuleLinks } from './index';

/** A tiny module, so the dashboard has module links to show by audience. */
const linksModule: ModuleManifest = {
  name: 'admin-links-fixture',
  path: '/fixture',
  titleKey: 'admin.title',
  descriptionKey: 'admin.lead',
  status: 'ready',
  adminLinks: [
    { href: '/fixture/official-work', labelKey: 'admin.offices.title', audience: 'official' },
    { href: '/fixture/moderation', labelKey: 'admin.audit.title', audience: 'moderator' },
    { href: '/fixture/settings', labelKey: 'admin.tokens.title', audience: 'admin' },
  ],
};

let t: TestContext;
let adminId: number;
let admin: TestClient;
let resident: TestClient;
let anonymous: TestClient;

before(async () => {
  t = await createTestApp({ modules: [linksModule] });
  const a = await createUser(t.services, { roles: ['admin'], email: 'boss@test.cabildo', name: 'Boss' });
  adminId = a.id;
  const r = await createUser(t.services, { verified: true });
  admin = await new TestClient(t.app).signInAs(t.services, a.id);
  resident = await new TestClient(t.app).signInAs(t.services, r.id);
  anonymous = new TestClient(t.app);
});
after(() => t.close());

const ADMIN_ONLY = [
  '/admin/users',
  '/admin/users/1',
  '/admin/offices',
  '/admin/offices/new',
  '/admin/offices/1',
  '/admin/organizations',
  '/admin/organizations/new',
  '/admin/organizations/1',
  '/admin/audit',
  '/admin/outbox',
  '/admin/outbox/1',
  '/admin/tokens',
];

test('every admin page: 403 for a resident, sign-in redirect for anonymous, 200 for an admin', async () => {
  const office = await createOffice(t.services);
  const org = await t.services.db.insertInto('organizations').values({ slug: 'org-guard', name: 'Guard org', description: '' }).returning('id').executeTakeFirstOrThrow();
  const mail = await t.services.db.insertInto('mail_outbox').values({ to_address: 'x@test.cabildo', subject: 'Hi', text_body: 'Body' }).returning('id').executeTakeFirstOrThrow();
  const real: Record<string, string> = {
    '/admin/users/1': `/admin/users/${adminId}`,
    '/admin/offices/1': `/admin/offices/${office.id}`,
    '/admin/organizations/1': `/admin/organizations/${org.id}`,
    '/admin/outbox/1': `/admin/outbox/${mail.id}`,
  };
  for (const url of ADMIN_ONLY) {
    const asResident = await resident.get(url);
    assert.equal(asResident.statusCode, 403, `${url} as resident`);
    assert.match(asResident.body, /No tenés permiso/);
    const asAnon = await anonymous.get(url);
    assert.equal(asAnon.statusCode, 303, `${url} anonymous`);
    assert.equal(asAnon.headers.location, `/signin?next=${encodeURIComponent(url)}`);
    const asAdmin = await admin.get(real[url] ?? url);
    assert.equal(asAdmin.statusCode, 200, `${url} as admin`);
  }
  // The dashboard: anonymous → sign in; a plain resident → 403; admin → every platform link.
  assert.equal((await anonymous.get('/admin')).statusCode, 303);
  assert.equal((await resident.get('/admin')).statusCode, 403);
  const dash = await admin.get('/admin');
  assert.equal(dash.statusCode, 200);
  for (const href of ['/admin/users', '/admin/offices', '/admin/organizations', '/admin/census', '/admin/audit', '/admin/outbox', '/admin/tokens', '/fixture/settings', '/fixture/official-work']) {
    assert.ok(dash.body.includes(`href="${href}"`), `dashboard links ${href}`);
  }
});

test('an official sees their offices and official links, not admin ones; admin pages stay closed to them', async () => {
  const office = await createOffice(t.services, { name: 'Ministerio de Pruebas' });
  const o = await createUser(t.services, { roles: ['official'], officeIds: [office.id] });
  const official = await new TestClient(t.app).signInAs(t.services, o.id);
  const dash = await official.get('/admin');
  assert.equal(dash.statusCode, 200);
  assert.match(dash.body, /Ministerio de Pruebas/);
  assert.ok(dash.body.includes('href="/fixture/official-work"'));
  assert.ok(!dash.body.includes('href="/fixture/settings"'));
  assert.ok(!dash.body.includes('href="/fixture/moderation"'));
  assert.ok(!dash.body.includes('href="/admin/users"'));
  assert.equal((await official.get('/admin/users')).statusCode, 403);

  const m = await createUser(t.services, { roles: ['moderator'] });
  const moderator = await new TestClient(t.app).signInAs(t.services, m.id);
  const mdash = await moderator.get('/admin');
  assert.ok(mdash.body.includes('href="/fixture/moderation"'));
  assert.ok(!mdash.body.includes('href="/fixture/official-work"'));
  assert.deepEqual(
    visibleModuleLinks(linksModule.adminLinks!, ['admin']).map((l) => l.href),
    linksModule.adminLinks!.map((l) => l.href),
  );
});

test('users: search and filters find the right accounts', async () => {
  await createUser(t.services, { email: 'ana.gomez@test.cabildo', name: 'Ana Gómez', verified: true });
  await createUser(t.services, { email: 'beto@test.cabildo', name: 'Beto Pérez', roles: ['moderator'] });
  const byName = await admin.get('/admin/users?q=gómez');
  assert.match(byName.body, /ana\.gomez@test\.cabildo/);
  assert.doesNotMatch(byName.body, /beto@test\.cabildo/);
  const byRole = await admin.get('/admin/users?role=moderator');
  assert.match(byRole.body, /beto@test\.cabildo/);
  assert.doesNotMatch(byRole.body, /ana\.gomez@test\.cabildo/);
  const plain = await admin.get('/admin/users?role=resident&q=test.cabildo');
  assert.match(plain.body, /ana\.gomez@test\.cabildo/);
  assert.doesNotMatch(plain.body, /beto@test\.cabildo/);
  assert.doesNotMatch(plain.body, /boss@test\.cabildo/);
  const unverified = await admin.get('/admin/users?verified=no&q=test.cabildo');
  assert.match(unverified.body, /beto@test\.cabildo/);
  assert.doesNotMatch(unverified.body, /ana\.gomez@test\.cabildo/);
  const odd = await admin.get('/admin/users?q=%25_%5C&page=-3&role=nope');
  assert.equal(odd.statusCode, 200);
  for (let i = 0; i < 27; i++) await createUser(t.services, { email: `paged${String(i).padStart(2, '0')}@pages.test`, name: 'Paged' });
  const first = await admin.get('/admin/users?q=pages.test');
  assert.equal([...first.body.matchAll(/@pages\.test<\/a>/g)].length, 25);
  assert.ok(first.body.includes('href="/admin/users?q=pages.test&amp;page=2"'), 'links the next page with the filter kept');
  const second = await admin.get('/admin/users?q=pages.test&page=2');
  assert.equal([...second.body.matchAll(/@pages\.test<\/a>/g)].length, 2);
  assert.match(second.body, /paged00@pages\.test/, 'newest first: the oldest is on the last page');
});

test('role change is saved and audited with before and after; an admin cannot drop their own admin role', async () => {
  const u = await createUser(t.services, { email: 'future.official@test.cabildo' });
  await admin.get(`/admin/users/${u.id}`);
  const res = await admin.post(`/admin/users/${u.id}/roles`, { roles: ['official', 'moderator'] });
  assert.equal(res.statusCode, 303);
  const row = await t.services.db.selectFrom('users').select('roles').where('id', '=', u.id).executeTakeFirstOrThrow();
  assert.deepEqual([...row.roles].sort(), ['moderator', 'official']);
  const entry = await t.services.db.selectFrom('audit_log').selectAll().where('action', '=', 'user.roles').where('subject_id', '=', String(u.id)).executeTakeFirstOrThrow();
  assert.equal(entry.actor_id, adminId);
  assert.equal(entry.actor_email, 'boss@test.cabildo');
  assert.deepEqual(entry.details, { email: 'future.official@test.cabildo', before: [], after: ['official', 'moderator'] });
  const log = await admin.get(`/admin/audit?action=user&subject_type=user&subject_id=${u.id}`);
  assert.match(log.body, /user\.roles/);
  assert.match(log.body, /<dt>before<\/dt>/);

  await admin.get(`/admin/users/${adminId}`);
  const self = await admin.post(`/admin/users/${adminId}/roles`, { roles: ['official'] });
  assert.equal(self.statusCode, 400);
  assert.match(self.body, /No podés quitarte el rol de administración/);
  const me = await t.services.db.selectFrom('users').select('roles').where('id', '=', adminId).executeTakeFirstOrThrow();
  assert.deepEqual(me.roles, ['admin']);

  const bad = await admin.post(`/admin/users/${u.id}/roles`, { roles: ['emperor'] });
  assert.equal(bad.statusCode, 400);
});

test('verification grant/revoke and disable/enable are audited; a disabled account is signed out', async () => {
  const u = await createUser(t.services, { verified: true, communeId: null });
  const client = await new TestClient(t.app).signInAs(t.services, u.id);
  assert.equal((await client.get('/')).statusCode, 200);

  await admin.get(`/admin/users/${u.id}`);
  assert.equal((await admin.post(`/admin/users/${u.id}/verification`, { action: 'revoke' })).statusCode, 303);
  let row = await t.services.db.selectFrom('users').select(['verified_at', 'disabled_at']).where('id', '=', u.id).executeTakeFirstOrThrow();
  assert.equal(row.verified_at, null);
  assert.equal((await admin.post(`/admin/users/${u.id}/status`, { action: 'disable' })).statusCode, 303);
  row = await t.services.db.selectFrom('users').select(['verified_at', 'disabled_at']).where('id', '=', u.id).executeTakeFirstOrThrow();
  assert.ok(row.disabled_at);
  const sessions = await t.services.db.selectFrom('sessions').select('id').where('user_id', '=', u.id).execute();
  assert.equal(sessions.length, 0);
  const actions = (await t.services.db.selectFrom('audit_log').select('action').where('subject_id', '=', String(u.id)).orderBy('id').execute()).map((r) => r.action);
  assert.deepEqual(actions, ['user.unverify', 'user.disable']);
  const disabledList = await admin.get('/admin/users?status=disabled');
  assert.ok(disabledList.body.includes(`>${u.email}</a>`));
  assert.ok(!disabledList.body.includes('>boss@test.cabildo</a>'));
  assert.equal((await admin.post(`/admin/users/${u.id}/status`, { action: 'enable' })).statusCode, 303);
  assert.equal((await admin.post(`/admin/users/${adminId}/status`, { action: 'disable' })).statusCode, 400);
  assert.equal((await admin.post(`/admin/users/${u.id}/status`, { action: 'explode' })).statusCode, 400);
});

test('offices: create, duplicate slug is a message, edit, members add and remove, all audited', async () => {
  await admin.get('/admin/offices/new');
  const created = await admin.post('/admin/offices', { name: 'Agencia de Pruebas', slug: 'agencia-de-pruebas', kind: 'agency', description: 'Prueba', email: 'agencia@test.cabildo', url: 'https://example.org' });
  assert.equal(created.statusCode, 303);
  const office = await t.services.db.selectFrom('offices').selectAll().where('slug', '=', 'agencia-de-pruebas').executeTakeFirstOrThrow();
  assert.equal(office.kind, 'agency');

  await admin.get('/admin/offices/new');
  const dup = await admin.post('/admin/offices', { name: 'Otra', slug: 'agencia-de-pruebas', kind: 'agency' });
  assert.equal(dup.statusCode, 400);
  assert.match(dup.body, /Ya existe otro con esta dirección/);
  const bad = await admin.post('/admin/offices', { name: '', slug: 'Bad Slug!', kind: 'empire', email: 'nope', url: 'javascript:alert(1)', parent_id: '999999', commune_id: '99' });
  assert.equal(bad.statusCode, 400);
  for (const f of ['name', 'slug', 'kind', 'email', 'url', 'parent_id', 'commune_id']) assert.ok(bad.body.includes(`id="f-${f}-error"`), `error next to ${f}`);

  await admin.get(`/admin/offices/${office.id}`);
  const edited = await admin.post(`/admin/offices/${office.id}`, { name: 'Agencia de Pruebas Renombrada', slug: 'agencia-de-pruebas', kind: 'agency', description: 'Prueba', email: 'agencia@test.cabildo', url: 'https://example.org' });
  assert.equal(edited.statusCode, 303);
  const update = await t.services.db.selectFrom('audit_log').select('details').where('action', '=', 'office.update').executeTakeFirstOrThrow();
  assert.deepEqual(update.details, { before: { name: 'Agencia de Pruebas' }, after: { name: 'Agencia de Pruebas Renombrada' } });
  const selfParent = await admin.post(`/admin/offices/${office.id}`, { name: 'X', slug: 'agencia-de-pruebas', kind: 'agency', parent_id: String(office.id) });
  assert.equal(selfParent.statusCode, 400);

  const member = await createUser(t.services, { email: 'Miembro@Test.Cabildo' });
  await admin.get(`/admin/offices/${office.id}`);
  assert.equal((await admin.post(`/admin/offices/${office.id}/members`, { member_email: 'miembro@test.cabildo' })).statusCode, 303);
  assert.ok(await t.services.db.selectFrom('office_members').select('user_id').where('office_id', '=', office.id).where('user_id', '=', member.id).executeTakeFirst());
  const again = await admin.post(`/admin/offices/${office.id}/members`, { member_email: 'miembro@test.cabildo' });
  assert.equal(again.statusCode, 400);
  const nobody = await admin.post(`/admin/offices/${office.id}/members`, { member_email: 'nobody@test.cabildo' });
  assert.equal(nobody.statusCode, 400);
  assert.match(nobody.body, /No hay ninguna cuenta con ese correo/);
  const page = await admin.get(`/admin/offices/${office.id}`);
  assert.match(page.body, /Miembro@Test\.Cabildo/);
  // A member is an editor until named the office's administrator (who approves what it publishes).
  const role = async () => (await t.services.db.selectFrom('office_members').select('role').where('office_id', '=', office.id).where('user_id', '=', member.id).executeTakeFirstOrThrow()).role;
  assert.equal(await role(), 'editor');
  assert.equal((await admin.post(`/admin/offices/${office.id}/members/${member.id}/role`, { role: 'owner' })).statusCode, 400);
  assert.equal((await admin.post(`/admin/offices/${office.id}/members/${member.id}/role`, { role: 'admin' })).statusCode, 303);
  assert.equal(await role(), 'admin');
  const { userById } = await import('../auth/session');
  assert.deepEqual((await userById(t.services.db, member.id))?.officeAdminIds, [office.id], 'the session user knows the offices it manages');
  assert.match((await admin.get(`/admin/offices/${office.id}`)).body, /<option value="admin" selected>/);
  assert.equal((await admin.post(`/admin/offices/${office.id}/members/${member.id}/remove`, {})).statusCode, 303);
  assert.equal(await t.services.db.selectFrom('office_members').select('user_id').where('office_id', '=', office.id).executeTakeFirst(), undefined);
  const actions = (await t.services.db.selectFrom('audit_log').select('action').where('subject_type', '=', 'office').where('subject_id', '=', String(office.id)).orderBy('id').execute()).map((r) => r.action);
  assert.deepEqual(actions, ['office.create', 'office.update', 'office.member.add', 'office.member.role', 'office.member.remove']);
  // Added straight as an administrator.
  assert.equal((await admin.post(`/admin/offices/${office.id}/members`, { member_email: 'miembro@test.cabildo', role: 'admin' })).statusCode, 303);
  assert.equal(await role(), 'admin');
});

test('organisations: create, edit, representatives, all audited', async () => {
  await admin.get('/admin/organizations/new');
  assert.equal((await admin.post('/admin/organizations', { name: 'Fundación Prueba', slug: 'fundacion-prueba', description: 'Una fundación' })).statusCode, 303);
  const org = await t.services.db.selectFrom('organizations').selectAll().where('slug', '=', 'fundacion-prueba').executeTakeFirstOrThrow();
  const dup = await admin.post('/admin/organizations', { name: 'Otra', slug: 'fundacion-prueba' });
  assert.equal(dup.statusCode, 400);
  const rep = await createUser(t.services);
  await admin.get(`/admin/organizations/${org.id}`);
  assert.equal((await admin.post(`/admin/organizations/${org.id}`, { name: 'Fundación Prueba', slug: 'fundacion-prueba', description: 'Otra descripción' })).statusCode, 303);
  assert.equal((await admin.post(`/admin/organizations/${org.id}/members`, { member_email: rep.email })).statusCode, 303);
  assert.equal((await admin.post(`/admin/organizations/${org.id}/members/${rep.id}/remove`, {})).statusCode, 303);
  const actions = (await t.services.db.selectFrom('audit_log').select('action').where('subject_type', '=', 'organization').where('subject_id', '=', String(org.id)).orderBy('id').execute()).map((r) => r.action);
  assert.deepEqual(actions, ['organization.create', 'organization.update', 'organization.member.add', 'organization.member.remove']);
});

test('API token: created for an account, shown once, works with Bearer and raw header, then revoked → 401', async () => {
  const owner = await createUser(t.services, { email: 'harvester@test.cabildo', roles: ['official'] });
  await admin.get('/admin/tokens');
  const res = await admin.post('/admin/tokens', { email: 'harvester@test.cabildo', name: 'Harvester' });
  assert.equal(res.statusCode, 201);
  const token = /id="new-token" readOnly value="([^"]+)"|id="new-token"[^>]*value="([^"]+)"/i.exec(res.body);
  const value = token?.[1] ?? token?.[2];
  assert.ok(value && value.startsWith('cab_'), 'the page shows the new token');
  const list = await admin.get('/admin/tokens');
  assert.ok(!list.body.includes(value), 'the token is not shown again');
  assert.ok(list.body.includes(value.slice(0, 8)), 'its prefix is listed');
  const audit = await t.services.db.selectFrom('audit_log').select('details').where('action', '=', 'api_token.create').executeTakeFirstOrThrow();
  assert.ok(!JSON.stringify(audit.details).includes(value), 'the audit never holds the token');

  const bearer = await t.app.inject({ url: '/api/v1/me', headers: { authorization: `Bearer ${value}` } });
  assert.equal(bearer.statusCode, 200);
  assert.equal(bearer.json().email, 'harvester@test.cabildo');
  assert.deepEqual(bearer.json().roles, ['official']);
  const raw = await t.app.inject({ url: '/api/v1/me', headers: { authorization: value } });
  assert.equal(raw.statusCode, 200);
  assert.equal(raw.json().id, owner.id);
  const used = await t.services.db.selectFrom('api_tokens').select(['id', 'last_used_at']).where('user_id', '=', owner.id).executeTakeFirstOrThrow();
  assert.ok(used.last_used_at);

  assert.equal((await admin.post(`/admin/tokens/${used.id}/revoke`, {})).statusCode, 303);
  const revoked = await t.app.inject({ url: '/api/v1/me', headers: { authorization: `Bearer ${value}` } });
  assert.equal(revoked.statusCode, 401);
  assert.equal(revoked.headers['content-type'], 'application/problem+json; charset=utf-8');
  assert.ok(await t.services.db.selectFrom('audit_log').select('id').where('action', '=', 'api_token.revoke').executeTakeFirst());
  assert.equal((await t.app.inject('/api/v1/me')).statusCode, 401);

  const badOwner = await admin.post('/admin/tokens', { email: 'nobody@test.cabildo', name: '' });
  assert.equal(badOwner.statusCode, 400);
  assert.ok(badOwner.body.includes('id="f-email-error"') && badOwner.body.includes('id="f-name-error"'));
});

test('audit log filters by actor, date range; outbox shows a message body escaped', async () => {
  const today = new Date().toLocaleDateString('en-CA', { timeZone: 'America/Argentina/Buenos_Aires' });
  const byActor = await admin.get(`/admin/audit?actor=boss@test&from=${today}&to=${today}`);
  assert.equal(byActor.statusCode, 200);
  assert.match(byActor.body, /user\.roles/);
  const none = await admin.get('/admin/audit?actor=nobody-at-all');
  assert.doesNotMatch(none.body, /user\.roles/);
  const past = await admin.get('/admin/audit?to=2001-01-01');
  assert.doesNotMatch(past.body, /user\.roles/);
  const badDate = await admin.get('/admin/audit?from=yesterday');
  assert.equal(badDate.statusCode, 400);

  const mail = await t.services.db
    .insertInto('mail_outbox')
    .values({ to_address: 'vecina@test.cabildo', subject: 'Confirmá tu correo', text_body: 'Hola <script>alert(1)</script>\nhttps://example.org/confirm' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const list = await admin.get('/admin/outbox');
  assert.match(list.body, /Confirmá tu correo/);
  assert.match(list.body, /vecina@test\.cabildo/);
  const msg = await admin.get(`/admin/outbox/${mail.id}`);
  assert.equal(msg.statusCode, 200);
  assert.ok(msg.body.includes('Hola &lt;script>alert(1)&lt;/script>') || msg.body.includes('Hola &lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.equal((await admin.get('/admin/outbox/999999')).statusCode, 404);
});

test('every t() key used by admin and offices pages is in both catalogues', () => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const files = [...fs.readdirSync(here).map((f) => path.join(here, f)), ...fs.readdirSync(path.join(here, '../offices')).map((f) => path.join(here, '../offices', f))].filter(
    (f) => /\.tsx?$/.test(f) && !f.endsWith('.test.ts'),
  );
  const es = { ...adminMessages['es-AR'], ...officesMessages['es-AR'] };
  const en = { ...adminMessages.en, ...officesMessages.en };
  const shell = ['common.', 'site.'];
  for (const f of files) {
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/\bt\('([^']+)'/g)) {
      if (shell.some((p) => m[1].startsWith(p))) continue;
      assert.ok(m[1] in es, `${m[1]} (es-AR) used in ${path.basename(f)}`);
      assert.ok(m[1] in en, `${m[1]} (en) used in ${path.basename(f)}`);
    }
  }
  assert.deepEqual(Object.keys(es).sort(), Object.keys(en).sort());
  for (const k of ['official', 'moderator', 'admin', 'resident']) assert.ok(`admin.role.${k}` in es);
  for (const k of ['ministry', 'secretariat', 'agency', 'commune', 'judiciary', 'legislature', 'other']) assert.ok(`offices.kind.${k}` in en);
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestApp, createUser, createOffice, TestClient, type TestContext } from './testing/harness';
import { modules } from '../modules';

/** Stored in every free-text field we can reach; must come back escaped. */
export const XSS_PAYLOADS = [
  '<script>alert("xss")</script>',
  '"><img src=x onerror=alert(1)>',
  "'><svg onload=alert(1)>",
  '<a href="javascript:alert(1)">click</a>',
  '</title><script>alert(2)</script>',
  '<iframe src="javascript:alert(3)"></iframe>',
];

let t: TestContext;
let admin: TestClient;
let resident: TestClient;
let anonymous: TestClient;

before(async () => {
  t = await createTestApp({ modules });
  const office = await createOffice(t.services, { name: XSS_PAYLOADS[0], slug: 'xss-office' });
  await t.services.db.updateTable('offices').set({ description: XSS_PAYLOADS.join(' ') }).where('id', '=', office.id).execute();
  await t.services.db
    .insertInto('organizations')
    .values({ slug: 'xss-org', name: XSS_PAYLOADS[1], description: XSS_PAYLOADS.join(' ') })
    .execute();
  const a = await createUser(t.services, { roles: ['admin'], name: XSS_PAYLOADS[4] });
  const r = await createUser(t.services, { name: XSS_PAYLOADS[2], officeIds: [office.id] });
  admin = await new TestClient(t.app).signInAs(t.services, a.id);
  resident = await new TestClient(t.app).signInAs(t.services, r.id);
  anonymous = new TestClient(t.app);
});
after(() => t.close());

/** Follows same-site links from the given pages (GET only, bounded), returning each page's HTML. */
async function crawl(client: TestClient, starts: string[], limit = 120): Promise<Map<string, string>> {
  const seen = new Map<string, string>();
  const queue = [...starts];
  while (queue.length && seen.size < limit) {
    const url = queue.shift()!;
    if (seen.has(url)) continue;
    const res = await client.get(url);
    if (!/text\/html/.test(String(res.headers['content-type']))) continue;
    seen.set(url, res.body);
    assert.ok(res.statusCode < 500, `${url} answered ${res.statusCode}`);
    for (const m of res.body.matchAll(/href="(\/[^"#]*)"/g)) {
      const href = m[1].replace(/&amp;/g, '&');
      if (href.startsWith('/assets/') || href.startsWith('/api/') || href.startsWith('/files/') || href.includes('signout')) continue;
      if (!seen.has(href) && !queue.includes(href)) queue.push(href);
    }
  }
  return seen;
}

test('stored XSS payloads come back escaped on every page an admin can reach', async () => {
  const pages = await crawl(admin, ['/', '/admin', '/offices', '/offices/xss-office', '/organizations', '/organizations/xss-org', '/admin/users', '/account', '/search?q=xss']);
  assert.ok(pages.size >= 3);
  for (const [url, html] of pages) {
    for (const p of XSS_PAYLOADS) {
      assert.ok(!html.includes(p), `${url} contains the raw payload ${p}`);
    }
    assert.doesNotMatch(html, /<script>alert/, `${url} has an injected script`);
    assert.doesNotMatch(html, /<img src=x onerror/, `${url} has an injected handler`);
  }
});

test('every state-changing form refuses a post without its CSRF token (403)', async () => {
  const pages = await crawl(admin, ['/', '/admin', '/account', '/signin', '/signup', '/forgot', '/offices', '/organizations']);
  const actions = new Set<string>();
  for (const html of pages.values()) {
    for (const m of html.matchAll(/<form[^>]*method="post"[^>]*>/gi)) {
      const action = /action="([^"]*)"/.exec(m[0])?.[1]?.replace(/&amp;/g, '&');
      if (action && action.startsWith('/')) actions.add(action.replace(/([?&])_csrf=[^&]*/, '$1').replace(/[?&]$/, ''));
    }
  }
  assert.ok(actions.size >= 1, 'found forms to check');
  for (const action of actions) {
    for (const client of [admin, anonymous]) {
      const res = await client.post(action, { anything: 'x' }, { csrf: false });
      assert.equal(res.statusCode, 403, `POST ${action} without CSRF answered ${res.statusCode}`);
    }
  }
});

test('every /admin route: 403 for a non-admin, sign-in redirect for anonymous', async () => {
  const adminRoutes = t.app.routeList.filter((r) => r.url.startsWith('/admin') && r.method === 'GET');
  assert.ok(adminRoutes.length >= 1);
  for (const r of adminRoutes) {
    // Officials and moderators have a dashboard of their own at /admin; every other admin page is for administrators.
    if (r.url === '/admin' || r.url === '/admin/') continue;
    const url = r.url.replace(/:[a-zA-Z]+/g, '1');
    const asResident = await resident.get(url);
    assert.equal(asResident.statusCode, 403, `GET ${url} as resident answered ${asResident.statusCode}`);
    const asAnon = await anonymous.get(url);
    assert.equal(asAnon.statusCode, 303, `GET ${url} anonymous answered ${asAnon.statusCode}`);
    assert.match(String(asAnon.headers.location), /^\/signin\?next=/);
  }
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startServer, launchBrowser, axe, describeViolations, SHOTS, type Server } from './support';

let server: Server;
let browser: Browser;
const visited = new Set<string>();

before(async () => {
  server = await startServer({ SEED: 'demo' });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Opens a page, checks it with axe (zero serious or critical violations) and saves a screenshot. */
async function visit(page: Page, url: string, shot?: string) {
  const res = await page.goto(server.url + url);
  assert.ok(res && res.status() < 400, `${url} answered ${res?.status()}`);
  const violations = await axe(page);
  assert.equal(violations.length, 0, describeViolations(url, violations));
  visited.add(new URL(page.url()).pathname);
  if (shot) await page.screenshot({ path: path.join(SHOTS, `${shot}.png`), fullPage: true });
}

test('home page: cards, language switch, search — accessible', async () => {
  const page = await browser.newPage();
  await visit(page, '/', 'home-es');
  assert.equal(await page.getAttribute('html', 'lang'), 'es-AR');
  await page.click('text=English');
  await page.waitForLoadState();
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  await visit(page, '/', 'home-en');
  // The choice is remembered.
  await page.goto(server.url + '/search');
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  await page.fill('#site-search', 'Salud');
  await page.press('#site-search', 'Enter');
  await page.waitForURL(/\/search\?q=Salud/);
  await visit(page, '/search?q=Salud', 'search');
  // Keyboard: the first Tab reaches the skip link.
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => document.activeElement?.getAttribute('href'));
  assert.equal(focused, '#main-content');
  await page.close();
});

test('a resident signs up, confirms the email from the outbox, verifies residency, signs out and in', async () => {
  assert.ok(server.demoPassword, 'the demo password is printed on first start');
  const email = `vecina.${Date.now()}@example.com`;
  const password = 'una-clave-larga-123';
  const resident = await browser.newContext();
  const page = await resident.newPage();

  await visit(page, '/signup', 'signup');
  await page.fill('#f-email', email);
  await page.fill('#f-name', 'Vecina de Prueba');
  await page.fill('#f-password', password);
  await page.fill('#f-confirm', password);
  await page.click('form.usa-form button[type=submit]');
  await page.waitForLoadState();
  assert.ok(!page.url().includes('/signup') || (await page.content()).includes(email));

  // The administrator finds the confirmation message in the outbox.
  const adminCtx = await browser.newContext();
  const admin = await adminCtx.newPage();
  await visit(admin, '/signin', 'signin');
  await admin.fill('#f-email', 'admin@demo.cabildo.test');
  await admin.fill('#f-password', server.demoPassword!);
  await admin.click('form.usa-form button[type=submit]');
  await admin.waitForLoadState();
  await visit(admin, '/admin', 'admin');
  await visit(admin, '/admin/outbox', 'outbox');
  const messageHref = await admin.getAttribute(`tr:has-text("${email}") a`, 'href');
  assert.ok(messageHref, 'the confirmation message is in the outbox');
  await visit(admin, messageHref!, 'outbox-message');
  const body = await admin.textContent('main');
  const link = /(\/confirm\/[A-Za-z0-9_-]+)/.exec(body ?? '')?.[1];
  assert.ok(link, 'the message carries a confirmation link');
  for (const url of ['/admin/users', '/admin/offices', '/admin/organizations', '/admin/audit', '/admin/tokens', '/admin/census']) await visit(admin, url);
  await adminCtx.close();

  await visit(page, link!, 'confirmed');
  await visit(page, '/account', 'account');
  await visit(page, '/account/verify', 'verify');
  await page.fill('#f-document', '30.111.222');
  await page.fill('#f-birth_date', '1990-05-17');
  await page.click('main form button[type=submit]');
  await page.waitForLoadState();
  await visit(page, '/account', 'account-verified');
  assert.match((await page.textContent('main')) ?? '', /Comuna 3/);

  await page.click('.city-util form button[type=submit]');
  await page.waitForLoadState();
  assert.ok(await page.isVisible('.city-util a[href^="/signin"]'), 'signed out');
  await page.goto(server.url + '/signin');
  await page.fill('#f-email', email);
  await page.fill('#f-password', password);
  await page.click('form.usa-form button[type=submit]');
  await page.waitForLoadState();
  assert.ok(await page.isVisible('.city-util a[href="/account"]'), 'signed in again');
  await resident.close();
});

test('public pages of core are accessible', async () => {
  const page = await browser.newPage();
  for (const url of ['/offices', '/organizations', '/communes', '/communes/14', '/forgot', '/search?q=comuna']) {
    await visit(page, url, url.replace(/[^a-z0-9]+/gi, '_'));
  }
  // The friendly 404 page too.
  const res = await page.goto(server.url + '/no-such-page');
  assert.equal(res?.status(), 404);
  const violations = await axe(page);
  assert.equal(violations.length, 0, describeViolations('/no-such-page', violations));
  await page.close();
});

test('the map island goes live over the SVG, draws points with their links and picks a point into a form', async () => {
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  // The point sits at the centre of the communes' bounding box, where fitBounds puts the view's centre.
  const communes = (await (await fetch(`${server.url}/api/v1/geo/communes`)).json()) as GeoJSON.FeatureCollection;
  const box = [Infinity, Infinity, -Infinity, -Infinity];
  const walk = (c: unknown): void => {
    if (Array.isArray(c) && typeof c[0] === 'number') {
      box[0] = Math.min(box[0], c[0]); box[1] = Math.min(box[1], c[1]);
      box[2] = Math.max(box[2], c[0]); box[3] = Math.max(box[3], c[1]);
    } else if (Array.isArray(c)) c.forEach(walk);
  };
  for (const f of communes.features) walk((f.geometry as GeoJSON.Polygon).coordinates);
  const centre = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2];
  // A page that uses both attributes: /communes with points and a pick form added on the way.
  await page.route(`${server.url}/communes`, async (route) => {
    const res = await route.fetch();
    const html = (await res.text())
      .replace('data-island="map"', 'data-island="map" data-points-url="/test-points.geojson" data-pick="f-lat,f-lon"')
      .replace('</main>', '<label for="f-lat">lat</label><input id="f-lat" name="lat"><label for="f-lon">lon</label><input id="f-lon" name="lon"></main>');
    await route.fulfill({ response: res, body: html });
  });
  await page.route(`${server.url}/test-points.geojson`, (route) =>
    route.fulfill({
      contentType: 'application/geo+json',
      body: JSON.stringify({
        type: 'FeatureCollection',
        features: [
          { type: 'Feature', geometry: { type: 'Point', coordinates: centre }, properties: { title: 'Luminaria <apagada>', url: '/requests/1' } },
          { type: 'Feature', geometry: { type: 'Point', coordinates: [centre[0] + 0.01, centre[1]] }, properties: { title: 'Elsewhere', url: 'https://evil.example/' } },
        ],
      }),
    }),
  );
  await page.goto(server.url + '/communes');
  await page.waitForSelector('[data-island="map"].is-live', { timeout: 15_000 });
  assert.equal(await page.getAttribute('[data-island="map"] .city-map', 'aria-hidden'), 'true', 'the SVG is hidden from screen readers once Leaflet is live');
  const map = await page.locator('.city-map-leaflet').boundingBox();
  assert.ok(map);
  await page.mouse.click(map.x + map.width / 2, map.y + map.height / 2);
  const link = page.locator('.leaflet-popup-content a');
  await link.waitFor({ timeout: 5_000 });
  assert.equal(await link.getAttribute('href'), '/requests/1');
  assert.equal(await link.textContent(), 'Luminaria <apagada>', 'the title is text, not markup');
  // A click beside the points picks a place: the inputs get it, west and south of the centre.
  await page.mouse.click(map.x + map.width / 2 - 40, map.y + map.height / 2 + 40);
  const lat = Number(await page.inputValue('#f-lat'));
  const lon = Number(await page.inputValue('#f-lon'));
  assert.ok(lat < centre[1] && lat > centre[1] - 0.05 && lon < centre[0] && lon > centre[0] - 0.05, `picked ${lat},${lon} near ${centre}`);
  await page.screenshot({ path: path.join(SHOTS, 'map-island-points-pick.png') });
  await page.close();
});

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

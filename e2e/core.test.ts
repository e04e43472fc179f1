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

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startServer, launchBrowser, axe, describeViolations, SHOTS, type Server } from './support';

let server: Server;
let browser: Browser;

before(async () => {
  server = await startServer({ SEED: 'demo' });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function visit(page: Page, url: string, shot?: string) {
  const res = await page.goto(url.startsWith('http') ? url : server.url + url);
  assert.ok(res && res.status() < 400, `${url} answered ${res?.status()}`);
  const violations = await axe(page);
  assert.equal(violations.length, 0, describeViolations(url, violations));
  if (shot) await page.screenshot({ path: path.join(SHOTS, `${shot}.png`), fullPage: true });
}

/** The first link on the page whose path matches, to walk from a list to a detail page. */
async function firstLink(page: Page, pattern: RegExp): Promise<string> {
  const hrefs = await page.$$eval('main a[href]', (as) => as.map((a) => a.getAttribute('href') ?? ''));
  const href = hrefs.find((h) => pattern.test(h));
  assert.ok(href, `a link matching ${pattern} on ${page.url()}`);
  return href!;
}

async function signIn(email: string): Promise<BrowserContext> {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(server.url + '/signin');
  await page.fill('#f-email', email);
  await page.fill('#f-password', server.demoPassword!);
  await page.click('form.usa-form button[type=submit]');
  await page.waitForLoadState();
  await page.close();
  return ctx;
}

test('open data: catalogue, dataset, resource preview and budget explorer are accessible', async () => {
  const page = await browser.newPage();
  await visit(page, '/datasets', 'datasets');
  await visit(page, '/datasets?q=barrios', 'datasets-search');
  const dataset = await firstLink(page, /^\/datasets\/[^/?]+$/);
  await visit(page, dataset, 'dataset');
  // A resource with DataStore rows: the demo seed loads BA Obras (1,525 public works); its dataset
  // page links the preview.
  await visit(page, '/datasets/ba-obras');
  const preview = await page.getAttribute('main a:text-is("Vista previa")', 'href');
  assert.match(preview ?? '', /^\/datasets\/ba-obras\/resource\/[^/?]+$/);
  await visit(page, preview!, 'resource-preview');
  const rows = page.locator('main table.usa-table--striped tbody tr');
  assert.equal(await rows.count(), 25, 'a first page of 25 rows');
  const firstRow = async () => (await rows.first().innerText()).trim();
  const unsorted = await firstRow();
  assert.ok(unsorted.length > 0);
  // Sorting is a plain link in the column header: it reloads the page sorted by that column.
  const header = page.locator('main table.usa-table--striped thead th', { has: page.locator('a', { hasText: /^nombre$/ }) });
  await Promise.all([page.waitForURL(/[?&]sort=nombre&dir=asc/), header.locator('a').click()]);
  assert.equal(await header.getAttribute('aria-sort'), 'ascending');
  assert.equal(await rows.count(), 25);
  assert.notEqual(await firstRow(), unsorted, 'sorting by nombre changes the first row');
  await visit(page, '/datasets/budget', 'budget-explorer');
  await page.close();
});

test('participatory budgeting: budgets, proposals, results, and a resident casts a ballot', async () => {
  const page = await browser.newPage();
  await visit(page, '/budgets', 'budgets');
  const budgets = await page.$$eval('main a[href]', (as) => as.map((a) => a.getAttribute('href') ?? '').filter((h) => /^\/budgets\/\d+$/.test(h)));
  assert.ok(budgets.length >= 2, 'a balloting budget and a finished one');
  for (const b of [...new Set(budgets)]) {
    await visit(page, b);
    await visit(page, `${b}/proposals`);
  }
  const finished = [...new Set(budgets)];
  let results = false;
  for (const b of finished) {
    const res = await page.goto(server.url + `${b}/results`);
    if (res && res.status() === 200) {
      await visit(page, `${b}/results`, 'budget-results');
      results = true;
      break;
    }
  }
  assert.ok(results, 'a finished budget shows its results');
  await page.close();

  const ctx = await signIn('resident@demo.cabildo.test');
  const resident = await ctx.newPage();
  let voted = false;
  for (const b of new Set(budgets)) {
    const res = await resident.goto(server.url + `${b}/ballot`);
    if (!res || res.status() !== 200 || !(await resident.$('main form input[type=checkbox]'))) continue;
    await visit(resident, `${b}/ballot`, 'ballot');
    // USWDS draws its own box over the visually hidden input: click the label, as a person would.
    const id = await resident.getAttribute('main form input[type=checkbox] >> nth=0', 'id');
    const left = '[data-island="budgeting-ballot"]';
    const before = await resident.textContent(left);
    await resident.click(`label[for="${id}"]`);
    // The island recomputes what is left as the resident chooses, before anything is saved.
    await resident.waitForFunction(([sel, text]) => document.querySelector(sel)?.textContent !== text, [left, before] as const);
    await resident.screenshot({ path: path.join(SHOTS, 'ballot-live.png') });
    await resident.click('main form button[type=submit] >> nth=-1');
    await resident.waitForLoadState();
    assert.ok((await resident.$$('main form input[type=checkbox]:checked')).length >= 1, 'the ballot keeps the choice');
    voted = true;
    break;
  }
  assert.ok(voted, 'the resident found a ballot open in their commune');
  await ctx.close();
});

test('public works: home with charts, search, a project, red flags, archived programme', async () => {
  const page = await browser.newPage();
  await visit(page, '/works', 'works');
  await visit(page, '/works/projects?stage=in_progress', 'works-list');
  const project = await firstLink(page, /^\/works\/\d+$/);
  await visit(page, project, 'work');
  await visit(page, '/works/flags', 'works-flags');
  await page.goto(server.url + '/works');
  const programme = await firstLink(page, /^\/works\/programmes\//);
  await visit(page, programme, 'works-programme');
  await page.close();
});

test('service requests: list, statistics, a request, and a resident reports one', async () => {
  const page = await browser.newPage();
  await visit(page, '/requests', 'requests');
  const request = await firstLink(page, /^\/requests\/\d+$/);
  await visit(page, request, 'request');
  await visit(page, '/requests/stats', 'requests-stats');
  await page.close();

  const ctx = await signIn('resident@demo.cabildo.test');
  const resident = await ctx.newPage();
  await visit(resident, '/requests/new', 'request-new');
  await visit(resident, '/requests/mine', 'requests-mine');
  await ctx.close();

  const officialCtx = await signIn('official@demo.cabildo.test');
  const official = await officialCtx.newPage();
  await visit(official, '/requests/office', 'requests-office');
  await visit(official, '/requests/office/dashboard', 'requests-dashboard');
  await visit(official, '/works/mine', 'works-mine');
  await visit(official, '/datasets/publish', 'datasets-publish');
  await officialCtx.close();
});

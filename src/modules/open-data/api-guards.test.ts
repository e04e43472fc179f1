// Request-level guards of the CKAN API and the catalogue: who may unpublish or restore a dataset,
// resource_delete as one transaction, the anonymous answer cache's size bound, U+0000 refused with
// a 400 before any route runs (API envelope and localized page), datastore_search_sql's rate limit,
// and the version history and download counts that the API now shows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { TestClient, type TestContext } from '../../core/testing/harness';
import { ckanFixture, rejects, type CkanClient, type CkanErr, form } from './testing';
import { odDb, findDataset } from './store';
import { AnswerCache, cache } from './ckan-api';
import { createApiToken } from '../../core/auth/session';

// A small limit so that a flood is a handful of requests; read when the routes are registered.
process.env.OPEN_DATA_SQL_PER_MINUTE = '3';

let t: TestContext;
let base: string;
let anon: CkanClient;
let editor: CkanClient;
let junior: CkanClient;
let officeSlug: string;
let juniorId: number;
let memberId: number;
/** Raw tokens, for the calls made without ckanapi. */
const tokens = { junior: '', editor: '' };

before(async () => {
  ({ t, base, anon, editor, junior, officeSlug, juniorId, memberId } = await ckanFixture({
    office: ['direccion-de-estadistica', 'Dirección General de Estadística y Censos'],
    otherOffice: ['legislatura', 'Legislatura'],
    themes: [['poblacion', 'Población']],
  }));
  tokens.junior = (await createApiToken(t.services.db, juniorId, 'raw')).token;
  tokens.editor = (await createApiToken(t.services.db, memberId, 'raw')).token;
});

after(async () => {
  await t.close();
});


const dataset = async (name: string) => (await findDataset(odDb(t.services), name))!;

test('an editor (not an office administrator) cannot unpublish or republish; drafts and reviews stay theirs', async () => {
  await editor.action.package_create({ name: 'censo-2010', title: 'Censo 2010', owner_org: officeSlug, private: false });
  assert.equal((await dataset('censo-2010')).status, 'published');

  // Deleting a published dataset (package_delete, or package_update/patch with state "deleted") is unpublishing.
  const del = await rejects(junior.action.package_delete({ id: 'censo-2010' }), 'Authorization Error');
  assert.match(String(del.message), /administrators/);
  await rejects(junior.action.package_patch({ id: 'censo-2010', state: 'deleted' }), 'Authorization Error');
  assert.equal((await dataset('censo-2010')).state, 'active');
  const raw = await fetch(`${base}/api/3/action/package_delete`, { method: 'POST', body: JSON.stringify({ id: 'censo-2010' }), headers: { 'content-type': 'application/json', authorization: tokens.junior } });
  assert.equal(raw.status, 403);

  // An editor may still change the metadata of a published dataset (the state does not change).
  await junior.action.package_patch({ id: 'censo-2010', title: 'Censo Nacional 2010' });
  assert.equal((await dataset('censo-2010')).title, 'Censo Nacional 2010');

  // Restoring a deleted published dataset republishes it: the office's administrators only.
  await editor.action.package_delete({ id: 'censo-2010' });
  await rejects(junior.action.package_patch({ id: 'censo-2010', state: 'active' }), 'Authorization Error');
  const full = (await editor.action.package_show({ id: 'censo-2010' })) as Record<string, unknown>;
  await rejects(junior.action.package_update({ ...full, state: 'active', resources: undefined }), 'Authorization Error');
  // …nor as a draft: the editor cannot unpublish it either.
  await rejects(junior.action.package_patch({ id: 'censo-2010', state: 'active', private: true }), 'Authorization Error');
  assert.equal((await dataset('censo-2010')).state, 'deleted');
  await editor.action.package_patch({ id: 'censo-2010', state: 'active' });
  assert.deepEqual([(await dataset('censo-2010')).state, (await dataset('censo-2010')).status], ['active', 'published']);

  // A dataset in review (an editor's own work): they delete it and bring it back.
  await junior.action.package_create({ name: 'encuesta-hogares', title: 'Encuesta de hogares', owner_org: officeSlug });
  assert.equal((await dataset('encuesta-hogares')).status, 'review');
  await junior.action.package_delete({ id: 'encuesta-hogares' });
  assert.equal((await dataset('encuesta-hogares')).state, 'deleted');
  await junior.action.package_patch({ id: 'encuesta-hogares', state: 'active' });
  assert.deepEqual([(await dataset('encuesta-hogares')).state, (await dataset('encuesta-hogares')).status], ['active', 'review']);

  // Every refused attempt left no trace in the audit log.
  const juniorDeletes = await t.services.db.selectFrom('audit_log').select('action').where('actor_id', '=', juniorId).where('action', '=', 'dataset.delete').execute();
  assert.equal(juniorDeletes.length, 1, 'only the review dataset was deleted by the editor');
});

test('resource_delete is one transaction: a failure after the table drop leaves the resource and its DataStore table', async () => {
  await editor.action.package_create({ name: 'poblacion-comunas', title: 'Población por comuna', owner_org: officeSlug, private: false });
  const r = (await editor.action.resource_create(form({ package_id: 'poblacion-comunas', name: 'Población', format: 'CSV' }, { name: 'p.csv', data: Buffer.from('comuna,habitantes\n1,205886\n2,157932\n') }))) as { id: string };
  const tableExists = async () => (await sql<{ t: string | null }>`select to_regclass(${`datastore."${r.id}"`})::text as t`.execute(t.services.db)).rows[0].t !== null;
  assert.equal(await tableExists(), true);

  const audit = t.services.audit;
  const record = audit.record;
  audit.record = async () => {
    throw new Error('audit log unavailable');
  };
  try {
    const res = await fetch(`${base}/api/3/action/resource_delete`, { method: 'POST', body: JSON.stringify({ id: r.id }), headers: { 'content-type': 'application/json', authorization: tokens.editor } });
    assert.equal(res.status, 500);
  } finally {
    audit.record = record;
  }
  // Nothing happened: the resource is active and its rows are still served.
  assert.equal(await tableExists(), true);
  const rows = (await anon.action.datastore_search({ resource_id: r.id })) as { total: number };
  assert.equal(rows.total, 2);
  assert.equal(((await anon.action.resource_show({ id: r.id })) as { datastore_active: boolean }).datastore_active, true);

  // A delete that succeeds removes the table with the resource.
  await editor.action.resource_delete({ id: r.id });
  assert.equal(await tableExists(), false);
  assert.equal(await odDb(t.services).selectFrom('od_datastore').select('resource_id').where('resource_id', '=', r.id).executeTakeFirst(), undefined);
  await rejects(anon.action.datastore_search({ resource_id: r.id }), 'Not Found Error');
});

test('the anonymous answer cache is bounded by the total size of its entries, least recently used out first', () => {
  const c = new AnswerCache(100, 40);
  const v = (n: number, ch = 'x') => ch.repeat(n);
  c.set('a', v(29)); // 30 characters with its key
  c.set('b', v(29));
  c.set('c', v(29));
  assert.equal(c.used, 90);
  assert.equal(c.get('a'), v(29)); // a is now the most recently used
  c.set('d', v(29)); // 120 > 100: b, the least recently used, goes
  assert.deepEqual([c.has('a'), c.has('b'), c.has('c'), c.has('d')], [true, false, true, true]);
  assert.equal(c.used, 90);
  // An answer over the per-entry limit is not kept (and evicts nothing).
  c.set('big', v(50));
  assert.equal(c.has('big'), false);
  assert.equal(c.used, 90);
  // Replacing a key counts its new size, not both.
  c.set('c', v(9));
  assert.equal(c.used, 70);
  // Many small answers never pass the bound.
  for (let i = 0; i < 500; i++) {
    c.set(`k${i}`, v(i % 35));
    assert.ok(c.used <= 100, `used ${c.used} after ${i}`);
  }
  // The shared cache is bounded too (64 M characters, 1 M per answer).
  assert.ok(cache.maxChars <= 64 * 1024 * 1024);
});

const nulCalls = [
  '/api/3/action/package_search?q=%00',
  '/api/3/action/package_search?fq=tags:%00',
  '/api/3/action/package_show?id=%00',
  '/api/3/action/datastore_search?resource_id=x&q=%00',
  '/api/3/action/package_show?id=a%00b',
];

test('U+0000 anywhere in an API call is a 400 in the CKAN envelope, never a 500', async () => {
  for (const url of nulCalls) {
    const res = await t.app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 400, url);
    const body = res.json() as { help: string; success: boolean; error: CkanErr };
    assert.equal(body.success, false, url);
    assert.match(body.help, /help_show\?name=/, url);
    assert.equal(body.error.__type, 'Validation Error', url);
    assert.match(String(body.error.message), /U\+0000/, url);
  }
  // In a JSON body (nested too) and in a form body.
  for (const payload of [{ q: 'a\u0000' }, { id: 'censo-2010', extras: [{ key: 'k', value: 'v\u0000' }] }]) {
    const res = await t.app.inject({ method: 'POST', url: '/api/3/action/package_search', payload, headers: { 'content-type': 'application/json' } });
    assert.equal(res.statusCode, 400);
    assert.equal((res.json() as { error: CkanErr }).error.__type, 'Validation Error');
  }
  const formRes = await t.app.inject({ method: 'POST', url: '/api/3/action/package_search', payload: 'q=%00', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(formRes.statusCode, 400);
  // A multipart field (read by the action itself).
  const multi = await fetch(`${base}/api/3/action/package_search`, { method: 'POST', body: form({ q: 'a\u0000b' }) });
  assert.equal(multi.status, 400);
  assert.equal(((await multi.json()) as { error: CkanErr }).error.__type, 'Validation Error');
  // The field is named, as CKAN's validation errors do.
  const named = (await t.app.inject({ method: 'GET', url: '/api/3/action/package_search?q=%00' })).json() as { error: CkanErr };
  assert.ok(Array.isArray(named.error.q));
  // Plain requests still work.
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/3/action/package_search?q=censo' })).statusCode, 200);
});

test('U+0000 in a page URL or form is a 400 page in the visitor language (es-AR by default, en on request)', async () => {
  for (const url of ['/datasets?q=%00', '/datasets?tags=%00', '/datasets/%00', '/datasets/%00/resource/x']) {
    const es = await t.app.inject({ method: 'GET', url });
    assert.equal(es.statusCode, 400, url);
    assert.match(es.headers['content-type'] as string, /text\/html/, url);
    assert.match(es.body, /No pudimos procesar el pedido/, url);
    assert.match(es.body, /carácter nulo/, url);
    const en = await t.app.inject({ method: 'GET', url: `${url}${url.includes('?') ? '&' : '?'}lang=en` });
    assert.equal(en.statusCode, 400, url);
    assert.match(en.body, /We could not process the request/, url);
    assert.match(en.body, /null character/, url);
  }
  // A form post from a signed-in browser (urlencoded body): refused before the route (and before CSRF).
  const browser = await new TestClient(t.app).signInAs(t.services, juniorId);
  assert.equal((await browser.get('/datasets/censo-2010/edit')).statusCode, 200);
  const before = (await dataset('censo-2010')).title;
  const posted = await browser.post('/datasets/censo-2010/edit', { title: 'Censo\u00002010', notes: 'Notas', owner_org: officeSlug });
  assert.equal(posted.statusCode, 400);
  assert.match(posted.body, /carácter nulo/);
  assert.equal((await dataset('censo-2010')).title, before);
  // The same pages without the byte answer normally.
  assert.equal((await t.app.inject({ method: 'GET', url: '/datasets?q=censo' })).statusCode, 200);
});

test('datastore_search_sql is rate limited per address with a CKAN 429; other actions and addresses are not', async () => {
  await editor.action.package_create({ name: 'barrios', title: 'Barrios', owner_org: officeSlug, private: false });
  const r = (await editor.action.resource_create(form({ package_id: 'barrios', name: 'Barrios', format: 'CSV' }, { name: 'b.csv', data: Buffer.from('barrio,comuna\nPalermo,14\nNúñez,13\n') }))) as { id: string };
  const q = (ip: string) => t.app.inject({ method: 'GET', url: `/api/3/action/datastore_search_sql?sql=${encodeURIComponent(`SELECT barrio FROM "${r.id}" ORDER BY barrio`)}`, remoteAddress: ip });
  for (let i = 1; i <= 3; i++) {
    const ok = await q('10.7.0.1');
    assert.equal(ok.statusCode, 200, `call ${i}`);
    assert.deepEqual((ok.json() as { result: { records: unknown[] } }).result.records, [{ barrio: 'Núñez' }, { barrio: 'Palermo' }]);
  }
  const flood = await q('10.7.0.1');
  assert.equal(flood.statusCode, 429);
  assert.ok(Number(flood.headers['retry-after']) >= 1);
  const body = flood.json() as { help: string; success: boolean; error: CkanErr };
  assert.equal(body.success, false);
  assert.match(body.help, /help_show\?name=datastore_search_sql/);
  assert.equal(body.error.__type, 'Too Many Requests');
  assert.match(String(body.error.message), /datastore_search_sql.*3 a minute/);
  // Another address has its own allowance; other actions from the limited address are not limited.
  assert.equal((await q('10.7.0.2')).statusCode, 200);
  const search = await t.app.inject({ method: 'GET', url: `/api/3/action/datastore_search?resource_id=${r.id}`, remoteAddress: '10.7.0.1' });
  assert.equal(search.statusCode, 200);
});

test('resource_show and package_show list the version history (each version downloadable) and the download counts', async () => {
  await editor.action.package_create({ name: 'nacimientos', title: 'Nacimientos', owner_org: officeSlug, private: false });
  const r = (await editor.action.resource_create(form({ package_id: 'nacimientos', name: 'Nacimientos', format: 'CSV' }, { name: 'n.csv', data: Buffer.from('anio,nacimientos\n2019,40000\n') }))) as { id: string };
  await editor.action.resource_update(form({ id: r.id, name: 'Nacimientos', format: 'CSV' }, { name: 'n.csv', data: Buffer.from('anio,nacimientos\n2019,40000\n2020,36000\n') }));
  const link = (await editor.action.resource_create({ package_id: 'nacimientos', name: 'Informe', url: 'https://example.org/informe-2019.pdf', format: 'PDF' })) as { id: string };
  await editor.action.resource_patch({ id: link.id, url: 'https://example.org/informe-2020.pdf' });

  type Version = { version: number; created: string; size: number | null; hash: string; format: string; url: string };
  const shown = (await anon.action.resource_show({ id: r.id })) as { versions: Version[]; downloads: number; url: string };
  assert.deepEqual(shown.versions.map((v) => v.version), [2, 1]);
  assert.match(shown.versions[1].url, new RegExp(`/resource/${r.id}/download\\?version=1$`));
  assert.match(shown.versions[0].hash, /^sha256:/);
  assert.equal(shown.versions[1].size, 'anio,nacimientos\n2019,40000\n'.length);
  assert.match(shown.versions[1].created, /^\d{4}-\d{2}-\d{2}T/);
  // The old version's URL downloads the old file.
  const old = await fetch(shown.versions[1].url.replace(t.services.config.baseUrl, base));
  assert.equal(old.status, 200);
  assert.equal(await old.text(), 'anio,nacimientos\n2019,40000\n');
  const current = await fetch(shown.url.replace(t.services.config.baseUrl, base));
  assert.match(await current.text(), /2020,36000/);
  // A link's versions are its URLs.
  const linkShown = (await anon.action.resource_show({ id: link.id })) as { versions: Version[] };
  assert.deepEqual(linkShown.versions.map((v) => [v.version, v.url]), [[2, 'https://example.org/informe-2020.pdf'], [1, 'https://example.org/informe-2019.pdf']]);

  // package_show: the same history in every resource; downloads beside CKAN's tracking_summary (views).
  type Pkg = { resources: Array<{ id: string; versions: Version[]; downloads: number }>; downloads: number; tracking_summary: { total: number; recent: number } };
  const pkg = (await anon.action.package_show({ id: 'nacimientos' })) as Pkg;
  assert.deepEqual(pkg.resources.find((x) => x.id === r.id)!.versions, shown.versions);
  assert.deepEqual(pkg.resources.find((x) => x.id === link.id)!.versions.length, 2);
  assert.equal(pkg.downloads, 2);
  assert.equal(pkg.resources.find((x) => x.id === r.id)!.downloads, 2);
  assert.deepEqual(Object.keys(pkg.tracking_summary).sort(), ['recent', 'total']);
  assert.equal((await fetch(`${base}/datasets/nacimientos`)).status, 200);
  const viewed = (await anon.action.package_show({ id: 'nacimientos' })) as Pkg;
  assert.equal(viewed.tracking_summary.total, pkg.tracking_summary.total + 1);
  assert.equal(viewed.downloads, 2);

  // A client that sends package_show's dict back does not store these keys as resource extras.
  const full = (await editor.action.package_show({ id: 'nacimientos' })) as Record<string, unknown>;
  await editor.action.package_update(full);
  const extras = await odDb(t.services).selectFrom('od_resources').select(['id', 'extras']).where('dataset_id', '=', (await dataset('nacimientos')).id).execute();
  for (const e of extras) assert.deepEqual(Object.keys(e.extras).filter((k) => k === 'versions' || k === 'downloads'), [], e.id);
  assert.deepEqual(((await anon.action.resource_show({ id: r.id })) as { versions: Version[] }).versions.map((v) => v.version), [2, 1]);
});

import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { createOffice, createTestApp, createUser, TestClient, type TestContext } from '../../core/testing/harness';
import { manifest } from './manifest';
import { requestsFixture } from './testing';
import { dashboard, rqDb, saveService, setStatus, ratingSignature } from './store';

let t: TestContext;
let f: Awaited<ReturnType<typeof requestsFixture>>;
let official: TestClient;
let officialId: number;

before(async () => {
  t = await createTestApp({ modules: [manifest] });
  f = await requestsFixture(t.services);
  officialId = (await createUser(t.services, { roles: ['official'], officeIds: [f.office.id], name: 'Oficial Uno' })).id;
  official = await new TestClient(t.app).signInAs(t.services, officialId);
});
after(() => t.close());

const db = () => rqDb(t.services);

function multipart(fields: Record<string, string>, files: Array<{ name: string; filename: string; data: Buffer }> = []) {
  const boundary = '----wf' + Math.random().toString(16).slice(2);
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  for (const x of files) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${x.name}"; filename="${x.filename}"\r\nContent-Type: image/jpeg\r\n\r\n`), x.data, Buffer.from('\r\n'));
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

const webFields = (over: Record<string, string> = {}) => ({
  step: 'details',
  service: 'alumbrado',
  lat: String(f.inside.lat),
  lng: String(f.inside.lng),
  description: 'Farola apagada frente al 123',
  'attribute[estado]': 'apagada',
  ...over,
});

async function fileByForm(c: TestClient, fields: Record<string, string>, files: Parameters<typeof multipart>[1] = []) {
  if (!c.csrf) await c.get('/requests/new');
  const m = multipart(fields, files);
  return c.request({ method: 'POST', url: `/requests/new?_csrf=${encodeURIComponent(c.csrf)}`, payload: m.payload, headers: m.headers });
}

async function fileWeb(c: TestClient, over: Record<string, string> = {}): Promise<number> {
  const res = await fileByForm(c, webFields(over));
  assert.equal(res.statusCode, 303, res.body.slice(0, 400));
  return Number(/\/requests\/(\d+)/.exec(res.headers.location as string)![1]);
}

async function fileApi(over: Record<string, string> = {}): Promise<number> {
  const body = { api_key: f.token, service_code: 'alumbrado', lat: String(f.inside.lat), long: String(f.inside.lng), 'attribute[estado]': 'apagada', description: 'Luz rota', ...over };
  const res = await t.app.inject({ method: 'POST', url: '/open311/v2/requests.json', payload: new URLSearchParams(body).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(res.statusCode, 200, res.body);
  return Number(res.json()[0].service_request_id);
}

async function act(c: TestClient, id: number, body: Record<string, string>) {
  await c.get(`/requests/${id}`);
  return c.post(`/requests/${id}/action`, body);
}

const mailsTo = (email: string) => t.services.db.selectFrom('mail_outbox').select(['subject', 'text_body']).where('to_address', '=', email).orderBy('id').execute();
const auditOf = (id: number) => t.services.db.selectFrom('audit_log').select(['action', 'details', 'actor_id']).where('subject_type', '=', 'service_request').where('subject_id', '=', String(id)).orderBy('id').execute();
const authorDd = (html: string) => /<dt>(?:Quién lo reportó|Reported by)<\/dt>\s*<dd>([\s\S]*?)<\/dd>/.exec(html)?.[1] ?? '';

test('who filed: the office always sees name and e-mail; the public sees the name unless anonymous, never the e-mail', async () => {
  const ana = await createUser(t.services, { name: 'Ana Pérez', email: 'ana.perez@example.org' });
  const anaC = await new TestClient(t.app).signInAs(t.services, ana.id);
  const shown = await fileWeb(anaC);
  const hidden = await fileWeb(anaC, { anonymous: '1' });
  const viaApp = await fileApi({ email: 'beto@example.org', first_name: 'Beto', last_name: 'Gómez' });
  const appAccount = await fileApi();
  const client = await t.services.db.selectFrom('users').select(['name', 'email']).where('id', '=', f.client.id).executeTakeFirstOrThrow();

  const publicC = new TestClient(t.app);
  const pub = async (id: number) => authorDd((await publicC.get(`/requests/${id}`)).body);
  const off = async (id: number) => authorDd((await official.get(`/requests/${id}`)).body);

  // Office view: the name and the e-mail, whatever the channel, anonymous or not.
  assert.match(await off(shown), /Ana Pérez[\s\S]*ana\.perez@example\.org/);
  assert.match(await off(hidden), /Ana Pérez[\s\S]*ana\.perez@example\.org/);
  assert.match(await off(hidden), /anónimo\/a para el público/);
  assert.match(await off(viaApp), /Beto Gómez[\s\S]*beto@example\.org/);
  assert.ok((await off(appAccount)).includes(client.email), 'an API-token account request shows the account');

  // Public view: the name unless anonymous; never the e-mail.
  assert.match(await pub(shown), /Ana Pérez/);
  assert.doesNotMatch(await pub(shown), /@/);
  const anon = await pub(hidden);
  assert.match(anon, /Vecino\/a anónimo\/a/);
  assert.doesNotMatch(anon, /Ana/);
  assert.match(await pub(viaApp), /Beto Gómez/);
  assert.doesNotMatch(await pub(viaApp), /@/);
  // An official of another office is the public here.
  const outsider = await new TestClient(t.app).signInAs(t.services, (await createUser(t.services, { roles: ['official'], officeIds: [f.other.id] })).id);
  const outsiderView = authorDd((await outsider.get(`/requests/${hidden}`)).body);
  assert.match(outsiderView, /Vecino\/a anónimo\/a/);
  assert.doesNotMatch(outsiderView, /ana\.perez/);
});

test('merge only into a request of the official\'s own office; closed is final except for internal notes', async () => {
  const mine = await fileApi();
  const theirs = await fileApi({ service_code: 'bache' });
  const theirsRow = await db().selectFrom('rq_requests').select(['office_id']).where('id', '=', theirs).executeTakeFirstOrThrow();
  assert.equal(theirsRow.office_id, f.other.id);
  const refused = await act(official, mine, { action: 'merge', target: String(theirs) });
  assert.equal(refused.statusCode, 403);
  const still = await db().selectFrom('rq_requests').select(['status', 'merged_into_id']).where('id', '=', mine).executeTakeFirstOrThrow();
  assert.deepEqual(still, { status: 'submitted', merged_into_id: null }, 'nothing half-done');
  const theirsUpdates = await db().selectFrom('rq_updates').select('kind').where('request_id', '=', theirs).execute();
  assert.ok(!theirsUpdates.some((u) => u.kind === 'merge'));

  // An administrator acts for every office.
  const admin = await new TestClient(t.app).signInAs(t.services, (await createUser(t.services, { roles: ['admin'] })).id);
  const other = await fileApi();
  assert.equal((await act(admin, other, { action: 'merge', target: String(theirs) })).statusCode, 303);

  const closed = await fileApi();
  assert.equal((await act(official, closed, { action: 'solved', text: 'Listo.' })).statusCode, 303);
  const before_ = await db().selectFrom('rq_requests').select(['service_id', 'office_id', 'lat', 'status']).where('id', '=', closed).executeTakeFirstOrThrow();
  const reassign = await act(official, closed, { action: 'reassign', service: 'bache', office: '' });
  assert.equal(reassign.statusCode, 409);
  assert.match(reassign.body, /cerrado es definitivo/);
  assert.equal((await act(official, closed, { action: 'place', lat: String(f.inside.lat + 0.001), lng: String(f.inside.lng) })).statusCode, 409);
  assert.equal((await act(official, closed, { action: 'answer', text: 'Otra respuesta pública' })).statusCode, 409);
  assert.equal((await act(official, closed, { action: 'in_progress' })).statusCode, 409);
  assert.equal((await act(official, closed, { action: 'merge', target: String(mine) })).statusCode, 409);
  assert.deepEqual(await db().selectFrom('rq_requests').select(['service_id', 'office_id', 'lat', 'status']).where('id', '=', closed).executeTakeFirstOrThrow(), before_);
  // Internal notes stay possible (the office's own follow-up), and the page offers them.
  const page = await official.get(`/requests/${closed}`);
  assert.match(page.body, /name="action" value="note"/);
  assert.equal((await official.post(`/requests/${closed}/action`, { action: 'note', text: 'Verificado en recorrida' })).statusCode, 303);
  const notes = await db().selectFrom('rq_updates').select(['kind', 'public']).where('request_id', '=', closed).where('kind', '=', 'note').execute();
  assert.deepEqual(notes, [{ kind: 'note', public: false }]);
});

test('a category with an office that does not exist gets a message next to the field, not a 500', async () => {
  const admin = await new TestClient(t.app).signInAs(t.services, (await createUser(t.services, { roles: ['admin'] })).id);
  await admin.get('/requests/admin/services/new');
  const res = await admin.post('/requests/admin/services/new', { code: 'veredas', name: 'Veredas rotas', target_days: '10', office_id: '999999', active: '1' });
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /usa-error-message[^>]*>Esa área no existe/);
  const junk = await admin.post('/requests/admin/services/new', { code: 'veredas', name: 'Veredas rotas', target_days: '10', office_id: 'abc', active: '1' });
  assert.equal(junk.statusCode, 400);
  assert.equal(await db().selectFrom('rq_services').select('id').where('code', '=', 'veredas').executeTakeFirst(), undefined, 'nothing stored');
  // Editing an existing category the same way.
  const edit = await admin.post(`/requests/admin/services/${f.pothole}`, { code: 'bache', name: 'Bache', target_days: '20', office_id: '999999', active: '1' });
  assert.equal(edit.statusCode, 400);
  assert.equal((await db().selectFrom('rq_services').select('office_id').where('id', '=', f.pothole).executeTakeFirstOrThrow()).office_id, f.other.id);
});

test('office dashboard: median days to close and ratings by category and by commune, within the office only', async () => {
  const office = await createOffice(t.services, { slug: 'arbolado', name: 'Arbolado' });
  const trees = await saveService(db(), { code: 'arbol', name: 'Árbol caído', name_en: 'Fallen tree', description: '', description_en: null, group_name: null, keywords: null, office_id: office.id, target_days: 10, active: true });
  const ids = [await fileApi({ service_code: 'arbol' }), await fileApi({ service_code: 'arbol' }), await fileApi({ service_code: 'arbol' }), await fileApi({ service_code: 'arbol' })];
  const day = 86400_000;
  const t0 = new Date('2026-06-01T12:00:00Z');
  const close = async (id: number, days: number, score: number) => {
    await db().updateTable('rq_requests').set({ requested_at: t0, expected_at: new Date(t0.getTime() + 10 * day) }).where('id', '=', id).execute();
    await db().transaction().execute((trx) => setStatus(trx, id, 'solved', '', null, new Date(t0.getTime() + days * day)));
    await db().insertInto('rq_ratings').values({ request_id: id, user_id: f.client.id, score }).execute();
  };
  await close(ids[0], 2, 5);
  await close(ids[1], 4, 3);
  // Same category, handled (and rated) by another office: not this office's figure.
  await db().updateTable('rq_requests').set({ office_id: f.other.id }).where('id', '=', ids[2]).execute();
  await close(ids[2], 30, 1);
  const d = await dashboard(db(), [office.id]);
  assert.equal(d.totals.open, 1);
  assert.equal(d.totals.closed, 2);
  assert.equal(d.totals.median_days, 3);
  assert.deepEqual(d.ratings, { n: 2, avg: 4 });
  const svc = d.byService.find((x) => x.name === 'Árbol caído')!;
  assert.equal(svc.total, 3);
  assert.equal(svc.median_days, 3);
  assert.equal(svc.rating, 4, 'the other office\'s rating of the same category does not count');
  assert.equal(d.byCommune.length, 1);
  assert.deepEqual(
    { commune: d.byCommune[0].commune_id, total: d.byCommune[0].total, median: d.byCommune[0].median_days, rating: d.byCommune[0].rating, n: d.byCommune[0].ratings },
    { commune: 1, total: 3, median: 3, rating: 4, n: 2 },
  );
  assert.ok(trees > 0);

  const member = await new TestClient(t.app).signInAs(t.services, (await createUser(t.services, { roles: ['official'], officeIds: [office.id] })).id);
  const page = await member.get('/requests/office/dashboard');
  assert.equal(page.statusCode, 200);
  const communeTable = /<caption>Reclamos por comuna<\/caption>[\s\S]*?<\/table>/.exec(page.body)![0];
  assert.match(communeTable, /Mediana/);
  assert.match(communeTable, /Comuna 1<\/th><td>1<\/td><td>[^<]*<\/td><td>3<\/td><td>3 días<\/td><td>4<\/td>/);
});

test('reassigning recomputes the due date from the new category\'s target, counted from filing', async () => {
  const id = await fileApi();
  const r0 = await db().selectFrom('rq_requests').select(['requested_at', 'expected_at']).where('id', '=', id).executeTakeFirstOrThrow();
  assert.equal(r0.expected_at!.getTime() - r0.requested_at.getTime(), 5 * 86400_000);
  assert.equal((await act(official, id, { action: 'reassign', service: 'bache', office: '', text: 'Es un bache' })).statusCode, 303);
  const r1 = await db().selectFrom('rq_requests').select(['requested_at', 'expected_at', 'service_id', 'office_id']).where('id', '=', id).executeTakeFirstOrThrow();
  assert.equal(r1.service_id, f.pothole);
  assert.equal(r1.office_id, f.other.id);
  assert.equal(r1.expected_at!.getTime() - r1.requested_at.getTime(), 20 * 86400_000);
  const audit = await auditOf(id);
  assert.ok(audit.some((a) => a.action === 'request.reassign' && (a.details as { service: string }).service === 'bache'));
});

test('list filters by the city\'s days (UTC−3), category, neighbourhood and most upvoted', async () => {
  const late = await fileApi({ description: 'tarde' });
  const early = await fileApi({ description: 'temprano' });
  const dayBefore = await fileApi({ description: 'víspera' });
  const set = (id: number, at: string) => db().updateTable('rq_requests').set({ requested_at: new Date(at) }).where('id', '=', id).execute();
  await set(late, '2026-03-10T22:30:00-03:00');
  await set(early, '2026-03-10T00:30:00-03:00');
  await set(dayBefore, '2026-03-09T22:30:00-03:00');
  const listed = async (qs: string) => {
    const res = await t.app.inject(`/requests?${qs}`);
    assert.equal(res.statusCode, 200);
    return [late, early, dayBefore].filter((id) => res.body.includes(`href="/requests/${id}"`));
  };
  assert.deepEqual(await listed('from=2026-03-10&to=2026-03-10'), [late, early], 'the 10th, local time, both ends');
  assert.deepEqual(await listed('from=2026-03-11'), [], 'a report at 22:30 local is not on the 11th');
  assert.deepEqual(await listed('to=2026-03-09'), [dayBefore]);
  assert.deepEqual(await listed('from=2026-03-09&to=2026-03-09'), [dayBefore]);
  // The map API reads the same days.
  const geo = await t.app.inject('/api/v1/requests/map.geojson?bbox=-58.4,-34.62,-58.36,-34.59&from=2026-03-10&to=2026-03-10');
  assert.deepEqual(geo.json().features.map((x: { id: number }) => x.id).sort(), [late, early].sort());

  // Category and neighbourhood.
  const pothole = await fileApi({ service_code: 'bache', description: 'pozo' });
  const bycat = await t.app.inject('/requests?service=bache');
  assert.ok(bycat.body.includes(`href="/requests/${pothole}"`));
  assert.ok(!bycat.body.includes(`href="/requests/${late}"`));
  const byHood = await t.app.inject(`/requests?neighbourhood=${f.hood}&service=bache`);
  assert.ok(byHood.body.includes(`href="/requests/${pothole}"`));
  const otherHood = await t.app.inject(`/requests?neighbourhood=${f.hood + 1000}&service=bache`);
  assert.ok(!otherHood.body.includes(`href="/requests/${pothole}"`));

  // Most upvoted first.
  await db().updateTable('rq_requests').set({ upvotes: 50 }).where('id', '=', early).execute();
  await db().updateTable('rq_requests').set({ upvotes: 70 }).where('id', '=', dayBefore).execute();
  const top = (await t.app.inject('/requests?sort=upvotes')).body;
  const pos = (id: number) => top.indexOf(`href="/requests/${id}"`);
  assert.ok(pos(dayBefore) > 0 && pos(dayBefore) < pos(early), 'most upvoted on top');
  const newest = (await t.app.inject('/requests?sort=newest')).body;
  assert.ok(newest.indexOf(`href="/requests/${pothole}"`) < newest.indexOf(`href="/requests/${dayBefore}"`));
});

test('the office queue: its own requests only, filters, overdue first by default, by upvotes', async () => {
  const a = await fileApi();
  const b = await fileApi();
  const c = await fileApi();
  await db().updateTable('rq_requests').set({ expected_at: new Date(Date.now() - 86400_000) }).where('id', '=', c).execute();
  await db().updateTable('rq_requests').set({ upvotes: 99 }).where('id', '=', b).execute();
  const ids = (html: string) => [...html.matchAll(/<th scope="row" data-label="#"><a href="\/requests\/(\d+)"/g)].map((m) => Number(m[1]));
  const def = ids((await official.get('/requests/office')).body);
  assert.equal(def[0], c, 'overdue first');
  const up = ids((await official.get('/requests/office?sort=upvotes')).body);
  assert.equal(up[0], b, 'most upvoted first');
  const oldest = ids((await official.get('/requests/office?sort=oldest')).body);
  const first = await db()
    .selectFrom('rq_requests')
    .select('id')
    .where('office_id', '=', f.office.id)
    .where('status', 'in', ['submitted', 'acknowledged', 'in_progress'])
    .orderBy('requested_at')
    .orderBy('id')
    .executeTakeFirstOrThrow();
  assert.equal(oldest[0], first.id, 'oldest first');
  assert.notEqual(first.id, c);
  // Filters: another office's category is never in this queue, and a category filter narrows it.
  const pothole = await fileApi({ service_code: 'bache' });
  assert.ok(!ids((await official.get('/requests/office?service=bache')).body).includes(pothole));
  const onlyLights = ids((await official.get('/requests/office?service=alumbrado&sort=newest')).body);
  assert.ok(onlyLights.includes(a));
  assert.equal((await official.get('/requests/office?status=solved')).statusCode, 200);
  const closed = ids((await official.get('/requests/office?status=closed')).body);
  assert.ok(!closed.includes(a));
});

test('e-mails reach the account author, the Open311 author and an upvoter at each change; answers, in progress, merge followers, audits', async () => {
  const author = await createUser(t.services, { email: 'autora@example.org' });
  const authorC = await new TestClient(t.app).signInAs(t.services, author.id);
  const web = await fileWeb(authorC);
  const guest = await fileApi({ email: 'vecina.app@example.org' });
  const fan = await createUser(t.services, { email: 'fan@example.org', name: 'Fan' });
  const fanC = await new TestClient(t.app).signInAs(t.services, fan.id);
  for (const id of [web, guest]) {
    await fanC.get(`/requests/${id}`);
    assert.equal((await fanC.post(`/requests/${id}/upvote`, {})).statusCode, 303);
  }

  for (const [action, status] of [['acknowledged', 'En revisión'], ['in_progress', 'En curso']] as const) {
    for (const id of [web, guest]) assert.equal((await act(official, id, { action, text: `paso ${action}` })).statusCode, 303);
    for (const [email, id] of [['autora@example.org', web], ['fan@example.org', web], ['vecina.app@example.org', guest], ['fan@example.org', guest]] as const) {
      const m = await mailsTo(email);
      assert.ok(m.some((x) => x.subject === `Tu reclamo #${id}: ${status}`), `${email} hears #${id} ${status}`);
    }
  }
  assert.equal((await db().selectFrom('rq_requests').select('status').where('id', '=', web).executeTakeFirstOrThrow()).status, 'in_progress');

  // A public answer: on the public page, e-mailed, audited.
  assert.equal((await act(official, web, { action: 'answer', text: 'La cuadrilla pasa el martes.' })).statusCode, 303);
  assert.match((await new TestClient(t.app).get(`/requests/${web}`)).body, /La cuadrilla pasa el martes\./);
  assert.ok((await mailsTo('autora@example.org')).some((x) => x.text_body.includes('La cuadrilla pasa el martes.')));
  assert.ok((await mailsTo('fan@example.org')).some((x) => x.text_body.includes('La cuadrilla pasa el martes.')));
  assert.equal((await act(official, web, { action: 'answer', text: '' })).statusCode, 400);

  // Merge: the duplicate's followers (its author, the fan, another neighbour) follow the original.
  const neighbour = await createUser(t.services, { email: 'vecino3@example.org' });
  const nC = await new TestClient(t.app).signInAs(t.services, neighbour.id);
  const dup = await fileWeb(nC);
  const original = await fileApi();
  assert.equal((await act(official, dup, { action: 'merge', target: String(original) })).statusCode, 303);
  const followers = (await db().selectFrom('rq_followers').select('user_id').where('request_id', '=', original).execute()).map((x) => x.user_id);
  assert.ok(followers.includes(neighbour.id), 'the duplicate\'s author follows the original');
  assert.ok((await mailsTo('vecino3@example.org')).some((x) => x.subject.includes('Unificado')));
  assert.equal((await act(official, original, { action: 'solved', text: 'Arreglado' })).statusCode, 303);
  assert.ok((await mailsTo('vecino3@example.org')).some((x) => x.subject === `Tu reclamo #${original}: Resuelto`), 'followers moved over hear about the original');

  // The author rates: audited.
  assert.equal((await act(official, web, { action: 'solved', text: 'Cambiada la lámpara' })).statusCode, 303);
  await authorC.get(`/requests/${web}`);
  assert.equal((await authorC.post(`/requests/${web}/rate`, { score: '5', comment: 'Gracias' })).statusCode, 303);
  const audit = await auditOf(web);
  for (const a of ['request.status', 'request.answer', 'request.rate']) assert.ok(audit.some((x) => x.action === a), a);
  assert.equal(audit.find((x) => x.action === 'request.rate')!.actor_id, author.id);
});

test('the Open311 author without an account rates through the signed link of the closing e-mail', async () => {
  const id = await fileApi({ email: 'sin.cuenta@example.org', first_name: 'Sol' });
  assert.equal((await act(official, id, { action: 'in_progress' })).statusCode, 303);
  assert.ok(!(await mailsTo('sin.cuenta@example.org')).some((m) => m.text_body.includes('rating=')), 'no link before closing');
  assert.equal((await act(official, id, { action: 'solved', text: 'Reparado' })).statusCode, 303);
  const mail = (await mailsTo('sin.cuenta@example.org')).find((m) => m.text_body.includes('rating='));
  assert.ok(mail, 'the closing e-mail carries the link');
  const link = /(\/requests\/\d+\?rating=[A-Za-z0-9_-]+)/.exec(mail.text_body)![1];
  const sig = new URL(link, 'http://x').searchParams.get('rating')!;

  const anon = new TestClient(t.app);
  const page = await anon.get(link);
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /name="score"/);
  assert.match(page.body, new RegExp(`name="rating" value="${sig}"`));
  assert.doesNotMatch((await new TestClient(t.app).get(`/requests/${id}`)).body, /name="score"/, 'no form without the link');
  assert.doesNotMatch((await anon.get(`/requests/${id}?rating=${sig.slice(0, -2)}xx`)).body, /name="score"/);

  assert.equal((await anon.post(`/requests/${id}/rate`, { score: '4', rating: 'forged' })).statusCode, 401);
  assert.equal((await anon.post(`/requests/${id}/rate`, { score: '4', comment: 'Bien', rating: sig })).statusCode, 303);
  const r = await db().selectFrom('rq_ratings').selectAll().where('request_id', '=', id).executeTakeFirstOrThrow();
  assert.equal(r.score, 4);
  assert.equal(r.user_id, null);
  assert.ok((await auditOf(id)).some((a) => a.action === 'request.rate' && (a.details as { via: string }).via === 'signed_link'));
  // A link is for its own request only.
  const other = await fileApi({ email: 'otra@example.org' });
  await db().transaction().execute((trx) => setStatus(trx, other, 'solved', '', null));
  assert.equal((await anon.post(`/requests/${other}/rate`, { score: '1', rating: sig })).statusCode, 401);
  const token = (await db().selectFrom('rq_requests').select('token').where('id', '=', other).executeTakeFirstOrThrow()).token;
  assert.notEqual(ratingSignature(t.services.secret, other, token), sig);
});

test('the report form refuses an unknown category, a point outside the city and more than 3 photos, storing nothing', async () => {
  const c = await new TestClient(t.app).signInAs(t.services, (await createUser(t.services)).id);
  const count = async () => Number((await db().selectFrom('rq_requests').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const n0 = await count();
  const unknown = await fileByForm(c, webFields({ service: 'no-existe' }));
  assert.equal(unknown.statusCode, 400);
  assert.match(unknown.body, /Esa categoría no existe/);
  const outside = await fileByForm(c, webFields({ lat: '-34.9', lng: '-58.9' }));
  assert.equal(outside.statusCode, 400);
  assert.match(outside.body, /fuera de la ciudad/);
  const jpeg = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#777' } }).jpeg().toBuffer();
  const four = await fileByForm(c, webFields(), [1, 2, 3, 4].map((i) => ({ name: 'photos', filename: `f${i}.jpg`, data: jpeg })));
  assert.equal(four.statusCode, 400);
  assert.match(four.body, /usa-error-message[^>]*>Podés subir hasta 3 fotos/);
  assert.equal(await count(), n0);
  assert.equal(Number((await t.services.db.selectFrom('files').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n), 0, 'no orphan photo files');
});

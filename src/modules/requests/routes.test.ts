import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { createTestApp, createUser, TestClient, type TestContext } from '../../core/testing/harness';
import { manifest } from './manifest';
import { requestsFixture } from './testing';
import { rqDb } from './store';

let t: TestContext;
let f: Awaited<ReturnType<typeof requestsFixture>>;

before(async () => {
  t = await createTestApp({ modules: [manifest] });
  f = await requestsFixture(t.services);
});
after(() => t.close());

/** A multipart body the way a browser sends the report form. */
function multipart(fields: Record<string, string>, files: Array<{ name: string; filename: string; type: string; data: Buffer }>) {
  const boundary = '----cabildo' + Math.random().toString(16).slice(2);
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  for (const file of files) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${file.name}"; filename="${file.filename}"\r\nContent-Type: ${file.type}\r\n\r\n`));
    parts.push(file.data, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

async function fileByForm(c: TestClient, fields: Record<string, string>, files: Parameters<typeof multipart>[1] = []) {
  const m = multipart(fields, files);
  return c.request({ method: 'POST', url: `/requests/new?_csrf=${encodeURIComponent(c.csrf)}`, payload: m.payload, headers: m.headers });
}

const table = <T extends string>(name: T) => rqDb(t.services).selectFrom(name as 'rq_requests');

test('a resident reports with photos and answers, without JavaScript', async () => {
  const resident = await createUser(t.services, { verified: true });
  const c = await new TestClient(t.app).signInAs(t.services, resident.id);
  const step1 = await c.get('/requests/new');
  assert.equal(step1.statusCode, 200);
  assert.match(step1.body, /name="service"/);
  // "Use my location" is an island: the page links its script and works without it.
  assert.match(step1.body, /<script type="module" src="[^"]*requests-locate[^"]*\.js"/);

  const outside = await c.get('/requests/new?step=place&service=alumbrado&lat=-34.9&lng=-58.9');
  assert.equal(outside.statusCode, 400);
  assert.match(outside.body, /fuera de la ciudad/);

  const step2 = await c.get(`/requests/new?step=place&service=alumbrado&lat=${f.inside.lat}&lng=${f.inside.lng}`);
  assert.equal(step2.statusCode, 200);
  assert.match(step2.body, /name="attribute\[estado\]"/);
  assert.match(step2.body, /enctype="multipart\/form-data"/);

  const exif = await sharp({ create: { width: 2400, height: 1800, channels: 3, background: '#888' } })
    .jpeg()
    .withMetadata({ exif: { IFD0: { Make: 'Camara', Model: 'X' } } })
    .toBuffer();
  const fields = { step: 'details', service: 'alumbrado', lat: String(f.inside.lat), lng: String(f.inside.lng), address: 'Corrientes y 9 de Julio', description: 'Luminaria apagada en la esquina', 'attribute[estado]': 'apagada', anonymous: '1' };

  // A missing required answer: a message next to the field, nothing stored.
  const count = async () => Number((await table('rq_requests').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const n0 = await count();
  const missing = await fileByForm(c, { ...fields, 'attribute[estado]': '' });
  assert.equal(missing.statusCode, 400);
  assert.match(missing.body, /usa-error-message[^>]*>Esta respuesta es obligatoria/);
  // A file that is not an image: rejected, nothing stored.
  const notImage = await fileByForm(c, fields, [{ name: 'photos', filename: 'x.jpg', type: 'image/jpeg', data: Buffer.from('not an image at all') }]);
  assert.equal(notImage.statusCode, 400);
  assert.match(notImage.body, /no es una imagen/);
  assert.equal(await count(), n0);

  const ok = await fileByForm(c, fields, [{ name: 'photos', filename: 'luz.jpg', type: 'image/jpeg', data: exif }]);
  assert.equal(ok.statusCode, 303, ok.body.slice(0, 500));
  const id = Number(/\/requests\/(\d+)/.exec(ok.headers.location as string)![1]);
  const r = await table('rq_requests').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  assert.equal(r.author_id, resident.id);
  assert.equal(r.anonymous, true);
  assert.equal(r.commune_id, 1);
  assert.equal(r.neighbourhood_id, f.hood);
  assert.deepEqual(r.answers, { estado: 'apagada' });
  const photos = await rqDb(t.services).selectFrom('rq_photos').select('file_id').where('request_id', '=', id).execute();
  assert.equal(photos.length, 1);
  const img = await t.app.inject(`/requests/photos/${photos[0].file_id}`);
  assert.equal(img.statusCode, 200);
  const meta = await sharp(img.rawPayload).metadata();
  assert.ok(meta.width! <= 1600, 'resized');
  assert.equal(meta.exif, undefined, 'EXIF stripped');

  const page = await c.get(`/requests/${id}?filed=1`);
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /Luminaria apagada en la esquina/);
  assert.match(page.body, /Prendida de día|Apagada/);
  const anon = await new TestClient(t.app).get(`/requests/${id}`);
  assert.match(anon.body, /Vecino\/a anónimo\/a/);
  assert.ok(!anon.body.includes(resident.name));

  const mine = await c.get('/requests/mine');
  assert.match(mine.body, new RegExp(`/requests/${id}`));
});

test('similar open requests nearby are shown before filing, and a neighbour upvotes instead', async () => {
  const first = await table('rq_requests').select(['id']).where('service_id', '=', f.light).orderBy('id').executeTakeFirstOrThrow();
  const neighbour = await createUser(t.services, { verified: true });
  const c = await new TestClient(t.app).signInAs(t.services, neighbour.id);
  // ~50 m north of the first report: it shows up. Another category does not.
  const near = await c.get(`/requests/new?step=place&service=alumbrado&lat=${f.inside.lat + 0.00045}&lng=${f.inside.lng}`);
  assert.match(near.body, /Reclamos parecidos cerca/);
  assert.match(near.body, new RegExp(`/requests/${first.id}/upvote`));
  const far = await c.get(`/requests/new?step=place&service=alumbrado&lat=${f.inside.lat + 0.005}&lng=${f.inside.lng}`);
  assert.doesNotMatch(far.body, /Reclamos parecidos cerca/);
  const other = await c.get(`/requests/new?step=place&service=bache&lat=${f.inside.lat}&lng=${f.inside.lng}`);
  assert.doesNotMatch(other.body, /Reclamos parecidos cerca/);

  const up = await c.post(`/requests/${first.id}/upvote`, {});
  assert.equal(up.statusCode, 303);
  await c.post(`/requests/${first.id}/upvote`, {});
  const r = await table('rq_requests').select(['upvotes']).where('id', '=', first.id).executeTakeFirstOrThrow();
  assert.equal(r.upvotes, 1, 'one upvote per account');
  const follows = await rqDb(t.services).selectFrom('rq_followers').select('user_id').where('request_id', '=', first.id).execute();
  assert.ok(follows.some((x) => x.user_id === neighbour.id), 'upvoters follow the request');

  const geo = await t.app.inject(`/api/v1/requests/map.geojson?bbox=-58.4,-34.62,-58.36,-34.59`);
  assert.equal(geo.statusCode, 200);
  assert.ok(geo.json().features.some((x: { id: number }) => x.id === first.id));
  assert.equal((await t.app.inject('/api/v1/requests/map.geojson?bbox=1,2')).statusCode, 400);
  // A table never analysed (a fresh demo city) still has a size: a wide map then shows the newest
  // requests across the city, not only those nearest its centre.
  const { viewport, estimatedRows } = await import('./store');
  assert.ok((await estimatedRows(rqDb(t.services))) > 0, 'the map strategy knows the table is not empty');
  // Both plans give the same answer: the index for small viewports, newest-first for wide ones.
  const box: [number, number, number, number] = [-58.4, -34.62, -58.36, -34.59];
  const spatial = await viewport(rqDb(t.services), box, { statuses: ['submitted'] }, 10, 'spatial');
  const newest = await viewport(rqDb(t.services), box, { statuses: ['submitted'] }, 10, 'newest');
  assert.deepEqual(newest.map((r) => r.id).sort(), spatial.map((r) => r.id).sort());
  assert.ok(spatial.length > 0);
  const nearby = await t.app.inject(`/api/v1/requests/nearby?service=alumbrado&lat=${f.inside.lat}&lng=${f.inside.lng}`);
  assert.ok(nearby.json().items.some((x: { id: number }) => x.id === first.id));
});

test('the office works its queue: statuses, answers, notes, merge, reassign; all audited and e-mailed', async () => {
  const official = await createUser(t.services, { roles: ['official'], officeIds: [f.office.id] });
  const outsider = await createUser(t.services, { roles: ['official'], officeIds: [f.other.id] });
  const c = await new TestClient(t.app).signInAs(t.services, official.id);
  const db = rqDb(t.services);
  for (let i = 0; i < 2; i++) {
    const res = await t.app.inject({
      method: 'POST',
      url: '/open311/v2/requests.json',
      payload: new URLSearchParams({ api_key: f.token, service_code: 'alumbrado', lat: String(f.inside.lat + 0.0002), long: String(f.inside.lng), 'attribute[estado]': 'apagada', email: `vecino${i}@example.org` }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(res.statusCode, 200, res.body);
  }
  const [orig, dup] = await db.selectFrom('rq_requests').select(['id', 'author_id']).where('service_id', '=', f.light).orderBy('id').limit(2).execute();
  assert.ok(orig && dup);

  const queue = await c.get('/requests/office');
  assert.equal(queue.statusCode, 200);
  assert.match(queue.body, new RegExp(`/requests/${orig.id}"`));
  const otherQueue = await new TestClient(t.app).signInAs(t.services, outsider.id);
  const oq = await otherQueue.get('/requests/office');
  assert.doesNotMatch(oq.body, new RegExp(`/requests/${orig.id}"`));
  await otherQueue.get(`/requests/${orig.id}`);
  const forbidden = await otherQueue.post(`/requests/${orig.id}/action`, { action: 'acknowledged' });
  assert.equal(forbidden.statusCode, 403);

  const mails0 = Number((await t.services.db.selectFrom('mail_outbox').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  await c.get(`/requests/${orig.id}`);
  assert.equal((await c.post(`/requests/${orig.id}/action`, { action: 'acknowledged', text: 'Lo vamos a revisar.' })).statusCode, 303);
  assert.equal((await c.post(`/requests/${orig.id}/action`, { action: 'note', text: 'Pedir cuadrilla nocturna' })).statusCode, 303);
  assert.equal((await c.post(`/requests/${orig.id}/action`, { action: 'not_solvable', text: '' })).statusCode, 400, 'reason required');
  assert.equal((await c.post(`/requests/${orig.id}/action`, { action: 'bogus' })).statusCode, 400);

  // The internal note stays internal.
  const publicView = await new TestClient(t.app).get(`/requests/${orig.id}`);
  assert.match(publicView.body, /Lo vamos a revisar/);
  assert.doesNotMatch(publicView.body, /Pedir cuadrilla nocturna/);
  assert.match((await c.get(`/requests/${orig.id}`)).body, /Pedir cuadrilla nocturna/);

  // Merge the duplicate: its upvotes and followers move over.
  const backer = await new TestClient(t.app).signInAs(t.services, (await createUser(t.services)).id);
  await backer.get(`/requests/${dup.id}`);
  assert.equal((await backer.post(`/requests/${dup.id}/upvote`, {})).statusCode, 303);
  const before = await db.selectFrom('rq_requests').select('upvotes').where('id', '=', orig.id).executeTakeFirstOrThrow();
  assert.equal((await c.post(`/requests/${dup.id}/action`, { action: 'merge', target: String(orig.id) })).statusCode, 303);
  const merged = await db.selectFrom('rq_requests').select(['status', 'merged_into_id']).where('id', '=', dup.id).executeTakeFirstOrThrow();
  assert.deepEqual(merged, { status: 'merged', merged_into_id: orig.id });
  const after_ = await db.selectFrom('rq_requests').select('upvotes').where('id', '=', orig.id).executeTakeFirstOrThrow();
  assert.ok(after_.upvotes > before.upvotes, 'upvotes moved over');
  assert.equal((await c.post(`/requests/${dup.id}/action`, { action: 'solved' })).statusCode, 409, 'closed stays closed');

  assert.equal((await c.post(`/requests/${orig.id}/action`, { action: 'solved', text: 'Se cambió la lámpara.' })).statusCode, 303);
  const mails = await t.services.db.selectFrom('mail_outbox').select(['to_address', 'subject']).orderBy('id').execute();
  assert.ok(mails.length > mails0);
  assert.ok(mails.some((m) => /Resuelto/.test(m.subject)));

  const audit = await t.services.db.selectFrom('audit_log').select(['action']).where('subject_type', '=', 'service_request').execute();
  for (const a of ['request.status', 'request.note', 'request.merge']) assert.ok(audit.some((x) => x.action === a), a);

  // Reassign another request to the other office: it leaves this office's queue.
  const third = await db.selectFrom('rq_requests').select(['id']).where('service_id', '=', f.light).where('status', '=', 'submitted').executeTakeFirst();
  if (third) {
    assert.equal((await c.post(`/requests/${third.id}/action`, { action: 'reassign', service: 'bache', office: '' })).statusCode, 303);
    const moved = await db.selectFrom('rq_requests').select(['office_id', 'service_id']).where('id', '=', third.id).executeTakeFirstOrThrow();
    assert.deepEqual(moved, { office_id: f.other.id, service_id: f.pothole });
  }

  const dash = await c.get('/requests/office/dashboard');
  assert.equal(dash.statusCode, 200);
  assert.match(dash.body, /Cerrados: 1/);
  const csv = await c.get('/requests/office/export.csv');
  assert.equal(csv.statusCode, 200);
  assert.match(csv.body.split('\n')[0], /^id,service_code/);
  assert.ok(csv.body.includes(`\n${orig.id},alumbrado`));
  const plain = await new TestClient(t.app).signInAs(t.services, (await createUser(t.services)).id);
  assert.equal((await plain.get('/requests/office')).statusCode, 403, 'residents have no queue');
});

test('the author rates the closed request; statistics, dataset and search show it', async () => {
  const db = rqDb(t.services);
  const solved = await db.selectFrom('rq_requests').select(['id', 'author_id']).where('status', '=', 'solved').where('author_id', 'is not', null).executeTakeFirstOrThrow();
  const author = new TestClient(t.app);
  await author.signInAs(t.services, solved.author_id!);
  const page = await author.get(`/requests/${solved.id}`);
  assert.match(page.body, /name="score"/);
  assert.equal((await author.post(`/requests/${solved.id}/rate`, { score: '9' })).statusCode, 400);
  assert.equal((await author.post(`/requests/${solved.id}/rate`, { score: '4', comment: 'Rápido' })).statusCode, 303);
  const stranger = await new TestClient(t.app).signInAs(t.services, (await createUser(t.services)).id);
  await stranger.get('/requests');
  assert.equal((await stranger.post(`/requests/${solved.id}/rate`, { score: '1' })).statusCode, 403);

  const stats = await t.app.inject('/requests/stats');
  assert.equal(stats.statusCode, 200);
  assert.match(stats.body, /role="img"/);
  assert.match(stats.body, /<caption>Reclamos por comuna<\/caption>/);
  const list = await t.app.inject('/requests?status=open&sort=upvotes&commune=1');
  assert.equal(list.statusCode, 200);
  assert.match(list.body, /<svg class="rq-map"/);
  assert.match(list.body, /San Nicolás · Comuna 1/, 'the place reads neighbourhood · commune, as the commune is named');

  const ds = manifest.datasets![0];
  const csv = String(await ds.resources[0].produce(t.services));
  assert.match(csv.split('\n')[0], /^id,categoria_codigo/);
  assert.ok(!csv.includes('@'), 'no e-mails in open data');
  assert.ok(!csv.includes('Luminaria apagada en la esquina'), 'no free text in open data');
  const gj = JSON.parse(String(await ds.resources[1].produce(t.services)));
  assert.equal(gj.type, 'FeatureCollection');
  assert.ok(gj.features.some((x: { properties: { calificacion: number | null } }) => x.properties.calificacion === 4));

  const hits = await manifest.search!.search(t.services, 'luminaria', 'es-AR', 5);
  assert.ok(hits.some((h) => h.url.startsWith('/requests')));
});

test('administrators define categories and their questions; others cannot', async () => {
  const admin = await createUser(t.services, { roles: ['admin'] });
  const c = await new TestClient(t.app).signInAs(t.services, admin.id);
  await c.get('/requests/admin/services/new');
  const bad = await c.post('/requests/admin/services/new', { code: 'con espacios', name: '', target_days: '0' });
  assert.equal(bad.statusCode, 400);
  const ok = await c.post('/requests/admin/services/new', { code: 'graffiti', name: 'Grafiti', target_days: '10', office_id: String(f.office.id), active: '1' });
  assert.equal(ok.statusCode, 303);
  const sid = Number(/services\/(\d+)/.exec(ok.headers.location as string)![1]);
  await c.get(`/requests/admin/services/${sid}`);
  const q = await c.post(`/requests/admin/services/${sid}/attributes`, { code: 'superficie', description: '¿Dónde está?', datatype: 'singlevaluelist', values: 'pared=Pared; persiana=Persiana', required: '1' });
  assert.equal(q.statusCode, 303);
  const def = await t.app.inject('/open311/v2/services/graffiti.json');
  assert.equal(def.json().attributes[0].code, 'superficie');
  assert.equal(def.json().attributes[0].required, true);
  const official = await new TestClient(t.app).signInAs(t.services, (await createUser(t.services, { roles: ['official'] })).id);
  assert.equal((await official.get('/requests/admin/services')).statusCode, 403);
});

test('i18n: every key exists in both catalogues', () => {
  const es = Object.keys(manifest.messages!['es-AR']).sort();
  const en = Object.keys(manifest.messages!.en).sort();
  assert.deepEqual(es, en);
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import sharp from 'sharp';
import { localServer } from '../../core/auth/testing';
import { createOffice, createTestApp, createUser, TestClient, type TestContext } from '../../core/testing/harness';
import { manifest } from './manifest';
import { twoCommunes } from './testing/communes';
import { bgDb } from './tables';
import { createBudget, createGroup, createHeading } from './store';
import { DOCUMENT_MAX_BYTES } from './uploads';

let t: TestContext;
// A local stand-in for the city's Nominatim geocoder: never the internet.
let geocoder: Awaited<ReturnType<typeof localServer>>;

// Comuna 1 spans lng -58.40..-58.39, Comuna 2 -58.38..-58.37, both lat -34.60..-34.59.
const IN_1 = { lat: '-34.595', lng: '-58.395' };
const IN_2 = { lat: '-34.595', lng: '-58.375' };
const OUTSIDE = { lat: '-31.4', lng: '-64.18' };

before(async () => {
  geocoder = await localServer((req: http.IncomingMessage, res: http.ServerResponse) => {
    const q = new URL(req.url!, 'http://x').searchParams.get('q') ?? '';
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (q === 'Plaza Uno 100') return json(200, [{ lat: IN_1.lat, lon: IN_1.lng, display_name: 'Plaza Uno 100' }]);
    if (q === 'Parque Dos 200') return json(200, [{ lat: IN_2.lat, lon: IN_2.lng, display_name: 'Parque Dos 200' }]);
    if (q === 'Córdoba capital') return json(200, [{ lat: OUTSIDE.lat, lon: OUTSIDE.lng, display_name: 'Córdoba' }]);
    if (q === 'Geocoder caído') return json(503, { error: 'down' });
    json(200, []);
  });
  t = await createTestApp({ modules: [manifest], env: { GEOCODER_URL: geocoder.url } });
  await twoCommunes(t.services, 1000);
});

after(async () => {
  await t?.close();
  await geocoder?.close();
});

function multipart(fields: Record<string, string | string[]>, files: Array<{ name: string; filename: string; type: string; data: Buffer }>) {
  const boundary = '----cabildo' + Math.random().toString(16).slice(2);
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) for (const x of ([] as string[]).concat(v)) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${x}\r\n`));
  for (const f of files) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${f.name}"; filename="${f.filename}"\r\nContent-Type: ${f.type}\r\n\r\n`), f.data, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

function postMultipart(c: TestClient, url: string, fields: Record<string, string | string[]>, files: Parameters<typeof multipart>[1] = [], csrf = true) {
  const m = multipart(fields, files);
  return c.request({ method: 'POST', url: csrf ? `${url}?_csrf=${encodeURIComponent(c.csrf)}` : url, payload: m.payload, headers: m.headers });
}

const photo = () =>
  sharp({ create: { width: 2400, height: 1800, channels: 3, background: '#3a6' } })
    .jpeg()
    .withMetadata({ exif: { IFD0: { Make: 'Camara', Model: 'X' } } })
    .toBuffer();
const pdf = (extra = 0) => Buffer.concat([Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n'), Buffer.alloc(extra, 32), Buffer.from('\n%%EOF\n')]);

async function budgetIn(phase: 'accepting' | 'finished') {
  const db = bgDb(t.services);
  const b = await createBudget(db, { name: `Presupuesto ${phase} ${Math.random()}`, phase });
  const g = await createGroup(db, b.id, 'Por comuna');
  const h1 = await createHeading(db, { budget_id: b.id, group_id: g.id, name: 'Comuna 1', amount: 1000, commune_id: 1 });
  const city = await createHeading(db, { budget_id: b.id, group_id: (await createGroup(db, b.id, 'Toda la ciudad')).id, name: 'Toda la ciudad', amount: 5000 });
  return { db, id: b.id, h1: h1.id, city: city.id };
}

const count = async (table: 'bg_proposals' | 'bg_proposal_files' | 'bg_milestones') => Number((await bgDb(t.services).selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
const fileRows = async () => Number((await t.services.db.selectFrom('files').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

test('a proposal with images, a PDF, an address and a point in its heading\'s commune; bad files and places refused', async () => {
  const b = await budgetIn('accepting');
  const resident = await createUser(t.services, { verified: true, communeId: 1 });
  const c = await new TestClient(t.app).signInAs(t.services, resident.id);
  const form = await c.get(`/budgets/${b.id}/proposals/new`);
  assert.equal(form.statusCode, 200);
  assert.match(form.body, /enctype="multipart\/form-data"/);
  assert.match(form.body, /action="\/budgets\/\d+\/proposals\?_csrf=/);
  assert.match(form.body, /data-island="map"[^>]*data-pick="f-lat,f-lng"/);
  assert.match(form.body, /<svg id="bg-pick-map"/, 'the map is drawn without JavaScript too');
  assert.match(form.body, /name="address"/);
  assert.match(form.body, /name="images" type="file" multiple/);
  assert.match(form.body, /name="documents" type="file" multiple accept="application\/pdf"/);

  const fields = { title: 'Plaza con juegos', description: 'Juegos nuevos e iluminación en la plaza del barrio', heading: String(b.h1), latitude: IN_1.lat, longitude: IN_1.lng, address: 'Av. Corrientes 1234', tags: 'plaza' };
  const image = await photo();
  const p0 = await count('bg_proposals');
  const f0 = await fileRows();

  // Refused, with the reason, and nothing stored (no proposal, no file).
  const refusals: Array<[Record<string, string>, Parameters<typeof multipart>[1], RegExp]> = [
    [{ ...fields, latitude: IN_2.lat, longitude: IN_2.lng }, [], /El punto está en Comuna 2, no en Comuna 1/],
    [{ ...fields, latitude: OUTSIDE.lat, longitude: OUTSIDE.lng }, [], /El punto está fuera de la ciudad/],
    [{ ...fields, longitude: '' }, [], /Completá la latitud y la longitud/],
    [{ ...fields, address: 'x'.repeat(201) }, [], /La dirección tiene hasta 200 caracteres/],
    [fields, [{ name: 'documents', filename: 'plan.pdf', type: 'application/pdf', data: Buffer.from('not a pdf, just text') }], /&quot;plan.pdf&quot; no es un PDF/],
    [fields, [{ name: 'documents', filename: 'foto.pdf', type: 'application/pdf', data: image }], /no es un PDF/],
    [fields, [{ name: 'documents', filename: 'grande.pdf', type: 'application/pdf', data: pdf(DOCUMENT_MAX_BYTES) }], /pesa más de 5 MB/],
    [fields, [{ name: 'images', filename: 'x.jpg', type: 'image/jpeg', data: Buffer.from('not an image') }], /no es una imagen que podamos leer/],
    [fields, Array.from({ length: 7 }, (_, i) => ({ name: 'images', filename: `${i}.jpg`, type: 'image/jpeg', data: image })), /hasta 6 imágenes/],
  ];
  for (const [f, files, message] of refusals) {
    const res = await postMultipart(c, `/budgets/${b.id}/proposals`, f, files);
    assert.equal(res.statusCode, 422, String(message));
    assert.match(res.body, message);
    assert.match(res.body, /value="Plaza con juegos"/, 'what was typed is kept');
  }
  assert.equal(await count('bg_proposals'), p0);
  assert.equal(await fileRows(), f0, 'no file stored for a refused form');
  // Multipart forms carry their CSRF token in the URL: without it, refused.
  assert.equal((await postMultipart(c, `/budgets/${b.id}/proposals`, fields, [], false)).statusCode, 403);

  const ok = await postMultipart(c, `/budgets/${b.id}/proposals`, fields, [
    { name: 'images', filename: 'plaza.jpg', type: 'image/jpeg', data: image },
    { name: 'documents', filename: 'presupuesto.pdf', type: 'application/pdf', data: pdf(2000) },
  ]);
  assert.equal(ok.statusCode, 303, ok.body.slice(0, 400));
  const pid = Number(/proposals\/(\d+)/.exec(ok.headers.location as string)![1]);
  const p = await b.db.selectFrom('bg_proposals').selectAll().where('id', '=', pid).executeTakeFirstOrThrow();
  assert.equal(p.address, 'Av. Corrientes 1234');
  assert.equal(p.latitude, Number(IN_1.lat));
  const attached = await b.db.selectFrom('bg_proposal_files as a').innerJoin('files as f', 'f.id', 'a.file_id').select(['a.kind', 'a.file_id', 'f.content_type', 'f.width']).where('a.proposal_id', '=', pid).orderBy('a.position').execute();
  assert.deepEqual(attached.map((a) => [a.kind, a.content_type]), [['image', 'image/jpeg'], ['document', 'application/pdf']]);
  assert.ok(attached[0].width! <= 1600, 'the image is resized');
  const img = await t.app.inject(`/files/${attached[0].file_id}`);
  assert.equal((await sharp(img.rawPayload).metadata()).exif, undefined, 'EXIF stripped');

  // A city-wide heading takes any point in the city.
  const cityWide = await postMultipart(c, `/budgets/${b.id}/proposals`, { ...fields, title: 'Bicisendas', heading: String(b.city), latitude: IN_2.lat, longitude: IN_2.lng });
  assert.equal(cityWide.statusCode, 303, cityWide.body.slice(0, 400));

  // The page shows the images, the documents and the place, to anyone.
  const page = await t.app.inject(`/budgets/${b.id}/proposals/${pid}`);
  assert.equal(page.statusCode, 200);
  assert.ok(page.body.includes(`src="/files/${attached[0].file_id}/thumb" alt="Imagen 1 del proyecto &quot;Plaza con juegos&quot;"`));
  assert.ok(page.body.includes(`<a href="/files/${attached[1].file_id}">presupuesto.pdf</a>`));
  assert.match(page.body, /Av. Corrientes 1234 · Comuna 1/);

  // The author edits: removes the image, adds a document; a point outside the commune is refused.
  await c.get(`/budgets/${b.id}/proposals/${pid}/edit`);
  let res = await postMultipart(c, `/budgets/${b.id}/proposals/${pid}/edit`, { ...fields, latitude: IN_2.lat, longitude: IN_2.lng, remove_file: attached[0].file_id });
  assert.equal(res.statusCode, 422);
  assert.equal((await b.db.selectFrom('bg_proposal_files').select('file_id').where('proposal_id', '=', pid).execute()).length, 2, 'nothing removed on a refused edit');
  res = await postMultipart(c, `/budgets/${b.id}/proposals/${pid}/edit`, { ...fields, address: 'Plaza Irlanda', remove_file: attached[0].file_id }, [{ name: 'documents', filename: 'anexo.pdf', type: 'application/pdf', data: pdf() }]);
  assert.equal(res.statusCode, 303, res.body.slice(0, 400));
  const after = await b.db.selectFrom('bg_proposal_files').select(['kind', 'title']).where('proposal_id', '=', pid).orderBy('position').execute();
  assert.deepEqual(after, [{ kind: 'document', title: 'presupuesto.pdf' }, { kind: 'document', title: 'anexo.pdf' }]);
  assert.equal((await b.db.selectFrom('bg_proposals').select('address').where('id', '=', pid).executeTakeFirstOrThrow()).address, 'Plaza Irlanda');

  // English pages say it in English.
  c.cookies.set('cabildo_lang', 'en');
  res = await postMultipart(c, `/budgets/${b.id}/proposals`, { ...fields, latitude: IN_2.lat, longitude: IN_2.lng });
  assert.match(res.body, /The point is in Comuna 2, not in Comuna 1/);
});

test('milestones with a photo, posted by the project\'s responsible office only', async () => {
  const b = await budgetIn('finished');
  const db = b.db;
  const proposal = await db
    .insertInto('bg_proposals')
    .values({ budget_id: b.id, heading_id: b.h1, author_id: null, external_id: null, title: 'Plaza ganadora', feasibility: 'feasible', price: 500, selected: true, latitude: null, longitude: null, unfeasibility_reason: null, price_explanation: null, duration: null, valuator_id: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  const works = await createOffice(t.services, { name: 'Espacio Público' });
  const other = await createOffice(t.services, { name: 'Cultura' });
  const admin = await createUser(t.services, { roles: ['admin'] });
  const responsible = await createUser(t.services, { roles: ['official'], officeIds: [works.id] });
  const outsider = await createUser(t.services, { roles: ['official'], officeIds: [other.id] });
  const url = `/budgets/${b.id}/proposals/${proposal.id}`;

  // Nobody but an administrator before an office is named.
  const rc = await new TestClient(t.app).signInAs(t.services, responsible.id);
  await rc.get(url);
  assert.equal((await postMultipart(rc, `${url}/milestones`, { title: 'Obra iniciada', status: 'in_progress' })).statusCode, 403);

  const ac = await new TestClient(t.app).signInAs(t.services, admin.id);
  let page = await ac.get(url);
  assert.match(page.body, /name="office"/);
  assert.equal((await ac.post(`${url}/office`, { office: '999999' })).statusCode, 400);
  assert.equal((await ac.post(`${url}/office`, { office: String(works.id) })).statusCode, 303);
  const audit = await t.services.db.selectFrom('audit_log').selectAll().where('action', '=', 'budget.proposal.office').execute();
  assert.equal(audit.length, 1);

  const oc = await new TestClient(t.app).signInAs(t.services, outsider.id);
  page = await oc.get(url);
  assert.doesNotMatch(page.body, /name="photo"/, 'no milestone form for another office');
  const res = await postMultipart(oc, `${url}/milestones`, { title: 'Obra iniciada', status: 'in_progress' });
  assert.equal(res.statusCode, 403);
  assert.match(res.body, /Solo la oficina responsable/);

  page = await rc.get(url);
  assert.match(page.body, /name="photo" type="file"/);
  assert.match(page.body, /Espacio Público/);
  const m0 = await count('bg_milestones');
  const bad = await postMultipart(rc, `${url}/milestones`, { title: 'Obra iniciada', status: 'in_progress' }, [{ name: 'photo', filename: 'obra.jpg', type: 'image/jpeg', data: Buffer.from('nope') }]);
  assert.equal(bad.statusCode, 400);
  assert.equal(await count('bg_milestones'), m0, 'nothing stored with a bad photo');
  const ok = await postMultipart(rc, `${url}/milestones`, { title: 'Obra iniciada', status: 'in_progress', happened_on: '2026-04-01' }, [{ name: 'photo', filename: 'obra.jpg', type: 'image/jpeg', data: await photo() }]);
  assert.equal(ok.statusCode, 303, ok.body.slice(0, 300));
  const m = await db.selectFrom('bg_milestones').selectAll().where('proposal_id', '=', proposal.id).executeTakeFirstOrThrow();
  assert.ok(m.photo_file_id);
  const stored = await t.app.inject(`/files/${m.photo_file_id}`);
  const meta = await sharp(stored.rawPayload).metadata();
  assert.ok(meta.width! <= 1600 && meta.exif === undefined, 'resized and stripped');
  page = await t.app.inject(url);
  assert.ok(page.body.includes(`src="/files/${m.photo_file_id}/thumb" alt="Foto del hito &quot;Obra iniciada&quot;"`));
});

test('an address alone is geocoded and its point checked against the heading\'s commune', async () => {
  const b = await budgetIn('accepting');
  const resident = await createUser(t.services, { verified: true, communeId: 1 });
  const c = await new TestClient(t.app).signInAs(t.services, resident.id);
  await c.get(`/budgets/${b.id}/proposals/new`);
  const fields = { title: 'Huerta comunitaria', description: 'Una huerta con riego por goteo para el barrio', heading: String(b.h1), latitude: '', longitude: '', tags: '' };
  const p0 = await count('bg_proposals');
  for (const [address, message] of [
    ['Parque Dos 200', /El punto está en Comuna 2, no en Comuna 1/],
    ['Córdoba capital', /Esa dirección está fuera de la ciudad/],
    ['Calle que no existe 1', /No encontramos esa dirección en la ciudad/],
  ] as const) {
    const res = await postMultipart(c, `/budgets/${b.id}/proposals`, { ...fields, address });
    assert.equal(res.statusCode, 422, address);
    assert.match(res.body, message);
  }
  assert.equal(await count('bg_proposals'), p0);
  let res = await postMultipart(c, `/budgets/${b.id}/proposals`, { ...fields, address: 'Plaza Uno 100' });
  assert.equal(res.statusCode, 303, res.body.slice(0, 300));
  let p = await b.db.selectFrom('bg_proposals').selectAll().where('id', '=', Number(/proposals\/(\d+)/.exec(res.headers.location as string)![1])).executeTakeFirstOrThrow();
  assert.deepEqual([p.address, p.latitude, p.longitude], ['Plaza Uno 100', Number(IN_1.lat), Number(IN_1.lng)]);
  // With the geocoder down the address is kept as typed, without a point.
  res = await postMultipart(c, `/budgets/${b.id}/proposals`, { ...fields, address: 'Geocoder caído' });
  assert.equal(res.statusCode, 303, res.body.slice(0, 300));
  p = await b.db.selectFrom('bg_proposals').selectAll().where('id', '=', Number(/proposals\/(\d+)/.exec(res.headers.location as string)![1])).executeTakeFirstOrThrow();
  assert.deepEqual([p.address, p.latitude], ['Geocoder caído', null]);
});

// Writes that fail change nothing (no audit entry, no orphan file, no new modified date), updates
// keep a deleted dataset deleted, and DCAT fields are validated instead of silently dropped.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestClient, type TestContext } from '../../core/testing/harness';
import { ckanFixture, rejects, type CkanClient, form } from './testing';
import { odDb } from './store';

let t: TestContext;
let anon: CkanClient;
let editor: CkanClient;
let junior: CkanClient;
let officeSlug: string;
let memberId: number;

before(async () => {
  ({ t, anon, editor, junior, officeSlug, memberId } = await ckanFixture({
    office: ['agencia-de-control', 'Agencia de Control'],
    otherOffice: ['legislatura', 'Legislatura'],
    themes: [['gobierno', 'Gobierno']],
  }));
  await editor.action.package_create({ name: 'habilitaciones', title: 'Habilitaciones', owner_org: officeSlug });
});

after(async () => {
  await t.close();
});


async function snapshot() {
  const db = odDb(t.services);
  const [audit, files, resources, versions, dataset] = await Promise.all([
    db.selectFrom('audit_log').select('action').execute(),
    db.selectFrom('files').select('id').execute(),
    db.selectFrom('od_resources').select(['id', 'state']).execute(),
    db.selectFrom('od_resource_versions').select(['resource_id', 'version']).execute(),
    db.selectFrom('od_datasets').select(['metadata_modified']).where('name', '=', 'habilitaciones').executeTakeFirstOrThrow(),
  ]);
  return { audit: audit.map((a) => a.action), files: files.map((f) => f.id).sort(), resources, versions, modified: dataset.metadata_modified.toISOString() };
}

test('a refused upload (ragged CSV) creates nothing: no resource, audit entry, stored file or new modified date', async () => {
  // Which blobs are removed from storage (the files row alone would leave the bytes behind).
  const removed: string[] = [];
  const storage = t.services.files.storage;
  const remove = storage.remove.bind(storage);
  storage.remove = async (key: string) => {
    removed.push(key);
    await remove(key);
  };
  const before = await snapshot();
  const e = await rejects(editor.action.resource_create(form({ package_id: 'habilitaciones', format: 'CSV' }, { name: 'r.csv', data: Buffer.from('a,b\n1,2\n3,4,5\n') })), 'Validation Error');
  assert.match(String((e.upload as string[])[0]), /Row 3/);
  assert.deepEqual(await snapshot(), before);
  assert.equal(removed.length, 1);
  assert.equal(await storage.exists(removed[0]), false);

  // A good one is created, audited, and its file kept.
  const ok = (await editor.action.resource_create(form({ package_id: 'habilitaciones', name: 'Locales', format: 'CSV' }, { name: 'l.csv', data: Buffer.from('local,rubro\nA,kiosco\nB,bar\n') }))) as { id: string; datastore_active: boolean };
  assert.equal(ok.datastore_active, true);
  const created = await snapshot();
  assert.equal(created.audit.filter((a) => a === 'resource.create').length, before.audit.filter((a) => a === 'resource.create').length + 1);
  assert.equal(created.files.length, before.files.length + 1);
  assert.notEqual(created.modified, before.modified);

  // A refused new version keeps the old table, file and version list, and leaves no new file.
  const beforeUpdate = await snapshot();
  await rejects(editor.action.resource_update(form({ id: ok.id, format: 'CSV' }, { name: 'x.csv', data: Buffer.from('local,rubro\nC\n') })), 'Validation Error');
  assert.deepEqual(await snapshot(), beforeUpdate);
  assert.equal(removed.length, 2);
  const rows = (await anon.action.datastore_search({ resource_id: ok.id })) as { total: number };
  assert.equal(rows.total, 2);
  assert.ok((await Promise.all(created.files.map((id) => storage.exists(id)))).every(Boolean));
});

test('package_update and package_patch keep a deleted dataset deleted, as CKAN does; an explicit state restores it', async () => {
  await editor.action.package_create({ name: 'borrado', title: 'Borrado', owner_org: officeSlug });
  await editor.action.package_delete({ id: 'borrado' });
  const updated = (await editor.action.package_update({ id: 'borrado', name: 'borrado', title: 'Borrado (actualizado)', owner_org: officeSlug })) as { state: string };
  assert.equal(updated.state, 'deleted');
  const patched = (await editor.action.package_patch({ id: 'borrado', notes: 'sigue borrado' })) as { state: string };
  assert.equal(patched.state, 'deleted');
  await rejects(anon.action.package_show({ id: 'borrado' }), 'Not Found Error');
  assert.ok(!((await anon.action.package_list()) as string[]).includes('borrado'));
  const restored = (await editor.action.package_patch({ id: 'borrado', state: 'active' })) as { state: string };
  assert.equal(restored.state, 'active');
  assert.ok(((await anon.action.package_list()) as string[]).includes('borrado'));
});

test('accrualPeriodicity must be ISO 8601, dates must be real dates, sizes not negative: 409 Validation Error', async () => {
  const bad = await rejects(
    editor.action.package_create({ name: 'periodico', owner_org: officeSlug, extras: [{ key: 'accrualPeriodicity', value: 'mensual' }, { key: 'issued', value: '2021-02-30' }], modified: 'ayer' }),
    'Validation Error',
  );
  assert.ok(Array.isArray(bad.accrualPeriodicity));
  assert.match(String((bad.issued as string[])[0]), /2021-02-30/);
  assert.ok(Array.isArray(bad.modified));
  assert.ok(!((await anon.action.package_list()) as string[]).includes('periodico'));
  for (const p of ['R/P1D', 'R/PT1H', 'R/P0.5M', 'R/P3M', 'eventual']) {
    const ok = (await editor.action.package_create({ name: `p-${p.toLowerCase().replace(/[^a-z0-9]/g, '')}`, owner_org: officeSlug, accrualPeriodicity: p, issued: '2021-02-28' })) as { extras: Array<{ key: string; value: string }> };
    assert.equal(ok.extras.find((x) => x.key === 'accrualPeriodicity')?.value, p);
    assert.match(ok.extras.find((x) => x.key === 'issued')!.value, /^2021-02-28T00:00:00/);
  }
  await rejects(editor.action.package_patch({ id: 'habilitaciones', accrualPeriodicity: 'R/P' }), 'Validation Error');
  const size = await rejects(editor.action.resource_create({ package_id: 'habilitaciones', url: 'https://example.org/x.csv', size: -5 }), 'Validation Error');
  assert.ok(Array.isArray(size.size));
});

test('the dataset form says what is wrong with the periodicity, in the visitor language', async () => {
  const client = await new TestClient(t.app).signInAs(t.services, memberId);
  await client.get('/datasets/new');
  const res = await client.post('/datasets/new', { title: 'Inspecciones', name: 'inspecciones', notes: 'Inspecciones realizadas.', owner_org: officeSlug, license_id: 'CC-BY-4.0', accrualPeriodicity: 'cada tanto' });
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /La periodicidad debe ser un intervalo ISO 8601/);
  assert.match(res.body, /aria-describedby="od-period-error"/);
  assert.ok(!((await editor.action.package_list()) as string[]).includes('inspecciones'));
});

test("the API follows the workflow: an office's editors write drafts and send them to review; its administrators publish", async () => {
  type Pkg = { private: boolean; title: string };
  // No "private": an editor's dataset waits in review, not public.
  const sent = (await junior.action.package_create({ name: 'inspecciones-api', title: 'Inspecciones', owner_org: officeSlug })) as Pkg;
  assert.equal(sent.private, true);
  await rejects(anon.action.package_show({ id: 'inspecciones-api' }), 'Authorization Error');
  const status = async (name: string) => (await odDb(t.services).selectFrom('od_datasets').select('status').where('name', '=', name).executeTakeFirstOrThrow()).status;
  assert.equal(await status('inspecciones-api'), 'review');
  // Asking to publish is refused and changes nothing.
  await rejects(junior.action.package_create({ name: 'publicado-api', owner_org: officeSlug, private: false }), 'Authorization Error');
  assert.ok(!((await editor.action.package_list()) as string[]).includes('publicado-api'));
  await rejects(junior.action.package_patch({ id: 'inspecciones-api', private: false }), 'Authorization Error');
  assert.equal(await status('inspecciones-api'), 'review');
  // The administrator publishes; the editor then edits it (it stays published) but cannot unpublish it.
  assert.equal(((await editor.action.package_patch({ id: 'inspecciones-api', private: false })) as Pkg).private, false);
  const edited = (await junior.action.package_patch({ id: 'inspecciones-api', title: 'Inspecciones realizadas' })) as Pkg;
  assert.deepEqual([edited.private, edited.title], [false, 'Inspecciones realizadas']);
  await rejects(junior.action.package_patch({ id: 'inspecciones-api', private: true }), 'Authorization Error');
  assert.equal(await status('inspecciones-api'), 'published');
});

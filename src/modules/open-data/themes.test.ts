import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestClient, createUser, type TestContext } from '../../core/testing/harness';
import { createApiToken } from '../../core/auth/session';
import { ckanFixture, rejects, type CkanClient } from './testing';
import { odDb, findDataset } from './store';

let t: TestContext;
let anon: CkanClient;
let editor: CkanClient;
let admin: CkanClient;
let officeSlug: string;
let memberId: number;
let adminId: number;

before(async () => {
  ({ t, anon, editor, officeSlug, memberId } = await ckanFixture({
    office: ['secretaria-de-ambiente', 'Secretaría de Ambiente'],
    otherOffice: ['consejo-de-la-magistratura', 'Consejo de la Magistratura'],
    themes: [['ambiente', 'Ambiente']],
  }));
  adminId = (await createUser(t.services, { roles: ['admin'] })).id;
  admin = anon.withToken((await createApiToken(t.services.db, adminId, 'test')).token);
});

after(async () => {
  await t.close();
});

const audited = (action: string) => t.services.db.selectFrom('audit_log').selectAll().where('action', '=', action).execute();

test('group_create: site administrators only, CKAN name rules, audited', async () => {
  const e = await rejects(editor.action.group_create({ name: 'energia', title: 'Energía' }), 'Authorization Error');
  assert.match(String(e.message), /site administrators/);
  await rejects(anon.action.group_create({ name: 'energia' }), 'Authorization Error');
  const g = (await admin.action.group_create({ name: 'energia', title: 'Energía', description: 'Generación y consumo' })) as Record<string, unknown>;
  assert.equal(g.name, 'energia');
  assert.equal(g.title, 'Energía');
  assert.equal(g.type, 'group');
  assert.equal(g.state, 'active');
  assert.equal(g.package_count, 0);
  assert.ok((await anon.action.group_list({})).includes('energia'));
  assert.equal((await audited('theme.create')).length, 1);
  // The name defaults the title, as CKAN's display_name.
  assert.equal(((await admin.action.group_create({ name: 'turismo' })) as Record<string, unknown>).title, 'turismo');
  const dup = await rejects(admin.action.group_create({ name: 'energia' }), 'Validation Error');
  assert.deepEqual(dup.name, ['Group name already exists in database']);
  const bad = await rejects(admin.action.group_create({ name: 'Energía Limpia' }), 'Validation Error');
  assert.match(String((bad.name as string[])[0]), /lowercase alphanumeric/);
  assert.deepEqual((await rejects(admin.action.group_create({}), 'Validation Error')).name, ['Missing value']);
  assert.equal((await audited('theme.create')).length, 2, 'refused creates store nothing');
});

test('group_update replaces, group_patch merges, a rename follows into the datasets', async () => {
  await admin.action.group_create({ name: 'agua', title: 'Agua', description: 'Agua potable' });
  await editor.action.package_create({ name: 'calidad-del-agua', title: 'Calidad del agua', owner_org: officeSlug, groups: [{ name: 'agua' }, { name: 'ambiente' }], private: false });
  await rejects(editor.action.group_patch({ id: 'agua', title: 'X' }), 'Authorization Error');
  const patched = (await admin.action.group_patch({ id: 'agua', title: 'Agua y saneamiento' })) as Record<string, unknown>;
  assert.equal(patched.title, 'Agua y saneamiento');
  assert.equal(patched.description, 'Agua potable', 'patch keeps what it is not given');
  const renamed = (await admin.action.group_update({ id: patched.id, name: 'agua-y-saneamiento', title: 'Agua y saneamiento' })) as Record<string, unknown>;
  assert.equal(renamed.name, 'agua-y-saneamiento');
  assert.equal(renamed.description, '', 'update replaces the fields it is not given');
  const pkg = (await anon.action.package_show({ id: 'calidad-del-agua' })) as { groups: Array<{ name: string }> };
  assert.deepEqual(pkg.groups.map((g) => g.name).sort(), ['agua-y-saneamiento', 'ambiente']);
  const found = (await anon.action.package_search({ fq: 'groups:agua-y-saneamiento' })) as { count: number };
  assert.equal(found.count, 1);
  await rejects(admin.action.group_update({ id: 'no-such-theme', title: 'x' }), 'Not Found Error');
  assert.deepEqual((await rejects(admin.action.group_update({ id: renamed.id, name: 'ambiente' }), 'Validation Error')).name, ['Group name already exists in database']);
  assert.equal((await audited('theme.update')).length, 1);
  assert.equal((await audited('theme.patch')).length, 1);
});

test('group_delete soft-deletes the theme and removes it from its datasets, as CKAN', async () => {
  await admin.action.group_create({ name: 'ruido', title: 'Ruido' });
  await editor.action.package_create({ name: 'mediciones-de-ruido', title: 'Mediciones de ruido', owner_org: officeSlug, groups: [{ name: 'ruido' }, { name: 'ambiente' }], private: false });
  await rejects(editor.action.group_delete({ id: 'ruido' }), 'Authorization Error');
  assert.equal(await admin.action.group_delete({ id: 'ruido' }), null);
  assert.ok(!(await anon.action.group_list({})).includes('ruido'));
  await rejects(anon.action.group_show({ id: 'ruido' }), 'Not Found Error');
  assert.equal(((await admin.action.group_show({ id: 'ruido' })) as Record<string, unknown>).state, 'deleted');
  const d = await findDataset(odDb(t.services), 'mediciones-de-ruido');
  assert.deepEqual(d!.themes, ['ambiente']);
  // A deleted theme can no longer be chosen, and its name stays taken.
  await rejects(editor.action.package_patch({ id: 'mediciones-de-ruido', groups: [{ name: 'ruido' }] }), 'Validation Error');
  await rejects(admin.action.group_create({ name: 'ruido' }), 'Validation Error');
  const [entry] = await audited('theme.delete');
  assert.equal((entry.details as { datasets: number }).datasets, 1);
  // Restoring it (CKAN: group_patch with state active) makes it selectable again.
  assert.equal(((await admin.action.group_patch({ id: 'ruido', state: 'active' })) as Record<string, unknown>).state, 'active');
  assert.ok((await anon.action.group_list({})).includes('ruido'));
});

test('/datasets/themes: site administrators list, create and edit themes; officials get 403', async () => {
  const official = await new TestClient(t.app).signInAs(t.services, memberId);
  assert.equal((await official.get('/datasets/themes')).statusCode, 403);
  assert.equal((await official.post('/datasets/themes', { name: 'forjado', title: 'Forjado' })).statusCode, 403);
  assert.equal((await t.app.inject('/datasets/themes')).statusCode, 303, 'visitors are sent to sign in');

  const client = await new TestClient(t.app).signInAs(t.services, adminId);
  const page = await client.get('/datasets/themes');
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /name="_csrf"/);
  assert.match(page.body, /<code>ambiente<\/code>/);
  assert.equal((await client.post('/datasets/themes', { name: 'sin-token' }, { csrf: false })).statusCode, 403);

  const created = await client.post('/datasets/themes', { name: 'salud', title: 'Salud', description: 'Hospitales y centros de salud' });
  assert.equal(created.statusCode, 303);
  const listed = await client.get(created.headers.location as string);
  assert.match(listed.body, /Se guardó el sector «salud»/);
  assert.match(listed.body, /<code>salud<\/code>/);

  const refused = await client.post('/datasets/themes', { name: 'Salud Pública', title: 'x' });
  assert.equal(refused.statusCode, 400);
  assert.match(refused.body, /solo minúsculas sin acentos/);
  assert.equal(((await anon.action.group_list({})) as string[]).filter((n) => n.startsWith('salud')).length, 1);

  const salud = (await anon.action.group_show({ id: 'salud' })) as { id: string };
  const form = await client.get('/datasets/themes?edit=salud');
  assert.match(form.body, new RegExp(`name="id" value="${salud.id}"`));
  const edited = await client.post('/datasets/themes', { id: salud.id, name: 'salud', title: 'Salud pública', description: '' });
  assert.equal(edited.statusCode, 303);
  assert.equal(((await anon.action.group_show({ id: 'salud' })) as { title: string }).title, 'Salud pública');
  assert.equal((await client.post('/datasets/themes', { id: salud.id, op: 'delete' })).statusCode, 303);
  await rejects(anon.action.group_show({ id: 'salud' }), 'Not Found Error');
  const en = await client.get('/datasets/themes?lang=en');
  assert.match(en.body, /Catalogue sectors \(themes\)/);
});

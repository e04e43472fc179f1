// What a harvest and the registry sync may and may not undo: themes they need come back (audited),
// the offices and themes they create are audited, and a dataset deleted or unpublished here stays so.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Portal } from 'ckanapi';
import { createTestApp, createOffice, createUser, type TestContext } from '../../core/testing/harness';
import { createApiToken } from '../../core/auth/session';
import type { ModuleManifest, PublishedDataset } from '../../core/manifest';
import { manifest } from './manifest';
import { odDb, findDataset } from './store';
import { harvest } from './harvest';
import { syncRegistry, PLATFORM_OFFICE } from './registry-sync';
import { rejects, type CkanClient } from './testing';

/** A module that publishes one dataset through the registry, in a theme of its own. */
const plazas: PublishedDataset = {
  slug: 'plazas-cabildo',
  title: { 'es-AR': 'Plazas', en: 'Squares' },
  description: { 'es-AR': 'Las plazas de la ciudad.', en: 'The city squares.' },
  theme: 'espacios-verdes',
  keywords: ['plazas'],
  accrualPeriodicity: 'R/P1Y',
  resources: [{ slug: 'plazas-csv', name: 'Plazas (CSV)', format: 'CSV', mediaType: 'text/csv', produce: async () => 'id,nombre\n1,Plaza de Mayo\n' }],
};
const publisher: ModuleManifest = {
  name: 'fixture-publisher',
  path: '/fixture',
  titleKey: 'open-data.title',
  descriptionKey: 'open-data.description',
  status: 'ready',
  datasets: [plazas],
};

const OFFICE = 'ministerio-de-salud';
const ORIGIN = 'portal.example';

let t: TestContext;
let dir: string;
let anon: CkanClient;
/** An administrator of OFFICE (publishes and unpublishes its datasets). */
let editor: CkanClient;
/** A site administrator (themes, and the platform office's datasets). */
let admin: CkanClient;

before(async () => {
  t = await createTestApp({ modules: [manifest, publisher] });
  const base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  const office = await createOffice(t.services, { slug: OFFICE, name: 'Ministerio de Salud' });
  const member = await createUser(t.services, { roles: ['official'], officeIds: [office.id], officeAdminIds: [office.id] });
  const siteAdmin = await createUser(t.services, { roles: ['admin'] });
  anon = new Portal(base);
  editor = anon.withToken((await createApiToken(t.services.db, member.id, 'test')).token);
  admin = anon.withToken((await createApiToken(t.services.db, siteAdmin.id, 'test')).token);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'od-harvest-state-'));
});

after(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  await t.close();
});

type Pkg = Record<string, unknown>;

/** Writes one package_show result into the harvested folder (one file per dataset). */
function source(pkg: Pkg) {
  fs.writeFileSync(path.join(dir, `${pkg.name}.json`), JSON.stringify({ success: true, result: pkg }));
}

const pkg = (name: string, over: Pkg = {}): Pkg => ({
  name,
  title: name,
  notes: 'Primera versión',
  organization: { name: OFFICE, title: 'Ministerio de Salud' },
  groups: [{ name: 'salud', title: 'Salud' }],
  resources: [{ id: `${name}-r1`, name: 'Datos', url: `https://portal.example/${name}.csv`, format: 'CSV' }],
  ...over,
});

const run = async () => {
  const r = await harvest(t.services, dir, { origin: ORIGIN });
  assert.deepEqual(r.errors, []);
  return r;
};

const audited = (action: string) =>
  t.services.db.selectFrom('audit_log').select(['actor_id', 'actor_email', 'subject_type', 'subject_id', 'office_id', 'details']).where('action', '=', action).orderBy('id').execute();

const row = (name: string) => findDataset(odDb(t.services), name).then((d) => d!);

/** What a visitor sees of a theme: its facet count, whether group_list lists it, and the dataset's groups in package_show. */
async function seen(theme: string, dataset: string) {
  const search = (await anon.action.package_search({ 'facet.field': '["groups"]', rows: 1 })) as { facets: { groups: Record<string, number> } };
  const listed = ((await anon.action.group_list({})) as string[]).includes(theme);
  const shown = (await anon.action.package_show({ id: dataset })) as { groups: Array<{ name: string }> };
  return { facet: search.facets.groups[theme] ?? 0, listed, groups: shown.groups.map((g) => g.name) };
}

test('harvest: the offices and themes it creates are audited, with the system as the actor', async () => {
  source(pkg('farmacias-de-turno'));
  source(pkg('reclamos-defensoria', { organization: { name: 'defensoria-del-pueblo', title: 'Defensoría del Pueblo' }, groups: [{ name: 'derechos', title: 'Derechos' }] }));
  const r = await run();
  assert.deepEqual([r.created, r.offices, r.themes, r.themesRestored], [2, 1, 2, 0]);

  const defensoria = await t.services.db.selectFrom('offices').select(['id', 'name']).where('slug', '=', 'defensoria-del-pueblo').executeTakeFirstOrThrow();
  assert.equal(defensoria.name, 'Defensoría del Pueblo');
  const offices = await audited('office.create');
  assert.equal(offices.length, 1, 'only the office it created (ministerio-de-salud existed)');
  assert.deepEqual(
    { ...offices[0], details: { slug: (offices[0].details as { after: { slug: string } }).after.slug, origin: (offices[0].details as { origin: string }).origin } },
    { actor_id: null, actor_email: 'system', subject_type: 'office', subject_id: String(defensoria.id), office_id: defensoria.id, details: { slug: 'defensoria-del-pueblo', origin: ORIGIN } },
  );
  const themes = await audited('theme.create');
  assert.deepEqual(
    themes.map((a) => [a.actor_id, a.actor_email, a.subject_type, a.details]),
    [
      [null, 'system', 'theme', { name: 'salud', title: 'Salud', origin: ORIGIN, dataset: 'farmacias-de-turno' }],
      [null, 'system', 'theme', { name: 'derechos', title: 'Derechos', origin: ORIGIN, dataset: 'reclamos-defensoria' }],
    ],
  );
  const ids = await odDb(t.services).selectFrom('od_themes').select(['id', 'name']).execute();
  assert.deepEqual(themes.map((a) => a.subject_id), ['salud', 'derechos'].map((n) => ids.find((x) => x.name === n)!.id));

  // A second run over the same source creates nothing, so records nothing.
  const again = await run();
  assert.deepEqual([again.unchanged, again.offices, again.themes], [2, 0, 0]);
  assert.equal((await audited('office.create')).length, 1);
  assert.equal((await audited('theme.create')).length, 2);
});

test('harvest: a deleted theme that a changed source still uses comes back, audited; facet, group_list and package_show agree', async () => {
  await admin.action.group_delete({ id: 'salud' });
  assert.deepEqual(await seen('salud', 'farmacias-de-turno'), { facet: 0, listed: false, groups: [] });

  // The source has not changed: the administrators' decision stands.
  assert.equal((await run()).themesRestored, 0);
  assert.deepEqual(await seen('salud', 'farmacias-de-turno'), { facet: 0, listed: false, groups: [] });

  // The source changed and still files the dataset under `salud`: the theme is brought back.
  source(pkg('farmacias-de-turno', { notes: 'Segunda versión' }));
  const r = await run();
  assert.deepEqual([r.updated, r.themes, r.themesRestored], [1, 0, 1]);
  assert.deepEqual(await seen('salud', 'farmacias-de-turno'), { facet: 1, listed: true, groups: ['salud'] });
  const theme = (await anon.action.group_show({ id: 'salud' })) as { state: string; title: string; package_count: number };
  assert.deepEqual([theme.state, theme.title, theme.package_count], ['active', 'Salud', 1]);
  const restored = await audited('theme.restore');
  assert.deepEqual(
    restored.map((a) => [a.actor_id, a.actor_email, a.subject_type, a.details]),
    [[null, 'system', 'theme', { name: 'salud', origin: ORIGIN, dataset: 'farmacias-de-turno' }]],
  );
});

test('harvest: a dataset deleted here stays deleted across changed re-harvests; its metadata follows the source, and restoring it brings that back', async () => {
  await admin.action.group_create({ name: 'hospitales', title: 'Hospitales' });
  source(pkg('centros-de-salud', { groups: [{ name: 'salud' }, { name: 'hospitales' }] }));
  assert.equal((await run()).created, 1);
  await editor.action.package_delete({ id: 'centros-de-salud' });
  await admin.action.group_delete({ id: 'hospitales' });

  source(
    pkg('centros-de-salud', {
      notes: 'Segunda versión',
      groups: [{ name: 'salud' }, { name: 'hospitales' }],
      resources: [
        { id: 'centros-de-salud-r1', name: 'Datos', url: 'https://portal.example/centros-de-salud.csv', format: 'CSV' },
        { id: 'centros-de-salud-r2', name: 'Mapa', url: 'https://portal.example/centros-de-salud.geojson', format: 'GeoJSON' },
      ],
    }),
  );
  const r = await run();
  assert.deepEqual([r.updated, r.themesRestored], [1, 0]);
  const d = await row('centros-de-salud');
  assert.equal(d.state, 'deleted', 'still deleted');
  assert.equal(d.status, 'published');
  assert.equal(d.notes, 'Segunda versión', 'its metadata was updated');
  // A deleted theme is not brought back for a dataset nobody sees: it is left out.
  assert.deepEqual(d.themes, ['salud']);
  await rejects(anon.action.group_show({ id: 'hospitales' }), 'Not Found Error');
  await rejects(anon.action.package_show({ id: 'centros-de-salud' }), 'Not Found Error');
  assert.ok(!((await anon.action.package_list()) as string[]).includes('centros-de-salud'));
  assert.equal(((await anon.action.package_search({ q: 'name:centros-de-salud' })) as { count: number }).count, 0);
  const entry = (await audited('dataset.harvest.update')).filter((a) => a.subject_id === d.id).at(-1)!;
  assert.deepEqual([entry.actor_email, entry.details], ['system', { origin: ORIGIN, name: 'centros-de-salud', state: 'deleted', status: 'published' }]);

  // Unchanged since: nothing to do.
  assert.equal((await run()).unchanged, 3);
  assert.equal((await row('centros-de-salud')).state, 'deleted');

  // Its office's administrator restores it: the source's current version comes back.
  await editor.action.package_patch({ id: 'centros-de-salud', state: 'active' });
  const back = (await anon.action.package_show({ id: 'centros-de-salud' })) as { notes: string; resources: Array<{ format: string }> };
  assert.equal(back.notes, 'Segunda versión');
  assert.deepEqual(back.resources.map((x) => x.format), ['CSV', 'GEOJSON']);
  assert.deepEqual(await seen('hospitales', 'centros-de-salud'), { facet: 0, listed: false, groups: ['salud'] });
});

test('harvest: a dataset unpublished here stays unpublished; a harvest never publishes an existing dataset, and a source that makes one private withdraws it', async () => {
  source(pkg('vacunatorios'));
  assert.equal((await run()).created, 1);
  assert.equal((await row('vacunatorios')).status, 'published');
  await editor.action.package_patch({ id: 'vacunatorios', private: true });
  const local = (await row('vacunatorios')).status;
  assert.notEqual(local, 'published');

  source(pkg('vacunatorios', { notes: 'Segunda versión' }));
  assert.equal((await run()).updated, 1);
  let d = await row('vacunatorios');
  assert.deepEqual([d.state, d.status, d.notes], ['active', local, 'Segunda versión']);
  await rejects(anon.action.package_show({ id: 'vacunatorios' }), 'Authorization Error');
  assert.equal(((await anon.action.package_search({ q: 'name:vacunatorios' })) as { count: number }).count, 0);
  assert.equal(((await editor.action.package_show({ id: 'vacunatorios' })) as { private: boolean }).private, true);

  // Published here again; then the source makes it private: the harvest takes it out of publication.
  await editor.action.package_patch({ id: 'vacunatorios', private: false });
  const statusBefore = (await audited('dataset.status')).length;
  source(pkg('vacunatorios', { notes: 'Tercera versión', private: true }));
  assert.equal((await run()).updated, 1);
  d = await row('vacunatorios');
  assert.deepEqual([d.state, d.status, d.notes], ['active', 'draft', 'Tercera versión']);
  const withdrawn = (await audited('dataset.status')).slice(statusBefore);
  assert.deepEqual(
    withdrawn.map((a) => [a.actor_email, a.subject_id, a.details]),
    [['system', d.id, { from: 'published', to: 'draft', origin: ORIGIN, reason: 'private at the source' }]],
  );
  await rejects(anon.action.package_show({ id: 'vacunatorios' }), 'Authorization Error');

  // Public again at the source: it stays a draft until its office publishes it.
  source(pkg('vacunatorios', { notes: 'Cuarta versión', private: false }));
  assert.equal((await run()).updated, 1);
  d = await row('vacunatorios');
  assert.deepEqual([d.status, d.notes], ['draft', 'Cuarta versión']);
  assert.equal((await audited('dataset.status')).length, statusBefore + 1);
});

test('registry sync: creates the platform office and its themes with audit entries; a deleted theme comes back, audited; facet, group_list and package_show agree', async () => {
  const declared = t.services.registry.datasets().length;
  const officesBefore = (await audited('office.create')).length;
  const first = await syncRegistry(t.services);
  assert.equal(first.created, declared);
  const platform = await t.services.db.selectFrom('offices').select('id').where('slug', '=', PLATFORM_OFFICE).executeTakeFirstOrThrow();
  const offices = (await audited('office.create')).slice(officesBefore);
  assert.deepEqual(
    offices.map((a) => [a.actor_email, a.subject_id, (a.details as { after: { slug: string } }).after.slug]),
    [['system', String(platform.id), PLATFORM_OFFICE]],
  );
  assert.equal((offices[0].details as { module: string }).module, t.services.registry.datasets()[0].module);
  const created = (await audited('theme.create')).filter((a) => (a.details as { module?: string }).module === 'fixture-publisher');
  assert.deepEqual(
    created.map((a) => [a.actor_id, a.actor_email, a.details]),
    [[null, 'system', { name: 'espacios-verdes', title: 'Espacios verdes', module: 'fixture-publisher', dataset: 'plazas-cabildo' }]],
  );
  assert.deepEqual(await seen('espacios-verdes', 'plazas-cabildo'), { facet: 1, listed: true, groups: ['espacios-verdes'] });

  await admin.action.group_delete({ id: 'espacios-verdes' });
  assert.deepEqual(await seen('espacios-verdes', 'plazas-cabildo'), { facet: 0, listed: false, groups: [] });
  // An unchanged declaration leaves the administrator's delete alone, sync after sync.
  for (let k = 0; k < 2; k++) {
    const same = await syncRegistry(t.services);
    assert.deepEqual([same.created, same.updated, same.unchanged], [0, 0, declared]);
    assert.deepEqual(await seen('espacios-verdes', 'plazas-cabildo'), { facet: 0, listed: false, groups: [] });
  }
  assert.equal((await audited('theme.restore')).filter((a) => (a.details as { module?: string }).module === 'fixture-publisher').length, 0);
  // A changed declaration that still uses it brings it back.
  const plazas = t.services.registry.datasets().find((x) => x.dataset.slug === 'plazas-cabildo')!.dataset;
  const keywords = plazas.keywords;
  plazas.keywords = [...keywords, 'bancos'];
  const r = await syncRegistry(t.services);
  assert.deepEqual([r.created, r.updated, r.unchanged], [0, 1, declared - 1]);
  assert.deepEqual(await seen('espacios-verdes', 'plazas-cabildo'), { facet: 1, listed: true, groups: ['espacios-verdes'] });
  const restored = (await audited('theme.restore')).filter((a) => (a.details as { module?: string }).module === 'fixture-publisher');
  assert.deepEqual(
    restored.map((a) => [a.actor_email, a.details]),
    [['system', { name: 'espacios-verdes', module: 'fixture-publisher', dataset: 'plazas-cabildo' }]],
  );
  assert.equal((await audited('office.create')).length, officesBefore + 1, 'the office is created once');
  // The declaration as it was, for the next test.
  plazas.keywords = keywords;
  assert.equal((await syncRegistry(t.services)).updated, 1);
});

test('registry sync: a registry dataset unpublished or deleted here stays so every hour; its metadata still follows the declaration', async () => {
  const declared = t.services.registry.datasets().length;
  const entries = async () => (await audited('dataset.registry.update')).length;

  // Unpublished here: the next syncs leave it unpublished and, when nothing was declared anew, untouched.
  await admin.action.package_patch({ id: 'plazas-cabildo', private: true });
  const local = (await row('plazas-cabildo')).status;
  assert.notEqual(local, 'published');
  const before = await entries();
  assert.deepEqual(Object.values(await syncRegistry(t.services)), [0, 0, declared]);
  assert.equal(await entries(), before);
  assert.equal((await row('plazas-cabildo')).status, local);
  plazas.title['es-AR'] = 'Plazas y parques';
  assert.equal((await syncRegistry(t.services)).updated, 1);
  let d = await row('plazas-cabildo');
  assert.deepEqual([d.state, d.status, d.title], ['active', local, 'Plazas y parques']);
  await rejects(anon.action.package_show({ id: 'plazas-cabildo' }), 'Authorization Error');
  const entry = (await audited('dataset.registry.update')).at(-1)!;
  assert.deepEqual([entry.actor_email, entry.details], ['system', { module: 'fixture-publisher', state: 'active', status: local }]);

  // Published again, then deleted here, and its theme deleted too: neither comes back.
  await admin.action.package_patch({ id: 'plazas-cabildo', private: false });
  await admin.action.package_delete({ id: 'plazas-cabildo' });
  await admin.action.group_delete({ id: 'espacios-verdes' });
  const restoredBefore = (await audited('theme.restore')).length;
  assert.deepEqual(Object.values(await syncRegistry(t.services)), [0, 0, declared]);
  plazas.description['es-AR'] = 'Las plazas y parques de la ciudad.';
  assert.equal((await syncRegistry(t.services)).updated, 1);
  d = await row('plazas-cabildo');
  assert.deepEqual([d.state, d.status, d.notes, d.themes], ['deleted', 'published', 'Las plazas y parques de la ciudad.', []]);
  await rejects(anon.action.package_show({ id: 'plazas-cabildo' }), 'Not Found Error');
  await rejects(anon.action.group_show({ id: 'espacios-verdes' }), 'Not Found Error');
  assert.equal((await audited('theme.restore')).length, restoredBefore);
  assert.deepEqual(Object.values(await syncRegistry(t.services)), [0, 0, declared], 'and then stays unchanged');

  // Restored here: it is current; its theme, deleted by an administrator, stays deleted until the
  // declaration changes, and then comes back with it.
  await admin.action.package_patch({ id: 'plazas-cabildo', state: 'active' });
  assert.equal(((await anon.action.package_show({ id: 'plazas-cabildo' })) as { notes: string }).notes, 'Las plazas y parques de la ciudad.');
  assert.deepEqual(Object.values(await syncRegistry(t.services)), [0, 0, declared]);
  assert.deepEqual(await seen('espacios-verdes', 'plazas-cabildo'), { facet: 0, listed: false, groups: [] });
  plazas.description['es-AR'] = 'Las plazas, plazoletas y parques de la ciudad.';
  assert.equal((await syncRegistry(t.services)).updated, 1);
  assert.deepEqual(await seen('espacios-verdes', 'plazas-cabildo'), { facet: 1, listed: true, groups: ['espacios-verdes'] });
  assert.equal((await audited('theme.restore')).length, restoredBefore + 1);
});

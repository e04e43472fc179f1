import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestApp, type TestContext } from '../../core/testing/harness';
import { manifest } from './manifest';
import { odDb, findDataset } from './store';
import { harvest } from './harvest';

let t: TestContext;
let dir: string;

before(async () => {
  t = await createTestApp({ modules: [manifest] });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'od-reharvest-'));
});

after(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  await t.close();
});

const pkg = (resources: Array<Record<string, unknown>>, notes: string) => ({
  name: 'arbolado-publico',
  title: 'Arbolado público',
  notes,
  organization: { name: 'secretaria-de-ambiente', title: 'Secretaría de Ambiente' },
  groups: [{ name: 'ambiente', title: 'Ambiente' }],
  resources,
});

test('re-harvesting an updated dataset updates its links in place: their version history survives', async () => {
  const file = path.join(dir, 'arbolado.json');
  const db = odDb(t.services);
  fs.writeFileSync(
    file,
    JSON.stringify(
      pkg(
        [
          { id: 'a1b2c3d4-0000-4000-8000-000000000001', name: 'Censo 2017', url: 'https://example.org/arbolado-2017.csv', format: 'CSV', size: 100 },
          { id: 'a1b2c3d4-0000-4000-8000-000000000002', name: 'Especies', url: 'https://example.org/especies.csv', format: 'CSV' },
          { name: 'Mapa', url: 'https://example.org/arbolado.geojson', format: 'GeoJSON' },
          { name: 'Viejo', url: 'https://example.org/viejo.xls', format: 'XLS' },
        ],
        'Primera versión',
      ),
    ),
  );
  assert.equal((await harvest(t.services, file, { origin: 'data.example' })).created, 1);
  const d = (await findDataset(db, 'arbolado-publico'))!;
  const first = await db.selectFrom('od_resources').selectAll().where('dataset_id', '=', d.id).execute();
  const idOf = (url: string) => first.find((r) => r.url === url)!.id;
  const mapId = idOf('https://example.org/arbolado.geojson');
  const oldId = idOf('https://example.org/viejo.xls');

  fs.writeFileSync(
    file,
    JSON.stringify(
      pkg(
        [
          // Same id, new file at the source: a new version of the same resource.
          { id: 'a1b2c3d4-0000-4000-8000-000000000001', name: 'Censo 2017 (corregido)', url: 'https://example.org/arbolado-2017-v2.csv', format: 'CSV', size: 120 },
          { id: 'a1b2c3d4-0000-4000-8000-000000000002', name: 'Especies', url: 'https://example.org/especies.csv', format: 'CSV' },
          // No id (data.json distributions): matched by URL.
          { name: 'Mapa del arbolado', url: 'https://example.org/arbolado.geojson', format: 'GeoJSON' },
          { name: 'Censo 2021', url: 'https://example.org/arbolado-2021.csv', format: 'CSV' },
        ],
        'Segunda versión',
      ),
    ),
  );
  assert.equal((await harvest(t.services, file, { origin: 'data.example' })).updated, 1);
  const after = await db.selectFrom('od_resources').selectAll().where('dataset_id', '=', d.id).orderBy('position').execute();
  const active = after.filter((r) => r.state === 'active');
  assert.deepEqual(
    active.map((r) => [r.id === 'a1b2c3d4-0000-4000-8000-000000000001' || r.id === 'a1b2c3d4-0000-4000-8000-000000000002' || r.id === mapId ? 'kept' : 'new', r.name]),
    [['kept', 'Censo 2017 (corregido)'], ['kept', 'Especies'], ['kept', 'Mapa del arbolado'], ['new', 'Censo 2021']],
  );
  const versions = async (id: string) =>
    (await db.selectFrom('od_resource_versions').select(['version', 'url']).where('resource_id', '=', id).orderBy('version').execute()).map((v) => [v.version, v.url]);
  assert.deepEqual(await versions('a1b2c3d4-0000-4000-8000-000000000001'), [
    [1, 'https://example.org/arbolado-2017.csv'],
    [2, 'https://example.org/arbolado-2017-v2.csv'],
  ]);
  assert.deepEqual(await versions('a1b2c3d4-0000-4000-8000-000000000002'), [[1, 'https://example.org/especies.csv']], 'an unchanged link gets no new version');
  assert.deepEqual(await versions(mapId), [[1, 'https://example.org/arbolado.geojson']]);
  // A link gone from the source is soft-deleted: hidden, its history kept.
  assert.equal(after.find((r) => r.id === oldId)?.state, 'deleted');
  assert.deepEqual(await versions(oldId), [[1, 'https://example.org/viejo.xls']]);
  const page = await t.app.inject('/datasets/arbolado-publico');
  assert.equal(page.statusCode, 200);
  assert.doesNotMatch(page.body, /viejo\.xls/);
  assert.match(page.body, /Censo 2021/);
  const r = await t.app.inject('/api/3/action/package_show?id=arbolado-publico');
  assert.deepEqual(
    (JSON.parse(r.body).result.resources as Array<{ format: string }>).map((x) => x.format),
    ['CSV', 'CSV', 'GEOJSON', 'CSV'],
  );
  // A third run of the same source changes nothing.
  assert.equal((await harvest(t.services, file, { origin: 'data.example' })).unchanged, 1);
});

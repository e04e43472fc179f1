import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestApp, type TestContext } from '../../core/testing/harness';
import { manifest } from './manifest';
import { odDb } from './store';

let t: TestContext;
const log: string[] = [];

before(async () => {
  t = await createTestApp({ modules: [manifest] });
});

after(async () => {
  await t.close();
});

test('the demo seed loads BA Data’s catalogue, real files into the DataStore and the budget explorer; a second run changes nothing', async () => {
  await manifest.seed!(t.services, { log: (m) => log.push(m), demoDir: 'data/demo' });
  const db = odDb(t.services);
  const count = async () => Number((await db.selectFrom('od_datasets').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const datasets = await count();
  assert.ok(datasets >= 383, `only ${datasets} datasets`);
  const orgs = (await t.app.inject('/api/3/action/organization_list')).json().result as string[];
  assert.ok(orgs.length >= 31);
  const groups = (await t.app.inject('/api/3/action/group_list')).json().result as string[];
  assert.ok(groups.length >= 12);
  const loaded = await db.selectFrom('od_datastore').select(['resource_id', 'encoding', 'row_count']).execute();
  assert.ok(loaded.length >= 6);
  // The BA Obras file is Latin-1 and `;`-separated: detected, decoded, loaded.
  const obras = await db.selectFrom('od_resources').innerJoin('od_datastore', 'od_datastore.resource_id', 'od_resources.id').select(['od_resources.id', 'od_datastore.encoding', 'od_datastore.delimiter', 'od_datastore.row_count']).where('od_resources.id', '=', 'juqdkmgo-181-resource').executeTakeFirstOrThrow();
  assert.equal(obras.encoding, 'windows-1252');
  assert.equal(obras.delimiter, ';');
  assert.equal(obras.row_count, 1525, 'the whole BA Obras snapshot (1,525 records; some cells span lines)');
  // The other files we have are the real catalogue's resources they are: boundaries as GeoJSON
  // uploads (maps on their pages), SUACI requests per commune in the DataStore.
  const uploaded = await db.selectFrom('od_resources').select(['id', 'format', 'url_type']).where('id', 'in', ['1c3d185b-fdc9-474b-b41b-9bd960a3806e', 'b0b627ac-5b47-4574-89ac-6999b63598ee', 'cdfa6d6f-c165-4675-8eaf-ada653b93797']).orderBy('id').execute();
  assert.deepEqual(uploaded.map((r) => [r.id, r.format, r.url_type]), [
    ['1c3d185b-fdc9-474b-b41b-9bd960a3806e', 'GEOJSON', 'upload'],
    ['b0b627ac-5b47-4574-89ac-6999b63598ee', 'GEOJSON', 'upload'],
    ['cdfa6d6f-c165-4675-8eaf-ada653b93797', 'CSV', 'upload'],
  ]);
  const suaci = await db.selectFrom('od_datastore').select('row_count').where('resource_id', '=', 'cdfa6d6f-c165-4675-8eaf-ada653b93797').executeTakeFirstOrThrow();
  assert.ok(Number(suaci.row_count) > 10_000, `SUACI per commune: ${suaci.row_count} rows`);
  const search = (await t.app.inject(`/api/3/action/datastore_search?resource_id=${obras.id}&limit=200`)).json().result;
  assert.ok(search.records.some((r: Record<string, string>) => /[áéíóúñ]/i.test(Object.values(r).join(' '))));
  assert.ok(!search.records.some((r: Record<string, string>) => Object.values(r).join(' ').includes('\uFFFD')));
  const budget = await t.app.inject('/datasets/budget');
  assert.equal(budget.statusCode, 200);
  assert.match(budget.body, /Ministerio de Educación/);
  assert.match(budget.body, /ilustrativ/);
  assert.match(budget.body, /<svg role="img"/);
  const audit = Number((await t.services.db.selectFrom('audit_log').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

  await manifest.seed!(t.services, { log: (m) => log.push(m), demoDir: 'data/demo' });
  assert.equal(await count(), datasets);
  assert.equal((await db.selectFrom('od_datastore').select('resource_id').execute()).length, loaded.length);
  const audit2 = Number((await t.services.db.selectFrom('audit_log').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  // Nothing changed, so nothing is recorded (the registry's datasets are skipped when unchanged too).
  assert.equal(audit2, audit);
});

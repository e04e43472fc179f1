import type { Services } from '../../core/services';
import { systemActor } from '../../core/audit';
import { odDb, findDataset } from './store';
import { coreDb } from './store';
import { createSourceOffice, ensureTheme } from './harvest';

/** The office that publishes what the platform itself produces (the registry's datasets). */
export const PLATFORM_OFFICE = 'cabildo';

const titleOf = (slug: string) => slug.replace(/-/g, ' ').replace(/^./, (c) => c.toUpperCase());

/**
 * Turns what core and every module declare in the open-data registry into catalogue datasets
 * (upsert by slug). Their resources point at /published/<dataset>/<resource>, which core
 * produces on request, so the files are always current.
 */
export async function syncRegistry(services: Services): Promise<{ created: number; updated: number; unchanged: number }> {
  const db = odDb(services);
  const base = services.config.baseUrl;
  let created = 0;
  let updated = 0;
  let unchanged = 0;
  for (const { module, dataset } of services.registry.datasets()) {
    await db.transaction().execute(async (trx) => {
      const existing = await findDataset(trx, dataset.slug);
      // A dataset of that name from elsewhere (an official's, a harvest's) is left alone.
      if (existing && existing.source !== `registry:${module}`) return;
      const office =
        (await trx.selectFrom('offices').select('id').where('slug', '=', PLATFORM_OFFICE).executeTakeFirst())?.id ??
        (await createSourceOffice(services, trx, { slug: PLATFORM_OFFICE, name: services.config.cityName, kind: 'other', description: '' }, { module }));
      // A deleted theme the declaration still uses comes back (audited), as the harvester's; but not
      // for a dataset deleted here, which then simply leaves it out.
      const live = !existing || existing.state === 'active';
      // `state` and `status` are the officials' here: set when the dataset is created (published,
      // active), never afterwards, so that a registry dataset deleted or unpublished here stays so
      // across syncs. Its metadata and resources still follow the declaration (restoring it then
      // brings back the current one), and an unchanged declaration still writes nothing.
      const values = {
        title: dataset.title['es-AR'],
        notes: dataset.description['es-AR'],
        office_id: office,
        license_id: 'CC-BY-4.0',
        license_title: 'Creative Commons Attribution 4.0',
        license_url: 'https://creativecommons.org/licenses/by/4.0/',
        accrual_periodicity: dataset.accrualPeriodicity,
        language: ['spa'],
        tags: dataset.keywords,
        themes: [dataset.theme],
        extras: JSON.stringify([{ key: 'title_en', value: dataset.title.en }, { key: 'notes_en', value: dataset.description.en }]),
        source: `registry:${module}`,
      };
      const rows = dataset.resources.map((r, i) => ({
        id: `registry-${dataset.slug}-${r.slug}`,
        row: { dataset_id: existing?.id ?? `registry-${dataset.slug}`, position: i, name: r.name, format: r.format, mimetype: r.mediaType, url: `${base}/published/${dataset.slug}/${r.slug}`, state: 'active' },
      }));
      // A theme an administrator deleted since stays deleted while the declaration is unchanged
      // (its datasets lost it with the delete: compare without it).
      const themeState = (await trx.selectFrom('od_themes').select('state').where('name', '=', dataset.theme).executeTakeFirst())?.state;
      if (existing && themeState === 'deleted' && (await sameAsStored(trx, existing, { ...values, themes: [] }, rows))) {
        unchanged++;
        return;
      }
      const theme = await ensureTheme(services, trx, { name: dataset.theme, title: titleOf(dataset.theme) }, { module, dataset: dataset.slug }, live);
      if (!theme) values.themes = [];
      let id: string;
      if (existing) {
        id = existing.id;
        // Nothing declared changed: no new modified date, no audit entry, no catalogue version bump.
        if (await sameAsStored(trx, existing, values, rows)) {
          unchanged++;
          return;
        }
        await trx.updateTable('od_datasets').set({ ...values, modified: new Date(), metadata_modified: new Date() }).where('id', '=', id).execute();
        updated++;
      } else {
        id = `registry-${dataset.slug}`;
        await trx.insertInto('od_datasets').values({ id, name: dataset.slug, ...values, status: 'published', state: 'active', issued: new Date(), modified: new Date(), metadata_created: new Date(), metadata_modified: new Date() }).execute();
        created++;
      }
      for (const [i, r] of dataset.resources.entries()) {
        const { id: rid, row } = rows[i];
        const found = await trx.selectFrom('od_resources').select('id').where('id', '=', rid).executeTakeFirst();
        if (found) await trx.updateTable('od_resources').set(row).where('id', '=', rid).execute();
        else {
          await trx.insertInto('od_resources').values({ id: rid, ...row, fields: '[]', extras: '{}', created: new Date(), last_modified: new Date() }).execute();
          await trx.insertInto('od_resource_versions').values({ resource_id: rid, version: 1, url: row.url, format: r.format }).execute();
        }
      }
      await services.audit.record(systemActor, { action: existing ? 'dataset.registry.update' : 'dataset.registry.create', subjectType: 'dataset', subjectId: id, officeId: office, details: { module, ...(existing ? { state: existing.state, status: existing.status } : {}) } }, coreDb(trx));
    });
  }
  return { created, updated, unchanged };
}

type Trx = Parameters<typeof findDataset>[0];

async function sameAsStored(
  trx: Trx,
  existing: NonNullable<Awaited<ReturnType<typeof findDataset>>>,
  values: Record<string, unknown>,
  rows: Array<{ id: string; row: Record<string, unknown> }>,
): Promise<boolean> {
  const stored = existing as unknown as Record<string, unknown>;
  // Extras are a set of keys: the API (package_patch) stores them sorted, the sync in its own order.
  const byKey = (extras: unknown) => [...((extras ?? []) as Array<{ key: string; value: string }>)].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const [k, v] of Object.entries(values)) {
    const [mine, theirs] = k === 'extras' ? [byKey(JSON.parse(String(v))), byKey(stored[k])] : [v, stored[k]];
    if (JSON.stringify(theirs) !== JSON.stringify(mine)) return false;
  }
  const resources = await trx
    .selectFrom('od_resources')
    .select(['id', 'dataset_id', 'position', 'name', 'format', 'mimetype', 'url', 'state'])
    .where('id', 'in', rows.length ? rows.map((r) => r.id) : ['-'])
    .execute();
  return rows.every(({ id, row }) => {
    const found = resources.find((x) => x.id === id) as Record<string, unknown> | undefined;
    return !!found && Object.entries(row).every(([k, v]) => found[k] === v);
  });
}

export const SYNC_JOB = 'open-data.sync-registry';

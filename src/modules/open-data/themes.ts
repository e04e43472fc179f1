import { sql } from 'kysely';
import type { Services } from '../../core/services';
import type { Actor } from '../../core/audit';
import { odDb, coreDb, newId, findTheme, type Viewer, type OdDb } from './store';
import { authError, notFoundError, validationError } from './ckan';
import type { ThemeRow } from './tables';

type Params = Record<string, unknown>;

/** A refused theme: the field, CKAN's English message (API) and the message key (pages). */
export class ThemeError extends Error {
  constructor(
    readonly field: string,
    message: string,
    readonly key: string,
  ) {
    super(message);
  }
}

export interface ThemeInput {
  name: string;
  title: string;
  description: string;
  image_url: string;
  state: 'active' | 'deleted';
}

const text = (v: unknown) => (v == null ? '' : String(v).trim());

/** CKAN's group schema: the name rules of `name_validator` and `group_name_validator`. */
async function checkTheme(db: OdDb, input: ThemeInput, currentId?: string): Promise<void> {
  const { name } = input;
  if (!name) throw new ThemeError('name', 'Missing value', 'open-data.themes.error.missing');
  if (name.length < 2) throw new ThemeError('name', 'Must be at least 2 characters long', 'open-data.themes.error.name');
  if (name.length > 100) throw new ThemeError('name', 'Name must be a maximum of 100 characters long', 'open-data.themes.error.name');
  if (!/^[a-z0-9_-]+$/.test(name)) throw new ThemeError('name', 'Must be purely lowercase alphanumeric (ascii) characters and these symbols: -_', 'open-data.themes.error.name');
  if (input.title.length > 200) throw new ThemeError('title', 'Must be a maximum of 200 characters long', 'open-data.themes.error.title');
  if (input.image_url && !/^https?:\/\//i.test(input.image_url)) throw new ThemeError('image_url', 'Please provide a valid URL', 'open-data.themes.error.url');
  // A deleted theme keeps its name, as CKAN's.
  const taken = await db.selectFrom('od_themes').select('id').where('name', '=', name).executeTakeFirst();
  if (taken && taken.id !== currentId) throw new ThemeError('name', 'Group name already exists in database', 'open-data.themes.error.exists');
}

function inputFrom(p: Params, current?: ThemeRow): ThemeInput {
  const name = p.name === undefined && current ? current.name : text(p.name);
  const state = p.state === undefined ? (current?.state ?? 'active') : text(p.state);
  if (state !== 'active' && state !== 'deleted') throw new ThemeError('state', 'Must be "active" or "deleted"', 'open-data.themes.error.state');
  return { name, title: text(p.title) || name, description: text(p.description), image_url: text(p.image_url), state };
}

function requireSiteAdmin(viewer: Viewer, what: string) {
  if (!viewer.admin) throw authError(`User not authorized to ${what} groups (site administrators only)`);
}

async function themeOrFail(db: OdDb, p: Params): Promise<ThemeRow> {
  const ref = text(p.id ?? p.name);
  if (!ref) throw validationError({ id: ['Missing value'] });
  const t = await findTheme(db, ref);
  if (!t) throw notFoundError('Group was not found.');
  return t;
}

/** CKAN's API turns a ThemeError into a 409 Validation Error on its field. */
export function asCkan(err: unknown): never {
  if (err instanceof ThemeError) throw validationError({ [err.field]: [err.message] });
  throw err;
}

export async function createTheme(services: Services, actor: Actor, viewer: Viewer, p: Params): Promise<ThemeRow> {
  requireSiteAdmin(viewer, 'create');
  const db = odDb(services);
  const input = inputFrom(p);
  await checkTheme(db, input);
  return db.transaction().execute(async (trx) => {
    const row = await trx.insertInto('od_themes').values({ id: newId(), ...input }).returningAll().executeTakeFirstOrThrow();
    await services.audit.record(actor, { action: 'theme.create', subjectType: 'theme', subjectId: row.id, details: { name: row.name, title: row.title } }, coreDb(trx));
    return row;
  });
}

/**
 * `group_update` replaces the editable fields (absent ones are emptied, the name is kept),
 * `group_patch` merges into the current theme. Datasets name their themes, so a rename follows
 * into every dataset that has it.
 */
export async function updateTheme(services: Services, actor: Actor, viewer: Viewer, p: Params, mode: 'update' | 'patch'): Promise<ThemeRow> {
  requireSiteAdmin(viewer, 'update');
  const db = odDb(services);
  const current = await themeOrFail(db, p);
  const merged: Params = mode === 'patch' ? { ...current, ...p } : { ...p };
  // The reference may be the name: it is not a rename.
  if (mode === 'update' && p.name === undefined) delete merged.name;
  if (p.id === undefined && p.name !== undefined && mode === 'update') delete merged.name;
  const input = inputFrom(merged, current);
  await checkTheme(db, input, current.id);
  return db.transaction().execute(async (trx) => {
    const row = await trx.updateTable('od_themes').set(input).where('id', '=', current.id).returningAll().executeTakeFirstOrThrow();
    let datasets = 0;
    if (row.name !== current.name) {
      const r = await trx
        .updateTable('od_datasets')
        .set({ themes: sql`array_replace(themes, ${current.name}, ${row.name})` })
        .where(sql<boolean>`themes @> array[${current.name}]::text[]`)
        .executeTakeFirst();
      datasets = Number(r.numUpdatedRows);
    }
    await services.audit.record(
      actor,
      { action: `theme.${mode}`, subjectType: 'theme', subjectId: row.id, details: { name: row.name, ...(row.name !== current.name ? { renamedFrom: current.name, datasets } : {}) } },
      coreDb(trx),
    );
    return row;
  });
}

/** CKAN's group_delete: the group is soft-deleted (its name stays taken) and its memberships go. */
export async function deleteTheme(services: Services, actor: Actor, viewer: Viewer, p: Params): Promise<{ theme: ThemeRow; datasets: number }> {
  requireSiteAdmin(viewer, 'delete');
  const db = odDb(services);
  const current = await themeOrFail(db, p);
  return db.transaction().execute(async (trx) => {
    const theme = await trx.updateTable('od_themes').set({ state: 'deleted' }).where('id', '=', current.id).returningAll().executeTakeFirstOrThrow();
    const r = await trx
      .updateTable('od_datasets')
      .set({ themes: sql`array_remove(themes, ${current.name})` })
      .where(sql<boolean>`themes @> array[${current.name}]::text[]`)
      .executeTakeFirst();
    const datasets = Number(r.numUpdatedRows);
    await services.audit.record(actor, { action: 'theme.delete', subjectType: 'theme', subjectId: theme.id, details: { name: theme.name, datasets } }, coreDb(trx));
    return { theme, datasets };
  });
}

/** Every theme (deleted ones too) with its number of datasets (any status), for the admin page. */
export async function themesForAdmin(db: OdDb): Promise<Array<ThemeRow & { datasets: number; published: number }>> {
  const rows = await db
    .selectFrom('od_themes as t')
    .selectAll('t')
    .select(sql<number>`(select count(*)::int from od_datasets d where t.name = any(d.themes) and d.state = 'active')`.as('datasets'))
    .select(sql<number>`(select count(*)::int from od_datasets d where t.name = any(d.themes) and d.state = 'active' and d.status = 'published')`.as('published'))
    .orderBy('t.state')
    .orderBy('t.title')
    .execute();
  return rows.map((r) => ({ ...r, datasets: Number(r.datasets), published: Number(r.published) }));
}

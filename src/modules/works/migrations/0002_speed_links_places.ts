import { sql, type Kysely } from 'kysely';

/**
 * - works_state.version: bumped in the same transaction as every write to the works, so every
 *   app process can tell with one tiny read whether its cached pages and figures are current.
 * - search_tsv: the search text's tsvector, stored, so a text search reads the GIN index and no
 *   longer recomputes to_tsvector for every candidate row; the GIN indexes without a pending list.
 * - pb_ref_*: the BA Elige (participatory budgeting) project a work comes from, kept as a link
 *   (modules do not import each other, and the project may live on another site).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('works_state')
    .addColumn('id', 'integer', (c) => c.primaryKey().check(sql`id = 1`))
    .addColumn('version', 'bigint', (c) => c.notNull().defaultTo(1))
    .execute();
  await sql`insert into works_state (id, version) values (1, 1)`.execute(db);

  await sql`alter table works_projects add column search_tsv tsvector generated always as (es_tsvector(name || ' ' || description || ' ' || coalesce(address, '') || ' ' || coalesce(contractor_name, ''))) stored`.execute(db);
  // fastupdate off: with it on, rows written by an import sit in the index's unsorted pending
  // list until a vacuum, and the planner rightly prefers a sequential scan meanwhile (24 ms
  // instead of 1 ms for a search over 10,000 works). Imports are rare; searches are not.
  await sql`create index works_projects_search_tsv_idx on works_projects using gin (search_tsv) with (fastupdate = off)`.execute(db);
  await sql`drop index if exists works_projects_fts_idx`.execute(db);
  await sql`alter index works_projects_communes_idx set (fastupdate = off)`.execute(db);
  await sql`select gin_clean_pending_list('works_projects_communes_idx'::regclass)`.execute(db);

  await db.schema
    .alterTable('works_projects')
    .addColumn('pb_ref_id', 'text')
    .addColumn('pb_ref_title', 'text')
    .addColumn('pb_ref_url', 'text')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('works_projects').dropColumn('pb_ref_id').dropColumn('pb_ref_title').dropColumn('pb_ref_url').execute();
  await sql`drop index if exists works_projects_search_tsv_idx`.execute(db);
  await sql`alter table works_projects drop column if exists search_tsv`.execute(db);
  await sql`alter index works_projects_communes_idx reset (fastupdate)`.execute(db);
  await sql`create index if not exists works_projects_fts_idx on works_projects using gin (es_tsvector(name || ' ' || description || ' ' || coalesce(address, '') || ' ' || coalesce(contractor_name, '')))`.execute(db);
  await db.schema.dropTable('works_state').ifExists().execute();
}

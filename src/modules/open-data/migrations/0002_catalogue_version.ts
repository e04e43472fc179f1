import { sql, type Kysely } from 'kysely';

/**
 * One number that changes whenever the catalogue or the DataStore changes. Read answers
 * (package_search, datastore_search) are cached per process under it, so every app process
 * serves fresh results after a write anywhere, at the cost of one tiny read per request.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table od_catalogue_version (id integer primary key check (id = 1), version bigint not null)`.execute(db);
  await sql`insert into od_catalogue_version values (1, 1)`.execute(db);
  await sql`
    create or replace function od_bump_catalogue_version() returns trigger language plpgsql as $$
    begin
      update od_catalogue_version set version = version + 1 where id = 1;
      return null;
    end $$`.execute(db);
  // View and download counters change on every visit: they do not invalidate answers.
  const columns: Record<string, string> = {
    od_datasets:
      'update of name, title, notes, office_id, status, state, license_id, license_title, license_url, author, author_email, maintainer, maintainer_email, url, version, accrual_periodicity, temporal, spatial, language, issued, modified, tags, themes, extras, metadata_modified',
    od_resources: 'update of dataset_id, position, name, description, format, mimetype, url, url_type, file_id, size, hash, state, fields, datastore_active, extras, last_modified',
    od_themes: 'update',
    od_datastore: 'update',
    offices: 'update',
  };
  for (const [t, update] of Object.entries(columns)) {
    await sql
      .raw(`create trigger ${t}_bump_version after insert or ${update} or delete or truncate on ${t} for each statement execute function od_bump_catalogue_version()`)
      .execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['od_datasets', 'od_resources', 'od_themes', 'od_datastore', 'offices']) {
    await sql.raw(`drop trigger if exists ${t}_bump_version on ${t}`).execute(db);
  }
  await sql`drop function if exists od_bump_catalogue_version()`.execute(db);
  await sql`drop table if exists od_catalogue_version`.execute(db);
}

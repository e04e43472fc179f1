import { sql, type Kysely } from 'kysely';

/**
 * CKAN's `_full_text`: every DataStore table gets a tsvector column of its row's values, kept by
 * a trigger and searched through a GIN index, so that datastore_search's `q` does not scan and
 * re-parse every row. Values are joined in column order, columns starting with "_" left out (as
 * CKAN's populate_full_text_trigger does), read with Spanish stemming and without accents (as
 * the catalogue's search), and capped at 200,000 characters so no row can exceed tsvector's 1 MB.
 * `od_datastore.full_text` says the column is complete and indexed; until then `q` computes the
 * same vector row by row (same answers, only slower).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create or replace function od_full_text(j json) returns tsvector
    language sql stable parallel safe as $$
      select public.es_tsvector(left((select string_agg(value, ' ') from json_each_text(j) where key not like '\\_%'), 200000))
    $$`.execute(db);
  await sql`
    create or replace function od_full_text_trigger() returns trigger
    language plpgsql as $$
    begin
      new."_full_text" := public.od_full_text(row_to_json(new));
      return new;
    end $$`.execute(db);
  await sql`alter table od_datastore add column full_text boolean not null default false`.execute(db);
  // Tables loaded before this migration get theirs from the job, as big loads do.
  await sql`insert into jobs (kind, payload) select 'open-data.datastore-full-text', jsonb_build_object('resourceId', resource_id) from od_datastore`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table od_datastore drop column if exists full_text`.execute(db);
  await sql`drop function if exists od_full_text_trigger()`.execute(db);
  await sql`drop function if exists od_full_text(json)`.execute(db);
}

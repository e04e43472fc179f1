import { sql, type Kysely } from 'kysely';

/**
 * Search speed and the DataStore's write actions.
 *
 * The formats of a dataset's active resources, kept on the dataset row (upper-case, distinct) by a
 * trigger on od_resources: the res_format facet and filter then read the matched rows only,
 * instead of probing od_resources once per matched dataset.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table od_datasets add column res_formats text[] not null default '{}'`.execute(db);
  await sql`
    create or replace function od_dataset_formats(ds text) returns text[] language sql stable as $$
      select coalesce(array_agg(distinct upper(format) order by upper(format)), '{}')
      from od_resources where dataset_id = ds and state = 'active' and format <> ''
    $$`.execute(db);
  await sql`update od_datasets d set res_formats = od_dataset_formats(d.id)`.execute(db);
  await sql`
    create or replace function od_resources_formats() returns trigger language plpgsql as $$
    begin
      if tg_op <> 'INSERT' then
        update od_datasets set res_formats = od_dataset_formats(old.dataset_id)
        where id = old.dataset_id and res_formats is distinct from od_dataset_formats(old.dataset_id);
      end if;
      if tg_op <> 'DELETE' then
        update od_datasets set res_formats = od_dataset_formats(new.dataset_id)
        where id = new.dataset_id and res_formats is distinct from od_dataset_formats(new.dataset_id);
      end if;
      return null;
    end $$`.execute(db);
  await sql`
    create trigger od_resources_formats after insert or delete or update of format, state, dataset_id on od_resources
    for each row execute function od_resources_formats()`.execute(db);
  await sql`create index od_datasets_formats on od_datasets using gin (res_formats)`.execute(db);
  // datastore_create's primary_key: the columns datastore_upsert matches records on.
  await sql`alter table od_datastore add column primary_key text[] not null default '{}'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists od_resources_formats on od_resources`.execute(db);
  await sql`drop function if exists od_resources_formats()`.execute(db);
  await sql`drop function if exists od_dataset_formats(text)`.execute(db);
  await sql`alter table od_datasets drop column if exists res_formats`.execute(db);
  await sql`alter table od_datastore drop column if exists primary_key`.execute(db);
}

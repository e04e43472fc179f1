import { sql, type Kysely } from 'kysely';

/**
 * Filing keeps the categories in process memory (one round trip fewer per report). A revision that
 * the database bumps on any change to a category or its questions lets the insert check that the
 * copy it validated against is still current, whichever process or tool changed it.
 * Also drops the index on rq_requests.updated_at: nothing filters or sorts by it, and it cost
 * every filing one more index write and every status change its HOT update.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table rq_services add column revision integer not null default 1`.execute(db);
  await sql`
    create or replace function rq_services_bump_revision() returns trigger language plpgsql as $$
    begin
      new.revision := old.revision + 1;
      return new;
    end $$`.execute(db);
  await sql`create trigger rq_services_revision before update on rq_services for each row execute function rq_services_bump_revision()`.execute(db);
  await sql`
    create or replace function rq_attributes_bump_revision() returns trigger language plpgsql as $$
    begin
      if tg_op <> 'INSERT' then
        update rq_services set revision = revision + 1 where id = old.service_id;
      end if;
      if tg_op <> 'DELETE' and (tg_op = 'INSERT' or new.service_id <> old.service_id) then
        update rq_services set revision = revision + 1 where id = new.service_id;
      end if;
      return null;
    end $$`.execute(db);
  await sql`create trigger rq_attributes_revision after insert or update or delete on rq_attributes for each row execute function rq_attributes_bump_revision()`.execute(db);
  await sql`drop index if exists rq_requests_updated_idx`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create index if not exists rq_requests_updated_idx on rq_requests (updated_at)`.execute(db);
  await sql`drop trigger if exists rq_attributes_revision on rq_attributes`.execute(db);
  await sql`drop function if exists rq_attributes_bump_revision()`.execute(db);
  await sql`drop trigger if exists rq_services_revision on rq_services`.execute(db);
  await sql`drop function if exists rq_services_bump_revision()`.execute(db);
  await sql`alter table rq_services drop column if exists revision`.execute(db);
}

import { sql, type Kysely } from 'kysely';

/**
 * Who wrote what, so that a re-import replaces only what came from a file:
 * - works_amendments.source: 'import' (a file) or 'office' (the amendment form). Rows written by
 *   the form before this column existed are recognised by their audit record ('works.amendment'
 *   with the same project, date and reason); every other row came from a file.
 * - works_progress.source: 'import' or 'office'. Imports always wrote the note 'import' and the
 *   form never did unless an official typed it: that note tells them apart.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table works_amendments add column source text not null default 'import' check (source in ('import','office'))`.execute(db);
  await sql`update works_amendments a set source = 'office'
    where exists (select 1 from audit_log l
      where l.action = 'works.amendment' and l.subject_type = 'works_project' and l.subject_id = a.project_id::text
        and l.details->>'date' = a.date and l.details->>'reason' = a.reason)`.execute(db);
  await sql`alter table works_progress add column source text not null default 'office' check (source in ('import','office'))`.execute(db);
  await sql`update works_progress set source = 'import' where note = 'import'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table works_amendments drop column if exists source`.execute(db);
  await sql`alter table works_progress drop column if exists source`.execute(db);
}

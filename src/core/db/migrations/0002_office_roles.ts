import { sql, type Kysely } from 'kysely';

/**
 * A member of an office is an editor (prepares, drafts, answers for it) or its administrator
 * (also approves what the office publishes). Existing members become editors: an administrator
 * must be named on purpose.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table office_members add column role text not null default 'editor' check (role in ('editor', 'admin'))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table office_members drop column role`.execute(db);
}

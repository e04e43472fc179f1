import { sql, type Kysely } from 'kysely';

/**
 * Managed themes: CKAN's group_delete soft-deletes a group (state 'deleted') and drops its
 * memberships, so a deleted theme keeps its row (its name stays taken, as CKAN's).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table od_themes add column state text not null default 'active' check (state in ('active', 'deleted'))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table od_themes drop column if exists state`.execute(db);
}

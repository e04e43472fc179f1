import { sql, type Kysely } from 'kysely';

/**
 * An author an Open311 app named by e-mail only has no account, yet rates the answer through the
 * signed link of the closing e-mail: such a rating has no user.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table rq_ratings alter column user_id drop not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`delete from rq_ratings where user_id is null`.execute(db);
  await sql`alter table rq_ratings alter column user_id set not null`.execute(db);
}

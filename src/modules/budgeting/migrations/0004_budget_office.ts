import type { Kysely } from 'kysely';

/**
 * A budget's organising office: its officials (and administrators) enter paper ballots at the
 * voting points. Without one, only administrators do.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('bg_budgets').addColumn('office_id', 'integer', (c) => c.references('offices.id').onDelete('set null')).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('bg_budgets').dropColumn('office_id').execute();
}

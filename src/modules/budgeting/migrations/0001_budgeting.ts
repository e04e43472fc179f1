import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('bg_budgets')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('year', 'integer')
    .addColumn('phase', 'text', (c) => c.notNull().defaultTo('informing'))
    .addColumn('voting_rule', 'text', (c) => c.notNull().defaultTo('knapsack').check(sql`voting_rule in ('knapsack', 'approval')`))
    .addColumn('max_votes', 'integer')
    .addColumn('result_rule', 'text', (c) => c.notNull().defaultTo('greedy').check(sql`result_rule in ('greedy', 'mes')`))
    .addColumn('max_supports', 'integer', (c) => c.notNull().defaultTo(10))
    .addColumn('currency', 'text', (c) => c.notNull().defaultTo('ARS'))
    .addColumn('source', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('bg_phases')
    .addColumn('budget_id', 'integer', (c) => c.notNull().references('bg_budgets.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('starts_at', 'timestamptz')
    .addColumn('ends_at', 'timestamptz')
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addPrimaryKeyConstraint('bg_phases_pk', ['budget_id', 'kind'])
    .execute();

  await db.schema
    .createTable('bg_groups')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('budget_id', 'integer', (c) => c.notNull().references('bg_budgets.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('bg_headings')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('budget_id', 'integer', (c) => c.notNull().references('bg_budgets.id').onDelete('cascade'))
    .addColumn('group_id', 'integer', (c) => c.notNull().references('bg_groups.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('amount', 'numeric', (c) => c.notNull().check(sql`amount >= 0`))
    .addColumn('population', 'integer')
    .addColumn('commune_id', 'integer', (c) => c.references('communes.id'))
    .execute();
  await db.schema.createIndex('bg_headings_budget_idx').on('bg_headings').column('budget_id').execute();

  await db.schema
    .createTable('bg_proposals')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('budget_id', 'integer', (c) => c.notNull().references('bg_budgets.id').onDelete('cascade'))
    .addColumn('heading_id', 'integer', (c) => c.notNull().references('bg_headings.id').onDelete('cascade'))
    .addColumn('author_id', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('external_id', 'text')
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('tags', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('latitude', 'double precision')
    .addColumn('longitude', 'double precision')
    .addColumn('feasibility', 'text', (c) => c.notNull().defaultTo('undecided').check(sql`feasibility in ('undecided', 'feasible', 'unfeasible')`))
    .addColumn('unfeasibility_reason', 'text')
    .addColumn('price', 'numeric', (c) => c.check(sql`price >= 0`))
    .addColumn('price_explanation', 'text')
    .addColumn('duration', 'text')
    .addColumn('valuator_id', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('selected', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('hidden_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('bg_proposals_heading_idx').on('bg_proposals').column('heading_id').execute();
  await db.schema.createIndex('bg_proposals_budget_idx').on('bg_proposals').column('budget_id').execute();
  // Spelled out rather than es_tsvector(): index builds run with a locked-down search_path on
  // Postgres 17+ (PGlite), where es_tsvector's unqualified call to immutable_unaccent is not found.
  await sql`create index bg_proposals_search_idx on bg_proposals using gin (to_tsvector('spanish'::regconfig, public.immutable_unaccent(title || ' ' || description)))`.execute(db);

  await db.schema
    .createTable('bg_supports')
    .addColumn('proposal_id', 'integer', (c) => c.notNull().references('bg_proposals.id').onDelete('cascade'))
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('budget_id', 'integer', (c) => c.notNull().references('bg_budgets.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('bg_supports_pk', ['proposal_id', 'user_id'])
    .execute();
  await db.schema.createIndex('bg_supports_user_idx').on('bg_supports').columns(['budget_id', 'user_id']).execute();

  // One ballot per resident per group: the database, not the application, is the judge, so two
  // app processes racing on the same resident still store one ballot.
  await db.schema
    .createTable('bg_ballots')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('budget_id', 'integer', (c) => c.notNull().references('bg_budgets.id').onDelete('cascade'))
    .addColumn('group_id', 'integer', (c) => c.notNull().references('bg_groups.id').onDelete('cascade'))
    .addColumn('heading_id', 'integer', (c) => c.notNull().references('bg_headings.id').onDelete('cascade'))
    .addColumn('user_id', 'integer', (c) => c.references('users.id').onDelete('set null'))
    /** Voter id of an imported Pabulib ballot (imports have no accounts). */
    .addColumn('voter_ref', 'text')
    .addColumn('channel', 'text', (c) => c.notNull().defaultTo('online').check(sql`channel in ('online', 'paper', 'import')`))
    .addColumn('entered_by', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('commune_id', 'integer')
    .addColumn('age', 'integer')
    .addColumn('sex', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('bg_ballots_group_user_key', ['group_id', 'user_id'])
    .execute();
  await db.schema.createIndex('bg_ballots_heading_idx').on('bg_ballots').column('heading_id').execute();

  await db.schema
    .createTable('bg_ballot_lines')
    .addColumn('ballot_id', 'integer', (c) => c.notNull().references('bg_ballots.id').onDelete('cascade'))
    .addColumn('proposal_id', 'integer', (c) => c.notNull().references('bg_proposals.id').onDelete('cascade'))
    .addColumn('points', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('bg_ballot_lines_pk', ['ballot_id', 'proposal_id'])
    .execute();
  // Casting an online ballot in one round trip. Each statement of a VOLATILE PL/pgSQL function
  // takes a fresh snapshot, so the lines are replaced after the upsert has waited for (and can see)
  // a racing ballot of the same resident; called alone, the whole call is one transaction.
  await sql`
    create or replace function bg_cast_online_ballot(p_budget int, p_group int, p_heading int, p_user int, p_commune int, p_ids int[])
    returns int language plpgsql volatile as $$
    declare v_id int;
    begin
      insert into bg_ballots (budget_id, group_id, heading_id, user_id, channel, commune_id)
      values (p_budget, p_group, p_heading, p_user, 'online', p_commune)
      on conflict (group_id, user_id) do update set heading_id = excluded.heading_id, commune_id = excluded.commune_id, updated_at = now()
        where bg_ballots.channel = 'online'
          and (bg_ballots.heading_id = excluded.heading_id or not exists (select 1 from bg_ballot_lines o where o.ballot_id = bg_ballots.id))
      returning id into v_id;
      if v_id is null then
        return null;
      end if;
      delete from bg_ballot_lines where ballot_id = v_id and not (proposal_id = any(p_ids));
      insert into bg_ballot_lines (ballot_id, proposal_id, position)
        select v_id, x.pid, x.pos - 1 from unnest(p_ids) with ordinality as x(pid, pos)
        on conflict (ballot_id, proposal_id) do update set position = excluded.position;
      return v_id;
    end $$
  `.execute(db);
  await db.schema.createIndex('bg_ballot_lines_proposal_idx').on('bg_ballot_lines').column('proposal_id').execute();

  await db.schema
    .createTable('bg_comments')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('proposal_id', 'integer', (c) => c.notNull().references('bg_proposals.id').onDelete('cascade'))
    .addColumn('author_id', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('hidden_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('bg_comments_proposal_idx').on('bg_comments').column('proposal_id').execute();

  await db.schema
    .createTable('bg_milestones')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('proposal_id', 'integer', (c) => c.notNull().references('bg_proposals.id').onDelete('cascade'))
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('planned'))
    .addColumn('photo_file_id', 'text')
    .addColumn('author_id', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('happened_on', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function if exists bg_cast_online_ballot(int, int, int, int, int, int[])`.execute(db);
  for (const t of ['bg_milestones', 'bg_comments', 'bg_ballot_lines', 'bg_ballots', 'bg_supports', 'bg_proposals', 'bg_headings', 'bg_groups', 'bg_phases', 'bg_budgets']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}

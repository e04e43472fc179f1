import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // Group commit for online ballots: one call stores a batch of ballots in one transaction (one
  // WAL flush for all of them) and re-checks every integrity rule against the rows as they are now,
  // so the application may check against a cached copy of the budget and still never store a ballot
  // the rules refuse. Each item answers on its own: 'ok' with the ballot id, 'paper' or 'heading'
  // when the unique (group, user) key holds a ballot it may not replace, 'rejected' when a rule
  // fails (phase, verification, heading, proposals, amount, K). Items are taken in (user, group)
  // order so two batches never wait on each other's rows in a cycle. As in bg_cast_online_ballot,
  // each statement takes a fresh snapshot, so the lines are replaced after the upsert has waited
  // for a racing ballot of the same resident.
  await sql`
    create or replace function bg_cast_online_ballots(p_items jsonb)
    returns table(o_k int, o_id int, o_status text) language plpgsql volatile as $$
    declare
      it record;
      v_phase text; v_rule text; v_max int; v_amount numeric; v_hcommune int;
      v_verified boolean; v_ucommune int;
      v_n int; v_sum numeric; v_id int; v_channel text;
      v_heading int; v_budget int;
    begin
      for it in
        select (e->>'k')::int as k, (e->>'budget')::int as budget, (e->>'heading')::int as heading, (e->>'user')::int as usr,
               array(select x::int from jsonb_array_elements_text(e->'ids') x) as ids, h.group_id
        from jsonb_array_elements(p_items) e
        left join bg_headings h on h.id = (e->>'heading')::int and h.budget_id = (e->>'budget')::int
        order by (e->>'user')::int, h.group_id, (e->>'k')::int
      loop
        o_k := it.k;
        -- FOR SHARE: a phase change waits for the ballots being stored, and the ones after it see it.
        -- The lock holds until commit, so a batch (usually one heading) reads its budget once.
        if v_heading is distinct from it.heading or v_budget is distinct from it.budget then
          select b.phase, b.voting_rule, b.max_votes, h.amount, h.commune_id into v_phase, v_rule, v_max, v_amount, v_hcommune
            from bg_headings h join bg_budgets b on b.id = h.budget_id
            where h.id = it.heading and h.budget_id = it.budget
            for share of b;
          v_heading := it.heading;
          v_budget := it.budget;
        end if;
        select u.verified_at is not null and u.disabled_at is null, u.commune_id into v_verified, v_ucommune
          from users u where u.id = it.usr;
        select count(*), coalesce(sum(p.price), 0) into v_n, v_sum from bg_proposals p
          where p.id = any(it.ids) and p.heading_id = it.heading and p.feasibility = 'feasible' and p.price is not null and p.hidden_at is null;
        if it.group_id is null or v_phase is distinct from 'balloting' or v_verified is not true
           or (v_hcommune is not null and v_hcommune is distinct from v_ucommune)
           or v_n <> cardinality(it.ids)
           or (v_rule = 'knapsack' and v_sum > v_amount)
           or (v_rule = 'approval' and v_max is not null and v_n > v_max) then
          o_id := null; o_status := 'rejected';
          return next;
          continue;
        end if;
        v_id := null;
        insert into bg_ballots (budget_id, group_id, heading_id, user_id, channel, commune_id)
        values (it.budget, it.group_id, it.heading, it.usr, 'online', v_ucommune)
        on conflict (group_id, user_id) do update set heading_id = excluded.heading_id, commune_id = excluded.commune_id, updated_at = now()
          where bg_ballots.channel = 'online'
            and (bg_ballots.heading_id = excluded.heading_id or not exists (select 1 from bg_ballot_lines o where o.ballot_id = bg_ballots.id))
        returning id into v_id;
        if v_id is null then
          select b.channel into v_channel from bg_ballots b where b.group_id = it.group_id and b.user_id = it.usr;
          o_id := null; o_status := case when v_channel = 'online' then 'heading' else 'paper' end;
          return next;
          continue;
        end if;
        delete from bg_ballot_lines l where l.ballot_id = v_id and not (l.proposal_id = any(it.ids));
        insert into bg_ballot_lines (ballot_id, proposal_id, position)
          select v_id, x.pid, x.pos - 1 from unnest(it.ids) with ordinality as x(pid, pos)
          on conflict (ballot_id, proposal_id) do update set position = excluded.position;
        o_id := v_id; o_status := 'ok';
        return next;
      end loop;
    end $$
  `.execute(db);

  // Images and PDF documents of a proposal, stored through core's file store.
  await db.schema
    .createTable('bg_proposal_files')
    .addColumn('proposal_id', 'integer', (c) => c.notNull().references('bg_proposals.id').onDelete('cascade'))
    .addColumn('file_id', 'text', (c) => c.notNull().references('files.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('image', 'document')`))
    .addColumn('title', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('bg_proposal_files_pk', ['proposal_id', 'file_id'])
    .execute();

  // Where the project is (an address typed by the author, beside the point) and, once it wins,
  // the office responsible for carrying it out: its officials post the milestones.
  await db.schema.alterTable('bg_proposals').addColumn('address', 'text').execute();
  await db.schema.alterTable('bg_proposals').addColumn('office_id', 'integer', (c) => c.references('offices.id').onDelete('set null')).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('bg_proposals').dropColumn('office_id').execute();
  await db.schema.alterTable('bg_proposals').dropColumn('address').execute();
  await db.schema.dropTable('bg_proposal_files').ifExists().execute();
  await sql`drop function if exists bg_cast_online_ballots(jsonb)`.execute(db);
}

import { sql, type Kysely } from 'kysely';

/**
 * bg_cast_online_ballots(jsonb), set-based: same signature, same per-item outcomes and the same
 * guarantees as migration 0002's loop, but a constant number of statements per batch instead of
 * about six per ballot. Measured (README, "Benchmark"): 6–20 % less backend CPU per ballot from
 * 8 ballots a batch up; a single ballot costs more (the fixed statements), which only happens idle.
 *
 *  1. lock the batch's budgets FOR SHARE (a phase change waits for the ballots in flight; the
 *     statements after it see the phase as it is);
 *  2. check every item with joins in one statement (phase, verified and enabled account, its
 *     commune for a commune heading, heading in the budget, every proposal feasible, priced,
 *     visible, in the heading, none twice, amount for knapsack, K for approval);
 *  3. upsert all valid ballots in one INSERT … SELECT … ON CONFLICT … DO UPDATE … WHERE …, rows taken
 *     in (user, group) order so two batches never wait on each other's rows in a cycle; a key the
 *     upsert did not return holds a paper ballot or an online one in another heading with lines;
 *  4. one DELETE of the old lines of the ballots stored, then one INSERT of all their lines.
 *
 * Each statement takes a fresh snapshot (a VOLATILE function in READ COMMITTED), so the DELETE sees
 * the lines of a racing ballot of the same resident that committed while the upsert waited for its
 * row, and a resident never ends with the union of two ballots. One INSERT … ON CONFLICT cannot
 * touch a row twice, so the same resident twice in one batch is handled in passes: pass r stores
 * each (group, user)'s r-th valid item, in order, which answers exactly as storing them one after
 * the other did (the later one wins). A batch rarely needs a second pass.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create or replace function bg_cast_online_ballots(p_items jsonb)
    returns table(o_k int, o_id int, o_status text) language plpgsql volatile as $$
    declare
      -- Items are numbered by their position i in p_items; their k is only echoed back.
      v_count int := jsonb_array_length(p_items);
      n_k int[]; st_id int[]; st_status text[];
      -- the valid items, one array per column
      a_i int[]; a_budget int[]; a_grp int[]; a_head int[]; a_usr int[]; a_commune int[]; a_rank int[];
      -- (group, user) -> the positions of its valid items, in order: how a returned row finds its item
      v_items jsonb;
      -- the valid items' lines, flattened: item, its pass, proposal, position
      l_i int[]; l_rank int[]; l_pid int[]; l_pos int[];
      v_passes int; v_n int; s_i int[]; s_id int[]; c record;
    begin
      perform 1 from bg_budgets b
        where b.id = any(array(select distinct (e->>'budget')::int from jsonb_array_elements(p_items) e))
        order by b.id
        for share of b;

      with it as materialized (
        select e.i::int as i, (e.value->>'k')::int as k, (e.value->>'budget')::int as budget, (e.value->>'heading')::int as heading,
               (e.value->>'user')::int as usr, array(select x::int from jsonb_array_elements_text(e.value->'ids') x) as ids
        from jsonb_array_elements(p_items) with ordinality as e(value, i)
      ), v as (
        -- Lateral lookups by key (LIMIT 1 keeps them from being flattened into joins): a batch is a
        -- few rows, and a hash join would read the whole users table for them.
        select it.i, it.budget, it.heading, it.usr, it.ids, hb.group_id as grp, u.commune_id as ucommune,
               coalesce(hb.group_id is not null and hb.phase = 'balloting' and u.active
                 and (hb.commune_id is null or hb.commune_id = u.commune_id)
                 and q.n = cardinality(it.ids)
                 and (hb.voting_rule <> 'knapsack' or q.total <= hb.amount)
                 and (hb.voting_rule <> 'approval' or hb.max_votes is null or q.n <= hb.max_votes), false) as ok
        from it
        left join lateral (
          select h.group_id, h.commune_id, h.amount, b.phase, b.voting_rule, b.max_votes
          from bg_headings h join bg_budgets b on b.id = h.budget_id
          where h.id = it.heading and h.budget_id = it.budget limit 1
        ) hb on true
        left join lateral (
          select u.verified_at is not null and u.disabled_at is null as active, u.commune_id from users u where u.id = it.usr limit 1
        ) u on true
        cross join lateral (
          select count(*)::int as n, coalesce(sum(p.price), 0) as total from bg_proposals p
          where p.id = any(it.ids) and p.heading_id = it.heading and p.feasibility = 'feasible' and p.price is not null and p.hidden_at is null
        ) q
      ), good as (
        select v.*, row_number() over (partition by v.grp, v.usr order by v.i)::int as rnk from v where v.ok
      )
      select (select array_agg(it.k order by it.i) from it), g.*,
             (select jsonb_object_agg(d.grp || ':' || d.usr, d.items) from (select grp, usr, array_agg(i order by i) as items from good group by grp, usr) d),
             ln.*
      from (
        -- Aggregates of one Agg node see the rows in the same order, so these arrays stay aligned;
        -- which order does not matter (the upsert sorts).
        select array_agg(i), array_agg(budget), array_agg(grp), array_agg(heading), array_agg(usr), array_agg(ucommune),
               array_agg(rnk), max(rnk)
        from good
      ) g, (
        select array_agg(good.i), array_agg(good.rnk), array_agg(x.pid), array_agg(x.pos::int - 1)
        from good cross join unnest(good.ids) with ordinality as x(pid, pos)
      ) ln
      into n_k, a_i, a_budget, a_grp, a_head, a_usr, a_commune, a_rank, v_passes, v_items, l_i, l_rank, l_pid, l_pos;

      st_id := array_fill(null::int, array[v_count]);
      st_status := array_fill('rejected'::text, array[v_count]);

      for v_pass in 1 .. coalesce(v_passes, 0) loop
        with up as (
          insert into bg_ballots (budget_id, group_id, heading_id, user_id, channel, commune_id)
          select x.budget, x.grp, x.head, x.usr, 'online', x.commune
          from unnest(a_budget, a_grp, a_head, a_usr, a_commune, a_rank) as x(budget, grp, head, usr, commune, rnk)
          where x.rnk = v_pass
          order by x.usr, x.grp
          on conflict (group_id, user_id) do update set heading_id = excluded.heading_id, commune_id = excluded.commune_id, updated_at = now()
            where bg_ballots.channel = 'online'
              and (bg_ballots.heading_id = excluded.heading_id or not exists (select 1 from bg_ballot_lines o where o.ballot_id = bg_ballots.id))
          returning bg_ballots.id, bg_ballots.group_id, bg_ballots.user_id
        )
        select array_agg((v_items -> (up.group_id || ':' || up.user_id) ->> (v_pass - 1))::int), array_agg(up.id) from up
        into s_i, s_id;
        s_i := coalesce(s_i, '{}');
        for j in 1 .. cardinality(s_i) loop
          st_id[s_i[j]] := s_id[j];
          st_status[s_i[j]] := 'ok';
        end loop;

        if v_passes = 1 then
          v_n := cardinality(a_i);
        else
          select count(*) into v_n from unnest(a_rank) as x(rnk) where x.rnk = v_pass;
        end if;
        if cardinality(s_i) < v_n then
          -- The key holds a ballot this one may not replace: a paper ballot, or an online one in
          -- another heading that still has lines (one heading per group).
          for c in
            select x.i, b.channel from unnest(a_i, a_grp, a_usr, a_rank) as x(i, grp, usr, rnk)
            left join lateral (select b.channel from bg_ballots b where b.group_id = x.grp and b.user_id = x.usr limit 1) b on true
            where x.rnk = v_pass and st_id[x.i] is null
          loop
            st_status[c.i] := case when c.channel = 'online' then 'heading' else 'paper' end;
          end loop;
        end if;

        if cardinality(s_i) > 0 then
          delete from bg_ballot_lines l where l.ballot_id = any(s_id);
          insert into bg_ballot_lines (ballot_id, proposal_id, position)
            select st_id[l.i], l.pid, l.pos from unnest(l_i, l_rank, l_pid, l_pos) as l(i, rnk, pid, pos)
            where l.rnk = v_pass and st_id[l.i] is not null;
        end if;
      end loop;

      return query select * from unnest(n_k, st_id, st_status);
    end $$
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  // Migration 0002's loop, as it was.
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
}

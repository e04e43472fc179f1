import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestApp, createUser, TestClient, type TestContext } from '../../core/testing/harness';
import { manifest } from './manifest';
import { twoCommunes } from './testing/communes';
import { bgDb } from './tables';
import { createBudget, createGroup, createHeading, type NewBudget } from './store';
import { participationByCommune, participationPerDay, votersByAgeBandAndGender } from './participation';
import { publishable } from './domain/privacy';
import { parseDay, readSchedule } from './domain/schedule';

// Issue #4, round 2: the live "money left" island, participation statistics, the phase schedule.

let t: TestContext;

before(async () => {
  t = await createTestApp({ modules: [manifest] });
  await twoCommunes(t.services);
});

after(async () => {
  await t?.close();
});

const db = () => bgDb(t.services);

/** A budget with groups of one heading each, every heading with feasible priced proposals. */
async function makeBudget(def: NewBudget, groups: Array<{ amount: number; prices: number[] }>) {
  const b = await createBudget(db(), def);
  const out = [];
  for (const [i, h] of groups.entries()) {
    const g = await createGroup(db(), b.id, `Grupo ${i + 1}`);
    const row = await createHeading(db(), { budget_id: b.id, group_id: g.id, name: `Partida ${i + 1}`, amount: h.amount, commune_id: null });
    const proposals = [];
    for (const [k, price] of h.prices.entries()) {
      const p = await db()
        .insertInto('bg_proposals')
        .values({ budget_id: b.id, heading_id: row.id, author_id: null, external_id: null, title: `Proyecto ${i + 1}.${k + 1}`, description: 'Un proyecto', tags: [], feasibility: 'feasible', price, latitude: null, longitude: null, unfeasibility_reason: null, price_explanation: null, duration: null, valuator_id: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      proposals.push(p.id);
    }
    out.push({ id: row.id, groupId: g.id, proposals });
  }
  return { id: b.id, headings: out };
}

test('the ballot page carries the live "money left" island and the figures it computes from', async () => {
  const resident = await createUser(t.services, { verified: true, communeId: 1 });
  const c = await new TestClient(t.app).signInAs(t.services, resident.id);
  const { id, headings } = await makeBudget({ name: 'Mochila', phase: 'balloting', voting_rule: 'knapsack' }, [{ amount: 1000, prices: [300, 450.5, 400] }]);
  let res = await c.get(`/budgets/${id}/ballot?heading=${headings[0].id}`);
  assert.equal(res.statusCode, 200);
  const line = /<p[^>]*data-island="budgeting-ballot"[^>]*>([^<]*)<\/p>/.exec(res.body);
  assert.ok(line, 'the money-left line is the island host');
  const host = line[0];
  assert.match(host, /aria-live="polite"/);
  assert.match(host, /data-rule="knapsack"/);
  assert.match(host, /data-amount="1000"/);
  assert.match(host, /data-currency="ARS"/);
  assert.match(host, /data-locale="es-AR"/);
  assert.match(host, /data-form="ballot-form"/);
  assert.match(host, /data-msg-money="Te quedan \{left\} de \{total\}\."/);
  assert.match(host, /data-msg-over-money="Te pasás por \{over\}/);
  // The server's own figure is there without JavaScript.
  assert.match(line[1], /Te quedan \$\s?1\.000 de \$\s?1\.000\./);
  assert.match(res.body, /<form id="ballot-form"/);
  assert.match(res.body, new RegExp(`value="${headings[0].proposals[0]}" data-price="300"`));
  assert.match(res.body, new RegExp(`value="${headings[0].proposals[1]}" data-price="450.5"`));
  // The island's bundle is on the page and served.
  const src = /<script type="module" src="(\/assets\/js\/budgeting-ballot-[^"]+\.js)"/.exec(res.body);
  assert.ok(src, 'the page loads the island');
  const js = await c.get(src[1]);
  assert.equal(js.statusCode, 200);
  assert.match(js.headers['content-type'] as string, /javascript/);
  assert.match(js.body, /budgeting-ballot/);
  // Over the amount: the server refuses it and its line says by how much (the island's wording too).
  res = await c.post(`/budgets/${id}/ballot`, { heading: String(headings[0].id), proposal: headings[0].proposals.map(String) });
  assert.equal(res.statusCode, 422);
  assert.match(res.body, /Te pasás por \$\s?150,50 de los \$\s?1\.000 disponibles/);
  // The heading chooser has no checkboxes: no island there.
  res = await c.get(`/budgets/${id}/ballot?heading=999999`);
  assert.doesNotMatch(res.body, /budgeting-ballot-/);

  // Approval: the line counts projects against K, in English for an English page.
  const appr = await makeBudget({ name: 'Aprobación', phase: 'balloting', voting_rule: 'approval', max_votes: 2 }, [{ amount: 1000, prices: [100, 200, 300] }]);
  res = await c.get(`/budgets/${appr.id}/ballot?heading=${appr.headings[0].id}`, { 'accept-language': 'en' });
  const host2 = /<p[^>]*data-island="budgeting-ballot"[^>]*>/.exec(res.body)![0];
  assert.match(host2, /data-rule="approval"/);
  assert.match(host2, /data-k="2"/);
  assert.match(res.body, /data-msg-count="(You chose \{n\} of at most \{k\} projects\.|Elegiste \{n\} de \{k\} proyectos posibles\.)"/);
});

test('participation statistics: supports by commune, distinct voters by age band (in the budget year) and gender, turnout, per day; small cells withheld', async () => {
  // Budget of 2020: born 1995 is 25 then (16-29) though 30+ today.
  const { id, headings } = await makeBudget({ name: 'Estadísticas', phase: 'balloting', year: 2020 }, [
    { amount: 1000, prices: [100, 200] },
    { amount: 1000, prices: [100] },
  ]);
  const c1 = [];
  for (let i = 0; i < 6; i++) {
    const u = await createUser(t.services, { verified: true, communeId: 1 });
    await t.services.db.updateTable('users').set({ birth_year: 1995, gender: 'female' }).where('id', '=', u.id).execute();
    c1.push(u);
  }
  const c2 = [await createUser(t.services, { verified: true, communeId: 2 }), await createUser(t.services, { verified: true, communeId: 2 })];
  // Supports: every commune-1 resident supports one project, the first one two.
  for (const u of c1) await db().insertInto('bg_supports').values({ proposal_id: headings[0].proposals[0], user_id: u.id, budget_id: id }).execute();
  await db().insertInto('bg_supports').values({ proposal_id: headings[0].proposals[1], user_id: c1[0].id, budget_id: id }).execute();
  // Ballots: everyone votes in both groups (two ballots, one voter).
  for (const u of [...c1, ...c2]) {
    for (const h of headings) {
      const b = await db()
        .insertInto('bg_ballots')
        .values({ budget_id: id, group_id: h.groupId, heading_id: h.id, user_id: u.id, channel: 'online', commune_id: u.commune_id, voter_ref: null, entered_by: null, age: null, sex: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      await db().insertInto('bg_ballot_lines').values({ ballot_id: b.id, proposal_id: h.proposals[0], position: 0 }).execute();
    }
  }

  const communes = await participationByCommune(db(), id);
  const one = communes.find((r) => r.communeId === 1)!;
  assert.deepEqual({ ...one }, { communeId: 1, name: 'Comuna 1', population: 1000, supports: 7, supporters: 6, ballots: 12, voters: 6 });
  const two = communes.find((r) => r.communeId === 2)!;
  assert.deepEqual([two.voters, two.ballots, two.supports, two.population], [2, 4, 0, 2000]);
  const demo = await votersByAgeBandAndGender(db(), id, 2020);
  assert.deepEqual(demo, [
    { band: '16-29', gender: 'female', n: 6 },
    { band: 'unknown', gender: 'unknown', n: 2 },
  ]);
  // The same voters counted at today's age would be 30-44: the year matters.
  assert.equal((await votersByAgeBandAndGender(db(), id, 2026))[0].band, '30-44');
  const days = await participationPerDay(db(), id);
  assert.equal(days.length, 1);
  assert.deepEqual({ ...days[0], day: '' }, { day: '', supports: 7, supporters: 6, ballots: 16, voters: 8 });
  assert.equal(publishable(4), null);
  assert.equal(publishable(5), 5);
  assert.equal(publishable(0), 0);

  // The page: public, linked from the budget page, aggregates with small cells withheld.
  const visitor = new TestClient(t.app);
  assert.match((await visitor.get(`/budgets/${id}`)).body, new RegExp(`href="/budgets/${id}/stats"`));
  const res = await visitor.get(`/budgets/${id}/stats`);
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /menos de 5 personas/);
  const row = (attr: string) => new RegExp(`<tr ${attr}>(.*?)</tr>`, 's').exec(res.body)?.[1] ?? '';
  const cells = (html: string) => [...html.matchAll(/<t[dh][^>]*>(.*?)<\/t[dh]>/gs)].map((m) => m[1].replace(/<[^>]+>/g, '').replace(/\s+/g, ' ').trim());
  const c1cells = cells(row('data-commune="1"'));
  assert.deepEqual(c1cells.slice(0, 6), ['Comuna 1', '1.000', '7', '6', '6', '12']);
  assert.match(c1cells[6], /^0,6\s?%$/, 'turnout: 6 voters of 1,000 people');
  assert.deepEqual(cells(row('data-commune="2"')), ['Comuna 2', '2.000', '0', '0', 'menos de 5', 'menos de 5', '—']);
  assert.deepEqual(cells(row('data-band="16-29" data-gender="female"')), ['16-29', 'Mujer', '6']);
  assert.deepEqual(cells(row('data-band="unknown" data-gender="unknown"')), ['Sin dato', 'Sin dato', 'menos de 5']);
  assert.match(res.body, /Edad en 2020/);
  assert.deepEqual(cells(row(`data-day="${days[0].day}"`)).slice(1), ['7', '6', '16', '8']);
  assert.equal((await visitor.get('/budgets/999999/stats')).statusCode, 404);
});

test('the phase schedule: administrators publish dates per phase (audited), in order, shown on the budget page', async () => {
  const admin = await createUser(t.services, { roles: ['admin'] });
  const official = await createUser(t.services, { roles: ['official'] });
  const adminC = await new TestClient(t.app).signInAs(t.services, admin.id);
  const officialC = await new TestClient(t.app).signInAs(t.services, official.id);
  const { id } = await makeBudget({ name: 'Calendario', phase: 'informing' }, [{ amount: 1000, prices: [100] }]);
  const phases = () => db().selectFrom('bg_phases').select(['kind', 'starts_at', 'ends_at']).where('budget_id', '=', id).orderBy('kind').execute();
  const audits = async () => (await t.services.db.selectFrom('audit_log').selectAll().where('action', '=', 'budget.schedule').where('subject_id', '=', String(id)).execute()).length;

  let res = await adminC.get(`/budgets/${id}/admin`);
  assert.equal(res.statusCode, 200);
  assert.match(res.body, new RegExp(`action="/budgets/${id}/schedule"`));
  const good = { starts_accepting: '2026-03-01', ends_accepting: '2026-03-31', starts_selecting: '2026-04-01', ends_selecting: '2026-04-15', starts_balloting: '2026-06-01' };
  res = await adminC.post(`/budgets/${id}/schedule`, good);
  assert.equal(res.statusCode, 303);
  let rows = await phases();
  assert.deepEqual(
    rows.map((r) => [r.kind, r.starts_at?.toISOString() ?? null, r.ends_at?.toISOString() ?? null]),
    [
      ['accepting', '2026-03-01T03:00:00.000Z', '2026-03-31T03:00:00.000Z'],
      ['balloting', '2026-06-01T03:00:00.000Z', null],
      ['selecting', '2026-04-01T03:00:00.000Z', '2026-04-15T03:00:00.000Z'],
    ],
  );
  assert.equal(await audits(), 1);
  // Shown as typed on the budget page, and pre-filled in the form.
  res = await new TestClient(t.app).get(`/budgets/${id}`);
  assert.match(res.body, /1 de marzo de 2026 – 31 de marzo de 2026/);
  assert.match(res.body, /1 de junio de 2026/);
  res = await adminC.get(`/budgets/${id}/admin`);
  assert.match(res.body, /name="starts_accepting" value="2026-03-01"|value="2026-03-01"[^>]*name="starts_accepting"/);

  // Out of order, ends before starts, a day that does not exist: 400 with the reason, nothing stored.
  for (const [bad, message] of [
    [{ ...good, starts_selecting: '2026-03-15' }, /Tiene que empezar después de «Presentación de proyectos»/],
    [{ ...good, starts_balloting: '2026-04-10' }, /Tiene que empezar después de «Apoyos»/],
    [{ ...good, ends_selecting: '2026-03-20' }, /La fase termina antes de empezar/],
    [{ ...good, starts_valuating: '2026-02-30' }, /Escribí un día como 2026-03-01/],
    [{ ...good, ends_reviewing: '2026-04-20' }, /Poné también el día en que empieza/],
  ] as const) {
    res = await adminC.post(`/budgets/${id}/schedule`, bad);
    assert.equal(res.statusCode, 400, JSON.stringify(bad));
    assert.match(res.body, message);
    assert.match(res.body, /usa-error-message/);
  }
  assert.deepEqual(await phases(), rows);
  assert.equal(await audits(), 1);
  // Only administrators.
  await officialC.get('/budgets');
  res = await officialC.post(`/budgets/${id}/schedule`, { ...good, starts_accepting: '2026-02-01' });
  assert.equal(res.statusCode, 403);
  assert.deepEqual(await phases(), rows);

  // Opening a phase without typing dates keeps its published ones.
  res = await adminC.post(`/budgets/${id}/phase`, { phase: 'accepting' });
  assert.equal(res.statusCode, 303);
  rows = await phases();
  assert.equal(rows.find((r) => r.kind === 'accepting')!.starts_at!.toISOString(), '2026-03-01T03:00:00.000Z');
  assert.equal(rows.find((r) => r.kind === 'accepting')!.ends_at!.toISOString(), '2026-03-31T03:00:00.000Z');

  // The pure checks.
  assert.equal(parseDay('2026-02-29'), null);
  assert.equal(readSchedule({ starts_informing: '2026-01-01', starts_accepting: '2026-01-01' }).errors[0].key, 'budgeting.schedule.error.order');
  assert.deepEqual(readSchedule({ starts_informing: '2026-01-01', starts_finished: '2026-12-01' }).errors, []);
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { strFromU8, unzipSync } from 'fflate';
import { createOffice, createTestApp, createUser, TestClient, type TestContext } from '../../core/testing/harness';
import { manifest } from './manifest';
import { twoCommunes } from './testing/communes';
import { bgDb } from './tables';
import { parsePb } from './domain/pabulib';
import { selectedOf } from './domain/instance';
import { createBudget, createGroup, createHeading, publishResults, type NewBudget } from './store';

// Issue #4's audit: each test fails without its fix.

let t: TestContext;

before(async () => {
  t = await createTestApp({ modules: [manifest] });
  await twoCommunes(t.services);
});

after(async () => {
  await t?.close();
});

const db = () => bgDb(t.services);

/** A budget with one group of the given headings, each with feasible priced proposals. */
async function makeBudget(def: NewBudget & { currency?: string }, headings: Array<{ amount: number; communeId?: number | null; prices: number[] }>) {
  const { currency, ...rest } = def;
  const b = await createBudget(db(), rest);
  if (currency) await db().updateTable('bg_budgets').set({ currency }).where('id', '=', b.id).execute();
  const g = await createGroup(db(), b.id, 'Grupo');
  const out = [];
  for (const [i, h] of headings.entries()) {
    const row = await createHeading(db(), { budget_id: b.id, group_id: g.id, name: `Partida ${i + 1}`, amount: h.amount, commune_id: h.communeId ?? null });
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

async function vote(budgetId: number, heading: { id: number; groupId: number }, userId: number | null, proposalIds: number[], channel: 'online' | 'paper' | 'import' = 'import') {
  const b = await db()
    .insertInto('bg_ballots')
    .values({ budget_id: budgetId, group_id: heading.groupId, heading_id: heading.id, user_id: userId, channel, commune_id: null, voter_ref: null, entered_by: null, age: null, sex: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  if (proposalIds.length) await db().insertInto('bg_ballot_lines').values(proposalIds.map((proposal_id, position) => ({ ballot_id: b.id, proposal_id, position }))).execute();
  return b.id;
}

async function audit(action: string) {
  return t.services.db.selectFrom('audit_log').selectAll().where('action', '=', action).execute();
}

test('bad numbers and ids answer 4xx, never 500, and store nothing', async () => {
  const admin = await createUser(t.services, { roles: ['admin'] });
  const resident = await createUser(t.services, { verified: true, communeId: 1 });
  const adminC = await new TestClient(t.app).signInAs(t.services, admin.id);
  const residentC = await new TestClient(t.app).signInAs(t.services, resident.id);
  await adminC.get('/budgets/new');
  await residentC.get('/budgets');
  const { id, headings } = await makeBudget({ name: 'Entradas', phase: 'balloting' }, [{ amount: 1000, prices: [100] }]);
  const [pid] = headings[0].proposals;
  await db().updateTable('bg_proposals').set({ selected: true }).where('id', '=', pid).execute();
  const budgetsBefore = (await db().selectFrom('bg_budgets').select('id').execute()).length;
  const newBudget = { name: 'Presupuesto', voting_rule: 'knapsack', result_rule: 'greedy', commune_amount: '1000' };
  const cases: Array<[string, () => Promise<{ statusCode: number }>, number]> = [
    ['year 2025.5', () => adminC.post('/budgets', { ...newBudget, year: '2025.5' }), 400],
    ['max_votes 1.5', () => adminC.post('/budgets', { ...newBudget, voting_rule: 'approval', max_votes: '1.5' }), 400],
    ['max_supports 2.5', () => adminC.post('/budgets', { ...newBudget, max_supports: '2.5' }), 400],
    ['year 3000000000', () => adminC.post('/budgets', { ...newBudget, year: '3000000000' }), 400],
    ['approval without K', () => adminC.post('/budgets', { ...newBudget, voting_rule: 'approval', max_votes: '' }), 400],
    ['approval with K = 0', () => adminC.post('/budgets', { ...newBudget, voting_rule: 'approval', max_votes: '0' }), 400],
    ['amount abc', () => adminC.post('/budgets', { ...newBudget, commune_amount: 'abc' }), 400],
    ['GET /budgets/3000000000', () => t.app.inject({ url: '/budgets/3000000000' }), 404],
    ['GET /budgets/1e3', () => t.app.inject({ url: '/budgets/1e3' }), 404],
    ['GET /api/v1/budgets/3000000000', () => t.app.inject({ url: '/api/v1/budgets/3000000000' }), 400],
    ['GET /api/v1/budgets/3000000000/results', () => t.app.inject({ url: '/api/v1/budgets/3000000000/results' }), 400],
    ['proposals?heading=3000000000', () => t.app.inject({ url: `/budgets/${id}/proposals?heading=3000000000` }), 400],
    ['proposals?heading=abc', () => t.app.inject({ url: `/budgets/${id}/proposals?heading=abc` }), 400],
    ['proposal 3000000000', () => t.app.inject({ url: `/budgets/${id}/proposals/3000000000` }), 404],
    ['assign valuator=abc', () => adminC.post(`/budgets/${id}/proposals/${pid}/assign`, { valuator: 'abc' }), 400],
    ['assign valuator=3000000000', () => adminC.post(`/budgets/${id}/proposals/${pid}/assign`, { valuator: '3000000000' }), 400],
    ['office office=1.5', () => adminC.post(`/budgets/${id}/proposals/${pid}/office`, { office: '1.5' }), 400],
    ['budget office=abc', () => adminC.post(`/budgets/${id}/office`, { office: 'abc' }), 400],
    ['ballot heading=3000000000', () => residentC.post(`/budgets/${id}/ballot`, { heading: '3000000000', proposal: [String(pid)] }), 400],
    ['ballot proposal=3000000000', () => residentC.post(`/budgets/${id}/ballot`, { heading: String(headings[0].id), proposal: ['3000000000'] }), 303],
  ];
  for (const [name, run, status] of cases) {
    const res = await run();
    assert.equal(res.statusCode, status, name);
  }
  assert.equal((await db().selectFrom('bg_budgets').select('id').execute()).length, budgetsBefore, 'no budget stored by a refused form');
  const p = await db().selectFrom('bg_proposals').select(['valuator_id', 'office_id']).where('id', '=', pid).executeTakeFirstOrThrow();
  assert.deepEqual(p, { valuator_id: null, office_id: null });
  // The refusal is in the admin's language with what to type.
  const res = await adminC.post('/budgets', { ...newBudget, voting_rule: 'approval', max_votes: '' });
  assert.match(res.body as string, /necesita K/);
  // A good form still works, K kept for approval.
  assert.equal((await adminC.post('/budgets', { ...newBudget, name: 'Aprobación', voting_rule: 'approval', max_votes: '3', year: '2026', commune_amount: '1.500.000' })).statusCode, 303);
  const created = await db().selectFrom('bg_budgets').selectAll().where('name', '=', 'Aprobación').executeTakeFirstOrThrow();
  assert.equal(created.max_votes, 3);
  const h = await db().selectFrom('bg_headings').select('amount').where('budget_id', '=', created.id).executeTakeFirstOrThrow();
  assert.equal(Number(h.amount), 1500000);
});

test('withdrawing a support needs the proposal to be of the budget named in the URL', async () => {
  const resident = await createUser(t.services, { verified: true, communeId: 1 });
  const a = await makeBudget({ name: 'A', phase: 'selecting' }, [{ amount: 1000, prices: [100] }]);
  const b = await makeBudget({ name: 'B', phase: 'balloting' }, [{ amount: 1000, prices: [100] }]);
  const pB = b.headings[0].proposals[0];
  await db().insertInto('bg_supports').values({ proposal_id: pB, user_id: resident.id, budget_id: b.id }).execute();
  const c = await new TestClient(t.app).signInAs(t.services, resident.id);
  await c.get('/budgets');
  assert.equal((await c.post(`/budgets/${a.id}/proposals/${pB}/unsupport`, {})).statusCode, 404);
  assert.equal((await db().selectFrom('bg_supports').select('proposal_id').where('proposal_id', '=', pB).execute()).length, 1, 'the support in B stays');
  // Its own budget's phase decides: B is not selecting.
  assert.equal((await c.post(`/budgets/${b.id}/proposals/${pB}/unsupport`, {})).statusCode, 409);
});

test('valuation prices read es-AR and plain decimals and round-trip through the form', async () => {
  const admin = await createUser(t.services, { roles: ['admin'] });
  const { id, headings } = await makeBudget({ name: 'Precios', phase: 'valuating' }, [{ amount: 1000, prices: [1] }]);
  const [pid] = headings[0].proposals;
  const c = await new TestClient(t.app).signInAs(t.services, admin.id);
  await c.get(`/budgets/${id}/proposals/${pid}/valuation`);
  const price = async () => Number((await db().selectFrom('bg_proposals').select('price').where('id', '=', pid).executeTakeFirstOrThrow()).price);
  const save = (text: string) => c.post(`/budgets/${id}/proposals/${pid}/valuation`, { feasibility: 'feasible', price: text });
  for (const [text, value] of [['1500,50', 1500.5], ['1.500,50', 1500.5], ['1500.5', 1500.5], ['1.500.000', 1500000], ['2000000', 2000000]] as const) {
    assert.equal((await save(text)).statusCode, 303, text);
    assert.equal(await price(), value, text);
  }
  assert.equal((await save('1500,50')).statusCode, 303);
  let form = await c.get(`/budgets/${id}/proposals/${pid}/valuation`);
  const shown = /id="f-price"[^>]*value="([^"]*)"/.exec(form.body as string)?.[1];
  assert.equal(shown, '1500,5');
  assert.equal((await save(shown!)).statusCode, 303);
  assert.equal(await price(), 1500.5, 'saved again unchanged (was 15005)');
  form = await c.get(`/budgets/${id}/proposals/${pid}/valuation?lang=en`);
  const shownEn = /id="f-price"[^>]*value="([^"]*)"/.exec(form.body as string)?.[1];
  assert.equal(shownEn, '1500.5');
  assert.equal((await save(shownEn!)).statusCode, 303);
  assert.equal(await price(), 1500.5);
  for (const bad of ['abc', '1500.505', '1.500,000', '-5']) assert.equal((await save(bad)).statusCode, 400, bad);
  assert.equal(await price(), 1500.5, 'a refused price changes nothing');
});

test('results pages, the API and results.pb read the winners stored when the budget finished', async () => {
  const { id, headings } = await makeBudget({ name: 'Guardado', phase: 'finished', result_rule: 'mes' }, [{ amount: 500_000_000, prices: [300_000_000, 250_000_000, 200_000_000] }]);
  const h = headings[0];
  const [p1, p2, p3] = h.proposals;
  for (let i = 0; i < 30; i++) await vote(id, h, null, i < 20 ? [p1] : i < 25 ? [p2, p3] : [p3]);
  await db().transaction().execute((trx) => publishResults(trx, { id, result_rule: 'mes' }));
  const stored = await db().selectFrom('bg_proposals').select('id').where('heading_id', '=', h.id).where('selected', '=', true).orderBy('id').execute();
  assert.ok(stored.length > 0);
  // Flip what is stored: the pages must show it, which proves they do not decide again.
  await db().updateTable('bg_proposals').set({ selected: false }).where('heading_id', '=', h.id).execute();
  await db().updateTable('bg_proposals').set({ selected: true }).where('id', '=', p2).execute();
  const api = await t.app.inject({ url: `/api/v1/budgets/${id}/results` });
  assert.equal(api.statusCode, 200);
  assert.deepEqual(api.json().headings[0].projects.filter((x: { selected: boolean }) => x.selected).map((x: { id: number }) => x.id), [p2]);
  const pb = await t.app.inject({ url: `/budgets/${id}/results.pb` });
  assert.equal(pb.statusCode, 200);
  const parsed = parsePb(pb.body);
  assert.deepEqual(selectedOf(parsed), [String(p2)]);
  // META states the MES variant exactly.
  assert.equal(parsed.meta.rule, 'equalshares/add1');
  assert.equal(parsed.meta.rule_variant, 'add1-last-feasible');
  assert.match(parsed.meta.comment, /last-feasible/);
  const page = await t.app.inject({ url: `/budgets/${id}/results` });
  assert.equal(page.statusCode, 200);
});

test('money is shown in the budget currency', async () => {
  const { id, headings } = await makeBudget({ name: 'Euros', phase: 'balloting', currency: 'EUR' }, [{ amount: 500000, prices: [1200] }]);
  let res = await t.app.inject({ url: `/budgets/${id}` });
  assert.match(res.body, /EUR\s?500\.000|500\.000\s?€|€\s?500\.000/);
  assert.doesNotMatch(res.body, /\$\s?500\.000/);
  res = await t.app.inject({ url: `/budgets/${id}?lang=en` });
  assert.match(res.body, /€500,000/);
  const admin = await createUser(t.services, { roles: ['admin'] });
  const c = await new TestClient(t.app).signInAs(t.services, admin.id);
  res = await c.get(`/budgets/${id}/admin`);
  assert.match(res.body as string, /EUR\s?1\.200|€\s?1\.200|1\.200\s?€/);
  assert.ok(headings.length === 1);
});

test('results.pb without a heading: a zip of one .pb per heading, each parseable; one heading: the .pb', async () => {
  const { id, headings } = await makeBudget({ name: 'Zip', phase: 'finished' }, [
    { amount: 1000, communeId: 1, prices: [600, 500] },
    { amount: 800, communeId: 2, prices: [300] },
  ]);
  await vote(id, headings[0], null, [headings[0].proposals[0]]);
  await vote(id, headings[0], null, [headings[0].proposals[0], headings[0].proposals[1]]);
  await vote(id, headings[1], null, [headings[1].proposals[0]]);
  await db().transaction().execute((trx) => publishResults(trx, { id, result_rule: 'greedy' }));
  const res = await t.app.inject({ url: `/budgets/${id}/results.pb` });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /application\/zip/);
  const files = unzipSync(new Uint8Array(res.rawPayload));
  const names = Object.keys(files).sort();
  assert.deepEqual(names, headings.map((h) => `cabildo_budget_${id}_heading_${h.id}.pb`).sort());
  const first = parsePb(strFromU8(files[`cabildo_budget_${id}_heading_${headings[0].id}.pb`]));
  assert.equal(first.meta.budget, '1000');
  assert.equal(first.votes.length, 2);
  assert.deepEqual(selectedOf(first), [String(headings[0].proposals[0])]);
  const second = parsePb(strFromU8(files[`cabildo_budget_${id}_heading_${headings[1].id}.pb`]));
  assert.deepEqual(selectedOf(second), [String(headings[1].proposals[0])]);
  assert.equal((await t.app.inject({ url: `/budgets/${id}/results.pb?heading=${headings[1].id}` })).statusCode, 200);
  assert.equal((await t.app.inject({ url: `/budgets/${id}/results.pb?heading=999999` })).statusCode, 404);
});

test('paper ballots: only the organising office (or admins), never for disabled accounts; an empty online ballot is replaced', async () => {
  const admin = await createUser(t.services, { roles: ['admin'] });
  const inside = await createUser(t.services, { roles: ['official'] });
  const outside = await createUser(t.services, { roles: ['official'] });
  const office = await createOffice(t.services, { name: 'Participación', slug: 'participacion' });
  const other = await createOffice(t.services, { name: 'Otra', slug: 'otra' });
  await t.services.db.insertInto('office_members').values([{ office_id: office.id, user_id: inside.id }, { office_id: other.id, user_id: outside.id }]).execute();
  const voters = await Promise.all([1, 2, 3, 4, 5].map(() => createUser(t.services, { verified: true, communeId: 1 })));
  const [v1, v2, v3, v4, v5] = voters;
  await t.services.db.updateTable('users').set({ disabled_at: new Date() }).where('id', '=', v3.id).execute();
  const { id, headings } = await makeBudget({ name: 'Papel', phase: 'balloting' }, [{ amount: 1000, communeId: 1, prices: [300] }]);
  const h = headings[0];
  const [pid] = h.proposals;
  const form = (email: string) => ({ heading: String(h.id), email, proposal: [String(pid)] });

  const adminC = await new TestClient(t.app).signInAs(t.services, admin.id);
  const insideC = await new TestClient(t.app).signInAs(t.services, inside.id);
  const outsideC = await new TestClient(t.app).signInAs(t.services, outside.id);
  for (const c of [adminC, insideC, outsideC]) await c.get('/budgets');
  // No organising office yet: only administrators.
  assert.equal((await insideC.get(`/budgets/${id}/paper-ballot`)).statusCode, 403);
  assert.equal((await insideC.post(`/budgets/${id}/paper-ballot`, form(v1.email))).statusCode, 403);
  assert.equal((await adminC.post(`/budgets/${id}/office`, { office: String(office.id) })).statusCode, 303);
  assert.equal((await audit('budget.office')).length, 1);
  assert.doesNotMatch((await outsideC.get(`/budgets/${id}`)).body as string, /paper-ballot/);
  assert.match((await insideC.get(`/budgets/${id}`)).body as string, /paper-ballot/);
  assert.equal((await outsideC.get(`/budgets/${id}/paper-ballot`)).statusCode, 403);
  assert.equal((await outsideC.post(`/budgets/${id}/paper-ballot`, form(v1.email))).statusCode, 403);
  assert.equal((await insideC.get(`/budgets/${id}/paper-ballot?heading=${h.id}`)).statusCode, 200);
  assert.equal((await insideC.post(`/budgets/${id}/paper-ballot`, form(v1.email))).statusCode, 303);
  assert.equal((await adminC.post(`/budgets/${id}/paper-ballot`, form(v2.email))).statusCode, 303);
  // A disabled account does not vote.
  const disabled = await insideC.post(`/budgets/${id}/paper-ballot`, form(v3.email));
  assert.equal(disabled.statusCode, 400);
  assert.match(disabled.body as string, /deshabilitada/);
  // An empty online ballot is not a vote: the paper one replaces it. A non-empty one is.
  await vote(id, h, v4.id, [], 'online');
  await vote(id, h, v5.id, [pid], 'online');
  assert.equal((await insideC.post(`/budgets/${id}/paper-ballot`, form(v4.email))).statusCode, 303);
  assert.equal((await insideC.post(`/budgets/${id}/paper-ballot`, form(v5.email))).statusCode, 409);
  const ballots = await db().selectFrom('bg_ballots').select(['user_id', 'channel']).where('budget_id', '=', id).orderBy('user_id').execute();
  assert.deepEqual(
    ballots.map((b) => [b.user_id, b.channel]),
    // In id order, as the query: accounts made side by side need not get ids in that order.
    ([[v1.id, 'paper'], [v2.id, 'paper'], [v4.id, 'paper'], [v5.id, 'online']] as Array<[number, string]>).sort((a, b) => a[0] - b[0]),
  );
  const lines = await db().selectFrom('bg_ballot_lines as l').innerJoin('bg_ballots as b', 'b.id', 'l.ballot_id').select('b.user_id').where('b.user_id', '=', v4.id).execute();
  assert.equal(lines.length, 1);
  assert.equal((await audit('budget.ballot.paper')).length, 3);
});

test('the responsible office updates a milestone (status, note, photo), audited', async () => {
  const admin = await createUser(t.services, { roles: ['admin'] });
  const official = await createUser(t.services, { roles: ['official'] });
  const stranger = await createUser(t.services, { roles: ['official'] });
  const office = await createOffice(t.services, { name: 'Obras', slug: 'obras' });
  await t.services.db.insertInto('office_members').values({ office_id: office.id, user_id: official.id }).execute();
  const { id, headings } = await makeBudget({ name: 'Hitos', phase: 'finished' }, [{ amount: 1000, prices: [300] }]);
  const [pid] = headings[0].proposals;
  await db().updateTable('bg_proposals').set({ selected: true, office_id: office.id }).where('id', '=', pid).execute();
  const c = await new TestClient(t.app).signInAs(t.services, official.id);
  await c.get(`/budgets/${id}/proposals/${pid}`);
  assert.equal((await c.post(`/budgets/${id}/proposals/${pid}/milestones`, { title: 'Obra iniciada', status: 'planned' })).statusCode, 303);
  const m = await db().selectFrom('bg_milestones').selectAll().where('proposal_id', '=', pid).executeTakeFirstOrThrow();
  let page = await c.get(`/budgets/${id}/proposals/${pid}`);
  assert.match(page.body as string, new RegExp(`/milestones/${m.id}\\?_csrf=`));
  const strangerC = await new TestClient(t.app).signInAs(t.services, stranger.id);
  await strangerC.get('/budgets');
  assert.equal((await strangerC.post(`/budgets/${id}/proposals/${pid}/milestones/${m.id}`, { status: 'done' })).statusCode, 403);
  assert.equal((await c.post(`/budgets/${id}/proposals/${pid}/milestones/${m.id}`, { status: 'bogus' })).statusCode, 400);
  assert.equal((await c.post(`/budgets/${id}/proposals/${pid}/milestones/${m.id}`, { status: 'done', note: 'Terminada en marzo' })).statusCode, 303);
  const after = await db().selectFrom('bg_milestones').selectAll().where('id', '=', m.id).executeTakeFirstOrThrow();
  assert.equal(after.status, 'done');
  assert.equal(after.description, 'Terminada en marzo');
  assert.equal(after.title, 'Obra iniciada');
  const entries = await audit('budget.milestone.update');
  assert.equal(entries.length, 1);
  assert.deepEqual((entries[0].details as { from: string; to: string }).to, 'done');
  page = await t.app.inject({ url: `/budgets/${id}/proposals/${pid}` });
  assert.match(page.body, /Terminada en marzo/);
  // A milestone of another proposal is not reachable through this one.
  assert.equal((await c.post(`/budgets/${id}/proposals/${pid}/milestones/999999`, { status: 'done' })).statusCode, 404);
  const adminC = await new TestClient(t.app).signInAs(t.services, admin.id);
  await adminC.get('/budgets');
  assert.equal((await adminC.post(`/budgets/${id}/proposals/${pid}/milestones/${m.id}`, { status: 'delayed' })).statusCode, 303);
});

test('administrators set each heading amount (audited) until balloting opens', async () => {
  const admin = await createUser(t.services, { roles: ['admin'] });
  const official = await createUser(t.services, { roles: ['official'] });
  const { id, headings } = await makeBudget({ name: 'Montos', phase: 'accepting' }, [
    { amount: 1000, communeId: 1, prices: [] },
    { amount: 1000, communeId: 2, prices: [] },
  ]);
  const [h1, h2] = headings;
  const c = await new TestClient(t.app).signInAs(t.services, admin.id);
  const page = await c.get(`/budgets/${id}/admin`);
  assert.match(page.body as string, new RegExp(`name="amount_${h1.id}"`));
  const amounts = async () => (await db().selectFrom('bg_headings').select(['id', 'amount']).where('budget_id', '=', id).orderBy('id').execute()).map((h) => Number(h.amount));
  assert.equal((await c.post(`/budgets/${id}/headings`, { [`amount_${h1.id}`]: '1.234.567,89', [`amount_${h2.id}`]: 'mucho' })).statusCode, 400);
  assert.deepEqual(await amounts(), [1000, 1000], 'nothing stored when one field is wrong');
  assert.equal((await c.post(`/budgets/${id}/headings`, { [`amount_${h1.id}`]: '1.234.567,89', [`amount_${h2.id}`]: '2000000' })).statusCode, 303);
  assert.deepEqual(await amounts(), [1234567.89, 2000000]);
  assert.equal((await audit('budget.heading.amount')).filter((a) => a.subject_id === String(id) || Number(a.subject_id) === id).length, 2);
  const oc = await new TestClient(t.app).signInAs(t.services, official.id);
  await oc.get('/budgets');
  assert.equal((await oc.post(`/budgets/${id}/headings`, { [`amount_${h1.id}`]: '1' })).statusCode, 403);
  await db().updateTable('bg_budgets').set({ phase: 'balloting' }).where('id', '=', id).execute();
  assert.equal((await c.post(`/budgets/${id}/headings`, { [`amount_${h1.id}`]: '5' })).statusCode, 409);
  assert.deepEqual(await amounts(), [1234567.89, 2000000]);
});

test('untested rules: over K via HTTP, moderator hides a proposal, one heading per group, non-admin phase change', async () => {
  const admin = await createUser(t.services, { roles: ['admin'] });
  const moderator = await createUser(t.services, { roles: ['moderator'] });
  const resident = await createUser(t.services, { verified: true, communeId: 1 });
  const rc = await new TestClient(t.app).signInAs(t.services, resident.id);
  await rc.get('/budgets');

  // Approval with K = 1: two projects is 422 and nothing is stored.
  const k = await makeBudget({ name: 'Aprobación K1', phase: 'balloting', voting_rule: 'approval', max_votes: 1 }, [{ amount: 1000, prices: [100, 100] }]);
  const res = await rc.post(`/budgets/${k.id}/ballot`, { heading: String(k.headings[0].id), proposal: k.headings[0].proposals.map(String) });
  assert.equal(res.statusCode, 422);
  assert.equal((await db().selectFrom('bg_ballots').select('id').where('budget_id', '=', k.id).execute()).length, 0);

  // One heading per group: a city-wide and a commune heading in one group.
  const g = await makeBudget({ name: 'Grupo', phase: 'balloting' }, [
    { amount: 1000, communeId: 1, prices: [100] },
    { amount: 1000, communeId: null, prices: [100] },
  ]);
  const [hc, hw] = g.headings;
  assert.equal((await rc.post(`/budgets/${g.id}/ballot`, { heading: String(hc.id), proposal: [String(hc.proposals[0])] })).statusCode, 303);
  assert.equal((await rc.post(`/budgets/${g.id}/ballot`, { heading: String(hw.id), proposal: [String(hw.proposals[0])] })).statusCode, 409);
  const stored = await db().selectFrom('bg_ballots').select('heading_id').where('budget_id', '=', g.id).execute();
  assert.deepEqual(stored.map((b) => b.heading_id), [hc.id]);

  // A moderator hides a proposal (audited): gone for the public, still there for moderators.
  const mc = await new TestClient(t.app).signInAs(t.services, moderator.id);
  await mc.get('/budgets');
  const pid = g.headings[0].proposals[0];
  assert.equal((await rc.post(`/budgets/${g.id}/proposals/${pid}/hide`, { hidden: '1' })).statusCode, 403);
  assert.equal((await mc.post(`/budgets/${g.id}/proposals/${pid}/hide`, { hidden: '1' })).statusCode, 303);
  assert.equal((await audit('budget.proposal.hide')).length, 1);
  assert.equal((await t.app.inject({ url: `/budgets/${g.id}/proposals/${pid}` })).statusCode, 404);
  assert.doesNotMatch((await t.app.inject({ url: `/budgets/${g.id}/proposals` })).body, new RegExp(`/proposals/${pid}"`));
  assert.equal((await mc.get(`/budgets/${g.id}/proposals/${pid}`)).statusCode, 200);

  // Only administrators move phases.
  assert.equal((await mc.post(`/budgets/${g.id}/phase`, { phase: 'finished' })).statusCode, 403);
  assert.equal((await rc.post(`/budgets/${g.id}/phase`, { phase: 'finished' })).statusCode, 403);
  assert.equal((await db().selectFrom('bg_budgets').select('phase').where('id', '=', g.id).executeTakeFirstOrThrow()).phase, 'balloting');
  const ac = await new TestClient(t.app).signInAs(t.services, admin.id);
  await ac.get('/budgets');
  assert.equal((await ac.post(`/budgets/${g.id}/phase`, { phase: 'reviewing_ballots' })).statusCode, 303);
});

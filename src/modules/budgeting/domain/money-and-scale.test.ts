import { test } from 'node:test';
import assert from 'node:assert/strict';
import { amountForInput, formatMoney, parseAmount } from './money';
import { decide, mes, MesRoundsExceeded, type Election } from './rules';

test('parseAmount reads es-AR and plain amounts, refuses ambiguous ones', () => {
  const ok: Array<[string, number]> = [
    ['1.500,50', 1500.5],
    ['1500,50', 1500.5],
    ['1500.5', 1500.5],
    ['1,500.50', 1500.5],
    ['1.500.000', 1500000],
    ['1.500', 1500],
    ['$ 1.500', 1500],
    ['EUR 12,5', 12.5],
    ['0,5', 0.5],
    ['15005', 15005],
  ];
  for (const [text, n] of ok) assert.equal(parseAmount(text), n, text);
  for (const text of ['', 'abc', '-5', '1500.505', '1.500,000', '1.500.50', '15.00.000', '1,,5', '1e6']) assert.equal(parseAmount(text), null, text);
});

test('amounts pre-filled in a form read back the same in both languages', () => {
  for (const n of [0, 1500, 1500.5, 1234567.89, 0.05]) {
    assert.equal(parseAmount(amountForInput(n, 'es-AR')), n);
    assert.equal(parseAmount(amountForInput(n, 'en')), n);
  }
});

test('formatMoney uses the budget currency, cents only when there are any', () => {
  assert.match(formatMoney(500000, 'EUR', 'en'), /^€500,000$/);
  assert.match(formatMoney(1500.5, 'PLN', 'en'), /PLN\s?1,500\.50/);
  assert.match(formatMoney(1500, 'ARS', 'es-AR'), /^\$\s?1\.500$/);
  assert.doesNotMatch(formatMoney(1500, 'EUR', 'es-AR'), /\$/);
  // A malformed code from a file does not break the page.
  assert.match(formatMoney(3, 'X!', 'en'), /3/);
});

/** A deterministic pseudo-random generator, so the election is the same on every run. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('MES add1 at peso amounts (500,000,000 ARS, 300 voters) finishes and funds within the budget', () => {
  const r = rng(7);
  const projects = Array.from({ length: 14 }, (_, i) => ({ id: `p${String(i).padStart(2, '0')}`, cost: Math.round(20_000_000 + r() * 180_000_000) }));
  const ballots = Array.from({ length: 300 }, () => ({ projects: projects.filter(() => r() < 0.3).map((p) => p.id) })).filter((b) => b.projects.length > 0);
  const e: Election = { budget: 500_000_000, projects, ballots };
  const out = mes(e, { add1: true, add1Variant: 'last-feasible' });
  assert.ok(out.selected.length > 0);
  assert.ok(out.cost <= e.budget);
  // The per-voter budget went past B/n: add1 did work, on the 1-peso grid.
  assert.ok(out.perVoterBudget >= Math.floor(e.budget / ballots.length));
  assert.equal(out.perVoterBudget, Math.round(out.perVoterBudget));
  assert.deepEqual(decide(e, 'mes'), { selected: out.selected, cost: out.cost });
});

test('MES add1 skips a plateau of millions of 1-peso rounds (one lone supporter of a big project)', () => {
  // 300 voters fund a; b's only supporter would need 180 × B/n ≈ 300 M per-voter rounds of 1 peso to
  // afford it alone, where the outcome stops fitting. One round per peso would be 300 million runs.
  const ballots = [...Array.from({ length: 299 }, () => ({ projects: ['a'] })), { projects: ['b'] }];
  const e: Election = { budget: 500_000_000, projects: [{ id: 'a', cost: 300_000_000 }, { id: 'b', cost: 300_000_000 }], ballots };
  const out = mes(e, { add1: true, add1Variant: 'last-feasible' });
  assert.deepEqual(out.selected, ['a']);
  assert.ok(out.cost <= e.budget);
});

test('MES add1 never stops silently: past its bound it throws', () => {
  const ballots = [...Array.from({ length: 299 }, () => ({ projects: ['a'] })), { projects: ['b'] }];
  const e: Election = { budget: 500_000_000, projects: [{ id: 'a', cost: 300_000_000 }, { id: 'b', cost: 300_000_000 }], ballots };
  assert.throws(() => mes(e, { add1: true, maxRounds: 3 }), MesRoundsExceeded);
});

import test from 'node:test';
import assert from 'node:assert/strict';
import { checkTransition, open311Status, mySocietyStatus, isOverdue } from './status';
import { validateAnswers, attributesFromForm, type AttributeDefinition } from './attributes';
import { distanceMeters, boxAround, parseBbox, parseCoordinate } from './geo';
import { median, open311DateTime, parseDateFilter } from './stats';

test('status transitions: closed stays closed; not solvable needs a reason', () => {
  assert.equal(checkTransition('submitted', 'acknowledged', ''), null);
  assert.equal(checkTransition('in_progress', 'acknowledged', ''), 'not_allowed');
  assert.equal(checkTransition('solved', 'in_progress', ''), 'closed');
  assert.equal(checkTransition('acknowledged', 'not_solvable', '  '), 'reason_required');
  assert.equal(checkTransition('acknowledged', 'not_solvable', 'Es de una empresa de servicios'), null);
  assert.equal(open311Status('in_progress'), 'open');
  assert.equal(open311Status('merged'), 'closed');
  assert.equal(mySocietyStatus('solved'), 'FIXED');
  assert.equal(mySocietyStatus('merged'), 'DUPLICATE');
  assert.equal(isOverdue({ status: 'submitted', expected_at: new Date(Date.now() - 1000) }), true);
  assert.equal(isOverdue({ status: 'solved', expected_at: new Date(Date.now() - 1000) }), false);
});

const defs: AttributeDefinition[] = [
  { code: 'estado', datatype: 'singlevaluelist', required: true, description: '', values: [{ key: 'a', name: 'A' }, { key: 'b', name: 'B' }] },
  { code: 'n', datatype: 'number', required: false, description: '', values: [] },
  { code: 'm', datatype: 'multivaluelist', required: false, description: '', values: [{ key: 'x', name: 'X' }, { key: 'y', name: 'Y' }] },
];

test('answers are validated against the category questions', () => {
  assert.deepEqual(validateAnswers(defs, { estado: 'a', n: '3,5', m: ['x', 'y'], extra: 'ignored' }), { answers: { estado: 'a', n: '3.5', m: ['x', 'y'] }, errors: [] });
  assert.deepEqual(validateAnswers(defs, {}).errors, [{ code: 'estado', problem: 'required' }]);
  assert.deepEqual(validateAnswers(defs, { estado: 'z', n: 'tres', m: 'x,q' }).errors.map((e) => e.problem), ['not_an_option', 'not_a_number', 'not_an_option']);
  assert.deepEqual(validateAnswers(defs, { estado: 'b', m: 'x,y' }).answers.m, ['x', 'y']);
});

test('attribute[code] fields as Open311 clients send them', () => {
  assert.deepEqual(attributesFromForm({ 'attribute[estado]': 'a', 'attribute[m][]': ['x', 'y'], service_code: 's' }), { estado: 'a', m: ['x', 'y'] });
  assert.deepEqual(attributesFromForm({ 'attribute[m]': ['x', 'y'] }), { m: ['x', 'y'] });
});

test('geometry helpers', () => {
  const a = { lat: -34.6037, lng: -58.3816 };
  const d = distanceMeters(a, { lat: -34.6037 + 0.0009, lng: -58.3816 });
  assert.ok(d > 95 && d < 105, `~100 m, got ${d}`);
  const b = boxAround(a.lat, a.lng, 100);
  assert.ok(b.maxLng - b.minLng > b.maxLat - b.minLat, 'longitude degrees are shorter away from the equator');
  assert.deepEqual(parseBbox('-58.5,-34.7,-58.3,-34.5'), [-58.5, -34.7, -58.3, -34.5]);
  assert.equal(parseBbox('-58.3,-34.7,-58.5,-34.5'), null);
  assert.equal(parseBbox('a,b,c,d'), null);
  assert.equal(parseCoordinate('-34,6', 90), -34.6);
  assert.equal(parseCoordinate('200', 180), null);
  assert.equal(parseCoordinate('', 90), null);
});

test('statistics helpers', () => {
  assert.equal(median([]), null);
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(open311DateTime(new Date('2026-01-02T15:04:05.123Z')), '2026-01-02T12:04:05-03:00');
  assert.equal(parseDateFilter(''), null);
  assert.equal(parseDateFilter('nope'), 'invalid');
});

test('viewport strategy: wide viewports walk newest-first, small ones use the spatial index', async () => {
  const { viewportStrategy } = await import('./geo');
  const city: [number, number, number, number] = [-58.53, -34.71, -58.33, -34.53];
  assert.equal(viewportStrategy(city, city, 1_000_000, 1000), 'newest');
  assert.equal(viewportStrategy([-58.45, -34.62, -58.44, -34.61], city, 1_000_000, 1000), 'spatial');
  assert.equal(viewportStrategy(city, city, 500, 1000), 'spatial', 'few rows: the index is always cheap');
  assert.equal(viewportStrategy([0, 0, 1, 1], city, 1_000_000, 1000), 'spatial', 'outside the city');
});

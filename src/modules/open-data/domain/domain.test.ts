import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFq, parseFacetFields, parseSort, splitQuery, SearchQueryError } from './search-query';
import { guardSelect, planFacts, SqlGuardError } from './sql-guard';
import { detectDelimiter, columnNames, widen, cellProblem, copyCell } from './tabular';
import { barChartData, niceMax } from './chart';
import { coordinate, coordinateColumns, pathOf, projection, shapesOf, validPosition } from './map';

test('fq: field:value clauses, quotes, +/- prefixes, OR lists; unknown fields are refused', () => {
  assert.deepEqual(parseFq('organization:salud +res_format:"CSV" -tags:covid groups:(salud OR movilidad)'), [
    { field: 'organization', values: ['salud'], negate: false },
    { field: 'res_format', values: ['CSV'], negate: false },
    { field: 'tags', values: ['covid'], negate: true },
    { field: 'groups', values: ['salud', 'movilidad'], negate: false },
  ]);
  assert.deepEqual(parseFq('tags:"salud pública" AND license_id:CC-BY-4.0').map((c) => c.values[0]), ['salud pública', 'CC-BY-4.0']);
  assert.deepEqual(parseFq(''), []);
  assert.throws(() => parseFq('color:rojo'), SearchQueryError);
  assert.throws(() => parseFq('just words'), SearchQueryError);
});

test('facet.field, sort and q', () => {
  assert.deepEqual(parseFacetFields('["organization","groups"]'), ['organization', 'groups']);
  assert.deepEqual(parseFacetFields('tags'), ['tags']);
  assert.throws(() => parseFacetFields('["color"]'), SearchQueryError);
  assert.throws(() => parseFacetFields('[broken'), SearchQueryError);
  assert.deepEqual(parseSort('title_string asc, metadata_modified desc'), [{ key: 'title', dir: 'asc' }, { key: 'metadata_modified', dir: 'desc' }]);
  assert.throws(() => parseSort('colour asc'), SearchQueryError);
  assert.throws(() => parseSort('name sideways'), SearchQueryError);
  assert.deepEqual(splitQuery('*:*'), { text: '', filters: [] });
  const s = splitQuery('hospitales tags:salud');
  assert.equal(s.text, 'hospitales');
  assert.deepEqual(s.filters, [{ field: 'tags', values: ['salud'], negate: false }]);
});

test('datastore_search_sql guard: one SELECT over named tables, nothing else', () => {
  assert.deepEqual(guardSelect('SELECT * FROM "abc-1" WHERE x = 1;').tables, ['abc-1']);
  assert.deepEqual(guardSelect('select a.x from "t1" a join "t2" b on a.id = b.id').tables, ['t1', 't2']);
  assert.deepEqual(guardSelect('with s as (select * from "t1") select * from s').tables, ['t1']);
  assert.equal(guardSelect("select ';' from \"t1\"").tables[0], 't1'); // a semicolon inside a string is fine
  for (const bad of [
    'DELETE FROM "t1"',
    'select 1 from "t1"; select 2 from "t1"',
    'select * from "t1" -- ok\n; drop table x',
    'update "t1" set x = 1',
    'select * into other from "t1"',
    'select pg_sleep(1) from "t1"',
    'select * from pg_catalog.pg_roles',
    'select * from public.users',
    'select * from information_schema.tables',
    'select current_setting(\'x\') from "t1"',
    'select $$x$$ from "t1"',
    'select 1',
    'select * from generate_series(1, 10)',
    '',
    // E'' strings take backslash escapes: \' does not end them, so the "comment" is inside the string
    // and the sub-select after it is seen (and its schema refused).
    "select E'\\' --', (select email from public.users limit 1) as leak\nfrom \"t1\"",
    'select * from U&"\\0070g_class"',
    'select public.od_dataset_formats(x) from "t1"',
    'select schema_to_xml(\'public\', true, true, \'\') from "t1"',
    'select $1 from "t1"',
    "select ts_rewrite('a'::tsquery, 'select q, s from public.od_datasets') from \"t1\"",
  ]) {
    assert.throws(() => guardSelect(bad), SqlGuardError, bad);
  }
  // An E'' string's escaped quote, and a U&'' string, are strings: what follows them is still read.
  assert.deepEqual(guardSelect("select E'it\\'s' as a, U&'d\\0061t' as b from \"t1\"").tables, ['t1']);
});

test('datastore_search_sql plan facts: every relation read, forbidden calls in expressions, the cost', () => {
  const plan = [{
    Plan: {
      'Node Type': 'Nested Loop', 'Total Cost': 1234.5, Output: ['a.x'],
      Plans: [
        { 'Node Type': 'Seq Scan', 'Relation Name': 't1', Schema: 'datastore', Alias: 'a', Output: ['a.x'] },
        { 'Node Type': 'Seq Scan', 'Relation Name': 'users', Schema: 'public', Alias: 'users', Filter: "(users.email <> 'pg_sleep(1)'::text)" },
      ],
    },
  }];
  const f = planFacts(JSON.stringify(plan));
  assert.deepEqual(f.relations, [{ schema: 'datastore', name: 't1' }, { schema: 'public', name: 'users' }]);
  assert.equal(f.totalCost, 1234.5);
  // PostgreSQL's deparse has resolved every quoting: a call found there is refused.
  const withCall = (expr: string) => [{ Plan: { 'Node Type': 'Result', 'Total Cost': 1, Output: [expr] } }];
  assert.throws(() => planFacts(withCall('pg_sleep(\'1\'::double precision)')), SqlGuardError);
  assert.throws(() => planFacts(withCall('public.od_dataset_formats(a.x)')), SqlGuardError);
  assert.throws(() => planFacts(withCall('(query_to_xml(\'select 1\'::text, true, true, \'\'::text))::text')), SqlGuardError);
  assert.doesNotThrow(() => planFacts(withCall("sum(a.x), lower(a.y), 'pg_sleep('::text")));
});

test('tabular: delimiter, column names, type inference, COPY cells', () => {
  assert.equal(detectDelimiter('a;b;c\n1;2;3\n'), ';');
  assert.equal(detectDelimiter('a,b\n"x;y",2\n'), ',');
  assert.equal(detectDelimiter('a\tb\n1\t2\n'), '\t');
  assert.deepEqual(columnNames(['\uFEFFid', 'nombre', 'nombre', '', '_id']), ['id', 'nombre', 'nombre_2', 'column_4', 'col_id']);
  let t = widen(null, '1');
  t = widen(t, '');
  assert.equal(t, 'int');
  assert.equal(widen(t, '2.5'), 'numeric');
  assert.equal(widen(widen(null, '2020-01-01'), '2020-01-01T10:00:00'), 'timestamp');
  assert.equal(widen(widen(null, '1'), 'uno'), 'text');
  // Decimal commas, as Argentine files write them, are numbers; with thousands points they stay text.
  assert.equal(widen(null, '-34,6037'), 'numeric');
  assert.equal(widen(widen(null, '12'), '1,5'), 'numeric');
  assert.equal(widen(null, '1.234,5'), 'text');
  assert.equal(widen(null, '2021-02-30'), 'text');
  assert.equal(widen(null, '2021-02-28 24:10'), 'text');
  assert.equal(cellProblem('int', 'x'), '"x" is not an integer');
  assert.equal(cellProblem('int', ''), null);
  assert.equal(copyCell('text', 'a\tb\\c\nd'), 'a\\tb\\\\c\\nd');
  assert.equal(copyCell('int', ''), '\\N');
});

test('chart data: the first numeric column summed by the first text column', () => {
  const fields = [{ id: '_id', type: 'int' }, { id: 'barrio', type: 'text' }, { id: 'n', type: 'int8' }];
  const data = barChartData(fields, [{ barrio: 'A', n: 1 }, { barrio: 'B', n: 5 }, { barrio: 'A', n: 2 }]);
  assert.deepEqual(data, [{ label: 'B', value: 5 }, { label: 'A', value: 3 }]);
  assert.deepEqual(barChartData([{ id: 'x', type: 'text' }], [{ x: 'a' }]), []);
  assert.equal(niceMax(7300), 10000);
  assert.equal(niceMax(120), 200);
});

test('map helpers: coordinate columns, decimal commas, GeoJSON shapes, projection', () => {
  assert.deepEqual(coordinateColumns(['_id', 'nombre', 'LAT', 'Lng']), { lat: 'LAT', lng: 'Lng' });
  assert.equal(coordinateColumns(['x', 'y']), null);
  assert.equal(coordinate('-34,6037'), -34.6037);
  assert.equal(coordinate(''), null);
  assert.ok(!validPosition(0, 0));
  const shapes = shapesOf({ type: 'FeatureCollection', features: [{ type: 'Feature', geometry: { type: 'Point', coordinates: [-58.38, -34.6] } }, { type: 'Feature', geometry: { type: 'MultiPolygon', coordinates: [[[[-58.4, -34.6], [-58.3, -34.6], [-58.3, -34.7], [-58.4, -34.6]]]] } }] });
  assert.equal(shapes.points.length, 1);
  assert.equal(shapes.lines.length, 1);
  const p = projection(shapes)!;
  const [x0, y0] = p.project([-58.4, -34.6]);
  const [x1, y1] = p.project([-58.3, -34.7]);
  assert.ok(x1 > x0 && y1 > y0); // east is right, south is down
  assert.match(pathOf(shapes.lines[0], p), /^M[\d.]+ [\d.]+L/);
  assert.equal(projection({ points: [], lines: [] }), null);
});

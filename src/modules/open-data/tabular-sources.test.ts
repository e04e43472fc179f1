import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import { text } from 'node:stream/consumers';
import { jsonAsCsv, jsonRecords } from './tabular-sources';

/** The text cut into pieces of `size` bytes, so that tokens, strings and UTF-8 characters straddle chunks. */
function chunked(s: string, size: number): () => Readable {
  const b = Buffer.from(s, 'utf8');
  return () => Readable.from((function* () {
    for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
  })());
}

async function records(s: string, size = 3): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const r of jsonRecords(chunked(s, size)())) out.push(r);
  return out;
}

test('jsonRecords yields the same records as JSON.parse whatever the chunk size', async () => {
  const doc = '\ufeff[ {"barrio":"Núñez","n":1,"tags":["a","]"],"q":"dice \\"hola\\" {"} ,\n{"barrio":"Palermo","n":2.5,"x":null,"o":{"k":[1,{"z":"}"}]}} ]\n';
  const expected = JSON.parse(doc.slice(1));
  for (const size of [1, 2, 3, 5, 64, 4096]) assert.deepEqual(await records(doc, size), expected, `chunks of ${size}`);
  const wrapped = JSON.stringify({ help: 'x', fields: [{ id: 'a' }], records: [[1, 2], [3, 4]], total: 2 });
  assert.deepEqual(await records(wrapped, 4), [[1, 2], [3, 4]]);
});

test('jsonRecords refuses what JSON.parse (or the records shape) refuses', async () => {
  const bad: Array<[string, RegExp]> = [
    ['[{"a":1} {"a":2}]', /not valid JSON/],
    ['[{"a":1},]', /not valid JSON/],
    ['[{"a":1}', /not valid JSON/],
    ['[{"a":1}] x', /not valid JSON/],
    ['[{"a":01}]', /not valid JSON/],
    ['[{"a":1}, 3]', /objects or arrays/],
    ['[null]', /objects or arrays/],
    ['[]', /non-empty array/],
    ['{"a":1}', /non-empty array/],
    ['42', /non-empty array/],
    ['hello', /not valid JSON/],
  ];
  for (const [doc, message] of bad) await assert.rejects(() => records(doc, 2), message, doc);
});

test('jsonAsCsv: columns are the union of the keys, rows stream in order; arrays take a header row', async () => {
  const objects = '[{"a":1,"b":"x, y"},{"b":"z","c":true},{"a":null}]';
  assert.equal(await text((await jsonAsCsv(chunked(objects, 4)))()), 'a,b,c\n1,"x, y",\n,z,true\n,,\n');
  const arrays = '[["id","name"],[1,"uno"],[2,"dos"]]';
  assert.equal(await text((await jsonAsCsv(chunked(arrays, 5)))()), 'id,name\n1,uno\n2,dos\n');
  await assert.rejects(() => jsonAsCsv(chunked('[{"a":1},[1]]', 3)), /objects or arrays/);
});

test('jsonAsCsv reads the file as a stream: a 33 MB array is converted without holding it', async () => {
  const rows = 300_000;
  const row = (i: number) => JSON.stringify({ id: i, name: `barrio ${i}`, value: i * 1.5, note: 'x'.repeat(60) });
  // Generated lazily, in 64 KB chunks: the document never exists whole in this process.
  const open = () =>
    Readable.from(
      (function* () {
        let buf = '[';
        for (let i = 0; i < rows; i++) {
          buf += (i ? ',' : '') + row(i);
          if (buf.length > 65_536) {
            yield Buffer.from(buf);
            buf = '';
          }
        }
        yield Buffer.from(buf + ']');
      })(),
    );
  // What stays reachable is what counts (garbage is not held): measured after a full collection.
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const live = () => {
    gc();
    return process.memoryUsage().heapUsed;
  };
  const before = live();
  let peak = 0;
  let lines = 0;
  let last = '';
  const source = await jsonAsCsv(open);
  peak = Math.max(peak, live() - before);
  for await (const chunk of source()) {
    lines++;
    last = String(chunk);
    if (lines % 100_000 === 0) peak = Math.max(peak, live() - before);
  }
  assert.equal(lines, rows + 1);
  assert.equal(last, `${rows - 1},barrio ${rows - 1},${(rows - 1) * 1.5},${'x'.repeat(60)}\n`);
  // The document is ~33 MB (twice that as a JS string): a whole-file parse would hold far more.
  assert.ok(peak < 8 * 1024 * 1024, `live heap grew by ${Math.round(peak / 1048576)} MB`);
});

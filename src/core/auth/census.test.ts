import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createTestApp, createUser, TestClient, type TestContext } from '../testing/harness';
import { systemActor } from '../audit';
import { censusHash, CensusFileError, censusCount, importCensusCsv, LocalCensus, normaliseDocument, parseBirthDate } from './census';
import { ensureCommunes } from './testing';

let t: TestContext;
before(async () => {
  t = await createTestApp();
  await ensureCommunes(t.services);
});
after(async () => {
  await t.close();
});

test('document numbers are hashed with the instance key, digits only', () => {
  assert.equal(normaliseDocument('30.111.222'), '30111222');
  const expected = crypto.createHmac('sha256', 'k').update('30111222').digest('hex');
  assert.equal(censusHash('k', '30.111.222'), expected);
  assert.equal(censusHash('k', '30 111 222'), expected);
  assert.notEqual(censusHash('other key', '30111222'), expected);
});

test('dates of birth: ISO or Argentine order, real dates only', () => {
  assert.equal(parseBirthDate('1990-05-17'), '1990-05-17');
  assert.equal(parseBirthDate('17/05/1990'), '1990-05-17');
  assert.equal(parseBirthDate('7/5/1990'), '1990-05-07');
  assert.equal(parseBirthDate('29/02/1988'), '1988-02-29');
  assert.equal(parseBirthDate('29/02/1989'), null);
  assert.equal(parseBirthDate('05/17/1990'), null);
  assert.equal(parseBirthDate('2990-01-01'), null);
  assert.equal(parseBirthDate('yesterday'), null);
});

test('a CSV with bad rows: good rows imported, bad ones reported by line and reason, audited', async () => {
  const csv = [
    '\uFEFFDocument_Number;date_of_birth;commune;gender',
    '40.100.200;1995-03-04;5;F',
    '40100201;04/03/1995;15;',
    'ABC;1995-03-04;5;F',
    '40100202;1995-02-30;5;',
    '40100203;1995-03-04;16;',
    '40100204;1995-03-04;2;robot',
    '40100200;1999-01-01;6;M',
    '',
    '40100205;1960-12-31;1;X',
  ].join('\r\n');
  const result = await importCensusCsv(t.services, csv, { id: null, email: 'admin@test', ip: '10.1.1.1' });
  assert.equal(result.imported, 3);
  assert.equal(result.total, 3);
  assert.deepEqual(
    result.rejected.map((r) => [r.line, r.code]),
    [
      [4, 'document'],
      [5, 'birthDate'],
      [6, 'commune'],
      [7, 'gender'],
      [8, 'duplicate'],
    ],
  );
  const local = new LocalCensus(t.services);
  assert.deepEqual(await local.lookup('40100200', '1995-03-04'), { communeId: 5, gender: 'female' });
  assert.deepEqual(await local.lookup('40.100.201', '1995-03-04'), { communeId: 15, gender: null });
  assert.deepEqual(await local.lookup('40100205', '1960-12-31'), { communeId: 1, gender: 'other' });
  assert.equal(await local.lookup('40100200', '1999-01-01'), null, 'the duplicate did not overwrite the first row');
  const audit = await t.services.db.selectFrom('audit_log').selectAll().where('action', '=', 'census.import').orderBy('id', 'desc').executeTakeFirstOrThrow();
  assert.deepEqual(audit.details, { mode: 'upsert', imported: 3, rejected: 5 });
  assert.equal(audit.ip, '10.1.1.1');
});

test('upsert keeps records absent from the file and updates present ones; replace starts over', async () => {
  await importCensusCsv(t.services, 'document_number,date_of_birth,commune\n50000001,1970-01-01,1\n50000002,1970-01-02,2\n', systemActor, { mode: 'replace' });
  assert.equal(await censusCount(t.services), 2);
  const r = await importCensusCsv(t.services, Readable.from(['document_number,date_of_birth,commune\n', '50000002,1970-01-02,9\n50000003,1970-01-03,3\n']), systemActor);
  assert.equal(r.total, 3);
  assert.deepEqual(await new LocalCensus(t.services).lookup('50000002', '1970-01-02'), { communeId: 9, gender: null });
  const replaced = await importCensusCsv(t.services, 'document_number,date_of_birth,commune\n50000004,1970-01-04,4\n', systemActor, { mode: 'replace' });
  assert.equal(replaced.total, 1);
  assert.equal(await new LocalCensus(t.services).lookup('50000001', '1970-01-01'), null);
});

test('a file without the required columns is refused whole', async () => {
  const before = await censusCount(t.services);
  await assert.rejects(importCensusCsv(t.services, 'dni,birth\n50000009,1970-01-01\n', systemActor), (err: Error) => err instanceof CensusFileError && /document_number/.test(err.message));
  assert.equal(await censusCount(t.services), before);
});

test('the demo census file imports cleanly', { skip: !fs.existsSync(path.resolve('data/demo/census.csv')) && 'no data/demo/census.csv yet' }, async () => {
  const r = await importCensusCsv(t.services, fs.readFileSync(path.resolve('data/demo/census.csv'), 'utf8'), systemActor);
  assert.deepEqual(r.rejected, []);
  assert.ok(r.imported > 0);
});

function multipart(fields: Record<string, string>, file: { name: string; content: Buffer | string }) {
  const boundary = '----cabildo' + crypto.randomBytes(6).toString('hex');
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  }
  parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${file.name}"\r\nContent-Type: text/csv\r\n\r\n`));
  parts.push(Buffer.isBuffer(file.content) ? file.content : Buffer.from(file.content));
  parts.push(Buffer.from(`\r\n--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

test('/admin/census: the administrator uploads a CSV and sees the rejected lines', async () => {
  const admin = await createUser(t.services, { roles: ['admin'] });
  const c = await new TestClient(t.app).signInAs(t.services, admin.id);
  let res = await c.get('/admin/census');
  assert.equal(res.statusCode, 200);
  const action = /action="(\/admin\/census\?_csrf=[^"]+)"/.exec(res.body);
  assert.ok(action, 'the multipart form carries its CSRF token in the action URL');
  // Latin-1, as spreadsheets still save it: the header is plain ASCII, a gender says "Varón".
  const latin1 = Buffer.from('document_number,date_of_birth,commune,gender\n60000001,1980-01-01,3,Var\xf3n\n60000002,1980-13-01,3,\n', 'latin1');
  const body = multipart({ mode: 'upsert' }, { name: 'padron.csv', content: latin1 });
  res = await c.request({ method: 'POST', url: action[1].replace(/&amp;/g, '&'), ...body });
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /Importados: 1\. Rechazados: 1\./);
  assert.match(res.body, /<th scope="row">3<\/th>\s*<td>La fecha de nacimiento no es válida\.<\/td>/);
  assert.deepEqual(await new LocalCensus(t.services).lookup('60000001', '1980-01-01'), { communeId: 3, gender: 'male' });
  const audit = await t.services.db.selectFrom('audit_log').selectAll().where('action', '=', 'census.import').where('actor_id', '=', admin.id).executeTakeFirstOrThrow();
  assert.equal((audit.details as { imported: number }).imported, 1);

  // No token → 403; a broken file → 400 page, nothing imported.
  res = await c.request({ method: 'POST', url: '/admin/census', ...multipart({}, { name: 'x.csv', content: 'document_number,date_of_birth,commune\n60000003,1980-01-01,3\n' }) });
  assert.equal(res.statusCode, 403);
  res = await c.request({ method: 'POST', url: action[1].replace(/&amp;/g, '&'), ...multipart({}, { name: 'x.csv', content: 'nombre,apellido\nA,B\n' }) });
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /No pudimos leer el archivo/);
});

test('/admin/census is for administrators only', async () => {
  const resident = await createUser(t.services, { roles: ['official'] });
  const c = await new TestClient(t.app).signInAs(t.services, resident.id);
  assert.equal((await c.get('/admin/census')).statusCode, 403);
  const anon = await t.app.inject('/admin/census');
  assert.equal(anon.statusCode, 303);
  assert.match(String(anon.headers.location), /^\/signin\?next=/);
});

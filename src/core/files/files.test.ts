import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { createTestApp, type TestContext } from '../testing/harness';
import { UploadError } from './index';

let t: TestContext;
before(async () => {
  t = await createTestApp({ config: { uploadLimitBytes: 200_000 } });
});
after(() => t.close());

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

/** A 2400×1800 JPEG carrying EXIF with GPS coordinates, as a phone writes it. */
async function photoWithGps(): Promise<Buffer> {
  return sharp({ create: { width: 2400, height: 1800, channels: 3, background: { r: 200, g: 120, b: 40 } } })
    .withExif({
      IFD0: { Make: 'CabildoPhone', Model: 'Test 1' },
      IFD3: { GPSLatitudeRef: 'S', GPSLatitude: '34/1 36/1 0/1', GPSLongitudeRef: 'W', GPSLongitude: '58/1 22/1 0/1' },
    })
    .jpeg({ quality: 30 })
    .toBuffer();
}

test('the test photo really carries EXIF with GPS (so the next test can fail)', async () => {
  const meta = await sharp(await photoWithGps()).metadata();
  assert.ok(meta.exif, 'exif present');
  assert.match(meta.exif!.toString('latin1'), /CabildoPhone/);
});

test('putImage strips EXIF and GPS, resizes, and makes a thumbnail', async () => {
  const stored = await t.services.files.putImage(await photoWithGps(), 'plaza.jpeg');
  assert.equal(stored.content_type, 'image/jpeg');
  assert.equal(stored.original_name, 'plaza.jpg');
  assert.ok(stored.width! <= 1600 && stored.height! <= 1600, `resized to ${stored.width}×${stored.height}`);
  assert.equal(stored.width, 1600);
  const bytes = await readAll(t.services.files.open(stored.id));
  assert.equal(bytes.length, stored.size);
  const meta = await sharp(bytes).metadata();
  assert.equal(meta.exif, undefined, 'no EXIF left');
  assert.equal(meta.width, 1600);
  assert.doesNotMatch(bytes.toString('latin1'), /CabildoPhone|GPS/);
  const thumb = await sharp(await readAll(t.services.files.open(stored.id, 'thumb'))).metadata();
  assert.ok(thumb.width! <= 320 && thumb.height! <= 320);
});

test('a text file renamed .jpg is refused as not_image and nothing is stored', async () => {
  const before = await t.services.db.selectFrom('files').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  await assert.rejects(
    () => t.services.files.putImage(Buffer.from('just some text, not a picture\n'.repeat(10)), 'cat.jpg'),
    (err: unknown) => err instanceof UploadError && err.code === 'not_image',
  );
  const afterCount = await t.services.db.selectFrom('files').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  assert.equal(Number(afterCount.n), Number(before.n));
});

test('files over the limit are refused as too_large (images and other files)', async () => {
  const big = Buffer.alloc(200_001, 1);
  await assert.rejects(() => t.services.files.put(big, 'big.bin'), (err: unknown) => err instanceof UploadError && err.code === 'too_large');
  await assert.rejects(() => t.services.files.putImage(big, 'big.jpg'), (err: unknown) => err instanceof UploadError && err.code === 'too_large');
});

test('put sniffs the type from the bytes, not from the name', async () => {
  const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#000' } }).png().toBuffer();
  const stored = await t.services.files.put(png, 'report.pdf', { contentType: 'application/pdf' });
  assert.equal(stored.content_type, 'image/png');
});

test('GET /files/:id streams an image inline with nosniff and long caching; /thumb too', async () => {
  const stored = await t.services.files.putImage(await photoWithGps(), 'obra.jpg');
  const res = await t.app.inject(`/files/${stored.id}`);
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'image/jpeg');
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.match(res.headers['content-disposition'] as string, /^inline; filename="obra\.jpg"/);
  assert.match(res.headers['cache-control'] as string, /max-age=31536000/);
  assert.equal(res.rawPayload.length, stored.size);
  const cached = await t.app.inject({ url: `/files/${stored.id}`, headers: { 'if-none-match': res.headers.etag as string } });
  assert.equal(cached.statusCode, 304);
  assert.equal(cached.rawPayload.length, 0);
  const thumb = await t.app.inject(`/files/${stored.id}/thumb`);
  assert.equal(thumb.statusCode, 200);
  assert.equal(thumb.headers['content-type'], 'image/jpeg');
  assert.ok((await sharp(thumb.rawPayload).metadata()).width! <= 320);
});

test('GET /files/:id serves other files as attachments, keeping a non-ASCII name', async () => {
  const stored = await t.services.files.put(Buffer.from('a,b\n1,2\n'), 'presupuesto año.csv', { contentType: 'text/csv' });
  const res = await t.app.inject(`/files/${stored.id}`);
  assert.equal(res.statusCode, 200);
  assert.match(res.headers['content-type'] as string, /^text\/csv/);
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.match(res.headers['content-disposition'] as string, /^attachment; filename="presupuesto a_o\.csv"; filename\*=UTF-8''presupuesto%20a%C3%B1o\.csv$/);
  assert.equal(res.body, 'a,b\n1,2\n');
  assert.equal((await t.app.inject(`/files/${stored.id}/thumb`)).statusCode, 404, 'no thumbnail for a CSV');
});

test('unknown, malformed and missing-on-disk files are 404, never 500', async () => {
  assert.equal((await t.app.inject('/files/0123456789abcdef0123456789abcdef')).statusCode, 404);
  assert.equal((await t.app.inject('/files/..%2F..%2Fetc%2Fpasswd')).statusCode, 404);
  const stored = await t.services.files.put(Buffer.from('gone'), 'gone.txt');
  await t.services.files.storage.remove(stored.id);
  assert.equal((await t.app.inject(`/files/${stored.id}`)).statusCode, 404);
});

/** Every file under the store's directory (temporary ones included). */
function storedNames(): string[] {
  const root = path.join(t.services.config.dataDir, 'files');
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
}

test('putStream stores a chunked stream: size, sha256 and type from its first bytes (split across chunks)', async () => {
  const body = Buffer.concat([Buffer.from('%PDF-1.7\n'), crypto.randomBytes(150_000)]);
  // The magic number arrives split over two chunks, the rest in small pieces.
  const chunks = [body.subarray(0, 2), body.subarray(2, 3)];
  for (let i = 3; i < body.length; i += 7_001) chunks.push(body.subarray(i, i + 7_001));
  const stored = await t.services.files.putStream(Readable.from(chunks), 'informe.pdf', { contentType: 'text/plain' });
  assert.equal(stored.content_type, 'application/pdf');
  assert.equal(stored.size, body.length);
  assert.equal(stored.sha256, crypto.createHash('sha256').update(body).digest('hex'));
  assert.deepEqual(await readAll(t.services.files.open(stored.id)), body);
  assert.ok(!storedNames().some((n) => n.endsWith('.tmp')), 'no temporary file left');
});

test('put is the same store: a Buffer gets the row putStream would give', async () => {
  const body = Buffer.from('a,b\n1,2\n');
  const stored = await t.services.files.put(body, 'x.csv', { contentType: 'text/csv' });
  assert.equal(stored.content_type, 'text/csv');
  assert.equal(stored.sha256, crypto.createHash('sha256').update(body).digest('hex'));
  assert.deepEqual(await readAll(t.services.files.open(stored.id)), body);
});

test('putStream past the limit stops with too_large and leaves neither a row nor bytes', async () => {
  const count = async () => Number((await t.services.db.selectFrom('files').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const rowsBefore = await count();
  const namesBefore = storedNames().length;
  let produced = 0;
  // An endless source: only the limit ends it.
  const endless = Readable.from(
    (function* () {
      for (;;) {
        produced += 16_384;
        yield Buffer.alloc(16_384, 0x61);
      }
    })(),
  );
  await assert.rejects(
    () => t.services.files.putStream(endless, 'huge.csv'),
    (err: unknown) => err instanceof UploadError && err.code === 'too_large' && /200000 bytes/.test(err.message),
  );
  assert.ok(produced < 300_000, `stopped reading near the limit (${produced} bytes read)`);
  assert.equal(await count(), rowsBefore);
  assert.equal(storedNames().length, namesBefore, 'the temporary file is removed');
  // put refuses the same way, before writing anything.
  await assert.rejects(() => t.services.files.put(Buffer.alloc(200_001), 'big.bin'), (err: unknown) => err instanceof UploadError && err.code === 'too_large');
});

test('putStream: a source that fails midway leaves nothing behind', async () => {
  const namesBefore = storedNames().length;
  const failing = Readable.from(
    (function* () {
      yield Buffer.alloc(1000, 0x62);
      throw new Error('connection reset');
    })(),
  );
  await assert.rejects(() => t.services.files.putStream(failing, 'cut.csv'), /connection reset/);
  assert.equal(storedNames().length, namesBefore);
});

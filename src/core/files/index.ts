import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import sharp, { type Metadata } from 'sharp';
import type { Kysely, Selectable } from 'kysely';
import type { CoreTables, FilesTable } from '../db/schema';

export type StoredFile = Selectable<FilesTable>;

/** Where the bytes live. Local disk today; an S3-compatible store implements the same three calls. */
export interface BlobStorage {
  write(key: string, data: Buffer): Promise<void>;
  /** Writes a stream; on any error (the source's too) nothing is left under `key`. */
  writeStream(key: string, data: Readable): Promise<void>;
  read(key: string): NodeJS.ReadableStream;
  exists(key: string): Promise<boolean>;
  remove(key: string): Promise<void>;
}

export class LocalDiskStorage implements BlobStorage {
  constructor(private readonly root: string) {}
  private pathOf(key: string) {
    if (!/^[a-z0-9._-]+$/i.test(key)) throw new Error('bad storage key');
    return path.join(this.root, key.slice(0, 2), key);
  }
  async write(key: string, data: Buffer) {
    const p = this.pathOf(key);
    await fsp.mkdir(path.dirname(p), { recursive: true });
    // Write then rename: a reader in another process never sees half a file.
    const tmp = `${p}.${process.pid}.tmp`;
    await fsp.writeFile(tmp, data);
    await fsp.rename(tmp, p);
  }
  async writeStream(key: string, data: Readable) {
    const p = this.pathOf(key);
    await fsp.mkdir(path.dirname(p), { recursive: true });
    const tmp = `${p}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
    try {
      await pipeline(data, fs.createWriteStream(tmp));
      await fsp.rename(tmp, p);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
  }
  read(key: string) {
    return fs.createReadStream(this.pathOf(key));
  }
  async exists(key: string) {
    return fsp.access(this.pathOf(key)).then(() => true, () => false);
  }
  async remove(key: string) {
    await fsp.rm(this.pathOf(key), { force: true });
  }
}

export class UploadError extends Error {
  constructor(
    readonly code: 'too_large' | 'not_image' | 'bad_type',
    message: string,
  ) {
    super(message);
  }
}

const IMAGE_FORMATS: Record<string, string> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp', gif: 'image/gif', heif: 'image/heif', avif: 'image/avif' };

export class FileStore {
  constructor(
    private readonly db: Kysely<CoreTables>,
    readonly storage: BlobStorage,
    readonly limitBytes: number,
  ) {}

  /** Stores any file as is (datasets, documents). The type is sniffed, not trusted from the client. */
  async put(data: Buffer, originalName: string, opts: { createdBy?: number | null; contentType?: string } = {}): Promise<StoredFile> {
    if (data.length > this.limitBytes) throw new UploadError('too_large', `File larger than ${this.limitBytes} bytes`);
    return this.putStream(Readable.from([data]), originalName, opts);
  }

  /**
   * Stores a stream as `put` does a Buffer, never holding the whole file: the bytes go to a
   * temporary file while they are hashed and counted, and the type is sniffed from the first
   * bytes. Past the size limit the write stops and the temporary file is removed (too_large).
   */
  async putStream(data: Readable | AsyncIterable<Buffer> | Iterable<Buffer>, originalName: string, opts: { createdBy?: number | null; contentType?: string } = {}): Promise<StoredFile> {
    const id = crypto.randomBytes(16).toString('hex');
    const hash = crypto.createHash('sha256');
    const limit = this.limitBytes;
    let size = 0;
    let head = Buffer.alloc(0);
    async function* metered() {
      for await (const c of data) {
        const chunk = Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array);
        size += chunk.length;
        if (size > limit) throw new UploadError('too_large', `File larger than ${limit} bytes`);
        if (head.length < 16) head = Buffer.concat([head, chunk.subarray(0, 16 - head.length)]);
        hash.update(chunk);
        yield chunk;
      }
    }
    await this.storage.writeStream(id, Readable.from(metered(), { objectMode: false }));
    try {
      return await this.db
        .insertInto('files')
        .values({
          id,
          original_name: originalName.slice(0, 255),
          content_type: sniffType(head) ?? opts.contentType ?? 'application/octet-stream',
          size,
          sha256: hash.digest('hex'),
          created_by: opts.createdBy ?? null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    } catch (err) {
      await this.storage.remove(id);
      throw err;
    }
  }

  /**
   * Stores a photo: checks from its bytes that it is an image, turns it upright, resizes it to at
   * most `maxSize` px and re-encodes it as JPEG, which drops EXIF, GPS and every other metadata.
   */
  async putImage(data: Buffer, originalName: string, opts: { createdBy?: number | null; maxSize?: number } = {}): Promise<StoredFile> {
    if (data.length > this.limitBytes) throw new UploadError('too_large', `Image larger than ${this.limitBytes} bytes`);
    let meta: Metadata;
    try {
      meta = await sharp(data).metadata();
    } catch {
      throw new UploadError('not_image', 'The file is not an image');
    }
    if (!meta.format || !IMAGE_FORMATS[meta.format]) throw new UploadError('not_image', 'The file is not a supported image (JPEG, PNG, WebP, GIF, HEIF, AVIF)');
    const max = opts.maxSize ?? 1600;
    const { data: out, info } = await sharp(data)
      .rotate()
      .resize({ width: max, height: max, fit: 'inside', withoutEnlargement: true })
      .jpeg({ quality: 82, mozjpeg: true })
      .toBuffer({ resolveWithObject: true });
    const id = crypto.randomBytes(16).toString('hex');
    await this.storage.write(id, out);
    const thumb = await sharp(out).resize({ width: 320, height: 320, fit: 'inside' }).jpeg({ quality: 75 }).toBuffer();
    await this.storage.write(`${id}-thumb`, thumb);
    return this.db
      .insertInto('files')
      .values({
        id,
        original_name: originalName.replace(/\.[^.]*$/, '').slice(0, 250) + '.jpg',
        content_type: 'image/jpeg',
        size: out.length,
        sha256: crypto.createHash('sha256').update(out).digest('hex'),
        width: info.width,
        height: info.height,
        created_by: opts.createdBy ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  get(id: string): Promise<StoredFile | undefined> {
    return this.db.selectFrom('files').selectAll().where('id', '=', id).executeTakeFirst();
  }

  open(id: string, variant?: 'thumb'): NodeJS.ReadableStream {
    return this.storage.read(variant ? `${id}-${variant}` : id);
  }
}

/** The type from the first bytes, for the formats we accept; undefined when unknown. */
export function sniffType(b: Buffer): string | undefined {
  const starts = (...bytes: number[]) => bytes.every((x, i) => b[i] === x);
  if (starts(0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (starts(0x89, 0x50, 0x4e, 0x47)) return 'image/png';
  if (starts(0x47, 0x49, 0x46, 0x38)) return 'image/gif';
  if (b.length > 12 && b.toString('ascii', 0, 4) === 'RIFF' && b.toString('ascii', 8, 12) === 'WEBP') return 'image/webp';
  if (starts(0x25, 0x50, 0x44, 0x46)) return 'application/pdf';
  if (starts(0x50, 0x4b, 0x03, 0x04)) return 'application/zip';
  return undefined;
}

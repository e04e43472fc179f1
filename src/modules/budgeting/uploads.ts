import type { FastifyRequest } from 'fastify';
import { sniffType, UploadError, type StoredFile } from '../../core/files';
import type { Translate } from '../../core/i18n';
import type { Services } from '../../core/services';

/** Limits of a proposal's attachments (the core upload limit, UPLOAD_LIMIT_BYTES, also applies). */
export const MAX_IMAGES = 6;
export const MAX_DOCUMENTS = 4;
export const DOCUMENT_MAX_BYTES = 5 * 1024 * 1024;
/** What core's sniffer and image pipeline both accept (sharp reads them; the sniffer knows them). */
const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/gif']);

export type Form = Record<string, string | string[] | undefined>;

export interface Upload {
  field: string;
  filename: string;
  data: Buffer;
}

/**
 * The fields and files of a form, multipart (with files) or urlencoded (without JavaScript or
 * files, and the tests' plain posts). An empty file input sends an empty part: skipped. A file over
 * the core limit stops the reading: the caller says so instead of storing half a form.
 */
export async function readForm(request: FastifyRequest): Promise<{ form: Form; files: Upload[]; tooLarge: boolean }> {
  if (!request.isMultipart()) return { form: (request.body ?? {}) as Form, files: [], tooLarge: false };
  const form: Form = {};
  const files: Upload[] = [];
  let tooLarge = false;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        const data = await part.toBuffer();
        if (data.length) files.push({ field: part.fieldname, filename: part.filename || 'archivo', data });
      } else if (part.fieldname !== '_csrf') {
        const prev = form[part.fieldname];
        const value = String(part.value);
        form[part.fieldname] = prev === undefined ? value : ([] as string[]).concat(prev, value);
      }
    }
  } catch (err) {
    if ((err as { code?: string }).code !== 'FST_REQ_FILE_TOO_LARGE') throw err;
    tooLarge = true;
  }
  return { form, files, tooLarge };
}

export function humanSize(bytes: number, locale: string): string {
  const mb = bytes / (1024 * 1024);
  const n = new Intl.NumberFormat(locale === 'en' ? 'en' : 'es-AR', { maximumFractionDigits: 1 });
  return mb >= 1 ? `${n.format(mb)} MB` : `${n.format(Math.max(1, Math.round(bytes / 1024)))} KB`;
}

/**
 * Checks a proposal's new files from their bytes, before anything is stored: images must be a
 * picture format the image pipeline reads, documents PDF (sniffed, not the name or the browser's
 * word) under DOCUMENT_MAX_BYTES, and the counts, with what the proposal has, within the limits.
 */
export function checkProposalFiles(t: Translate, locale: string, files: Upload[], existing: { images: number; documents: number }) {
  const errors: string[] = [];
  const images = files.filter((f) => f.field === 'images');
  const documents = files.filter((f) => f.field === 'documents');
  if (existing.images + images.length > MAX_IMAGES) errors.push(t('budgeting.proposal.error.images.count', { n: MAX_IMAGES }));
  if (existing.documents + documents.length > MAX_DOCUMENTS) errors.push(t('budgeting.proposal.error.documents.count', { n: MAX_DOCUMENTS }));
  for (const f of images) if (!IMAGE_TYPES.has(sniffType(f.data) ?? '')) errors.push(t('budgeting.proposal.error.image', { name: f.filename }));
  for (const f of documents) {
    if (sniffType(f.data) !== 'application/pdf') errors.push(t('budgeting.proposal.error.document', { name: f.filename }));
    else if (f.data.length > DOCUMENT_MAX_BYTES) errors.push(t('budgeting.proposal.error.document.size', { name: f.filename, size: humanSize(DOCUMENT_MAX_BYTES, locale) }));
  }
  return { errors, images, documents };
}

/**
 * Stores checked files through core's file store: images resized, re-encoded and stripped of
 * metadata, documents as they are. A picture the image pipeline still cannot read is reported by
 * name (UploadError) for the form to show.
 */
export async function storeFiles(services: Services, userId: number, images: Upload[], documents: Upload[]) {
  const stored: Array<{ file: StoredFile; kind: 'image' | 'document'; title: string }> = [];
  for (const f of images) {
    try {
      stored.push({ file: await services.files.putImage(f.data, f.filename, { createdBy: userId }), kind: 'image', title: f.filename });
    } catch (err) {
      if (err instanceof UploadError) throw new UploadError(err.code, f.filename);
      throw err;
    }
  }
  for (const f of documents) stored.push({ file: await services.files.put(f.data, f.filename, { createdBy: userId, contentType: 'application/pdf' }), kind: 'document', title: f.filename });
  return stored;
}

import { safeUrl } from './csv';

/**
 * The OC4IDS documentType codes an office may give a document it attaches to a work (photos are
 * `illustration` and go through the progress form). All are in the official codelist (tested).
 */
export const DOCUMENT_TYPES = [
  'projectScope',
  'feasibilityStudy',
  'environmentalImpact',
  'designReport',
  'technicalSpecifications',
  'billOfQuantity',
  'tenderNotice',
  'biddingDocuments',
  'evaluationReports',
  'awardNotice',
  'contractSigned',
  'contractAmendment',
  'physicalProgressReport',
  'financialProgressReport',
  'buildingInspectionReport',
  'technicalAuditReport',
  'completionCertificate',
] as const;
export type DocumentType = (typeof DOCUMENT_TYPES)[number];

/** Largest document accepted (core's UPLOAD_LIMIT_BYTES still applies when smaller). */
export const DOCUMENT_LIMIT_BYTES = 15 * 1024 * 1024;

export interface DocumentForm {
  title: string;
  documentType: DocumentType;
  /** Set when the office gives an address instead of a file. */
  url: string | null;
}

/**
 * Checks the document form: a title, a type of the list, and exactly one of a file or an
 * http(s) address. The file's bytes are checked by the route (a PDF, within the size limit).
 * Returns a message key on error.
 */
export function checkDocumentForm(raw: { title?: string; document_type?: string; url?: string }, hasFile: boolean): DocumentForm | string {
  const title = (raw.title ?? '').trim();
  if (!title) return 'works.document.error.title';
  if (title.length > 300) return 'works.document.error.titleLong';
  const type = (raw.document_type ?? '').trim();
  if (!(DOCUMENT_TYPES as readonly string[]).includes(type)) return 'works.document.error.type';
  const rawUrl = (raw.url ?? '').trim();
  if (hasFile && rawUrl) return 'works.document.error.both';
  if (!hasFile && !rawUrl) return 'works.document.error.none';
  let url: string | null = null;
  if (rawUrl) {
    url = rawUrl.length <= 2000 ? safeUrl(rawUrl) : null;
    if (!url) return 'works.document.error.url';
  }
  return { title, documentType: type as DocumentType, url };
}

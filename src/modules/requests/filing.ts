import type { Services } from '../../core/services';
import { UploadError } from '../../core/files';
import { validateAnswers } from './domain/attributes';
import { insertRequest, rqDb, serviceWithAttributes } from './store';

/** One thing wrong with a report: which field, a message key for pages, a sentence for API clients. */
export interface FilingProblem {
  field: string;
  key: string;
  description: string;
  /** HTTP status Open311 gives this problem. */
  status: number;
}

export interface FilingInput {
  serviceCode: string;
  lat: number | null;
  lng: number | null;
  address: string | null;
  description: string;
  rawAnswers: Record<string, string | string[] | undefined>;
  anonymous: boolean;
  authorId: number | null;
  authorEmail: string | null;
  authorName: string | null;
  mediaUrl: string | null;
  photos: Array<{ data: Buffer; name: string }>;
  source: 'web' | 'open311';
}

export const MAX_PHOTOS = 3;

export class FilingError extends Error {
  constructor(readonly problems: FilingProblem[]) {
    super(problems.map((p) => p.description).join('; '));
  }
}

/**
 * Checks a report completely before anything is stored, then files it in one statement:
 * a bad answer or photo never leaves half a request behind.
 */
export async function fileRequest(services: Services, input: FilingInput): Promise<{ id: number; token: string; serviceNotice: string }> {
  const db = rqDb(services);
  const problems: FilingProblem[] = [];
  const service = input.serviceCode ? await serviceWithAttributes(db, input.serviceCode) : undefined;
  if (!input.serviceCode) problems.push({ field: 'service_code', key: 'requests.error.service_required', description: 'service_code is required', status: 400 });
  else if (!service || !service.active) problems.push({ field: 'service_code', key: 'requests.error.service_unknown', description: `Unknown service_code "${input.serviceCode}"`, status: 404 });

  let communeId: number | null = null;
  let neighbourhoodId: number | null = null;
  const hasPoint = input.lat != null && input.lng != null;
  if (hasPoint) {
    const place = await services.geo.locate(input.lat!, input.lng!);
    if (!place) problems.push({ field: 'lat', key: 'requests.error.outside', description: 'The point (lat, long) is outside the city', status: 400 });
    else {
      communeId = place.commune.id;
      neighbourhoodId = place.neighbourhood?.id ?? null;
    }
  } else if ((input.lat == null) !== (input.lng == null)) {
    problems.push({ field: 'lat', key: 'requests.error.location', description: 'Send both lat and long', status: 400 });
  } else if (!input.address) {
    problems.push({ field: 'lat', key: 'requests.error.location', description: 'A location is required: lat and long, or address_string', status: 400 });
  }
  if (input.description.length > 4000) problems.push({ field: 'description', key: 'requests.error.description_long', description: 'description is longer than 4000 characters', status: 400 });
  if (input.address && input.address.length > 300) problems.push({ field: 'address', key: 'requests.error.address_long', description: 'address_string is longer than 300 characters', status: 400 });
  if (input.mediaUrl && !/^https?:\/\/\S+$/i.test(input.mediaUrl)) problems.push({ field: 'media_url', key: 'requests.error.media_url', description: 'media_url must be an http(s) URL', status: 400 });
  if (input.authorEmail && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(input.authorEmail)) problems.push({ field: 'email', key: 'requests.error.email', description: 'email is not a valid address', status: 400 });
  if (input.photos.length > MAX_PHOTOS) problems.push({ field: 'photos', key: 'requests.error.photos_many', description: `At most ${MAX_PHOTOS} photos`, status: 400 });

  let answers = {};
  if (service) {
    const v = validateAnswers(service.attributes, input.rawAnswers);
    answers = v.answers;
    for (const e of v.errors) {
      problems.push({ field: `attribute[${e.code}]`, key: `requests.error.attribute.${e.problem}`, description: `attribute[${e.code}]: ${e.problem.replace(/_/g, ' ')}`, status: 400 });
    }
  }
  if (problems.length) throw new FilingError(problems);

  // Photos are checked and re-encoded before the transaction: a non-image stops everything.
  const fileIds: string[] = [];
  for (const p of input.photos) {
    try {
      const f = await services.files.putImage(p.data, p.name || 'photo.jpg', { createdBy: input.authorId });
      fileIds.push(f.id);
    } catch (err) {
      if (err instanceof UploadError) {
        throw new FilingError([
          {
            field: 'photos',
            key: err.code === 'too_large' ? 'requests.error.photo_large' : 'requests.error.photo_type',
            description: err.code === 'too_large' ? 'A photo is too large' : 'A photo is not an image',
            status: err.code === 'too_large' ? 413 : 400,
          },
        ]);
      }
      throw err;
    }
  }

  // One data-modifying statement (request, first timeline entry, photos, author as follower) is
  // atomic on its own: no explicit transaction, one round trip. Filing is not an office action, so
  // it is not written to the audit log; the row itself says who, when and through which channel.
  const created = await insertRequest(db, {
    service: service!,
    description: input.description,
    address: input.address,
    lat: hasPoint ? input.lat : null,
    lng: hasPoint ? input.lng : null,
    communeId,
    neighbourhoodId,
    authorId: input.authorId,
    authorEmail: input.authorEmail,
    authorName: input.authorName,
    anonymous: input.anonymous,
    answers,
    mediaUrl: input.mediaUrl,
    photoFileIds: fileIds,
    source: input.source,
  });
  const t = services.i18n.translator('es-AR');
  return { ...created, serviceNotice: t('requests.notice', { days: service!.target_days }) };
}

import sharp from 'sharp';
import type { Services } from '../../core/services';
import { UploadError } from '../../core/files';
import type { Place } from '../../core/geo';
import { GeocoderUnavailable } from '../../core/geo/geocode';
import { validateAnswers } from './domain/attributes';
import { insertRequest, rqDb, serviceCatalogue } from './store';

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

interface Located {
  lat: number | null;
  lng: number | null;
  communeId: number | null;
  neighbourhoodId: number | null;
}


export type AddressLookup =
  | { kind: 'found'; lat: number; lng: number; label: string; place: Place }
  | { kind: 'outside' | 'unknown' }
  /** No geocoder, or it did not answer: the address is kept as typed and the office places it. */
  | { kind: 'unavailable' };

/** Where an address is, and whether that is inside the city. */
export async function locateAddress(services: Services, address: string, locale = 'es-AR'): Promise<AddressLookup> {
  const geocoder = services.geocoder;
  if (!geocoder) return { kind: 'unavailable' };
  try {
    const hit = await geocoder.geocode(address, { viewbox: await services.geo.bounds(), locale });
    if (!hit) return { kind: 'unknown' };
    const place = await services.geo.locate(hit.lat, hit.lng);
    return place ? { kind: 'found', ...hit, place } : { kind: 'outside' };
  } catch (err) {
    if (!(err instanceof GeocoderUnavailable)) throw err;
    services.log.warn({ err: err.message, geocoder: geocoder.kind }, 'geocoder unavailable; the request keeps its address without a point');
    return { kind: 'unavailable' };
  }
}

/**
 * Checks a report completely before anything is stored, then files it in one statement:
 * a bad answer or photo never leaves half a request behind. The category comes from the process's
 * catalogue; if it changed meanwhile the insert writes nothing and the report is checked again.
 */
export async function fileRequest(services: Services, input: FilingInput): Promise<{ id: number; token: string; serviceNotice: string }> {
  const db = rqDb(services);
  const catalogue = serviceCatalogue(services);
  let fileIds: string[] | null = null;
  let point: Located | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    const problems: FilingProblem[] = [];
    const service = input.serviceCode ? await catalogue.get(input.serviceCode, { fresh: attempt > 0 }) : undefined;
    if (!input.serviceCode) problems.push({ field: 'service_code', key: 'requests.error.service_required', description: 'service_code is required', status: 400 });
    else if (!service || !service.active) problems.push({ field: 'service_code', key: 'requests.error.service_unknown', description: `Unknown service_code "${input.serviceCode}"`, status: 404 });

    // The place does not depend on the category: worked out once, even when the insert is retried.
    if (!point) {
      const p: Located = { lat: null, lng: null, communeId: null, neighbourhoodId: null };
      if (input.lat != null && input.lng != null) {
        const place = await services.geo.locate(input.lat, input.lng);
        if (!place) problems.push({ field: 'lat', key: 'requests.error.outside', description: 'The point (lat, long) is outside the city', status: 400 });
        else Object.assign(p, { lat: input.lat, lng: input.lng, communeId: place.commune.id, neighbourhoodId: place.neighbourhood?.id ?? null });
      } else if ((input.lat == null) !== (input.lng == null)) {
        problems.push({ field: 'lat', key: 'requests.error.location', description: 'Send both lat and long', status: 400 });
      } else if (!input.address) {
        problems.push({ field: 'lat', key: 'requests.error.location', description: 'A location is required: lat and long, or address_string', status: 400 });
      } else if (input.address.length <= 300) {
        const found = await locateAddress(services, input.address);
        if (found.kind === 'found') Object.assign(p, { lat: found.lat, lng: found.lng, communeId: found.place.commune.id, neighbourhoodId: found.place.neighbourhood?.id ?? null });
        else if (found.kind === 'unknown') problems.push({ field: 'address', key: 'requests.error.address_unknown', description: 'address_string was not found; check it, or send lat and long', status: 400 });
        else if (found.kind === 'outside') problems.push({ field: 'address', key: 'requests.error.address_outside', description: 'address_string is outside the city', status: 400 });
      }
      if (!problems.some((x) => x.field === 'lat' || x.field === 'address')) point = p;
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
    if (!problems.length && !fileIds) problems.push(...(await checkPhotos(services, input.photos)));
    if (problems.length) throw new FilingError(problems);

    // Every photo was read as an image above: stored only now, so a bad one stores none.
    fileIds ??= await storePhotos(services, input);

    // One data-modifying statement (request, first timeline entry, photos, author as follower) is
    // atomic on its own: no explicit transaction, one round trip. Filing is not an office action, so
    // it is not written to the audit log; the row itself says who, when and through which channel.
    const created = await insertRequest(db, {
      service: service!,
      revision: service!.revision,
      description: input.description,
      address: input.address,
      lat: point!.lat,
      lng: point!.lng,
      communeId: point!.communeId,
      neighbourhoodId: point!.neighbourhoodId,
      authorId: input.authorId,
      authorEmail: input.authorEmail,
      authorName: input.authorName,
      anonymous: input.anonymous,
      answers,
      mediaUrl: input.mediaUrl,
      photoFileIds: fileIds,
      source: input.source,
    });
    if (created) {
      const t = services.i18n.translator('es-AR');
      return { ...created, serviceNotice: t('requests.notice', { days: service!.target_days }) };
    }
  }
  throw new Error('The category kept changing while the request was filed');
}

/** The formats core's putImage accepts (src/core/files). */
const IMAGE_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'heif', 'avif']);

/** Size and type of every photo, from its bytes, before any is stored. */
async function checkPhotos(services: Services, photos: FilingInput['photos']): Promise<FilingProblem[]> {
  for (const p of photos) {
    if (p.data.length > services.files.limitBytes) return [{ field: 'photos', key: 'requests.error.photo_large', description: 'A photo is too large', status: 413 }];
    const meta = await sharp(p.data)
      .metadata()
      .catch(() => null);
    if (!meta?.format || !IMAGE_FORMATS.has(meta.format)) return [{ field: 'photos', key: 'requests.error.photo_type', description: 'A photo is not an image', status: 400 }];
  }
  return [];
}

async function storePhotos(services: Services, input: FilingInput): Promise<string[]> {
  const ids: string[] = [];
  for (const p of input.photos) {
    try {
      const f = await services.files.putImage(p.data, p.name || 'photo.jpg', { createdBy: input.authorId });
      ids.push(f.id);
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
  return ids;
}

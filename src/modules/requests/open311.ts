import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { XMLBuilder } from 'fast-xml-parser';
import { userFromApiToken } from '../../core/auth/session';
import type { SessionUser } from '../../core/ui/context';
import type { Services } from '../../core/services';
import { attributesFromForm } from './domain/attributes';
import { open311Status, mySocietyStatus, isStatus, type RequestStatus } from './domain/status';
import { open311DateTime, parseDateFilter } from './domain/stats';
import { parseCoordinate } from './domain/geo';
import { attributesOf, getRequest, listRequests, listServices, photosOf, requestIdByToken, rqDb, serviceByCode, timelineOf, updatesBetween, type RequestView } from './store';
import { fileRequest, FilingError, MAX_PHOTOS } from './filing';

/** An Open311 error: the spec's list of {code, description}, with the HTTP status as code. */
export class Open311Error extends Error {
  constructor(
    readonly statusCode: number,
    readonly errors: Array<{ code: number; description: string }>,
  ) {
    super(errors.map((e) => e.description).join('; '));
  }
  static of(status: number, description: string) {
    return new Open311Error(status, [{ code: status, description }]);
  }
}

const xml = new XMLBuilder({ ignoreAttributes: false, suppressEmptyNode: false });
type Format = 'json' | 'xml';

function formatOf(url: string): Format {
  return /\.xml(\?|$)/.test(url) ? 'xml' : 'json';
}

/** XML has no null: empty elements instead; booleans and numbers as text. */
function forXml(v: unknown): unknown {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(forXml);
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, forXml(x)]));
  return String(v);
}

function send(reply: FastifyReply, format: Format, json: unknown, xmlDoc: Record<string, unknown>, status = 200) {
  reply.code(status).header('access-control-allow-origin', '*');
  if (format === 'xml') {
    return reply.type('text/xml; charset=utf-8').send('<?xml version="1.0" encoding="utf-8"?>' + xml.build(forXml(xmlDoc)));
  }
  return reply.type('application/json; charset=utf-8').send(JSON.stringify(json));
}

function str(v: unknown): string | undefined {
  if (Array.isArray(v)) v = v[0];
  if (v === undefined || v === null) return undefined;
  const s = String(v).trim();
  return s === '' ? undefined : s;
}

/** ids, codes and statuses from a filter given comma-separated, repeated (`status=open&status=closed`), or both. */
const list = (v: unknown) =>
  ([] as unknown[])
    .concat(v ?? [])
    .flatMap((x) => String(x).split(','))
    .map((s) => s.trim())
    .filter(Boolean);

export function jurisdictionOf(services: Services): string {
  return new URL(services.config.baseUrl).hostname;
}

/** POSTs a minute: per address for requests without a valid api_key, per account for those with one. */
export function open311PostLimits(env: NodeJS.ProcessEnv) {
  const read = (v: string | undefined, fallback: number) => (v && Number.isInteger(Number(v)) && Number(v) > 0 ? Number(v) : fallback);
  return { perIp: read(env.REQUESTS_API_POSTS_PER_MINUTE, 60), perAccount: read(env.REQUESTS_API_POSTS_PER_KEY_PER_MINUTE, 120) };
}

export async function open311(app: FastifyInstance) {
  const services = app.services;
  const db = rqDb(services);
  const base = services.config.baseUrl;
  const photoUrl = (fileId: string) => `${base}/requests/photos/${fileId}`;
  const limits = open311PostLimits(process.env);
  // Counted in core's rate-limit store (shared through Redis when REDIS_URL is set). A valid api_key is
  // counted per account (all its tokens together) wherever it comes from: one key spread over many
  // addresses is still one client, and an app's server behind one address is limited by its own key, not
  // by everyone else's traffic from that address. Without a valid key the address is all there is.
  const limitKeys = new WeakMap<FastifyRequest, string>();
  const keyOf = (request: FastifyRequest) => limitKeys.get(request) ?? `rq311-ip:${request.ip}`;
  const perAccount = app.createRateLimit({ max: limits.perAccount, timeWindow: '1 minute', keyGenerator: keyOf });
  const perIp = app.createRateLimit({ max: limits.perIp, timeWindow: '1 minute', keyGenerator: keyOf });
  /** Counts this POST against its account (valid key) or its address (none); a 429 error list past the limit. */
  async function admit(request: FastifyRequest, reply: FastifyReply, accountId: number | null) {
    limitKeys.set(request, accountId === null ? `rq311-ip:${request.ip}` : `rq311-account:${accountId}`);
    const res = await (accountId === null ? perIp : perAccount)(request);
    if (res.isAllowed || !res.isExceeded) return;
    const wait = Math.max(1, res.ttlInSeconds);
    reply.header('retry-after', String(wait));
    const who = accountId === null ? 'this address' : 'this api_key';
    throw Open311Error.of(429, `Too many requests from ${who} (at most ${res.max} a minute): try again in ${wait} s`);
  }

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, request, reply) => {
    const format = formatOf(request.url);
    if (err instanceof Open311Error) return send(reply, format, err.errors, { errors: { error: err.errors } }, err.statusCode);
    let status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (err.code === 'FST_REQ_FILE_TOO_LARGE' || err.code === 'FST_FILES_LIMIT' || err.code === 'FST_PARTS_LIMIT') status = 413;
    if (status >= 500) request.log.error({ err }, 'open311 request failed');
    const errors = [{ code: status, description: status >= 500 ? 'Internal error; it has been logged.' : err.message }];
    if (status === 429 && reply.getHeader('retry-after') === undefined) reply.header('retry-after', '60');
    return send(reply, format, errors, { errors: { error: errors } }, status);
  });
  app.setNotFoundHandler((request, reply) => {
    const errors = [{ code: 404, description: `No Open311 endpoint ${request.method} ${request.url.split('?')[0]}` }];
    return send(reply, formatOf(request.url), errors, { errors: { error: errors } }, 404);
  });

  const jurisdiction = jurisdictionOf(services);
  /** The spec's code for an unknown jurisdiction is 404, except on GET requests where its swagger says 401. */
  function checkJurisdiction(q: Record<string, unknown>, status = 404) {
    const j = str(q.jurisdiction_id);
    if (j && j !== jurisdiction) throw Open311Error.of(status, `jurisdiction_id "${j}" not found (this endpoint serves "${jurisdiction}")`);
  }

  for (const format of ['json', 'xml'] as const) {
    app.get(`/discovery.${format}`, async (_req, reply) => {
      const endpoint = {
        specification: 'http://wiki.open311.org/GeoReport_v2',
        url: `${base}/open311/v2`,
        changeset: '2026-11-27T00:00:00-03:00',
        type: 'production',
        formats: ['text/xml', 'application/json'],
      };
      const doc = {
        changeset: endpoint.changeset,
        contact: `${services.config.cityName} · ${base}/requests`,
        key_service: `${base}/account`,
        endpoints: [endpoint],
      };
      return send(reply, format, doc, { discovery: { ...doc, endpoints: { endpoint: { ...endpoint, formats: { format: endpoint.formats } } } } });
    });

    app.get(`/v2/services.${format}`, async (request, reply) => {
      checkJurisdiction(request.query as Record<string, unknown>);
      const rows = await listServices(db, { activeOnly: true });
      const en = request.locale === 'en';
      const out = rows.map((s) => ({
        service_code: s.code,
        service_name: (en && s.name_en) || s.name,
        description: (en && s.description_en) || s.description || null,
        metadata: Boolean(s.has_attributes),
        type: 'realtime',
        keywords: s.keywords,
        group: s.group_name,
      }));
      return send(reply, format, out, { services: { service: out } });
    });

    app.get(`/v2/services/:code.${format}`, async (request, reply) => {
      checkJurisdiction(request.query as Record<string, unknown>);
      const code = (request.params as { code: string }).code;
      const s = await serviceByCode(db, code);
      if (!s || !s.active) throw Open311Error.of(404, `Unknown service_code "${code}"`);
      const en = request.locale === 'en';
      const attrs = (await attributesOf(db, s.id)).map((a, i) => ({
        variable: true,
        code: a.code,
        datatype: a.datatype,
        required: a.required,
        datatype_description: null,
        order: i + 1,
        description: (en && a.description_en) || a.description,
        values: a.values.map((v) => ({ key: v.key, name: (en && v.name_en) || v.name })),
      }));
      const doc = { service_code: s.code, attributes: attrs };
      return send(reply, format, doc, {
        service_definition: { service_code: s.code, attributes: { attribute: attrs.map((a) => ({ ...a, values: { value: a.values } })) } },
      });
    });

    app.post(
      `/v2/requests.${format}`,
      { config: { csrf: false } },
      async (request, reply) => {
        const q = request.query as Record<string, unknown>;
        let body: Record<string, unknown> = { ...q, ...((request.body as Record<string, unknown> | undefined) ?? {}) };
        const photos: Array<{ data: Buffer; name: string }> = [];
        // The client the limit counts is settled once: before the first photo is read (a flood should not
        // cost an upload), with the api_key sent so far; otherwise once the whole form is read.
        const counted: { done?: boolean; key?: string; client?: SessionUser | null } = {};
        const identify = async () => {
          if (counted.done) return;
          counted.done = true;
          counted.key = str(body.api_key);
          counted.client = counted.key ? await userFromApiToken(services.db, counted.key) : null;
          await admit(request, reply, counted.client?.id ?? null);
        };
        if (request.isMultipart()) {
          body = { ...q };
          for await (const part of request.parts()) {
            if (part.type === 'file') {
              await identify();
              if (photos.length >= MAX_PHOTOS) throw Open311Error.of(400, `At most ${MAX_PHOTOS} media files`);
              photos.push({ data: await part.toBuffer(), name: part.filename });
            } else {
              const prev = body[part.fieldname];
              body[part.fieldname] = prev === undefined ? part.value : ([] as unknown[]).concat(prev, part.value);
            }
          }
        }
        await identify();
        const apiKey = str(body.api_key);
        if (apiKey !== counted.key) {
          // The key came after the photos: the address was counted; a valid key counts against its account too.
          counted.client = apiKey ? await userFromApiToken(services.db, apiKey) : null;
          if (counted.client) await admit(request, reply, counted.client.id);
        }
        const client = counted.client;
        checkJurisdiction(body);
        // GeoReport v2: "403 - api_key was not provided or is invalid".
        if (!apiKey) throw Open311Error.of(403, 'api_key was not provided');
        if (!client) throw Open311Error.of(403, 'Invalid api_key');

        const lat = body.lat === undefined ? null : parseCoordinate(body.lat, 90);
        const lng = body.long === undefined ? null : parseCoordinate(body.long, 180);
        if ((str(body.lat) && lat === null) || (str(body.long) && lng === null)) throw Open311Error.of(400, 'lat and long must be WGS84 decimal degrees');
        const email = str(body.email)?.toLowerCase() ?? null;
        // The token belongs to the app or to the resident; a different e-mail names the resident the app speaks for.
        const ownReport = !email || email === client.email.toLowerCase();
        const name = [str(body.first_name), str(body.last_name)].filter(Boolean).join(' ') || null;
        try {
          const created = await fileRequest(services, {
            serviceCode: str(body.service_code) ?? '',
            lat,
            lng,
            address: str(body.address_string) ?? null,
            description: str(body.description) ?? '',
            rawAnswers: attributesFromForm(body),
            anonymous: false,
            authorId: ownReport ? client.id : null,
            authorEmail: ownReport ? null : email,
            authorName: ownReport ? null : name,
            mediaUrl: str(body.media_url) ?? null,
            photos,
            source: 'open311',
          });
          const out: Record<string, string> = { service_request_id: String(created.id), token: created.token, service_notice: created.serviceNotice };
          if (ownReport) out.account_id = String(client.id);
          // The spec's (and its swagger's) success code for POST requests is 200, which some clients check.
          return send(reply, format, [out], { service_requests: { request: [out] } }, 200);
        } catch (err) {
          if (err instanceof FilingError) {
            const status = Math.max(...err.problems.map((p) => p.status));
            throw new Open311Error(status, err.problems.map((p) => ({ code: status, description: p.description })));
          }
          throw err;
        }
      },
    );

    app.get(`/v2/requests.${format}`, async (request, reply) => {
      const q = request.query as Record<string, unknown>;
      checkJurisdiction(q, 401);
      const ids = list(q.service_request_id);
      if (ids.some((i) => !/^\d{1,9}$/.test(i))) throw Open311Error.of(400, 'service_request_id must be a comma-separated list of ids');
      if (ids.length > 1000) throw Open311Error.of(400, 'At most 1000 service_request_id at once');
      let rows: RequestView[];
      if (ids.length) {
        // The spec: service_request_id "overrides all other arguments" (dates, status, service_code, paging).
        rows = await listRequests(db, { ids: ids.map(Number), includeMerged: true, sort: 'oldest' }, { limit: ids.length, offset: 0 });
      } else {
        let from = parseDateFilter(q.start_date);
        const to = parseDateFilter(q.end_date);
        if (from === 'invalid' || to === 'invalid') throw Open311Error.of(400, 'start_date and end_date must be ISO 8601 date-times');
        // The spec's default window: the last 90 days unless dates are given.
        if (!from && !to) from = new Date(Date.now() - 90 * 86400_000);
        const statusFilter = list(q.status);
        if (statusFilter.some((s) => s !== 'open' && s !== 'closed')) throw Open311Error.of(400, 'status must be open or closed');
        const statuses: RequestStatus[] = [];
        if (statusFilter.includes('open')) statuses.push('submitted', 'acknowledged', 'in_progress');
        if (statusFilter.includes('closed')) statuses.push('solved', 'not_solvable', 'merged');
        const page = Math.max(1, Number(str(q.page) ?? 1) || 1);
        const pageSize = Math.min(1000, Math.max(1, Number(str(q.page_size) ?? 100) || 100));
        rows = await listRequests(
          db,
          { serviceCodes: list(q.service_code), statuses, from: from ?? undefined, to: to ?? undefined, includeMerged: true },
          { limit: pageSize, offset: (page - 1) * pageSize },
        );
      }
      const out = await toOpen311(rows, str(q.extensions) === 'true');
      return send(reply, format, out, { service_requests: { request: out } });
    });

    app.get(`/v2/requests/:id.${format}`, async (request, reply) => {
      const q = request.query as Record<string, unknown>;
      checkJurisdiction(q);
      const id = (request.params as { id: string }).id;
      const r = /^\d{1,9}$/.test(id) ? await getRequest(db, Number(id)) : undefined;
      if (!r) throw Open311Error.of(404, `Service request "${id}" not found`);
      const out = await toOpen311([r], str(q.extensions) === 'true');
      return send(reply, format, out, { service_requests: { request: out } });
    });

    app.get(`/v2/tokens/:token.${format}`, async (request, reply) => {
      checkJurisdiction(request.query as Record<string, unknown>);
      const token = (request.params as { token: string }).token;
      const r = await requestIdByToken(db, token);
      if (!r) throw Open311Error.of(404, `Token "${token}" not found`);
      const out = [{ service_request_id: String(r.id), token: r.token }];
      return send(reply, format, out, { service_requests: { request: out } });
    });

    // mySociety's extension: how FixMyStreet and other apps learn about status changes.
    app.get(`/v2/servicerequestupdates.${format}`, async (request, reply) => {
      const q = request.query as Record<string, unknown>;
      checkJurisdiction(q);
      const from = parseDateFilter(q.start_date);
      const to = parseDateFilter(q.end_date);
      if (from === 'invalid' || to === 'invalid') throw Open311Error.of(400, 'start_date and end_date must be ISO 8601 date-times');
      const rows = await updatesBetween(db, from, to, 1000);
      const out = rows.map((u) => ({
        update_id: String(u.id),
        service_request_id: String(u.request_id),
        status: mySocietyStatus(isStatus(u.status) ? u.status : u.request_status),
        updated_datetime: open311DateTime(u.at),
        description: u.text,
        media_url: '',
      }));
      return send(reply, format, out, { service_request_updates: { request_update: out } });
    });
  }

  async function toOpen311(rows: RequestView[], extensions: boolean) {
    const ids = rows.map((r) => r.id);
    const photos = await photosOf(db, ids);
    const notes = extensions ? await timelineOf(db, ids, { internal: false }) : [];
    return rows.map((r) => {
      const mine = photos.filter((p) => p.request_id === r.id).map((p) => photoUrl(p.file_id));
      const base: Record<string, unknown> = {
        service_request_id: String(r.id),
        status: open311Status(r.status),
        status_notes: r.status === 'merged' && r.merged_into_id ? `Duplicate of ${r.merged_into_id}` : r.status_notes,
        service_name: r.service_name,
        service_code: r.service_code,
        description: r.description || null,
        agency_responsible: r.office_name,
        service_notice: null,
        requested_datetime: open311DateTime(r.requested_at),
        updated_datetime: open311DateTime(r.updated_at),
        expected_datetime: open311DateTime(r.expected_at),
        address: r.address,
        address_id: null,
        zipcode: null,
        lat: r.lat,
        long: r.lng,
        media_url: mine[0] ?? r.media_url ?? null,
      };
      if (extensions) {
        base.extended_attributes = {
          detailed_status: r.status,
          commune: r.commune_name,
          neighbourhood: r.neighbourhood_name,
          upvotes: r.upvotes,
          duplicate_of: r.merged_into_id ? String(r.merged_into_id) : null,
          photos: mine,
          attributes: r.answers,
        };
        base.notes = notes
          .filter((n) => n.request_id === r.id)
          .map((n) => ({ datetime: open311DateTime(n.at), type: n.kind, status: n.status, description: n.text }));
      }
      return base;
    });
  }
}


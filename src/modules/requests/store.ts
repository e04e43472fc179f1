import crypto from 'node:crypto';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Services } from '../../core/services';
import type { CoreTables } from '../../core/db/schema';
import type { Actor } from '../../core/audit';
import type { RequestsTables, RqRequestsTable, RqServicesTable, UpdateKind } from './tables';
import { OPEN_STATUSES, CLOSED_STATUSES, expectedAt, type RequestStatus } from './domain/status';
import type { AttributeDefinition, Answers } from './domain/attributes';
import { boxAround } from './domain/geo';

export type RqDb = Kysely<RequestsTables>;
export type ServiceRow = Selectable<RqServicesTable>;
export type RequestRow = Selectable<RqRequestsTable>;

const rqDbs = new WeakMap<Services, RqDb>();
/** The database with this module's tables; one instance per app (filing asks for it on every report). */
export function rqDb(services: Services): RqDb {
  let db = rqDbs.get(services);
  if (!db) rqDbs.set(services, (db = services.db.withTables<Omit<RequestsTables, keyof CoreTables>>() as unknown as RqDb));
  return db;
}
const core = (db: RqDb) => db as unknown as Kysely<CoreTables>;

/* ---------- categories (Open311 services) ---------- */

export async function listServices(db: RqDb, opts: { activeOnly?: boolean } = {}) {
  let q = db
    .selectFrom('rq_services as s')
    .leftJoin('offices as o', 'o.id', 's.office_id')
    .selectAll('s')
    .select(['o.name as office_name', 'o.slug as office_slug'])
    .select((eb) => eb.exists(eb.selectFrom('rq_attributes as a').select('a.id').whereRef('a.service_id', '=', 's.id')).as('has_attributes'))
    .orderBy('s.group_name')
    .orderBy('s.name');
  if (opts.activeOnly) q = q.where('s.active', '=', true);
  return q.execute();
}

export async function serviceByCode(db: RqDb, code: string) {
  return db.selectFrom('rq_services').selectAll().where('code', '=', code).executeTakeFirst();
}

export async function serviceById(db: RqDb, id: number) {
  return db.selectFrom('rq_services').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function attributesOf(db: RqDb, serviceId: number) {
  return db.selectFrom('rq_attributes').selectAll().where('service_id', '=', serviceId).orderBy('position').orderBy('id').execute();
}

export function toDefinitions(rows: Awaited<ReturnType<typeof attributesOf>>): AttributeDefinition[] {
  return rows.map((r) => ({ code: r.code, datatype: r.datatype, required: r.required, description: r.description, values: r.values }));
}

export interface ServiceInput {
  code: string;
  name: string;
  name_en: string | null;
  description: string;
  description_en: string | null;
  group_name: string | null;
  keywords: string | null;
  office_id: number | null;
  target_days: number;
  active: boolean;
}

export async function saveService(db: RqDb, input: ServiceInput, id?: number): Promise<number> {
  if (id) {
    await db.updateTable('rq_services').set(input).where('id', '=', id).execute();
    return id;
  }
  const row = await db.insertInto('rq_services').values(input).returning('id').executeTakeFirstOrThrow();
  return row.id;
}

export async function saveAttribute(db: RqDb, serviceId: number, a: Omit<AttributeDefinition, 'values'> & { values: AttributeDefinition['values']; description_en?: string | null; position?: number }) {
  await db
    .insertInto('rq_attributes')
    .values({
      service_id: serviceId,
      code: a.code,
      datatype: a.datatype,
      required: a.required,
      description: a.description,
      description_en: a.description_en ?? null,
      values: JSON.stringify(a.values),
      position: a.position ?? 0,
    })
    .onConflict((oc) =>
      oc.columns(['service_id', 'code']).doUpdateSet({
        datatype: a.datatype,
        required: a.required,
        description: a.description,
        description_en: a.description_en ?? null,
        values: JSON.stringify(a.values),
        position: a.position ?? 0,
      }),
    )
    .execute();
}

export async function deleteAttribute(db: RqDb, serviceId: number, code: string) {
  await db.deleteFrom('rq_attributes').where('service_id', '=', serviceId).where('code', '=', code).execute();
}

/* ---------- filing ---------- */

export interface NewRequest {
  service: ServiceRow;
  description: string;
  address: string | null;
  lat: number | null;
  lng: number | null;
  communeId: number | null;
  neighbourhoodId: number | null;
  authorId: number | null;
  authorEmail: string | null;
  authorName: string | null;
  anonymous: boolean;
  answers: Answers;
  mediaUrl: string | null;
  photoFileIds: string[];
  source: 'web' | 'open311' | 'import';
  requestedAt?: Date;
}

/**
 * Files a request with its first timeline entry; the author follows it. One statement (a data-
 * modifying CTE), so filing costs one round trip however busy the database is.
 * With `revision`, the row is written only if the category is still at that revision (the copy
 * the report was validated against); otherwise nothing is written and the answer is null.
 */
export async function insertRequest(trx: RqDb, r: NewRequest & { revision?: number }): Promise<{ id: number; token: string } | null> {
  const now = r.requestedAt ?? new Date();
  const token = crypto.randomBytes(12).toString('base64url');
  const photos = JSON.stringify(r.photoFileIds);
  const guard = r.revision == null ? sql`true` : sql`s.revision = ${r.revision}::int`;
  const res = await sql<{ id: number }>`
    with req as (
      insert into rq_requests (token, service_id, office_id, description, address, lat, lng, commune_id, neighbourhood_id,
        author_id, author_email, author_name, anonymous, answers, media_url, source, requested_at, updated_at, expected_at)
      select ${token}::text, s.id, s.office_id, ${r.description}::text, ${r.address}::text, ${r.lat}::float8, ${r.lng}::float8, ${r.communeId}::int,
        ${r.neighbourhoodId}::int, ${r.authorId}::int, ${r.authorEmail}::text, ${r.authorName}::text, ${r.anonymous}::boolean, ${JSON.stringify(r.answers)}::jsonb,
        ${r.mediaUrl}::text, ${r.source}::text, ${now}::timestamptz, ${now}::timestamptz, ${expectedAt(now, r.service.target_days)}::timestamptz
      from rq_services s where s.id = ${r.service.id}::int and ${guard}
      returning id
    ), upd as (
      insert into rq_updates (request_id, at, kind, status, public, author_id) select id, ${now}, 'created', 'submitted', true, ${r.authorId}::int from req
    ), pho as (
      insert into rq_photos (request_id, file_id, position)
      select req.id, p.file_id, (p.ord - 1)::int from req, jsonb_array_elements_text(${photos}::jsonb) with ordinality as p(file_id, ord)
    ), fol as (
      insert into rq_followers (request_id, user_id) select id, ${r.authorId}::int from req where ${r.authorId}::int is not null
    )
    select id from req
  `.execute(trx);
  return res.rows[0] ? { id: res.rows[0].id, token } : null;
}

export type ServiceWithAttributes = ServiceRow & { attributes: AttributeDefinition[] };

function servicesWithAttributes(db: RqDb) {
  return db
    .selectFrom('rq_services as s')
    .selectAll('s')
    .select(
      sql<AttributeDefinition[]>`coalesce((
        select json_agg(json_build_object('code', a.code, 'datatype', a.datatype, 'required', a.required, 'description', a.description, 'values', a.values) order by a.position, a.id)
        from rq_attributes a where a.service_id = s.id), '[]')`.as('attributes'),
    );
}

/** A category with its questions, in one query (filing reads both on every report). */
export async function serviceWithAttributes(db: RqDb, code: string): Promise<ServiceWithAttributes | undefined> {
  return servicesWithAttributes(db).where('s.code', '=', code).executeTakeFirst();
}

/**
 * The categories as filing sees them, kept in this process: a report validates against the copy
 * and the insert checks the copy's revision (see insertRequest), so a change made anywhere — an
 * admin page of another process, the CLI — costs one stale report a re-read, never a wrong check.
 */
export class ServiceCatalogue {
  private all?: Promise<Map<string, ServiceWithAttributes>>;

  constructor(private readonly db: RqDb) {}

  invalidate(): void {
    this.all = undefined;
  }

  private load() {
    const loading = (this.all ??= servicesWithAttributes(this.db)
      .execute()
      .then((rows) => new Map(rows.map((r) => [r.code, r]))));
    loading.catch(() => {
      if (this.all === loading) this.all = undefined;
    });
    return loading;
  }

  /** `fresh` reads the database (after the insert found the copy stale). */
  async get(code: string, opts: { fresh?: boolean } = {}): Promise<ServiceWithAttributes | undefined> {
    const map = await this.load();
    const hit = opts.fresh ? undefined : map.get(code);
    if (hit) return hit;
    // Unknown here: created (or changed) since the copy was made, or really unknown. Unknown codes
    // are not remembered, so a client sending made-up codes cannot grow the map.
    const row = await serviceWithAttributes(this.db, code);
    if (row) map.set(code, row);
    else map.delete(code);
    return row;
  }
}

const catalogues = new WeakMap<Services, ServiceCatalogue>();

/** The process's catalogue for these services (one per app; tests build many apps). */
export function serviceCatalogue(services: Services): ServiceCatalogue {
  let c = catalogues.get(services);
  if (!c) catalogues.set(services, (c = new ServiceCatalogue(rqDb(services))));
  return c;
}

/** Open requests of the same category within `meters`, filed in the last `days`: likely duplicates. */
export async function findNearby(db: RqDb, p: { serviceId: number; lat: number; lng: number; meters?: number; days?: number; limit?: number; excludeId?: number }) {
  const meters = p.meters ?? 100;
  const b = boxAround(p.lat, p.lng, meters);
  const since = new Date(Date.now() - (p.days ?? 90) * 86400_000);
  // The box alone, first and fenced (materialized): an index-only scan of a few hundred rows. Left
  // to itself the planner also ANDs in the category index, reading tens of thousands of entries.
  // Then the exact circle (1° of latitude ≈ 111,195 m) and the other filters on what is left.
  const res = await sql<{ id: number; description: string; address: string | null; status: RequestStatus; upvotes: number; requested_at: Date; lat: number; lng: number; service_name: string; service_name_en: string | null; meters: number }>`
    with box as materialized (
      select id, lat, lng, service_id, status, requested_at from rq_requests
      where point(lng, lat) <@ box(point(${b.minLng}::float8, ${b.minLat}::float8), point(${b.maxLng}::float8, ${b.maxLat}::float8))
    ), near as (
      select id, (point(lng * cos(radians(${p.lat}::float8)), lat) <-> point(${p.lng}::float8 * cos(radians(${p.lat}::float8)), ${p.lat}::float8)) * 111195 as meters
      from box
      where service_id = ${p.serviceId} and status in ('submitted', 'acknowledged', 'in_progress') and requested_at >= ${since} and id <> ${p.excludeId ?? -1}
    )
    select r.id, r.description, r.address, r.status, r.upvotes, r.requested_at, r.lat, r.lng, s.name as service_name, s.name_en as service_name_en, near.meters
    from near join rq_requests r on r.id = near.id join rq_services s on s.id = r.service_id
    where near.meters <= ${meters}
    order by near.meters
    limit ${p.limit ?? 5}
  `.execute(db);
  return res.rows;
}

/* ---------- reading ---------- */

function requestQuery(db: RqDb) {
  return db
    .selectFrom('rq_requests as r')
    .innerJoin('rq_services as s', 's.id', 'r.service_id')
    .leftJoin('offices as o', 'o.id', 'r.office_id')
    .leftJoin('communes as c', 'c.id', 'r.commune_id')
    .leftJoin('neighbourhoods as n', 'n.id', 'r.neighbourhood_id')
    // Web and API-token reports keep the author as an account: its name and e-mail are who filed
    // (the office always sees them; the public sees the name unless the report is anonymous).
    .leftJoin('users as au', 'au.id', 'r.author_id')
    .selectAll('r')
    .select([
      'au.name as author_account_name',
      'au.email as author_account_email',
      's.code as service_code',
      's.name as service_name',
      's.name_en as service_name_en',
      's.target_days',
      'o.name as office_name',
      'c.name as commune_name',
      'n.name as neighbourhood_name',
    ]);
}
export type RequestView = Awaited<ReturnType<ReturnType<typeof requestQuery>['executeTakeFirstOrThrow']>>;

export async function getRequest(db: RqDb, id: number): Promise<RequestView | undefined> {
  return requestQuery(db).where('r.id', '=', id).executeTakeFirst();
}

export async function requestIdByToken(db: RqDb, token: string) {
  return db.selectFrom('rq_requests').select(['id', 'token']).where('token', '=', token).executeTakeFirst();
}

export interface RequestFilters {
  ids?: number[];
  serviceCodes?: string[];
  serviceId?: number;
  statuses?: RequestStatus[];
  communeId?: number;
  neighbourhoodId?: number;
  officeIds?: number[];
  authorId?: number;
  from?: Date;
  to?: Date;
  overdue?: boolean;
  sort?: 'newest' | 'upvotes' | 'oldest' | 'overdue';
  /** Merged duplicates are hidden from public lists. */
  includeMerged?: boolean;
}

function filtered(db: RqDb, f: RequestFilters) {
  return requestQuery(db)
    .$if(!!f.ids?.length, (q) => q.where('r.id', 'in', f.ids!))
    .$if(!!f.serviceCodes?.length, (q) => q.where('s.code', 'in', f.serviceCodes!))
    .$if(f.serviceId != null, (q) => q.where('r.service_id', '=', f.serviceId!))
    .$if(!!f.statuses?.length, (q) => q.where('r.status', 'in', f.statuses!))
    .$if(!f.includeMerged && !f.statuses?.includes('merged') && !f.ids?.length, (q) => q.where('r.status', '!=', 'merged'))
    .$if(f.communeId != null, (q) => q.where('r.commune_id', '=', f.communeId!))
    .$if(f.neighbourhoodId != null, (q) => q.where('r.neighbourhood_id', '=', f.neighbourhoodId!))
    .$if(f.officeIds != null, (q) => (f.officeIds!.length ? q.where('r.office_id', 'in', f.officeIds!) : q.where(sql<boolean>`false`)))
    .$if(f.authorId != null, (q) => q.where('r.author_id', '=', f.authorId!))
    .$if(f.from != null, (q) => q.where('r.requested_at', '>=', f.from!))
    .$if(f.to != null, (q) => q.where('r.requested_at', '<=', f.to!))
    .$if(!!f.overdue, (q) => q.where('r.status', 'in', OPEN_STATUSES as RequestStatus[]).where('r.expected_at', '<', new Date()));
}

export async function listRequests(db: RqDb, f: RequestFilters, page: { limit: number; offset: number }) {
  let q = filtered(db, f);
  switch (f.sort) {
    case 'upvotes':
      q = q.orderBy('r.upvotes', 'desc').orderBy('r.id', 'desc');
      break;
    case 'oldest':
      q = q.orderBy('r.requested_at', 'asc').orderBy('r.id', 'asc');
      break;
    case 'overdue':
      // Overdue first (most overdue on top), then the rest by age.
      q = q
        .orderBy(sql`case when r.status in ('submitted','acknowledged','in_progress') and r.expected_at < now() then 0 else 1 end`)
        .orderBy('r.expected_at', 'asc')
        .orderBy('r.id', 'asc');
      break;
    default:
      q = q.orderBy('r.requested_at', 'desc').orderBy('r.id', 'desc');
  }
  return q.limit(page.limit).offset(page.offset).execute();
}

export async function countRequests(db: RqDb, f: RequestFilters): Promise<number> {
  const row = await filtered(db, f)
    .clearSelect()
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function photosOf(db: RqDb, requestIds: number[]) {
  if (!requestIds.length) return [];
  return db.selectFrom('rq_photos').select(['request_id', 'file_id', 'position']).where('request_id', 'in', requestIds).orderBy('request_id').orderBy('position').execute();
}

export async function timelineOf(db: RqDb, requestIds: number[], opts: { internal: boolean }) {
  if (!requestIds.length) return [];
  return db
    .selectFrom('rq_updates as u')
    .leftJoin('users as a', 'a.id', 'u.author_id')
    .select(['u.id', 'u.request_id', 'u.at', 'u.kind', 'u.status', 'u.public', 'u.text', 'a.name as author_name'])
    .where('u.request_id', 'in', requestIds)
    .$if(!opts.internal, (q) => q.where('u.public', '=', true))
    .orderBy('u.at')
    .orderBy('u.id')
    .execute();
}

export async function ratingOf(db: RqDb, requestId: number) {
  return db.selectFrom('rq_ratings').selectAll().where('request_id', '=', requestId).executeTakeFirst();
}

export async function hasUpvoted(db: RqDb, requestId: number, userId: number) {
  return !!(await db.selectFrom('rq_upvotes').select('user_id').where('request_id', '=', requestId).where('user_id', '=', userId).executeTakeFirst());
}

/** Public updates since a date, for mySociety's servicerequestupdates. */
export async function updatesBetween(db: RqDb, from: Date | null, to: Date | null, limit: number) {
  return db
    .selectFrom('rq_updates as u')
    .innerJoin('rq_requests as r', 'r.id', 'u.request_id')
    .select(['u.id', 'u.request_id', 'u.at', 'u.kind', 'u.status', 'u.text', 'r.status as request_status'])
    .where('u.public', '=', true)
    .where('u.kind', '!=', 'created')
    .$if(from != null, (q) => q.where('u.at', '>=', from!))
    .$if(to != null, (q) => q.where('u.at', '<=', to!))
    .orderBy('u.at')
    .orderBy('u.id')
    .limit(limit)
    .execute();
}

/* ---------- residents' actions ---------- */

/** One upvote per account; the upvoter follows the request. Returns false when already upvoted or closed. */
export async function upvote(trx: RqDb, requestId: number, userId: number): Promise<boolean> {
  const r = await trx.selectFrom('rq_requests').select(['status']).where('id', '=', requestId).forUpdate().executeTakeFirst();
  if (!r || !OPEN_STATUSES.includes(r.status)) return false;
  const ins = await trx.insertInto('rq_upvotes').values({ request_id: requestId, user_id: userId }).onConflict((oc) => oc.doNothing()).returning('user_id').executeTakeFirst();
  if (!ins) return false;
  await trx.updateTable('rq_requests').set((eb) => ({ upvotes: eb('upvotes', '+', 1) })).where('id', '=', requestId).execute();
  await trx.insertInto('rq_followers').values({ request_id: requestId, user_id: userId }).onConflict((oc) => oc.doNothing()).execute();
  return true;
}

/** `userId` null: the author an Open311 app named by e-mail, through the signed link. */
export async function rate(trx: RqDb, requestId: number, userId: number | null, score: number, comment: string) {
  await trx
    .insertInto('rq_ratings')
    .values({ request_id: requestId, user_id: userId, score, comment })
    .onConflict((oc) => oc.column('request_id').doUpdateSet({ score, comment, at: new Date() }))
    .execute();
}

/* ---------- the office's workflow ---------- */

export async function addUpdate(trx: RqDb, u: { requestId: number; kind: UpdateKind; status?: RequestStatus | null; public: boolean; text?: string; authorId: number | null; at?: Date }) {
  await trx
    .insertInto('rq_updates')
    .values({ request_id: u.requestId, kind: u.kind, status: u.status ?? null, public: u.public, text: u.text ?? '', author_id: u.authorId, at: u.at ?? new Date() })
    .execute();
  await trx.updateTable('rq_requests').set({ updated_at: u.at ?? new Date() }).where('id', '=', u.requestId).execute();
}

export async function setStatus(trx: RqDb, requestId: number, to: RequestStatus, text: string, authorId: number | null, at = new Date()) {
  const closing = CLOSED_STATUSES.includes(to);
  await trx
    .updateTable('rq_requests')
    .set({ status: to, status_notes: text || null, updated_at: at, closed_at: closing ? at : null })
    .where('id', '=', requestId)
    .execute();
  await addUpdate(trx, { requestId, kind: 'status', status: to, public: true, text, authorId, at });
}

/** Moves the duplicate's upvotes and followers to the original, then closes the duplicate as merged. */
export async function merge(trx: RqDb, duplicateId: number, targetId: number, authorId: number | null) {
  await sql`insert into rq_upvotes (request_id, user_id, at) select ${targetId}, user_id, at from rq_upvotes where request_id = ${duplicateId} on conflict do nothing`.execute(trx);
  await sql`insert into rq_followers (request_id, user_id) select ${targetId}, user_id from rq_followers where request_id = ${duplicateId} on conflict do nothing`.execute(trx);
  // The duplicate's author is one more resident with the same problem: count them too.
  await sql`insert into rq_upvotes (request_id, user_id) select ${targetId}, author_id from rq_requests where id = ${duplicateId} and author_id is not null on conflict do nothing`.execute(trx);
  await sql`update rq_requests set upvotes = (select count(*) from rq_upvotes where request_id = ${targetId}), updated_at = now() where id = ${targetId}`.execute(trx);
  await trx.updateTable('rq_requests').set({ merged_into_id: targetId }).where('id', '=', duplicateId).execute();
  await setStatus(trx, duplicateId, 'merged', `#${targetId}`, authorId);
  await addUpdate(trx, { requestId: targetId, kind: 'merge', public: true, text: `#${duplicateId}`, authorId });
}

/** Moves a request to another category (and office); its due date follows the new category's target, counted from filing. */
export async function reassign(trx: RqDb, requestId: number, to: { serviceId: number; officeId: number | null }, authorId: number | null, text: string) {
  const s = await trx.selectFrom('rq_services').select('target_days').where('id', '=', to.serviceId).executeTakeFirstOrThrow();
  const r = await trx.selectFrom('rq_requests').select('requested_at').where('id', '=', requestId).executeTakeFirstOrThrow();
  await trx
    .updateTable('rq_requests')
    .set({ service_id: to.serviceId, office_id: to.officeId, expected_at: expectedAt(r.requested_at, s.target_days) })
    .where('id', '=', requestId)
    .execute();
  await addUpdate(trx, { requestId, kind: 'reassign', public: true, text, authorId });
}

/** Sets (or corrects) a request's point with the commune and neighbourhood it falls in. */
export async function placeRequest(trx: RqDb, requestId: number, p: { lat: number; lng: number; communeId: number; neighbourhoodId: number | null }) {
  await trx
    .updateTable('rq_requests')
    .set({ lat: p.lat, lng: p.lng, commune_id: p.communeId, neighbourhood_id: p.neighbourhoodId, updated_at: new Date() })
    .where('id', '=', requestId)
    .execute();
}

/**
 * The key of the rating link e-mailed to an author without an account (an Open311 app's e-mail):
 * whoever holds the e-mail may rate, without signing in. Keyed by the instance secret and the
 * request's own random token, so it cannot be guessed from the id.
 */
export function ratingSignature(secret: string, requestId: number, token: string): string {
  return crypto.createHmac('sha256', secret).update(`requests.rate:${requestId}:${token}`).digest('base64url');
}

export function ratingSignatureValid(secret: string, r: { id: number; token: string }, sig: string | undefined): boolean {
  if (!sig) return false;
  const want = Buffer.from(ratingSignature(secret, r.id, r.token));
  const got = Buffer.from(sig);
  return got.length === want.length && crypto.timingSafeEqual(got, want);
}

/** Who hears about a change: the author (account or Open311 e-mail) and every follower, each in their language. */
export async function recipientsOf(trx: RqDb, requestId: number): Promise<Array<{ email: string; locale: string; guest: boolean }>> {
  // `guest`: the author an Open311 app named by e-mail only (no account here).
  const rows = await sql<{ email: string; locale: string; guest: boolean }>`
    select r.author_email as email, 'es-AR' as locale, true as guest from rq_requests r where r.id = ${requestId} and r.author_id is null and r.author_email is not null
    union all
    select u.email, u.locale, false as guest from rq_followers f join users u on u.id = f.user_id where f.request_id = ${requestId} and u.disabled_at is null
  `.execute(trx);
  const seen = new Set<string>();
  return rows.rows.filter((r) => !seen.has(r.email.toLowerCase()) && seen.add(r.email.toLowerCase()));
}

export async function notifyFollowers(services: Services, trx: RqDb, requestId: number, what: { statusKey?: string; text?: string; closed?: boolean }) {
  const r = await trx.selectFrom('rq_requests').select(['id', 'token']).where('id', '=', requestId).executeTakeFirstOrThrow();
  const url = `${services.config.baseUrl}/requests/${r.id}`;
  for (const to of await recipientsOf(trx, requestId)) {
    const t = services.i18n.translator(to.locale === 'en' ? 'en' : 'es-AR');
    const status = what.statusKey ? t(what.statusKey) : '';
    // Closed as solved or not solvable: an author without an account rates through a signed link.
    const rateLine = what.closed && to.guest ? t('requests.mail.rate', { url: `${url}?rating=${ratingSignature(services.secret, r.id, r.token)}` }) : '';
    await services.mail.enqueue(
      {
        to: to.email,
        subject: t('requests.mail.subject', { id: r.id, status: status || t('requests.mail.answer') }),
        text: [t('requests.mail.body', { id: r.id, status: status || t('requests.mail.answer') }), what.text ?? '', url, rateLine].filter(Boolean).join('\n\n'),
      },
      core(trx),
    );
  }
}

export async function audit(services: Services, trx: RqDb, actor: Actor, action: string, requestId: number, officeId: number | null, details: Record<string, unknown> = {}) {
  await services.audit.record(actor, { action, subjectType: 'service_request', subjectId: requestId, officeId, details }, core(trx));
}

/* ---------- dashboard and statistics ---------- */

export async function dashboard(db: RqDb, officeIds: number[] | null) {
  const scope = (q: any) => (officeIds ? (officeIds.length ? q.where('rq_requests.office_id', 'in', officeIds) : q.where(sql`false`)) : q);
  const totals = await scope(
    db.selectFrom('rq_requests').select([
      sql<number>`count(*) filter (where status in ('submitted','acknowledged','in_progress'))`.as('open'),
      sql<number>`count(*) filter (where status in ('submitted','acknowledged','in_progress') and expected_at < now())`.as('overdue'),
      sql<number>`count(*) filter (where status in ('solved','not_solvable'))`.as('closed'),
      sql<number | null>`percentile_cont(0.5) within group (order by extract(epoch from closed_at - requested_at) / 86400) filter (where status in ('solved','not_solvable'))`.as('median_days'),
      sql<number | null>`avg(case when closed_at is null then null when closed_at <= expected_at then 1.0 else 0.0 end) filter (where status in ('solved','not_solvable'))`.as('within_target'),
    ]),
  ).executeTakeFirstOrThrow();
  const ratings = await scope(
    db.selectFrom('rq_ratings as g').innerJoin('rq_requests', 'rq_requests.id', 'g.request_id').select([sql<number>`count(*)`.as('n'), sql<number | null>`avg(g.score)`.as('avg')]),
  ).executeTakeFirstOrThrow();
  const byService = await scope(
    db
      .selectFrom('rq_requests')
      .innerJoin('rq_services as s', 's.id', 'rq_requests.service_id')
      // One rating per request at most, so the join adds no rows; and it keeps ratings in the office's scope.
      .leftJoin('rq_ratings as g', 'g.request_id', 'rq_requests.id')
      .select([
        's.name',
        's.name_en',
        sql<number>`count(*) filter (where status in ('submitted','acknowledged','in_progress'))`.as('open'),
        sql<number>`count(*) filter (where status in ('submitted','acknowledged','in_progress') and expected_at < now())`.as('overdue'),
        sql<number>`count(*)`.as('total'),
        sql<number | null>`percentile_cont(0.5) within group (order by extract(epoch from closed_at - requested_at) / 86400) filter (where status in ('solved','not_solvable'))`.as('median_days'),
        sql<number | null>`avg(g.score)`.as('rating'),
        sql<number>`count(g.score)`.as('ratings'),
      ])
      .groupBy(['s.id', 's.name', 's.name_en'])
      .orderBy('total', 'desc'),
  ).execute();
  const byCommune = await scope(
    db
      .selectFrom('rq_requests')
      .leftJoin('rq_ratings as g', 'g.request_id', 'rq_requests.id')
      .select([
        'commune_id',
        sql<number>`count(*) filter (where status in ('submitted','acknowledged','in_progress'))`.as('open'),
        sql<number>`count(*) filter (where status in ('submitted','acknowledged','in_progress') and expected_at < now())`.as('overdue'),
        sql<number>`count(*)`.as('total'),
        sql<number | null>`percentile_cont(0.5) within group (order by extract(epoch from closed_at - requested_at) / 86400) filter (where status in ('solved','not_solvable'))`.as('median_days'),
        sql<number | null>`avg(g.score)`.as('rating'),
        sql<number>`count(g.score)`.as('ratings'),
      ])
      .groupBy('commune_id')
      .orderBy('commune_id'),
  ).execute();
  // count() is bigint and avg() numeric: strings on PostgreSQL. The page and tests read numbers.
  const nums = <T extends Record<string, unknown>>(row: T): T =>
    Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'string' && k !== 'name' && k !== 'name_en' ? Number(v) : v])) as T;
  return { totals: nums(totals), ratings: nums(ratings), byService: byService.map(nums), byCommune: byCommune.map(nums) } as {
    totals: { open: number; overdue: number; closed: number; median_days: number | null; within_target: number | null };
    ratings: { n: number; avg: number | null };
    byService: Array<{ name: string; name_en: string | null; open: number; overdue: number; total: number; median_days: number | null; rating: number | null; ratings: number }>;
    byCommune: Array<{ commune_id: number | null; open: number; overdue: number; total: number; median_days: number | null; rating: number | null; ratings: number }>;
  };
}

export async function publicStats(db: RqDb) {
  const byService = await db
    .selectFrom('rq_requests as r')
    .innerJoin('rq_services as s', 's.id', 'r.service_id')
    .select(['s.name', 's.name_en', sql<number>`count(*)`.as('n')])
    .where('r.status', '!=', 'merged')
    .groupBy(['s.id', 's.name', 's.name_en'])
    .orderBy('n', 'desc')
    .execute();
  const byCommune = await db
    .selectFrom('rq_requests as r')
    .leftJoin('communes as c', 'c.id', 'r.commune_id')
    .select(['r.commune_id', 'c.name', 'c.area_m2', sql<number>`count(*)`.as('n')])
    .where('r.status', '!=', 'merged')
    .groupBy(['r.commune_id', 'c.name', 'c.area_m2'])
    .orderBy('r.commune_id')
    .execute();
  const byMonth = await db
    .selectFrom('rq_requests as r')
    .select([sql<string>`to_char(r.requested_at at time zone 'America/Argentina/Buenos_Aires', 'YYYY-MM')`.as('month'), sql<number>`count(*)`.as('n')])
    .where('r.status', '!=', 'merged')
    .groupBy(sql`1`)
    .orderBy(sql`1`)
    .execute();
  const byOffice = await db
    .selectFrom('rq_requests as r')
    .innerJoin('offices as o', 'o.id', 'r.office_id')
    .select([
      'o.name',
      sql<number>`count(*) filter (where r.status in ('solved','not_solvable'))`.as('closed'),
      sql<number | null>`percentile_cont(0.5) within group (order by extract(epoch from r.closed_at - r.requested_at) / 86400) filter (where r.status in ('solved','not_solvable'))`.as('median_days'),
      sql<number | null>`avg(case when r.closed_at <= r.expected_at then 1.0 else 0.0 end) filter (where r.status in ('solved','not_solvable'))`.as('within_target'),
      sql<number | null>`(select avg(g.score) from rq_ratings g join rq_requests r2 on r2.id = g.request_id where r2.office_id = o.id)`.as('rating'),
    ])
    .groupBy(['o.id', 'o.name'])
    .orderBy('o.name')
    .execute();
  return { byService, byCommune, byMonth, byOffice };
}

/** Points in a viewport for the map, at most `limit` (the map says when it is cut). */
export interface ViewportFilters {
  serviceId?: number;
  statuses?: RequestStatus[];
  communeId?: number;
  neighbourhoodId?: number;
  from?: Date;
  to?: Date;
}

export async function viewport(db: RqDb, bbox: [number, number, number, number], f: ViewportFilters, limit: number, strategy: 'spatial' | 'newest') {
  // Plain comparisons on a wide viewport keep the planner on the primary key, newest first.
  const inside =
    strategy === 'spatial'
      ? sql<boolean>`point(r.lng, r.lat) <@ box(point(${bbox[0]}::float8, ${bbox[1]}::float8), point(${bbox[2]}::float8, ${bbox[3]}::float8))`
      : sql<boolean>`r.lng between ${bbox[0]}::float8 and ${bbox[2]}::float8 and r.lat between ${bbox[1]}::float8 and ${bbox[3]}::float8`;
  return db
    .selectFrom('rq_requests as r')
    .innerJoin('rq_services as s', 's.id', 'r.service_id')
    .select(['r.id', 'r.lat', 'r.lng', 'r.status', 'r.upvotes', 'r.requested_at', 's.code as service_code', 's.name as service_name', 's.name_en as service_name_en'])
    .where(inside)
    .where('r.status', '!=', 'merged')
    .$if(f.serviceId != null, (q) => q.where('r.service_id', '=', f.serviceId!))
    .$if(!!f.statuses?.length, (q) => q.where('r.status', 'in', f.statuses!))
    .$if(f.communeId != null, (q) => q.where('r.commune_id', '=', f.communeId!))
    .$if(f.neighbourhoodId != null, (q) => q.where('r.neighbourhood_id', '=', f.neighbourhoodId!))
    .$if(f.from != null, (q) => q.where('r.requested_at', '>=', f.from!))
    .$if(f.to != null, (q) => q.where('r.requested_at', '<=', f.to!))
    // Spatial: nearest the viewport's centre first, which the GiST index hands out in order, so a
    // busy district costs `limit` index entries rather than all of them. Wide: newest first.
    .$if(strategy === 'spatial', (q) => q.orderBy(sql`point(r.lng, r.lat) <-> point(${(bbox[0] + bbox[2]) / 2}::float8, ${(bbox[1] + bbox[3]) / 2}::float8)`))
    .$if(strategy === 'newest', (q) => q.orderBy('r.id', 'desc'))
    .limit(limit)
    .execute();
}

/** Roughly how many requests there are (the planner's estimate: free, and close enough to choose a plan). */
export async function estimatedRows(db: RqDb): Promise<number> {
  const r = await sql<{ n: number }>`select reltuples::float8 as n from pg_class where oid = 'rq_requests'::regclass`.execute(db);
  const n = Number(r.rows[0]?.n ?? -1);
  if (n >= 0) return n;
  // Never analysed yet (a fresh demo city, a bulk load): count, but never more than the strategy needs to know.
  const c = await sql<{ n: number }>`select count(*)::int as n from (select 1 from rq_requests limit 100000) s`.execute(db);
  return Number(c.rows[0]?.n ?? 0);
}

/** Every request for the open dataset, without personal data. */
export async function datasetRows(db: RqDb) {
  return db
    .selectFrom('rq_requests as r')
    .innerJoin('rq_services as s', 's.id', 'r.service_id')
    .leftJoin('offices as o', 'o.id', 'r.office_id')
    .leftJoin('communes as c', 'c.id', 'r.commune_id')
    .leftJoin('neighbourhoods as n', 'n.id', 'r.neighbourhood_id')
    .select([
      'r.id',
      's.code as service_code',
      's.name as service_name',
      'o.name as office',
      'r.status',
      'r.requested_at',
      'r.closed_at',
      'r.expected_at',
      'r.lat',
      'r.lng',
      'r.commune_id',
      'n.name as neighbourhood',
      'r.upvotes',
      'r.source',
      sql<number | null>`(select score from rq_ratings g where g.request_id = r.id)`.as('rating'),
    ])
    .orderBy('r.id')
    .execute();
}

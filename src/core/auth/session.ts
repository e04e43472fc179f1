import crypto from 'node:crypto';
import { sql } from 'kysely';
import type pg from 'pg';
import type { Db } from '../db';
import type { SessionUser } from '../ui/context';

export const SESSION_COOKIE = 'cabildo_sid';
export const SESSION_DAYS = 30;

export const sha256 = (s: string) => crypto.createHash('sha256').update(s).digest('hex');
export const randomToken = (bytes = 32) => crypto.randomBytes(bytes).toString('base64url');

/** Creates a session row and returns the cookie value (only its hash is stored). */
export async function createSession(db: Db, userId: number, meta: { ip?: string; userAgent?: string }): Promise<string> {
  const token = randomToken();
  await db
    .insertInto('sessions')
    .values({
      id: sha256(token),
      user_id: userId,
      expires_at: new Date(Date.now() + SESSION_DAYS * 86400_000),
      ip: meta.ip ?? null,
      user_agent: meta.userAgent?.slice(0, 300) ?? null,
    })
    .execute();
  return token;
}

export async function destroySession(db: Db, token: string): Promise<void> {
  await db.deleteFrom('sessions').where('id', '=', sha256(token)).execute();
}

/** One query: the account behind a session or an API token, with its offices. */
function userQuery(db: Db) {
  return db
    .selectFrom('users')
    .select([
      'users.id',
      'users.email',
      'users.name',
      'users.roles',
      'users.verified_at',
      'users.commune_id',
      'users.email_confirmed_at',
      sql<number[]>`coalesce((select array_agg(office_id order by office_id) from office_members om where om.user_id = users.id), '{}')`.as('office_ids'),
      sql<number[]>`coalesce((select array_agg(office_id order by office_id) from office_members om where om.user_id = users.id and om.role = 'admin'), '{}')`.as('office_admin_ids'),
    ])
    .where('users.disabled_at', 'is', null);
}

type UserRow = Awaited<ReturnType<ReturnType<typeof userQuery>['executeTakeFirst']>>;

function toSessionUser(r: NonNullable<UserRow>): SessionUser {
  return {
    id: r.id,
    email: r.email,
    name: r.name,
    roles: r.roles,
    verified: r.verified_at != null,
    communeId: r.commune_id,
    officeIds: (r.office_ids ?? []).map(Number),
    officeAdminIds: (r.office_admin_ids ?? []).map(Number),
    emailConfirmed: r.email_confirmed_at != null,
  };
}

/**
 * The account behind a session cookie. Every signed-in request asks this, so on PostgreSQL (when
 * given the pool) it runs as a named prepared statement: each connection plans it once instead of
 * on every request, which was most of its cost.
 */
export async function userFromSession(db: Db, token: string, pool?: Pick<pg.Pool, 'query'>): Promise<SessionUser | null> {
  const query = userQuery(db).innerJoin('sessions', 'sessions.user_id', 'users.id').where('sessions.id', '=', sha256(token)).where('sessions.expires_at', '>', new Date());
  if (!pool) {
    const row = await query.executeTakeFirst();
    return row ? toSessionUser(row) : null;
  }
  const compiled = query.compile();
  const res = await pool.query<NonNullable<UserRow>>({ name: 'cabildo_session_user', text: compiled.sql, values: [...compiled.parameters] });
  return res.rows[0] ? toSessionUser(res.rows[0]) : null;
}

export async function userById(db: Db, id: number): Promise<SessionUser | null> {
  const row = await userQuery(db).where('users.id', '=', id).executeTakeFirst();
  return row ? toSessionUser(row) : null;
}

export const API_TOKEN_PREFIX = 'cab_';

/** Creates an API token for machine clients; returns the token, shown once. */
export async function createApiToken(db: Db, userId: number, name: string): Promise<{ id: number; token: string }> {
  const token = API_TOKEN_PREFIX + randomToken(24);
  const row = await db
    .insertInto('api_tokens')
    .values({ user_id: userId, name, token_hash: sha256(token), prefix: token.slice(0, 8) })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id: row.id, token };
}

export async function userFromApiToken(db: Db, token: string): Promise<SessionUser | null> {
  const hash = sha256(token);
  const row = await userQuery(db)
    .innerJoin('api_tokens', 'api_tokens.user_id', 'users.id')
    .select('api_tokens.last_used_at')
    .where('api_tokens.token_hash', '=', hash)
    .where('api_tokens.revoked_at', 'is', null)
    .executeTakeFirst();
  if (!row) return null;
  // "Last used" to the minute is enough, and spares a write on every call of a busy client.
  if (!row.last_used_at || Date.now() - new Date(row.last_used_at).getTime() > 60_000) {
    await db.updateTable('api_tokens').set({ last_used_at: new Date() }).where('token_hash', '=', hash).execute();
  }
  return toSessionUser(row);
}

/** The token in an Authorization header: raw (as CKAN clients send it) or as a Bearer token. */
export function tokenFromHeader(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  return (m ? m[1] : header).trim() || undefined;
}

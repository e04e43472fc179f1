import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Role } from '../db/schema';

/** Thrown by guards and handlers; the error handler turns it into a page or a problem document. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    /** i18n key of the message for pages (falls back to `message`). */
    readonly messageKey?: string,
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export const notFound = (what = 'Not found') => new HttpError(404, what, 'error.404.title');
export const forbidden = (why = 'Forbidden') => new HttpError(403, why, 'error.403.title');
export const badRequest = (why: string, key?: string) => new HttpError(400, why, key);

function isApi(request: FastifyRequest) {
  return request.url.startsWith('/api/');
}

/** Anonymous visitors are sent to sign in (pages) or get a 401 (API). */
export async function requireUser(request: FastifyRequest, reply: FastifyReply) {
  if (request.user) return;
  if (isApi(request) || request.method !== 'GET') throw new HttpError(401, 'Sign-in required', 'auth.signin.required');
  return reply.redirect(`/signin?next=${encodeURIComponent(request.url)}`, 303);
}

export function requireRole(...roles: Role[]) {
  return async function guard(request: FastifyRequest, reply: FastifyReply) {
    if (!request.user) return requireUser(request, reply);
    if (!roles.some((r) => request.user!.roles.includes(r))) throw forbidden(`Requires role: ${roles.join(' or ')}`);
  };
}

export const requireAdmin = requireRole('admin');

export async function requireVerified(request: FastifyRequest, reply: FastifyReply) {
  if (!request.user) return requireUser(request, reply);
  if (!request.user.verified) throw new HttpError(403, 'Residency verification required', 'auth.verify.required');
}

/** An official acts only for their own offices; administrators act for all. */
export function assertOfficeMember(request: FastifyRequest, officeId: number | null | undefined): void {
  const u = request.user;
  if (!u) throw new HttpError(401, 'Sign-in required', 'auth.signin.required');
  if (u.roles.includes('admin')) return;
  if (officeId == null || !u.officeIds.includes(officeId)) throw forbidden('You act only for your own office');
}

/**
 * PostgreSQL refuses U+0000 in text (and jsonb), so a NUL byte reaching a query is a 500. A request
 * carrying one anywhere (path, query, form or JSON body) is refused with this 400 before any route
 * runs (platformHttp's hooks); `field` names the parameter when there is one.
 */
export class NulCharacterError extends HttpError {
  constructor(readonly field?: string) {
    super(400, `Invalid character U+0000 (NUL) in ${field ? `parameter "${field}"` : 'the request'}`, 'error.nul', field ? { parameter: field } : undefined);
  }
}

/**
 * Where a parsed query or body hides a U+0000: the top-level key holding it ('' for the value
 * itself, or for a key that contains one), or null if there is none. Walked without recursion: a
 * deeply nested JSON body cannot overflow the stack.
 */
export function nulIn(value: unknown): string | null {
  const stack: Array<[unknown, string]> = [[value, '']];
  while (stack.length) {
    const [v, top] = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\0')) return top;
    } else if (v && typeof v === 'object' && !Buffer.isBuffer(v)) {
      for (const [k, x] of Object.entries(v)) {
        if (k.includes('\0')) return top;
        stack.push([x, top || k]);
      }
    }
  }
  return null;
}

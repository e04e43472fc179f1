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

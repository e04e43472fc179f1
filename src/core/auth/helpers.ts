import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { CoreTables } from '../db/schema';
import type { Services } from '../services';
import type { Locale } from '../i18n';
import { createSession, destroySession, SESSION_COOKIE, SESSION_DAYS } from './session';
import { issueEmailToken } from './tokens';

/** A form field as one string (the first value when a field is repeated); absent → ''. */
export function formReader(request: FastifyRequest) {
  const body = (request.body ?? {}) as Record<string, unknown>;
  return (name: string): string => {
    const v = body[name];
    const first = Array.isArray(v) ? v[0] : v;
    return typeof first === 'string' ? first : '';
  };
}

export function queryString(request: FastifyRequest, name: string): string {
  const v = (request.query as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : '';
}

/** Only a path on this site: no scheme, no host, no protocol-relative '//' or '/\' tricks. */
export function safeNext(raw: string | undefined, fallback = '/'): string {
  if (!raw || !raw.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\') || /[\r\n]/.test(raw)) return fallback;
  // The sign-in pages themselves are no place to come back to.
  if (/^\/(signin|signup|signout)(\/|\?|$)/.test(raw)) return fallback;
  return raw;
}

export const EMAIL_MAX = 254;
export function isEmail(s: string): boolean {
  return s.length <= EMAIL_MAX && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(s);
}
export const normaliseEmail = (s: string) => s.trim().toLowerCase();

/**
 * Signs the browser in with a brand-new session: the session the browser came with (if any) is
 * deleted, so a session id planted before sign-in is worth nothing after it.
 */
export async function startSession(services: Services, request: FastifyRequest, reply: FastifyReply, userId: number): Promise<void> {
  const old = request.cookies[SESSION_COOKIE];
  if (old) await destroySession(services.db, old);
  const token = await createSession(services.db, userId, { ip: request.ip, userAgent: request.headers['user-agent'] });
  reply.setCookie(SESSION_COOKIE, token, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: services.config.secureCookies,
    maxAge: SESSION_DAYS * 86400,
  });
}

/** Mails an email-confirmation link, in the caller's transaction when there is one. */
export async function sendConfirmation(
  services: Services,
  user: { id: number; email: string; name: string },
  locale: Locale,
  trx: Kysely<CoreTables> = services.db,
): Promise<void> {
  const token = await issueEmailToken(trx, user.id, 'confirm');
  const t = services.i18n.translator(locale);
  const link = `${services.config.baseUrl}/confirm/${token}`;
  const params = { name: user.name || user.email, link, city: services.config.cityShortName };
  await services.mail.enqueue({ to: user.email, subject: t('auth.mail.confirm.subject', params), text: t('auth.mail.confirm.text', params) }, trx);
}

export async function sendReset(services: Services, user: { id: number; email: string; name: string }, locale: Locale): Promise<void> {
  await services.db.transaction().execute(async (trx) => {
    const token = await issueEmailToken(trx, user.id, 'reset');
    const t = services.i18n.translator(locale);
    const link = `${services.config.baseUrl}/reset/${token}`;
    const params = { name: user.name || user.email, link, city: services.config.cityShortName };
    await services.mail.enqueue({ to: user.email, subject: t('auth.mail.reset.subject', params), text: t('auth.mail.reset.text', params) }, trx);
  });
}

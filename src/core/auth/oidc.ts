import type { FastifyInstance } from 'fastify';
import * as client from 'openid-client';
import { sql } from 'kysely';
import type { Services } from '../services';
import { HttpError } from '../http/guards';
import { queryString, safeNext, startSession } from './helpers';

const FLOW_COOKIE = 'cabildo_oidc';
const FLOW_MINUTES = 10;

interface Flow {
  state: string;
  nonce: string;
  verifier: string;
  next: string;
}

export const oidcRedirectUri = (services: Services) => `${services.config.baseUrl}/signin/oidc/callback`;

/**
 * The provider's configuration, discovered once and kept; a failed discovery is forgotten so
 * that the next sign-in tries again. Plain-http issuers are allowed only because an operator
 * configured one on purpose (a provider inside the city's network, or a test).
 */
export function oidcDiscovery(services: Services): () => Promise<client.Configuration> {
  let pending: Promise<client.Configuration> | undefined;
  return () => {
    const o = services.config.oidc!;
    pending ??= client
      .discovery(new URL(o.issuer), o.clientId, o.clientSecret || undefined, undefined, {
        execute: o.issuer.startsWith('http://') ? [client.allowInsecureRequests] : [],
        timeout: 10,
      })
      .catch((err: unknown) => {
        pending = undefined;
        throw err;
      });
    return pending;
  };
}

/** Sign-in through the city's OpenID Connect provider (authorization code + PKCE), when configured. */
export async function oidcPages(app: FastifyInstance): Promise<void> {
  const { services } = app;
  if (!services.config.oidc) return;
  const discover = oidcDiscovery(services);
  const unavailable = (err: unknown) => {
    app.log.warn({ err }, 'OIDC provider unavailable');
    return new HttpError(503, 'The sign-in provider is unavailable; please try again later', 'auth.oidc.unavailable');
  };

  app.get('/signin/oidc', async (request, reply) => {
    const config = await discover().catch((err) => {
      throw unavailable(err);
    });
    const flow: Flow = {
      state: client.randomState(),
      nonce: client.randomNonce(),
      verifier: client.randomPKCECodeVerifier(),
      next: safeNext(queryString(request, 'next')),
    };
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: oidcRedirectUri(services),
      scope: 'openid email profile',
      state: flow.state,
      nonce: flow.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(flow.verifier),
      code_challenge_method: 'S256',
    });
    reply.setCookie(FLOW_COOKIE, JSON.stringify(flow), {
      path: '/signin/oidc',
      httpOnly: true,
      // The provider sends the browser back with a top-level GET: Lax cookies travel with it.
      sameSite: 'lax',
      secure: services.config.secureCookies,
      signed: true,
      maxAge: FLOW_MINUTES * 60,
    });
    return reply.redirect(url.href, 303);
  });

  app.get('/signin/oidc/callback', async (request, reply) => {
    const raw = request.cookies[FLOW_COOKIE];
    const unsigned = raw ? request.unsignCookie(raw) : undefined;
    if (!unsigned?.valid || !unsigned.value) throw new HttpError(400, 'The sign-in took too long or was started elsewhere; please try again', 'auth.oidc.expired');
    const flow = JSON.parse(unsigned.value) as Flow;
    reply.clearCookie(FLOW_COOKIE, { path: '/signin/oidc' });
    const config = await discover().catch((err) => {
      throw unavailable(err);
    });
    let claims: client.IDToken | undefined;
    try {
      const tokens = await client.authorizationCodeGrant(config, new URL(request.url, services.config.baseUrl), {
        pkceCodeVerifier: flow.verifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
      });
      claims = tokens.claims();
    } catch (err) {
      request.log.info({ err }, 'OIDC callback refused');
      throw new HttpError(400, 'The sign-in provider did not confirm who you are', 'auth.oidc.failed');
    }
    if (!claims?.sub) throw new HttpError(400, 'The sign-in provider did not confirm who you are', 'auth.oidc.failed');
    const userId = await linkOidcAccount(services, {
      sub: claims.sub,
      email: typeof claims.email === 'string' ? claims.email.trim().toLowerCase() : undefined,
      emailVerified: claims.email_verified !== false,
      name: typeof claims.name === 'string' ? claims.name : undefined,
    });
    await startSession(services, request, reply, userId);
    return reply.redirect(flow.next, 303);
  });
}

/**
 * The account behind a provider identity: by subject; else by email (only one the provider
 * says it verified, so nobody takes over an account by claiming its address); else a new one.
 */
export async function linkOidcAccount(services: Services, id: { sub: string; email?: string; emailVerified: boolean; name?: string }): Promise<number> {
  const { db } = services;
  const bySubject = await db.selectFrom('users').select(['id', 'disabled_at']).where('oidc_subject', '=', id.sub).executeTakeFirst();
  const refuseDisabled = (u: { disabled_at: Date | null }) => {
    if (u.disabled_at) throw new HttpError(403, 'This account is disabled', 'auth.signin.disabled');
  };
  if (bySubject) {
    refuseDisabled(bySubject);
    return bySubject.id;
  }
  if (!id.email) throw new HttpError(400, 'The sign-in provider did not share an email address', 'auth.oidc.noEmail');
  if (!id.emailVerified) throw new HttpError(400, 'The sign-in provider has not verified your email address', 'auth.oidc.unverifiedEmail');
  const byEmail = await db.selectFrom('users').select(['id', 'disabled_at', 'oidc_subject']).where(sql`lower(email)`, '=', id.email).executeTakeFirst();
  if (byEmail) {
    refuseDisabled(byEmail);
    if (byEmail.oidc_subject && byEmail.oidc_subject !== id.sub) throw new HttpError(409, 'This account is linked to another identity', 'auth.oidc.conflict');
    await db
      .updateTable('users')
      .set({ oidc_subject: id.sub, email_confirmed_at: sql`coalesce(email_confirmed_at, now())` })
      .where('id', '=', byEmail.id)
      .execute();
    return byEmail.id;
  }
  const created = await db
    .insertInto('users')
    .values({ email: id.email, name: (id.name ?? '').slice(0, 120) || id.email.split('@')[0], oidc_subject: id.sub, email_confirmed_at: new Date() })
    .returning('id')
    .executeTakeFirstOrThrow();
  return created.id;
}

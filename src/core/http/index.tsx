import zlib from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import compress from '@fastify/compress';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import csrf from '@fastify/csrf-protection';
import helmet from '@fastify/helmet';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import type { VNode } from 'preact';
import { Redis } from 'ioredis';
import { formatters, matchLocale, DEFAULT_LOCALE, type Locale, type Translate, type Formatters } from '../i18n';
import type { Services } from '../services';
import type { PageContext, SessionUser } from '../ui/context';
import { renderDocument, type LayoutProps } from '../ui/layout';
import { Assets, uswdsDist, uswdsVersion, leafletDist, leafletVersion } from '../ui/assets';
import { SESSION_COOKIE, tokenFromHeader, userFromApiToken, userFromSession } from '../auth/session';
import { HttpError, NulCharacterError, nulIn } from './guards';
import { problem } from './problem';
import type { Actor } from '../audit';

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
    assets: Assets;
    /** Every route registered (method and URL pattern), for the security tests and the docs. */
    routeList: Array<{ method: string; url: string }>;
  }
  interface FastifyRequest {
    user: SessionUser | null;
    /** How the user was authenticated: a browser session (needs CSRF) or an API token. */
    authVia: 'session' | 'token' | null;
    locale: Locale;
    t: Translate;
    fmt: Formatters;
    /** The actor for the audit log. */
    actor(): Actor;
    pageContext(): PageContext;
  }
  interface FastifyReply {
    /** Renders a page inside the site layout. */
    page(title: string, body: VNode, opts?: Omit<LayoutProps, 'ctx' | 'title' | 'children'> & { status?: number }): FastifyReply;
  }
  interface FastifyContextConfig {
    /** false for machine endpoints authenticated by token only (CKAN writes, Open311 POST). */
    csrf?: boolean;
  }
}

export const LANG_COOKIE = 'cabildo_lang';
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface HttpOptions {
  services: Services;
  assets: Assets;
}

export const platformHttp = fp(async function platformHttp(app: FastifyInstance, opts: HttpOptions) {
  const { services, assets } = opts;
  const { config } = services;
  app.decorate('services', services);
  app.decorate('assets', assets);
  const routeList: Array<{ method: string; url: string }> = [];
  app.decorate('routeList', routeList);
  app.addHook('onRoute', (r) => {
    for (const method of Array.isArray(r.method) ? r.method : [r.method]) routeList.push({ method, url: r.url });
  });

  // Residents read on cheap phones over slow networks: pages and data go out compressed.
  await app.register(compress, { global: true, threshold: 1024, encodings: ['br', 'gzip', 'deflate'], brotliOptions: { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } } });
  await app.register(cookie, { secret: services.secret, hook: 'onRequest' });
  await app.register(formbody);
  await app.register(multipart, { limits: { fileSize: config.uploadLimitBytes, files: 10, fields: 200 } });
  await app.register(csrf, {
    sessionPlugin: '@fastify/cookie',
    cookieKey: 'cabildo_csrf',
    // Multipart forms carry the token in their action URL: their body is read after this check.
    getToken: (req) => {
      const body = req.body as Record<string, unknown> | undefined;
      const query = req.query as Record<string, unknown> | undefined;
      const fromBody = body && typeof body._csrf === 'string' ? body._csrf : undefined;
      const fromQuery = query && typeof query._csrf === 'string' ? query._csrf : undefined;
      const header = req.headers['x-csrf-token'] ?? req.headers['csrf-token'];
      return fromBody ?? fromQuery ?? (typeof header === 'string' ? header : undefined);
    },
    cookieOpts: { signed: true, httpOnly: true, sameSite: 'lax', path: '/', secure: config.secureCookies },
  });
  const tileOrigin = config.tileUrl ? new URL(config.tileUrl.replace(/\{[a-z]\}/g, 'a')).origin : undefined;
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:', ...(tileOrigin ? [tileOrigin] : [])],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    // Open data is meant to be fetched from other sites.
    crossOriginResourcePolicy: { policy: 'cross-origin' },
  });
  await app.register(rateLimit, {
    global: false,
    redis: config.redisUrl ? new Redis(config.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1 }) : undefined,
    nameSpace: 'cabildo-rl-',
    errorResponseBuilder: (_req, ctx) => new HttpError(429, `Too many requests: try again in ${Math.ceil(ctx.ttl / 1000)} s`, 'error.429.title'),
  });

  const immutable = { maxAge: '365d', immutable: true };
  await app.register(fastifyStatic, { root: uswdsDist, prefix: `/assets/uswds-${uswdsVersion}/`, decorateReply: false, ...immutable });
  await app.register(fastifyStatic, { root: leafletDist, prefix: `/assets/leaflet-${leafletVersion}/`, decorateReply: false, ...immutable });
  for (const [url, asset] of assets.files) {
    app.get(url, { schema: { hide: true } }, (_req, reply) =>
      reply.header('cache-control', 'public, max-age=31536000, immutable').type(asset.type).send(asset.body),
    );
  }

  app.decorateRequest('user', null);
  app.decorateRequest('authVia', null);
  app.decorateRequest('locale', DEFAULT_LOCALE);
  app.decorateRequest('t', undefined as unknown as Translate);
  app.decorateRequest('fmt', undefined as unknown as Formatters);
  app.decorateRequest('actor', function (this: FastifyRequest): Actor {
    return { id: this.user?.id ?? null, email: this.user?.email ?? null, ip: this.ip };
  });
  app.decorateRequest('pageContext', function (this: FastifyRequest): PageContext {
    const reply = (this as unknown as { _reply?: FastifyReply & { _csrfToken?: string } })._reply;
    return {
      locale: this.locale,
      t: this.t,
      fmt: this.fmt,
      user: this.user,
      // Made on first use, once per response: pages without a form (most pages a visitor reads)
      // skip the secret and cookie, and a second call without a cookie yet would make a new
      // secret and orphan the first token.
      get csrfToken() {
        if (!reply) return '';
        reply._csrfToken ??= reply.generateCsrf();
        return reply._csrfToken;
      },
      url: this.url,
      assets,
      nav: services.registry.nav(),
      config,
    };
  });
  app.decorateReply('page', function (this: FastifyReply, title: string, body: VNode, o = {}) {
    const { status, ...layout } = o as { status?: number } & Omit<LayoutProps, 'ctx' | 'title' | 'children'>;
    (this.request as unknown as { _reply?: FastifyReply })._reply = this;
    const ctx = this.request.pageContext();
    const html = renderDocument(ctx, title, body, layout);
    return this.code(status ?? 200).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
  });

  // Language: ?lang= (remembered in a cookie), then the cookie; otherwise the city's language,
  // es-AR, whatever the browser says (the architecture's contract: Spanish by default).
  app.addHook('onRequest', async (request, reply) => {
    (request as unknown as { _reply?: FastifyReply })._reply = reply;
    const q = (request.query as Record<string, unknown> | undefined)?.lang;
    let locale = matchLocale(typeof q === 'string' ? q : undefined);
    if (locale) {
      reply.setCookie(LANG_COOKIE, locale, { path: '/', maxAge: 365 * 86400, sameSite: 'lax', secure: config.secureCookies });
    } else {
      locale = matchLocale(request.cookies[LANG_COOKIE]) ?? DEFAULT_LOCALE;
    }
    request.locale = locale;
    request.t = services.i18n.translator(locale);
    request.fmt = formatters(locale);

    // U+0000 in the path or the query: a 400 before anything reads the database (PostgreSQL refuses it).
    const inQuery = nulIn(request.query);
    if (inQuery !== null || /%00|\0/.test(request.url)) throw new NulCharacterError(inQuery || undefined);

    const token = tokenFromHeader(request.headers.authorization);
    if (token && (request.url.startsWith('/api/') || request.url.startsWith('/open311/'))) {
      request.user = await userFromApiToken(services.db, token);
      if (request.user) request.authVia = 'token';
      else if (request.url.startsWith('/api/v1/')) throw new HttpError(401, 'Invalid or revoked API token');
      return;
    }
    const sid = request.cookies[SESSION_COOKIE];
    if (sid) {
      request.user = await userFromSession(services.db, sid, services.database.pool);
      if (request.user) request.authVia = 'session';
      else reply.clearCookie(SESSION_COOKIE, { path: '/' });
    }
  });

  // …and in a form or JSON body, once parsed (multipart fields are read by the routes themselves).
  app.addHook('preValidation', async (request) => {
    const inBody = nulIn(request.body);
    if (inBody !== null) throw new NulCharacterError(inBody || undefined);
  });

  // Every state change from a browser carries the form's CSRF token; token-authenticated
  // machine clients (no cookies involved) do not need one.
  app.addHook('preHandler', (request, reply, done) => {
    if (!UNSAFE.has(request.method) || request.routeOptions.config?.csrf === false || request.authVia === 'token') return done();
    app.csrfProtection(request, reply, done);
  });

  app.setNotFoundHandler((request, reply) => {
    if (wantsJson(request)) return reply.code(404).type('application/problem+json').send(problem(404, `No route ${request.method} ${request.url.split('?')[0]}`));
    return errorPage(request, reply, 404);
  });

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown; code?: string; messageKey?: string }, request, reply) => {
    let status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (err.code === 'FST_REQ_FILE_TOO_LARGE' || err.code === 'FST_PARTS_LIMIT' || err.code === 'FST_FILES_LIMIT') status = 413;
    if (status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ err: { message: err.message, code: err.code } }, 'request rejected');
    if (status === 429 && err instanceof HttpError === false && !('messageKey' in err)) {
      // fall through: rate-limit builds HttpError already
    }
    const detail = status >= 500 ? 'An unexpected error occurred; it has been logged.' : err.message;
    if (wantsJson(request)) {
      const extra: Record<string, unknown> = {};
      if (err.validation) extra.errors = (err.validation as Array<{ instancePath?: string; message?: string }>).map((v) => ({ pointer: v.instancePath || undefined, detail: v.message ?? 'invalid' }));
      if (err instanceof HttpError && err.extra) Object.assign(extra, err.extra);
      if (reply.getHeader('retry-after') === undefined && status === 429) reply.header('retry-after', '60');
      return reply.code(status).type('application/problem+json').send(problem(status, detail, extra));
    }
    let message: string | undefined;
    if (err.code === 'FST_CSRF_INVALID_TOKEN' || err.code === 'FST_CSRF_MISSING_SECRET') message = request.t('error.csrf');
    else if (err instanceof HttpError && err.messageKey && services.i18n.has(request.locale, err.messageKey)) message = request.t(err.messageKey);
    else if (status < 500) message = err.message;
    return errorPage(request, reply, status, message);
  });
});

function wantsJson(request: FastifyRequest) {
  if (request.url.startsWith('/api/')) return true;
  const accept = request.headers.accept ?? '';
  return accept.includes('application/json') && !accept.includes('text/html');
}

function errorPage(request: FastifyRequest, reply: FastifyReply, status: number, message?: string) {
  const t = request.t ?? ((k: string) => k);
  const known = [400, 403, 404, 413, 429, 500].includes(status) ? status : status >= 500 ? 500 : 400;
  const title = t(`error.${known}.title`);
  const bodyKey = `error.${known}.body`;
  const body = message ?? (request.server.services.i18n.has(request.locale, bodyKey) ? t(bodyKey) : '');
  try {
    return reply.page(
      title,
      <div class="grid-container">
        <h1>{title}</h1>
        {body && <p class="usa-intro">{body}</p>}
        <p>
          <a class="usa-button" href="/">
            {t('error.back')}
          </a>
        </p>
      </div>,
      { status },
    );
  } catch {
    // The layout itself failed: still never show a stack trace.
    return reply.code(status).type('text/plain; charset=utf-8').send(title);
  }
}

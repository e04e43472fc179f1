import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import client from 'prom-client';
import crypto from 'node:crypto';
import type { Services } from './core/services';
import { platformHttp } from './core/http';
import { Assets } from './core/ui/assets';
import { homeRoutes } from './core/home';
import { searchRoutes } from './core/search';
import { geoApi } from './core/geo/api';
import { coreIslands, corePages, coreApis } from './core/routes';

export interface AppOptions {
  logger?: boolean | object;
}

/** Builds the Fastify app from the services: core first, then every ready module's manifest. */
export async function buildApp(services: Services, opts: AppOptions = {}): Promise<FastifyInstance> {
  const { config, registry } = services;
  const app = Fastify({
    logger: opts.logger ?? (config.testing ? false : { level: config.logLevel }),
    trustProxy: config.trustProxy,
    genReqId: () => crypto.randomUUID(),
    bodyLimit: 2 * 1024 * 1024,
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, useDefaults: true, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const islands: Record<string, string> = { ...coreIslands };
  for (const m of registry.ready) Object.assign(islands, m.islands ?? {});
  const assets = await Assets.build(config, islands);
  await app.register(platformHttp, { services, assets });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: `Cabildo API · ${config.cityName}`,
        version: '1',
        description: 'JSON API of the city\'s open-government platform. Errors are RFC 9457 problem details. Machine clients authenticate with an API token in the Authorization header (Bearer).',
      },
      servers: [{ url: config.baseUrl }],
      components: { securitySchemes: { token: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs', staticCSP: true });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const registerMetrics = new client.Registry();
  client.collectDefaultMetrics({ register: registerMetrics });
  const httpDuration = new client.Histogram({
    name: 'cabildo_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registerMetrics],
  });
  app.addHook('onResponse', async (request, reply) => {
    httpDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) =>
    reply.type(registerMetrics.contentType).send(await registerMetrics.metrics()),
  );

  app.get('/healthz', { schema: { hide: true } }, async (_req, reply) => {
    try {
      await services.db.selectNoFrom((eb) => eb.lit(1).as('one')).execute();
      return { status: 'ok', db: services.database.engine };
    } catch {
      return reply.code(503).send({ status: 'error', db: services.database.engine });
    }
  });

  await app.register(homeRoutes);
  await app.register(searchRoutes);
  for (const pages of corePages) await app.register(pages);
  await app.register(
    async (api) => {
      await api.register(geoApi);
      for (const a of coreApis) await api.register(a);
    },
    { prefix: '/api/v1' },
  );

  for (const m of registry.ready) {
    if (m.routes) await app.register(m.routes);
    if (m.api) await app.register(m.api, { prefix: '/api/v1' });
  }
  return app;
}

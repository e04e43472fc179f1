import type { FastifyPluginAsync } from 'fastify';

/** Core's page plugins (auth, account, admin, geo…), registered by app.ts in this order. */
export const corePages: FastifyPluginAsync[] = [];

/** Core's JSON API plugins, registered under /api/v1. */
export const coreApis: FastifyPluginAsync[] = [];

/** Core's client islands: logical name → entry file. */
export const coreIslands: Record<string, string> = {};

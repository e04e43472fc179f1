import type { FastifyPluginAsync } from 'fastify';
import { fileURLToPath } from 'node:url';
import { geoPages } from './geo/routes';
import { authPages } from './auth/pages';
import { adminPages } from './admin';
import { officesPages } from './offices/routes';
import { officesApi } from './offices/api';
import { opsPages, opsApi } from './ops';

/** Core's page plugins (auth, account, admin, geo…), registered by app.ts in this order. */
export const corePages: FastifyPluginAsync[] = [geoPages, authPages, adminPages, officesPages, opsPages];

/** Core's JSON API plugins, registered under /api/v1. */
export const coreApis: FastifyPluginAsync[] = [officesApi, opsApi];

/** Core's client islands: logical name → entry file. */
export const coreIslands: Record<string, string> = { map: fileURLToPath(new URL('./ui/islands/map.ts', import.meta.url)) };

import type { FastifyInstance } from 'fastify';
import { ckanApi } from './ckan-api';
import { dcatRoutes } from './dcat';
import { pages } from './pages';
import { publishPages } from './publish-pages';
import { themesPages } from './themes-pages';

/** Everything the module serves at the site root: CKAN's API, DCAT documents and the pages. */
export async function openDataRoutes(app: FastifyInstance) {
  // Each in its own encapsulated plugin: CKAN's error envelope stays inside the CKAN paths.
  await app.register(ckanApi);
  await app.register(dcatRoutes);
  await app.register(pages);
  await app.register(publishPages);
  await app.register(themesPages);
}

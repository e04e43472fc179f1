import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { notFound, requireUser } from '../http/guards';
import { listOffices, listOrganizations, officeBySlug, organizationBySlug, OFFICE_KINDS, type OfficeSummary, type OrganizationSummary } from './store';

const Office = Type.Object({
  slug: Type.String(),
  name: Type.String(),
  kind: Type.Union(OFFICE_KINDS.map((k) => Type.Literal(k))),
  description: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  url: Type.Union([Type.String(), Type.Null()]),
  parent: Type.Union([Type.String({ description: 'slug of the parent office' }), Type.Null()]),
  commune: Type.Union([Type.Object({ id: Type.Integer(), name: Type.String() }), Type.Null()]),
  members: Type.Integer({ description: 'number of members (their identities are not public)' }),
});

const Organization = Type.Object({
  slug: Type.String(),
  name: Type.String(),
  description: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  url: Type.Union([Type.String(), Type.Null()]),
  representatives: Type.Integer(),
});

const Me = Type.Object({
  id: Type.Integer(),
  email: Type.String(),
  name: Type.String(),
  roles: Type.Array(Type.String()),
  verified: Type.Boolean(),
  communeId: Type.Union([Type.Integer(), Type.Null()]),
  officeIds: Type.Array(Type.Integer()),
});

const SlugParams = Type.Object({ slug: Type.String({ maxLength: 200 }) });

const officeJson = (o: OfficeSummary) => ({
  slug: o.slug,
  name: o.name,
  kind: o.kind,
  description: o.description,
  email: o.email,
  url: o.url,
  parent: o.parent_slug,
  commune: o.commune_id != null && o.commune_name != null ? { id: o.commune_id, name: o.commune_name } : null,
  members: o.members,
});

const organizationJson = (o: OrganizationSummary) => ({
  slug: o.slug,
  name: o.name,
  description: o.description,
  email: o.email,
  url: o.url,
  representatives: o.members,
});

/** Public directory data and the caller's own account, under /api/v1. */
export async function officesApi(app: FastifyInstance) {
  const db = app.services.db;

  app.get(
    '/me',
    {
      preHandler: requireUser,
      schema: { tags: ['accounts'], summary: 'The account behind the API token (or session)', security: [{ token: [] }], response: { 200: Me } },
    },
    async (request) => {
      const u = request.user!;
      return { id: u.id, email: u.email, name: u.name, roles: u.roles, verified: u.verified, communeId: u.communeId, officeIds: u.officeIds };
    },
  );

  app.get('/offices', { schema: { tags: ['offices'], summary: 'Government offices', response: { 200: Type.Object({ offices: Type.Array(Office) }) } } }, async () => ({
    offices: (await listOffices(db)).map(officeJson),
  }));

  app.get<{ Params: { slug: string } }>(
    '/offices/:slug',
    { schema: { tags: ['offices'], summary: 'One government office', params: SlugParams, response: { 200: Office } } },
    async (request) => {
      const o = await officeBySlug(db, request.params.slug);
      if (!o) throw notFound(`No office "${request.params.slug}"`);
      return officeJson(o);
    },
  );

  app.get(
    '/organizations',
    { schema: { tags: ['offices'], summary: 'Civil-society organisations', response: { 200: Type.Object({ organizations: Type.Array(Organization) }) } } },
    async () => ({ organizations: (await listOrganizations(db)).map(organizationJson) }),
  );

  app.get<{ Params: { slug: string } }>(
    '/organizations/:slug',
    { schema: { tags: ['offices'], summary: 'One civil-society organisation', params: SlugParams, response: { 200: Organization } } },
    async (request) => {
      const o = await organizationBySlug(db, request.params.slug);
      if (!o) throw notFound(`No organization "${request.params.slug}"`);
      return organizationJson(o);
    },
  );
}

import { sql } from 'kysely';
import type { Db } from '../db';
import type { OfficeKind } from '../db/schema';

export const OFFICE_KINDS: OfficeKind[] = ['ministry', 'secretariat', 'agency', 'commune', 'judiciary', 'legislature', 'other'];

export function isOfficeKind(v: string): v is OfficeKind {
  return (OFFICE_KINDS as string[]).includes(v);
}

export interface OfficeSummary {
  id: number;
  slug: string;
  name: string;
  kind: OfficeKind;
  description: string;
  email: string | null;
  url: string | null;
  commune_id: number | null;
  commune_name: string | null;
  parent_id: number | null;
  parent_slug: string | null;
  parent_name: string | null;
  members: number;
}

function officeQuery(db: Db) {
  return db
    .selectFrom('offices as o')
    .leftJoin('offices as p', 'p.id', 'o.parent_id')
    .leftJoin('communes as c', 'c.id', 'o.commune_id')
    .select([
      'o.id',
      'o.slug',
      'o.name',
      'o.kind',
      'o.description',
      'o.email',
      'o.url',
      'o.commune_id',
      'c.name as commune_name',
      'o.parent_id',
      'p.slug as parent_slug',
      'p.name as parent_name',
      sql<number>`(select count(*) from office_members m where m.office_id = o.id)::int`.as('members'),
    ]);
}

export async function listOffices(db: Db, opts: { kind?: OfficeKind } = {}): Promise<OfficeSummary[]> {
  let q = officeQuery(db);
  if (opts.kind) q = q.where('o.kind', '=', opts.kind);
  return q.orderBy('o.name').orderBy('o.id').execute();
}

export async function officeBySlug(db: Db, slug: string): Promise<OfficeSummary | undefined> {
  return officeQuery(db).where('o.slug', '=', slug).executeTakeFirst();
}

export async function officeById(db: Db, id: number): Promise<OfficeSummary | undefined> {
  return officeQuery(db).where('o.id', '=', id).executeTakeFirst();
}

export async function childOffices(db: Db, id: number) {
  return db.selectFrom('offices').select(['slug', 'name', 'kind']).where('parent_id', '=', id).orderBy('name').execute();
}

export interface OrganizationSummary {
  id: number;
  slug: string;
  name: string;
  description: string;
  email: string | null;
  url: string | null;
  members: number;
}

function organizationQuery(db: Db) {
  return db
    .selectFrom('organizations as o')
    .select([
      'o.id',
      'o.slug',
      'o.name',
      'o.description',
      'o.email',
      'o.url',
      sql<number>`(select count(*) from organization_members m where m.organization_id = o.id)::int`.as('members'),
    ]);
}

export async function listOrganizations(db: Db): Promise<OrganizationSummary[]> {
  return organizationQuery(db).orderBy('o.name').orderBy('o.id').execute();
}

export async function organizationBySlug(db: Db, slug: string): Promise<OrganizationSummary | undefined> {
  return organizationQuery(db).where('o.slug', '=', slug).executeTakeFirst();
}

export async function organizationById(db: Db, id: number): Promise<OrganizationSummary | undefined> {
  return organizationQuery(db).where('o.id', '=', id).executeTakeFirst();
}

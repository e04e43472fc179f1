import { sql, type Kysely } from 'kysely';
import { representativePoint } from '../domain/geometry';

/**
 * - works_documents: the documents an office attaches to a work (a PDF uploaded through core's
 *   FileStore, or the address of one published elsewhere), typed with OC4IDS documentType codes.
 * - works_projects.office_edits: the fields the office corrected by hand, each with the value the
 *   source had when it did. A re-import keeps the office's value while the source still says what
 *   it said then, and takes the source's once the source changes it (newer data wins, as for progress).
 * - Works imported with only a line or an area had no lat/lng, so no commune, no place in the lists
 *   and no feature in the GeoJSON: they get the vertex that stands for the shape, as imports now give.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('works_documents')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('project_id', 'integer', (c) => c.notNull().references('works_projects.id').onDelete('cascade'))
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('document_type', 'text', (c) => c.notNull())
    .addColumn('file_id', 'text', (c) => c.references('files.id'))
    .addColumn('url', 'text')
    .addColumn('created_by', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('works_documents_file_or_url', sql`(file_id is null) <> (url is null)`)
    .execute();
  await db.schema.createIndex('works_documents_project_idx').on('works_documents').column('project_id').execute();
  await db.schema.createIndex('works_documents_file_idx').on('works_documents').column('file_id').execute();
  await sql`alter table works_projects add column office_edits jsonb not null default '{}'::jsonb`.execute(db);
  const { rows } = await sql<{ id: number; geometry: GeoJSON.Geometry }>`select id, geometry from works_projects
    where lat is null and geometry->>'type' in ('LineString','MultiLineString','Polygon','MultiPolygon')`.execute(db);
  for (const r of rows) {
    const pt = representativePoint(typeof r.geometry === 'string' ? JSON.parse(r.geometry) : r.geometry);
    if (pt) await sql`update works_projects set lat = ${pt[1]}, lng = ${pt[0]} where id = ${r.id}`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('works_documents').ifExists().execute();
  await sql`alter table works_projects drop column if exists office_edits`.execute(db);
}

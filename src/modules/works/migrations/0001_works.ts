import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('works_programmes')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('slug', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    // An archived programme (e.g. the 2018 Youth Olympic Games) keeps a read-only landing page.
    .addColumn('archived', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('parent_id', 'integer', (c) => c.references('works_programmes.id').onDelete('set null'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('works_projects')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('external_id', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('raw_type', 'text')
    .addColumn('programme_id', 'integer', (c) => c.references('works_programmes.id').onDelete('set null'))
    .addColumn('office_id', 'integer', (c) => c.references('offices.id').onDelete('set null'))
    .addColumn('office_name', 'text')
    .addColumn('stage', 'text', (c) =>
      c.notNull().check(sql`stage in ('planned','tendering','in_progress','paused','finished','cancelled')`),
    )
    .addColumn('progress', 'numeric', (c) => c.check(sql`progress between 0 and 100`))
    .addColumn('start_date', 'text')
    .addColumn('planned_end', 'text')
    .addColumn('current_planned_end', 'text')
    .addColumn('actual_end', 'text')
    .addColumn('duration_months', 'numeric')
    .addColumn('communes', sql`integer[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('commune_id', 'integer')
    .addColumn('neighbourhood', 'text')
    .addColumn('address', 'text')
    .addColumn('lat', 'double precision')
    .addColumn('lng', 'double precision')
    .addColumn('geometry', 'jsonb')
    .addColumn('sites', 'integer')
    .addColumn('workers', 'integer')
    .addColumn('beneficiaries', 'text')
    .addColumn('funding', 'text')
    .addColumn('participatory', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('commitment', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('featured', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('procurement_method', 'text')
    .addColumn('procedure_type', 'text')
    .addColumn('procedure_number', 'text')
    .addColumn('tender_year', 'integer')
    .addColumn('contractors', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'`))
    // The first contractor, denormalised for filtering and the concentration flag.
    .addColumn('contractor_name', 'text')
    .addColumn('contractor_cuit', 'text')
    .addColumn('contract_amount', 'numeric')
    .addColumn('currency', 'text', (c) => c.notNull().defaultTo('ARS'))
    .addColumn('bidders', 'integer')
    .addColumn('file_number', 'text')
    .addColumn('tender_docs_url', 'text')
    .addColumn('environmental_study_url', 'text')
    .addColumn('link', 'text')
    .addColumn('extra_amount', 'numeric', (c) => c.notNull().defaultTo(0))
    .addColumn('extra_months', 'numeric', (c) => c.notNull().defaultTo(0))
    // sha256 of the imported record: a re-import of the same data changes nothing.
    .addColumn('source_hash', 'text')
    .addColumn('last_progress_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  for (const c of ['stage', 'type', 'commune_id', 'office_id', 'programme_id', 'tender_year', 'contractor_cuit']) {
    await sql`create index ${sql.raw(`works_projects_${c}_idx`)} on works_projects (${sql.ref(c)})`.execute(db);
  }
  await sql`create index works_projects_communes_idx on works_projects using gin (communes)`.execute(db);
  await sql`create index works_projects_fts_idx on works_projects using gin (es_tsvector(name || ' ' || description || ' ' || coalesce(address, '') || ' ' || coalesce(contractor_name, '')))`.execute(db);

  await db.schema
    .createTable('works_amendments')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('project_id', 'integer', (c) => c.notNull().references('works_projects.id').onDelete('cascade'))
    .addColumn('date', 'text')
    .addColumn('extra_amount', 'numeric', (c) => c.notNull().defaultTo(0))
    .addColumn('extra_months', 'numeric', (c) => c.notNull().defaultTo(0))
    .addColumn('reason', 'text', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.schema.createIndex('works_amendments_project_idx').on('works_amendments').column('project_id').execute();

  await db.schema
    .createTable('works_progress')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('project_id', 'integer', (c) => c.notNull().references('works_projects.id').onDelete('cascade'))
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('progress', 'numeric', (c) => c.notNull().check(sql`progress between 0 and 100`))
    .addColumn('stage', 'text', (c) => c.notNull())
    .addColumn('note', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_by', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .execute();
  await db.schema.createIndex('works_progress_project_idx').on('works_progress').columns(['project_id', 'at']).execute();

  await db.schema
    .createTable('works_photos')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('project_id', 'integer', (c) => c.notNull().references('works_projects.id').onDelete('cascade'))
    .addColumn('progress_id', 'integer', (c) => c.references('works_progress.id').onDelete('cascade'))
    // Either an uploaded file (core's FileStore) or the source's own URL.
    .addColumn('file_id', 'text', (c) => c.references('files.id'))
    .addColumn('url', 'text')
    .addColumn('caption', 'text')
    .addColumn('taken_on', 'text')
    .addColumn('source', 'text', (c) => c.notNull().defaultTo('import'))
    .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('works_photos_project_idx').on('works_photos').column('project_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['works_photos', 'works_progress', 'works_amendments', 'works_projects', 'works_programmes']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}

import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('rq_services')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('code', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('name_en', 'text')
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('description_en', 'text')
    .addColumn('group_name', 'text')
    .addColumn('keywords', 'text')
    .addColumn('office_id', 'integer', (c) => c.references('offices.id').onDelete('set null'))
    .addColumn('target_days', 'integer', (c) => c.notNull().defaultTo(7).check(sql`target_days between 1 and 365`))
    .addColumn('active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('rq_attributes')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('service_id', 'integer', (c) => c.notNull().references('rq_services.id').onDelete('cascade'))
    .addColumn('code', 'text', (c) => c.notNull())
    .addColumn('datatype', 'text', (c) => c.notNull().check(sql`datatype in ('string','number','datetime','text','singlevaluelist','multivaluelist')`))
    .addColumn('required', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('description_en', 'text')
    .addColumn('values', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
    .addUniqueConstraint('rq_attributes_code_key', ['service_id', 'code'])
    .execute();

  await db.schema
    .createTable('rq_requests')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('token', 'text', (c) => c.notNull().unique())
    .addColumn('service_id', 'integer', (c) => c.notNull().references('rq_services.id'))
    .addColumn('office_id', 'integer', (c) => c.references('offices.id').onDelete('set null'))
    .addColumn('status', 'text', (c) =>
      c.notNull().defaultTo('submitted').check(sql`status in ('submitted','acknowledged','in_progress','solved','not_solvable','merged')`),
    )
    .addColumn('status_notes', 'text')
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('address', 'text')
    .addColumn('lat', 'double precision')
    .addColumn('lng', 'double precision')
    .addColumn('commune_id', 'integer')
    .addColumn('neighbourhood_id', 'integer')
    .addColumn('author_id', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('author_email', 'text')
    .addColumn('author_name', 'text')
    .addColumn('anonymous', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('answers', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('media_url', 'text')
    .addColumn('upvotes', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('merged_into_id', 'integer', (c) => c.references('rq_requests.id'))
    .addColumn('source', 'text', (c) => c.notNull().defaultTo('web'))
    .addColumn('requested_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('closed_at', 'timestamptz')
    .addColumn('expected_at', 'timestamptz')
    .execute();
  // No PostGIS: core's geometric point type with a GiST index answers both the map's viewport
  // (box containment) and the nearby-duplicates lookup on both engines.
  // The included columns let a street-level viewport be answered from the index alone.
  await sql`create index rq_requests_point_idx on rq_requests using gist (point(lng, lat)) include (lat, lng, id, status, service_id, upvotes, requested_at)`.execute(db);
  await sql`create index rq_requests_service_idx on rq_requests (service_id, status)`.execute(db);
  await sql`create index rq_requests_office_idx on rq_requests (office_id, status, requested_at)`.execute(db);
  await sql`create index rq_requests_author_idx on rq_requests (author_id)`.execute(db);
  await sql`create index rq_requests_requested_idx on rq_requests (requested_at)`.execute(db);
  await sql`create index rq_requests_updated_idx on rq_requests (updated_at)`.execute(db);
  // Spelled out rather than es_tsvector(): index builds run with a locked-down search_path on
  // Postgres 17+ (PGlite), where es_tsvector's unqualified call to immutable_unaccent is not found.
  await sql`create index rq_requests_fts_idx on rq_requests using gin (to_tsvector('spanish'::regconfig, public.immutable_unaccent(description)))`.execute(db);

  await db.schema
    .createTable('rq_photos')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('request_id', 'integer', (c) => c.notNull().references('rq_requests.id').onDelete('cascade'))
    .addColumn('file_id', 'text', (c) => c.notNull().references('files.id'))
    .addColumn('position', 'integer', (c) => c.notNull())
    .execute();
  await sql`create index rq_photos_request_idx on rq_photos (request_id)`.execute(db);

  await db.schema
    .createTable('rq_updates')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('request_id', 'integer', (c) => c.notNull().references('rq_requests.id').onDelete('cascade'))
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('created','status','answer','note','merge','reassign')`))
    .addColumn('status', 'text')
    .addColumn('public', 'boolean', (c) => c.notNull())
    .addColumn('text', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('author_id', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .execute();
  await sql`create index rq_updates_request_idx on rq_updates (request_id, at)`.execute(db);
  await sql`create index rq_updates_at_idx on rq_updates (at) where public`.execute(db);

  await db.schema
    .createTable('rq_upvotes')
    .addColumn('request_id', 'integer', (c) => c.notNull().references('rq_requests.id').onDelete('cascade'))
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('rq_upvotes_pk', ['request_id', 'user_id'])
    .execute();

  await db.schema
    .createTable('rq_followers')
    .addColumn('request_id', 'integer', (c) => c.notNull().references('rq_requests.id').onDelete('cascade'))
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('rq_followers_pk', ['request_id', 'user_id'])
    .execute();

  await db.schema
    .createTable('rq_ratings')
    .addColumn('request_id', 'integer', (c) => c.primaryKey().references('rq_requests.id').onDelete('cascade'))
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('score', 'integer', (c) => c.notNull().check(sql`score between 1 and 5`))
    .addColumn('comment', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['rq_ratings', 'rq_followers', 'rq_upvotes', 'rq_updates', 'rq_photos', 'rq_requests', 'rq_attributes', 'rq_services']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}

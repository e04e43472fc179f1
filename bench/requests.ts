// npm run bench:requests — the requests module's speed on PostgreSQL with many requests:
// filing through the Open311 API (requests/s), the map's viewport GeoJSON (p50) and the
// nearby-duplicates lookup (p50). BENCH_REQUESTS (default 1,000,000) rows are bulk-loaded first.
// Needs PostgreSQL at BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres); it
// creates a database and drops it at the end (BENCH_KEEP=1 keeps it for a re-run).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { sql } from 'kysely';
import autocannon from 'autocannon';
import { loadConfig } from '../src/config';
import { createServices } from '../src/core/services';
import { openDatabase } from '../src/core/db';
import { buildApp } from '../src/app';
import { seedCore, demoDir } from '../src/core/seed';
import { createApiToken } from '../src/core/auth/session';
import { manifest } from '../src/modules/requests/manifest';
import { loadCategories } from '../src/modules/requests/seed';
import { findNearby, rqDb } from '../src/modules/requests/store';

const N = Number(process.env.BENCH_REQUESTS ?? 1_000_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 20);
const ADMIN = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB = 'cabildo_bench_requests';

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)];

async function main() {
  const admin = new pg.Client({ connectionString: ADMIN });
  await admin.connect();
  const exists = (await admin.query('select 1 from pg_database where datname = $1', [DB])).rowCount;
  if (!exists) await admin.query(`create database ${DB}`);
  await admin.end();
  const url = new URL(ADMIN);
  url.pathname = `/${DB}`;
  // Filing is rate-limited per client in production; the benchmark measures throughput, not the limit.
  process.env.REQUESTS_API_POSTS_PER_MINUTE = '100000000';
  process.env.REQUESTS_API_POSTS_PER_KEY_PER_MINUTE = '100000000';
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cabildo-bench-rq-'));
  const config = loadConfig({ SEED: 'none', LOG_LEVEL: 'warn' }, { dataDir, databaseUrl: url.toString(), logLevel: 'warn' });
  const database = await openDatabase({ databaseUrl: url.toString(), poolSize: 10 });
  const services = await createServices(config, { modules: [manifest], database });
  await seedCore(services, () => {});
  await loadCategories(services, demoDir);
  const db = rqDb(services);
  const bounds = (await services.geo.bounds())!;
  const cats = await db.selectFrom('rq_services').select(['id', 'code', 'office_id', 'target_days']).execute();

  const have = Number((await db.selectFrom('rq_requests').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  if (have < N) {
    const t0 = performance.now();
    const [minLng, minLat, maxLng, maxLat] = bounds;
    const ids = `array[${cats.map((c) => c.id).join(',')}]`;
    // Bulk load in SQL: points uniform over the city's box, a year of dates, a realistic status mix.
    for (let done = have; done < N; done += 100_000) {
      const n = Math.min(100_000, N - done);
      await sql`
        insert into rq_requests (token, service_id, office_id, status, description, lat, lng, commune_id, requested_at, updated_at, expected_at, closed_at, source, upvotes)
        select md5(random()::text || g::text || clock_timestamp()::text), s.id, s.office_id,
               (array['submitted','acknowledged','in_progress','solved','solved','not_solvable'])[1 + floor(random() * 6)::int],
               'Reclamo de prueba ' || g,
               ${minLat}::float8 + random() * ${maxLat - minLat}::float8,
               ${minLng}::float8 + random() * ${maxLng - minLng}::float8,
               1 + floor(random() * 15)::int,
               t, t, t + interval '7 days', null, 'import', floor(random() * 5)::int
        from generate_series(1, ${n}) g
        cross join lateral (select now() - random() * interval '365 days' as t) d
        join rq_services s on s.id = (${sql.raw(ids)})[1 + (g % ${cats.length})]
      `.execute(db);
      process.stdout.write(`  loaded ${done + n}\r`);
    }
    // What autovacuum does after a bulk load (PostgreSQL 13+ vacuums on inserts too): statistics,
    // and the visibility map that lets viewports be answered from the GiST index alone. Measuring
    // before it runs would time the load, not the steady state a city's server is in.
    await sql`vacuum (analyze) rq_requests`.execute(db);
    console.log(`Bulk-loaded ${N - have} requests in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const total = Number((await db.selectFrom('rq_requests').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

  const client = await services.db.insertInto('users').values({ email: `bench-${crypto.randomBytes(4).toString('hex')}@bench.test`, name: 'bench' }).returning('id').executeTakeFirstOrThrow();
  const { token } = await createApiToken(services.db, client.id, 'bench');
  const app = await buildApp(services, { logger: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address() as { port: number };
  const base = `http://127.0.0.1:${addr.port}`;
  const rand = (a: number, b: number) => a + Math.random() * (b - a);
  // A point well inside the city (around the centre), so every filing is valid.
  const centre = { lat: -34.6037, lng: -58.4216 };

  // 0. A baseline on the same machine at the same moment: /healthz is one `select 1`.
  const health = await autocannon({ url: `${base}/healthz`, duration: Math.min(5, SECONDS), connections: CONNECTIONS });

  // 1. Filing through Open311, form-encoded as clients send it.
  const light = cats.find((c) => c.code === 'bache') ?? cats[0];
  const body = (i: number) =>
    new URLSearchParams({
      api_key: token,
      service_code: light.code,
      lat: String(centre.lat + (i % 100) * 0.0003),
      long: String(centre.lng + (i % 97) * 0.0003),
      description: 'Bache profundo frente al número indicado',
      'attribute[tamano]': 'grande',
    }).toString();
  let i = 0;
  const post = await autocannon({
    url: `${base}/open311/v2/requests.json`,
    duration: SECONDS,
    connections: CONNECTIONS,
    requests: [{ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, setupRequest: (r) => ({ ...r, body: body(i++) }) }],
  });

  // 2. The map's viewport GeoJSON: whole-city and street-level viewports.
  const viewportTimes: Record<string, number[]> = { city: [], district: [], street: [] };
  const sizes = { city: 0, district: 0.02, street: 0.004 };
  for (let k = 0; k < 300; k++) {
    const kind = (['city', 'district', 'street'] as const)[k % 3];
    let bbox: number[];
    if (kind === 'city') bbox = bounds;
    else {
      const lng = rand(bounds[0], bounds[2] - sizes[kind]);
      const lat = rand(bounds[1], bounds[3] - sizes[kind]);
      bbox = [lng, lat, lng + sizes[kind], lat + sizes[kind]];
    }
    const t0 = performance.now();
    const res = await fetch(`${base}/api/v1/requests/map.geojson?bbox=${bbox.join(',')}&status=open`);
    await res.json();
    viewportTimes[kind].push(performance.now() - t0);
  }

  // 3. The nearby-duplicates lookup: in the store (the query) and over HTTP.
  const nearbyQuery: number[] = [];
  const nearbyHttp: number[] = [];
  for (let k = 0; k < 300; k++) {
    const lat = rand(bounds[1] + 0.02, bounds[3] - 0.02);
    const lng = rand(bounds[0] + 0.03, bounds[2] - 0.03);
    const s = cats[k % cats.length];
    let t0 = performance.now();
    await findNearby(db, { serviceId: s.id, lat, lng });
    nearbyQuery.push(performance.now() - t0);
    t0 = performance.now();
    await (await fetch(`${base}/api/v1/requests/nearby?service=${s.code}&lat=${lat}&lng=${lng}`)).json();
    nearbyHttp.push(performance.now() - t0);
  }

  const f = (x: number) => x.toFixed(1);
  console.log(`\nrequests module on PostgreSQL, ${total.toLocaleString('en')} requests in the table (${os.cpus().length} CPUs, shared)`);
  console.log(`load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}; baseline GET /healthz: ${f(health.requests.average)} req/s (p50 ${health.latency.p50} ms)`);
  console.log(`POST /open311/v2/requests.json: ${f(post.requests.average)} req/s (p50 ${post.latency.p50} ms, p99 ${post.latency.p99} ms, ${post.non2xx} non-2xx, ${post.errors} errors; ${CONNECTIONS} connections, ${SECONDS} s)`);
  for (const [k, xs] of Object.entries(viewportTimes)) console.log(`GET map.geojson viewport ${k}: p50 ${f(p50(xs))} ms, p95 ${f(p95(xs))} ms (${xs.length} runs)`);
  console.log(`nearby lookup (query): p50 ${f(p50(nearbyQuery))} ms, p95 ${f(p95(nearbyQuery))} ms`);
  console.log(`GET /api/v1/requests/nearby (HTTP): p50 ${f(p50(nearbyHttp))} ms, p95 ${f(p95(nearbyHttp))} ms`);

  await app.close();
  await services.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  if (process.env.BENCH_KEEP !== '1') {
    const a = new pg.Client({ connectionString: ADMIN });
    await a.connect();
    await a.query(`drop database if exists ${DB} with (force)`);
    await a.end();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

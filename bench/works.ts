// npm run bench:works — the public works module with 10,000 projects on PostgreSQL:
// requests/s and latency of /works and three filtered lists, each "uncached" (every request
// rendered: WORKS_PAGE_CACHE=off) and "served" (anonymous pages from the module's page cache,
// which still reads the works' version once per request), the size of the map's GeoJSON
// (gzipped) and the time to stream the OC4IDS export of every project.
// BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres) must allow CREATE DATABASE.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import pg from 'pg';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import { loadConfig } from '../src/config';
import { createServices } from '../src/core/services';
import { buildApp } from '../src/app';
import { manifest } from '../src/modules/works/manifest';
import { importFile } from '../src/modules/works/importer';
import { worksDb } from '../src/modules/works/store';
import { freePort } from '../e2e/support';

const ADMIN = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const TARGET = Number(process.env.BENCH_PROJECTS ?? 10000);
const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 20);

/** Child mode: serve the works module alone on the given database (the benchmark's server). */
async function serve(url: string, port: number) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cabildo-bench-works-'));
  const config = loadConfig({ ...process.env, DATABASE_URL: url, SEED: 'none', LOG_LEVEL: 'warn' }, { dataDir });
  const services = await createServices(config, { modules: [manifest] });
  const app = await buildApp(services, { logger: false });
  await app.listen({ port, host: '127.0.0.1' });
}

async function populate(url: string) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cabildo-bench-works-'));
  const config = loadConfig({ ...process.env, DATABASE_URL: url, SEED: 'none', LOG_LEVEL: 'warn' }, { dataDir });
  const services = await createServices(config, { modules: [manifest] });
  const r = await importFile(services, fs.readFileSync('data/demo/works/ba-obras-2024.csv'), 'ba-obras-2024.csv');
  console.log(`real snapshot: ${r.line}`);
  const db = worksDb(services);
  const base = Number((await db.selectFrom('works_projects').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const copies = Math.ceil((TARGET - base) / base);
  // Copies of the real projects, moved a little, stand in for ten years of works.
  await sql`
    insert into works_projects (external_id, name, description, type, raw_type, programme_id, office_id, office_name, stage, progress,
      start_date, planned_end, current_planned_end, actual_end, duration_months, communes, commune_id, neighbourhood, address, lat, lng,
      workers, procurement_method, procedure_type, procedure_number, tender_year, contractors, contractor_name, contractor_cuit,
      contract_amount, currency, bidders, extra_amount, source_hash, last_progress_at)
    select external_id || '-c' || g, name || ' (' || g || ')', description, type, raw_type, programme_id, office_id, office_name, stage, progress,
      start_date, planned_end, current_planned_end, actual_end, duration_months, communes, commune_id, neighbourhood, address,
      lat + (random() - 0.5) * 0.01, lng + (random() - 0.5) * 0.01, workers, procurement_method, procedure_type, procedure_number,
      tender_year, contractors, contractor_name, contractor_cuit, contract_amount, currency, case when random() < 0.05 then 1 else 3 end,
      case when random() < 0.05 then coalesce(contract_amount, 0) * 0.3 else 0 end, source_hash, now() - (random() * interval '400 days')
    from works_projects, generate_series(1, ${copies}) g
    where works_projects.external_id not like '%-c%'
    limit ${TARGET - base}`.execute(db);
  await sql`insert into works_photos (project_id, url, source, position) select p.id, ph.url, 'import', ph.position from works_projects p join works_projects o on o.external_id = split_part(p.external_id, '-c', 1) and p.external_id like '%-c%' join works_photos ph on ph.project_id = o.id`.execute(db);
  await sql`update works_state set version = version + 1`.execute(db);
  await sql`analyze`.execute(db);
  const n = Number((await db.selectFrom('works_projects').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  await services.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  return n;
}

async function measure(url: string) {
  // As a browser asks: compressed (the served pages keep their compressed bytes).
  const r = await autocannon({ url, duration: DURATION, connections: CONNECTIONS, pipelining: 1, headers: { 'accept-encoding': 'br, gzip' } });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx };
}

async function main() {
  if (process.argv[2] === '--serve') return serve(process.argv[3], Number(process.argv[4]));
  const name = `cabildo_bench_works_${crypto.randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const u = new URL(ADMIN);
  u.pathname = `/${name}`;
  const url = u.toString();
  const children: Array<ReturnType<typeof spawn>> = [];
  try {
    const n = await populate(url);
    if (process.env.BENCH_POPULATE_ONLY) return;
    const start = async (env: Record<string, string>) => {
      const port = await freePort();
      children.push(spawn(process.execPath, ['--import', 'tsx', 'bench/works.ts', '--serve', url, String(port)], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } }));
      const base = `http://127.0.0.1:${port}`;
      for (let i = 0; ; i++) {
        try {
          if ((await fetch(`${base}/healthz`)).ok) break;
        } catch {}
        if (i > 240) throw new Error('server did not start');
        await new Promise((r) => setTimeout(r, 500));
      }
      return base;
    };
    const targets = ['/works', '/works/projects?type=school&commune=4', '/works/projects?q=plaza&stage=finished', '/works/projects?stage=in_progress&flag=delay&page=2'];
    console.log(`works bench on PostgreSQL: ${n} projects, ${DURATION}s per target, ${CONNECTIONS} connections, ${os.cpus().length} cores`);
    const row = (label: string, r: Awaited<ReturnType<typeof measure>>) =>
      console.log(`${label.padEnd(62)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${String(r.p50).padStart(4)} ms  p99 ${String(r.p99).padStart(5)} ms  errors ${r.errors}`);
    // One server at a time: two would share the cores and halve each other's figures.
    // A freshly started server compiles its code on the first requests: two untimed seconds first.
    const warm = (base: string) => autocannon({ url: base + targets[0], duration: 2, connections: CONNECTIONS });
    let base = await start({ WORKS_PAGE_CACHE: 'off' });
    await warm(base);
    for (const t of targets) {
      await fetch(base + t); // warm up (memoised aggregates, plans)
      row(`uncached ${t}`, await measure(base + t));
    }
    children.pop()!.kill('SIGTERM');
    base = await start({});
    await warm(base);
    for (const t of targets) {
      await fetch(base + t); // the first request renders and stores the page
      row(`served   ${t}`, await measure(base + t));
    }
    for (const g of ['/works/map.geojson', '/works/projects.geojson']) {
      const geo = Buffer.from(await (await fetch(base + g)).arrayBuffer());
      console.log(`${g} (all projects): ${(geo.length / 1024).toFixed(0)} KB raw, ${(zlib.gzipSync(geo).length / 1024).toFixed(0)} KB gzipped`);
    }
    row('served   /works/map.svg', await measure(`${base}/works/map.svg`));
    const t0 = performance.now();
    const res = await fetch(`${base}/api/oc4ids/project-package.json`);
    let bytes = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.length;
    console.log(`OC4IDS export of all projects: ${(bytes / 1024 / 1024).toFixed(1)} MB streamed in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  } catch (err) {
    console.error(err);
    process.exitCode = 1;
  } finally {
    for (const c of children) c.kill('SIGTERM');
    if (process.env.BENCH_KEEP_DB) {
      console.log(`kept ${url}`);
    } else {
      const a = new pg.Client({ connectionString: ADMIN });
      await a.connect();
      await a.query(`drop database if exists ${name} with (force)`);
      await a.end();
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

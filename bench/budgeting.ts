// npm run bench:budgeting — the speed figures of issue 4:
//  1. the results rules on the largest Pabulib instance in ../shared/data (parse, greedy, MES, MES add1);
//  2. casting ballots through the HTTP form endpoint (signed-in residents, with CSRF) on PostgreSQL,
//     then checking that the database holds exactly as many ballots as were acknowledged (303).
// BENCH_SECONDS (default 60), BENCH_CONNECTIONS (default 200), BENCH_PG_URL (admin URL, default
// postgres://postgres@127.0.0.1:5432/postgres); BENCH_SKIP_HTTP=1 runs only the rules,
// BENCH_SKIP_RULES=1 only the ballots; BENCH_RATE (default 2000; 0 skips) the offered rate of the
// second run, BENCH_SKIP_CEILING=1 skips the first.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { openLoop } from './open-loop';
import pg from 'pg';
import { freePort } from '../e2e/support';
import { parsePb } from '../src/modules/budgeting/domain/pabulib';
import { fromPb } from '../src/modules/budgeting/domain/instance';
import { greedy, mes } from '../src/modules/budgeting/domain/rules';

const DURATION = Number(process.env.BENCH_SECONDS ?? 60);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 200);
const RATE = Number(process.env.BENCH_RATE ?? 2000);
const ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

function timed<T>(fn: () => T): [T, number] {
  const t0 = process.hrtime.bigint();
  const r = fn();
  return [r, Number(process.hrtime.bigint() - t0) / 1e6];
}

/** CPU seconds (user + system) used so far by the processes whose command name matches, from /proc. */
function cpuSeconds(match: (comm: string, pid: number) => boolean): number {
  let ticks = 0;
  try {
    for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        if (!match(comm, Number(pid))) continue;
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        ticks += Number(f[11]) + Number(f[12]);
      } catch {}
    }
  } catch {}
  return ticks / 100;
}

function rules() {
  const dir = path.resolve('../shared/data/pabulib/instances');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.pb'));
  // Largest by number of voters (Łódź 2022: 90,494 ballots).
  let largest = { file: '', voters: 0 };
  for (const f of files) {
    const m = /\nnum_votes;(\d+)/.exec(fs.readFileSync(path.join(dir, f), 'utf8').slice(0, 5000));
    if (m && Number(m[1]) > largest.voters) largest = { file: f, voters: Number(m[1]) };
  }
  const text = fs.readFileSync(path.join(dir, largest.file), 'utf8');
  const [pb, parseMs] = timed(() => parsePb(text));
  const e = fromPb(pb);
  console.log(`Rules on ${largest.file}: ${pb.votes.length} voters, ${pb.projects.length} projects`);
  console.log(`  parse .pb                         ${parseMs.toFixed(0).padStart(6)} ms`);
  const runs: Array<[string, () => { selected: string[]; cost: number }]> = [
    ['greedy', () => greedy(e)],
    ['MES (no completion)', () => mes(e, { satisfaction: 'cost' })],
    ['MES + utilitarian completion', () => mes(e, { satisfaction: 'cost', greedyCompletion: true })],
    ['MES add1 (last feasible)', () => mes(e, { satisfaction: 'cost', add1: true })],
    ['MES add1 (first exhaustive)', () => mes(e, { satisfaction: 'cost', add1: true, add1Variant: 'first-exhaustive' })],
  ];
  for (const [name, fn] of runs) {
    fn(); // warm-up
    const times: number[] = [];
    let out = { selected: [] as string[], cost: 0 };
    for (let i = 0; i < 3; i++) {
      const [r, ms] = timed(fn);
      out = r;
      times.push(ms);
    }
    times.sort((a, b) => a - b);
    console.log(`  ${name.padEnd(32)} ${times[1].toFixed(0).padStart(6)} ms (median of 3)  ${out.selected.length} funded, cost ${out.cost}`);
  }
}

async function http() {
  const dbName = `cabildo_bench_${crypto.randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${dbName}`;
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cabildo-bench-'));
  // BENCH_PROFILE=<dir>: the server writes a V8 CPU profile there when it stops (see the README).
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(process.env.BENCH_PROFILE)] : [];
  const child = spawn(process.execPath, [...profile, 'bin/cabildo.mjs', 'serve'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn', SEED: 'none', DATABASE_URL: url.toString() },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`${base}/healthz`)).ok) break;
      } catch {}
      if (i > 600) throw new Error('server did not start');
      await new Promise((r) => setTimeout(r, 500));
    }
    const square = { type: 'Polygon', coordinates: [[[-58.4, -34.6], [-58.39, -34.6], [-58.39, -34.59], [-58.4, -34.59], [-58.4, -34.6]]] };
    await pool.query(`insert into communes (id, name, population, area_m2, geometry) values (1, 'Comuna 1', 1, 1, $1)`, [JSON.stringify(square)]);
    const budget = (await pool.query(`insert into bg_budgets (name, phase, voting_rule) values ('Bench', 'balloting', 'knapsack') returning id`)).rows[0].id as number;
    const group = (await pool.query(`insert into bg_groups (budget_id, name) values ($1, 'Por comuna') returning id`, [budget])).rows[0].id as number;
    const heading = (await pool.query(`insert into bg_headings (budget_id, group_id, name, amount, commune_id) values ($1, $2, 'Comuna 1', 1000000, 1) returning id`, [budget, group])).rows[0].id as number;
    const proposals = (
      await pool.query(
        `insert into bg_proposals (budget_id, heading_id, title, feasibility, price) select $1, $2, 'Proyecto ' || g, 'feasible', 1000 * g from generate_series(1, 12) g returning id`,
        [budget, heading],
      )
    ).rows.map((r) => r.id as number);
    // One resident per request, so every acknowledged ballot is a new row to count afterwards.
    // Enough residents that no one votes twice across both runs (the ceiling run reaches ~3,000/s).
    const residents = Math.min(600_000, Math.max(10_000, DURATION * (4000 + RATE)));
    await pool.query(
      `insert into users (email, name, roles, email_confirmed_at, verified_at, commune_id)
       select 'bench' || g || '@bench.test', 'Bench ' || g, '{}', now(), now(), 1 from generate_series(1, $1) g`,
      [residents],
    );
    await pool.query(
      `insert into sessions (id, user_id, expires_at)
       select encode(sha256(convert_to('bench-' || id, 'UTF8')), 'hex'), id, now() + interval '1 day' from users where email like '%@bench.test'`,
    );
    const ids = (await pool.query(`select id from users where email like '%@bench.test' order by id`)).rows.map((r) => r.id as number);
    // One CSRF secret cookie and token, as a browser would have after loading the ballot page.
    const page = await fetch(`${base}/budgets/${budget}/ballot`, { headers: { cookie: `cabildo_sid=bench-${ids[0]}` } });
    const html = await page.text();
    const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
    const csrfCookie = page.headers.getSetCookie().find((c) => c.startsWith('cabildo_csrf='))?.split(';')[0];
    if (!token || !csrfCookie) throw new Error(`no CSRF token on the ballot page (status ${page.status})`);
    let next = 1; // ids[0] loaded the page; it may vote too, but start after it
    const body = `_csrf=${encodeURIComponent(token)}&heading=${heading}&proposal=${proposals[0]}&proposal=${proposals[3]}&proposal=${proposals[7]}`;
    const acked: number[] = [];
    // Sequential warm-up: the latency of one ballot on an idle server.
    const warm: number[] = [];
    for (let i = 0; i < 20; i++) {
      const uid = ids[next++];
      const t0 = performance.now();
      const res = await fetch(`${base}/budgets/${budget}/ballot`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: `cabildo_sid=bench-${uid}; ${csrfCookie}`, 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
      await res.arrayBuffer();
      warm.push(performance.now() - t0);
      if (res.status !== 303) throw new Error(`warm-up ballot answered ${res.status}`);
      acked.push(uid);
    }
    warm.sort((a, b) => a - b);
    console.log(`  one ballot at a time: median ${warm[10].toFixed(1)} ms, max ${warm[19].toFixed(1)} ms`);
    // The same server's /healthz (one trivial query) under the same load: what this machine allows.
    const hz = await autocannon({ url: `${base}/healthz`, duration: Math.min(15, DURATION), connections: CONNECTIONS, pipelining: 1 });
    console.log(`  /healthz for comparison: ${hz.requests.average.toFixed(0)} req/s, p99 ${hz.latency.p99} ms`);
    // Two runs: as fast as 200 clients can go (each sends its next ballot when the last is answered:
    // the machine's ceiling, where latency is queueing by construction), then the load,
    // RATE ballots/s arriving as residents do, over at most 200 connections: the wait a resident sees.
    const run = async (label: string) => {
      console.log(`HTTP ballots on PostgreSQL, ${label}: ${DURATION}s, ${CONNECTIONS} connections, ${os.cpus().length} cores, ${residents} residents`);
      const cpu0 = { server: cpuSeconds((_c, pid) => pid === child.pid), pg: cpuSeconds((c) => c.startsWith('postgres')), bench: process.cpuUsage() };
      const wall0 = performance.now();
      const r = await autocannon({
        url: base,
        duration: DURATION,
        connections: CONNECTIONS,
        pipelining: 1,
        requests: [
          {
            method: 'POST',
            path: `/budgets/${budget}/ballot`,
            setupRequest: (req: any, context: any) => {
              const uid = ids[next++ % ids.length];
              context.uid = uid;
              return { ...req, headers: { ...req.headers, cookie: `cabildo_sid=bench-${uid}; ${csrfCookie}`, 'content-type': 'application/x-www-form-urlencoded' }, body };
            },
            // pipelining 1: one request in flight per connection, so the context names its resident.
            onResponse: (status: number, _body: string, context: any) => {
              if (status === 303) acked.push(context.uid);
            },
          },
        ],
      });
      const acknowledged = (r as any)['3xx'] as number;
      const wall = (performance.now() - wall0) / 1000;
      const bench = process.cpuUsage(cpu0.bench);
      const cpu = {
        server: cpuSeconds((_c, pid) => pid === child.pid) - cpu0.server,
        pg: cpuSeconds((c) => c.startsWith('postgres')) - cpu0.pg,
        bench: (bench.user + bench.system) / 1e6,
      };
      console.log(`  sent ${r.requests.total}, acknowledged (303) ${acknowledged}, other ${r.non2xx - acknowledged + r['2xx']}, errors ${r.errors}, timeouts ${r.timeouts}`);
      console.log(`  ${(acknowledged / DURATION).toFixed(0)} ballots/s   latency p50 ${r.latency.p50} ms  p97.5 ${r.latency.p97_5} ms  p99 ${r.latency.p99} ms  max ${r.latency.max} ms`);
      // Where the machine's time went: all three share the same cores (PostgreSQL counts every backend,
      // also other databases' if the server is shared).
      const per = (x: number) => `${x.toFixed(1)} s (${((x / Math.max(1, acknowledged)) * 1e6).toFixed(0)} µs/ballot)`;
      console.log(`  CPU over ${wall.toFixed(0)} s: app server ${per(cpu.server)}, PostgreSQL ${per(cpu.pg)}, load generator ${per(cpu.bench)}`);
    };
    if (process.env.BENCH_SKIP_CEILING !== '1') await run('as fast as the clients go');
    if (RATE > 0) {
      console.log(`HTTP ballots on PostgreSQL, ${RATE} ballots/s offered (Poisson arrivals, open loop): ${DURATION}s, at most ${CONNECTIONS} connections`);
      const cpu0 = { server: cpuSeconds((_c, pid) => pid === child.pid), pg: cpuSeconds((c) => c.startsWith('postgres')), bench: process.cpuUsage() };
      const uids: number[] = [];
      const r = await openLoop({
        url: base,
        rate: RATE,
        seconds: DURATION,
        connections: CONNECTIONS,
        request: (i) => {
          const uid = ids[next++ % ids.length];
          uids[i] = uid;
          return { method: 'POST', path: `/budgets/${budget}/ballot`, headers: { cookie: `cabildo_sid=bench-${uid}; ${csrfCookie}`, 'content-type': 'application/x-www-form-urlencoded' }, body };
        },
        onResponse: (i, status) => {
          if (status === 303) acked.push(uids[i]);
        },
      });
      const acknowledged = r.statuses[303] ?? 0;
      const bench = process.cpuUsage(cpu0.bench);
      const per = (x: number) => `${x.toFixed(1)} s (${((x / Math.max(1, acknowledged)) * 1e6).toFixed(0)} µs/ballot)`;
      console.log(`  offered ${r.offered}, acknowledged (303) ${acknowledged}, other ${r.completed - acknowledged}, errors ${r.errors}`);
      console.log(`  ${r.rate.toFixed(0)} ballots/s   latency from the moment each was due: p50 ${r.latency.p50} ms  p97.5 ${r.latency.p97_5} ms  p99 ${r.latency.p99} ms  max ${r.latency.max} ms`);
      console.log(
        `  CPU: app server ${per(cpuSeconds((_c, pid) => pid === child.pid) - cpu0.server)}, PostgreSQL ${per(cpuSeconds((c) => c.startsWith('postgres')) - cpu0.pg)}, load generator ${per((bench.user + bench.system) / 1e6)}`,
      );
    }
    // Requests in flight when the run stops may still commit: let them finish before counting.
    await new Promise((res) => setTimeout(res, 3000));
    const storedRows = (await pool.query(`select b.user_id, count(l.*) lines from bg_ballots b left join bg_ballot_lines l on l.ballot_id = b.id where b.budget_id = $1 group by b.user_id`, [budget])).rows;
    const stored = new Map(storedRows.map((x) => [x.user_id as number, Number(x.lines)]));
    const ackSet = new Set(acked);
    const missing = [...ackSet].filter((u) => stored.get(u) !== 3).length;
    const extra = [...stored.keys()].filter((u) => !ackSet.has(u)).length;
    const wrapped = next > ids.length;
    console.log(`  stored ballots ${stored.size}; acknowledged residents ${ackSet.size}${wrapped ? ' (residents reused)' : ''}: ${missing} acknowledged but not stored with its 3 lines, ${extra} stored but unacknowledged (in flight when the run stopped, at most ${CONNECTIONS})`);
  } finally {
    child.kill('SIGTERM');
    await pool.end();
    await new Promise((r) => setTimeout(r, 1000));
    const a = new pg.Client({ connectionString: ADMIN_URL });
    await a.connect();
    await a.query(`drop database if exists ${dbName} with (force)`);
    await a.end();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main() {
  if (process.env.BENCH_SKIP_RULES !== '1') rules();
  if (process.env.BENCH_SKIP_HTTP !== '1') await http();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

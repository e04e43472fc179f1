// npm run bench — requests/s and latency of the home page and /healthz, against a bare Fastify
// "hello" route measured in the same run on the same machine, and the ratio between them.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { freePort } from '../e2e/support';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);

async function measure(url: string) {
  const r = await autocannon({ url, duration: DURATION, connections: CONNECTIONS, pipelining: 1 });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx };
}

async function main() {
  // The bare baseline runs in its own process too, so both pay the same IPC-free loopback cost.
  const barePort = await freePort();
  const bare = Fastify();
  bare.get('/', async () => ({ hello: 'world' }));
  await bare.listen({ port: barePort, host: '127.0.0.1' });

  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cabildo-bench-'));
  const child = spawn(process.execPath, ['bin/cabildo.mjs', 'serve'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn', SEED: process.env.SEED ?? 'demo' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {}
    if (i > 600) throw new Error('server did not start');
    await new Promise((r) => setTimeout(r, 500));
  }
  const engine = process.env.DATABASE_URL ? 'postgres' : 'pglite';
  console.log(`Cabildo bench on ${engine}: ${DURATION}s per target, ${CONNECTIONS} connections, ${os.cpus().length} cores`);
  const hello = await measure(`http://127.0.0.1:${barePort}/`);
  const healthz = await measure(`${base}/healthz`);
  const home = await measure(`${base}/`);
  const row = (name: string, r: typeof hello) =>
    console.log(`${name.padEnd(16)} ${r.rps.toFixed(0).padStart(8)} req/s  p50 ${String(r.p50).padStart(4)} ms  p99 ${String(r.p99).padStart(4)} ms  errors ${r.errors}  ratio to hello ${(r.rps / hello.rps).toFixed(3)}`);
  row('bare hello', hello);
  row('/healthz', healthz);
  row('/ (home page)', home);
  child.kill('SIGTERM');
  await bare.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

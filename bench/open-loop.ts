// An open-loop load generator: requests arrive at a given rate as independent residents do (a
// Poisson process), over at most `connections` keep-alive sockets, whether or not earlier ones were
// answered. Latency counts from the moment a request was due, so a server that falls behind shows it
// (no coordinated omission). autocannon's `overallRate` cannot stand in for this: each of its
// connections sends its share back to back at the start of every second and then idles, so all
// clients burst together once a second.
import http from 'node:http';

export interface OpenLoopRequest {
  method: string;
  path: string;
  headers?: http.OutgoingHttpHeaders;
  body?: string;
}

export interface OpenLoopResult {
  offered: number;
  completed: number;
  errors: number;
  statuses: Record<number, number>;
  /** completed per second of the run */
  rate: number;
  latency: { p50: number; p97_5: number; p99: number; max: number };
}

export async function openLoop(opts: {
  url: string;
  rate: number;
  seconds: number;
  connections: number;
  request: (i: number) => OpenLoopRequest;
  onResponse?: (i: number, status: number) => void;
  seed?: number;
}): Promise<OpenLoopResult> {
  const base = new URL(opts.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections });
  // A small deterministic generator, so two runs offer the same arrivals.
  let s = opts.seed ?? 20261127;
  const rand = () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  const latencies: number[] = [];
  const statuses: Record<number, number> = {};
  let errors = 0;
  let offered = 0;
  let pending = 0;
  const start = performance.now();
  const end = start + opts.seconds * 1000;
  let due = start;

  const fire = (i: number, dueAt: number) => {
    const r = opts.request(i);
    pending++;
    const req = http.request(
      { agent, host: base.hostname, port: base.port, method: r.method, path: r.path, headers: { ...r.headers, ...(r.body != null ? { 'content-length': Buffer.byteLength(r.body) } : {}) } },
      (res) => {
        res.resume();
        res.on('end', () => {
          pending--;
          latencies.push(performance.now() - dueAt);
          statuses[res.statusCode!] = (statuses[res.statusCode!] ?? 0) + 1;
          opts.onResponse?.(i, res.statusCode!);
        });
      },
    );
    req.on('error', () => {
      pending--;
      errors++;
    });
    req.end(r.body);
  };

  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (due <= now && due < end) {
        fire(offered++, due);
        due += (-Math.log(rand()) / opts.rate) * 1000;
      }
      if (due < end) setTimeout(tick, Math.max(0, Math.min(1, due - performance.now())));
      else resolve();
    };
    tick();
  });
  // Let what is in flight finish: those ballots were offered within the run.
  const drainUntil = performance.now() + 30_000;
  while (pending > 0 && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 10));
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => (latencies.length ? Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]) : NaN);
  return {
    offered,
    completed: latencies.length,
    errors,
    statuses,
    rate: latencies.length / opts.seconds,
    latency: { p50: q(0.5), p97_5: q(0.975), p99: q(0.99), max: Math.round(latencies[latencies.length - 1] ?? NaN) },
  };
}

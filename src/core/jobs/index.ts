import os from 'node:os';
import { sql, type Kysely } from 'kysely';
import type { CoreTables } from '../db/schema';
import type { Logger } from 'pino';
import type { Services } from '../services';

export interface JobContext {
  jobId: number;
  payload: Record<string, unknown>;
  services: Services;
  /** Reports progress (0..1) and optionally a line for the job's log. */
  progress(fraction: number, message?: string): Promise<void>;
  log(message: string): Promise<void>;
}

export type JobHandler = (ctx: JobContext) => Promise<Record<string, unknown> | void>;

/** A queue in PostgreSQL (the same SQL on PGlite): shared by every app process, no broker. */
export class JobQueue {
  private timer?: NodeJS.Timeout;
  private running = false;
  private readonly workerId = `${os.hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  private handlers: Record<string, JobHandler> = {};
  private services?: Services;
  /** Recurring jobs: kind → how often, and when it is next due in this process. */
  private readonly schedules = new Map<string, { everyMs: number; dueAt: number }>();

  constructor(
    private readonly db: Kysely<CoreTables>,
    private readonly log?: Logger,
  ) {}

  register(handlers: Record<string, JobHandler>, services: Services): void {
    Object.assign(this.handlers, handlers);
    this.services = services;
  }

  async enqueue(kind: string, payload: Record<string, unknown> = {}, opts: { createdBy?: number | null; trx?: Kysely<CoreTables> } = {}): Promise<number> {
    if (!this.handlers[kind]) throw new Error(`No job handler for "${kind}"`);
    const row = await (opts.trx ?? this.db)
      .insertInto('jobs')
      .values({ kind, payload: JSON.stringify(payload), log: JSON.stringify([]), created_by: opts.createdBy ?? null })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  }

  /** Claims and runs queued jobs until none is left. Returns how many ran. */
  async drain(max = Infinity): Promise<number> {
    let n = 0;
    while (n < max) {
      const job = await this.claim();
      if (!job) break;
      await this.run(job.id, job.kind, job.payload);
      n++;
    }
    return n;
  }

  /** Runs one queued job now, in this process (the CLI does this to show a progress bar). */
  async runNow(id: number, onProgress?: (fraction: number, message?: string) => void): Promise<void> {
    const job = await this.db
      .updateTable('jobs')
      .set((eb) => ({ status: 'running', locked_by: this.workerId, locked_at: new Date(), attempts: eb('attempts', '+', 1) }))
      .where('id', '=', id)
      .where('status', '=', 'queued')
      .returning(['id', 'kind', 'payload'])
      .executeTakeFirst();
    if (!job) throw new Error(`Job ${id} is not queued`);
    await this.run(job.id, job.kind, job.payload, onProgress);
  }

  /**
   * Jobs whose worker went away (a process killed mid-job) stay 'running' with a heartbeat that
   * stopped: they go back to the queue, or fail after `maxAttempts`, so nothing waits forever.
   * A live job beats by reporting progress or logging.
   */
  async recoverStale(staleAfterMs = 10 * 60_000, maxAttempts = 3): Promise<{ requeued: number; failed: number }> {
    // The database's clock, not this machine's: workers on several machines agree on it.
    const cutoff = sql<Date>`now() - ${staleAfterMs / 1000} * interval '1 second'`;
    const failed = await this.db
      .updateTable('jobs')
      .set({ status: 'failed', finished_at: new Date(), error: 'The worker running this job stopped (process ended) too many times' })
      .where('status', '=', 'running')
      .where('locked_at', '<', cutoff)
      .where('attempts', '>=', maxAttempts)
      .executeTakeFirst();
    const requeued = await this.db
      .updateTable('jobs')
      .set({ status: 'queued', locked_by: null, locked_at: null })
      .where('status', '=', 'running')
      .where('locked_at', '<', cutoff)
      .where('attempts', '<', maxAttempts)
      .executeTakeFirst();
    const r = { requeued: Number(requeued.numUpdatedRows), failed: Number(failed.numUpdatedRows) };
    if (r.requeued || r.failed) this.log?.warn(r, 'recovered jobs of a stopped worker');
    return r;
  }

  /**
   * Runs a job every `everyMs` while the worker runs (first at start-up): a module's data kept up
   * to date elsewhere, such as the open-data catalogue of what the modules publish.
   */
  schedule(kind: string, everyMs: number): void {
    if (!this.handlers[kind]) throw new Error(`No job handler for "${kind}"`);
    this.schedules.set(kind, { everyMs, dueAt: 0 });
  }

  /**
   * Queues a job unless one of that kind is already waiting or running, in one statement, so
   * several processes with the same schedule do not pile up copies. Returns the id, or null.
   */
  async enqueueIfIdle(kind: string, payload: Record<string, unknown> = {}): Promise<number | null> {
    if (!this.handlers[kind]) throw new Error(`No job handler for "${kind}"`);
    const res = await sql<{ id: number }>`
      insert into jobs (kind, payload, log)
      select ${kind}, ${JSON.stringify(payload)}::jsonb, '[]'::jsonb
      where not exists (select 1 from jobs where kind = ${kind} and status in ('queued', 'running'))
      returning id`.execute(this.db);
    return res.rows[0]?.id ?? null;
  }

  private async enqueueDue(): Promise<void> {
    const now = Date.now();
    for (const [kind, s] of this.schedules) {
      if (s.dueAt > now) continue;
      s.dueAt = now + s.everyMs;
      await this.enqueueIfIdle(kind);
    }
  }

  start(intervalMs = 1000): void {
    if (this.timer) return;
    let ticks = 0;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = true;
      // About once a minute, look for jobs orphaned by a process that died.
      const recover = ticks++ % Math.max(1, Math.round(60_000 / intervalMs)) === 0 ? this.recoverStale() : Promise.resolve();
      recover
        .then(() => this.enqueueDue())
        .then(() => this.drain(10))
        .catch((err) => this.log?.error({ err }, 'job worker failed'))
        .finally(() => (this.running = false));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async claim() {
    // SKIP LOCKED lets several processes take jobs from one table without taking the same one.
    const res = await sql<{ id: number; kind: string; payload: Record<string, unknown> }>`
      update jobs set status = 'running', locked_by = ${this.workerId}, locked_at = now(), attempts = attempts + 1
      where id = (
        select id from jobs where status = 'queued' and run_at <= now()
        order by id for update skip locked limit 1
      )
      returning id, kind, payload`.execute(this.db);
    return res.rows[0];
  }

  private async run(id: number, kind: string, payload: Record<string, unknown>, onProgress?: (f: number, m?: string) => void) {
    const handler = this.handlers[kind];
    const appendLog = async (message: string) => {
      await sql`update jobs set log = log || ${JSON.stringify([message])}::jsonb, locked_at = now() where id = ${id}`.execute(this.db);
    };
    const ctx: JobContext = {
      jobId: id,
      payload,
      services: this.services!,
      progress: async (fraction, message) => {
        const f = Math.max(0, Math.min(1, fraction));
        onProgress?.(f, message);
        await this.db.updateTable('jobs').set({ progress: f, locked_at: new Date() }).where('id', '=', id).execute();
        if (message) await appendLog(message);
      },
      log: appendLog,
    };
    try {
      if (!handler) throw new Error(`No job handler for "${kind}"`);
      const result = await handler(ctx);
      await this.db
        .updateTable('jobs')
        .set({ status: 'done', progress: 1, finished_at: new Date(), result: result ? JSON.stringify(result) : null })
        .where('id', '=', id)
        .execute();
    } catch (err) {
      this.log?.warn({ err, jobId: id, kind }, 'job failed');
      await this.db
        .updateTable('jobs')
        .set({ status: 'failed', finished_at: new Date(), error: (err as Error).message ?? String(err) })
        .where('id', '=', id)
        .execute();
    }
  }
}

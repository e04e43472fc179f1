import cliProgress from 'cli-progress';
import type { Progress } from '../backup';
import type { Services } from '../services';

/** A progress bar on a terminal; nothing when the output goes to a file or a pipe. */
export function terminalProgress(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { start() {}, tick() {}, stop() {} };
  const bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {percentage}% · {value}/{total}`, stream, hideCursor: true }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    start(total) {
      bar.start(Math.max(total, 1), 0);
      started = true;
    },
    tick(n = 1) {
      if (started) bar.increment(n);
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}

/**
 * Runs a queued job in this process with a progress bar, for commands that start long work
 * (imports, harvests). Returns the job's final status.
 */
export async function runJobWithProgressBar(services: Services, jobId: number, stream: NodeJS.WriteStream = process.stderr): Promise<'done' | 'failed'> {
  const job = await services.db.selectFrom('jobs').select(['kind']).where('id', '=', jobId).executeTakeFirst();
  if (!job) throw new Error(`No job ${jobId}`);
  const tty = stream.isTTY;
  const bar = tty ? new cliProgress.SingleBar({ format: `${job.kind} [{bar}] {percentage}% {message}`, stream, hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(100, 0, { message: '' });
  await services.jobs.runNow(jobId, (fraction, message) => {
    if (bar) bar.update(Math.round(fraction * 100), { message: message ?? '' });
    else if (message) stream.write(`${Math.round(fraction * 100)}% ${message}\n`);
  });
  bar?.stop();
  const done = await services.db.selectFrom('jobs').select(['status', 'error']).where('id', '=', jobId).executeTakeFirstOrThrow();
  if (done.status === 'failed') stream.write(`Job ${jobId} failed: ${done.error}\n`);
  return done.status === 'failed' ? 'failed' : 'done';
}

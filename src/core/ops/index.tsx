import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { HttpError, notFound, requireUser } from '../http/guards';
import { Alert } from '../ui/layout';
import type { JobStatus } from '../db/schema';
import type { StoredFile } from '../files';

const FILE_ID = /^[a-f0-9]{32}$/;
/** Types a browser may show inline: raster images only (an SVG or HTML file could carry script). */
const INLINE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/avif']);

interface JobView {
  id: number;
  kind: string;
  status: JobStatus;
  progress: number;
  log: string[];
  error: string | null;
  result: Record<string, unknown> | null;
  createdBy: number | null;
  createdAt: Date;
  finishedAt: Date | null;
}

/** The job, if the request may see it: whoever started it, or an administrator. */
async function visibleJob(request: FastifyRequest, id: number): Promise<JobView> {
  const row = await request.server.services.db
    .selectFrom('jobs')
    .select(['id', 'kind', 'status', 'progress', 'log', 'error', 'result', 'created_by', 'created_at', 'finished_at'])
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw notFound(`No job ${id}`);
  const user = request.user!;
  if (row.created_by !== user.id && !user.roles.includes('admin')) throw new HttpError(403, 'Only whoever started the job or an administrator can see it', 'ops.job.forbidden');
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    progress: Number(row.progress),
    log: Array.isArray(row.log) ? row.log.map(String) : [],
    error: row.error,
    result: row.result ?? null,
    createdBy: row.created_by,
    createdAt: row.created_at,
    finishedAt: row.finished_at,
  };
}

const STATUS_TAG: Record<JobStatus, string> = { queued: 'city-tag-queued', running: 'city-tag-running', done: 'city-tag-done', failed: 'city-tag-failed' };

function contentDisposition(file: StoredFile, inline: boolean): string {
  const name = file.original_name || file.id;
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `${inline ? 'inline' : 'attachment'}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

async function sendFile(request: FastifyRequest, reply: FastifyReply, variant?: 'thumb') {
  const { id } = request.params as { id: string };
  if (!FILE_ID.test(id)) throw notFound('No such file');
  const files = request.server.services.files;
  const file = await files.get(id);
  if (!file) throw notFound('No such file');
  const image = INLINE_TYPES.has(file.content_type);
  if (variant && !image) throw notFound('Only images have thumbnails');
  const key = variant ? `${id}-${variant}` : id;
  if (!(await files.storage.exists(key))) throw notFound('No such file');
  const etag = `"${file.sha256.slice(0, 32)}${variant ? '-t' : ''}"`;
  if (request.headers['if-none-match'] === etag) return reply.code(304).header('etag', etag).header('cache-control', 'public, max-age=31536000, immutable').send();
  return reply
    .type(variant ? 'image/jpeg' : file.content_type)
    .header('x-content-type-options', 'nosniff')
    .header('content-disposition', contentDisposition(file, image))
    // Ids are random and a stored file never changes: caches may keep it for a year.
    .header('cache-control', 'public, max-age=31536000, immutable')
    .header('etag', etag)
    // Even if a file were opened directly, it runs nothing.
    .header('content-security-policy', "default-src 'none'; sandbox")
    .send(files.open(id, variant));
}

/** Pages for long work (a job's progress) and for stored files. */
export async function opsPages(app: FastifyInstance) {
  // The layout has no slot in <head>: a running job's page gets its meta refresh added here.
  app.addHook('onSend', async (request, _reply, payload) => {
    if (!(request as FastifyRequest & { refreshJob?: boolean }).refreshJob || typeof payload !== 'string') return payload;
    return payload.replace('<head>', '<head><meta http-equiv="refresh" content="3"/>');
  });

  app.get('/jobs/:id', { schema: { hide: true, params: Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2147483647 }) }) }, preHandler: requireUser }, async (request, reply) => {
    const job = await visibleJob(request, (request.params as { id: number }).id);
    const ctx = request.pageContext();
    const { t, fmt } = ctx;
    const live = job.status === 'queued' || job.status === 'running';
    (request as FastifyRequest & { refreshJob?: boolean }).refreshJob = live;
    const percent = Math.round(job.progress * 100);
    const title = t('ops.job.title', { id: job.id });
    return reply.page(
      title,
      <div class="grid-container">
        <h1>{title}</h1>
        <dl class="city-job-facts">
          <dt>{t('ops.job.kind')}</dt>
          <dd>
            <code>{job.kind}</code>
          </dd>
          <dt>{t('ops.job.status')}</dt>
          <dd>
            <span class={`usa-tag ${STATUS_TAG[job.status]}`} id="job-status">
              {t(`ops.job.status.${job.status}`)}
            </span>
          </dd>
          <dt>{t('ops.job.created')}</dt>
          <dd>{fmt.dateTime(job.createdAt)}</dd>
          {job.finishedAt && (
            <>
              <dt>{t('ops.job.finished')}</dt>
              <dd>{fmt.dateTime(job.finishedAt)}</dd>
            </>
          )}
        </dl>
        <h2 id="job-progress-label">{t('ops.job.progress')}</h2>
        <progress id="job-progress" max={100} value={percent} aria-labelledby="job-progress-label">
          {fmt.percent(job.progress)}
        </progress>
        <p id="job-progress-text" aria-live="polite">
          {t('ops.job.progress.text', { percent: fmt.percent(job.progress) })}
        </p>
        {live && (
          <p>
            {t('ops.job.refreshing')} <a href={`/jobs/${job.id}`}>{t('ops.job.reload')}</a>
          </p>
        )}
        {job.error && (
          <Alert type="error" heading={t('ops.job.error')}>
            <span id="job-error">{job.error}</span>
          </Alert>
        )}
        <h2>{t('ops.job.log')}</h2>
        {job.log.length ? (
          <ol class="city-job-log" id="job-log">
            {job.log.map((line) => (
              <li>{line}</li>
            ))}
          </ol>
        ) : (
          <p>{t('ops.job.log.empty')}</p>
        )}
      </div>,
    );
  });

  app.get('/files/:id', { schema: { hide: true } }, (request, reply) => sendFile(request, reply));
  app.get('/files/:id/thumb', { schema: { hide: true } }, (request, reply) => sendFile(request, reply, 'thumb'));
}

const JobSchema = Type.Object({
  id: Type.Integer(),
  kind: Type.String(),
  status: Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')]),
  progress: Type.Number({ minimum: 0, maximum: 1, description: 'Fraction done, 0..1' }),
  log: Type.Array(Type.String()),
  error: Type.Union([Type.String(), Type.Null()]),
  result: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

/** GET /api/v1/jobs/{id}: the same view of a job as its page, for scripts that poll. */
export async function opsApi(app: FastifyInstance) {
  app.get(
    '/jobs/:id',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Status, progress, log and error of a long-running job (its owner or an administrator)',
        security: [{ token: [] }],
        params: Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2147483647 }) }),
        response: { 200: JobSchema },
      },
      preHandler: requireUser,
    },
    async (request) => {
      const job = await visibleJob(request, (request.params as { id: number }).id);
      return {
        id: job.id,
        kind: job.kind,
        status: job.status,
        progress: job.progress,
        log: job.log,
        error: job.error,
        result: job.result,
        createdAt: job.createdAt.toISOString(),
        finishedAt: job.finishedAt ? job.finishedAt.toISOString() : null,
      };
    },
  );
}

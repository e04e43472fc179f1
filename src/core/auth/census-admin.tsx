import type { FastifyInstance } from 'fastify';
import { Alert, Section } from '../ui/layout';
import type { PageContext } from '../ui/context';
import { HttpError, requireAdmin } from '../http/guards';
import { censusCount, CensusFileError, importCensusCsv, type CensusImportResult } from './census';

/** Rejected lines shown on the page; the rest are only counted (a census can be large). */
const SHOWN_REJECTIONS = 200;

function decode(buf: Buffer): string {
  // Spreadsheets in Argentina still save Latin-1/Windows-1252 CSVs: fall back when not UTF-8.
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    return new TextDecoder('windows-1252').decode(buf);
  }
}

function CensusPage({ ctx, count, result, error }: { ctx: PageContext; count: number; result?: CensusImportResult; error?: string }) {
  const t = ctx.t;
  const action = `/admin/census?_csrf=${encodeURIComponent(ctx.csrfToken)}`;
  return (
    <Section title={t('census.admin.title')} lead={t('census.admin.lead')}>
      <p>{t('census.admin.count', { n: ctx.fmt.number(count) })}</p>
      {error && <Alert type="error">{error}</Alert>}
      {result && (
        <>
          <Alert type={result.rejected.length ? 'warning' : 'success'} heading={t('census.admin.done')}>
            {t('census.admin.result', { imported: ctx.fmt.number(result.imported), rejected: ctx.fmt.number(result.rejected.length), total: ctx.fmt.number(result.total) })}
          </Alert>
          {result.rejected.length > 0 && (
            <table class="usa-table usa-table--striped">
              <caption>{t('census.admin.rejected', { n: ctx.fmt.number(result.rejected.length) })}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('census.admin.line')}</th>
                  <th scope="col">{t('census.admin.reason')}</th>
                </tr>
              </thead>
              <tbody>
                {result.rejected.slice(0, SHOWN_REJECTIONS).map((r) => (
                  <tr key={r.line}>
                    <th scope="row">{r.line}</th>
                    <td>{t(`census.reject.${r.code}`)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
      <h2>{t('census.admin.upload')}</h2>
      <p>{t('census.admin.format')}</p>
      <form class="usa-form" method="post" action={action} encType="multipart/form-data">
        <div class="usa-form-group">
          <fieldset class="usa-fieldset">
            <legend class="usa-legend">{t('census.admin.mode')}</legend>
            <div class="usa-radio">
              <input class="usa-radio__input" id="mode-upsert" type="radio" name="mode" value="upsert" checked />
              <label class="usa-radio__label" for="mode-upsert">
                {t('census.admin.mode.upsert')}
              </label>
            </div>
            <div class="usa-radio">
              <input class="usa-radio__input" id="mode-replace" type="radio" name="mode" value="replace" />
              <label class="usa-radio__label" for="mode-replace">
                {t('census.admin.mode.replace')}
              </label>
            </div>
          </fieldset>
        </div>
        <div class="usa-form-group">
          <label class="usa-label" for="census-file">
            {t('census.admin.file')}
          </label>
          <input class="usa-file-input" id="census-file" type="file" name="file" accept=".csv,text/csv" required />
        </div>
        <button class="usa-button" type="submit">
          {t('census.admin.submit')}
        </button>
      </form>
    </Section>
  );
}

/** /admin/census: the administrator uploads the census that residency verification checks against. */
export async function censusAdminPages(app: FastifyInstance): Promise<void> {
  const { services } = app;
  app.addHook('preHandler', requireAdmin);
  const crumbs = (ctx: PageContext) => [{ href: '/admin', label: ctx.t('site.admin') }, { label: ctx.t('census.admin.title') }];

  app.get('/admin/census', async (request, reply) => {
    const ctx = request.pageContext();
    return reply.page(request.t('census.admin.title'), <CensusPage ctx={ctx} count={await censusCount(services)} />, { breadcrumbs: crumbs(ctx) });
  });

  app.post('/admin/census', async (request, reply) => {
    if (!request.isMultipart()) throw new HttpError(400, 'Upload the census as a multipart form', 'census.admin.noFile');
    let mode: 'upsert' | 'replace' = 'upsert';
    let file: Buffer | undefined;
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        if (part.fieldname === 'file' && !file) file = await part.toBuffer();
        else await part.toBuffer();
      } else if (part.fieldname === 'mode' && part.value === 'replace') {
        mode = 'replace';
      }
    }
    if (!file || file.length === 0) throw new HttpError(400, 'No census file was uploaded', 'census.admin.noFile');
    const show = async (status: number, result?: CensusImportResult, error?: string) => {
      const ctx = request.pageContext();
      return reply.page(request.t('census.admin.title'), <CensusPage ctx={ctx} count={await censusCount(services)} result={result} error={error} />, {
        status,
        breadcrumbs: crumbs(ctx),
      });
    };
    try {
      const result = await importCensusCsv(services, decode(file), request.actor(), { mode });
      return show(200, result);
    } catch (err) {
      if (err instanceof CensusFileError) return show(400, undefined, request.t('census.admin.badFile', { reason: err.message }));
      throw err;
    }
  });
}

import type { PageContext } from '../../../core/ui/context';
import { Alert, CsrfField } from '../../../core/ui/layout';
import { ProgressBar } from './charts';
import { ProjectMap, pointsBox } from './map';
import { Dl, dateOf, flagParams } from './pages';
import type { Flag } from '../domain/flags';
import type { ProjectRow, ProgrammeRow } from '../tables';
import { STAGES } from '../domain/normalise';
import { DOCUMENT_TYPES } from '../domain/documents';
import { isShape, positionsOf } from '../domain/geometry';

/**
 * A stored address that may become a link: http(s) only (a `javascript:` URL would run in the
 * reader's page), or, with `sitePaths`, a path of this site such as /budgets/3/proposals/12.
 */
export function linkable(url: string | null | undefined, sitePaths = false): string | undefined {
  if (!url) return undefined;
  if (/^https?:\/\//i.test(url)) return url;
  return sitePaths && /^\/(?!\/)/.test(url) ? url : undefined;
}

export interface ProjectPageData {
  project: ProjectRow;
  programme?: ProgrammeRow;
  office?: { id: number; name: string; slug: string };
  photos: Array<{ id: number; file_id: string | null; url: string | null; caption: string | null; taken_on: string | null }>;
  progress: Array<{ id: number; at: Date; progress: number; stage: string; note: string }>;
  amendments: Array<{ id: number; date: string | null; extra_amount: number; extra_months: number; reason: string }>;
  nearby: Array<{ id: number; name: string; stage: string; type: string }>;
  documents: Array<{ id: number; title: string; document_type: string; file_id: string | null; url: string | null; created_at: Date }>;
  flags: Flag[];
  canEdit: boolean;
}

export function ProjectPage({ ctx, d }: { ctx: PageContext; d: ProjectPageData }) {
  const { t, fmt } = ctx;
  const p = d.project;
  const amount = p.contract_amount === null ? null : Number(p.contract_amount);
  const extra = d.amendments.reduce((s, a) => s + Number(a.extra_amount), 0);
  const uploaded = d.photos.filter((ph) => ph.file_id);
  const external = d.photos.filter((ph) => !ph.file_id && linkable(ph.url));
  // A work on several sites (a MultiPoint) shows every one of them.
  const shape = isShape(p.geometry) ? p.geometry : null;
  const places: Array<[number, number]> = shape
    ? []
    : p.geometry?.type === 'MultiPoint'
      ? (p.geometry.coordinates as Array<[number, number]>)
      : p.lat !== null && p.lng !== null
        ? [[p.lng, p.lat]]
        : [];
  // A line or an area is drawn as itself, framed by its own extent.
  const extent = shape ? positionsOf(shape) : places;
  return (
    <div class="grid-container">
      <h1>{p.name}</h1>
      {d.programme?.archived && (
        <Alert type="info" heading={t('works.programme.archived')}>
          <a href={`/works/programmes/${d.programme.slug}`}>{d.programme.name}</a>
        </Alert>
      )}
      <p>
        <span class="usa-tag">{t(`works.stage.${p.stage}`)}</span> {t(`works.type.${p.type}`)}
        {d.programme && (
          <>
            {' · '}
            <a href={`/works/projects?programme=${d.programme.id}`}>{d.programme.name}</a>
          </>
        )}
      </p>
      {p.description && <p class="usa-intro">{p.description}</p>}
      {d.canEdit && (
        <p>
          <a class="usa-button" href={`/works/${p.id}/progress`}>
            {t('works.progress.post')}
          </a>
          <a class="usa-button usa-button--outline" href={`/works/${p.id}/edit`}>
            {t('works.edit.link')}
          </a>
        </p>
      )}
      <h2>{t('works.project.progress')}</h2>
      <ProgressBar ctx={ctx} value={p.progress === null ? null : Number(p.progress)} />
      <div class="grid-row grid-gap margin-top-2">
        <div class="tablet:grid-col-6">
          <h2>{t('works.project.summary')}</h2>
          <Dl
            items={[
              [t('works.field.amount'), amount === null ? t('works.unknown') : fmt.money(amount)],
              [t('works.field.workers'), p.workers === null ? null : fmt.number(p.workers)],
              [t('works.field.office'), d.office ? d.office.name : p.office_name],
              [t('works.field.commune'), p.communes.length ? p.communes.map((c) => t('works.commune', { n: c })).join(', ') : null],
              [t('works.field.neighbourhood'), p.neighbourhood],
              [t('works.field.address'), p.address],
              [t('works.field.beneficiaries'), p.beneficiaries],
              [t('works.field.funding'), p.funding],
              [t('works.field.sites'), p.sites === null ? null : fmt.number(p.sites)],
              [
                t('works.field.participatory'),
                linkable(p.pb_ref_url, true) ? (
                  <a href={linkable(p.pb_ref_url, true)}>{p.pb_ref_title ?? t('works.pb.link')}</a>
                ) : p.participatory ? (
                  t('common.yes')
                ) : null,
              ],
              [t('works.field.commitment'), p.commitment ? t('common.yes') : null],
            ]}
          />
        </div>
        <div class="tablet:grid-col-6">
          <h2>{t('works.project.dates')}</h2>
          <Dl
            items={[
              [t('works.field.start'), dateOf(ctx, p.start_date)],
              [t('works.field.plannedEnd'), dateOf(ctx, p.planned_end)],
              [t('works.field.currentEnd'), p.current_planned_end !== p.planned_end ? dateOf(ctx, p.current_planned_end) : null],
              [t('works.field.actualEnd'), p.actual_end ? dateOf(ctx, p.actual_end) : null],
              [t('works.field.duration'), p.duration_months === null ? null : t('works.months', { n: Number(p.duration_months) })],
            ]}
          />
        </div>
      </div>
      {d.flags.length > 0 && (
        <section aria-labelledby="flags-h">
          <h2 id="flags-h">{t('works.flags.title')}</h2>
          {d.flags.map((f) => (
            <Alert type="warning" heading={t(`works.flag.${f}`)} key={f}>
              {t(`works.flag.${f}.explain`, flagParams())} <a href="/works/flags">{t('works.flags.more')}</a>
            </Alert>
          ))}
        </section>
      )}
      <h2>{t('works.project.contract')}</h2>
      <Dl
        items={[
          [t('works.field.procedure'), p.procedure_type],
          [t('works.field.procedureNumber'), p.procedure_number],
          [t('works.field.year'), p.tender_year === null ? null : String(p.tender_year)],
          [t('works.field.fileNumber'), p.file_number],
          [t('works.field.bidders'), p.bidders === null ? null : fmt.number(p.bidders)],
          [
            t('works.field.contractor'),
            p.contractors.length ? (
              <ul class="usa-list usa-list--unstyled">
                {p.contractors.map((c, i) => (
                  <li key={i}>
                    {c.name ?? ''} {c.cuit && <a href={`/works/projects?contractor=${encodeURIComponent(c.cuit)}`}>CUIT {c.cuit}</a>}
                  </li>
                ))}
              </ul>
            ) : null,
          ],
          [t('works.field.tenderDocs'), linkable(p.tender_docs_url) ? <a href={linkable(p.tender_docs_url)}>{t('works.link.download')}</a> : null],
          [t('works.field.environmentalStudy'), linkable(p.environmental_study_url) ? <a href={linkable(p.environmental_study_url)}>{t('works.link.download')}</a> : null],
        ]}
      />
      {d.amendments.length > 0 && (
        <table class="usa-table usa-table--compact">
          <caption>{t('works.project.amendments', { total: amount ? fmt.percent(extra / amount) : '—' })}</caption>
          <thead>
            <tr>
              <th scope="col">{t('works.field.date')}</th>
              <th scope="col">{t('works.field.extraAmount')}</th>
              <th scope="col">{t('works.field.extraMonths')}</th>
              <th scope="col">{t('works.field.reason')}</th>
            </tr>
          </thead>
          <tbody>
            {d.amendments.map((a) => (
              <tr key={a.id}>
                <td>{dateOf(ctx, a.date)}</td>
                <td>{fmt.money(Number(a.extra_amount))}</td>
                <td>{fmt.number(Number(a.extra_months))}</td>
                <td>{a.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>{t('works.project.history')}</h2>
      {d.progress.length ? (
        <table class="usa-table usa-table--compact">
          <caption class="usa-sr-only">{t('works.project.history')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('works.field.date')}</th>
              <th scope="col">{t('works.field.progress')}</th>
              <th scope="col">{t('works.field.stage')}</th>
              <th scope="col">{t('works.field.note')}</th>
            </tr>
          </thead>
          <tbody>
            {d.progress.map((h) => (
              <tr key={h.id}>
                <td>{fmt.date(h.at)}</td>
                <td>{fmt.percent(Number(h.progress) / 100)}</td>
                <td>{t(`works.stage.${h.stage}`)}</td>
                <td>{h.note === 'import' ? t('works.progress.imported') : h.note}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p>{t('works.project.noHistory')}</p>
      )}
      <h2>{t('works.project.photos')}</h2>
      {uploaded.length === 0 && external.length === 0 && <p>{t('works.project.noPhotos')}</p>}
      {uploaded.length > 0 && (
        <ul class="usa-card-group">
          {uploaded.map((ph) => (
            <li class="usa-card tablet:grid-col-4" key={ph.id}>
              <div class="usa-card__container">
                <div class="usa-card__media">
                  <div class="usa-card__img">
                    <img src={`/works/photos/${ph.file_id}?size=thumb`} alt={ph.caption ?? t('works.photo.alt', { name: p.name })} />
                  </div>
                </div>
                <div class="usa-card__body">
                  <p>
                    {ph.caption} {ph.taken_on && <span class="text-base">({dateOf(ctx, ph.taken_on)})</span>}
                  </p>
                  <a href={`/works/photos/${ph.file_id}`}>{t('works.photo.full')}</a>
                </div>
              </div>
            </li>
          ))}
        </ul>
      )}
      {external.length > 0 && (
        <ul class="usa-list">
          {external.map((ph, i) => (
            <li key={ph.id}>
              <a href={linkable(ph.url)}>{ph.caption ?? t('works.photo.external', { n: i + 1 })}</a>
            </li>
          ))}
        </ul>
      )}
      <h2 id="documents">{t('works.document.title')}</h2>
      {d.documents.length ? (
        <ul class="usa-list">
          {d.documents.map((doc) => {
            const href = doc.file_id ? `/works/documents/${doc.file_id}` : linkable(doc.url);
            return (
              <li key={doc.id}>
                {href ? <a href={href}>{doc.title}</a> : doc.title} ({t(`works.documentType.${doc.document_type}`)}
                {doc.file_id ? ', PDF' : ''}, {ctx.fmt.date(doc.created_at)})
                {d.canEdit && (
                  <form method="post" action={`/works/${p.id}/documents/${doc.id}/delete`} class="display-inline margin-left-1">
                    <CsrfField ctx={ctx} />
                    <button type="submit" class="usa-button usa-button--unstyled" aria-label={t('works.document.removeLabel', { title: doc.title })}>
                      {t('works.document.remove')}
                    </button>
                  </form>
                )}
              </li>
            );
          })}
        </ul>
      ) : (
        <p>{t('works.document.none')}</p>
      )}
      {extent.length > 0 && (
        <>
          <h2>{t('works.project.map')}</h2>
          {places.length > 1 && <p>{t('works.project.places', { n: places.length })}</p>}
          {shape && <p>{t(shape.type.endsWith('LineString') ? 'works.project.line' : 'works.project.area')}</p>}
          <ProjectMap
            ctx={ctx}
            title={t('works.project.mapTitle', { name: p.name })}
            points={places.map(([lng, lat]) => ({ id: p.id, name: p.name, lat, lng, stage: p.stage }))}
            shapes={shape ? [{ geometry: shape, stage: p.stage }] : []}
            areas={[]}
            bbox={pointsBox(extent.flatMap(([lng, lat]) => [{ lat: lat - 0.005, lng: lng - 0.0075 }, { lat: lat + 0.005, lng: lng + 0.0075 }]))}
            linked={false}
          />
        </>
      )}
      <h2>{t('works.project.nearby')}</h2>
      {d.nearby.length ? (
        <ul class="usa-list">
          {d.nearby.map((n) => (
            <li key={n.id}>
              <a href={`/works/${n.id}`}>{n.name}</a> ({t(`works.stage.${n.stage}`)})
            </li>
          ))}
        </ul>
      ) : (
        <p>{t('works.project.noNearby')}</p>
      )}
      <h2>{t('works.home.data')}</h2>
      <ul class="usa-list">
        <li>
          <a href={`/api/oc4ids/projects/${p.id}.json`}>{t('works.export.oc4idsOne')}</a>
        </li>
        <li>
          <a href={`/api/ocds/releases/${p.id}.json`}>{t('works.export.ocds')}</a>
        </li>
        {linkable(p.link) && (
          <li>
            <a href={linkable(p.link)}>{t('works.link.source')}</a>
          </li>
        )}
      </ul>
    </div>
  );
}

export function ProgressForm({
  ctx,
  project,
  error,
  values,
  amendmentError,
  amendment,
  pbError,
  pb,
  docError,
  doc,
}: {
  ctx: PageContext;
  project: ProjectRow;
  error?: string;
  values?: { progress?: string; stage?: string; note?: string };
  amendmentError?: string;
  amendment?: Record<string, string>;
  pbError?: string;
  pb?: Record<string, string>;
  docError?: string;
  doc?: Record<string, string>;
}) {
  const { t } = ctx;
  return (
    <div class="grid-container">
      <h1>{t('works.progress.title', { name: project.name })}</h1>
      <p>{t('works.progress.current', { n: project.progress === null ? '—' : String(Number(project.progress)) })}</p>
      <p>
        <a href={`/works/${project.id}/edit`}>{t('works.edit.link')}</a> · <a href="#doc">{t('works.document.add')}</a>
      </p>
      {error && (
        <Alert type="error" heading={t('common.error.summary')}>
          {error}
        </Alert>
      )}
      <form class="usa-form usa-form--large" method="post" action={`/works/${project.id}/progress?_csrf=${encodeURIComponent(ctx.csrfToken)}`} encType="multipart/form-data">
        <div class="usa-form-group">
          <label class="usa-label" for="f-progress">
            {t('works.field.progress')}
          </label>
          <span class="usa-hint" id="f-progress-hint">
            {t('works.progress.hint')}
          </span>
          <input class="usa-input" id="f-progress" name="progress" type="number" min={0} max={100} step="0.1" required aria-describedby="f-progress-hint" value={values?.progress ?? (project.progress === null ? '' : String(Number(project.progress)))} />
        </div>
        <div class="usa-form-group">
          <label class="usa-label" for="f-stage">
            {t('works.field.stage')}
          </label>
          <select class="usa-select" id="f-stage" name="stage">
            {STAGES.map((s) => (
              <option value={s} key={s} selected={(values?.stage ?? project.stage) === s}>
                {t(`works.stage.${s}`)}
              </option>
            ))}
          </select>
        </div>
        <div class="usa-form-group">
          <label class="usa-label" for="f-note">
            {t('works.field.note')}
          </label>
          <span class="usa-hint" id="f-note-hint">
            {t('works.progress.noteHint')}
          </span>
          <textarea class="usa-textarea" id="f-note" name="note" aria-describedby="f-note-hint">
            {values?.note ?? ''}
          </textarea>
        </div>
        <div class="usa-form-group">
          <label class="usa-label" for="f-photos">
            {t('works.progress.photos')}
          </label>
          <input class="usa-file-input" id="f-photos" name="photos" type="file" accept="image/*" multiple />
        </div>
        <div class="usa-form-group">
          <label class="usa-label" for="f-caption">
            {t('works.progress.caption')}
          </label>
          <input class="usa-input" id="f-caption" name="caption" />
        </div>
        <CsrfField ctx={ctx} />
        <button class="usa-button" type="submit">
          {t('works.progress.submit')}
        </button>
      </form>
      <h2>{t('works.amendment.title')}</h2>
      <p>{t('works.amendment.lead')}</p>
      {amendmentError && (
        <Alert type="error" heading={t('common.error.summary')}>
          {amendmentError}
        </Alert>
      )}
      <form class="usa-form usa-form--large" method="post" action={`/works/${project.id}/amendments`}>
        <div class="usa-form-group">
          <label class="usa-label" for="a-date">
            {t('works.field.date')}
          </label>
          <input class="usa-input" id="a-date" name="date" type="date" required value={amendment?.date ?? ''} />
        </div>
        <div class="usa-form-group">
          <label class="usa-label" for="a-amount">
            {t('works.field.extraAmount')}
          </label>
          <input class="usa-input" id="a-amount" name="extra_amount" inputMode="decimal" value={amendment?.extra_amount ?? ''} />
        </div>
        <div class="usa-form-group">
          <label class="usa-label" for="a-months">
            {t('works.field.extraMonths')}
          </label>
          <input class="usa-input" id="a-months" name="extra_months" inputMode="decimal" value={amendment?.extra_months ?? ''} />
        </div>
        <div class="usa-form-group">
          <label class="usa-label" for="a-reason">
            {t('works.field.reason')}
          </label>
          <textarea class="usa-textarea" id="a-reason" name="reason" required>
            {amendment?.reason ?? ''}
          </textarea>
        </div>
        <CsrfField ctx={ctx} />
        <button class="usa-button usa-button--outline" type="submit">
          {t('works.amendment.submit')}
        </button>
      </form>
      <h2 id="pb">{t('works.pb.title')}</h2>
      <p>{t('works.pb.lead')}</p>
      {pbError && (
        <Alert type="error" heading={t('common.error.summary')}>
          {pbError}
        </Alert>
      )}
      <form class="usa-form usa-form--large" method="post" action={`/works/${project.id}/budget-link`}>
        <div class="usa-form-group">
          <label class="usa-label" for="pb-url">
            {t('works.pb.url')}
          </label>
          <span class="usa-hint" id="pb-url-hint">
            {t('works.pb.urlHint')}
          </span>
          <input class="usa-input" id="pb-url" name="pb_url" aria-describedby="pb-url-hint" value={pb?.pb_url ?? project.pb_ref_url ?? ''} />
        </div>
        <div class="usa-form-group">
          <label class="usa-label" for="pb-title">
            {t('works.pb.projectTitle')}
          </label>
          <input class="usa-input" id="pb-title" name="pb_title" maxLength={300} value={pb?.pb_title ?? project.pb_ref_title ?? ''} />
        </div>
        <CsrfField ctx={ctx} />
        <button class="usa-button usa-button--outline" type="submit">
          {t('works.pb.submit')}
        </button>
      </form>
      <h2 id="doc">{t('works.document.add')}</h2>
      <p>{t('works.document.lead')}</p>
      {docError && (
        <Alert type="error" heading={t('common.error.summary')}>
          {docError}
        </Alert>
      )}
      <form class="usa-form usa-form--large" method="post" action={`/works/${project.id}/documents?_csrf=${encodeURIComponent(ctx.csrfToken)}`} encType="multipart/form-data">
        <div class="usa-form-group">
          <label class="usa-label" for="d-title">
            {t('works.document.titleField')}
          </label>
          <input class="usa-input" id="d-title" name="title" maxLength={300} required value={doc?.title ?? ''} />
        </div>
        <div class="usa-form-group">
          <label class="usa-label" for="d-type">
            {t('works.document.type')}
          </label>
          <select class="usa-select" id="d-type" name="document_type">
            {DOCUMENT_TYPES.map((dt) => (
              <option value={dt} key={dt} selected={doc?.document_type === dt}>
                {t(`works.documentType.${dt}`)}
              </option>
            ))}
          </select>
        </div>
        <div class="usa-form-group">
          <label class="usa-label" for="d-file">
            {t('works.document.file')}
          </label>
          <span class="usa-hint" id="d-file-hint">
            {t('works.document.fileHint')}
          </span>
          <input class="usa-file-input" id="d-file" name="file" type="file" accept="application/pdf,.pdf" aria-describedby="d-file-hint" />
        </div>
        <div class="usa-form-group">
          <label class="usa-label" for="d-url">
            {t('works.document.url')}
          </label>
          <span class="usa-hint" id="d-url-hint">
            {t('works.document.urlHint')}
          </span>
          <input class="usa-input" id="d-url" name="url" type="url" aria-describedby="d-url-hint" value={doc?.url ?? ''} />
        </div>
        <CsrfField ctx={ctx} />
        <button class="usa-button usa-button--outline" type="submit">
          {t('works.document.submit')}
        </button>
      </form>
    </div>
  );
}

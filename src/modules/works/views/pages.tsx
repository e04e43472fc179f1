import type { ComponentChildren } from 'preact';
import type { PageContext } from '../../../core/ui/context';
import { Alert, CsrfField, Pagination } from '../../../core/ui/layout';
import { BarChart, ProgressBar, type Bar } from './charts';
import { ProjectMap, Interactive, type MapArea, type MapPoint } from './map';
import { CommunesMap, type MapArea as CoreMapArea } from '../../../core/ui/map';
import { FLAGS, THRESHOLDS, type Flag } from '../domain/flags';
import { STAGES, WORK_TYPES } from '../domain/normalise';
import type { Filters, Totals } from '../store';
import type { ProjectRow, ProgrammeRow } from '../tables';
import type { RejectedRow } from '../domain/project';

export const dateOf = (ctx: PageContext, d: string | null) => (d ? ctx.fmt.date(`${d}T12:00:00Z`) : ctx.t('works.unknown'));

/** The query string of a filter set (for shareable URLs, pagination and exports). */
export function filterQuery(f: Filters, extra: Record<string, string | number | undefined> = {}): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...f, ...extra })) if (v !== undefined && v !== '' && v !== null) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

export function TotalsGrid({ ctx, totals }: { ctx: PageContext; totals: Totals }) {
  const { t, fmt } = ctx;
  const items: Array<[string, string]> = [
    [t('works.totals.projects'), fmt.number(totals.projects)],
    [t('works.totals.investment'), fmt.money(totals.investment)],
    [t('works.totals.workers'), fmt.number(totals.workers)],
    [t('works.totals.finished'), fmt.percent(totals.projects ? totals.finished / totals.projects : 0)],
  ];
  return (
    <ul class="usa-card-group">
      {items.map(([label, value]) => (
        <li class="usa-card tablet:grid-col-3" key={label}>
          <div class="usa-card__container">
            <div class="usa-card__body">
              <p class="font-heading-xl text-bold margin-y-1">{value}</p>
              <p class="margin-0">{label}</p>
            </div>
          </div>
        </li>
      ))}
    </ul>
  );
}

export interface HomeData {
  totals: Totals;
  charts: Array<{ id: string; title: string; bars: Bar[] }>;
  featured: Array<Pick<ProjectRow, 'id' | 'name' | 'stage' | 'type' | 'progress'>>;
  archived: ProgrammeRow[];
  flagCounts: Record<Flag, number>;
  communes: CoreMapArea[];
  perCommune: Record<number, number>;
}

export function HomePage({ ctx, data }: { ctx: PageContext; data: HomeData }) {
  const { t } = ctx;
  return (
    <div class="grid-container">
      <h1>{t('works.title')}</h1>
      <p class="usa-intro">{t('works.home.lead')}</p>
      <SearchForm ctx={ctx} f={{}} options={null} compact />
      <h2>{t('works.home.totals')}</h2>
      <TotalsGrid ctx={ctx} totals={data.totals} />
      <p>
        <a class="usa-button" href="/works/projects">
          {t('works.home.browse')}
        </a>
        <a class="usa-button usa-button--outline" href="/works/projects?view=map">
          {t('works.home.map')}
        </a>
        <a class="usa-button usa-button--outline" href="/works/flags">
          {t('works.flags.title')}
        </a>
      </p>
      {data.communes.length > 0 && (
        <>
          <h2>{t('works.chart.commune')}</h2>
          <CommunesMap
            ctx={ctx}
            id="works-communes"
            communes={data.communes}
            values={data.perCommune}
            valueLabel={t('works.totals.projects')}
            link="/works/projects?commune={id}"
            label={t('works.home.choropleth')}
          />
        </>
      )}
      <h2>{t('works.home.map.title')}</h2>
      <p>
        <a href="/works/projects?view=map">
          <img src="/works/map.svg" alt={t('works.home.map.alt', { n: data.totals.projects })} class="width-full" />
        </a>
      </p>
      {data.featured.length > 0 && (
        <>
          <h2>{t('works.home.featured')}</h2>
          <ul class="usa-card-group">
            {data.featured.map((p) => (
              <li class="usa-card tablet:grid-col-4" key={p.id}>
                <div class="usa-card__container">
                  <div class="usa-card__header">
                    <h3 class="usa-card__heading">
                      <a href={`/works/${p.id}`}>{p.name}</a>
                    </h3>
                  </div>
                  <div class="usa-card__body">
                    <p>
                      {t(`works.type.${p.type}`)} · {t(`works.stage.${p.stage}`)}
                    </p>
                    <ProgressBar ctx={ctx} value={p.progress === null ? null : Number(p.progress)} />
                  </div>
                </div>
              </li>
            ))}
          </ul>
        </>
      )}
      <h2>{t('works.home.charts')}</h2>
      <div class="grid-row grid-gap">
        {data.charts.map((c) => (
          <div class="tablet:grid-col-6" key={c.id}>
            <BarChart ctx={ctx} id={c.id} title={c.title} bars={c.bars} valueLabel={t('works.totals.projects')} />
          </div>
        ))}
      </div>
      <h2>{t('works.flags.title')}</h2>
      <ul class="usa-list">
        {FLAGS.map((f) => (
          <li key={f}>
            <a href={`/works/projects?flag=${f}`}>{t(`works.flag.${f}`)}</a>: {ctx.fmt.number(data.flagCounts[f])}
          </li>
        ))}
      </ul>
      {data.archived.length > 0 && (
        <>
          <h2>{t('works.home.archived')}</h2>
          <ul class="usa-list">
            {data.archived.map((p) => (
              <li key={p.id}>
                <a href={`/works/programmes/${p.slug}`}>{p.name}</a>
              </li>
            ))}
          </ul>
        </>
      )}
      <h2>{t('works.home.data')}</h2>
      <ul class="usa-list">
        <li>
          <a href="/api/oc4ids/project-package.json">{t('works.export.oc4ids')}</a>
        </li>
        <li>
          <a href="/works/projects.csv">{t('works.export.csv')}</a>
        </li>
        <li>
          <a href="/works/projects.geojson">{t('works.export.geojson')}</a>
        </li>
      </ul>
    </div>
  );
}

export interface FilterOptions {
  offices: Array<{ id: number; name: string }>;
  programmes: Array<{ id: number; name: string }>;
  communes: number[];
}

function Select({ name, label, value, options, anyLabel }: { name: string; label: string; value: string | number | undefined; options: Array<[string, string]>; anyLabel: string }) {
  return (
    <div class="usa-form-group">
      <label class="usa-label" for={`f-${name}`}>
        {label}
      </label>
      <select class="usa-select" id={`f-${name}`} name={name}>
        <option value="">{anyLabel}</option>
        {options.map(([v, l]) => (
          <option value={v} selected={String(value ?? '') === v} key={v}>
            {l}
          </option>
        ))}
      </select>
    </div>
  );
}

export function SearchForm({ ctx, f, options, compact, view }: { ctx: PageContext; f: Filters; options: FilterOptions | null; compact?: boolean; view?: string }) {
  const { t } = ctx;
  const any = t('works.filter.any');
  return (
    <form method="get" action="/works/projects" class="usa-form usa-form--large" role="search" aria-label={t('works.search.label')}>
      <div class="usa-form-group">
        <label class="usa-label" for="f-q">
          {t('works.search.label')}
        </label>
        <input class="usa-input" id="f-q" name="q" type="search" value={f.q ?? ''} />
      </div>
      {!compact && options && (
        <div class="grid-row grid-gap">
          <div class="tablet:grid-col-4">
            <Select name="type" label={t('works.field.type')} value={f.type} anyLabel={any} options={WORK_TYPES.map((x) => [x, t(`works.type.${x}`)])} />
            <Select name="stage" label={t('works.field.stage')} value={f.stage} anyLabel={any} options={STAGES.map((x) => [x, t(`works.stage.${x}`)])} />
            <Select name="flag" label={t('works.field.flag')} value={f.flag} anyLabel={any} options={FLAGS.map((x) => [x, t(`works.flag.${x}`)])} />
          </div>
          <div class="tablet:grid-col-4">
            <Select name="commune" label={t('works.field.commune')} value={f.commune} anyLabel={any} options={options.communes.map((c) => [String(c), t('works.commune', { n: c })])} />
            <div class="usa-form-group">
              <label class="usa-label" for="f-neighbourhood">
                {t('works.field.neighbourhood')}
              </label>
              <input class="usa-input" id="f-neighbourhood" name="neighbourhood" value={f.neighbourhood ?? ''} />
            </div>
            <Select name="office" label={t('works.field.office')} value={f.office} anyLabel={any} options={options.offices.map((o) => [String(o.id), o.name])} />
          </div>
          <div class="tablet:grid-col-4">
            <Select name="programme" label={t('works.field.programme')} value={f.programme} anyLabel={any} options={options.programmes.map((o) => [String(o.id), o.name])} />
            <div class="usa-form-group">
              <label class="usa-label" for="f-year">
                {t('works.field.year')}
              </label>
              <input class="usa-input" id="f-year" name="year" inputMode="numeric" value={f.year ?? ''} />
            </div>
            <div class="usa-form-group">
              <label class="usa-label" for="f-contractor">
                {t('works.field.contractor')}
              </label>
              <input class="usa-input" id="f-contractor" name="contractor" value={f.contractor ?? ''} />
            </div>
          </div>
        </div>
      )}
      {view === 'map' && <input type="hidden" name="view" value="map" />}
      <button class="usa-button" type="submit">
        {t('works.search.button')}
      </button>
    </form>
  );
}

export type ListRow = Pick<ProjectRow, 'id' | 'name' | 'type' | 'stage' | 'progress' | 'contract_amount' | 'communes' | 'neighbourhood' | 'office_name' | 'current_planned_end'>;

export function ProjectTable({ ctx, rows, caption }: { ctx: PageContext; rows: ListRow[]; caption: string }) {
  const { t, fmt } = ctx;
  return (
    <div class="city-table-wrap">
      <table class="usa-table usa-table--striped width-full">
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">{t('works.field.name')}</th>
            <th scope="col">{t('works.field.type')}</th>
            <th scope="col">{t('works.field.stage')}</th>
            <th scope="col">{t('works.field.progress')}</th>
            <th scope="col">{t('works.field.amount')}</th>
            <th scope="col">{t('works.field.commune')}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.id}>
              <th scope="row">
                <a href={`/works/${r.id}`}>{r.name}</a>
              </th>
              <td>{t(`works.type.${r.type}`)}</td>
              <td>{t(`works.stage.${r.stage}`)}</td>
              <td>{r.progress === null ? '—' : fmt.percent(Number(r.progress) / 100)}</td>
              <td>{r.contract_amount === null ? '—' : fmt.money(Number(r.contract_amount))}</td>
              <td>
                {r.communes.join(', ')}
                {r.neighbourhood ? ` · ${r.neighbourhood}` : ''}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ListPage(props: {
  ctx: PageContext;
  f: Filters;
  options: FilterOptions;
  rows: ListRow[];
  total: number;
  page: number;
  pages: number;
  view: 'list' | 'map';
  map?: { points: MapPoint[]; areas: MapArea[]; bbox: [number, number, number, number] };
}) {
  const { ctx, f, rows, total, page, pages, view } = props;
  const { t } = ctx;
  const q = (extra: Record<string, string | number | undefined>) => filterQuery(f, extra);
  return (
    <div class="grid-container">
      <h1>{t('works.list.title')}</h1>
      <SearchForm ctx={ctx} f={f} options={props.options} view={view} />
      {f.flag && (
        <Alert type="info" heading={t(`works.flag.${f.flag}`)}>
          {t(`works.flag.${f.flag}.explain`, flagParams())}
        </Alert>
      )}
      <p role="status">{t('works.list.count', { n: total })}</p>
      <p>
        {view === 'map' ? <a href={`/works/projects${q({})}`}>{t('works.list.asList')}</a> : <a href={`/works/projects${q({ view: 'map' })}`}>{t('works.list.asMap')}</a>} ·{' '}
        <a href={`/works/projects.csv${q({})}`}>{t('works.export.csv')}</a> · <a href={`/works/projects.geojson${q({})}`}>{t('works.export.geojson')}</a> ·{' '}
        <a href={`/api/oc4ids/project-package.json${q({})}`}>{t('works.export.oc4ids')}</a>
      </p>
      {view === 'map' && props.map && (
        <Interactive ctx={ctx} pointsUrl={`/works/map.geojson${q({})}`}>
          <ProjectMap ctx={ctx} title={t('works.list.mapTitle', { n: props.map.points.length })} {...props.map} linked={props.map.points.length <= 2000} />
        </Interactive>
      )}
      {rows.length ? <ProjectTable ctx={ctx} rows={rows} caption={t('works.list.caption', { page, pages })} /> : <p>{t('works.list.empty')}</p>}
      <Pagination ctx={ctx} page={page} pages={pages} href={(p) => `/works/projects${q({ page: p, view: view === 'map' ? 'map' : undefined })}`} />
    </div>
  );
}

export function flagParams(): Record<string, string | number> {
  return {
    share: Math.round(THRESHOLDS.costOverrunShare * 100),
    months: THRESHOLDS.stalledMonths,
    concentration: Math.round(THRESHOLDS.concentrationShare * 100),
  };
}

export function FlagsPage({ ctx, counts }: { ctx: PageContext; counts: Record<Flag, number> }) {
  const { t } = ctx;
  return (
    <div class="grid-container">
      <h1>{t('works.flags.title')}</h1>
      <p class="usa-intro">{t('works.flags.lead')}</p>
      {FLAGS.map((f) => (
        <section key={f} aria-labelledby={`flag-${f}`}>
          <h2 id={`flag-${f}`}>{t(`works.flag.${f}`)}</h2>
          <p>{t(`works.flag.${f}.explain`, flagParams())}</p>
          <p>
            <a href={`/works/projects?flag=${f}`}>{t('works.flags.see', { n: counts[f] })}</a>
          </p>
        </section>
      ))}
    </div>
  );
}

export function Dl({ items }: { items: Array<[string, ComponentChildren]> }) {
  return (
    <dl class="usa-list usa-list--unstyled">
      {items
        .filter(([, v]) => v !== null && v !== undefined && v !== '')
        .map(([k, v]) => (
          <div key={k} class="margin-bottom-1">
            <dt class="text-bold">{k}</dt>
            <dd class="margin-left-0">{v}</dd>
          </div>
        ))}
    </dl>
  );
}

export function ImportPage({ ctx, result, error }: { ctx: PageContext; result?: { line: string; rejected: RejectedRow[]; warnings?: RejectedRow[] }; error?: string }) {
  const { t } = ctx;
  return (
    <div class="grid-container">
      <h1>{t('works.import.title')}</h1>
      <p class="usa-intro">{t('works.import.lead')}</p>
      {error && (
        <Alert type="error" heading={t('works.import.failed')}>
          {error}
        </Alert>
      )}
      {result && (
        <>
          <Alert type={result.rejected.length || result.warnings?.length ? 'warning' : 'success'} heading={t('works.import.done')}>
            {result.line}
          </Alert>
          {result.rejected.length > 0 && (
            <table class="usa-table usa-table--compact">
              <caption>{t('works.import.rejected')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('works.import.line')}</th>
                  <th scope="col">{t('works.import.ref')}</th>
                  <th scope="col">{t('works.import.reason')}</th>
                </tr>
              </thead>
              <tbody>
                {result.rejected.map((r, i) => (
                  <tr key={i}>
                    <td>{r.line || '—'}</td>
                    <td>{r.ref ?? ''}</td>
                    <td>{r.code ? t(`works.reject.${r.code}`, r.params ?? {}) : r.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {(result.warnings?.length ?? 0) > 0 && (
            <table class="usa-table usa-table--compact">
              <caption>{t('works.import.warnings')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('works.import.line')}</th>
                  <th scope="col">{t('works.import.ref')}</th>
                  <th scope="col">{t('works.import.warning')}</th>
                </tr>
              </thead>
              <tbody>
                {result.warnings!.map((w, i) => (
                  <tr key={i}>
                    <td>{w.line}</td>
                    <td>{w.ref ?? ''}</td>
                    <td>{w.code ? t(`works.warn.${w.code}`, w.params ?? {}) : w.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
      <form class="usa-form" method="post" action={`/works/import?_csrf=${encodeURIComponent(ctx.csrfToken)}`} encType="multipart/form-data">
        <div class="usa-form-group">
          <label class="usa-label" for="f-file">
            {t('works.import.file')}
          </label>
          <span class="usa-hint" id="f-file-hint">
            {t('works.import.hint')}
          </span>
          <input class="usa-file-input" id="f-file" name="file" type="file" accept=".csv,.json,text/csv,application/json" aria-describedby="f-file-hint" required />
        </div>
        <CsrfField ctx={ctx} />
        <button class="usa-button" type="submit">
          {t('works.import.submit')}
        </button>
      </form>
    </div>
  );
}

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Alert, CsrfField, Pagination } from '../../core/ui/layout';
import type { PageContext } from '../../core/ui/context';
import { MapIsland } from '../../core/ui/map';
import { HttpError, notFound, requireUser } from '../../core/http/guards';
import {
  odDb,
  viewerOf,
  canEdit,
  canPublish,
  isPublic,
  findDataset,
  findResource,
  allThemes,
  themeCounts,
  searchDatasets,
  resourcesOf,
  resourceVersions,
  publicDatasets,
  officesByIds,
  countView,
  countDownload,
  datastoreInfo,
  type OdDb,
} from './store';
import { FACET_FIELDS, parseSort, type FacetField, type FilterClause } from './domain/search-query';
import { searchDatastore, tableRef, DatastoreQueryError } from './datastore';
import { cellProblem, columnTypeFromCkan } from './domain/tabular';
import { sql } from 'kysely';
import type { Translate } from '../../core/i18n';
import { setStatus, loadJobs } from './publishing';
import { CkanError } from './ckan';
import type { BarDatum } from './domain/chart';
import type { DatasetRow, DatasetStatus, DictionaryField, ResourceRow } from './tables';
import { BudgetExplorer, budgetData } from './views/budget';
import { BarChart } from './views/chart';
import { ShapeMap } from './views/map';
import { coordinate, coordinateColumns, shapesOf, validPosition, type MapShapes } from './domain/map';
import type { Services } from '../../core/services';
import { buffer } from 'node:stream/consumers';
import { ResourceForm, DictionaryForm, VersionForm, ckanType, languageName, typeLabel } from './publish-pages';

const PAGE_SIZE = 20;

function qs(params: Record<string, string | string[] | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const x of Array.isArray(v) ? v : v ? [v] : []) u.append(k, x);
  const s = u.toString();
  return s ? `?${s}` : '';
}

function asList(v: unknown): string[] {
  return Array.isArray(v) ? v.map(String) : typeof v === 'string' && v ? [v] : [];
}

const PREVIEW_PAGE = 25;
const CHART_BARS = 15;

/** A page number from the query: a whole number from 1 to `max` (1 for anything else: "abc", "-2", "1.5" is 1). */
function pageNumber(v: unknown, max: number): number {
  const n = Math.floor(Number(Array.isArray(v) ? v[0] : v));
  return Number.isFinite(n) ? Math.max(1, Math.min(max, n)) : 1;
}

/** A preview filter whose value cannot be compared with its column (the loader's rules), said in the page's language. */
function filterProblem(t: Translate, fields: DictionaryField[], filters: Record<string, string>): string | null {
  for (const [column, value] of Object.entries(filters)) {
    const ckan = column === '_id' ? 'int8' : (fields.find((f) => f.id === column)?.type ?? 'text');
    const type = columnTypeFromCkan(ckan) ?? 'text';
    if (cellProblem(type, value)) return t('open-data.preview.filter.invalid', { value, column, type: typeLabel(t, ckan), example: t(`open-data.preview.example.${type}`) });
  }
  return null;
}

/** A preview query the DataStore refused (or the database could not run): a localized note instead of the table. */
function previewProblem(t: Translate, err: unknown, request: FastifyRequest): string {
  if (err instanceof DatastoreQueryError && err.code) return t(`open-data.preview.${err.code}`);
  if (err instanceof DatastoreQueryError) return t('open-data.preview.error', { error: err.message });
  const code = (err as { code?: string }).code;
  if (code && /^(22|42)/.test(code)) {
    request.log.warn({ err }, 'resource preview query failed');
    return t('open-data.preview.error', { error: (err as Error).message });
  }
  throw err;
}

/**
 * Columns whose sum means nothing: codes rather than quantities (row ids, `*_id`, codes, numbers
 * of a file or contract, tax ids, coordinates, years and periods) and ratios (percentages, rates,
 * averages).
 */
function notSummable(name: string): boolean {
  const n = name.toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '');
  return (
    /^_?id$|[_\s-]id$|^id[_\s-]/.test(n) ||
    /^(cod|codigo|nro|n°|nº)([_\s.-]|$)|^(num|numero)$/.test(n) ||
    /[_\s-](cod|codigo|nro)$/.test(n) ||
    /^(cuit|cuil|dni|cp|codigo_postal)$/.test(n) ||
    /^(lat|lng|lon|long|latitud|longitud|latitude|longitude|x|y)$/.test(n) ||
    /(^|[_\s-])(ano|anio|year|ejercicio|periodo|mes|month)$/.test(n) ||
    /(^|[_\s-])(porcentaje|pct|percent|percentage|tasa|rate|ratio|promedio|average|avg|indice)([_\s-]|$)|%/.test(n)
  );
}

interface ResourceChart {
  data: BarDatum[];
  /** The column summed, and the one it is grouped by (null: the largest rows, by _id). */
  measure: string;
  category: string | null;
  /** Rows with a value in the measure, and how many categories they make. */
  rows: number;
  groups: number;
}

const chartLabel = (l: string) => (l.length > 40 ? `${l.slice(0, 39)}…` : l);

/**
 * The preview's chart over the whole table (one aggregate query, not a page of rows): the sum of
 * the first numeric column that is not an identifier or a ratio (notSummable), by the first text column, the largest
 * CHART_BARS; without a text column, the largest rows. No meaningful numeric column: no chart.
 */
async function resourceChart(db: OdDb, resourceId: string, fields: DictionaryField[]): Promise<ResourceChart | null> {
  const typed = fields.filter((f) => f.id !== '_id').map((f) => ({ id: f.id, type: columnTypeFromCkan(f.type) ?? 'text' }));
  const measure = typed.find((f) => (f.type === 'int' || f.type === 'numeric') && !notSummable(f.id));
  if (!measure) return null;
  const texts = typed.filter((f) => f.type === 'text');
  const category = texts.find((f) => !notSummable(f.id)) ?? texts[0];
  const table = sql.raw(tableRef(resourceId));
  const m = sql.id(measure.id);
  if (category) {
    const c = sql.id(category.id);
    const res = await sql<{ label: string | null; value: number; groups: unknown; rows: unknown }>`
      select ${c}::text as label, sum(${m})::float8 as value, count(*) over () as groups, sum(count(*)) over () as rows
      from ${table} where ${m} is not null group by 1 order by 2 desc, 1 limit ${CHART_BARS}`.execute(db);
    if (!res.rows.length) return null;
    return {
      data: res.rows.map((x) => ({ label: chartLabel(x.label ?? '—'), value: Number(x.value) })),
      measure: measure.id,
      category: category.id,
      rows: Number(res.rows[0].rows),
      groups: Number(res.rows[0].groups),
    };
  }
  const res = await sql<{ id: unknown; value: number; rows: unknown }>`
    select "_id" as id, ${m}::float8 as value, count(*) over () as rows
    from ${table} where ${m} is not null order by 2 desc, 1 limit ${CHART_BARS}`.execute(db);
  if (!res.rows.length) return null;
  return { data: res.rows.map((x) => ({ label: `#${x.id}`, value: Number(x.value) })), measure: measure.id, category: null, rows: Number(res.rows[0].rows), groups: Number(res.rows[0].rows) };
}

// The aggregate reads the whole table (seconds on millions of rows, and PGlite cannot cancel it):
// computed once per state of the table — every load and DataStore write sets loaded_at.
const chartCache = new Map<string, { state: string; chart: ResourceChart | null }>();
async function cachedChart(db: OdDb, resourceId: string, fields: DictionaryField[], state: string): Promise<ResourceChart | null> {
  const hit = chartCache.get(resourceId);
  if (hit && hit.state === state) return hit.chart;
  const chart = await resourceChart(db, resourceId, fields);
  chartCache.delete(resourceId);
  chartCache.set(resourceId, { state, chart });
  if (chartCache.size > 500) chartCache.delete(chartCache.keys().next().value!);
  return chart;
}

function DatasetCard({ d, ctx }: { d: DatasetRow; ctx: PageContext }) {
  return (
    <li class="usa-collection__item">
      <div class="usa-collection__body">
        <h3 class="usa-collection__heading">
          <a class="usa-link" href={`/datasets/${d.name}`}>
            {d.title}
          </a>
        </h3>
        <p class="usa-collection__description">{d.notes.length > 240 ? `${d.notes.slice(0, 240)}…` : d.notes}</p>
        <ul class="usa-collection__meta" aria-label={ctx.t('open-data.meta')}>
          <li class="usa-collection__meta-item">{ctx.t('open-data.modified', { date: ctx.fmt.date(d.metadata_modified) })}</li>
          {d.status !== 'published' && <li class="usa-collection__meta-item usa-tag">{ctx.t(`open-data.status.${d.status}`)}</li>}
        </ul>
      </div>
    </li>
  );
}

export async function pages(app: FastifyInstance) {
  const services = app.services;
  const db = odDb(services);

  app.get('/datasets', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const t = request.t;
    const ctx = request.pageContext();
    const q = typeof query.q === 'string' ? query.q.slice(0, 200) : '';
    const page = pageNumber(query.page, 1000);
    const filters: FilterClause[] = [];
    const selected: Partial<Record<FacetField, string[]>> = {};
    for (const f of FACET_FIELDS) {
      const values = asList(query[f]);
      if (values.length) {
        selected[f] = values;
        // Several values of one facet narrow step by step, as CKAN's pages do.
        for (const v of values) filters.push({ field: f, values: [v], negate: false });
      }
    }
    const sortKey = ['metadata_modified desc', 'title_string asc', 'views_recent desc', 'score desc'].includes(String(query.sort)) ? String(query.sort) : q ? 'score desc' : 'metadata_modified desc';
    const result = await searchDatasets(db, {
      text: q,
      filters,
      sort: parseSort(sortKey === 'score desc' ? null : sortKey),
      rows: PAGE_SIZE,
      start: (page - 1) * PAGE_SIZE,
      facets: [...FACET_FIELDS],
      facetLimit: 12,
      viewer: viewerOf(request.user),
      includePrivate: false,
    });
    const [themes, offices] = await Promise.all([themeCounts(db), db.selectFrom('offices').select(['slug', 'name']).execute()]);
    const label = (f: FacetField, v: string) => (f === 'groups' ? (themes.find((x) => x.name === v)?.title ?? v) : f === 'organization' ? (offices.find((o) => o.slug === v)?.name ?? v) : v);
    const base = { q: q || undefined, sort: query.sort ? sortKey : undefined, ...Object.fromEntries(Object.entries(selected)) } as Record<string, string | string[] | undefined>;
    const toggle = (f: FacetField, v: string) => {
      const cur = selected[f] ?? [];
      return `/datasets${qs({ ...base, [f]: cur.includes(v) ? cur.filter((x) => x !== v) : [...cur, v], page: undefined })}`;
    };
    const popular = !q && !filters.length && page === 1 ? await publicDatasets(db, { limit: 5, offset: 0, orderBy: 'usage' }) : [];
    const pages = Math.max(1, Math.ceil(result.count / PAGE_SIZE));
    return reply.page(
      t('open-data.title'),
      <div class="grid-container">
        <h1>{t('open-data.title')}</h1>
        <p class="usa-intro">{t('open-data.intro')}</p>
        <form class="usa-search margin-bottom-3" role="search" method="get" action="/datasets">
          <label class="usa-sr-only" for="od-q">
            {t('open-data.search.label')}
          </label>
          <input class="usa-input" id="od-q" type="search" name="q" value={q} />
          <button class="usa-button" type="submit">
            {t('open-data.search.button')}
          </button>
        </form>
        {!q && !filters.length && (
          <section aria-labelledby="od-sectors">
            <h2 id="od-sectors">{t('open-data.sectors')}</h2>
            <ul class="usa-card-group">
              {themes.map((th) => (
                <li class="usa-card tablet:grid-col-4" key={th.name}>
                  <div class="usa-card__container">
                    <div class="usa-card__body">
                      <h3 class="usa-card__heading">
                        <a href={`/datasets?groups=${encodeURIComponent(th.name)}`}>{th.title}</a>
                      </h3>
                      <p>{t('open-data.count', { count: th.count })}</p>
                    </div>
                  </div>
                </li>
              ))}
            </ul>
            <p>
              <a href="/datasets/budget">{t('open-data.budget.link')}</a>
            </p>
          </section>
        )}
        {popular.length > 0 && (
          <section aria-labelledby="od-popular">
            <h2 id="od-popular">{t('open-data.popular')}</h2>
            <ol>
              {popular.map((d) => (
                <li key={d.id}>
                  <a href={`/datasets/${d.name}`}>{d.title}</a> ({t('open-data.usage', { views: d.views, downloads: d.downloads })})
                </li>
              ))}
            </ol>
          </section>
        )}
        <div class="grid-row grid-gap">
          <aside class="tablet:grid-col-4" aria-labelledby="od-facets">
            <h2 id="od-facets">{t('open-data.filter')}</h2>
            {FACET_FIELDS.map((f) =>
              result.facets[f]?.length ? (
                <section key={f}>
                  <h3>{t(`open-data.facet.${f}`)}</h3>
                  <ul class="usa-list usa-list--unstyled">
                    {result.facets[f]!.map((item) => (
                      <li key={item.name}>
                        <a href={toggle(f, item.name)} aria-current={selected[f]?.includes(item.name) ? 'true' : undefined}>
                          {selected[f]?.includes(item.name) ? '✓ ' : ''}
                          {label(f, item.name)} ({item.count})
                        </a>
                      </li>
                    ))}
                  </ul>
                </section>
              ) : null,
            )}
          </aside>
          <section class="tablet:grid-col-8" aria-labelledby="od-results">
            <h2 id="od-results">{t('open-data.results', { count: result.count })}</h2>
            <form method="get" action="/datasets" class="margin-bottom-2">
              {q && <input type="hidden" name="q" value={q} />}
              {Object.entries(selected).flatMap(([f, vs]) => vs!.map((v) => <input type="hidden" name={f} value={v} key={`${f}-${v}`} />))}
              <label class="usa-label" for="od-sort">
                {t('open-data.sort')}
              </label>
              <select class="usa-select" id="od-sort" name="sort">
                {['score desc', 'metadata_modified desc', 'title_string asc', 'views_recent desc'].map((s) => (
                  <option value={s} selected={s === sortKey} key={s}>
                    {t(`open-data.sort.${s.split(' ')[0]}`)}
                  </option>
                ))}
              </select>
              <button class="usa-button usa-button--outline" type="submit">
                {t('open-data.sort.apply')}
              </button>
            </form>
            <ul class="usa-collection">
              {result.datasets.map((d) => (
                <DatasetCard d={d} ctx={ctx} key={d.id} />
              ))}
            </ul>
            <Pagination ctx={ctx} page={page} pages={pages} href={(p) => `/datasets${qs({ ...base, page: String(p) })}`} />
          </section>
        </div>
      </div>,
    );
  });

  app.get('/datasets/budget', async (request, reply) => {
    const t = request.t;
    const data = await budgetData(services);
    return reply.page(t('open-data.budget.title'), <BudgetExplorer ctx={request.pageContext()} data={data} />, {
      breadcrumbs: [{ href: '/datasets', label: t('open-data.title') }, { label: t('open-data.budget.title') }],
    });
  });

  async function visible(request: FastifyRequest, name: string): Promise<DatasetRow> {
    const d = await findDataset(db, name);
    if (!d) throw notFound();
    if (!isPublic(d) && !canEdit(viewerOf(request.user), d.office_id)) throw notFound();
    return d;
  }

  app.get('/datasets/publish', { preHandler: requireUser }, async (request, reply) => {
    const t = request.t;
    const viewer = viewerOf(request.user);
    const rows = await db
      .selectFrom('od_datasets')
      .selectAll()
      .where('state', '=', 'active')
      .where((eb) => (viewer.admin ? eb.val(true) : viewer.officeIds.length ? eb('office_id', 'in', viewer.officeIds) : eb.val(false)))
      .orderBy('metadata_modified', 'desc')
      .limit(200)
      .execute();
    const ctx = request.pageContext();
    return reply.page(
      t('open-data.publish.title'),
      <div class="grid-container">
        <h1>{t('open-data.publish.title')}</h1>
        <p>{t('open-data.publish.intro')}</p>
        <p>
          <a class="usa-button" href="/datasets/new">
            {t('open-data.new.title')}
          </a>
        </p>
        <table class="usa-table usa-table--stacked">
          <caption>{t('open-data.publish.caption')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('open-data.dataset')}</th>
              <th scope="col">{t('open-data.status')}</th>
              <th scope="col">{t('open-data.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((d) => (
              <tr key={d.id}>
                <th scope="row">
                  <a href={`/datasets/${d.name}`}>{d.title}</a>
                </th>
                <td>{t(`open-data.status.${d.status}`)}</td>
                <td>
                  <StatusForm ctx={ctx} d={d} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>,
    );
  });

  app.post('/datasets/:name/status', { preHandler: requireUser }, async (request, reply) => {
    const { name } = request.params as { name: string };
    const status = String((request.body as Record<string, unknown>)?.status ?? '') as DatasetStatus;
    if (!['draft', 'review', 'published'].includes(status)) throw new HttpError(400, 'Unknown status', 'open-data.error.status');
    try {
      await setStatus(services, request.actor(), viewerOf(request.user), name, status);
    } catch (err) {
      if (err instanceof CkanError) {
        if (err.status === 404) throw new HttpError(404, err.message, 'open-data.status.notfound');
        if (err.status === 403) throw new HttpError(403, err.message, /administrators publish/.test(err.message) ? 'open-data.status.admins' : 'open-data.error.office');
        throw new HttpError(400, err.message, 'error.400.title');
      }
      throw err;
    }
    return reply.redirect(`/datasets/${encodeURIComponent(name)}`, 303);
  });

  app.get('/datasets/:name', async (request, reply) => {
    const { name } = request.params as { name: string };
    const t = request.t;
    const d = await visible(request, name);
    if (isPublic(d)) await countView(db, d.id);
    const [resources, themes, offices] = await Promise.all([resourcesOf(db, [d.id]), allThemes(db), officesByIds(db, [d.office_id])]);
    const list = resources.get(d.id) ?? [];
    const versions = await Promise.all(list.map((r) => resourceVersions(db, r.id)));
    const jobs = await loadJobs(db, list.map((r) => r.id));
    const office = offices.get(d.office_id);
    const ctx = request.pageContext();
    const editor = canEdit(viewerOf(request.user), d.office_id);
    const base = services.config.baseUrl;
    const meta: Array<[string, string | null]> = [
      [t('open-data.field.publisher'), office?.name ?? ''],
      [t('open-data.field.theme'), d.themes.map((n) => themes.find((x) => x.name === n)?.title ?? n).join(', ')],
      [t('open-data.field.keywords'), d.tags.join(', ')],
      [t('open-data.field.license'), d.license_title || d.license_id],
      [t('open-data.field.contact'), [d.maintainer, d.maintainer_email].filter(Boolean).join(' · ')],
      [t('open-data.field.periodicity'), d.accrual_periodicity],
      [t('open-data.field.temporal'), d.temporal],
      [t('open-data.field.spatial'), d.spatial],
      [t('open-data.field.issued'), d.issued ? ctx.fmt.date(d.issued) : null],
      [t('open-data.field.modified'), ctx.fmt.date(d.modified ?? d.metadata_modified)],
      [t('open-data.field.language'), d.language.map((code) => languageName(ctx.locale, code)).join(', ')],
    ];
    return reply.page(
      d.title,
      <div class="grid-container">
        <h1>{d.title}</h1>
        {!isPublic(d) && <Alert type="warning">{t(`open-data.status.${d.status}`)}</Alert>}
        <p class="usa-intro">{d.notes}</p>
        {editor && <StatusForm ctx={ctx} d={d} />}
        {editor && (
          <p>
            <a class="usa-button usa-button--outline" href={`/datasets/${d.name}/edit`}>
              {t('open-data.edit.link')}
            </a>
          </p>
        )}
        <h2>{t('open-data.resources')}</h2>
        <ul class="usa-collection">
          {list.map((r, i) => (
            <li class="usa-collection__item" key={r.id}>
              <div class="usa-collection__body">
                <h3 class="usa-collection__heading">
                  <a href={`/datasets/${d.name}/resource/${r.id}`}>{r.name || r.id}</a> <span class="usa-tag">{r.format || '—'}</span>
                </h3>
                <p class="usa-collection__description">{r.description}</p>
                <p>
                  <a class="usa-button usa-button--outline" href={`/datasets/${d.name}/resource/${r.id}/download`}>
                    {t('open-data.download')}
                  </a>{' '}
                  {r.datastore_active && <a href={`/datasets/${d.name}/resource/${r.id}`}>{t('open-data.preview')}</a>}
                </p>
                {editor && <LoadJobNote ctx={ctx} job={jobs.get(r.id)} />}
                {versions[i].length > 1 && (
                  <details>
                    <summary>{t('open-data.versions', { count: versions[i].length })}</summary>
                    <ol reversed>
                      {versions[i].map((v) => (
                        <li key={v.id}>
                          <a href={`/datasets/${d.name}/resource/${r.id}/download?version=${v.version}`}>{t('open-data.version', { version: v.version, date: ctx.fmt.dateTime(v.created_at) })}</a>
                        </li>
                      ))}
                    </ol>
                  </details>
                )}
              </div>
            </li>
          ))}
        </ul>
        {editor && <ResourceForm ctx={ctx} datasetName={d.name} />}
        <h2>{t('open-data.metadata')}</h2>
        <table class="usa-table usa-table--borderless">
          <caption class="usa-sr-only">{t('open-data.metadata')}</caption>
          <tbody>
            {meta
              .filter(([, v]) => v)
              .map(([k, v]) => (
                <tr key={k}>
                  <th scope="row">{k}</th>
                  <td>{v}</td>
                </tr>
              ))}
          </tbody>
        </table>
        <h2>{t('open-data.api')}</h2>
        <p>{t('open-data.api.lead')}</p>
        <pre class="od-snippet">
          <code>{`curl '${base}/api/3/action/package_show?id=${d.name}'`}</code>
        </pre>
      </div>,
      { breadcrumbs: [{ href: '/datasets', label: t('open-data.title') }, { label: d.title }] },
    );
  });

  app.get('/datasets/:name/resource/:id', async (request, reply) => {
    const { name, id } = request.params as { name: string; id: string };
    const query = request.query as Record<string, string | undefined>;
    const t = request.t;
    const d = await visible(request, name);
    const r = await findResource(db, id);
    if (!r || r.dataset_id !== d.id) throw notFound();
    const info = await datastoreInfo(db, r.id);
    const ctx = request.pageContext();
    const editor = canEdit(viewerOf(request.user), d.office_id);
    const job = editor ? (await loadJobs(db, [r.id])).get(r.id) : undefined;
    let preview: Awaited<ReturnType<typeof searchDatastore>> | null = null;
    let chart: ResourceChart | null = null;
    let problem: string | null = null;
    let page = pageNumber(query.page, 100000);
    /** Set when the page asked for lies past the end: the last page is shown instead. */
    let pastEnd: number | null = null;
    const sortCol = query.sort && info?.fields.some((f) => f.id === query.sort) ? query.sort : undefined;
    const dir = query.dir === 'desc' ? 'desc' : 'asc';
    if (info) {
      const filters: Record<string, string> = {};
      if (query.col && query.val && (query.col === '_id' || info.fields.some((f) => f.id === query.col))) filters[query.col] = query.val;
      problem = filterProblem(t, info.fields, filters);
      if (!problem) {
        // Big tables show an estimated total (CKAN's total_estimation_threshold) instead of counting every row.
        const search = (p: number) =>
          searchDatastore(db, r.id, info, { q: query.q || undefined, filters, sort: sortCol ? `${sortCol} ${dir}` : undefined, limit: PREVIEW_PAGE, offset: (p - 1) * PREVIEW_PAGE, totalEstimationThreshold: 100_000 });
        try {
          preview = await search(page);
          const last = Math.max(1, Math.ceil((preview.total ?? 0) / PREVIEW_PAGE));
          if (page > last && !preview.records.length) {
            // Past the end: the last page instead (no note when nothing matches at all).
            if (preview.total) pastEnd = page;
            page = last;
            if (preview.total) preview = await search(page);
          }
        } catch (err) {
          problem = previewProblem(t, err, request);
        }
      }
      chart = await cachedChart(db, r.id, info.fields, `${new Date(info.loaded_at).getTime()}|${info.row_count}|${JSON.stringify(info.fields)}`).catch((err) => {
        // The chart is an extra: a table it cannot sum leaves the page without it, not in error.
        request.log.warn({ err, resource: r.id }, 'resource chart failed');
        return null;
      });
    }
    const map = await mapShapes(services, d, r);
    const shapes = map && 'shapes' in map ? map.shapes : undefined;
    const link = (p: Record<string, string | undefined>) => `/datasets/${d.name}/resource/${r.id}${qs({ q: query.q, col: query.col, val: query.val, sort: sortCol, dir: sortCol ? dir : undefined, ...p })}`;
    return reply.page(
      r.name || r.id,
      <div class="grid-container">
        <h1>{r.name || r.id}</h1>
        <p>{r.description}</p>
        <p>
          <a class="usa-button" href={`/datasets/${d.name}/resource/${r.id}/download`}>
            {t('open-data.download')} ({r.format || '—'})
          </a>
        </p>
        {r.fields.length > 0 && (
          <table class="usa-table">
            <caption>{t('open-data.dictionary')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('open-data.dictionary.field')}</th>
                <th scope="col">{t('open-data.dictionary.type')}</th>
                <th scope="col">{t('open-data.dictionary.description')}</th>
                <th scope="col">{t('open-data.dictionary.unit')}</th>
              </tr>
            </thead>
            <tbody>
              {r.fields.map((f) => (
                <tr key={f.id}>
                  <th scope="row">{f.id}</th>
                  <td>{typeLabel(t, f.info?.type_override ? ckanType(f.info.type_override) : f.type)}</td>
                  <td>{f.info?.notes}</td>
                  <td>{f.info?.unit}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {query.saved === 'version' && editor && <Alert type="success">{t('open-data.version.saved')}</Alert>}
        {editor && <LoadJobNote ctx={ctx} job={job} />}
        {editor && r.fields.length > 0 && <DictionaryForm ctx={ctx} action={`/datasets/${d.name}/resource/${r.id}/dictionary`} fields={r.fields} />}
        {editor && <VersionForm ctx={ctx} datasetName={d.name} resourceId={r.id} />}
        {map && 'unreadable' in map && <Alert type="warning">{t('open-data.map.unreadable')}</Alert>}
        {map && 'shapes' in map && shapes && (
          // The island swaps this SVG for Leaflet: the city's communes (or the file's own shapes)
          // under the resource's points, each with a popup; without JavaScript the SVG stays.
          <MapIsland
            ctx={ctx}
            geojsonUrl={map.hasShapes ? `/datasets/${d.name}/resource/${r.id}/shapes.geojson` : undefined}
            pointsUrl={map.hasPoints ? `/datasets/${d.name}/resource/${r.id}/points.geojson` : undefined}
            attribution={map.hasShapes ? '' : undefined}
            label={t('open-data.map.title', { name: r.name || r.id })}
          >
            <div class="city-map">
              <ShapeMap ctx={ctx} title={t('open-data.map.title', { name: r.name || r.id })} shapes={shapes} />
            </div>
          </MapIsland>
        )}
        {!info && !map && <Alert type="info">{t('open-data.preview.none')}</Alert>}
        {info && (
          <section aria-labelledby="od-preview">
            <h2 id="od-preview">{t('open-data.preview')}</h2>
            <form method="get" class="usa-form usa-form--large">
              <label class="usa-label" for="od-pq">
                {t('open-data.preview.search')}
              </label>
              <input class="usa-input" id="od-pq" name="q" value={query.q ?? ''} />
              <label class="usa-label" for="od-col">
                {t('open-data.preview.column')}
              </label>
              <select class="usa-select" id="od-col" name="col">
                <option value="">—</option>
                {info.fields.map((f) => (
                  <option value={f.id} selected={query.col === f.id} key={f.id}>
                    {f.id}
                  </option>
                ))}
              </select>
              <label class="usa-label" for="od-val">
                {t('open-data.preview.value')}
              </label>
              <input class="usa-input" id="od-val" name="val" value={query.val ?? ''} />
              <button class="usa-button" type="submit">
                {t('open-data.preview.apply')}
              </button>
            </form>
            {problem && <Alert type="error">{problem}</Alert>}
            {pastEnd != null && <Alert type="info">{t('open-data.preview.last', { page: pastEnd, last: page })}</Alert>}
            {preview && (
              <>
                <p>{t(preview.totalWasEstimated ? 'open-data.preview.total.estimated' : 'open-data.preview.total', { count: preview.total ?? 0 })}</p>
                <div class="usa-table-container--scrollable" tabIndex={0}>
                  <table class="usa-table usa-table--striped">
                    <caption>{t('open-data.preview.caption', { name: r.name || r.id })}</caption>
                    <thead>
                      <tr>
                        {preview.fields.map((f) => (
                          <th scope="col" key={f.id} aria-sort={sortCol === f.id ? (dir === 'asc' ? 'ascending' : 'descending') : undefined}>
                            <a href={link({ sort: f.id, dir: sortCol === f.id && dir === 'asc' ? 'desc' : 'asc', page: undefined })}>{f.id}</a>
                          </th>
                        ))}
                      </tr>
                    </thead>
                    <tbody>
                      {preview.records.map((rec, i) => (
                        <tr key={i}>
                          {preview!.fields.map((f) => (
                            <td key={f.id}>{rec[f.id] == null ? '' : String(rec[f.id])}</td>
                          ))}
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
                <Pagination ctx={ctx} page={page} pages={Math.max(1, Math.ceil((preview.total ?? 0) / PREVIEW_PAGE))} href={(p) => link({ page: String(p) })} />
              </>
            )}
            {chart && (
              <>
                <BarChart ctx={ctx} title={t('open-data.chart.title', { name: r.name || r.id })} data={chart.data} />
                <p class="usa-hint">
                  {chart.category
                    ? t('open-data.chart.caption', { measure: chart.measure, category: chart.category, rows: ctx.fmt.number(chart.rows), shown: ctx.fmt.number(chart.data.length), groups: ctx.fmt.number(chart.groups) })
                    : t('open-data.chart.caption.rows', { measure: chart.measure, shown: ctx.fmt.number(chart.data.length), rows: ctx.fmt.number(chart.rows) })}
                </p>
              </>
            )}
          </section>
        )}
      </div>,
      { breadcrumbs: [{ href: '/datasets', label: t('open-data.title') }, { href: `/datasets/${d.name}`, label: d.title }, { label: r.name || r.id }], ...(shapes ? { islands: ['map'], styles: ['leaflet'] } : {}) },
    );
  });

  /** The resource's points for the interactive map (a GeoJSON FeatureCollection of Points). */
  app.get('/datasets/:name/resource/:id/points.geojson', async (request, reply) => {
    const { name, id } = request.params as { name: string; id: string };
    const d = await visible(request, name);
    const r = await findResource(db, id);
    if (!r || r.dataset_id !== d.id) throw notFound();
    const points = await resourcePoints(services, d, r).catch(unreadableAsNull);
    if (!points) throw notFound();
    return reply.type('application/geo+json; charset=utf-8').send(JSON.stringify({ type: 'FeatureCollection', features: points }));
  });

  /** A GeoJSON resource's own features (areas, lines), the interactive map's base layer. */
  app.get('/datasets/:name/resource/:id/shapes.geojson', async (request, reply) => {
    const { name, id } = request.params as { name: string; id: string };
    const d = await visible(request, name);
    const r = await findResource(db, id);
    if (!r || r.dataset_id !== d.id) throw notFound();
    const geo = (await resourceGeoJson(services, r).catch(unreadableAsNull)) as { type?: string; features?: unknown } | null;
    if (!geo || (geo.type !== 'FeatureCollection' && geo.type !== 'Feature') || (geo.type === 'FeatureCollection' && !Array.isArray(geo.features))) throw notFound();
    return reply.type('application/geo+json; charset=utf-8').send(JSON.stringify(geo.type === 'Feature' ? { type: 'FeatureCollection', features: [geo] } : geo));
  });

  app.get('/datasets/:name/resource/:id/download', async (request, reply) => {
    const { name, id } = request.params as { name: string; id: string };
    const version = Number((request.query as Record<string, string>).version) || null;
    const d = await visible(request, name);
    const r = await findResource(db, id);
    if (!r || r.dataset_id !== d.id) throw notFound();
    let target: Pick<ResourceRow, 'file_id' | 'url'> = r;
    if (version) {
      const v = (await resourceVersions(db, r.id)).find((x) => x.version === version);
      if (!v) throw notFound();
      target = v;
    }
    await countDownload(db, r.id, d.id);
    if (target.file_id) {
      const file = await db.selectFrom('files').selectAll().where('id', '=', target.file_id).executeTakeFirst();
      if (!file) throw notFound();
      return reply
        .type(file.content_type)
        .header('content-disposition', `attachment; filename="${file.original_name.replace(/[^\w.-]/g, '_')}"`)
        .send(services.files.storage.read(file.id));
    }
    if (!/^https?:\/\//.test(target.url)) throw notFound();
    return reply.redirect(target.url, 302);
  });
}

const GEO_LIMIT = 5 * 1024 * 1024;
const POINT_LIMIT = 5000;

/** A GeoJSON resource whose file cannot be read back (missing, unreadable) or is not GeoJSON. */
class GeoUnreadable extends Error {}

/** The map's routes answer 404 for a GeoJSON they cannot read; the resource page says why. */
const unreadableAsNull = (err: unknown): null => {
  if (err instanceof GeoUnreadable) return null;
  throw err;
};

/**
 * An uploaded GeoJSON file (up to 5 MB) or the GeoJSON a module publishes through the registry.
 * Throws GeoUnreadable when the stored file is gone or unreadable, or does not parse as JSON.
 */
async function resourceGeoJson(services: Services, r: ResourceRow): Promise<unknown | null> {
  if (!/geojson/i.test(r.format)) return null;
  let text: string | null = null;
  try {
    if (r.file_id && (r.size ?? 0) <= GEO_LIMIT) text = (await buffer(services.files.storage.read(r.file_id) as NodeJS.ReadableStream)).toString('utf8');
    else if (r.id.startsWith('registry-')) {
      for (const { dataset } of services.registry.datasets()) {
        const res = dataset.resources.find((x) => r.id === `registry-${dataset.slug}-${x.slug}`);
        if (res) text = String(await res.produce(services));
      }
    }
  } catch (err) {
    throw new GeoUnreadable(err instanceof Error ? err.message : String(err));
  }
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new GeoUnreadable((err as Error).message);
  }
}

/** Runs a step over a GeoJSON's content: a structure it cannot walk (features that are not a list…) is a broken file. */
function walkGeo<T>(step: () => T): T {
  try {
    return step();
  } catch (err) {
    throw new GeoUnreadable(err instanceof Error ? err.message : String(err));
  }
}

interface PointFeature {
  type: 'Feature';
  geometry: { type: 'Point'; coordinates: [number, number] };
  properties: { title: string; url?: string };
}

/** A name for a point in its popup: the first property that reads like one. */
function pointTitle(props: Record<string, unknown> | null | undefined, fallback: string): string {
  const p = props ?? {};
  const key = Object.keys(p).find((k) => /^(name|nombre|title|titulo|título|barrio|descripcion|direccion)$/i.test(k) && p[k] != null && p[k] !== '');
  return key ? String(p[key]) : fallback;
}

/**
 * The resource's points as a GeoJSON FeatureCollection (what the interactive map draws): rows of
 * a DataStore table with latitude/longitude columns (each links to its row in the preview), or
 * the Point features of a GeoJSON resource. Null when the resource has no points.
 */
async function resourcePoints(services: Services, d: DatasetRow, r: ResourceRow): Promise<PointFeature[] | null> {
  const db = odDb(services);
  const info = r.datastore_active ? await datastoreInfo(db, r.id) : undefined;
  const coords = info ? coordinateColumns(info.fields.map((f) => f.id)) : null;
  if (info && coords) {
    const label = info.fields.find((f) => f.id !== coords.lat && f.id !== coords.lng && f.type === 'text')?.id;
    const rows = await searchDatastore(db, r.id, info, { fields: ['_id', coords.lat, coords.lng, ...(label ? [label] : [])], limit: POINT_LIMIT, includeTotal: false });
    const out: PointFeature[] = [];
    for (const x of rows.records) {
      const lng = coordinate(x[coords.lng]);
      const lat = coordinate(x[coords.lat]);
      if (!validPosition(lng, lat)) continue;
      out.push({
        type: 'Feature',
        geometry: { type: 'Point', coordinates: [lng, lat!] },
        properties: { title: label && x[label] != null ? String(x[label]) : `#${x._id}`, url: `/datasets/${d.name}/resource/${r.id}?col=_id&val=${x._id}` },
      });
    }
    return out;
  }
  const geo = (await resourceGeoJson(services, r)) as { type?: string; features?: Array<{ geometry?: { type?: string; coordinates?: unknown }; properties?: Record<string, unknown> }> } | null;
  if (!geo) return null;
  const out: PointFeature[] = [];
  walkGeo(() => {
    const features = geo.type === 'FeatureCollection' ? (geo.features ?? []) : geo.type === 'Feature' ? [geo as NonNullable<typeof geo.features>[number]] : [];
    for (const [i, f] of features.entries()) {
      const g = f?.geometry;
      const positions = g?.type === 'Point' ? [g.coordinates as [number, number]] : g?.type === 'MultiPoint' ? (g.coordinates as Array<[number, number]>) : [];
      for (const [lng, lat] of positions) {
        if (validPosition(coordinate(lng), coordinate(lat)) && out.length < POINT_LIMIT) out.push({ type: 'Feature', geometry: { type: 'Point', coordinates: [lng, lat] }, properties: { title: pointTitle(f.properties, `#${i + 1}`) } });
      }
    }
  });
  return out.length ? out : null;
}

/**
 * What the server-side SVG map draws: the same points, and a GeoJSON resource's shapes. A
 * GeoJSON whose file cannot be read or walked gives `unreadable`: the page says so, without a map.
 */
async function mapShapes(services: Services, d: DatasetRow, r: ResourceRow): Promise<{ shapes: MapShapes; hasPoints: boolean; hasShapes: boolean } | { unreadable: true } | null> {
  try {
    const points = await resourcePoints(services, d, r);
    const geo = r.datastore_active && points ? null : await resourceGeoJson(services, r);
    const shapes: MapShapes = geo ? walkGeo(() => shapesOf(geo)) : { points: [], lines: [] };
    if (points && !geo) shapes.points = points.map((p) => p.geometry.coordinates);
    if (!shapes.points.length && !shapes.lines.length) return null;
    return { shapes, hasPoints: !!points?.length, hasShapes: shapes.lines.length > 0 };
  } catch (err) {
    if (err instanceof GeoUnreadable) return { unreadable: true };
    throw err;
  }
}

/** For the dataset's editors: a DataStore load waiting in (or failed in) the job queue, linked to its page. */
function LoadJobNote({ ctx, job }: { ctx: PageContext; job?: { id: number; status: string; error: string | null } }) {
  if (!job || job.status === 'done') return null;
  const link = <a href={`/jobs/${job.id}`}>{ctx.t('open-data.load.job', { id: job.id })}</a>;
  return job.status === 'failed' ? (
    <Alert type="error">
      {ctx.t('open-data.load.failed', { error: job.error ?? '' })} {link}
    </Alert>
  ) : (
    <Alert type="info">
      {ctx.t('open-data.load.queued')} {link}
    </Alert>
  );
}

/** The moves the user may make: editors draft ⇄ review; the office's administrators also publish and unpublish. */
function StatusForm({ ctx, d }: { ctx: PageContext; d: DatasetRow }) {
  const publisher = canPublish(viewerOf(ctx.user), d.office_id);
  const all: DatasetStatus[] = d.status === 'draft' ? ['review', 'published'] : d.status === 'review' ? ['published', 'draft'] : ['draft'];
  const next = all.filter((s) => publisher || (s !== 'published' && d.status !== 'published'));
  if (!next.length) return <p class="usa-hint">{ctx.t('open-data.status.admins')}</p>;
  return (
    <form method="post" action={`/datasets/${d.name}/status`} class="od-inline-form">
      <CsrfField ctx={ctx} />
      <label class="usa-label" for={`st-${d.id}`}>
        {ctx.t('open-data.status.change')}
      </label>
      <select class="usa-select" id={`st-${d.id}`} name="status">
        {next.map((s) => (
          <option value={s} key={s}>
            {ctx.t(`open-data.status.${s}`)}
          </option>
        ))}
      </select>
      <button class="usa-button usa-button--outline" type="submit">
        {ctx.t('open-data.status.apply')}
      </button>
    </form>
  );
}

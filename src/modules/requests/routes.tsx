import type { FastifyInstance, FastifyRequest } from 'fastify';
import { stringify } from 'csv-stringify/sync';
import { requireUser, requireRole, requireAdmin, assertOfficeMember, HttpError, notFound } from '../../core/http/guards';
import { Section, Alert, CsrfField, Field, Pagination } from '../../core/ui/layout';
import type { PageContext } from '../../core/ui/context';
import { open311 } from './open311';
import { fileRequest, FilingError, locateAddress, MAX_PHOTOS, type FilingProblem } from './filing';
import { parseCoordinate } from './domain/geo';
import { checkTransition, isOpen, isStatus, isOverdue, STATUSES, OPEN_STATUSES, CLOSED_STATUSES, type RequestStatus } from './domain/status';
import { DATATYPES, attributeCodePattern, type AttributeDatatype } from './domain/attributes';
import {
  rqDb,
  listServices,
  serviceByCode,
  serviceById,
  attributesOf,
  findNearby,
  getRequest,
  listRequests,
  countRequests,
  photosOf,
  timelineOf,
  ratingOf,
  hasUpvoted,
  upvote,
  rate,
  setStatus,
  addUpdate,
  merge,
  reassign,
  notifyFollowers,
  audit,
  dashboard,
  publicStats,
  saveService,
  saveAttribute,
  deleteAttribute,
  placeRequest,
  serviceCatalogue,
  ratingSignatureValid,
  type RequestFilters,
  type RqDb,
  type RequestView,
} from './store';
import { CityMap } from './views/map';
import { CommunesMap, MapIsland } from '../../core/ui/map';

const PAGE_SIZE = 25;

function q(request: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((request.query as Record<string, unknown>) ?? {})) {
    const s = Array.isArray(v) ? v[0] : v;
    if (typeof s === 'string' && s.trim() !== '') out[k] = s.trim();
  }
  return out;
}

const int = (s: string | undefined) => (s && /^\d{1,9}$/.test(s) ? Number(s) : undefined);

/** The list's filters as the map API's query: the interactive map shows what the list shows. */
function mapQuery(query: Record<string, string>, bounds: [number, number, number, number]): string {
  const p = new URLSearchParams({ bbox: bounds.join(',') });
  for (const k of ['service', 'status', 'commune', 'neighbourhood', 'from', 'to']) if (query[k]) p.set(k, query[k]);
  return p.toString();
}

function serviceName(ctx: PageContext, s: { service_name?: string; service_name_en?: string | null; name?: string; name_en?: string | null }) {
  const es = s.service_name ?? s.name ?? '';
  const en = s.service_name_en ?? s.name_en;
  return ctx.locale === 'en' && en ? en : es;
}

function StatusTag({ ctx, status, overdue }: { ctx: PageContext; status: RequestStatus; overdue?: boolean }) {
  return (
    <>
      <span class={`usa-tag ${isOpen(status) ? 'bg-secondary' : 'bg-green'}`}>{ctx.t(`requests.status.${status}`)}</span>
      {overdue && <span class="usa-tag bg-error-dark margin-left-05">{ctx.t('requests.overdue')}</span>}
    </>
  );
}

function where(ctx: PageContext, r: { address: string | null; neighbourhood_name: string | null; commune_name: string | null }) {
  return [r.address, r.neighbourhood_name, r.commune_name].filter(Boolean).join(' · ');
}

/**
 * Who filed: the responsible office always sees the name and e-mail (account, or what the Open311
 * app sent); the public sees the name unless the resident asked to be anonymous, never the e-mail.
 */
function AuthorOf({ ctx, r, office }: { ctx: PageContext; r: RequestView; office: boolean }) {
  const name = r.author_account_name || r.author_name || null;
  const email = r.author_account_email ?? r.author_email;
  if (office) {
    return (
      <>
        {name ?? ctx.t('requests.resident')}
        {email && (
          <>
            {' · '}
            <a href={`mailto:${email}`}>{email}</a>
          </>
        )}
        {r.anonymous && ` (${ctx.t('requests.anonymous_to_public')})`}
      </>
    );
  }
  if (r.anonymous) return <>{ctx.t('requests.anonymous')}</>;
  return <>{name ?? ctx.t('requests.resident')}</>;
}

function RequestTable({ ctx, rows, caption, office }: { ctx: PageContext; rows: RequestView[]; caption: string; office?: boolean }) {
  return (
    <table class="usa-table usa-table--borderless usa-table--stacked width-full">
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">{ctx.t('requests.field.service')}</th>
          <th scope="col">{ctx.t('requests.field.place')}</th>
          <th scope="col">{ctx.t('requests.field.status')}</th>
          <th scope="col">{ctx.t('requests.field.upvotes')}</th>
          <th scope="col">{ctx.t('requests.field.date')}</th>
          {office && <th scope="col">{ctx.t('requests.field.due')}</th>}
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.id}>
            <th scope="row" data-label="#">
              <a href={`/requests/${r.id}`}>{r.id}</a>
            </th>
            <td data-label={ctx.t('requests.field.service')}>
              <a href={`/requests/${r.id}`}>{serviceName(ctx, r)}</a>
            </td>
            <td data-label={ctx.t('requests.field.place')}>{where(ctx, r)}</td>
            <td data-label={ctx.t('requests.field.status')}>
              <StatusTag ctx={ctx} status={r.status} overdue={office && isOverdue(r)} />
            </td>
            <td data-label={ctx.t('requests.field.upvotes')}>{ctx.fmt.number(r.upvotes)}</td>
            <td data-label={ctx.t('requests.field.date')}>{ctx.fmt.date(r.requested_at)}</td>
            {office && <td data-label={ctx.t('requests.field.due')}>{r.expected_at ? ctx.fmt.date(r.expected_at) : ''}</td>}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Select({ name, label, value, options, empty, error }: { name: string; label: string; value?: string; options: Array<[string, string]>; empty?: string; error?: string }) {
  return (
    <div class={`usa-form-group${error ? ' usa-form-group--error' : ''}`}>
      <label class="usa-label" for={`f-${name}`}>
        {label}
      </label>
      {error && (
        <span class="usa-error-message" id={`f-${name}-error`} role="alert">
          {error}
        </span>
      )}
      <select class={`usa-select${error ? ' usa-input--error' : ''}`} id={`f-${name}`} name={name} aria-describedby={error ? `f-${name}-error` : undefined}>
        {empty !== undefined && <option value="">{empty}</option>}
        {options.map(([v, l]) => (
          <option key={v} value={v} selected={v === value}>
            {l}
          </option>
        ))}
      </select>
    </div>
  );
}

function problemsByField(ctx: PageContext, problems: FilingProblem[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of problems) out[p.field] = out[p.field] ? `${out[p.field]} ${ctx.t(p.key)}` : ctx.t(p.key);
  return out;
}

export async function requestsRoutes(app: FastifyInstance) {
  const services = app.services;
  const db = rqDb(services);
  const catalogue = serviceCatalogue(services);
  const reportLimit = Number(process.env.REQUESTS_WEB_REPORTS_PER_MINUTE) || 10;

  await app.register(open311, { prefix: '/open311' });

  async function communeOptions(): Promise<Array<[string, string]>> {
    return (await services.geo.communes()).map((c) => [String(c.id), c.name]);
  }
  async function serviceOptions(ctx: PageContext, activeOnly = true): Promise<Array<[string, string]>> {
    return (await listServices(db, { activeOnly })).map((s) => [s.code, serviceName(ctx, s)]);
  }

  function filtersFrom(query: Record<string, string>): RequestFilters {
    const f: RequestFilters = {};
    if (query.service) f.serviceCodes = [query.service];
    if (query.status === 'open') f.statuses = [...OPEN_STATUSES];
    else if (query.status === 'closed') f.statuses = CLOSED_STATUSES.filter((s) => s !== 'merged');
    else if (isStatus(query.status)) f.statuses = [query.status];
    f.communeId = int(query.commune);
    f.neighbourhoodId = int(query.neighbourhood);
    // Days are the city's days (UTC−3, no DST), as on the map API: a report at 22:30 local time belongs to that day.
    const day = (d: string | undefined) => (d && /^\d{4}-\d{2}-\d{2}$/.test(d) ? d : undefined);
    const from = day(query.from) ? new Date(`${query.from}T00:00:00-03:00`) : undefined;
    const to = day(query.to) ? new Date(`${query.to}T23:59:59.999-03:00`) : undefined;
    if (from && !Number.isNaN(from.getTime())) f.from = from;
    if (to && !Number.isNaN(to.getTime())) f.to = to;
    f.sort = query.sort === 'upvotes' ? 'upvotes' : query.sort === 'oldest' ? 'oldest' : query.sort === 'overdue' ? 'overdue' : 'newest';
    if (query.overdue === '1') f.overdue = true;
    return f;
  }

  /* ---------- public list and map ---------- */
  app.get('/requests', async (request, reply) => {
    const ctx = request.pageContext();
    const query = q(request);
    const f = filtersFrom(query);
    const page = Math.max(1, int(query.page) ?? 1);
    const [rows, total, bounds, communes, hoods] = await Promise.all([
      listRequests(db, f, { limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE }),
      countRequests(db, f),
      services.geo.bounds(),
      services.geo.communes(),
      services.geo.neighbourhoods(),
    ]);
    const mapRows = await listRequests(db, { ...f, sort: 'newest' }, { limit: 300, offset: 0 });
    const points = mapRows.filter((r) => r.lat != null && r.lng != null).map((r) => ({ id: r.id, lat: r.lat!, lng: r.lng!, open: isOpen(r.status), label: `#${r.id} ${serviceName(ctx, r)}` }));
    const href = (p: number) => `/requests?${new URLSearchParams({ ...query, page: String(p) })}`;
    return reply.page(
      ctx.t('requests.title'),
      <Section title={ctx.t('requests.title')} lead={ctx.t('requests.description')}>
        <p>
          <a class="usa-button" href="/requests/new">
            {ctx.t('requests.new.title')}
          </a>
          <a class="usa-button usa-button--outline" href="/requests/mine">
            {ctx.t('requests.mine.title')}
          </a>
          <a class="usa-button usa-button--outline" href="/requests/stats">
            {ctx.t('requests.stats.title')}
          </a>
        </p>
        <form method="get" action="/requests" class="usa-form usa-form--large maxw-full" aria-label={ctx.t('requests.filters')}>
          <div class="grid-row grid-gap">
            <div class="tablet:grid-col-4">
              <Select name="service" label={ctx.t('requests.field.service')} value={query.service} options={await serviceOptions(ctx)} empty={ctx.t('requests.any')} />
            </div>
            <div class="tablet:grid-col-4">
              <Select
                name="status"
                label={ctx.t('requests.field.status')}
                value={query.status}
                empty={ctx.t('requests.any')}
                options={[['open', ctx.t('requests.status.open')], ['closed', ctx.t('requests.status.closed')], ...STATUSES.filter((s) => s !== 'merged').map((s) => [s, ctx.t(`requests.status.${s}`)] as [string, string])]}
              />
            </div>
            <div class="tablet:grid-col-4">
              <Select name="commune" label={ctx.t('requests.field.commune')} value={query.commune} options={communes.map((c) => [String(c.id), c.name])} empty={ctx.t('requests.any')} />
            </div>
            <div class="tablet:grid-col-4">
              <Select name="neighbourhood" label={ctx.t('requests.field.neighbourhood')} value={query.neighbourhood} options={hoods.map((n) => [String(n.id), n.name])} empty={ctx.t('requests.any')} />
            </div>
            <div class="tablet:grid-col-4">
              <Field name="from" type="date" label={ctx.t('requests.field.from')} value={query.from} />
            </div>
            <div class="tablet:grid-col-4">
              <Field name="to" type="date" label={ctx.t('requests.field.to')} value={query.to} />
            </div>
            <div class="tablet:grid-col-4">
              <Select name="sort" label={ctx.t('requests.field.sort')} value={query.sort} options={[['newest', ctx.t('requests.sort.newest')], ['upvotes', ctx.t('requests.sort.upvotes')], ['oldest', ctx.t('requests.sort.oldest')]]} />
            </div>
          </div>
          <button class="usa-button" type="submit">
            {ctx.t('requests.filter')}
          </button>
        </form>
        <h2>{ctx.t('requests.map.title')}</h2>
        <MapIsland ctx={ctx} pointsUrl={bounds ? `/api/v1/requests/map.geojson?${mapQuery(query, bounds)}` : undefined} label={ctx.t('requests.map.interactive')}>
          <div class="city-map">
            <CityMap ctx={ctx} title={ctx.t('requests.map.title')} bounds={bounds} outlines={communes.map((c) => ({ id: c.id, name: c.name, geometry: c.geometry }))} points={points} />
          </div>
        </MapIsland>
        <h2>{ctx.t('requests.list.count', { n: ctx.fmt.number(total) })}</h2>
        {rows.length ? <RequestTable ctx={ctx} rows={rows} caption={ctx.t('requests.list.caption')} /> : <p>{ctx.t('requests.list.empty')}</p>}
        <Pagination ctx={ctx} page={page} pages={Math.ceil(total / PAGE_SIZE)} href={href} />
        <p>
          <a href="/open311/discovery.json">{ctx.t('requests.open311.link')}</a>
        </p>
      </Section>,
      { islands: ['map'], styles: ['leaflet'] },
    );
  });

  /* ---------- filing ---------- */
  async function renderNew(request: FastifyRequest, reply: import('fastify').FastifyReply, opts: { errors?: Record<string, string>; values?: Record<string, string>; status?: number } = {}) {
    const ctx = request.pageContext();
    const v = { ...q(request), ...(opts.values ?? {}) };
    const errors: Record<string, string> = { ...(opts.errors ?? {}) };
    const service = v.service ? await serviceByCode(db, v.service) : undefined;
    if (v.service && (!service || !service.active)) errors.service = ctx.t('requests.error.service_unknown');
    let lat = parseCoordinate(v.lat, 90);
    let lng = parseCoordinate(v.lng, 180);
    let located = false;
    let geocoded: string | undefined;
    if (v.step === 'place' || v.step === 'details') {
      if ((v.lat || v.lng) && (lat === null || lng === null)) errors.lat = ctx.t('requests.error.location');
      else if (lat !== null && lng !== null) {
        if (!(await services.geo.locate(lat, lng))) errors.lat = ctx.t('requests.error.outside');
        else located = true;
      } else if (!v.address) errors.lat = ctx.t('requests.error.location');
      else if (v.step === 'place' && !opts.errors?.address) {
        // Only an address: with a geocoder, find the point now, so that the resident sees similar
        // requests nearby and the details form carries the point (they can still correct it).
        const found = await locateAddress(services, v.address, ctx.locale);
        if (found.kind === 'found') {
          lat = found.lat;
          lng = found.lng;
          v.lat = String(lat);
          v.lng = String(lng);
          located = true;
          geocoded = found.label;
        } else if (found.kind === 'unknown') errors.address = ctx.t('requests.error.address_unknown');
        else if (found.kind === 'outside') errors.address = ctx.t('requests.error.address_outside');
      }
      if (!v.service) errors.service = ctx.t('requests.error.service_required');
    }
    const showDetails = service && service.active && !errors.service && !errors.lat && !errors.address && (v.step === 'place' || v.step === 'details');
    const [bounds, communes] = await Promise.all([services.geo.bounds(), services.geo.communes()]);
    const nearby = showDetails && located ? await findNearby(db, { serviceId: service!.id, lat: lat!, lng: lng! }) : [];
    const attrs = showDetails ? await attributesOf(db, service!.id) : [];
    const en = ctx.locale === 'en';
    const action = `/requests/new?_csrf=${encodeURIComponent(ctx.csrfToken)}`;
    return reply.page(
      ctx.t('requests.new.title'),
      <Section title={ctx.t('requests.new.title')} lead={ctx.t('requests.new.lead')}>
        {Object.keys(errors).length > 0 && <Alert type="error" heading={ctx.t('requests.error.heading')}>{Object.values(errors).join(' ')}</Alert>}
        <form method="get" action="/requests/new" class="usa-form usa-form--large">
          <input type="hidden" name="step" value="place" />
          <Select name="service" label={ctx.t('requests.field.service')} value={v.service} options={await serviceOptions(ctx)} empty={ctx.t('requests.choose')} />
          {errors.service && <span class="usa-error-message">{errors.service}</span>}
          <fieldset class="usa-fieldset">
            <legend class="usa-legend">{ctx.t('requests.field.place')}</legend>
            <p class="usa-hint">{ctx.t('requests.new.place_hint')}</p>
            {geocoded && <Alert type="info">{ctx.t('requests.new.geocoded', { label: geocoded })}</Alert>}
            {bounds && (
              <MapIsland ctx={ctx} pick={['f-lat', 'f-lng']} label={ctx.t('requests.new.map_label')}>
                <div class="city-map">
                  <CityMap ctx={ctx} title={ctx.t('requests.new.map_title')} desc={ctx.t('requests.new.map_hint')} bounds={bounds} outlines={communes.map((c) => ({ id: c.id, name: c.name, geometry: c.geometry }))} />
                </div>
              </MapIsland>
            )}
            <Field name="lat" label={ctx.t('requests.field.lat')} value={v.lat} error={errors.lat} attrs={{ inputmode: 'decimal' }} />
            <Field name="lng" label={ctx.t('requests.field.lng')} value={v.lng} attrs={{ inputmode: 'decimal' }} />
            <div data-island="requests-locate" data-label={ctx.t('requests.locate.button')} data-busy={ctx.t('requests.locate.busy')} data-done={ctx.t('requests.locate.done')} data-error={ctx.t('requests.locate.error')} />
            <Field name="address" label={ctx.t('requests.field.address')} value={v.address} error={errors.address} hint={ctx.t('requests.field.address_hint')} />
          </fieldset>
          <button class="usa-button" type="submit">
            {ctx.t('requests.new.continue')}
          </button>
        </form>
        {showDetails && nearby.length > 0 && (
          <section aria-labelledby="rq-nearby">
            <h2 id="rq-nearby">{ctx.t('requests.nearby.title')}</h2>
            <p>{ctx.t('requests.nearby.lead')}</p>
            <ul class="usa-card-group">
              {nearby.map((n) => (
                <li class="usa-card tablet:grid-col-6" key={n.id}>
                  <div class="usa-card__container">
                    <div class="usa-card__header">
                      <h3 class="usa-card__heading">
                        <a href={`/requests/${n.id}`}>#{n.id} {serviceName(ctx, n)}</a>
                      </h3>
                    </div>
                    <div class="usa-card__body">
                      <p>{n.description}</p>
                      <p>{ctx.t('requests.nearby.meta', { m: Math.round(n.meters), n: n.upvotes, date: ctx.fmt.date(n.requested_at) })}</p>
                    </div>
                    <div class="usa-card__footer">
                      <form method="post" action={`/requests/${n.id}/upvote`}>
                        <CsrfField ctx={ctx} />
                        <button class="usa-button" type="submit">
                          {ctx.t('requests.upvote')}
                        </button>
                      </form>
                    </div>
                  </div>
                </li>
              ))}
            </ul>
          </section>
        )}
        {showDetails && (
          <form method="post" action={action} enctype="multipart/form-data" class="usa-form usa-form--large">
            <h2>{ctx.t('requests.new.details')}</h2>
            <input type="hidden" name="step" value="details" />
            <input type="hidden" name="service" value={v.service} />
            <input type="hidden" name="lat" value={v.lat ?? ''} />
            <input type="hidden" name="lng" value={v.lng ?? ''} />
            <input type="hidden" name="address" value={v.address ?? ''} />
            <Field name="description" label={ctx.t('requests.field.description')} value={v.description} error={errors.description} multiline required />
            {attrs.map((a) => {
              const name = `attribute[${a.code}]`;
              const label = (en && a.description_en) || a.description;
              const err = errors[name];
              if (a.datatype === 'singlevaluelist' || a.datatype === 'multivaluelist') {
                const multi = a.datatype === 'multivaluelist';
                return (
                  <fieldset class={`usa-fieldset usa-form-group${err ? ' usa-form-group--error' : ''}`} key={a.code}>
                    <legend class="usa-legend">
                      {label}
                      {a.required ? ' *' : ''}
                    </legend>
                    {err && <span class="usa-error-message" role="alert">{err}</span>}
                    {a.values.map((o) => (
                      <div class={multi ? 'usa-checkbox' : 'usa-radio'} key={o.key}>
                        <input class={multi ? 'usa-checkbox__input' : 'usa-radio__input'} type={multi ? 'checkbox' : 'radio'} id={`a-${a.code}-${o.key}`} name={name} value={o.key} checked={v[name] === o.key} />
                        <label class={multi ? 'usa-checkbox__label' : 'usa-radio__label'} for={`a-${a.code}-${o.key}`}>
                          {(en && o.name_en) || o.name}
                        </label>
                      </div>
                    ))}
                  </fieldset>
                );
              }
              return (
                <Field
                  key={a.code}
                  name={name}
                  label={label + (a.required ? ' *' : '')}
                  type={a.datatype === 'number' ? 'number' : a.datatype === 'datetime' ? 'datetime-local' : 'text'}
                  multiline={a.datatype === 'text'}
                  value={v[name]}
                  error={err}
                />
              );
            })}
            <div class={`usa-form-group${errors.photos ? ' usa-form-group--error' : ''}`}>
              <label class="usa-label" for="f-photos">
                {ctx.t('requests.field.photos', { n: MAX_PHOTOS })}
              </label>
              {errors.photos && <span class="usa-error-message" role="alert">{errors.photos}</span>}
              <input class="usa-file-input" id="f-photos" type="file" name="photos" accept="image/*" multiple />
            </div>
            <div class="usa-checkbox">
              <input class="usa-checkbox__input" id="f-anonymous" type="checkbox" name="anonymous" value="1" checked={v.anonymous === '1'} />
              <label class="usa-checkbox__label" for="f-anonymous">
                {ctx.t('requests.field.anonymous')}
              </label>
            </div>
            <button class="usa-button margin-top-3" type="submit">
              {ctx.t('requests.new.submit')}
            </button>
          </form>
        )}
      </Section>,
      { islands: ['requests-locate', 'map'], styles: ['leaflet'], breadcrumbs: [{ href: '/requests', label: ctx.t('requests.title') }, { label: ctx.t('requests.new.title') }], status: opts.status ?? (Object.keys(errors).length ? 400 : 200) },
    );
  }

  app.get('/requests/new', { preHandler: requireUser }, async (request, reply) => renderNew(request, reply));

  app.post(
    '/requests/new',
    {
      // Multipart: the form carries its CSRF token in the action URL, which core's check reads.
      preHandler: requireUser,
      config: { rateLimit: { max: reportLimit, timeWindow: '1 minute' } },
    },
    async (request, reply) => {
    const user = request.user!;
    const fields: Record<string, string | string[]> = {};
    const photos: Array<{ data: Buffer; name: string }> = [];
    let tooLarge = false;
    if (request.isMultipart()) {
      try {
        for await (const part of request.parts()) {
          if (part.type === 'file') {
            const data = await part.toBuffer();
            if (data.length) photos.push({ data, name: part.filename });
          } else if (part.fieldname !== '_csrf') {
            const prev = fields[part.fieldname];
            const val = String(part.value);
            fields[part.fieldname] = prev === undefined ? val : ([] as string[]).concat(prev, val);
          }
        }
      } catch (err) {
        // A photo over the upload limit: say so next to the photo field, keep what was typed.
        if ((err as { code?: string }).code !== 'FST_REQ_FILE_TOO_LARGE') throw err;
        tooLarge = true;
      }
    } else {
      Object.assign(fields, request.body as Record<string, string | string[]>);
    }
    const one = (k: string) => {
      const x = fields[k];
      return (Array.isArray(x) ? x[0] : x)?.trim() ?? '';
    };
    const raw: Record<string, string | string[]> = {};
    for (const [k, val] of Object.entries(fields)) {
      const m = /^attribute\[([^\]]+)\]$/.exec(k);
      if (m) raw[m[1]] = val;
    }
    const values: Record<string, string> = {};
    for (const k of Object.keys(fields)) values[k] = one(k);
    values.step = 'details';
    const ctx = request.pageContext();
    const description = one('description');
    if (tooLarge) return renderNew(request, reply, { values, errors: { photos: ctx.t('requests.error.photo_large') }, status: 413 });
    if (!description) return renderNew(request, reply, { values, errors: { description: ctx.t('requests.error.description_required') } });
    try {
      const created = await fileRequest(services, {
        serviceCode: one('service'),
        lat: parseCoordinate(one('lat'), 90),
        lng: parseCoordinate(one('lng'), 180),
        address: one('address') || null,
        description,
        rawAnswers: raw,
        anonymous: one('anonymous') === '1',
        authorId: user.id,
        authorEmail: null,
        authorName: null,
        mediaUrl: null,
        photos,
        source: 'web',
      });
      return reply.redirect(`/requests/${created.id}?filed=1`, 303);
    } catch (err) {
      if (err instanceof FilingError) {
        const status = Math.max(...err.problems.map((p) => p.status));
        return renderNew(request, reply, { values, errors: problemsByField(ctx, err.problems), status: status === 404 ? 400 : status });
      }
      throw err;
    }
  });

  /* ---------- personal page ---------- */
  app.get('/requests/mine', { preHandler: requireUser }, async (request, reply) => {
    const ctx = request.pageContext();
    const rows = await listRequests(db, { authorId: request.user!.id, includeMerged: true }, { limit: 200, offset: 0 });
    const followed = await db
      .selectFrom('rq_followers')
      .select('request_id')
      .where('user_id', '=', request.user!.id)
      .execute();
    const otherIds = followed.map((f) => f.request_id).filter((id) => !rows.some((r) => r.id === id));
    const others = otherIds.length ? await listRequests(db, { ids: otherIds }, { limit: 200, offset: 0 }) : [];
    return reply.page(
      ctx.t('requests.mine.title'),
      <Section title={ctx.t('requests.mine.title')}>
        {rows.length ? <RequestTable ctx={ctx} rows={rows} caption={ctx.t('requests.mine.filed')} /> : <p>{ctx.t('requests.mine.empty')}</p>}
        {others.length > 0 && <RequestTable ctx={ctx} rows={others} caption={ctx.t('requests.mine.followed')} />}
      </Section>,
      { breadcrumbs: [{ href: '/requests', label: ctx.t('requests.title') }, { label: ctx.t('requests.mine.title') }] },
    );
  });

  /* ---------- photos ---------- */
  app.get('/requests/photos/:file', async (request, reply) => {
    const { file } = request.params as { file: string };
    if (!/^[a-f0-9]{32}$/.test(file)) throw notFound();
    const owned = await db.selectFrom('rq_photos').select('request_id').where('file_id', '=', file).executeTakeFirst();
    if (!owned) throw notFound();
    const thumb = q(request).size === 'thumb';
    return reply.header('cache-control', 'public, max-age=86400').type('image/jpeg').send(services.files.open(file, thumb ? 'thumb' : undefined));
  });

  /* ---------- statistics ---------- */
  app.get('/requests/stats', async (request, reply) => {
    const ctx = request.pageContext();
    const [s, communes] = await Promise.all([publicStats(db), services.geo.communes()]);
    const density = new Map(s.byCommune.filter((c) => c.commune_id != null).map((c) => [c.commune_id!, c.area_m2 ? c.n / (c.area_m2 / 1e6) : 0]));
    const maxService = Math.max(1, ...s.byService.map((x) => x.n));
    const pct = (x: number | null) => (x == null ? '—' : ctx.fmt.percent(x));
    const days = (x: number | null) => (x == null ? '—' : ctx.t('requests.days', { n: ctx.fmt.number(Math.round(x * 10) / 10) }));
    return reply.page(
      ctx.t('requests.stats.title'),
      <Section title={ctx.t('requests.stats.title')}>
        <h2>{ctx.t('requests.stats.by_service')}</h2>
        <svg viewBox={`0 0 600 ${20 * s.byService.length + 10}`} role="img" aria-labelledby="rq-bars-t" xmlns="http://www.w3.org/2000/svg">
          <title id="rq-bars-t">{ctx.t('requests.stats.by_service')}</title>
          {s.byService.map((x, i) => (
            <g key={i}>
              <text x="0" y={20 * i + 15} font-size="11">
                {serviceName(ctx, x).slice(0, 32)}
              </text>
              <rect x="220" y={20 * i + 4} height="14" width={Math.max(1, (330 * x.n) / maxService)} fill="#0b5b8f" />
              <text x={225 + (330 * x.n) / maxService} y={20 * i + 15} font-size="11">
                {x.n}
              </text>
            </g>
          ))}
        </svg>
        <table class="usa-table usa-table--borderless">
          <caption>{ctx.t('requests.stats.by_service')}</caption>
          <thead>
            <tr>
              <th scope="col">{ctx.t('requests.field.service')}</th>
              <th scope="col">{ctx.t('requests.stats.count')}</th>
            </tr>
          </thead>
          <tbody>
            {s.byService.map((x, i) => (
              <tr key={i}>
                <th scope="row">{serviceName(ctx, x)}</th>
                <td>{ctx.fmt.number(x.n)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <h2>{ctx.t('requests.stats.density')}</h2>
        <p>{ctx.t('requests.stats.density_desc')}</p>
        <CommunesMap
          ctx={ctx}
          id="rq-density"
          communes={communes}
          link={null}
          label={ctx.t('requests.stats.density')}
          values={Object.fromEntries([...density].map(([id, v]) => [id, Math.round(v)]))}
          valueLabel={ctx.t('requests.stats.per_km2')}
        />
        <table class="usa-table usa-table--borderless">
          <caption>{ctx.t('requests.stats.by_commune')}</caption>
          <thead>
            <tr>
              <th scope="col">{ctx.t('requests.field.commune')}</th>
              <th scope="col">{ctx.t('requests.stats.count')}</th>
              <th scope="col">{ctx.t('requests.stats.per_km2')}</th>
            </tr>
          </thead>
          <tbody>
            {s.byCommune.map((c, i) => (
              <tr key={i}>
                <th scope="row">{c.name ?? ctx.t('requests.no_commune')}</th>
                <td>{ctx.fmt.number(c.n)}</td>
                <td>{c.commune_id != null ? ctx.fmt.number(Math.round(density.get(c.commune_id) ?? 0)) : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <table class="usa-table usa-table--borderless">
          <caption>{ctx.t('requests.stats.by_month')}</caption>
          <thead>
            <tr>
              <th scope="col">{ctx.t('requests.stats.month')}</th>
              <th scope="col">{ctx.t('requests.stats.count')}</th>
            </tr>
          </thead>
          <tbody>
            {s.byMonth.map((m) => (
              <tr key={m.month}>
                <th scope="row">{m.month}</th>
                <td>{ctx.fmt.number(m.n)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <table class="usa-table usa-table--borderless">
          <caption>{ctx.t('requests.stats.by_office')}</caption>
          <thead>
            <tr>
              <th scope="col">{ctx.t('requests.field.office')}</th>
              <th scope="col">{ctx.t('requests.stats.closed')}</th>
              <th scope="col">{ctx.t('requests.stats.median')}</th>
              <th scope="col">{ctx.t('requests.stats.within_target')}</th>
              <th scope="col">{ctx.t('requests.stats.rating')}</th>
            </tr>
          </thead>
          <tbody>
            {s.byOffice.map((o, i) => (
              <tr key={i}>
                <th scope="row">{o.name}</th>
                <td>{ctx.fmt.number(o.closed)}</td>
                <td>{days(o.median_days)}</td>
                <td>{pct(o.within_target)}</td>
                <td>{o.rating == null ? '—' : ctx.fmt.number(Math.round(o.rating * 10) / 10)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>,
      { breadcrumbs: [{ href: '/requests', label: ctx.t('requests.title') }, { label: ctx.t('requests.stats.title') }] },
    );
  });

  /* ---------- the office ---------- */
  const officeGuard = requireRole('official', 'admin');
  const scopeOf = (request: FastifyRequest) => (request.user!.roles.includes('admin') ? null : request.user!.officeIds);

  app.get('/requests/office', { preHandler: officeGuard }, async (request, reply) => {
    const ctx = request.pageContext();
    const query = q(request);
    const f = filtersFrom({ sort: 'overdue', status: 'open', ...query });
    const scope = scopeOf(request);
    if (scope) f.officeIds = scope;
    const page = Math.max(1, int(query.page) ?? 1);
    const [rows, total] = await Promise.all([listRequests(db, f, { limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE }), countRequests(db, f)]);
    return reply.page(
      ctx.t('requests.office.title'),
      <Section title={ctx.t('requests.office.title')}>
        <p>
          <a class="usa-button usa-button--outline" href="/requests/office/dashboard">
            {ctx.t('requests.dashboard.title')}
          </a>
        </p>
        <form method="get" action="/requests/office" class="usa-form usa-form--large maxw-full">
          <div class="grid-row grid-gap">
            <div class="tablet:grid-col-3">
              <Select name="service" label={ctx.t('requests.field.service')} value={query.service} options={await serviceOptions(ctx, false)} empty={ctx.t('requests.any')} />
            </div>
            <div class="tablet:grid-col-3">
              <Select
                name="status"
                label={ctx.t('requests.field.status')}
                value={query.status ?? 'open'}
                options={[['open', ctx.t('requests.status.open')], ['closed', ctx.t('requests.status.closed')], ...STATUSES.map((s) => [s, ctx.t(`requests.status.${s}`)] as [string, string])]}
              />
            </div>
            <div class="tablet:grid-col-3">
              <Select name="commune" label={ctx.t('requests.field.commune')} value={query.commune} options={await communeOptions()} empty={ctx.t('requests.any')} />
            </div>
            <div class="tablet:grid-col-3">
              <Select
                name="sort"
                label={ctx.t('requests.field.sort')}
                value={query.sort ?? 'overdue'}
                options={[['overdue', ctx.t('requests.sort.overdue')], ['upvotes', ctx.t('requests.sort.upvotes')], ['oldest', ctx.t('requests.sort.oldest')], ['newest', ctx.t('requests.sort.newest')]]}
              />
            </div>
          </div>
          <button class="usa-button" type="submit">
            {ctx.t('requests.filter')}
          </button>
        </form>
        <RequestTable ctx={ctx} rows={rows} caption={ctx.t('requests.list.count', { n: ctx.fmt.number(total) })} office />
        <Pagination ctx={ctx} page={page} pages={Math.ceil(total / PAGE_SIZE)} href={(p) => `/requests/office?${new URLSearchParams({ ...query, page: String(p) })}`} />
      </Section>,
      { breadcrumbs: [{ href: '/requests', label: ctx.t('requests.title') }, { label: ctx.t('requests.office.title') }] },
    );
  });

  app.get('/requests/office/dashboard', { preHandler: officeGuard }, async (request, reply) => {
    const ctx = request.pageContext();
    const d = await dashboard(db, scopeOf(request));
    const communes = new Map((await services.geo.communes()).map((c) => [c.id, c.name]));
    const days = (x: number | null) => (x == null ? '—' : ctx.t('requests.days', { n: ctx.fmt.number(Math.round(x * 10) / 10) }));
    const num = (x: number | null) => (x == null ? '—' : ctx.fmt.number(Math.round(x * 10) / 10));
    return reply.page(
      ctx.t('requests.dashboard.title'),
      <Section title={ctx.t('requests.dashboard.title')}>
        <ul class="usa-list">
          <li>{ctx.t('requests.dashboard.open', { n: ctx.fmt.number(d.totals.open) })}</li>
          <li>{ctx.t('requests.dashboard.overdue', { n: ctx.fmt.number(d.totals.overdue) })}</li>
          <li>{ctx.t('requests.dashboard.closed', { n: ctx.fmt.number(d.totals.closed) })}</li>
          <li>{ctx.t('requests.dashboard.median', { d: days(d.totals.median_days) })}</li>
          <li>{ctx.t('requests.dashboard.within', { p: d.totals.within_target == null ? '—' : ctx.fmt.percent(d.totals.within_target) })}</li>
          <li>{ctx.t('requests.dashboard.rating', { avg: num(d.ratings.avg), n: ctx.fmt.number(d.ratings.n) })}</li>
        </ul>
        <p>
          <a class="usa-button" href="/requests/office/export.csv">
            {ctx.t('requests.dashboard.export')}
          </a>
        </p>
        <table class="usa-table usa-table--borderless">
          <caption>{ctx.t('requests.stats.by_service')}</caption>
          <thead>
            <tr>
              <th scope="col">{ctx.t('requests.field.service')}</th>
              <th scope="col">{ctx.t('requests.status.open')}</th>
              <th scope="col">{ctx.t('requests.overdue')}</th>
              <th scope="col">{ctx.t('requests.stats.count')}</th>
              <th scope="col">{ctx.t('requests.stats.median')}</th>
              <th scope="col">{ctx.t('requests.stats.rating')}</th>
            </tr>
          </thead>
          <tbody>
            {d.byService.map((x, i) => (
              <tr key={i}>
                <th scope="row">{serviceName(ctx, x)}</th>
                <td>{x.open}</td>
                <td>{x.overdue}</td>
                <td>{x.total}</td>
                <td>{days(x.median_days)}</td>
                <td>{num(x.rating)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <table class="usa-table usa-table--borderless">
          <caption>{ctx.t('requests.stats.by_commune')}</caption>
          <thead>
            <tr>
              <th scope="col">{ctx.t('requests.field.commune')}</th>
              <th scope="col">{ctx.t('requests.status.open')}</th>
              <th scope="col">{ctx.t('requests.overdue')}</th>
              <th scope="col">{ctx.t('requests.stats.count')}</th>
              <th scope="col">{ctx.t('requests.stats.median')}</th>
              <th scope="col">{ctx.t('requests.stats.rating')}</th>
            </tr>
          </thead>
          <tbody>
            {d.byCommune.map((x, i) => (
              <tr key={i}>
                <th scope="row">{x.commune_id != null ? communes.get(x.commune_id) ?? x.commune_id : ctx.t('requests.no_commune')}</th>
                <td>{x.open}</td>
                <td>{x.overdue}</td>
                <td>{x.total}</td>
                <td>{days(x.median_days)}</td>
                <td>{num(x.rating)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>,
      { breadcrumbs: [{ href: '/requests/office', label: ctx.t('requests.office.title') }, { label: ctx.t('requests.dashboard.title') }] },
    );
  });

  app.get('/requests/office/export.csv', { preHandler: officeGuard }, async (request, reply) => {
    const scope = scopeOf(request);
    const rows = await listRequests(db, { officeIds: scope ?? undefined, includeMerged: true, sort: 'oldest' }, { limit: 100000, offset: 0 });
    const ratings = await db.selectFrom('rq_ratings').select(['request_id', 'score']).execute();
    const score = new Map(ratings.map((r) => [r.request_id, r.score]));
    const csv = stringify(
      rows.map((r) => [r.id, r.service_code, r.service_name, r.office_name, r.status, r.requested_at.toISOString(), r.expected_at?.toISOString() ?? '', r.closed_at?.toISOString() ?? '', isOverdue(r) ? 1 : 0, r.upvotes, r.commune_id ?? '', r.neighbourhood_name ?? '', r.address ?? '', r.lat ?? '', r.lng ?? '', score.get(r.id) ?? '']),
      { header: true, columns: ['id', 'service_code', 'service', 'office', 'status', 'requested_at', 'expected_at', 'closed_at', 'overdue', 'upvotes', 'commune', 'neighbourhood', 'address', 'lat', 'lng', 'rating'] },
    );
    return reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="requests.csv"').send(csv);
  });

  /* ---------- administrators: categories and their questions ---------- */
  app.get('/requests/admin/services', { preHandler: requireAdmin }, async (request, reply) => {
    const ctx = request.pageContext();
    const rows = await listServices(db);
    return reply.page(
      ctx.t('requests.admin.title'),
      <Section title={ctx.t('requests.admin.title')}>
        <p>
          <a class="usa-button" href="/requests/admin/services/new">
            {ctx.t('requests.admin.new')}
          </a>
        </p>
        <table class="usa-table usa-table--borderless">
          <caption>{ctx.t('requests.admin.title')}</caption>
          <thead>
            <tr>
              <th scope="col">{ctx.t('requests.admin.code')}</th>
              <th scope="col">{ctx.t('requests.field.service')}</th>
              <th scope="col">{ctx.t('requests.field.office')}</th>
              <th scope="col">{ctx.t('requests.admin.target')}</th>
              <th scope="col">{ctx.t('requests.admin.active')}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((s) => (
              <tr key={s.id}>
                <th scope="row">
                  <a href={`/requests/admin/services/${s.id}`}>{s.code}</a>
                </th>
                <td>{serviceName(ctx, s)}</td>
                <td>{s.office_name ?? '—'}</td>
                <td>{s.target_days}</td>
                <td>{s.active ? ctx.t('requests.yes') : ctx.t('requests.no')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>,
    );
  });

  async function serviceForm(request: FastifyRequest, reply: import('fastify').FastifyReply, id: number | null, errors: Record<string, string> = {}, values?: Record<string, string>) {
    const ctx = request.pageContext();
    const s = id ? await serviceById(db, id) : undefined;
    if (id && !s) throw notFound();
    const attrs = s ? await attributesOf(db, s.id) : [];
    const offices = await services.db.selectFrom('offices').select(['id', 'name']).orderBy('name').execute();
    const v: Record<string, string> = values ?? (s ? { code: s.code, name: s.name, name_en: s.name_en ?? '', description: s.description, group_name: s.group_name ?? '', keywords: s.keywords ?? '', office_id: String(s.office_id ?? ''), target_days: String(s.target_days), active: s.active ? '1' : '' } : { target_days: '7', active: '1' });
    return reply.page(
      s ? s.name : ctx.t('requests.admin.new'),
      <Section title={s ? s.name : ctx.t('requests.admin.new')}>
        <form method="post" action={s ? `/requests/admin/services/${s.id}` : '/requests/admin/services/new'} class="usa-form usa-form--large">
          <CsrfField ctx={ctx} />
          <Field name="code" label={ctx.t('requests.admin.code')} value={v.code} error={errors.code} required hint={ctx.t('requests.admin.code_hint')} />
          <Field name="name" label={ctx.t('requests.admin.name')} value={v.name} error={errors.name} required />
          <Field name="name_en" label={ctx.t('requests.admin.name_en')} value={v.name_en} />
          <Field name="description" label={ctx.t('requests.field.description')} value={v.description} multiline />
          <Field name="group_name" label={ctx.t('requests.admin.group')} value={v.group_name} />
          <Field name="keywords" label={ctx.t('requests.admin.keywords')} value={v.keywords} />
          <Select name="office_id" label={ctx.t('requests.field.office')} value={v.office_id} options={offices.map((o) => [String(o.id), o.name])} empty="—" error={errors.office_id} />
          <Field name="target_days" type="number" label={ctx.t('requests.admin.target')} value={v.target_days} error={errors.target_days} required />
          <div class="usa-checkbox">
            <input class="usa-checkbox__input" id="f-active" type="checkbox" name="active" value="1" checked={v.active === '1'} />
            <label class="usa-checkbox__label" for="f-active">
              {ctx.t('requests.admin.active')}
            </label>
          </div>
          <button class="usa-button margin-top-2" type="submit">
            {ctx.t('requests.save')}
          </button>
        </form>
        {s && (
          <>
            <h2>{ctx.t('requests.admin.questions')}</h2>
            <ul class="usa-list">
              {attrs.map((a) => (
                <li key={a.code}>
                  <strong>{a.code}</strong> ({a.datatype}
                  {a.required ? `, ${ctx.t('requests.admin.required')}` : ''}): {a.description}
                  {a.values.length > 0 && ` [${a.values.map((x) => `${x.key}=${x.name}`).join(', ')}]`}
                  <form method="post" action={`/requests/admin/services/${s.id}/attributes/${a.code}/delete`} class="display-inline margin-left-1">
                    <CsrfField ctx={ctx} />
                    <button class="usa-button usa-button--unstyled" type="submit">
                      {ctx.t('requests.admin.delete')}
                    </button>
                  </form>
                </li>
              ))}
            </ul>
            <form method="post" action={`/requests/admin/services/${s.id}/attributes`} class="usa-form usa-form--large">
              <h3>{ctx.t('requests.admin.add_question')}</h3>
              <CsrfField ctx={ctx} />
              <Field name="code" label={ctx.t('requests.admin.code')} error={errors.attr_code} required />
              <Field name="description" label={ctx.t('requests.admin.question')} error={errors.attr_description} required />
              <Field name="description_en" label={ctx.t('requests.admin.question_en')} />
              <Select name="datatype" label={ctx.t('requests.admin.datatype')} options={DATATYPES.map((d) => [d, ctx.t(`requests.datatype.${d}`)] as [string, string])} />
              <Field name="values" label={ctx.t('requests.admin.values')} hint={ctx.t('requests.admin.values_hint')} error={errors.attr_values} />
              <div class="usa-checkbox">
                <input class="usa-checkbox__input" id="f-required" type="checkbox" name="required" value="1" />
                <label class="usa-checkbox__label" for="f-required">
                  {ctx.t('requests.admin.required')}
                </label>
              </div>
              <button class="usa-button margin-top-2" type="submit">
                {ctx.t('requests.admin.add_question')}
              </button>
            </form>
          </>
        )}
      </Section>,
      { breadcrumbs: [{ href: '/requests/admin/services', label: ctx.t('requests.admin.title') }, { label: s ? s.code : ctx.t('requests.admin.new') }], status: Object.keys(errors).length ? 400 : 200 },
    );
  }

  app.get('/requests/admin/services/new', { preHandler: requireAdmin }, (request, reply) => serviceForm(request, reply, null));
  app.get('/requests/admin/services/:id', { preHandler: requireAdmin }, (request, reply) => serviceForm(request, reply, int((request.params as { id: string }).id) ?? -1));

  async function saveServiceFrom(request: FastifyRequest, reply: import('fastify').FastifyReply, id: number | null) {
    const b = request.body as Record<string, string>;
    const ctx = request.pageContext();
    const errors: Record<string, string> = {};
    const code = (b.code ?? '').trim();
    if (!attributeCodePattern.test(code)) errors.code = ctx.t('requests.admin.error.code');
    if (!(b.name ?? '').trim()) errors.name = ctx.t('requests.admin.error.name');
    const target = Number(b.target_days);
    if (!Number.isInteger(target) || target < 1 || target > 365) errors.target_days = ctx.t('requests.admin.error.target');
    const clash = code ? await serviceByCode(db, code) : undefined;
    if (clash && clash.id !== id) errors.code = ctx.t('requests.admin.error.code_taken');
    // An office that does not exist (a stale form, a crafted post) would fail the foreign key: say so at the field.
    const officeId = b.office_id?.trim() ? int(b.office_id.trim()) ?? -1 : null;
    if (officeId != null && !(await services.db.selectFrom('offices').select('id').where('id', '=', officeId).executeTakeFirst())) errors.office_id = ctx.t('requests.admin.error.office');
    if (Object.keys(errors).length) return serviceForm(request, reply, id, errors, b);
    const savedId = await db.transaction().execute(async (trx: RqDb) => {
      const sid = await saveService(
        trx,
        { code, name: b.name.trim(), name_en: b.name_en?.trim() || null, description: b.description?.trim() ?? '', description_en: null, group_name: b.group_name?.trim() || null, keywords: b.keywords?.trim() || null, office_id: officeId, target_days: target, active: b.active === '1' },
        id ?? undefined,
      );
      await services.audit.record(request.actor(), { action: id ? 'request_service.update' : 'request_service.create', subjectType: 'request_service', subjectId: sid, officeId, details: { code } }, trx as never);
      return sid;
    });
    catalogue.invalidate();
    return reply.redirect(`/requests/admin/services/${savedId}`, 303);
  }
  app.post('/requests/admin/services/new', { preHandler: requireAdmin }, (request, reply) => saveServiceFrom(request, reply, null));
  app.post('/requests/admin/services/:id', { preHandler: requireAdmin }, async (request, reply) => {
    const id = int((request.params as { id: string }).id);
    if (!id || !(await serviceById(db, id))) throw notFound();
    return saveServiceFrom(request, reply, id);
  });
  app.post('/requests/admin/services/:id/attributes', { preHandler: requireAdmin }, async (request, reply) => {
    const id = int((request.params as { id: string }).id);
    if (!id || !(await serviceById(db, id))) throw notFound();
    const b = request.body as Record<string, string>;
    const ctx = request.pageContext();
    const errors: Record<string, string> = {};
    const code = (b.code ?? '').trim();
    const datatype = b.datatype as AttributeDatatype;
    if (!attributeCodePattern.test(code)) errors.attr_code = ctx.t('requests.admin.error.code');
    if (!(b.description ?? '').trim()) errors.attr_description = ctx.t('requests.admin.error.question');
    if (!DATATYPES.includes(datatype)) throw new HttpError(400, 'Unknown datatype');
    const values = (b.values ?? '')
      .split(/[;\n]/)
      .map((x) => x.trim())
      .filter(Boolean)
      .map((x) => {
        const [key, ...rest] = x.split('=');
        return { key: key.trim(), name: (rest.join('=') || key).trim() };
      });
    const isList = datatype === 'singlevaluelist' || datatype === 'multivaluelist';
    if (isList && (values.length < 2 || values.some((x) => !attributeCodePattern.test(x.key)))) errors.attr_values = ctx.t('requests.admin.error.values');
    if (Object.keys(errors).length) return serviceForm(request, reply, id, errors);
    await db.transaction().execute(async (trx: RqDb) => {
      await saveAttribute(trx, id, { code, datatype, required: b.required === '1', description: b.description.trim(), description_en: b.description_en?.trim() || null, values: isList ? values : [], position: 100 });
      await services.audit.record(request.actor(), { action: 'request_service.question', subjectType: 'request_service', subjectId: id, details: { code, datatype } }, trx as never);
    });
    catalogue.invalidate();
    return reply.redirect(`/requests/admin/services/${id}`, 303);
  });
  app.post('/requests/admin/services/:id/attributes/:code/delete', { preHandler: requireAdmin }, async (request, reply) => {
    const { id, code } = request.params as { id: string; code: string };
    const sid = int(id);
    if (!sid) throw notFound();
    await db.transaction().execute(async (trx: RqDb) => {
      await deleteAttribute(trx, sid, code);
      await services.audit.record(request.actor(), { action: 'request_service.question_delete', subjectType: 'request_service', subjectId: sid, details: { code } }, trx as never);
    });
    catalogue.invalidate();
    return reply.redirect(`/requests/admin/services/${sid}`, 303);
  });

  /* ---------- one request ---------- */
  app.get('/requests/:id', async (request, reply) => {
    const id = int((request.params as { id: string }).id);
    const r = id ? await getRequest(db, id) : undefined;
    if (!r) throw notFound();
    const ctx = request.pageContext();
    const user = request.user;
    const member = !!user && (user.roles.includes('admin') || (r.office_id != null && user.officeIds.includes(r.office_id)));
    const [timeline, photos, rating, upvoted, attrs] = await Promise.all([
      timelineOf(db, [r.id], { internal: member }),
      photosOf(db, [r.id]),
      ratingOf(db, r.id),
      user ? hasUpvoted(db, r.id, user.id) : Promise.resolve(false),
      attributesOf(db, r.service_id),
    ]);
    const isAuthor = !!user && user.id === r.author_id;
    const closedAnswered = r.status === 'solved' || r.status === 'not_solvable';
    // The author an Open311 app named by e-mail rates through the signed link of the closing e-mail.
    const guestKey = q(request).rating;
    const guestRater = r.author_id == null && closedAnswered && ratingSignatureValid(services.secret, r, guestKey);
    const mayRate = (isAuthor && closedAnswered) || guestRater;
    const en = ctx.locale === 'en';
    const services_ = member ? await listServices(db) : [];
    const offices = member ? await services.db.selectFrom('offices').select(['id', 'name']).orderBy('name').execute() : [];
    const flash = q(request);
    const title = `#${r.id} · ${serviceName(ctx, r)}`;
    return reply.page(
      title,
      <Section title={title}>
        {flash.filed && <Alert type="success">{ctx.t('requests.filed', { days: r.target_days })}</Alert>}
        {flash.done && <Alert type="success">{ctx.t('requests.done')}</Alert>}
        <p>
          <StatusTag ctx={ctx} status={r.status} overdue={member && isOverdue(r)} />
        </p>
        {r.merged_into_id && (
          <p>
            {ctx.t('requests.merged_into')} <a href={`/requests/${r.merged_into_id}`}>#{r.merged_into_id}</a>
          </p>
        )}
        <dl class="rq-facts">
          <dt>{ctx.t('requests.field.place')}</dt>
          <dd>
            {where(ctx, r) || '—'}
            {r.lat == null && <p class="usa-hint">{ctx.t('requests.unplaced')}</p>}
          </dd>
          <dt>{ctx.t('requests.field.date')}</dt>
          <dd>{ctx.fmt.dateTime(r.requested_at)}</dd>
          <dt>{ctx.t('requests.field.office')}</dt>
          <dd>{r.office_name ?? '—'}</dd>
          <dt>{ctx.t('requests.field.author')}</dt>
          <dd>
            <AuthorOf ctx={ctx} r={r} office={member} />
          </dd>
          <dt>{ctx.t('requests.field.upvotes')}</dt>
          <dd>{ctx.fmt.number(r.upvotes)}</dd>
        </dl>
        <h2>{ctx.t('requests.field.description')}</h2>
        <p>{r.description}</p>
        {attrs.length > 0 && (
          <dl>
            {attrs
              .filter((a) => r.answers[a.code] !== undefined)
              .map((a) => {
                const ans = ([] as string[]).concat(r.answers[a.code]);
                const label = (k: string) => {
                  const o = a.values.find((x) => x.key === k);
                  return o ? (en && o.name_en) || o.name : k;
                };
                return (
                  <>
                    <dt>{(en && a.description_en) || a.description}</dt>
                    <dd>{ans.map(label).join(', ')}</dd>
                  </>
                );
              })}
          </dl>
        )}
        {photos.length > 0 && (
          <ul class="usa-list usa-list--unstyled grid-row grid-gap">
            {photos.map((p, i) => (
              <li class="tablet:grid-col-4" key={p.file_id}>
                <a href={`/requests/photos/${p.file_id}`}>
                  <img src={`/requests/photos/${p.file_id}?size=thumb`} alt={ctx.t('requests.photo_alt', { n: i + 1, id: r.id })} />
                </a>
              </li>
            ))}
          </ul>
        )}
        {isOpen(r.status) && (
          <form method="post" action={`/requests/${r.id}/upvote`}>
            <CsrfField ctx={ctx} />
            <button class="usa-button" type="submit" disabled={upvoted || isAuthor}>
              {upvoted ? ctx.t('requests.upvoted') : ctx.t('requests.upvote')}
            </button>
          </form>
        )}
        <h2>{ctx.t('requests.timeline')}</h2>
        <ol class="usa-process-list">
          {timeline.map((u) => (
            <li class="usa-process-list__item" key={u.id}>
              <h3 class="usa-process-list__heading">
                {u.kind === 'status' || u.kind === 'created' ? ctx.t(`requests.status.${u.status ?? 'submitted'}`) : ctx.t(`requests.update.${u.kind}`)}
                {!u.public && ` (${ctx.t('requests.internal')})`}
              </h3>
              <p class="margin-top-05">{ctx.fmt.dateTime(u.at)}</p>
              {u.text && <p>{u.text}</p>}
            </li>
          ))}
        </ol>
        {(rating || mayRate) && (
          <section aria-labelledby="rq-rating">
            <h2 id="rq-rating">{ctx.t('requests.rating.title')}</h2>
            {rating && (
              <p>
                {ctx.t('requests.rating.value', { score: rating.score })} {rating.comment}
              </p>
            )}
            {mayRate && (
              <form method="post" action={`/requests/${r.id}/rate`} class="usa-form">
                <CsrfField ctx={ctx} />
                {guestRater && <input type="hidden" name="rating" value={guestKey} />}
                <fieldset class="usa-fieldset">
                  <legend class="usa-legend">{ctx.t('requests.rating.question')}</legend>
                  {[1, 2, 3, 4, 5].map((n) => (
                    <div class="usa-radio" key={n}>
                      <input class="usa-radio__input" type="radio" id={`score-${n}`} name="score" value={String(n)} checked={rating?.score === n} required />
                      <label class="usa-radio__label" for={`score-${n}`}>
                        {ctx.t(`requests.rating.${n}`)}
                      </label>
                    </div>
                  ))}
                </fieldset>
                <Field name="comment" label={ctx.t('requests.rating.comment')} value={rating?.comment} multiline />
                <button class="usa-button" type="submit">
                  {ctx.t('requests.rating.submit')}
                </button>
              </form>
            )}
          </section>
        )}
        {member && !isOpen(r.status) && (
          <section aria-labelledby="rq-office">
            <h2 id="rq-office">{ctx.t('requests.actions.title')}</h2>
            <p>{ctx.t('requests.actions.closed_hint')}</p>
            <form method="post" action={`/requests/${r.id}/action`} class="usa-form usa-form--large">
              <CsrfField ctx={ctx} />
              <input type="hidden" name="action" value="note" />
              <Field name="text" label={ctx.t('requests.actions.note')} multiline required />
              <button class="usa-button" type="submit">
                {ctx.t('requests.actions.submit')}
              </button>
            </form>
          </section>
        )}
        {member && isOpen(r.status) && (
          <section aria-labelledby="rq-office">
            <h2 id="rq-office">{ctx.t('requests.actions.title')}</h2>
            <form method="post" action={`/requests/${r.id}/action`} class="usa-form usa-form--large">
              <CsrfField ctx={ctx} />
              <Select
                name="action"
                label={ctx.t('requests.actions.what')}
                options={(['acknowledged', 'in_progress', 'solved', 'not_solvable', 'answer', 'note'] as const)
                  .filter((a) => a === 'answer' || a === 'note' || checkTransition(r.status, a as RequestStatus, 'xxx') === null)
                  .map((a) => [a, ctx.t(`requests.actions.${a}`)] as [string, string])}
              />
              <Field name="text" label={ctx.t('requests.actions.text')} hint={ctx.t('requests.actions.text_hint')} multiline />
              <button class="usa-button" type="submit">
                {ctx.t('requests.actions.submit')}
              </button>
            </form>
            <form method="post" action={`/requests/${r.id}/action`} class="usa-form usa-form--large">
              <h3>{ctx.t('requests.actions.merge')}</h3>
              <CsrfField ctx={ctx} />
              <input type="hidden" name="action" value="merge" />
              <Field name="target" label={ctx.t('requests.actions.merge_target')} type="number" />
              <button class="usa-button usa-button--outline" type="submit">
                {ctx.t('requests.actions.merge')}
              </button>
            </form>
            <form method="post" action={`/requests/${r.id}/action`} class="usa-form usa-form--large">
              <h3>{ctx.t('requests.actions.place')}</h3>
              <CsrfField ctx={ctx} />
              <input type="hidden" name="action" value="place" />
              <p class="usa-hint">{ctx.t('requests.actions.place_hint')}</p>
              <Field name="lat" label={ctx.t('requests.field.lat')} value={r.lat ?? ''} attrs={{ inputmode: 'decimal' }} required />
              <Field name="lng" label={ctx.t('requests.field.lng')} value={r.lng ?? ''} attrs={{ inputmode: 'decimal' }} required />
              <button class="usa-button usa-button--outline" type="submit">
                {ctx.t('requests.actions.place')}
              </button>
            </form>
            <form method="post" action={`/requests/${r.id}/action`} class="usa-form usa-form--large">
              <h3>{ctx.t('requests.actions.reassign')}</h3>
              <CsrfField ctx={ctx} />
              <input type="hidden" name="action" value="reassign" />
              <Select name="service" label={ctx.t('requests.field.service')} value={r.service_code} options={services_.map((s) => [s.code, serviceName(ctx, s)] as [string, string])} />
              <Select name="office" label={ctx.t('requests.field.office')} value={String(r.office_id ?? '')} options={offices.map((o) => [String(o.id), o.name] as [string, string])} empty={ctx.t('requests.actions.office_of_service')} />
              <Field name="text" label={ctx.t('requests.actions.text')} multiline />
              <button class="usa-button usa-button--outline" type="submit">
                {ctx.t('requests.actions.reassign')}
              </button>
            </form>
          </section>
        )}
      </Section>,
      { breadcrumbs: [{ href: '/requests', label: ctx.t('requests.title') }, { label: `#${r.id}` }] },
    );
  });

  app.post('/requests/:id/upvote', { preHandler: requireUser, config: { rateLimit: { max: 30, timeWindow: '1 minute' } } }, async (request, reply) => {
    const id = int((request.params as { id: string }).id);
    const r = id ? await getRequest(db, id) : undefined;
    if (!r) throw notFound();
    if (r.author_id === request.user!.id) throw new HttpError(400, 'You cannot upvote your own request', 'requests.error.own_upvote');
    await db.transaction().execute((trx: RqDb) => upvote(trx, r.id, request.user!.id));
    return reply.redirect(`/requests/${r.id}`, 303);
  });

  app.post('/requests/:id/rate', async (request, reply) => {
    const id = int((request.params as { id: string }).id);
    const r = id ? await getRequest(db, id) : undefined;
    if (!r) throw notFound();
    const b = request.body as Record<string, string>;
    // Either the signed-in author, or the e-mail-only author of an Open311 report holding the signed link.
    const guest = r.author_id == null && ratingSignatureValid(services.secret, r, b.rating);
    if (!guest) {
      if (!request.user) throw new HttpError(401, 'Sign-in required', 'auth.signin.required');
      if (r.author_id !== request.user.id) throw new HttpError(403, 'Only the author rates the answer', 'error.403.title');
    }
    if (r.status !== 'solved' && r.status !== 'not_solvable') throw new HttpError(400, 'The request is not closed yet', 'requests.error.not_closed');
    const score = Number(b.score);
    if (!Number.isInteger(score) || score < 1 || score > 5) throw new HttpError(400, 'Score must be 1 to 5', 'requests.error.score');
    const comment = (b.comment ?? '').trim().slice(0, 2000);
    await db.transaction().execute(async (trx: RqDb) => {
      await rate(trx, r.id, guest ? null : request.user!.id, score, comment);
      await audit(services, trx, request.actor(), 'request.rate', r.id, r.office_id, { score, via: guest ? 'signed_link' : 'account' });
    });
    return reply.redirect(`/requests/${r.id}?done=1`, 303);
  });

  app.post('/requests/:id/action', { preHandler: officeGuard }, async (request, reply) => {
    const id = int((request.params as { id: string }).id);
    const r = id ? await getRequest(db, id) : undefined;
    if (!r) throw notFound();
    assertOfficeMember(request, r.office_id);
    const b = request.body as Record<string, string>;
    const action = b.action ?? '';
    const text = (b.text ?? '').trim().slice(0, 4000);
    const actor = request.actor();
    const uid = request.user!.id;
    await db.transaction().execute(async (trx: RqDb) => {
      // Re-read under lock: two officials acting at once must not both close the request.
      const cur = await trx.selectFrom('rq_requests').select(['status']).where('id', '=', r.id).forUpdate().executeTakeFirstOrThrow();
      // Closed is final (solved, not solvable, merged): only internal notes may still be added
      // (the office's own follow-up); anything the resident would see or that changes the request is refused.
      if (!isOpen(cur.status) && action !== 'note') throw new HttpError(409, 'The request is closed; closed is final', 'requests.error.closed');
      if (action === 'answer' || action === 'note') {
        if (!text) throw new HttpError(400, 'Write the text', 'requests.error.text_required');
        await addUpdate(trx, { requestId: r.id, kind: action, public: action === 'answer', text, authorId: uid });
        if (action === 'answer') await notifyFollowers(services, trx, r.id, { text });
        await audit(services, trx, actor, `request.${action}`, r.id, r.office_id);
      } else if (action === 'merge') {
        const target = int(b.target);
        const t = target && target !== r.id ? await trx.selectFrom('rq_requests').select(['id', 'status', 'office_id']).where('id', '=', target).executeTakeFirst() : undefined;
        if (!t || !isOpen(t.status)) throw new HttpError(400, 'Choose another open request to merge into', 'requests.error.merge_target');
        // Merging changes the target too (upvotes, followers, timeline): the official must act for its office as well.
        assertOfficeMember(request, t.office_id);
        const err = checkTransition(cur.status, 'merged', '');
        if (err) throw new HttpError(400, `Cannot merge: ${err}`, `requests.error.transition.${err}`);
        await merge(trx, r.id, t.id, uid);
        await notifyFollowers(services, trx, r.id, { statusKey: 'requests.status.merged', text: `#${t.id}` });
        await audit(services, trx, actor, 'request.merge', r.id, r.office_id, { into: t.id });
      } else if (action === 'place') {
        const lat = parseCoordinate(b.lat, 90);
        const lng = parseCoordinate(b.lng, 180);
        if (lat === null || lng === null) throw new HttpError(400, 'Give latitude and longitude', 'requests.error.location');
        const place = await services.geo.locate(lat, lng);
        if (!place) throw new HttpError(400, 'That point is outside the city', 'requests.error.outside');
        await placeRequest(trx, r.id, { lat, lng, communeId: place.commune.id, neighbourhoodId: place.neighbourhood?.id ?? null });
        await audit(services, trx, actor, 'request.place', r.id, r.office_id, { from: r.lat == null ? null : [r.lat, r.lng], to: [lat, lng], commune: place.commune.id });
      } else if (action === 'reassign') {
        const s = b.service ? await serviceByCode(trx, b.service) : undefined;
        if (!s) throw new HttpError(400, 'Unknown category', 'requests.error.service_unknown');
        const officeId = int(b.office) ?? s.office_id;
        if (officeId != null && !(await trx.selectFrom('offices').select('id').where('id', '=', officeId).executeTakeFirst())) throw new HttpError(400, 'Unknown office');
        await reassign(trx, r.id, { serviceId: s.id, officeId }, uid, text);
        await audit(services, trx, actor, 'request.reassign', r.id, r.office_id, { service: s.code, office: officeId, from_office: r.office_id });
      } else if (isStatus(action) && action !== 'submitted' && action !== 'merged') {
        const err = checkTransition(cur.status, action, text);
        if (err) throw new HttpError(400, `Cannot change status: ${err}`, `requests.error.transition.${err}`);
        await setStatus(trx, r.id, action, text, uid);
        await notifyFollowers(services, trx, r.id, { statusKey: `requests.status.${action}`, text, closed: !isOpen(action) });
        await audit(services, trx, actor, `request.status`, r.id, r.office_id, { from: cur.status, to: action });
      } else {
        throw new HttpError(400, 'Unknown action', 'requests.error.action');
      }
    });
    return reply.redirect(`/requests/${r.id}?done=1`, 303);
  });
}

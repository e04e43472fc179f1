import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { strToU8, zipSync } from 'fflate';
import { HttpError, notFound, requireAdmin, requireRole, requireUser, requireVerified } from '../../core/http/guards';
import { UploadError } from '../../core/files';
import { GeocoderUnavailable, type GeocodeResult } from '../../core/geo/geocode';
import { listOffices, officeById } from '../../core/offices/store';
import { CommunesMap, MapIsland } from '../../core/ui/map';
import { CsrfField } from '../../core/ui/layout';
import { isPhase, phaseRules, PHASES, type Phase } from './domain/phases';
import { checkBallot, type BallotCheck } from './domain/ballot';
import { writePb } from './domain/pabulib';
import { amountForInput, formatMoney, parseAmount } from './domain/money';
import { MesRoundsExceeded } from './domain/rules';
import {
  asCore,
  attachmentsOf,
  BallotConflict,
  BallotContexts,
  BallotWriter,
  type BallotContext,
  ballotOf,
  ballotProposals,
  createBudget,
  createGroup,
  createHeading,
  exportHeading,
  getBudget,
  getProposal,
  headingsOf,
  listBudgets,
  linkFiles,
  listProposals,
  participationByDay,
  phasesOf,
  publishResults,
  publishedResultsOf,
  resultsOf,
  saveBallot,
  supportedBy,
  turnoutByCommune,
  type Budget,
  type Heading,
} from './store';
import { bgDb } from './tables';
import { checkProposalFiles, DOCUMENT_MAX_BYTES, humanSize, MAX_DOCUMENTS, MAX_IMAGES, readForm, storeFiles } from './uploads';
import { BarChart } from './views/charts';
import { ParticipationStats } from './views/stats';
import { ScheduleForm } from './views/schedule';
import { dayOf, parseDay, readSchedule, type ScheduleError } from './domain/schedule';
import { participationByCommune, participationPerDay, votersByAgeBandAndGender } from './participation';
import { MIN_CELL, publishable } from './domain/privacy';

type Form = Record<string, string | string[] | undefined>;
const str = (v: unknown) => (Array.isArray(v) ? String(v[0] ?? '') : typeof v === 'string' ? v : '').trim();
/** Ids are PostgreSQL `integer`s: anything else would reach the database and fail there as a 500. */
const MAX_ID = 2 ** 31 - 1;
const toId = (v: unknown): number | null => {
  const s = typeof v === 'number' ? String(v) : str(v);
  if (!/^\d{1,10}$/.test(s)) return null;
  const n = Number(s);
  return n >= 1 && n <= MAX_ID ? n : null;
};
const ids = (v: unknown): number[] => (Array.isArray(v) ? v : v === undefined || v === '' ? [] : [v]).map(toId).filter((n): n is number => n !== null);
const intParam = (v: unknown) => {
  const n = toId(v);
  if (n === null) throw notFound();
  return n;
};
/** An id typed into a form or a query: empty is null, anything but 1…2^31−1 is a 400. */
const idField = (v: unknown, message: string, key: string): number | null => {
  if (str(v) === '') return null;
  const n = toId(v);
  if (n === null) throw new HttpError(400, message, key);
  return n;
};
const money = (request: FastifyRequest, b: { currency: string }, n: number) => formatMoney(n, b.currency, request.locale);
/** Paper ballots: administrators, or officials of the budget's organising office (an official acts only for their own office). */
const canEnterPaper = (request: FastifyRequest, b: { office_id: number | null }) =>
  !!request.user && (request.user.roles.includes('admin') || (request.user.roles.includes('official') && b.office_id != null && request.user.officeIds.includes(b.office_id)));

/** The headings a resident may vote in: their commune's and the city-wide ones. */
/** The year a budget's statistics count ages in: its own year, or the year it was created. */
function budgetYear(b: Budget) {
  return b.year ?? new Date(b.created_at).getFullYear();
}

function eligibleHeadings(headings: Heading[], communeId: number | null) {
  return headings.filter((h) => h.commune_id === null || h.commune_id === communeId);
}

const perResident = (request: FastifyRequest) => (request.user ? `user:${request.user.id}` : request.ip);

export async function budgetingRoutes(app: FastifyInstance) {
  const services = app.services;
  const db = bgDb(services);

  async function loadBudget(id: unknown): Promise<Budget> {
    const b = await getBudget(db, intParam(id));
    if (!b) throw notFound();
    return b;
  }

  // ---------- Public pages ----------

  app.get('/budgets', async (request, reply) => {
    const { t } = request;
    const budgets = await listBudgets(db);
    return reply.page(
      t('budgeting.title'),
      <div class="grid-container">
        <h1>{t('budgeting.title')}</h1>
        <p class="usa-intro">{t('budgeting.intro')}</p>
        {request.user?.roles.includes('admin') && (
          <p>
            <a class="usa-button" href="/budgets/new">
              {t('budgeting.admin.new')}
            </a>
          </p>
        )}
        {budgets.length === 0 ? (
          <p>{t('budgeting.none')}</p>
        ) : (
          <ul class="usa-card-group">
            {budgets.map((b) => (
              <li class="usa-card tablet:grid-col-6">
                <div class="usa-card__container">
                  <div class="usa-card__header">
                    <h2 class="usa-card__heading">
                      <a href={`/budgets/${b.id}`}>{b.name}</a>
                    </h2>
                  </div>
                  <div class="usa-card__body">
                    <p>
                      <span class="usa-tag">{t(`budgeting.phase.${b.phase}`)}</span>
                    </p>
                    {b.description && <p>{b.description.slice(0, 200)}</p>}
                  </div>
                </div>
              </li>
            ))}
          </ul>
        )}
      </div>,
    );
  });

  app.get('/budgets/:id', async (request, reply) => {
    const { t, fmt } = request;
    const b = await loadBudget((request.params as { id: string }).id);
    const [headings, phases] = await Promise.all([headingsOf(db, b.id), phasesOf(db, b.id)]);
    const phaseDates = new Map(phases.map((p) => [p.kind, p]));
    const user = request.user;
    return reply.page(
      b.name,
      <div class="grid-container">
        <h1>{b.name}</h1>
        <p>
          <span class="usa-tag">{t(`budgeting.phase.${b.phase}`)}</span> {t(`budgeting.phase.${b.phase}.help`)}
        </p>
        {b.description && <p class="usa-intro">{b.description}</p>}
        <ul class="usa-button-group">
          <li class="usa-button-group__item">
            <a class="usa-button usa-button--outline" href={`/budgets/${b.id}/proposals`}>
              {t('budgeting.proposals')}
            </a>
          </li>
          {phaseRules.canPropose(b.phase) && (
            <li class="usa-button-group__item">
              <a class="usa-button" href={`/budgets/${b.id}/proposals/new`}>
                {t('budgeting.proposal.new')}
              </a>
            </li>
          )}
          {phaseRules.canBallot(b.phase) && (
            <li class="usa-button-group__item">
              <a class="usa-button" href={`/budgets/${b.id}/ballot`}>
                {t('budgeting.ballot.title')}
              </a>
            </li>
          )}
          {phaseRules.showResults(b.phase) && (
            <li class="usa-button-group__item">
              <a class="usa-button" href={`/budgets/${b.id}/results`}>
                {t('budgeting.results.title')}
              </a>
            </li>
          )}
          <li class="usa-button-group__item">
            <a class="usa-button usa-button--outline" href={`/budgets/${b.id}/stats`}>
              {t('budgeting.stats.title')}
            </a>
          </li>
          {user?.roles.includes('admin') && (
            <li class="usa-button-group__item">
              <a class="usa-button usa-button--secondary" href={`/budgets/${b.id}/admin`}>
                {t('budgeting.admin.title')}
              </a>
            </li>
          )}
          {canEnterPaper(request, b) && phaseRules.canBallot(b.phase) && (
            <li class="usa-button-group__item">
              <a class="usa-button usa-button--outline" href={`/budgets/${b.id}/paper-ballot`}>
                {t('budgeting.paper.title')}
              </a>
            </li>
          )}
        </ul>
        <h2>{t('budgeting.rules.title')}</h2>
        <ul>
          <li>{b.voting_rule === 'knapsack' ? t('budgeting.rules.knapsack') : t('budgeting.rules.approval', { k: b.max_votes ?? '∞' })}</li>
          <li>{b.result_rule === 'mes' ? t('budgeting.rules.mes') : t('budgeting.rules.greedy')}</li>
          <li>{t('budgeting.rules.supports', { n: b.max_supports })}</li>
        </ul>
        <h2>{t('budgeting.headings')}</h2>
        <table class="usa-table usa-table--borderless">
          <caption>{t('budgeting.headings.caption')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('budgeting.group')}</th>
              <th scope="col">{t('budgeting.heading')}</th>
              <th scope="col">{t('budgeting.amount')}</th>
              <th scope="col">{t('budgeting.population')}</th>
            </tr>
          </thead>
          <tbody>
            {headings.map((h) => (
              <tr>
                <td>{h.group_name}</td>
                <th scope="row">
                  <a href={`/budgets/${b.id}/proposals?heading=${h.id}`}>{h.name}</a>
                </th>
                <td>{money(request, b, Number(h.amount))}</td>
                <td>{h.population == null ? '—' : fmt.number(h.population)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <h2>{t('budgeting.phases')}</h2>
        <ol class="usa-process-list">
          {PHASES.map((p) => (
            <li class="usa-process-list__item">
              <h3 class="usa-process-list__heading">
                {t(`budgeting.phase.${p}`)} {p === b.phase && <span class="usa-tag">{t('budgeting.phase.current')}</span>}
              </h3>
              {phaseDates.get(p)?.starts_at && (
                <p>
                  {fmt.date(phaseDates.get(p)!.starts_at!)}
                  {phaseDates.get(p)!.ends_at && ` – ${fmt.date(phaseDates.get(p)!.ends_at!)}`}
                </p>
              )}
            </li>
          ))}
        </ol>
      </div>,
      { breadcrumbs: [{ href: '/budgets', label: t('budgeting.title') }, { label: b.name }] },
    );
  });

  app.get('/budgets/:id/proposals', async (request, reply) => {
    const { t, fmt } = request;
    const b = await loadBudget((request.params as { id: string }).id);
    const q = request.query as Record<string, string | undefined>;
    const headingId = idField(q.heading, 'Unknown heading', 'budgeting.ballot.error.heading') ?? undefined;
    const headings = await headingsOf(db, b.id);
    const moderator = !!request.user && (request.user.roles.includes('moderator') || request.user.roles.includes('admin'));
    const rows = await listProposals(db, b.id, { headingId, q: q.q?.trim() || undefined, includeHidden: moderator });
    const supported = request.user ? await supportedBy(db, b.id, request.user.id) : new Set<number>();
    return reply.page(
      t('budgeting.proposals'),
      <div class="grid-container">
        <h1>
          {t('budgeting.proposals')} · {b.name}
        </h1>
        <form method="get" action={`/budgets/${b.id}/proposals`} class="usa-form usa-form--large">
          <label class="usa-label" for="f-heading">
            {t('budgeting.heading')}
          </label>
          <select class="usa-select" id="f-heading" name="heading">
            <option value="">{t('budgeting.all')}</option>
            {headings.map((h) => (
              <option value={String(h.id)} selected={h.id === headingId}>
                {h.group_name} · {h.name}
              </option>
            ))}
          </select>
          <label class="usa-label" for="f-q">
            {t('budgeting.search')}
          </label>
          <input class="usa-input" id="f-q" name="q" type="search" value={q.q ?? ''} />
          <button class="usa-button" type="submit">
            {t('budgeting.filter')}
          </button>
        </form>
        {phaseRules.canSupport(b.phase) && request.user && <p>{t('budgeting.supports.left', { n: Math.max(0, b.max_supports - supported.size) })}</p>}
        {rows.length === 0 ? (
          <p>{t('common.none')}</p>
        ) : (
          <table class="usa-table usa-table--borderless usa-table--stacked">
            <caption>{t('budgeting.proposals.caption', { n: rows.length })}</caption>
            <thead>
              <tr>
                <th scope="col">{t('budgeting.proposal')}</th>
                <th scope="col">{t('budgeting.heading')}</th>
                {phaseRules.showSupports(b.phase) && <th scope="col">{t('budgeting.supports')}</th>}
                {phaseRules.showPrices(b.phase) && <th scope="col">{t('budgeting.price')}</th>}
                {phaseRules.showResults(b.phase) && <th scope="col">{t('budgeting.votes')}</th>}
              </tr>
            </thead>
            <tbody>
              {rows.map((p) => (
                <tr>
                  <th scope="row">
                    <a href={`/budgets/${b.id}/proposals/${p.id}`}>{p.title}</a>
                    {p.hidden_at && <span class="usa-tag"> {t('budgeting.hidden')}</span>}
                    {p.selected && phaseRules.showResults(b.phase) && <span class="usa-tag"> {t('budgeting.funded')}</span>}
                  </th>
                  <td>{p.heading_name}</td>
                  {phaseRules.showSupports(b.phase) && <td>{fmt.number(Number(p.supports))}</td>}
                  {phaseRules.showPrices(b.phase) && <td>{p.feasibility === 'feasible' && p.price != null ? money(request, b, Number(p.price)) : t(`budgeting.feasibility.${p.feasibility}`)}</td>}
                  {phaseRules.showResults(b.phase) && <td>{fmt.number(Number(p.votes))}</td>}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>,
      { breadcrumbs: [{ href: '/budgets', label: t('budgeting.title') }, { href: `/budgets/${b.id}`, label: b.name }, { label: t('budgeting.proposals') }] },
    );
  });

  type Attachment = Awaited<ReturnType<typeof attachmentsOf>>[number];

  async function proposalForm(
    request: FastifyRequest,
    reply: FastifyReply,
    b: Budget,
    headings: Heading[],
    values: Form,
    errors: Record<string, string>,
    status = 200,
    editing?: { id: number; files: Attachment[] },
  ) {
    const { t } = request;
    const ctx = request.pageContext();
    const heading = editing ? t('budgeting.proposal.edit') : t('budgeting.proposal.new');
    const err = (k: string) => (errors[k] ? <span class="usa-error-message" role="alert">{errors[k]}</span> : null);
    const communes = await services.geo.communes();
    // Multipart forms carry the CSRF token in the action (core reads it there before the body).
    const action = `${editing ? `/budgets/${b.id}/proposals/${editing.id}/edit` : `/budgets/${b.id}/proposals`}?_csrf=${encodeURIComponent(ctx.csrfToken)}`;
    const removed = new Set(Array.isArray(values.remove_file) ? values.remove_file : values.remove_file ? [values.remove_file] : []);
    return reply.page(
      heading,
      <div class="grid-container">
        <h1>{heading}</h1>
        {Object.keys(errors).length > 0 && (
          <div class="usa-alert usa-alert--error" role="alert">
            <div class="usa-alert__body">
              <p class="usa-alert__text">{t('common.error.summary')}</p>
              {errors.files && <p class="usa-alert__text">{t('budgeting.proposal.files.reselect')}</p>}
            </div>
          </div>
        )}
        <form class="usa-form usa-form--large" method="post" action={action} enctype="multipart/form-data">
          <CsrfField ctx={ctx} />
          <div class={`usa-form-group${errors.title ? ' usa-form-group--error' : ''}`}>
            <label class="usa-label" for="f-title">
              {t('budgeting.proposal.title')}
            </label>
            {err('title')}
            <input class="usa-input" id="f-title" name="title" required maxLength={200} value={str(values.title)} />
          </div>
          <div class={`usa-form-group${errors.description ? ' usa-form-group--error' : ''}`}>
            <label class="usa-label" for="f-description">
              {t('budgeting.proposal.description')}
            </label>
            {err('description')}
            <textarea class="usa-textarea" id="f-description" name="description" required maxLength={5000}>
              {str(values.description)}
            </textarea>
          </div>
          <div class={`usa-form-group${errors.heading ? ' usa-form-group--error' : ''}`}>
            <label class="usa-label" for="f-heading">
              {t('budgeting.heading')}
            </label>
            {err('heading')}
            <select class="usa-select" id="f-heading" name="heading" required>
              {headings.map((h) => (
                <option value={String(h.id)} selected={str(values.heading) === String(h.id)}>
                  {h.group_name} · {h.name}
                </option>
              ))}
            </select>
          </div>
          <fieldset class={`usa-fieldset usa-form-group${errors.location || errors.address ? ' usa-form-group--error' : ''}`}>
            <legend class="usa-legend">{t('budgeting.proposal.location')}</legend>
            <div class="usa-hint" id="f-location-hint">
              {t('budgeting.proposal.location.hint')}
            </div>
            {err('location')}
            {communes.length > 0 && (
              <MapIsland ctx={ctx} pick={['f-lat', 'f-lng']} label={t('budgeting.proposal.map.label')}>
                <p class="usa-hint">{t('budgeting.proposal.map.hint')}</p>
                <CommunesMap ctx={ctx} id="bg-pick-map" communes={communes} link={null} list={false} label={t('budgeting.proposal.map.label')} />
              </MapIsland>
            )}
            <label class="usa-label" for="f-lat">
              {t('budgeting.proposal.latitude')}
            </label>
            <input class="usa-input" id="f-lat" name="latitude" inputMode="decimal" aria-describedby="f-location-hint" value={str(values.latitude)} />
            <label class="usa-label" for="f-lng">
              {t('budgeting.proposal.longitude')}
            </label>
            <input class="usa-input" id="f-lng" name="longitude" inputMode="decimal" aria-describedby="f-location-hint" value={str(values.longitude)} />
            <label class="usa-label" for="f-address">
              {t('budgeting.proposal.address')}
            </label>
            <div class="usa-hint" id="f-address-hint">
              {t('budgeting.proposal.address.hint')}
            </div>
            {err('address')}
            <input class="usa-input" id="f-address" name="address" maxLength={200} aria-describedby="f-address-hint" value={str(values.address)} />
          </fieldset>
          <label class="usa-label" for="f-tags">
            {t('budgeting.proposal.tags')}
          </label>
          <input class="usa-input" id="f-tags" name="tags" value={str(values.tags)} />
          {editing && editing.files.length > 0 && (
            <fieldset class="usa-fieldset">
              <legend class="usa-legend">{t('budgeting.proposal.files.current')}</legend>
              {editing.files.map((f) => (
                <div class="usa-checkbox">
                  <input class="usa-checkbox__input" id={`f-rm-${f.file_id}`} type="checkbox" name="remove_file" value={f.file_id} checked={removed.has(f.file_id)} />
                  <label class="usa-checkbox__label" for={`f-rm-${f.file_id}`}>
                    {t('budgeting.proposal.files.remove', { name: f.title || f.original_name })}
                  </label>
                </div>
              ))}
            </fieldset>
          )}
          <div class={`usa-form-group${errors.files ? ' usa-form-group--error' : ''}`}>
            {err('files')}
            <label class="usa-label" for="f-images">
              {t('budgeting.proposal.images')}
            </label>
            <div class="usa-hint" id="f-images-hint">
              {t('budgeting.proposal.images.hint', { n: MAX_IMAGES })}
            </div>
            <input class="usa-file-input" id="f-images" name="images" type="file" multiple accept="image/jpeg,image/png,image/webp,image/gif" aria-describedby="f-images-hint" />
            <label class="usa-label" for="f-documents">
              {t('budgeting.proposal.documents')}
            </label>
            <div class="usa-hint" id="f-documents-hint">
              {t('budgeting.proposal.documents.hint', { n: MAX_DOCUMENTS, size: humanSize(DOCUMENT_MAX_BYTES, request.locale) })}
            </div>
            <input class="usa-file-input" id="f-documents" name="documents" type="file" multiple accept="application/pdf" aria-describedby="f-documents-hint" />
          </div>
          <button class="usa-button" type="submit">
            {editing ? t('common.save') : t('budgeting.proposal.submit')}
          </button>
        </form>
      </div>,
      { status, islands: ['map'], styles: ['leaflet'], breadcrumbs: [{ href: `/budgets/${b.id}`, label: b.name }, { label: heading }] },
    );
  }

  app.get('/budgets/:id/proposals/new', { preHandler: requireVerified }, async (request, reply) => {
    const b = await loadBudget((request.params as { id: string }).id);
    if (!phaseRules.canPropose(b.phase)) throw new HttpError(409, 'Proposals are accepted only in the accepting phase', 'budgeting.error.phase');
    return proposalForm(request, reply, b, await headingsOf(db, b.id), {}, {});
  });

  // The city's geocoder (core, GEOCODER_URL). Without it an address stays as typed, without a point.
  async function geocodeAddress(address: string, locale: string): Promise<GeocodeResult | 'unknown' | 'unavailable'> {
    const geocoder = services.geocoder;
    if (!geocoder) return 'unavailable';
    try {
      return (await geocoder.geocode(address, { viewbox: await services.geo.bounds(), locale })) ?? 'unknown';
    } catch (err) {
      if (!(err instanceof GeocoderUnavailable)) throw err;
      services.log.warn({ err: err.message }, 'geocoder unavailable; the proposal keeps its address without a point');
      return 'unavailable';
    }
  }

  /** Checks a proposal form; the place, when given, must lie in the heading's commune. */
  async function readProposal(request: FastifyRequest, headings: Heading[], form: Form) {
    const { t } = request;
    const errors: Record<string, string> = {};
    const title = str(form.title);
    const description = str(form.description);
    if (title.length < 4 || title.length > 200) errors.title = t('budgeting.proposal.error.title');
    if (description.length < 10 || description.length > 5000) errors.description = t('budgeting.proposal.error.description');
    const heading = headings.find((h) => String(h.id) === str(form.heading));
    if (!heading) errors.heading = t('budgeting.proposal.error.heading');
    let latitude: number | null = null;
    let longitude: number | null = null;
    const lat = str(form.latitude).replace(',', '.');
    const lng = str(form.longitude).replace(',', '.');
    if (lat || lng) {
      latitude = Number(lat);
      longitude = Number(lng);
      if (!lat || !lng) errors.location = t('budgeting.proposal.error.latlon');
      else if (!Number.isFinite(latitude) || !Number.isFinite(longitude) || Math.abs(latitude) > 90 || Math.abs(longitude) > 180) errors.location = t('budgeting.proposal.error.location');
      else {
        const place = await services.geo.locate(latitude, longitude);
        if (!place) errors.location = t('budgeting.proposal.error.city');
        // A commune's money is for that commune.
        else if (heading?.commune_id && place.commune.id !== heading.commune_id) {
          errors.location = t('budgeting.proposal.error.commune.named', { place: place.commune.name, commune: heading.commune_name ?? heading.name });
        }
      }
    }
    const address = str(form.address);
    if (address.length > 200) errors.address = t('budgeting.proposal.error.address');
    else if (address && latitude === null && !errors.location) {
      // Only an address: with the city's geocoder, find its point and check it as a typed one.
      const found = await geocodeAddress(address, request.locale);
      if (found === 'unknown') errors.address = t('budgeting.proposal.error.address.unknown');
      else if (found !== 'unavailable') {
        const place = await services.geo.locate(found.lat, found.lng);
        if (!place) errors.address = t('budgeting.proposal.error.address.city');
        else if (heading?.commune_id && place.commune.id !== heading.commune_id) {
          errors.address = t('budgeting.proposal.error.commune.named', { place: place.commune.name, commune: heading.commune_name ?? heading.name });
        } else {
          latitude = found.lat;
          longitude = found.lng;
        }
      }
    }
    const tags = str(form.tags)
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)
      .slice(0, 10);
    return { errors, values: { title, description, heading_id: heading?.id ?? 0, latitude, longitude, address: address || null, tags } };
  }

  /**
   * The fields, then the files, of a proposal form. Files are checked from their bytes before
   * anything is stored; stored files are linked to the proposal in the transaction that writes it.
   */
  async function readProposalForm(request: FastifyRequest, headings: Heading[], existing: Attachment[]) {
    const { t } = request;
    const { form, files, tooLarge } = await readForm(request);
    const { errors, values } = await readProposal(request, headings, form);
    const removing = new Set(([] as string[]).concat(form.remove_file ?? []).map(String));
    const kept = existing.filter((f) => !removing.has(f.file_id));
    const checked = checkProposalFiles(t, request.locale, files, {
      images: kept.filter((f) => f.kind === 'image').length,
      documents: kept.filter((f) => f.kind === 'document').length,
    });
    if (tooLarge) checked.errors.unshift(t('budgeting.proposal.error.upload.size', { size: humanSize(services.config.uploadLimitBytes, request.locale) }));
    if (checked.errors.length) errors.files = checked.errors.join(' ');
    return { form, errors, values, checked, removing: [...removing].filter((id) => existing.some((f) => f.file_id === id)), tooLarge };
  }

  /** Stores the checked files; a picture the image pipeline still refuses becomes a form error. */
  async function storeProposalFiles(request: FastifyRequest, checked: ReturnType<typeof checkProposalFiles>, errors: Record<string, string>) {
    try {
      return await storeFiles(services, request.user!.id, checked.images, checked.documents);
    } catch (err) {
      if (!(err instanceof UploadError)) throw err;
      errors.files = request.t('budgeting.proposal.error.image', { name: err.message });
      return null;
    }
  }

  app.post(
    '/budgets/:id/proposals',
    { preHandler: requireVerified, config: { rateLimit: { max: 20, timeWindow: '1 minute', keyGenerator: perResident } } },
    async (request, reply) => {
      const b = await loadBudget((request.params as { id: string }).id);
      if (!phaseRules.canPropose(b.phase)) throw new HttpError(409, 'Proposals are accepted only in the accepting phase', 'budgeting.error.phase');
      const headings = await headingsOf(db, b.id);
      const { form, errors, values, checked, tooLarge } = await readProposalForm(request, headings, []);
      const stored = Object.keys(errors).length ? null : await storeProposalFiles(request, checked, errors);
      if (!stored) return proposalForm(request, reply, b, headings, form, errors, tooLarge ? 413 : 422);
      const row = await db.transaction().execute(async (trx) => {
        const r = await trx
          .insertInto('bg_proposals')
          .values({
            budget_id: b.id,
            author_id: request.user!.id,
            external_id: null,
            ...values,
            unfeasibility_reason: null,
            price: null,
            price_explanation: null,
            duration: null,
            valuator_id: null,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        await linkFiles(trx, r.id, stored);
        return r;
      });
      return reply.redirect(`/budgets/${b.id}/proposals/${row.id}`, 303);
    },
  );

  /** Authors edit their proposals until the accepting phase ends. */
  async function loadOwnProposal(request: FastifyRequest) {
    const params = request.params as { id: string; pid: string };
    const b = await loadBudget(params.id);
    const p = await getProposal(db, intParam(params.pid));
    if (!p || p.budget_id !== b.id || p.hidden_at) throw notFound();
    if (p.author_id !== request.user!.id) throw new HttpError(403, 'Only the author edits a proposal', 'error.403.title');
    if (!phaseRules.canEditProposal(b.phase)) throw new HttpError(409, 'Proposals are editable only while accepting', 'budgeting.error.phase');
    return { b, p };
  }

  app.get('/budgets/:id/proposals/:pid/edit', { preHandler: requireVerified }, async (request, reply) => {
    const { b, p } = await loadOwnProposal(request);
    const values: Form = {
      title: p.title,
      description: p.description,
      heading: String(p.heading_id),
      latitude: p.latitude == null ? '' : String(p.latitude),
      longitude: p.longitude == null ? '' : String(p.longitude),
      address: p.address ?? '',
      tags: p.tags.join(', '),
    };
    return proposalForm(request, reply, b, await headingsOf(db, b.id), values, {}, 200, { id: p.id, files: await attachmentsOf(db, p.id) });
  });

  app.post('/budgets/:id/proposals/:pid/edit', { preHandler: requireVerified }, async (request, reply) => {
    const { b, p } = await loadOwnProposal(request);
    const headings = await headingsOf(db, b.id);
    const existing = await attachmentsOf(db, p.id);
    const { form, errors, values, checked, removing, tooLarge } = await readProposalForm(request, headings, existing);
    const stored = Object.keys(errors).length ? null : await storeProposalFiles(request, checked, errors);
    if (!stored) return proposalForm(request, reply, b, headings, form, errors, tooLarge ? 413 : 422, { id: p.id, files: existing });
    await db.transaction().execute(async (trx) => {
      await trx.updateTable('bg_proposals').set({ ...values, updated_at: new Date() }).where('id', '=', p.id).execute();
      if (removing.length) await trx.deleteFrom('bg_proposal_files').where('proposal_id', '=', p.id).where('file_id', 'in', removing).execute();
      await linkFiles(trx, p.id, stored);
    });
    return reply.redirect(`/budgets/${b.id}/proposals/${p.id}?done=saved`, 303);
  });

  app.get('/budgets/:id/proposals/:pid', async (request, reply) => {
    const { t, fmt } = request;
    const params = request.params as { id: string; pid: string };
    const b = await loadBudget(params.id);
    const p = await getProposal(db, intParam(params.pid));
    if (!p || p.budget_id !== b.id) throw notFound();
    const user = request.user;
    const moderator = !!user && (user.roles.includes('moderator') || user.roles.includes('admin'));
    if (p.hidden_at && !moderator) throw notFound();
    const ctx = request.pageContext();
    const supported = user ? (await supportedBy(db, b.id, user.id)).has(p.id) : false;
    const milestones = await db.selectFrom('bg_milestones').selectAll().where('proposal_id', '=', p.id).orderBy('id').execute();
    const files = await attachmentsOf(db, p.id);
    const images = files.filter((f) => f.kind === 'image');
    const documents = files.filter((f) => f.kind === 'document');
    const admin = !!user?.roles.includes('admin');
    const office = p.office_id ? await officeById(services.db, p.office_id) : undefined;
    const offices = admin && p.selected ? await listOffices(services.db) : [];
    // The responsible office's officials (and administrators) post milestones.
    const canTrack = p.selected && !!user && (admin || (user.roles.includes('official') && p.office_id != null && user.officeIds.includes(p.office_id)));
    const place = p.latitude != null && p.longitude != null ? await services.geo.locate(p.latitude, p.longitude) : null;
    let commentsQ = db
      .selectFrom('bg_comments as c')
      .leftJoin('users as u', 'u.id', 'c.author_id')
      .select(['c.id', 'c.body', 'c.hidden_at', 'c.created_at', 'u.name as author'])
      .where('c.proposal_id', '=', p.id);
    if (!moderator) commentsQ = commentsQ.where('c.hidden_at', 'is', null);
    const comments = await commentsQ.orderBy('c.id').limit(500).execute();
    const canValuate = !!user && (user.roles.includes('admin') || p.valuator_id === user.id);
    const flash = (request.query as Record<string, string | undefined>).done;
    return reply.page(
      p.title,
      <div class="grid-container">
        <h1>{p.title}</h1>
        {flash && (
          <div class="usa-alert usa-alert--success usa-alert--slim" role="status">
            <div class="usa-alert__body">
              <p class="usa-alert__text">{t(`budgeting.done.${flash === 'support' || flash === 'unsupport' || flash === 'valuation' ? flash : 'saved'}`)}</p>
            </div>
          </div>
        )}
        <p>
          <span class="usa-tag">{p.heading_name}</span> {p.hidden_at && <span class="usa-tag">{t('budgeting.hidden')}</span>}
          {p.selected && phaseRules.showResults(b.phase) && <span class="usa-tag">{t('budgeting.funded')}</span>}
        </p>
        <p class="bg-description">{p.description}</p>
        {images.length > 0 && (
          <ul class="usa-card-group" aria-label={t('budgeting.proposal.images')}>
            {images.map((f, i) => (
              <li class="usa-card tablet:grid-col-4">
                <div class="usa-card__container">
                  <div class="usa-card__media">
                    <a href={`/files/${f.file_id}`}>
                      <img src={`/files/${f.file_id}/thumb`} alt={t('budgeting.proposal.image.alt', { n: i + 1, title: p.title })} loading="lazy" />
                    </a>
                  </div>
                </div>
              </li>
            ))}
          </ul>
        )}
        {documents.length > 0 && (
          <section aria-labelledby="bg-documents">
            <h2 id="bg-documents">{t('budgeting.proposal.documents')}</h2>
            <ul class="usa-list">
              {documents.map((f) => (
                <li>
                  <a href={`/files/${f.file_id}`}>{f.title || f.original_name}</a> ({t('budgeting.proposal.document.size', { size: humanSize(f.size, request.locale) })})
                </li>
              ))}
            </ul>
          </section>
        )}
        <dl>
          {(p.address || (p.latitude != null && p.longitude != null)) && (
            <>
              <dt>{t('budgeting.proposal.location')}</dt>
              <dd>
                {[p.address, place?.neighbourhood?.name, place?.commune.name].filter(Boolean).join(' · ')}
                {p.latitude != null && p.longitude != null && ` (${p.latitude.toFixed(5)}, ${p.longitude.toFixed(5)})`}
              </dd>
            </>
          )}
          {p.selected && (office || admin) && (
            <>
              <dt>{t('budgeting.office')}</dt>
              <dd>{office ? <a href={`/offices/${office.slug}`}>{office.name}</a> : t('budgeting.office.none')}</dd>
            </>
          )}
          {p.author_name && (
            <>
              <dt>{t('budgeting.proposal.author')}</dt>
              <dd>{p.author_name}</dd>
            </>
          )}
          {p.tags.length > 0 && (
            <>
              <dt>{t('budgeting.proposal.tags')}</dt>
              <dd>{p.tags.join(', ')}</dd>
            </>
          )}
          {phaseRules.showSupports(b.phase) && (
            <>
              <dt>{t('budgeting.supports')}</dt>
              <dd>{fmt.number(Number(p.supports))}</dd>
            </>
          )}
          {(phaseRules.showPrices(b.phase) || canValuate) && (
            <>
              <dt>{t('budgeting.feasibility')}</dt>
              <dd>{t(`budgeting.feasibility.${p.feasibility}`)}</dd>
              {p.feasibility === 'unfeasible' && p.unfeasibility_reason && (
                <>
                  <dt>{t('budgeting.valuation.reason')}</dt>
                  <dd>{p.unfeasibility_reason}</dd>
                </>
              )}
              {p.price != null && (
                <>
                  <dt>{t('budgeting.price')}</dt>
                  <dd>{money(request, b, Number(p.price))}</dd>
                </>
              )}
              {p.price_explanation && (
                <>
                  <dt>{t('budgeting.valuation.explanation')}</dt>
                  <dd>{p.price_explanation}</dd>
                </>
              )}
              {p.duration && (
                <>
                  <dt>{t('budgeting.valuation.duration')}</dt>
                  <dd>{p.duration}</dd>
                </>
              )}
            </>
          )}
          {phaseRules.showResults(b.phase) && (
            <>
              <dt>{t('budgeting.votes')}</dt>
              <dd>{fmt.number(Number(p.votes))}</dd>
            </>
          )}
        </dl>
        {user && p.author_id === user.id && phaseRules.canEditProposal(b.phase) && (
          <p>
            <a class="usa-button usa-button--outline" href={`/budgets/${b.id}/proposals/${p.id}/edit`}>
              {t('budgeting.proposal.edit')}
            </a>
          </p>
        )}
        {phaseRules.canSupport(b.phase) &&
          (user ? (
            <form method="post" action={`/budgets/${b.id}/proposals/${p.id}/${supported ? 'unsupport' : 'support'}`}>
              <CsrfField ctx={ctx} />
              <button class={`usa-button${supported ? ' usa-button--outline' : ''}`} type="submit">
                {supported ? t('budgeting.support.withdraw') : t('budgeting.support.add')}
              </button>
            </form>
          ) : (
            <p>
              <a href={`/signin?next=${encodeURIComponent(request.url)}`}>{t('budgeting.signin.to.support')}</a>
            </p>
          ))}
        {canValuate && phaseRules.canValuate(b.phase) && (
          <p>
            <a class="usa-button usa-button--secondary" href={`/budgets/${b.id}/proposals/${p.id}/valuation`}>
              {t('budgeting.valuation.title')}
            </a>
          </p>
        )}
        {moderator && (
          <form method="post" action={`/budgets/${b.id}/proposals/${p.id}/hide`}>
            <CsrfField ctx={ctx} />
            <input type="hidden" name="hidden" value={p.hidden_at ? '0' : '1'} />
            <button class="usa-button usa-button--unstyled" type="submit">
              {p.hidden_at ? t('budgeting.moderation.show') : t('budgeting.moderation.hide')}
            </button>
          </form>
        )}
        <section aria-labelledby="comments">
          <h2 id="comments">{t('budgeting.comments', { n: comments.length })}</h2>
          {comments.length === 0 ? (
            <p>{t('budgeting.comments.none')}</p>
          ) : (
            <ul class="usa-list usa-list--unstyled">
              {comments.map((c) => (
                <li class="bg-comment">
                  <p>
                    <strong>{c.author ?? t('budgeting.comments.anonymous')}</strong> · {fmt.dateTime(c.created_at)} {c.hidden_at && <span class="usa-tag">{t('budgeting.hidden')}</span>}
                  </p>
                  <p>{c.body}</p>
                  {moderator && (
                    <form method="post" action={`/budgets/${b.id}/proposals/${p.id}/comments/${c.id}/hide`}>
                      <CsrfField ctx={ctx} />
                      <input type="hidden" name="hidden" value={c.hidden_at ? '0' : '1'} />
                      <button class="usa-button usa-button--unstyled" type="submit">
                        {c.hidden_at ? t('budgeting.moderation.show.comment') : t('budgeting.moderation.hide.comment')}
                      </button>
                    </form>
                  )}
                </li>
              ))}
            </ul>
          )}
          {user ? (
            <form class="usa-form usa-form--large" method="post" action={`/budgets/${b.id}/proposals/${p.id}/comments`}>
              <CsrfField ctx={ctx} />
              <label class="usa-label" for="f-comment">
                {t('budgeting.comments.add')}
              </label>
              <textarea class="usa-textarea" id="f-comment" name="body" required maxLength={2000} />
              <button class="usa-button" type="submit">
                {t('budgeting.comments.submit')}
              </button>
            </form>
          ) : (
            <p>
              <a href={`/signin?next=${encodeURIComponent(request.url)}`}>{t('budgeting.comments.signin')}</a>
            </p>
          )}
        </section>
        {(p.selected || milestones.length > 0) && (
          <section aria-labelledby="milestones">
            <h2 id="milestones">{t('budgeting.milestones')}</h2>
            {milestones.length === 0 ? (
              <p>{t('common.none')}</p>
            ) : (
              <ol class="usa-process-list">
                {milestones.map((m) => (
                  <li class="usa-process-list__item">
                    <h3 class="usa-process-list__heading">
                      {m.title} <span class="usa-tag">{t(`budgeting.milestone.status.${m.status}`)}</span>
                    </h3>
                    {m.happened_on && <p>{m.happened_on}</p>}
                    {m.description && <p>{m.description}</p>}
                    {m.photo_file_id && (
                      <a href={`/files/${m.photo_file_id}`}>
                        <img src={`/files/${m.photo_file_id}/thumb`} alt={t('budgeting.milestone.photo.alt', { title: m.title })} loading="lazy" class="bg-photo" />
                      </a>
                    )}
                    {canTrack && (
                      <details>
                        <summary>{t('budgeting.milestone.update', { title: m.title })}</summary>
                        <form class="usa-form" method="post" action={`/budgets/${b.id}/proposals/${p.id}/milestones/${m.id}?_csrf=${encodeURIComponent(ctx.csrfToken)}`} enctype="multipart/form-data">
                          <CsrfField ctx={ctx} />
                          <label class="usa-label" for={`m-${m.id}-status`}>
                            {t('budgeting.milestone.status')}
                          </label>
                          <select class="usa-select" id={`m-${m.id}-status`} name="status">
                            {MILESTONE_STATUSES.map((st) => (
                              <option value={st} selected={st === m.status}>
                                {t(`budgeting.milestone.status.${st}`)}
                              </option>
                            ))}
                          </select>
                          <label class="usa-label" for={`m-${m.id}-note`}>
                            {t('budgeting.milestone.description')}
                          </label>
                          <textarea class="usa-textarea" id={`m-${m.id}-note`} name="note" maxLength={5000}>
                            {m.description}
                          </textarea>
                          <label class="usa-label" for={`m-${m.id}-photo`}>
                            {t('budgeting.milestone.photo')}
                          </label>
                          <input class="usa-file-input" id={`m-${m.id}-photo`} name="photo" type="file" accept="image/jpeg,image/png,image/webp,image/gif" />
                          <button class="usa-button usa-button--outline" type="submit">
                            {t('common.save')}
                          </button>
                        </form>
                      </details>
                    )}
                  </li>
                ))}
              </ol>
            )}
            {admin && p.selected && (
              <form class="usa-form" method="post" action={`/budgets/${b.id}/proposals/${p.id}/office`}>
                <CsrfField ctx={ctx} />
                <label class="usa-label" for="o-office">
                  {t('budgeting.office.assign')}
                </label>
                <select class="usa-select" id="o-office" name="office">
                  <option value="">{t('budgeting.office.none')}</option>
                  {offices.map((o) => (
                    <option value={String(o.id)} selected={o.id === p.office_id}>
                      {o.name}
                    </option>
                  ))}
                </select>
                <button class="usa-button usa-button--outline" type="submit">
                  {t('common.save')}
                </button>
              </form>
            )}
            {canTrack && (
              <form class="usa-form" method="post" action={`/budgets/${b.id}/proposals/${p.id}/milestones?_csrf=${encodeURIComponent(ctx.csrfToken)}`} enctype="multipart/form-data">
                <CsrfField ctx={ctx} />
                <h3>{t('budgeting.milestone.add')}</h3>
                <label class="usa-label" for="m-title">
                  {t('budgeting.milestone.title')}
                </label>
                <input class="usa-input" id="m-title" name="title" required />
                <label class="usa-label" for="m-description">
                  {t('budgeting.milestone.description')}
                </label>
                <textarea class="usa-textarea" id="m-description" name="description" />
                <label class="usa-label" for="m-status">
                  {t('budgeting.milestone.status')}
                </label>
                <select class="usa-select" id="m-status" name="status">
                  {MILESTONE_STATUSES.map((s) => (
                    <option value={s}>{t(`budgeting.milestone.status.${s}`)}</option>
                  ))}
                </select>
                <label class="usa-label" for="m-date">
                  {t('budgeting.milestone.date')}
                </label>
                <input class="usa-input" id="m-date" name="happened_on" type="date" />
                <label class="usa-label" for="m-photo">
                  {t('budgeting.milestone.photo')}
                </label>
                <div class="usa-hint" id="m-photo-hint">
                  {t('budgeting.milestone.photo.hint')}
                </div>
                <input class="usa-file-input" id="m-photo" name="photo" type="file" accept="image/jpeg,image/png,image/webp,image/gif" aria-describedby="m-photo-hint" />
                <button class="usa-button" type="submit">
                  {t('common.save')}
                </button>
              </form>
            )}
          </section>
        )}
      </div>,
      { breadcrumbs: [{ href: `/budgets/${b.id}`, label: b.name }, { href: `/budgets/${b.id}/proposals`, label: t('budgeting.proposals') }, { label: p.title }] },
    );
  });

  // ---------- Comments ----------

  app.post(
    '/budgets/:id/proposals/:pid/comments',
    { preHandler: requireUser, config: { rateLimit: { max: 10, timeWindow: '1 minute', keyGenerator: perResident } } },
    async (request, reply) => {
      const params = request.params as { id: string; pid: string };
      const b = await loadBudget(params.id);
      const p = await getProposal(db, intParam(params.pid));
      if (!p || p.budget_id !== b.id || p.hidden_at) throw notFound();
      const body = str((request.body as Form | undefined)?.body);
      if (body.length < 2 || body.length > 2000) throw new HttpError(400, 'A comment has between 2 and 2000 characters', 'budgeting.comments.error');
      await db.insertInto('bg_comments').values({ proposal_id: p.id, author_id: request.user!.id, body }).execute();
      return reply.redirect(`/budgets/${b.id}/proposals/${p.id}#comments`, 303);
    },
  );

  app.post('/budgets/:id/proposals/:pid/comments/:cid/hide', { preHandler: requireRole('moderator', 'admin') }, async (request, reply) => {
    const params = request.params as { id: string; pid: string; cid: string };
    const b = await loadBudget(params.id);
    const pid = intParam(params.pid);
    const cid = intParam(params.cid);
    const hide = str((request.body as Form | undefined)?.hidden) !== '0';
    await db.transaction().execute(async (trx) => {
      const r = await trx.updateTable('bg_comments').set({ hidden_at: hide ? new Date() : null }).where('id', '=', cid).where('proposal_id', '=', pid).executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) throw notFound();
      await services.audit.record(request.actor(), { action: hide ? 'budget.comment.hide' : 'budget.comment.show', subjectType: 'budget_comment', subjectId: cid }, asCore(trx));
    });
    return reply.redirect(`/budgets/${b.id}/proposals/${pid}#comments`, 303);
  });

  // ---------- Supports ----------

  app.post(
    '/budgets/:id/proposals/:pid/support',
    { preHandler: requireVerified, config: { rateLimit: { max: 60, timeWindow: '1 minute', keyGenerator: perResident } } },
    async (request, reply) => {
      const params = request.params as { id: string; pid: string };
      const b = await loadBudget(params.id);
      if (!phaseRules.canSupport(b.phase)) throw new HttpError(409, 'Supports are open only in the selecting phase', 'budgeting.error.phase');
      const p = await getProposal(db, intParam(params.pid));
      if (!p || p.budget_id !== b.id || p.hidden_at) throw notFound();
      const user = request.user!;
      if (p.heading_commune_id !== null && p.heading_commune_id !== user.communeId) throw new HttpError(403, 'You support proposals only in your headings', 'budgeting.ballot.error.heading');
      await db.transaction().execute(async (trx) => {
        // Serialise one resident's supports so the limit holds under concurrent clicks.
        await trx.selectFrom('users').select('id').where('id', '=', user.id).forUpdate().execute();
        const n = await trx.selectFrom('bg_supports').select((eb) => eb.fn.countAll<number>().as('n')).where('budget_id', '=', b.id).where('user_id', '=', user.id).executeTakeFirstOrThrow();
        if (Number(n.n) >= b.max_supports) throw new HttpError(409, `At most ${b.max_supports} supports`, 'budgeting.support.error.limit');
        await trx.insertInto('bg_supports').values({ proposal_id: p.id, user_id: user.id, budget_id: b.id }).onConflict((oc) => oc.doNothing()).execute();
      });
      return reply.redirect(`/budgets/${b.id}/proposals/${p.id}?done=support`, 303);
    },
  );

  app.post('/budgets/:id/proposals/:pid/unsupport', { preHandler: requireVerified }, async (request, reply) => {
    const params = request.params as { id: string; pid: string };
    const b = await loadBudget(params.id);
    if (!phaseRules.canSupport(b.phase)) throw new HttpError(409, 'Supports are open only in the selecting phase', 'budgeting.error.phase');
    const pid = intParam(params.pid);
    // The phase checked is this budget's: the support withdrawn must be of this budget too.
    const own = await db.selectFrom('bg_proposals').select('id').where('id', '=', pid).where('budget_id', '=', b.id).executeTakeFirst();
    if (!own) throw notFound();
    await db.deleteFrom('bg_supports').where('proposal_id', '=', pid).where('budget_id', '=', b.id).where('user_id', '=', request.user!.id).execute();
    return reply.redirect(`/budgets/${b.id}/proposals/${pid}?done=unsupport`, 303);
  });

  // ---------- Ballot ----------

  async function ballotPage(request: FastifyRequest, reply: FastifyReply, b: Budget, headingId: number | null, chosenOverride: number[] | null, check: BallotCheck | null, status = 200) {
    const { t } = request;
    const user = request.user!;
    const ctx = request.pageContext();
    const headings = await headingsOf(db, b.id);
    const eligible = eligibleHeadings(headings, user.communeId);
    const heading = eligible.find((h) => h.id === headingId) ?? null;
    const saved = (request.query as Record<string, string | undefined>).saved;
    let body;
    if (!heading) {
      body = (
        <>
          <p>{t('budgeting.ballot.choose.heading')}</p>
          <ul class="usa-list">
            {eligible.map((h) => (
              <li>
                <a href={`/budgets/${b.id}/ballot?heading=${h.id}`}>
                  {h.group_name} · {h.name} ({money(request, b, Number(h.amount))})
                </a>
              </li>
            ))}
          </ul>
        </>
      );
    } else {
      const [proposals, ballot] = await Promise.all([ballotProposals(db, heading.id), ballotOf(db, heading.group_id, user.id)]);
      const inThisHeading = ballot && ballot.heading_id === heading.id;
      const chosen = new Set(chosenOverride ?? (inThisHeading ? ballot!.proposalIds : []));
      const amount = Number(heading.amount);
      const total = proposals.filter((p) => chosen.has(p.id)).reduce((s, p) => s + Number(p.price), 0);
      const paper = ballot?.channel === 'paper';
      body = (
        <>
          <h2>
            {heading.group_name} · {heading.name}
          </h2>
          {saved && (
            <div class="usa-alert usa-alert--success usa-alert--slim" role="status">
              <div class="usa-alert__body">
                <p class="usa-alert__text">{t('budgeting.ballot.saved')}</p>
              </div>
            </div>
          )}
          {check && !check.ok && (
            <div class="usa-alert usa-alert--error" role="alert">
              <div class="usa-alert__body">
                <p class="usa-alert__text">{t(check.errorKey)}</p>
              </div>
            </div>
          )}
          {ballot && !inThisHeading && <p>{t('budgeting.ballot.other.heading')}</p>}
          {paper && <p>{t('budgeting.ballot.paper')}</p>}
          <p
            class="bg-money"
            aria-live="polite"
            data-island="budgeting-ballot"
            data-form="ballot-form"
            data-rule={b.voting_rule}
            data-amount={String(amount)}
            data-k={b.max_votes == null ? '' : String(b.max_votes)}
            data-currency={b.currency}
            data-locale={request.locale}
            data-msg-money={t('budgeting.ballot.money')}
            data-msg-count={t('budgeting.ballot.count')}
            data-msg-over-money={t('budgeting.ballot.over.money')}
            data-msg-over-count={t('budgeting.ballot.over.count')}
          >
            {b.voting_rule === 'knapsack'
              ? total > amount
                ? t('budgeting.ballot.over.money', { over: money(request, b, total - amount), total: money(request, b, amount) })
                : t('budgeting.ballot.money', { left: money(request, b, amount - total), total: money(request, b, amount) })
              : b.max_votes != null && chosen.size > b.max_votes
                ? t('budgeting.ballot.over.count', { n: chosen.size, k: b.max_votes, over: chosen.size - b.max_votes })
                : t('budgeting.ballot.count', { n: chosen.size, k: b.max_votes ?? '∞' })}
          </p>
          <form id="ballot-form" class="usa-form usa-form--large" method="post" action={`/budgets/${b.id}/ballot`}>
            <CsrfField ctx={ctx} />
            <input type="hidden" name="heading" value={String(heading.id)} />
            <fieldset class="usa-fieldset">
              <legend class="usa-legend">{t('budgeting.ballot.legend')}</legend>
              {proposals.map((p) => (
                <div class="usa-checkbox">
                  <input class="usa-checkbox__input" id={`p-${p.id}`} type="checkbox" name="proposal" value={String(p.id)} data-price={String(Number(p.price))} checked={chosen.has(p.id)} disabled={paper} />
                  <label class="usa-checkbox__label" for={`p-${p.id}`}>
                    {p.title} — {money(request, b, Number(p.price))}
                  </label>
                </div>
              ))}
            </fieldset>
            {!paper && (
              <button class="usa-button" type="submit">
                {t('budgeting.ballot.save')}
              </button>
            )}
          </form>
        </>
      );
    }
    return reply.page(
      t('budgeting.ballot.title'),
      <div class="grid-container">
        <h1>
          {t('budgeting.ballot.title')} · {b.name}
        </h1>
        {body}
      </div>,
      { status, islands: heading ? ['budgeting-ballot'] : [], breadcrumbs: [{ href: `/budgets/${b.id}`, label: b.name }, { label: t('budgeting.ballot.title') }] },
    );
  }

  app.get('/budgets/:id/ballot', { preHandler: requireVerified }, async (request, reply) => {
    const b = await loadBudget((request.params as { id: string }).id);
    if (!phaseRules.canBallot(b.phase)) throw new HttpError(409, 'Voting is open only in the balloting phase', 'budgeting.ballot.error.phase');
    const q = request.query as Record<string, string | undefined>;
    let headingId = q.heading ? toId(q.heading) : null;
    if (!headingId) {
      const eligible = eligibleHeadings(await headingsOf(db, b.id), request.user!.communeId);
      if (eligible.length === 1) headingId = eligible[0].id;
    }
    return ballotPage(request, reply, b, headingId, null, null);
  });

  const contexts = new BallotContexts(db);
  const writer = new BallotWriter(db);

  function ballotCheck(c: BallotContext, user: NonNullable<FastifyRequest['user']>, chosen: number[]) {
    return checkBallot(
      { phase: c.phase, votingRule: c.voting_rule, maxVotes: c.max_votes },
      { verified: user.verified, communeId: user.communeId },
      { id: c.id, groupId: c.group_id, amount: c.amount, communeId: c.commune_id },
      c.proposals.map((p) => ({ id: p.id, headingId: c.id, price: p.price, feasible: true })),
      chosen,
    );
  }

  async function refuseBallot(request: FastifyRequest, reply: FastifyReply, budgetId: number, c: BallotContext, chosen: number[], check: Extract<BallotCheck, { ok: false }>) {
    if (check.errorKey === 'budgeting.ballot.error.phase') throw new HttpError(409, 'Voting is open only in the balloting phase', check.errorKey);
    if (check.errorKey === 'budgeting.ballot.error.unverified') throw new HttpError(403, 'Residency verification required', check.errorKey);
    if (check.errorKey === 'budgeting.ballot.error.heading') throw new HttpError(403, 'You vote only in your commune\'s heading', check.errorKey);
    return ballotPage(request, reply, await loadBudget(budgetId), c.id, chosen, check, 422);
  }

  // Limited per resident, not per address: many residents vote from one voting point's network.
  app.post('/budgets/:id/ballot', { preHandler: requireUser, config: { rateLimit: { max: 30, timeWindow: '1 minute', keyGenerator: perResident } } }, async (request, reply) => {
    // The hot path of voting day: the rules are checked on the budget as this process remembers it
    // (no query), then the ballot joins the next group commit, where the database checks them again.
    const budgetId = intParam((request.params as { id: string }).id);
    const form = (request.body ?? {}) as Form;
    const user = request.user!;
    const headingId = idField(form.heading, 'Unknown heading', 'budgeting.ballot.error.heading') ?? 0;
    let c = headingId ? await contexts.get(budgetId, headingId) : null;
    if (!c) {
      await loadBudget(budgetId);
      throw new HttpError(400, 'Unknown heading', 'budgeting.ballot.error.heading');
    }
    const chosen = ids(form.proposal);
    let check = ballotCheck(c, user, chosen);
    if (!check.ok) {
      // Never refuse on remembered data: the phase may have just opened, a price just changed.
      c = (await contexts.get(budgetId, headingId, true)) ?? c;
      check = ballotCheck(c, user, chosen);
      if (!check.ok) return refuseBallot(request, reply, budgetId, c, chosen, check);
    }
    const outcome = await writer.cast({ budgetId, headingId: c.id, userId: user.id, proposalIds: chosen });
    if (outcome.status === 'paper') throw new HttpError(409, 'A paper ballot was already entered for you', 'budgeting.ballot.error.paper');
    // CONSUL's rule: one heading per group. Moving to another heading needs an empty ballot.
    if (outcome.status === 'heading') throw new HttpError(409, 'You already voted in another heading of this group', 'budgeting.ballot.error.group');
    if (outcome.status === 'rejected') {
      // The database saw a budget this process had not yet: say which rule, from fresh data.
      c = (await contexts.get(budgetId, headingId, true)) ?? c;
      check = ballotCheck(c, user, chosen);
      if (!check.ok) return refuseBallot(request, reply, budgetId, c, chosen, check);
      throw new HttpError(409, 'The budget changed while you voted: try again', 'budgeting.ballot.error.changed');
    }
    return reply.redirect(`/budgets/${budgetId}/ballot?heading=${c.id}&saved=1`, 303);
  });

  // ---------- Results ----------

  app.get('/budgets/:id/results', async (request, reply) => {
    const { t, fmt } = request;
    const b = await loadBudget((request.params as { id: string }).id);
    const staff = !!request.user?.roles.includes('admin');
    if (!phaseRules.showResults(b.phase) && !(staff && b.phase === 'reviewing_ballots')) throw new HttpError(409, 'Results are published when the budget is finished', 'budgeting.results.notyet');
    const headings = await headingsOf(db, b.id);
    const [turnout, byDay, demo] = await Promise.all([turnoutByCommune(db, b.id), participationByDay(db, b.id), votersByAgeBandAndGender(db, b.id, budgetYear(b))]);
    const sections = [];
    for (const h of headings) {
      // Finished: the winners stored when it finished. Administrators' preview while reviewing ballots decides now.
      const r = b.phase === 'finished' ? await publishedResultsOf(db, h.id) : await resultsOf(db, h.id, b.result_rule);
      let cumulative = 0;
      sections.push(
        <section aria-labelledby={`h-${h.id}`}>
          <h2 id={`h-${h.id}`}>
            {h.group_name} · {h.name}
          </h2>
          <p>{t('budgeting.results.summary', { voters: fmt.number(r.voters), cost: money(request, b, r.cost), amount: money(request, b, r.amount) })}</p>
          <p>
            <a href={`/budgets/${b.id}/results.pb?heading=${h.id}`}>{t('budgeting.results.download')}</a>
          </p>
          {r.rows.length > 0 && (
            <>
              <BarChart
                id={`votes-${h.id}`}
                title={t('budgeting.results.chart.votes', { heading: h.name })}
                bars={r.rows.slice(0, 40).map((x) => ({ label: x.title, value: x.score, highlight: x.selected }))}
                format={(n) => fmt.number(n)}
              />
              <BarChart
                id={`cost-${h.id}`}
                title={t('budgeting.results.chart.cost', { heading: h.name })}
                bars={r.rows.slice(0, 40).map((x) => {
                  if (x.selected) cumulative += x.price;
                  return { label: x.title, value: x.selected ? cumulative : x.price, highlight: x.selected };
                })}
                format={(n) => money(request, b, n)}
                line={{ at: r.amount, label: t('budgeting.results.line') }}
              />
            </>
          )}
          <table class="usa-table usa-table--borderless usa-table--stacked">
            <caption>{t('budgeting.results.caption', { heading: h.name })}</caption>
            <thead>
              <tr>
                <th scope="col">{t('budgeting.proposal')}</th>
                <th scope="col">{t('budgeting.votes')}</th>
                <th scope="col">{t('budgeting.price')}</th>
                <th scope="col">{t('budgeting.results.funded')}</th>
              </tr>
            </thead>
            <tbody>
              {r.rows.map((x) => (
                <tr>
                  <th scope="row">
                    <a href={`/budgets/${b.id}/proposals/${x.id}`}>{x.title}</a>
                  </th>
                  <td>{fmt.number(x.score)}</td>
                  <td>{money(request, b, x.price)}</td>
                  <td>{x.selected ? t('common.yes') : t('common.no')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>,
      );
    }
    return reply.page(
      t('budgeting.results.title'),
      <div class="grid-container">
        <h1>
          {t('budgeting.results.title')} · {b.name}
        </h1>
        <p>{b.result_rule === 'mes' ? t('budgeting.rules.mes') : t('budgeting.rules.greedy')}</p>
        {headings.length > 1 && b.phase === 'finished' && (
          <p>
            <a href={`/budgets/${b.id}/results.pb`}>{t('budgeting.results.download.all')}</a>
          </p>
        )}
        {sections}
        <section aria-labelledby="turnout">
          <h2 id="turnout">{t('budgeting.stats.turnout')}</h2>
          {turnout.length > 0 && (
            <BarChart
              id="turnout-chart"
              title={t('budgeting.stats.turnout')}
              bars={turnout.map((r) => ({ label: r.name ?? t('budgeting.stats.unknown'), value: Number(r.ballots) }))}
              format={(n) => fmt.number(n)}
            />
          )}
          <table class="usa-table usa-table--borderless">
            <caption>{t('budgeting.stats.turnout.caption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('budgeting.commune')}</th>
                <th scope="col">{t('budgeting.ballots')}</th>
              </tr>
            </thead>
            <tbody>
              {turnout.map((r) => (
                <tr>
                  <th scope="row">{r.name ?? t('budgeting.stats.unknown')}</th>
                  <td>{fmt.number(Number(r.ballots))}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <table class="usa-table usa-table--borderless">
            <caption>{t('budgeting.stats.demographics')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('budgeting.stats.age')}</th>
                <th scope="col">{t('budgeting.stats.gender')}</th>
                <th scope="col">{t('budgeting.ballots')}</th>
              </tr>
            </thead>
            <tbody>
              {demo.map((r) => (
                <tr>
                  <th scope="row">{r.band === 'unknown' ? t('budgeting.stats.unknown') : r.band}</th>
                  <td>{r.gender === 'unknown' ? t('budgeting.stats.unknown') : r.gender}</td>
                  <td>{publishable(r.n) === null ? t('budgeting.stats.withheld', { n: MIN_CELL }) : fmt.number(r.n)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <table class="usa-table usa-table--borderless">
            <caption>{t('budgeting.stats.byday')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('budgeting.stats.day')}</th>
                <th scope="col">{t('budgeting.ballots')}</th>
                <th scope="col">{t('budgeting.supports')}</th>
              </tr>
            </thead>
            <tbody>
              {[...new Set([...byDay.ballots.map((r) => r.day), ...byDay.supports.map((r) => r.day)])].sort().map((day) => (
                <tr>
                  <th scope="row">{day}</th>
                  <td>{fmt.number(Number(byDay.ballots.find((r) => r.day === day)?.n ?? 0))}</td>
                  <td>{fmt.number(Number(byDay.supports.find((r) => r.day === day)?.n ?? 0))}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      </div>,
      { breadcrumbs: [{ href: `/budgets/${b.id}`, label: b.name }, { label: t('budgeting.results.title') }] },
    );
  });

  /** Participation statistics, public in every phase: aggregates only, small cells withheld. */
  app.get('/budgets/:id/stats', async (request, reply) => {
    const { t } = request;
    const b = await loadBudget((request.params as { id: string }).id);
    const year = budgetYear(b);
    const [communes, demo, days] = await Promise.all([participationByCommune(db, b.id), votersByAgeBandAndGender(db, b.id, year), participationPerDay(db, b.id)]);
    return reply.page(
      t('budgeting.stats.title'),
      <div class="grid-container">
        <h1>
          {t('budgeting.stats.title')} · {b.name}
        </h1>
        <ParticipationStats request={request} communes={communes} demo={demo} days={days} year={year} />
      </div>,
      { breadcrumbs: [{ href: '/budgets', label: t('budgeting.title') }, { href: `/budgets/${b.id}`, label: b.name }, { label: t('budgeting.stats.title') }] },
    );
  });

  app.get('/budgets/:id/results.pb', async (request, reply) => {
    const b = await loadBudget((request.params as { id: string }).id);
    if (!phaseRules.showResults(b.phase)) throw new HttpError(409, 'Results are published when the budget is finished', 'budgeting.results.notyet');
    const headings = await headingsOf(db, b.id);
    const q = request.query as Record<string, string | undefined>;
    if (!q.heading && headings.length !== 1) {
      // Pabulib has one budget per file and distributes many as a zip of .pb files: one per heading.
      const files: Record<string, Uint8Array> = {};
      for (const h of headings) files[`cabildo_budget_${b.id}_heading_${h.id}.pb`] = strToU8(writePb(await exportHeading(services, b, h)));
      return reply
        .type('application/zip')
        .header('content-disposition', `attachment; filename="cabildo_budget_${b.id}.zip"`)
        .send(Buffer.from(zipSync(files, { level: 6, mtime: new Date('2000-01-01T00:00:00Z') })));
    }
    const heading = q.heading ? headings.find((h) => String(h.id) === q.heading) : headings[0];
    if (!heading) throw new HttpError(404, `No heading ${q.heading} in this budget: ${headings.map((h) => `/budgets/${b.id}/results.pb?heading=${h.id}`).join(' ')}`, 'budgeting.results.heading');
    const pb = await exportHeading(services, b, heading);
    return reply
      .type('text/plain; charset=utf-8')
      .header('content-disposition', `attachment; filename="cabildo_budget_${b.id}_heading_${heading.id}.pb"`)
      .send(writePb(pb));
  });

  // ---------- Administration ----------

  app.get('/budgets/new', { preHandler: requireAdmin }, async (request, reply) => {
    const { t } = request;
    const ctx = request.pageContext();
    return reply.page(
      t('budgeting.admin.new'),
      <div class="grid-container">
        <h1>{t('budgeting.admin.new')}</h1>
        <form class="usa-form usa-form--large" method="post" action="/budgets">
          <CsrfField ctx={ctx} />
          <label class="usa-label" for="f-name">
            {t('budgeting.admin.name')}
          </label>
          <input class="usa-input" id="f-name" name="name" required />
          <label class="usa-label" for="f-year">
            {t('budgeting.admin.year')}
          </label>
          <input class="usa-input" id="f-year" name="year" inputMode="numeric" />
          <label class="usa-label" for="f-voting">
            {t('budgeting.admin.voting')}
          </label>
          <select class="usa-select" id="f-voting" name="voting_rule">
            <option value="knapsack">{t('budgeting.rules.knapsack')}</option>
            <option value="approval">{t('budgeting.admin.approval')}</option>
          </select>
          <label class="usa-label" for="f-k">
            {t('budgeting.admin.k')}
          </label>
          <input class="usa-input" id="f-k" name="max_votes" inputMode="numeric" />
          <label class="usa-label" for="f-result">
            {t('budgeting.admin.result')}
          </label>
          <select class="usa-select" id="f-result" name="result_rule">
            <option value="greedy">{t('budgeting.rules.greedy')}</option>
            <option value="mes">{t('budgeting.rules.mes')}</option>
          </select>
          <label class="usa-label" for="f-supports">
            {t('budgeting.admin.supports')}
          </label>
          <input class="usa-input" id="f-supports" name="max_supports" inputMode="numeric" value="10" />
          <label class="usa-label" for="f-commune">
            {t('budgeting.admin.per.commune')}
          </label>
          <div class="usa-hint">{t('budgeting.admin.per.commune.hint')}</div>
          <input class="usa-input" id="f-commune" name="commune_amount" inputMode="numeric" />
          <label class="usa-label" for="f-city">
            {t('budgeting.admin.city')}
          </label>
          <input class="usa-input" id="f-city" name="city_amount" inputMode="numeric" />
          <button class="usa-button" type="submit">
            {t('common.create')}
          </button>
        </form>
      </div>,
    );
  });

  app.post('/budgets', { preHandler: requireAdmin }, async (request, reply) => {
    const form = (request.body ?? {}) as Form;
    const name = str(form.name);
    if (name.length < 3) throw new HttpError(400, 'A budget needs a name', 'budgeting.admin.error.name');
    const voting = str(form.voting_rule) === 'approval' ? 'approval' : 'knapsack';
    const result = str(form.result_rule) === 'mes' ? 'mes' : 'greedy';
    // Year, K and the supports are integer columns: a fraction or a huge number is the admin's typo, not a 500.
    const int = (v: unknown, min: number, max: number) => {
      const text = str(v);
      if (text === '') return null;
      const n = /^\d{1,10}$/.test(text) ? Number(text) : NaN;
      if (!(n >= min && n <= max)) throw new HttpError(400, `Year, K and supports must be whole numbers from ${min} to ${max}`, 'budgeting.admin.error.integer');
      return n;
    };
    const amount = (v: unknown) => {
      const text = str(v);
      if (text === '') return null;
      const n = parseAmount(text);
      if (n === null || n > 1e15) throw new HttpError(400, 'Amounts are written like 1.500.000 or 1500000,50', 'budgeting.admin.error.number');
      return n;
    };
    const year = int(form.year, 1900, 2999);
    const k = int(form.max_votes, 1, 10000);
    if (voting === 'approval' && k === null) throw new HttpError(400, 'An approval ballot needs K, the most projects a resident may choose (1 or more)', 'budgeting.admin.error.k');
    const supports = int(form.max_supports, 0, 10000) ?? 10;
    const communeAmount = amount(form.commune_amount);
    const cityAmount = amount(form.city_amount);
    if (!communeAmount && !cityAmount) throw new HttpError(400, 'Give an amount per commune or for the whole city', 'budgeting.admin.error.amount');
    const communes = await db.selectFrom('communes').select(['id', 'name', 'population']).orderBy('id').execute();
    const id = await db.transaction().execute(async (trx) => {
      const budget = await createBudget(trx, { name, year, voting_rule: voting, max_votes: voting === 'approval' ? k : null, result_rule: result, max_supports: supports });
      if (communeAmount) {
        const g = await createGroup(trx, budget.id, request.t('budgeting.group.communes'));
        for (const c of communes) await createHeading(trx, { budget_id: budget.id, group_id: g.id, name: c.name, amount: communeAmount, population: c.population ?? null, commune_id: c.id });
      }
      if (cityAmount) {
        const g = await createGroup(trx, budget.id, request.t('budgeting.group.city'));
        await createHeading(trx, { budget_id: budget.id, group_id: g.id, name: request.t('budgeting.group.city'), amount: cityAmount });
      }
      await services.audit.record(request.actor(), { action: 'budget.create', subjectType: 'budget', subjectId: budget.id, details: { name } }, asCore(trx));
      return budget.id;
    });
    return reply.redirect(`/budgets/${id}/admin`, 303);
  });

  app.get('/budgets/:id/admin', { preHandler: requireAdmin }, async (request, reply) => {
    const b = await loadBudget((request.params as { id: string }).id);
    const values: Record<string, string> = {};
    for (const p of await phasesOf(db, b.id)) {
      if (p.starts_at) values[`starts_${p.kind}`] = dayOf(p.starts_at);
      if (p.ends_at) values[`ends_${p.kind}`] = dayOf(p.ends_at);
    }
    return adminPage(request, reply, b, values, []);
  });

  async function adminPage(request: FastifyRequest, reply: FastifyReply, b: Budget, schedule: Record<string, string>, scheduleErrors: ScheduleError[]) {
    const { t } = request;
    const ctx = request.pageContext();
    const proposals = await listProposals(db, b.id, { includeHidden: true });
    const valuators = await db.selectFrom('users').select(['id', 'name', 'email']).where(sql<boolean>`'official' = any(roles)`).orderBy('name').limit(500).execute();
    const [offices, headings] = await Promise.all([listOffices(services.db), headingsOf(db, b.id)]);
    return reply.page(
      t('budgeting.admin.title'),
      <div class="grid-container">
        <h1>
          {t('budgeting.admin.title')} · {b.name}
        </h1>
        <h2>{t('budgeting.admin.phase')}</h2>
        <form class="usa-form" method="post" action={`/budgets/${b.id}/phase`}>
          <CsrfField ctx={ctx} />
          <label class="usa-label" for="f-phase">
            {t('budgeting.phase')}
          </label>
          <select class="usa-select" id="f-phase" name="phase">
            {PHASES.map((p) => (
              <option value={p} selected={p === b.phase}>
                {t(`budgeting.phase.${p}`)}
              </option>
            ))}
          </select>
          <label class="usa-label" for="f-starts">
            {t('budgeting.admin.starts')}
          </label>
          <input class="usa-input" id="f-starts" name="starts_at" type="date" />
          <label class="usa-label" for="f-ends">
            {t('budgeting.admin.ends')}
          </label>
          <input class="usa-input" id="f-ends" name="ends_at" type="date" />
          <button class="usa-button" type="submit">
            {t('budgeting.admin.phase.change')}
          </button>
        </form>
        <h2 id="schedule-title">{t('budgeting.schedule.title')}</h2>
        <ScheduleForm request={request} budgetId={b.id} values={schedule} errors={scheduleErrors} />
        <h2>{t('budgeting.admin.office')}</h2>
        <form class="usa-form" method="post" action={`/budgets/${b.id}/office`}>
          <CsrfField ctx={ctx} />
          <label class="usa-label" for="f-office">
            {t('budgeting.admin.office')}
          </label>
          <div class="usa-hint" id="f-office-hint">
            {t('budgeting.admin.office.hint')}
          </div>
          <select class="usa-select" id="f-office" name="office" aria-describedby="f-office-hint">
            <option value="">{t('budgeting.office.none')}</option>
            {offices.map((o) => (
              <option value={String(o.id)} selected={o.id === b.office_id}>
                {o.name}
              </option>
            ))}
          </select>
          <button class="usa-button usa-button--outline" type="submit">
            {t('common.save')}
          </button>
        </form>
        <h2>{t('budgeting.admin.amounts')}</h2>
        <form class="usa-form usa-form--large" method="post" action={`/budgets/${b.id}/headings`}>
          <CsrfField ctx={ctx} />
          <p class="usa-hint">{t('budgeting.admin.amounts.hint')}</p>
          {headings.map((h) => (
            <>
              <label class="usa-label" for={`f-amount-${h.id}`}>
                {h.group_name} · {h.name}
              </label>
              <input class="usa-input" id={`f-amount-${h.id}`} name={`amount_${h.id}`} inputMode="decimal" required value={amountForInput(Number(h.amount), request.locale)} />
            </>
          ))}
          <button class="usa-button usa-button--outline" type="submit">
            {t('common.save')}
          </button>
        </form>
        <h2>{t('budgeting.admin.valuation')}</h2>
        <table class="usa-table usa-table--borderless usa-table--stacked">
          <caption>{t('budgeting.admin.valuation.caption')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('budgeting.proposal')}</th>
              <th scope="col">{t('budgeting.feasibility')}</th>
              <th scope="col">{t('budgeting.price')}</th>
              <th scope="col">{t('budgeting.admin.valuator')}</th>
            </tr>
          </thead>
          <tbody>
            {proposals.map((p) => (
              <tr>
                <th scope="row">
                  <a href={`/budgets/${b.id}/proposals/${p.id}`}>{p.title}</a>
                </th>
                <td>{t(`budgeting.feasibility.${p.feasibility}`)}</td>
                <td>{p.price == null ? '—' : money(request, b, Number(p.price))}</td>
                <td>
                  <form method="post" action={`/budgets/${b.id}/proposals/${p.id}/assign`}>
                    <CsrfField ctx={ctx} />
                    <label class="usa-sr-only" for={`v-${p.id}`}>
                      {t('budgeting.admin.valuator')}
                    </label>
                    <select class="usa-select" id={`v-${p.id}`} name="valuator">
                      <option value="">—</option>
                      {valuators.map((v) => (
                        <option value={String(v.id)} selected={v.id === p.valuator_id}>
                          {v.name || v.email}
                        </option>
                      ))}
                    </select>
                    <button class="usa-button usa-button--outline" type="submit">
                      {t('budgeting.admin.assign')}
                    </button>
                  </form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>,
      { status: scheduleErrors.length ? 400 : 200, breadcrumbs: [{ href: `/budgets/${b.id}`, label: b.name }, { label: t('budgeting.admin.title') }] },
    );
  }

  /** The published schedule (dates per phase), checked as a whole, stored and audited together. */
  app.post('/budgets/:id/schedule', { preHandler: requireAdmin }, async (request, reply) => {
    const b = await loadBudget((request.params as { id: string }).id);
    const form = (request.body ?? {}) as Form;
    const values: Record<string, string> = {};
    for (const p of PHASES) for (const side of ['starts', 'ends']) values[`${side}_${p}`] = str(form[`${side}_${p}`]).trim();
    const { entries, errors } = readSchedule(values);
    if (errors.length) return adminPage(request, reply, b, values, errors);
    const before = new Map((await phasesOf(db, b.id)).map((p) => [p.kind, p]));
    const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);
    const changes = entries.filter((e) => iso(e.starts) !== iso(before.get(e.phase)?.starts_at) || iso(e.ends) !== iso(before.get(e.phase)?.ends_at));
    if (changes.length) {
      await db.transaction().execute(async (trx) => {
        for (const e of changes) {
          await trx
            .insertInto('bg_phases')
            .values({ budget_id: b.id, kind: e.phase, starts_at: e.starts, ends_at: e.ends })
            .onConflict((oc) => oc.columns(['budget_id', 'kind']).doUpdateSet({ starts_at: e.starts, ends_at: e.ends }))
            .execute();
        }
        const details = Object.fromEntries(changes.map((e) => [e.phase, { from: [iso(before.get(e.phase)?.starts_at), iso(before.get(e.phase)?.ends_at)], to: [iso(e.starts), iso(e.ends)] }]));
        await services.audit.record(request.actor(), { action: 'budget.schedule', subjectType: 'budget', subjectId: b.id, details }, asCore(trx));
      });
    }
    return reply.redirect(`/budgets/${b.id}/admin#schedule-title`, 303);
  });

  app.post('/budgets/:id/phase', { preHandler: requireAdmin }, async (request, reply) => {
    const b = await loadBudget((request.params as { id: string }).id);
    const form = (request.body ?? {}) as Form;
    const phase = str(form.phase);
    if (!isPhase(phase)) throw new HttpError(400, `Unknown phase "${phase}"`, 'budgeting.admin.error.phase');
    const date = (v: unknown) => {
      const s = str(v);
      if (!s) return null;
      const d = parseDay(s);
      if (!d) throw new HttpError(400, 'Dates must be YYYY-MM-DD', 'budgeting.admin.error.date');
      return d;
    };
    const starts = date(form.starts_at);
    const ends = date(form.ends_at);
    if (starts && ends && ends < starts) throw new HttpError(400, 'The phase ends before it starts', 'budgeting.admin.error.date');
    await db.transaction().execute(async (trx) => {
      await trx.updateTable('bg_budgets').set({ phase }).where('id', '=', b.id).execute();
      await trx
        .insertInto('bg_phases')
        .values({ budget_id: b.id, kind: phase, starts_at: starts ?? new Date(), ends_at: ends })
        // Dates left empty keep the published schedule's (a phase opened without a date starts now).
        .onConflict((oc) =>
          oc.columns(['budget_id', 'kind']).doUpdateSet({
            starts_at: starts ?? sql<Date>`coalesce(bg_phases.starts_at, now())`,
            ends_at: ends ?? sql<Date | null>`bg_phases.ends_at`,
          }),
        )
        .execute();
      if (phase === 'finished') {
        try {
          await publishResults(trx, { id: b.id, result_rule: b.result_rule });
        } catch (err) {
          if (err instanceof MesRoundsExceeded) throw new HttpError(409, err.message, 'budgeting.results.error.rounds');
          throw err;
        }
      }
      await services.audit.record(request.actor(), { action: 'budget.phase', subjectType: 'budget', subjectId: b.id, details: { from: b.phase, to: phase } }, asCore(trx));
    });
    return reply.redirect(`/budgets/${b.id}/admin`, 303);
  });

  app.post('/budgets/:id/office', { preHandler: requireAdmin }, async (request, reply) => {
    const b = await loadBudget((request.params as { id: string }).id);
    const officeId = idField(((request.body ?? {}) as Form).office, 'Unknown office', 'budgeting.office.error');
    if (officeId && !(await officeById(services.db, officeId))) throw new HttpError(400, 'Unknown office', 'budgeting.office.error');
    await db.transaction().execute(async (trx) => {
      await trx.updateTable('bg_budgets').set({ office_id: officeId }).where('id', '=', b.id).execute();
      await services.audit.record(request.actor(), { action: 'budget.office', subjectType: 'budget', subjectId: b.id, details: { from: b.office_id, to: officeId } }, asCore(trx));
    });
    return reply.redirect(`/budgets/${b.id}/admin`, 303);
  });

  /** Each heading's amount, set by administrators (audited); every field is checked before any is stored. */
  app.post('/budgets/:id/headings', { preHandler: requireAdmin }, async (request, reply) => {
    const b = await loadBudget((request.params as { id: string }).id);
    // Ballots are checked against the amounts: they are fixed once balloting opens.
    if (PHASES.indexOf(b.phase) >= PHASES.indexOf('balloting')) throw new HttpError(409, 'Amounts can be changed only before balloting', 'budgeting.admin.error.amount.phase');
    const form = (request.body ?? {}) as Form;
    const headings = await headingsOf(db, b.id);
    const changes: Array<{ id: number; from: number; to: number }> = [];
    for (const h of headings) {
      const text = str(form[`amount_${h.id}`]);
      if (text === '') continue;
      const n = parseAmount(text);
      if (n === null || n > 1e15) throw new HttpError(400, `The amount of ${h.name} is not an amount like 1.500.000 or 1500000,50`, 'budgeting.admin.error.number');
      if (n !== Number(h.amount)) changes.push({ id: h.id, from: Number(h.amount), to: n });
    }
    if (changes.length) {
      await db.transaction().execute(async (trx) => {
        for (const c of changes) {
          await trx.updateTable('bg_headings').set({ amount: c.to }).where('id', '=', c.id).where('budget_id', '=', b.id).execute();
          await services.audit.record(request.actor(), { action: 'budget.heading.amount', subjectType: 'budget', subjectId: b.id, details: { heading_id: c.id, from: c.from, to: c.to } }, asCore(trx));
        }
      });
    }
    return reply.redirect(`/budgets/${b.id}/admin`, 303);
  });

  app.post('/budgets/:id/proposals/:pid/assign', { preHandler: requireAdmin }, async (request, reply) => {
    const params = request.params as { id: string; pid: string };
    const b = await loadBudget(params.id);
    const pid = intParam(params.pid);
    const valuatorId = idField((request.body as Form | undefined)?.valuator, 'Valuators are officials', 'budgeting.admin.error.valuator');
    if (valuatorId !== null) {
      const u = await db.selectFrom('users').select(['id', 'roles']).where('id', '=', valuatorId).executeTakeFirst();
      if (!u || !u.roles.includes('official')) throw new HttpError(400, 'Valuators are officials', 'budgeting.admin.error.valuator');
    }
    await db.transaction().execute(async (trx) => {
      const r = await trx.updateTable('bg_proposals').set({ valuator_id: valuatorId }).where('id', '=', pid).where('budget_id', '=', b.id).executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) throw notFound();
      await services.audit.record(request.actor(), { action: 'budget.proposal.assign', subjectType: 'budget_proposal', subjectId: pid, details: { valuator_id: valuatorId } }, asCore(trx));
    });
    return reply.redirect(`/budgets/${b.id}/admin`, 303);
  });

  app.post('/budgets/:id/proposals/:pid/hide', { preHandler: requireRole('moderator', 'admin') }, async (request, reply) => {
    const params = request.params as { id: string; pid: string };
    const b = await loadBudget(params.id);
    const pid = intParam(params.pid);
    const hide = str((request.body as Form | undefined)?.hidden) !== '0';
    await db.transaction().execute(async (trx) => {
      const r = await trx.updateTable('bg_proposals').set({ hidden_at: hide ? new Date() : null }).where('id', '=', pid).where('budget_id', '=', b.id).executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) throw notFound();
      await services.audit.record(request.actor(), { action: hide ? 'budget.proposal.hide' : 'budget.proposal.show', subjectType: 'budget_proposal', subjectId: pid }, asCore(trx));
    });
    return reply.redirect(`/budgets/${b.id}/proposals/${pid}`, 303);
  });

  async function loadValuation(request: FastifyRequest) {
    const params = request.params as { id: string; pid: string };
    const b = await loadBudget(params.id);
    const p = await getProposal(db, intParam(params.pid));
    if (!p || p.budget_id !== b.id) throw notFound();
    const user = request.user!;
    if (!user.roles.includes('admin') && p.valuator_id !== user.id) throw new HttpError(403, 'Only the assigned valuator values this proposal', 'error.403.title');
    if (!phaseRules.canValuate(b.phase)) throw new HttpError(409, 'Valuation is closed in this phase', 'budgeting.error.phase');
    return { b, p };
  }

  app.get('/budgets/:id/proposals/:pid/valuation', { preHandler: requireUser }, async (request, reply) => {
    const { t } = request;
    const { b, p } = await loadValuation(request);
    const ctx = request.pageContext();
    return reply.page(
      t('budgeting.valuation.title'),
      <div class="grid-container">
        <h1>
          {t('budgeting.valuation.title')} · {p.title}
        </h1>
        <form class="usa-form usa-form--large" method="post" action={`/budgets/${b.id}/proposals/${p.id}/valuation`}>
          <CsrfField ctx={ctx} />
          <fieldset class="usa-fieldset">
            <legend class="usa-legend">{t('budgeting.feasibility')}</legend>
            {(['feasible', 'unfeasible', 'undecided'] as const).map((f) => (
              <div class="usa-radio">
                <input class="usa-radio__input" id={`fe-${f}`} type="radio" name="feasibility" value={f} checked={p.feasibility === f} />
                <label class="usa-radio__label" for={`fe-${f}`}>
                  {t(`budgeting.feasibility.${f}`)}
                </label>
              </div>
            ))}
          </fieldset>
          <label class="usa-label" for="f-reason">
            {t('budgeting.valuation.reason')}
          </label>
          <textarea class="usa-textarea" id="f-reason" name="unfeasibility_reason">
            {p.unfeasibility_reason ?? ''}
          </textarea>
          <label class="usa-label" for="f-price">
            {t('budgeting.price')}
          </label>
          <div class="usa-hint" id="f-price-hint">
            {t('budgeting.valuation.price.hint')}
          </div>
          <input class="usa-input" id="f-price" name="price" inputMode="decimal" value={p.price == null ? '' : amountForInput(Number(p.price), request.locale)} aria-describedby="f-price-hint" />
          <label class="usa-label" for="f-explanation">
            {t('budgeting.valuation.explanation')}
          </label>
          <textarea class="usa-textarea" id="f-explanation" name="price_explanation">
            {p.price_explanation ?? ''}
          </textarea>
          <label class="usa-label" for="f-duration">
            {t('budgeting.valuation.duration')}
          </label>
          <input class="usa-input" id="f-duration" name="duration" value={p.duration ?? ''} />
          <button class="usa-button" type="submit">
            {t('common.save')}
          </button>
        </form>
      </div>,
    );
  });

  app.post('/budgets/:id/proposals/:pid/valuation', { preHandler: requireUser }, async (request, reply) => {
    const { b, p } = await loadValuation(request);
    const form = (request.body ?? {}) as Form;
    const feasibility = str(form.feasibility);
    if (feasibility !== 'feasible' && feasibility !== 'unfeasible' && feasibility !== 'undecided') throw new HttpError(400, 'Choose feasible or unfeasible', 'budgeting.valuation.error.feasibility');
    const reason = str(form.unfeasibility_reason);
    if (feasibility === 'unfeasible' && reason.length < 5) throw new HttpError(400, 'An unfeasible proposal needs the reason', 'budgeting.valuation.error.reason');
    const priceText = str(form.price);
    const price = priceText === '' ? null : parseAmount(priceText);
    if (price === null && priceText !== '') throw new HttpError(400, 'The price must be an amount like 1.500.000 or 1500000,50', 'budgeting.valuation.error.price');
    if (feasibility === 'feasible' && price === null) throw new HttpError(400, 'A feasible proposal needs a price', 'budgeting.valuation.error.price');
    await db.transaction().execute(async (trx) => {
      await trx
        .updateTable('bg_proposals')
        .set({
          feasibility,
          unfeasibility_reason: feasibility === 'unfeasible' ? reason : null,
          price,
          price_explanation: str(form.price_explanation) || null,
          duration: str(form.duration) || null,
          updated_at: new Date(),
        })
        .where('id', '=', p.id)
        .execute();
      await services.audit.record(request.actor(), { action: 'budget.proposal.valuate', subjectType: 'budget_proposal', subjectId: p.id, details: { feasibility, price } }, asCore(trx));
      if (feasibility === 'unfeasible' && p.feasibility !== 'unfeasible' && p.author_email) {
        const t = services.i18n.translator('es-AR');
        await services.mail.enqueue(
          { to: p.author_email, subject: t('budgeting.mail.unfeasible.subject', { title: p.title }), text: t('budgeting.mail.unfeasible.body', { title: p.title, reason, url: `${services.config.baseUrl}/budgets/${b.id}/proposals/${p.id}` }) },
          asCore(trx),
        );
      }
    });
    return reply.redirect(`/budgets/${b.id}/proposals/${p.id}?done=valuation`, 303);
  });

  /** Administrators name the office that carries out a winning project; its officials post milestones. */
  app.post('/budgets/:id/proposals/:pid/office', { preHandler: requireAdmin }, async (request, reply) => {
    const params = request.params as { id: string; pid: string };
    const b = await loadBudget(params.id);
    const p = await getProposal(db, intParam(params.pid));
    if (!p || p.budget_id !== b.id || !p.selected) throw notFound();
    const officeId = idField(((request.body ?? {}) as Form).office, 'Unknown office', 'budgeting.office.error');
    const office = officeId ? await officeById(services.db, officeId) : null;
    if (officeId && !office) throw new HttpError(400, 'Unknown office', 'budgeting.office.error');
    await db.transaction().execute(async (trx) => {
      await trx.updateTable('bg_proposals').set({ office_id: office?.id ?? null, updated_at: new Date() }).where('id', '=', p.id).execute();
      await services.audit.record(request.actor(), { action: 'budget.proposal.office', subjectType: 'budget_proposal', subjectId: p.id, details: { office_id: office?.id ?? null } }, asCore(trx));
    });
    return reply.redirect(`/budgets/${b.id}/proposals/${p.id}?done=saved#milestones`, 303);
  });

  app.post('/budgets/:id/proposals/:pid/milestones', { preHandler: requireRole('official', 'admin') }, async (request, reply) => {
    const params = request.params as { id: string; pid: string };
    const b = await loadBudget(params.id);
    const p = await getProposal(db, intParam(params.pid));
    if (!p || p.budget_id !== b.id || !p.selected) throw notFound();
    // An official acts only for their own office: the project's responsible one.
    if (!request.user!.roles.includes('admin') && (p.office_id == null || !request.user!.officeIds.includes(p.office_id))) {
      throw new HttpError(403, 'Only the responsible office posts milestones', 'budgeting.office.only');
    }
    const { form, files, tooLarge } = await readForm(request);
    if (tooLarge) throw new HttpError(413, 'The photo is over the upload limit', 'budgeting.milestone.error.photo');
    const title = str(form.title);
    const status = str(form.status) || 'planned';
    const day = str(form.happened_on);
    if (title.length < 3) throw new HttpError(400, 'A milestone needs a title', 'budgeting.milestone.error');
    if (!MILESTONE_STATUSES.includes(status as (typeof MILESTONE_STATUSES)[number])) throw new HttpError(400, 'Unknown status', 'budgeting.milestone.error');
    if (day && !/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new HttpError(400, 'Dates must be YYYY-MM-DD', 'budgeting.admin.error.date');
    const photo = files.find((f) => f.field === 'photo');
    let photoId: string | null = null;
    if (photo) {
      try {
        photoId = (await services.files.putImage(photo.data, photo.filename, { createdBy: request.user!.id })).id;
      } catch (err) {
        if (err instanceof UploadError) throw new HttpError(err.code === 'too_large' ? 413 : 400, 'The photo is not a supported image', 'budgeting.milestone.error.photo');
        throw err;
      }
    }
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('bg_milestones').values({ proposal_id: p.id, title, description: str(form.description), status, happened_on: day || null, author_id: request.user!.id, photo_file_id: photoId }).execute();
      await services.audit.record(request.actor(), { action: 'budget.milestone.add', subjectType: 'budget_proposal', subjectId: p.id, details: { title, status, photo: photoId } }, asCore(trx));
    });
    return reply.redirect(`/budgets/${b.id}/proposals/${p.id}#milestones`, 303);
  });

  /** The responsible office updates a milestone: its status, note and (optionally) a new photo. Audited. */
  app.post('/budgets/:id/proposals/:pid/milestones/:mid', { preHandler: requireRole('official', 'admin') }, async (request, reply) => {
    const params = request.params as { id: string; pid: string; mid: string };
    const b = await loadBudget(params.id);
    const p = await getProposal(db, intParam(params.pid));
    if (!p || p.budget_id !== b.id || !p.selected) throw notFound();
    const m = await db.selectFrom('bg_milestones').selectAll().where('id', '=', intParam(params.mid)).where('proposal_id', '=', p.id).executeTakeFirst();
    if (!m) throw notFound();
    if (!request.user!.roles.includes('admin') && (p.office_id == null || !request.user!.officeIds.includes(p.office_id))) {
      throw new HttpError(403, 'Only the responsible office updates milestones', 'budgeting.office.only');
    }
    const { form, files, tooLarge } = await readForm(request);
    if (tooLarge) throw new HttpError(413, 'The photo is over the upload limit', 'budgeting.milestone.error.photo');
    const status = str(form.status) || m.status;
    if (!MILESTONE_STATUSES.includes(status as (typeof MILESTONE_STATUSES)[number])) throw new HttpError(400, 'Unknown status', 'budgeting.milestone.error');
    const note = form.note === undefined ? m.description : str(form.note);
    if (note.length > 5000) throw new HttpError(400, 'The note has at most 5000 characters', 'budgeting.milestone.error');
    const photo = files.find((f) => f.field === 'photo' && f.data.length > 0);
    let photoId = m.photo_file_id;
    if (photo) {
      try {
        photoId = (await services.files.putImage(photo.data, photo.filename, { createdBy: request.user!.id })).id;
      } catch (err) {
        if (err instanceof UploadError) throw new HttpError(err.code === 'too_large' ? 413 : 400, 'The photo is not a supported image', 'budgeting.milestone.error.photo');
        throw err;
      }
    }
    await db.transaction().execute(async (trx) => {
      await trx.updateTable('bg_milestones').set({ status, description: note, photo_file_id: photoId }).where('id', '=', m.id).execute();
      await services.audit.record(
        request.actor(),
        { action: 'budget.milestone.update', subjectType: 'budget_proposal', subjectId: p.id, details: { milestone_id: m.id, from: m.status, to: status, photo: photoId !== m.photo_file_id ? photoId : undefined } },
        asCore(trx),
      );
    });
    return reply.redirect(`/budgets/${b.id}/proposals/${p.id}#milestones`, 303);
  });

  // ---------- Paper ballots (in-person voting points) ----------

  const paperGuard = (request: FastifyRequest, b: Budget) => {
    if (!canEnterPaper(request, b)) throw new HttpError(403, "Only the budget's organising office enters paper ballots", 'budgeting.paper.error.office');
  };

  app.get('/budgets/:id/paper-ballot', { preHandler: requireRole('official', 'admin') }, async (request, reply) => {
    const { t } = request;
    const b = await loadBudget((request.params as { id: string }).id);
    paperGuard(request, b);
    const ctx = request.pageContext();
    const headings = await headingsOf(db, b.id);
    const q = request.query as Record<string, string | undefined>;
    const heading = headings.find((h) => String(h.id) === q.heading);
    const proposals = heading ? await ballotProposals(db, heading.id) : [];
    return reply.page(
      t('budgeting.paper.title'),
      <div class="grid-container">
        <h1>{t('budgeting.paper.title')}</h1>
        <p>{t('budgeting.paper.help')}</p>
        {q.saved && (
          <div class="usa-alert usa-alert--success usa-alert--slim" role="status">
            <div class="usa-alert__body">
              <p class="usa-alert__text">{t('budgeting.paper.saved')}</p>
            </div>
          </div>
        )}
        {!heading ? (
          <ul class="usa-list">
            {headings.map((h) => (
              <li>
                <a href={`/budgets/${b.id}/paper-ballot?heading=${h.id}`}>
                  {h.group_name} · {h.name}
                </a>
              </li>
            ))}
          </ul>
        ) : (
          <form class="usa-form usa-form--large" method="post" action={`/budgets/${b.id}/paper-ballot`}>
            <CsrfField ctx={ctx} />
            <input type="hidden" name="heading" value={String(heading.id)} />
            <label class="usa-label" for="f-email">
              {t('budgeting.paper.email')}
            </label>
            <input class="usa-input" id="f-email" name="email" type="email" required />
            <fieldset class="usa-fieldset">
              <legend class="usa-legend">
                {heading.name} ({money(request, b, Number(heading.amount))})
              </legend>
              {proposals.map((p) => (
                <div class="usa-checkbox">
                  <input class="usa-checkbox__input" id={`p-${p.id}`} type="checkbox" name="proposal" value={String(p.id)} />
                  <label class="usa-checkbox__label" for={`p-${p.id}`}>
                    {p.title} — {money(request, b, Number(p.price))}
                  </label>
                </div>
              ))}
            </fieldset>
            <button class="usa-button" type="submit">
              {t('budgeting.paper.submit')}
            </button>
          </form>
        )}
      </div>,
    );
  });

  app.post('/budgets/:id/paper-ballot', { preHandler: requireRole('official', 'admin') }, async (request, reply) => {
    const b = await loadBudget((request.params as { id: string }).id);
    paperGuard(request, b);
    const form = (request.body ?? {}) as Form;
    const headings = await headingsOf(db, b.id);
    const heading = headings.find((h) => String(h.id) === str(form.heading));
    if (!heading) throw new HttpError(400, 'Unknown heading', 'budgeting.ballot.error.heading');
    const voter = await db.selectFrom('users').select(['id', 'verified_at', 'commune_id', 'disabled_at']).where((eb) => eb(eb.fn('lower', ['email']), '=', str(form.email).toLowerCase())).executeTakeFirst();
    if (!voter) throw new HttpError(400, 'No resident with that e-mail', 'budgeting.paper.error.voter');
    if (voter.disabled_at) throw new HttpError(400, 'That account is disabled', 'budgeting.paper.error.disabled');
    const chosen = ids(form.proposal);
    const proposals = await ballotProposals(db, heading.id);
    const check = checkBallot(
      { phase: b.phase, votingRule: b.voting_rule, maxVotes: b.max_votes },
      { verified: voter.verified_at !== null, communeId: voter.commune_id },
      { id: heading.id, groupId: heading.group_id, amount: Number(heading.amount), communeId: heading.commune_id },
      proposals.map((p) => ({ id: p.id, headingId: p.heading_id, price: p.price == null ? null : Number(p.price), feasible: p.feasibility === 'feasible' })),
      chosen,
    );
    if (!check.ok) throw new HttpError(check.errorKey === 'budgeting.ballot.error.phase' ? 409 : 400, request.t(check.errorKey), check.errorKey);
    try {
      await db.transaction().execute(async (trx) => {
        // An online ballot saved empty is not a vote: the paper ballot replaces it. The row is locked
        // first so its lines are read after any online save in flight has committed.
        const online = await trx.selectFrom('bg_ballots').select(['id', 'channel']).where('group_id', '=', heading.group_id).where('user_id', '=', voter.id).forUpdate().executeTakeFirst();
        if (online?.channel === 'online') {
          const line = await trx.selectFrom('bg_ballot_lines').select('ballot_id').where('ballot_id', '=', online.id).limit(1).executeTakeFirst();
          if (!line) await trx.deleteFrom('bg_ballots').where('id', '=', online.id).execute();
        }
        const ballotId = await saveBallot(trx, { budgetId: b.id, groupId: heading.group_id, headingId: heading.id, userId: voter.id, communeId: voter.commune_id, proposalIds: chosen, channel: 'paper', enteredBy: request.user!.id });
        await services.audit.record(request.actor(), { action: 'budget.ballot.paper', subjectType: 'budget_ballot', subjectId: ballotId, details: { budget_id: b.id, heading_id: heading.id, voter_id: voter.id } }, asCore(trx));
      });
    } catch (err) {
      if (err instanceof BallotConflict) throw new HttpError(409, 'This resident already voted', 'budgeting.paper.error.voted');
      throw err;
    }
    return reply.redirect(`/budgets/${b.id}/paper-ballot?heading=${heading.id}&saved=1`, 303);
  });
}

export const MILESTONE_STATUSES = ['planned', 'in_progress', 'done', 'delayed'] as const;

export type { Phase };

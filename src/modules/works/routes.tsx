import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { stringify } from 'csv-stringify/sync';
import { sql, type Kysely } from 'kysely';
import type { CoreTables } from '../../core/db/schema';
import { HttpError, notFound, requireRole, assertOfficeMember } from '../../core/http/guards';
import { CsrfField, Pagination } from '../../core/ui/layout';
import { UploadError, sniffType } from '../../core/files';
import type { Services } from '../../core/services';
import sharp from 'sharp';
import { FLAGS, flagsFor, checkProgressUpdate, checkAmendment, type Flag } from './domain/flags';
import { STAGES, WORK_TYPES, inCityBox } from './domain/normalise';
import { checkProjectEdit } from './domain/edit';
import { DOCUMENT_LIMIT_BYTES, checkDocumentForm } from './domain/documents';
import { isShape, rounded } from './domain/geometry';
import { EditForm, editFormValues, type EditFormValues } from './views/edit';
import { DEFAULT_PREFIX, type ExportContext } from './domain/oc4ids';
import {
  addProgress,
  addAmendment,
  archivedProgrammes,
  archivedProgrammeIds,
  setProgrammeArchived,
  memo,
  overview,
  worksVersion,
  setBudgetRef,
  editProject,
  addDocument,
  removeDocument,
  concentratedSet,
  flagCondition,
  getProject,
  listProjects,
  nearby,
  programmeBySlug,
  totals,
  worksDb,
  applyFilters,
  type Filters,
  type WDb,
} from './store';
import { PROJECT_COLUMNS, type ProjectRow } from './tables';
import { exportOne, oc4idsPackageStream, ocdsReleasePackage, exportProjects } from './export';
import { importFile, ImportError } from './importer';
import { FlagsPage, HomePage, ImportPage, ListPage, TotalsGrid, ProjectTable, filterQuery, type FilterOptions } from './views/pages';
import { ProgressForm, ProjectPage } from './views/project';
import { cachedPage, sendCompressed, type Compressible } from './pagecache';
import { checkBudgetRefForm } from './domain/budgetref';
import { ProjectMap, pointsBox, Interactive, interactiveAssets, stageColour, type MapArea } from './views/map';

const PER_PAGE = 25;
/** Photos per progress update. */
const MAX_PHOTOS = 6;
/** What core's FileStore.putImage accepts (sharp's format names). */
const IMAGE_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'heif', 'avif']);

/** Files stored for an update that did not commit: gone from storage and from the files table. */
async function removeFiles(services: Services, ids: string[]): Promise<void> {
  for (const id of ids) {
    await services.files.storage.remove(id).catch(() => undefined);
    await services.files.storage.remove(`${id}-thumb`).catch(() => undefined);
    await services.db.deleteFrom('files').where('id', '=', id).execute().catch(() => undefined);
  }
}
/** How long aggregate figures may be reused at the same works version (see store.memo): bounds only the clock-driven flags. */
const STATS_TTL = 60_000;

function intParam(v: unknown, name: string, min: number, max: number): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new HttpError(400, `Invalid ${name}: ${String(v)}`, 'works.error.filter');
  return n;
}

function strParam(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() ? v.trim().slice(0, 200) : undefined;
}

/** Filters from the query string; unknown values are a clear 400, not an empty page. */
export function parseFilters(query: unknown): Filters {
  const q = (query ?? {}) as Record<string, unknown>;
  const f: Filters = {
    q: strParam(q.q),
    type: strParam(q.type),
    commune: intParam(q.commune, 'commune', 1, 15),
    neighbourhood: strParam(q.neighbourhood),
    stage: strParam(q.stage),
    office: intParam(q.office, 'office', 1, 2 ** 31 - 1),
    programme: intParam(q.programme, 'programme', 1, 2 ** 31 - 1),
    year: intParam(q.year, 'year', 1900, 2100),
    contractor: strParam(q.contractor),
    flag: strParam(q.flag) as Flag | undefined,
  };
  if (f.type && !(WORK_TYPES as readonly string[]).includes(f.type)) throw new HttpError(400, `Invalid type: ${f.type}`, 'works.error.filter');
  if (f.stage && !(STAGES as readonly string[]).includes(f.stage)) throw new HttpError(400, `Invalid stage: ${f.stage}`, 'works.error.filter');
  if (f.flag && !(FLAGS as readonly string[]).includes(f.flag)) throw new HttpError(400, `Invalid flag: ${f.flag}`, 'works.error.filter');
  for (const k of Object.keys(f) as Array<keyof Filters>) if (f[k] === undefined) delete f[k];
  return f;
}

export function exportContext(request: FastifyRequest): ExportContext {
  const { config } = request.server.services;
  return { baseUrl: config.baseUrl, prefix: process.env.OC4IDS_PREFIX ?? DEFAULT_PREFIX, cityName: config.cityName };
}

async function flagCounts(db: WDb): Promise<Record<Flag, number>> {
  const concentrated = await concentratedSet(db);
  const out = {} as Record<Flag, number>;
  const row = await db
    .selectFrom('works_projects')
    .select((eb) => FLAGS.map((f) => eb.fn.countAll<number>().filterWhere(flagCondition(eb, f, concentrated)).as(f)))
    .executeTakeFirstOrThrow();
  for (const f of FLAGS) out[f] = Number((row as Record<string, unknown>)[f] ?? 0);
  return out;
}

async function filterOptions(db: WDb): Promise<FilterOptions> {
  const [offices, programmes, communes] = await Promise.all([
    db.selectFrom('offices').select(['id', 'name']).where('id', 'in', db.selectFrom('works_projects').select('office_id').where('office_id', 'is not', null)).orderBy('name').execute(),
    db.selectFrom('works_programmes').select(['id', 'name']).orderBy('name').execute(),
    db.selectFrom('works_projects').select('commune_id').distinct().where('commune_id', 'is not', null).orderBy('commune_id').execute(),
  ]);
  return { offices, programmes, communes: communes.map((c) => c.commune_id!) };
}

async function communeAreas(request: FastifyRequest): Promise<MapArea[]> {
  return (await request.server.services.geo.communes()).map((c) => ({ id: c.id, name: c.name, geometry: c.geometry }));
}

async function mapData(request: FastifyRequest, db: WDb, f: Filters) {
  const points = (
    await db
      .selectFrom('works_projects')
      .select(['id', 'name', 'lat', 'lng', 'stage', sql<Array<[number, number]> | null>`case when geometry->>'type' = 'MultiPoint' then geometry->'coordinates' end`.as('multi')])
      .where((eb) => applyFilters(eb, f))
      .where('lat', 'is not', null)
      .where('lng', 'is not', null)
      .execute()
  ).flatMap((r) => placesOf(r).map(([lng, lat]) => ({ id: r.id, name: r.name, lat, lng, stage: r.stage })));
  const areas = await communeAreas(request);
  const bounds = await request.server.services.geo.bounds();
  return { points, areas, bbox: bounds ?? pointsBox(points) };
}

export const worksRoutes: FastifyPluginAsync = async (app) => {
  const { services } = app;
  const db = worksDb(services);
  const officialGuard = requireRole('official', 'admin');

  app.get('/works', async (request, reply) => {
    const v = await worksVersion(db);
    return cachedPage(request, reply, v, async (ctx) => {
      const t = ctx.t;
      const [ov, featured, archived, counts, communeRows] = await Promise.all([
        memo('overview', v, STATS_TTL, () => overview(db)),
        memo('featured', v, STATS_TTL, () => db.selectFrom('works_projects').select(['id', 'name', 'stage', 'type', 'progress']).where('featured', '=', true).orderBy('id', 'desc').limit(6).execute()),
        memo('archived', v, STATS_TTL, () => archivedProgrammes(db)),
        memo('flags', v, STATS_TTL, () => flagCounts(db)),
        services.geo.communes(),
      ]);
      const tot = ov.totals;
      const { commune: byCommune, type: byType, office: byOffice, stage: byStage } = ov.by;
      const charts = [
        {
          id: 'by-commune',
          title: t('works.chart.commune'),
          bars: byCommune
            .filter((b) => b.key)
            .sort((a, b) => Number(a.key) - Number(b.key))
            .map((b) => ({ label: t('works.commune', { n: b.key }), value: b.projects, href: `/works/projects?commune=${b.key}` })),
        },
        { id: 'by-type', title: t('works.chart.type'), bars: byType.map((b) => ({ label: t(`works.type.${b.key}`), value: b.projects, href: `/works/projects?type=${b.key}` })) },
        { id: 'by-office', title: t('works.chart.office'), bars: byOffice.map((b) => ({ label: b.key || t('works.unknown'), value: b.projects })) },
        { id: 'by-stage', title: t('works.chart.stage'), bars: byStage.map((b) => ({ label: t(`works.stage.${b.key}`), value: b.projects, href: `/works/projects?stage=${b.key}` })) },
      ];
      const communes = communeRows.map((c) => ({ id: c.id, name: c.name, geometry: c.geometry }));
      const perCommune = Object.fromEntries(byCommune.map((b) => [Number(b.key), b.projects]));
      return { title: t('works.title'), body: <HomePage ctx={ctx} data={{ totals: tot, charts, featured, archived, flagCounts: counts, communes, perCommune }} /> };
    });
  });

  // The home page's map of every project, as an image: rendered once per works version and
  // language, so the home page neither inlines 10,000 dots nor redraws them per visitor.
  app.get('/works/map.svg', async (request, reply) => {
    const v = await worksVersion(db);
    const svg = await memo(`map.svg:${request.locale}`, v, STATS_TTL, async () => {
      const { render } = await import('preact-render-to-string');
      const data = await mapData(request, db, {});
      const html = render(<ProjectMap ctx={request.pageContext()} title={request.t('works.home.map.alt', { n: data.points.length })} {...data} linked={false} />);
      // The first <svg> is the map; the legend after it has small SVGs of its own.
      return { html: Buffer.from(/<svg[\s\S]*?<\/svg>/.exec(html)?.[0] ?? '<svg xmlns="http://www.w3.org/2000/svg"/>') } as Compressible;
    });
    // A megabyte of dots: compressed once per version, not once per visitor.
    reply.header('cache-control', 'public, max-age=300');
    return sendCompressed(request, reply, svg, 'image/svg+xml');
  });

  // Points for the interactive map (core's island): title, link and stage colour per site.
  app.get('/works/map.geojson', async (request, reply) => {
    const f = parseFilters(request.query);
    const v = await worksVersion(db);
    // Every work, unfiltered, is what the home page and a plain list ask for: kept per version.
    reply.header('cache-control', 'public, max-age=60');
    if (Object.keys(f).length) return reply.type('application/geo+json').send(await mapPointsGeoJson(db, f));
    const all = await memo('map.geojson', v, STATS_TTL, async (): Promise<Compressible> => ({ html: Buffer.from(await mapPointsGeoJson(db, {})) }));
    return sendCompressed(request, reply, all, 'application/geo+json');
  });

  app.get('/works/projects', async (request, reply) => {
    const f = parseFilters(request.query);
    const q = request.query as Record<string, unknown>;
    const view = q.view === 'map' ? 'map' : 'list';
    const page = intParam(q.page, 'page', 1, 100000) ?? 1;
    const v = await worksVersion(db);
    return cachedPage(request, reply, v, async (ctx) => {
      const [{ rows, total }, options, map] = await Promise.all([
        listProjects(db, f, page, PER_PAGE),
        memo('options', v, STATS_TTL, () => filterOptions(db)),
        view === 'map' ? mapData(request, db, f) : Promise.resolve(undefined),
      ]);
      const pages = Math.max(1, Math.ceil(total / PER_PAGE));
      return {
        title: ctx.t('works.list.title'),
        body: <ListPage ctx={ctx} f={f} options={options} rows={rows} total={total} page={page} pages={pages} view={view} map={map} />,
        opts: { breadcrumbs: [{ href: '/works', label: ctx.t('works.title') }, { label: ctx.t('works.list.title') }], ...(view === 'map' ? interactiveAssets(ctx) : {}) },
      };
    });
  });

  app.get('/works/projects.csv', async (request, reply) => {
    const f = parseFilters(request.query);
    const csv = await projectsCsv(db, exportContext(request), f);
    return reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="obras.csv"').send(csv);
  });

  app.get('/works/projects.geojson', async (request, reply) => {
    const f = parseFilters(request.query);
    return reply.type('application/geo+json').send(await projectsGeoJson(db, f));
  });

  app.get('/works/flags', async (request, reply) => {
    const v = await worksVersion(db);
    return cachedPage(request, reply, v, async (ctx) => ({
      title: ctx.t('works.flags.title'),
      body: <FlagsPage ctx={ctx} counts={await memo('flags', v, STATS_TTL, () => flagCounts(db))} />,
      opts: { breadcrumbs: [{ href: '/works', label: ctx.t('works.title') }, { label: ctx.t('works.flags.title') }] },
    }));
  });

  app.get('/works/programmes/:slug', async (request, reply) => {
    const { slug } = request.params as { slug: string };
    const v = await worksVersion(db);
    return cachedPage(request, reply, v, async (ctx) => {
      const programme = await programmeBySlug(db, slug);
      if (!programme) throw notFound('No such programme');
      const f: Filters = { programme: programme.id };
      const [tot, list, map] = await Promise.all([totals(db, f), listProjects(db, f, 1, 500), mapData(request, db, f)]);
      const t = ctx.t;
      return {
        title: programme.name,
        body: (
          <div class="grid-container">
            <h1>{programme.name}</h1>
            {programme.archived && <p class="usa-intro">{t('works.programme.archivedLead')}</p>}
            {ctx.user?.roles.includes('admin') && (
              <form method="post" action={`/works/programmes/${programme.slug}/archive`} class="margin-y-2">
                <CsrfField ctx={ctx} />
                <input type="hidden" name="archived" value={programme.archived ? '0' : '1'} />
                <p class="usa-hint">{t('works.programme.archiveHint')}</p>
                <button type="submit" class="usa-button usa-button--outline">
                  {t(programme.archived ? 'works.programme.unarchive' : 'works.programme.archive')}
                </button>
              </form>
            )}
            {programme.description && <p>{programme.description}</p>}
            <TotalsGrid ctx={ctx} totals={tot} />
            <h2>{t('works.project.map')}</h2>
            <Interactive ctx={ctx} pointsUrl={`/works/map.geojson${filterQuery(f)}`}>
              <ProjectMap ctx={ctx} title={t('works.list.mapTitle', { n: map.points.length })} points={map.points} areas={map.areas} bbox={map.points.length ? pointsBox(map.points) : map.bbox} />
            </Interactive>
            <h2>{t('works.list.title')}</h2>
            <ProjectTable ctx={ctx} rows={list.rows} caption={t('works.list.count', { n: list.total })} />
            <p>
              <a href={`/api/oc4ids/project-package.json${filterQuery(f)}`}>{t('works.export.oc4ids')}</a> · <a href={`/works/projects.csv${filterQuery(f)}`}>{t('works.export.csv')}</a>
            </p>
          </div>
        ),
        opts: { breadcrumbs: [{ href: '/works', label: t('works.title') }, { label: programme.name }], ...interactiveAssets(ctx) },
      };
    });
  });

  // Administrators archive a programme (its works become a read-only record) or take it back.
  app.post('/works/programmes/:slug/archive', { preHandler: requireRole('admin') }, async (request, reply) => {
    const { slug } = request.params as { slug: string };
    const value = ((request.body ?? {}) as Record<string, string>).archived;
    if (value !== '0' && value !== '1') throw new HttpError(400, 'archived must be 0 or 1', 'works.error.filter');
    const programme = await programmeBySlug(db, slug);
    if (!programme) throw notFound('No such programme');
    await db.transaction().execute(async (trx) => {
      await setProgrammeArchived(trx, programme.id, value === '1');
      await services.audit.record(
        request.actor(),
        { action: value === '1' ? 'works.programme.archive' : 'works.programme.unarchive', subjectType: 'works_programme', subjectId: programme.id, officeId: null, details: { slug } },
        trx as unknown as Kysely<CoreTables>,
      );
    });
    return reply.redirect(`/works/programmes/${programme.slug}`, 303);
  });

  app.get('/works/photos/:fileId', async (request, reply) => {
    const { fileId } = request.params as { fileId: string };
    if (!/^[a-f0-9]{32}$/.test(fileId)) throw notFound();
    const used = await db.selectFrom('works_photos').select('id').where('file_id', '=', fileId).executeTakeFirst();
    const file = used && (await services.files.get(fileId));
    if (!file) throw notFound();
    const thumb = (request.query as Record<string, unknown>).size === 'thumb';
    return reply.type(file.content_type).header('cache-control', 'public, max-age=86400').send(services.files.open(fileId, thumb ? 'thumb' : undefined));
  });

  // An official's own works, to report progress on (administrators see every office's).
  app.get('/works/mine', { preHandler: officialGuard }, async (request, reply) => {
    const u = request.user!;
    const page = intParam((request.query as Record<string, unknown>).page, 'page', 1, 100000) ?? 1;
    const archived = [...(await archivedProgrammeIds(db))];
    // Works of archived programmes are a read-only record: nothing to report on.
    let q = db
      .selectFrom('works_projects')
      .where('stage', 'not in', ['finished', 'cancelled'])
      .where((eb) => (archived.length ? eb.or([eb('programme_id', 'is', null), eb('programme_id', 'not in', archived)]) : eb.lit(true)));
    if (!u.roles.includes('admin')) q = q.where('office_id', 'in', u.officeIds.length ? u.officeIds : [-1]);
    const [rows, count] = await Promise.all([
      q.select(['id', 'name', 'type', 'stage', 'progress', 'contract_amount', 'communes', 'neighbourhood', 'office_name', 'current_planned_end', 'last_progress_at']).orderBy(sql`last_progress_at asc nulls first`).orderBy('id').limit(PER_PAGE).offset((page - 1) * PER_PAGE).execute(),
      q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    const ctx = request.pageContext();
    const t = request.t;
    const pages = Math.max(1, Math.ceil(Number(count.n) / PER_PAGE));
    return reply.page(
      t('works.mine.title'),
      <div class="grid-container">
        <h1>{t('works.mine.title')}</h1>
        <p class="usa-intro">{t('works.mine.lead')}</p>
        <p>
          <a href="/works/import">{t('works.import.title')}</a>
        </p>
        {rows.length ? (
          <table class="usa-table usa-table--striped">
            <caption>{t('works.list.count', { n: Number(count.n) })}</caption>
            <thead>
              <tr>
                <th scope="col">{t('works.field.name')}</th>
                <th scope="col">{t('works.field.office')}</th>
                <th scope="col">{t('works.field.stage')}</th>
                <th scope="col">{t('works.field.progress')}</th>
                <th scope="col">{t('works.mine.last')}</th>
                <th scope="col">
                  <span class="usa-sr-only">{t('works.progress.post')}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id}>
                  <th scope="row">
                    <a href={`/works/${r.id}`}>{r.name}</a>
                  </th>
                  <td>{r.office_name}</td>
                  <td>{t(`works.stage.${r.stage}`)}</td>
                  <td>{r.progress === null ? '—' : request.fmt.percent(Number(r.progress) / 100)}</td>
                  <td>{r.last_progress_at ? request.fmt.date(r.last_progress_at) : '—'}</td>
                  <td>
                    <a href={`/works/${r.id}/progress`} aria-label={`${t('works.progress.post')}: ${r.name}`}>
                      {t('works.progress.post')}
                    </a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p>{t('works.mine.empty')}</p>
        )}
        <Pagination ctx={ctx} page={page} pages={pages} href={(p) => `/works/mine?page=${p}`} />
      </div>,
      { breadcrumbs: [{ href: '/works', label: t('works.title') }, { label: t('works.mine.title') }] },
    );
  });

  app.get('/works/import', { preHandler: officialGuard }, async (request, reply) => {
    return reply.page(request.t('works.import.title'), <ImportPage ctx={request.pageContext()} />);
  });

  app.post('/works/import', { preHandler: officialGuard, config: { rateLimit: { max: 10, timeWindow: '1 minute' } } }, async (request, reply) => {
    if (!request.isMultipart()) throw new HttpError(400, 'Upload the file as a multipart form', 'works.import.noFile');
    let file: Buffer | undefined;
    let name = 'upload.csv';
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        if (part.fieldname === 'file' && !file) {
          file = await part.toBuffer();
          name = part.filename || name;
        } else await part.toBuffer();
      }
    }
    const t = request.t;
    if (!file || !file.length) throw new HttpError(400, 'No file was uploaded', 'works.import.noFile');
    const user = request.user!;
    const allowed = user.roles.includes('admin') ? undefined : user.officeIds;
    try {
      const result = await importFile(services, file, name, request.actor(), allowed);
      return reply.page(t('works.import.title'), <ImportPage ctx={request.pageContext()} result={result} />);
    } catch (err) {
      if (err instanceof ImportError) return reply.page(t('works.import.title'), <ImportPage ctx={request.pageContext()} error={err.code ? t(`works.importError.${err.code}`, err.params) : err.message} />, { status: 400 });
      throw err;
    }
  });

  app.get('/works/:id', async (request, reply) => {
    const id = intParam((request.params as { id: string }).id, 'project', 1, 2 ** 31 - 1)!;
    const v = await worksVersion(db);
    return cachedPage(request, reply, v, async (ctx) => {
      const found = await getProject(db, id);
      if (!found) throw notFound('No such project');
      const p = found.project;
      const [near, concentrated] = await Promise.all([nearby(db, p), memo('concentrated', v, STATS_TTL, () => concentratedSet(db))]);
      const flags = flagsFor(
        {
          stage: p.stage,
          progress: p.progress === null ? null : Number(p.progress),
          contractAmount: p.contract_amount === null ? null : Number(p.contract_amount),
          extraAmount: Number(p.extra_amount),
          currentPlannedEnd: p.current_planned_end,
          lastProgressAt: p.last_progress_at,
          startDate: p.start_date,
          bidders: p.bidders,
          contractorCuit: p.contractor_cuit,
        },
        new Date(),
        concentrated,
      );
      const u = request.user;
      // An archived programme's works are a read-only record: no link to forms that would answer 409.
      const readOnly = p.programme_id !== null && (await memo('archivedIds', v, STATS_TTL, () => archivedProgrammeIds(db))).has(p.programme_id);
      const canEdit = !readOnly && !!u && (u.roles.includes('admin') || (p.office_id !== null && u.officeIds.includes(p.office_id)));
      return {
        title: p.name,
        body: <ProjectPage ctx={ctx} d={{ ...found, nearby: near, flags, canEdit }} />,
        opts: { breadcrumbs: [{ href: '/works', label: ctx.t('works.title') }, { href: '/works/projects', label: ctx.t('works.list.title') }, { label: p.name }] },
      };
    });
  });

  async function loadOwnProject(request: FastifyRequest) {
    const id = intParam((request.params as { id: string }).id, 'project', 1, 2 ** 31 - 1)!;
    const project = await db.selectFrom('works_projects').select(PROJECT_COLUMNS).where('id', '=', id).executeTakeFirst();
    if (!project) throw notFound('No such project');
    assertOfficeMember(request, project.office_id);
    if (project.programme_id !== null && (await archivedProgrammeIds(db)).has(project.programme_id)) {
      throw new HttpError(409, 'This work belongs to an archived programme: it is a read-only record', 'works.programme.readOnly');
    }
    return project;
  }

  app.get('/works/:id/progress', { preHandler: officialGuard }, async (request, reply) => {
    const project = await loadOwnProject(request);
    return reply.page(request.t('works.progress.post'), <ProgressForm ctx={request.pageContext()} project={project} />);
  });

  app.post('/works/:id/progress', { preHandler: officialGuard }, async (request, reply) => {
    const project = await loadOwnProject(request);
    const fields: Record<string, string> = {};
    const images: Array<{ buf: Buffer; name: string }> = [];
    if (request.isMultipart()) {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          const buf = await part.toBuffer();
          if (part.fieldname === 'photos' && buf.length) images.push({ buf, name: part.filename });
        } else fields[part.fieldname] = String(part.value ?? '');
      }
    } else Object.assign(fields, request.body as Record<string, string>);
    const t = request.t;
    const values = { progress: fields.progress, stage: fields.stage, note: fields.note };
    const fail = (key: string, status = 400) =>
      reply.page(t('works.progress.post'), <ProgressForm ctx={request.pageContext()} project={project} error={t(key)} values={values} />, { status });
    const next = fields.progress?.trim() === '' || fields.progress === undefined ? NaN : Number(fields.progress.replace(',', '.'));
    const stage = fields.stage ?? project.stage;
    if (!(STAGES as readonly string[]).includes(stage)) return fail('works.progress.error.stage');
    const note = (fields.note ?? '').trim().slice(0, 2000);
    const problem = checkProgressUpdate(project.progress === null ? null : Number(project.progress), next, note);
    if (problem) return fail(problem);
    // Every photo is checked before any is stored, and stored ones are removed again if the
    // update does not commit: a refused update leaves no files behind.
    if (images.length > MAX_PHOTOS) return fail('works.progress.error.tooMany');
    for (const img of images) {
      if (img.buf.length > services.files.limitBytes) return fail('works.progress.error.tooLarge', 413);
      const format = await sharp(img.buf)
        .metadata()
        .then((m) => m.format)
        .catch(() => undefined);
      if (!format || !IMAGE_FORMATS.has(format)) return fail('works.progress.error.image');
    }
    const stored: Array<{ fileId: string; caption: string | null }> = [];
    try {
      for (const img of images) {
        const f = await services.files.putImage(img.buf, img.name || 'foto.jpg', { createdBy: request.user!.id });
        stored.push({ fileId: f.id, caption: (fields.caption ?? '').trim().slice(0, 300) || null });
      }
      await db.transaction().execute(async (trx) => {
        await addProgress(trx, project.id, { progress: next, stage, note, userId: request.user!.id, photos: stored });
        await services.audit.record(
          request.actor(),
          { action: 'works.progress', subjectType: 'works_project', subjectId: project.id, officeId: project.office_id, details: { from: project.progress, to: next, stage } },
          trx as unknown as Kysely<CoreTables>,
        );
      });
    } catch (err) {
      await removeFiles(services, stored.map((s) => s.fileId));
      if (err instanceof UploadError) return fail(err.code === 'too_large' ? 'works.progress.error.tooLarge' : 'works.progress.error.image', err.code === 'too_large' ? 413 : 400);
      throw err;
    }
    return reply.redirect(`/works/${project.id}`, 303);
  });

  app.post('/works/:id/amendments', { preHandler: officialGuard }, async (request, reply) => {
    const project = await loadOwnProject(request);
    const body = (request.body ?? {}) as Record<string, string>;
    const checked = checkAmendment(body);
    if (typeof checked === 'string') {
      return reply.page(request.t('works.progress.post'), <ProgressForm ctx={request.pageContext()} project={project} amendmentError={request.t(checked)} amendment={body} />, { status: 400 });
    }
    await db.transaction().execute(async (trx) => {
      await addAmendment(trx, project, checked);
      await services.audit.record(
        request.actor(),
        { action: 'works.amendment', subjectType: 'works_project', subjectId: project.id, officeId: project.office_id, details: { ...checked } },
        trx as unknown as Kysely<CoreTables>,
      );
    });
    return reply.redirect(`/works/${project.id}`, 303);
  });

  // The BA Elige project a work comes from: set, changed or removed by the work's office.
  app.post('/works/:id/budget-link', { preHandler: officialGuard }, async (request, reply) => {
    const project = await loadOwnProject(request);
    const body = (request.body ?? {}) as Record<string, string>;
    const checked = checkBudgetRefForm(body);
    if (typeof checked === 'string') {
      return reply.page(request.t('works.progress.post'), <ProgressForm ctx={request.pageContext()} project={project} pbError={request.t(checked)} pb={body} />, { status: 400 });
    }
    await db.transaction().execute(async (trx) => {
      await setBudgetRef(trx, project.id, checked.ref);
      await services.audit.record(
        request.actor(),
        { action: 'works.budget-link', subjectType: 'works_project', subjectId: project.id, officeId: project.office_id, details: { from: project.pb_ref_url, to: checked.ref?.url ?? null } },
        trx as unknown as Kysely<CoreTables>,
      );
    });
    return reply.redirect(`/works/${project.id}`, 303);
  });

  // The work's own data, corrected by its office (or an administrator).
  const editPage = async (request: FastifyRequest, reply: FastifyReply, project: ProjectRow, values: EditFormValues, error?: { field: string; message: string }) => {
    const ctx = request.pageContext();
    return reply.page(ctx.t('works.edit.title', { name: project.name }), <EditForm ctx={ctx} project={project} values={values} error={error} areas={await communeAreas(request)} />, {
      status: error ? 400 : 200,
      breadcrumbs: [{ href: '/works', label: ctx.t('works.title') }, { href: `/works/${project.id}`, label: project.name }, { label: ctx.t('works.edit.link') }],
      ...interactiveAssets(ctx),
    });
  };

  app.get('/works/:id/edit', { preHandler: officialGuard }, async (request, reply) => {
    const project = await loadOwnProject(request);
    return editPage(request, reply, project, editFormValues(project));
  });

  app.post('/works/:id/edit', { preHandler: officialGuard }, async (request, reply) => {
    const project = await loadOwnProject(request);
    const body = (request.body ?? {}) as Record<string, unknown>;
    const values = editFormValues(project);
    for (const k of Object.keys(values)) if (typeof body[k] === 'string') values[k] = body[k] as string;
    const t = request.t;
    const checked = checkProjectEdit(values);
    if ('key' in checked) return editPage(request, reply, project, values, { field: checked.field, message: `${t(`works.edit.field.${checked.field}`)}: ${t(checked.key, checked.params)}` });
    // The point must be in the city: inside a commune when the boundaries are loaded, in the city's box otherwise.
    let place: { communeId: number; neighbourhood: string | null } | null = null;
    if (checked.lat !== null && checked.lng !== null) {
      const hasCity = (await services.geo.communes()).length > 0;
      const found = hasCity ? await services.geo.locate(checked.lat, checked.lng) : null;
      if (hasCity ? !found : !inCityBox(checked.lat, checked.lng)) {
        return editPage(request, reply, project, values, { field: 'lat', message: t('works.edit.error.outside', { lat: checked.lat, lng: checked.lng }) });
      }
      if (found) place = { communeId: found.commune.id, neighbourhood: found.neighbourhood?.name ?? null };
    }
    await db.transaction().execute(async (trx) => {
      const diff = await editProject(trx, project, checked, place);
      if (!diff) return;
      await services.audit.record(
        request.actor(),
        { action: 'works.edit', subjectType: 'works_project', subjectId: project.id, officeId: project.office_id, details: diff },
        trx as unknown as Kysely<CoreTables>,
      );
    });
    return reply.redirect(`/works/${project.id}`, 303);
  });

  // Documents the office attaches: a PDF (checked by its bytes) or the address of one.
  app.post('/works/:id/documents', { preHandler: officialGuard }, async (request, reply) => {
    const project = await loadOwnProject(request);
    const fields: Record<string, string> = {};
    let file: { buf: Buffer; name: string } | undefined;
    if (request.isMultipart()) {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          const buf = await part.toBuffer();
          if (part.fieldname === 'file' && buf.length && !file) file = { buf, name: part.filename || 'documento.pdf' };
        } else fields[part.fieldname] = String(part.value ?? '');
      }
    } else Object.assign(fields, request.body as Record<string, string>);
    const t = request.t;
    const fail = (key: string, status = 400) =>
      reply.page(t('works.progress.post'), <ProgressForm ctx={request.pageContext()} project={project} docError={t(key)} doc={fields} />, { status });
    const checked = checkDocumentForm(fields, !!file);
    if (typeof checked === 'string') return fail(checked);
    if (file) {
      if (file.buf.length > Math.min(DOCUMENT_LIMIT_BYTES, services.files.limitBytes)) return fail('works.document.error.tooLarge', 413);
      if (sniffType(file.buf) !== 'application/pdf') return fail('works.document.error.pdf');
    }
    const stored = file ? await services.files.put(file.buf, file.name, { createdBy: request.user!.id }) : undefined;
    try {
      await db.transaction().execute(async (trx) => {
        const id = await addDocument(trx, project.id, { title: checked.title, documentType: checked.documentType, fileId: stored?.id ?? null, url: checked.url, userId: request.user!.id });
        await services.audit.record(
          request.actor(),
          { action: 'works.document', subjectType: 'works_project', subjectId: project.id, officeId: project.office_id, details: { document: id, title: checked.title, type: checked.documentType, file: stored?.id ?? null, url: checked.url } },
          trx as unknown as Kysely<CoreTables>,
        );
      });
    } catch (err) {
      if (stored) await removeFiles(services, [stored.id]);
      throw err;
    }
    return reply.redirect(`/works/${project.id}#documents`, 303);
  });

  app.post('/works/:id/documents/:doc/delete', { preHandler: officialGuard }, async (request, reply) => {
    const project = await loadOwnProject(request);
    const docId = intParam((request.params as { doc: string }).doc, 'document', 1, 2 ** 31 - 1)!;
    const removed = await db.transaction().execute(async (trx) => {
      const row = await removeDocument(trx, project.id, docId);
      if (!row) throw notFound('No such document');
      await services.audit.record(
        request.actor(),
        { action: 'works.document.remove', subjectType: 'works_project', subjectId: project.id, officeId: project.office_id, details: { document: row.id, title: row.title, type: row.document_type, file: row.file_id, url: row.url } },
        trx as unknown as Kysely<CoreTables>,
      );
      return row;
    });
    // The bytes go only once the row is gone for good.
    if (removed.file_id) await removeFiles(services, [removed.file_id]);
    return reply.redirect(`/works/${project.id}#documents`, 303);
  });

  app.get('/works/documents/:fileId', async (request, reply) => {
    const { fileId } = request.params as { fileId: string };
    if (!/^[a-f0-9]{32}$/.test(fileId)) throw notFound();
    const used = await db.selectFrom('works_documents').select('title').where('file_id', '=', fileId).executeTakeFirst();
    const file = used && (await services.files.get(fileId));
    if (!file || file.content_type !== 'application/pdf') throw notFound();
    const name = file.original_name.replace(/[^\w.-]+/g, '_').replace(/^_+|_+$/g, '') || 'documento.pdf';
    return reply
      .type('application/pdf')
      .header('content-disposition', `inline; filename="${name}"; filename*=UTF-8''${encodeURIComponent(file.original_name)}`)
      // A PDF is the office's upload, not our page: no scripts, no forms, no same-origin rights.
      .header('content-security-policy', 'sandbox')
      .header('cache-control', 'public, max-age=86400')
      .send(services.files.open(fileId));
  });

  // ---- Open Contracting: OC4IDS packages and OCDS releases (their own paths, not /api/v1).
  app.get('/api/oc4ids/project-package.json', async (request, reply) => {
    const f = parseFilters(request.query);
    const ctx = exportContext(request);
    const last = await db.selectFrom('works_projects').select((eb) => eb.fn.max('updated_at').as('m')).executeTakeFirst();
    // The schema wants at least one project: an empty package would be invalid, so say so instead.
    const any = await db.selectFrom('works_projects').select('id').where((eb) => applyFilters(eb, f)).limit(1).executeTakeFirst();
    if (!any) throw new HttpError(404, 'No project matches these filters: there is no OC4IDS package to publish', 'works.export.empty');
    const uri = `${ctx.baseUrl}/api/oc4ids/project-package.json${filterQuery(f)}`;
    return reply.type('application/json; charset=utf-8').send(oc4idsPackageStream(db, ctx, uri, last?.m ? new Date(last.m as Date) : new Date(), f));
  });

  app.get('/api/oc4ids/projects/:id.json', async (request, reply) => {
    const id = intParam((request.params as { id: string }).id, 'project', 1, 2 ** 31 - 1)!;
    const ctx = exportContext(request);
    const p = await exportOne(db, ctx, id);
    if (!p) throw notFound('No such project');
    const { toOc4ids, packageHeader } = await import('./domain/oc4ids');
    return reply.send({ ...packageHeader(ctx, `${ctx.baseUrl}/api/oc4ids/projects/${id}.json`, p.updatedAt), projects: [toOc4ids(p, ctx)] });
  });

  app.get('/api/ocds/releases/:id.json', async (request, reply) => {
    const id = intParam((request.params as { id: string }).id, 'project', 1, 2 ** 31 - 1)!;
    const ctx = exportContext(request);
    const p = await exportOne(db, ctx, id);
    if (!p) throw notFound('No such project');
    return reply.send(ocdsReleasePackage(p, ctx, `${ctx.baseUrl}/api/ocds/releases/${id}.json`));
  });
};

/** A work's geometry for the GeoJSON outputs: its sites, line or area, or its one point. */
function featureGeometry(r: { lat: number | null; lng: number | null; geom?: GeoJSON.Geometry | null }): string {
  if (r.geom && (r.geom.type === 'MultiPoint' || isShape(r.geom))) return JSON.stringify(rounded(r.geom));
  return `{"type":"Point","coordinates":[${r.lng!.toFixed(5)},${r.lat!.toFixed(5)}]}`;
}

/** Every point of a work: the points of a MultiPoint, or its one lat/lng. */
export function placesOf(r: { lat: number | null; lng: number | null; multi?: Array<[number, number]> | null }): Array<[number, number]> {
  if (r.multi?.length) return r.multi;
  return r.lat !== null && r.lng !== null ? [[r.lng, r.lat]] : [];
}

/** Every project with a place, as small GeoJSON points (several for a work on several sites; the full record is one click away). */
export async function projectsGeoJson(db: WDb, f: Filters = {}): Promise<string> {
  const rows = await db
    .selectFrom('works_projects')
    .select(['id', 'name', 'stage', 'type', 'lat', 'lng', sql<GeoJSON.Geometry | null>`case when geometry->>'type' <> 'Point' then geometry end`.as('geom')])
    .where((eb) => applyFilters(eb, f))
    .where('lat', 'is not', null)
    .orderBy('id')
    .execute();
  const features = rows.map((r) => {
    return `{"type":"Feature","id":${r.id},"geometry":${featureGeometry(r)},"properties":{"name":${JSON.stringify(r.name)},"stage":"${r.stage}","type":"${r.type}"}}`;
  });
  return `{"type":"FeatureCollection","features":[${features.join(',')}]}`;
}

/** The works' sites for core's map island: `title`, `url` (a same-site path) and `color` by stage. */
export async function mapPointsGeoJson(db: WDb, f: Filters = {}): Promise<string> {
  const rows = await db
    .selectFrom('works_projects')
    .select(['id', 'name', 'stage', 'lat', 'lng', sql<GeoJSON.Geometry | null>`case when geometry->>'type' <> 'Point' then geometry end`.as('geom')])
    .where((eb) => applyFilters(eb, f))
    .where('lat', 'is not', null)
    .orderBy('id')
    .execute();
  const features = rows.map((r) => {
    const geometry = featureGeometry(r);
    // No feature id: the url carries it, and leaving it out keeps every work under 300 KB gzipped.
    return `{"type":"Feature","geometry":${geometry},"properties":{"title":${JSON.stringify(r.name)},"url":"/works/${r.id}","color":"${stageColour(r.stage)}"}}`;
  });
  return `{"type":"FeatureCollection","features":[${features.join(',')}]}`;
}

/** The works as CSV, one row per project, same filters as the list. */
export async function projectsCsv(db: WDb, ctx: ExportContext, f: Filters = {}): Promise<string> {
  const header = ['id', 'external_id', 'name', 'type', 'raw_type', 'programme', 'office', 'stage', 'progress', 'contract_amount', 'currency', 'extra_amount', 'start_date', 'planned_end', 'current_planned_end', 'actual_end', 'communes', 'neighbourhood', 'address', 'lat', 'lng', 'workers', 'procurement_method', 'procedure_number', 'tender_year', 'contractor_name', 'contractor_cuit', 'url'];
  const lines: string[] = [stringify([header])];
  for await (const batch of exportProjects(db, ctx, f)) {
    lines.push(
      stringify(
        batch.map((p) => [p.id, p.externalId, p.name, p.type, p.rawType ?? '', p.programme?.name ?? '', p.office?.name ?? '', p.stage, p.progress ?? '', p.contractAmount ?? '', p.currency, p.amendments.reduce((s, a) => s + a.extraAmount, 0), p.startDate ?? '', p.plannedEnd ?? '', p.currentPlannedEnd ?? '', p.actualEnd ?? '', p.communes.join(' '), p.neighbourhood ?? '', p.address ?? '', p.lat ?? '', p.lng ?? '', p.workers ?? '', p.procurementMethod ?? '', p.procedureNumber ?? '', p.tenderYear ?? '', p.contractors[0]?.name ?? '', p.contractors[0]?.cuit ?? '', `${ctx.baseUrl}/works/${p.id}`]),
      ),
    );
  }
  return lines.join('');
}

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { notFound } from '../http/guards';
import { CommunesMap, MapIsland } from '../ui/map';
import type { PageContext } from '../ui/context';
import type { MapArea } from '../ui/map';

/**
 * The communes map inside the element the map island mounts on. The island swaps the SVG for
 * Leaflet only once the layers (and tiles, when TILE_URL is set) have loaded.
 */
export function InteractiveCommunesMap(props: {
  ctx: PageContext;
  communes: MapArea[];
  geojsonUrl: string;
  highlight?: number;
}) {
  const { ctx } = props;
  return (
    <MapIsland ctx={ctx} geojsonUrl={props.geojsonUrl} label={ctx.t('geo.map.interactive')} highlight={props.highlight}>
      <CommunesMap ctx={ctx} communes={props.communes} highlight={props.highlight} list={false} />
    </MapIsland>
  );
}

const km2 = (m2: number) => m2 / 1e6;

/** Public pages: every commune, and one commune with its neighbourhoods. */
export async function geoPages(app: FastifyInstance) {
  const { services } = app;

  app.get('/communes', { schema: { hide: true } }, async (request, reply) => {
    const ctx = request.pageContext();
    const { t, fmt } = ctx;
    const communes = await services.geo.communes();
    const rows = await services.db.selectFrom('communes').select(['id', 'name', 'population', 'area_m2']).orderBy('id').execute();
    const hoods = await services.db.selectFrom('neighbourhoods').select(['slug', 'name', 'commune_id']).orderBy('name').execute();
    return reply.page(
      t('geo.communes.title'),
      <div class="grid-container">
        <h1>{t('geo.communes.title')}</h1>
        <p class="usa-intro">{t('geo.communes.lead')}</p>
        {communes.length ? (
          <>
            <InteractiveCommunesMap ctx={ctx} communes={communes} geojsonUrl="/api/v1/geo/communes" />
            <p>{t('geo.map.linkHint')}</p>
            <div class="city-table-wrap">
              <table class="usa-table usa-table--borderless">
                <caption>{t('geo.map.table')}</caption>
                <thead>
                  <tr>
                    <th scope="col">{t('geo.map.commune')}</th>
                    <th scope="col">{t('geo.commune.neighbourhoods')}</th>
                    <th scope="col">{t('geo.commune.population')}</th>
                    <th scope="col">{t('geo.commune.area')}</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((c) => (
                    <tr key={c.id}>
                      <th scope="row">
                        <a href={`/communes/${c.id}`}>{c.name}</a>
                      </th>
                      <td>
                        {hoods
                          .filter((h) => h.commune_id === c.id)
                          .map((h) => h.name)
                          .join(', ')}
                      </td>
                      <td>{fmt.number(c.population)}</td>
                      <td>{t('geo.commune.areaValue', { km2: fmt.number(Math.round(km2(c.area_m2) * 10) / 10) })}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <p>{t('geo.commune.populationNote')}</p>
          </>
        ) : (
          <p>{t('geo.communes.empty')}</p>
        )}
      </div>,
      { islands: communes.length ? ['map'] : [], styles: ['leaflet'] },
    );
  });

  app.get(
    '/communes/:id',
    { schema: { hide: true, params: Type.Object({ id: Type.String({ maxLength: 12 }) }) } },
    async (request, reply) => {
      const ctx = request.pageContext();
      const { t, fmt } = ctx;
      const raw = (request.params as { id: string }).id;
      // Only canonical numbers: /communes/01 or /communes/1.5 are not commune pages.
      const id = /^[1-9]\d{0,5}$/.test(raw) ? Number(raw) : NaN;
      const commune = Number.isFinite(id)
        ? await services.db.selectFrom('communes').select(['id', 'name', 'population', 'area_m2']).where('id', '=', id).executeTakeFirst()
        : undefined;
      if (!commune) throw notFound(t('geo.commune.notFound'));
      const hoods = await services.db
        .selectFrom('neighbourhoods')
        .select(['slug', 'name', 'population', 'area_m2'])
        .where('commune_id', '=', commune.id)
        .orderBy('name')
        .execute();
      const office = await services.db.selectFrom('offices').select(['slug', 'name']).where('kind', '=', 'commune').where('commune_id', '=', commune.id).executeTakeFirst();
      const communes = await services.geo.communes();
      return reply.page(
        commune.name,
        <div class="grid-container">
          <h1>{commune.name}</h1>
          <dl class="city-facts">
            <dt>{t('geo.commune.population')}</dt>
            <dd>{fmt.number(commune.population)}</dd>
            <dt>{t('geo.commune.area')}</dt>
            <dd>{t('geo.commune.areaValue', { km2: fmt.number(Math.round(km2(commune.area_m2) * 10) / 10) })}</dd>
            {office && (
              <>
                <dt>{t('geo.commune.office')}</dt>
                <dd>
                  <a href={`/offices/${office.slug}`}>{office.name}</a>
                </dd>
              </>
            )}
          </dl>
          <h2>{t('geo.commune.neighbourhoods')}</h2>
          <div class="city-table-wrap">
            <table class="usa-table usa-table--borderless">
              <caption class="usa-sr-only">{t('geo.commune.neighbourhoods')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('geo.neighbourhood')}</th>
                  <th scope="col">{t('geo.commune.population')}</th>
                  <th scope="col">{t('geo.commune.area')}</th>
                </tr>
              </thead>
              <tbody>
                {hoods.map((h) => (
                  <tr key={h.slug} id={`barrio-${h.slug}`}>
                    <th scope="row">{h.name}</th>
                    <td>{fmt.number(h.population)}</td>
                    <td>{t('geo.commune.areaValue', { km2: fmt.number(Math.round(km2(h.area_m2) * 10) / 10) })}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <p>{t('geo.commune.populationNote')}</p>
          <h2>{t('geo.commune.onMap')}</h2>
          <InteractiveCommunesMap
            ctx={ctx}
            communes={communes}
            highlight={commune.id}
            geojsonUrl={`/api/v1/geo/neighbourhoods?commune=${commune.id}`}
          />
          <nav aria-label={t('geo.map.list')}>
            <ul class="usa-list usa-list--unstyled grid-row grid-gap-1">
              {communes.map((c) => (
                <li key={c.id} class="grid-col-6 tablet:grid-col-3">
                  <a href={`/communes/${c.id}`} aria-current={c.id === commune.id ? 'page' : undefined}>
                    {c.name}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
        </div>,
        {
          islands: ['map'],
          styles: ['leaflet'],
          breadcrumbs: [{ href: '/', label: t('site.home') }, { href: '/communes', label: t('geo.communes.title') }, { label: commune.name }],
        },
      );
    },
  );

  // The open-data registry's files: every dataset core or a module publishes, produced on request.
  app.get(
    '/published/:dataset/:resource',
    { schema: { hide: true, params: Type.Object({ dataset: Type.String({ maxLength: 200 }), resource: Type.String({ maxLength: 200 }) }) } },
    async (request, reply) => {
      const { dataset, resource } = request.params as { dataset: string; resource: string };
      const found = services.registry.datasets().find((d) => d.dataset.slug === dataset);
      const res = found?.dataset.resources.find((r) => r.slug === resource);
      if (!found || !res) throw notFound(`No published resource ${dataset}/${resource}`);
      const body = await res.produce(services);
      const textual = /^text\/|json|csv|xml/.test(res.mediaType);
      return reply
        .type(textual ? `${res.mediaType}; charset=utf-8` : res.mediaType)
        .header('content-disposition', `inline; filename="${res.slug.replace(/[^\w.-]/g, '_')}"`)
        .header('cache-control', 'public, max-age=300')
        .header('access-control-allow-origin', '*')
        .send(body);
    },
  );
}

import type { PageContext } from '../../../core/ui/context';
import { Alert, CsrfField, Field } from '../../../core/ui/layout';
import { MapIsland } from '../../../core/ui/map';
import type { ProjectRow } from '../tables';
import { ProjectMap, pointsBox, type MapArea } from './map';

/** The form's values as typed (on a 400 they come back as the official wrote them). */
export type EditFormValues = Record<string, string>;

export function editFormValues(p: ProjectRow): EditFormValues {
  const s = (v: unknown) => (v === null || v === undefined ? '' : String(v));
  return {
    description: p.description,
    address: s(p.address),
    lat: s(p.lat),
    lng: s(p.lng),
    start_date: s(p.start_date),
    planned_end: s(p.planned_end),
    current_planned_end: s(p.current_planned_end),
    actual_end: s(p.actual_end),
    sites: s(p.sites),
    workers: s(p.workers),
    beneficiaries: s(p.beneficiaries),
    funding: s(p.funding),
  };
}

/**
 * The project's own data, for its office to correct. The point is two plain inputs (typed, or
 * with JavaScript and a tile server, picked on the map).
 */
export function EditForm({
  ctx,
  project,
  values,
  error,
  areas,
}: {
  ctx: PageContext;
  project: ProjectRow;
  values: EditFormValues;
  error?: { field: string; message: string };
  areas: MapArea[];
}) {
  const { t } = ctx;
  const err = (f: string) => (error?.field === f ? error.message : undefined);
  const lat = Number(values.lat);
  const lng = Number(values.lng);
  const hasPoint = values.lat !== '' && values.lng !== '' && Number.isFinite(lat) && Number.isFinite(lng);
  const svg = (
    <ProjectMap
      ctx={ctx}
      title={t('works.project.mapTitle', { name: project.name })}
      points={hasPoint ? [{ id: project.id, name: project.name, lat, lng, stage: project.stage }] : []}
      areas={areas}
      bbox={pointsBox(hasPoint ? [{ lat: lat - 0.02, lng: lng - 0.03 }, { lat: lat + 0.02, lng: lng + 0.03 }] : [])}
      linked={false}
    />
  );
  const shaped = project.geometry && project.geometry.type !== 'Point';
  return (
    <div class="grid-container">
      <h1>{t('works.edit.title', { name: project.name })}</h1>
      <p class="usa-intro">{t('works.edit.lead')}</p>
      {error && (
        <Alert type="error" heading={t('common.error.summary')}>
          <a href={`#f-${error.field}`}>{error.message}</a>
        </Alert>
      )}
      <form class="usa-form usa-form--large" method="post" action={`/works/${project.id}/edit`}>
        <CsrfField ctx={ctx} />
        <Field name="description" label={t('works.edit.description')} multiline value={values.description} error={err('description')} />
        <Field name="address" label={t('works.field.address')} value={values.address} error={err('address')} />
        <fieldset class="usa-fieldset">
          <legend class="usa-legend">{t('works.edit.location')}</legend>
          <p class="usa-hint">{t(shaped ? 'works.edit.locationHintShape' : 'works.edit.locationHint')}</p>
          <Field name="lat" label={t('works.edit.lat')} value={values.lat} error={err('lat')} attrs={{ inputMode: 'decimal' }} />
          <Field name="lng" label={t('works.edit.lng')} value={values.lng} error={err('lng')} attrs={{ inputMode: 'decimal' }} />
          {ctx.config.tileUrl ? (
            <MapIsland ctx={ctx} label={t('works.edit.pick')} pick={['f-lat', 'f-lng']}>
              {svg}
            </MapIsland>
          ) : (
            svg
          )}
        </fieldset>
        <fieldset class="usa-fieldset">
          <legend class="usa-legend">{t('works.project.dates')}</legend>
          <Field name="start_date" type="date" label={t('works.field.start')} value={values.start_date} error={err('start_date')} />
          <Field name="planned_end" type="date" label={t('works.field.plannedEnd')} value={values.planned_end} error={err('planned_end')} />
          <Field name="current_planned_end" type="date" label={t('works.field.currentEnd')} value={values.current_planned_end} error={err('current_planned_end')} />
          <Field name="actual_end" type="date" label={t('works.field.actualEnd')} value={values.actual_end} error={err('actual_end')} />
        </fieldset>
        <Field name="sites" label={t('works.field.sites')} value={values.sites} error={err('sites')} attrs={{ inputMode: 'numeric' }} />
        <Field name="workers" label={t('works.field.workers')} value={values.workers} error={err('workers')} attrs={{ inputMode: 'numeric' }} />
        <Field name="beneficiaries" label={t('works.field.beneficiaries')} value={values.beneficiaries} error={err('beneficiaries')} />
        <Field name="funding" label={t('works.field.funding')} value={values.funding} error={err('funding')} />
        <p class="usa-hint">{t('works.edit.reimport')}</p>
        <button class="usa-button" type="submit">
          {t('works.edit.submit')}
        </button>
      </form>
    </div>
  );
}

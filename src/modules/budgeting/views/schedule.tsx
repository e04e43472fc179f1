import type { FastifyRequest } from 'fastify';
import { CsrfField, Field } from '../../../core/ui/layout';
import { PHASES } from '../domain/phases';
import type { ScheduleError } from '../domain/schedule';

/** The administrators' form for the published schedule: a start and an end day per phase. */
export function ScheduleForm(props: { request: FastifyRequest; budgetId: number; values: Record<string, string>; errors: ScheduleError[] }) {
  const { request, values, errors } = props;
  const { t } = request;
  const ctx = request.pageContext();
  const errorOf = (field: string) => {
    const e = errors.find((x) => x.field === field);
    return e ? t(e.key, e.params?.previous ? { previous: t(`budgeting.phase.${e.params.previous}`) } : undefined) : undefined;
  };
  return (
    <form class="usa-form usa-form--large" method="post" action={`/budgets/${props.budgetId}/schedule`} id="schedule" noValidate>
      <CsrfField ctx={ctx} />
      <p class="usa-hint">{t('budgeting.schedule.hint')}</p>
      {errors.length > 0 && (
        <div class="usa-alert usa-alert--error usa-alert--slim" role="alert">
          <div class="usa-alert__body">
            <p class="usa-alert__text">{t('budgeting.schedule.error')}</p>
          </div>
        </div>
      )}
      {PHASES.map((p) => (
        <fieldset class="usa-fieldset">
          <legend class="usa-legend">{t(`budgeting.phase.${p}`)}</legend>
          <Field name={`starts_${p}`} type="date" label={t('budgeting.admin.starts')} value={values[`starts_${p}`] ?? ''} error={errorOf(`starts_${p}`)} />
          <Field name={`ends_${p}`} type="date" label={t('budgeting.admin.ends')} value={values[`ends_${p}`] ?? ''} error={errorOf(`ends_${p}`)} />
        </fieldset>
      ))}
      <button class="usa-button usa-button--outline" type="submit">
        {t('budgeting.schedule.save')}
      </button>
    </form>
  );
}

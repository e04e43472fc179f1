import { sql } from 'kysely';
import type { Services } from '../../../core/services';
import type { PageContext } from '../../../core/ui/context';
import { Alert } from '../../../core/ui/layout';
import { odDb, findDataset } from '../store';
import { tableRef } from '../datastore';
import { columnTypeFromCkan } from '../domain/tabular';
import { BarChart } from './chart';

/** The dataset whose DataStore table feeds the budget explorer (its demo figures are illustrative). */
export const BUDGET_DATASET = 'presupuesto-ejecucion';
const COLUMNS = ['jurisdiccion', 'finalidad', 'vigente', 'devengado'];
/** The amount columns: they are summed, so the DataStore must hold them as numbers. */
const AMOUNTS = ['vigente', 'devengado'];
/** The sector of the city's budget documents (BA Data files them under "Economía y finanzas"). */
export const BUDGET_THEME = process.env.OPEN_DATA_BUDGET_THEME || 'economia-y-finanzas';
const DOCUMENTS_SHOWN = 100;

export interface BudgetData {
  /** Published datasets of the budget theme (at most DOCUMENTS_SHOWN), and how many there are. */
  documents: Array<{ name: string; title: string; notes: string }>;
  documentCount: number;
  dataset: { name: string; title: string } | null;
  byJurisdiction: Array<{ label: string; allocated: number; accrued: number }>;
  byPurpose: Array<{ label: string; allocated: number; accrued: number }>;
  /**
   * Why the explorer shows no figures although the budget dataset is there: its amount columns
   * are text (`columns` names them), or the sums failed on the database.
   */
  problem?: { kind: 'not-numeric'; columns: string[] } | { kind: 'error' };
}

export async function budgetData(services: Services): Promise<BudgetData> {
  const db = odDb(services);
  const themed = db
    .selectFrom('od_datasets')
    .where('state', '=', 'active')
    .where('status', '=', 'published')
    .where(sql<boolean>`${BUDGET_THEME} = any(themes)`);
  const [documents, count] = await Promise.all([
    themed.select(['name', 'title', 'notes']).orderBy('title').orderBy('name').limit(DOCUMENTS_SHOWN).execute(),
    themed.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  const d = await findDataset(db, BUDGET_DATASET);
  const empty: BudgetData = { documents, documentCount: Number(count.n), dataset: null, byJurisdiction: [], byPurpose: [] };
  if (!d || d.state !== 'active' || d.status !== 'published') return empty;
  const r = await db
    .selectFrom('od_resources as r')
    .innerJoin('od_datastore as s', 's.resource_id', 'r.id')
    .select(['r.id', 's.fields'])
    .where('r.dataset_id', '=', d.id)
    .where('r.state', '=', 'active')
    .orderBy('r.position')
    .executeTakeFirst();
  const dataset = { name: d.name, title: d.title };
  if (!r || !COLUMNS.every((c) => r.fields.some((f) => f.id === c))) return { ...empty, dataset };
  // Amounts written "1.234,5" or "$ 1234" load as text: summing text is an error, not a figure.
  const textual = AMOUNTS.filter((c) => !['int', 'numeric'].includes(columnTypeFromCkan(r.fields.find((f) => f.id === c)?.type) ?? 'text'));
  if (textual.length) return { ...empty, dataset, problem: { kind: 'not-numeric', columns: textual } };
  const by = async (col: 'jurisdiccion' | 'finalidad') => {
    const rows = await sql<{ label: string; allocated: number; accrued: number }>`
      select ${sql.id(col)}::text as label, coalesce(sum("vigente"), 0)::float8 as allocated, coalesce(sum("devengado"), 0)::float8 as accrued
      from ${sql.raw(tableRef(r.id))} group by 1 order by 2 desc limit 20`.execute(db);
    return rows.rows.map((x) => ({ label: x.label, allocated: Number(x.allocated), accrued: Number(x.accrued) }));
  };
  try {
    return { ...empty, dataset, byJurisdiction: await by('jurisdiccion'), byPurpose: await by('finalidad') };
  } catch (err) {
    // The dictionary and the table disagree (a column retyped by hand…): a note on the page, not a 500.
    const code = (err as { code?: string }).code;
    if (!code || !/^(22|42)/.test(code)) throw err;
    services.log.warn({ err }, 'budget explorer: the budget table could not be summed');
    return { ...empty, dataset, problem: { kind: 'error' } };
  }
}

export function BudgetExplorer({ ctx, data }: { ctx: PageContext; data: BudgetData }) {
  const { t } = ctx;
  const chart = (title: string, rows: BudgetData['byJurisdiction']) => (
    <BarChart
      ctx={ctx}
      title={title}
      data={rows.map((r) => ({ label: r.label, value: r.allocated }))}
      series={{ label: t('open-data.budget.accrued'), values: rows.map((r) => r.accrued) }}
    />
  );
  return (
    <div class="grid-container">
      <h1>{t('open-data.budget.title')}</h1>
      <p class="usa-intro">{t('open-data.budget.intro')}</p>
      <Alert type="info">{t('open-data.budget.illustrative')}</Alert>
      {data.problem ? (
        <Alert type="warning">
          {data.problem.kind === 'not-numeric' ? t('open-data.budget.not-numeric', { columns: data.problem.columns.join(', ') }) : t('open-data.budget.error')}{' '}
          <a href={`/datasets/${data.dataset!.name}`}>{data.dataset!.title}</a>
        </Alert>
      ) : !data.byJurisdiction.length ? (
        <p>{t('open-data.budget.none')}</p>
      ) : (
        <>
          <p>
            {t('open-data.budget.legend')} <a href={`/datasets/${data.dataset!.name}`}>{data.dataset!.title}</a>
          </p>
          <h2>{t('open-data.budget.jurisdiction')}</h2>
          {chart(t('open-data.budget.jurisdiction'), data.byJurisdiction)}
          <h2>{t('open-data.budget.purpose')}</h2>
          {chart(t('open-data.budget.purpose'), data.byPurpose)}
          <table class="usa-table">
            <caption>{t('open-data.budget.execution')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('open-data.budget.jurisdiction')}</th>
                <th scope="col">{t('open-data.budget.allocated')}</th>
                <th scope="col">{t('open-data.budget.accrued')}</th>
                <th scope="col">{t('open-data.budget.rate')}</th>
              </tr>
            </thead>
            <tbody>
              {data.byJurisdiction.map((r) => (
                <tr key={r.label}>
                  <th scope="row">{r.label}</th>
                  <td>{ctx.fmt.money(r.allocated)}</td>
                  <td>{ctx.fmt.money(r.accrued)}</td>
                  <td>{ctx.fmt.percent(r.allocated ? r.accrued / r.allocated : 0)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <h2 id="budget-documents">{t('open-data.budget.documents')}</h2>
      {!data.documents.length ? (
        <p>{t('open-data.budget.documents.none')}</p>
      ) : (
        <>
          <ul class="usa-collection">
            {data.documents.map((d) => (
              <li class="usa-collection__item" key={d.name}>
                <div class="usa-collection__body">
                  <h3 class="usa-collection__heading">
                    <a class="usa-link" href={`/datasets/${d.name}`}>
                      {d.title}
                    </a>
                  </h3>
                  {d.notes && <p class="usa-collection__description">{d.notes.length > 240 ? `${d.notes.slice(0, 240)}…` : d.notes}</p>}
                </div>
              </li>
            ))}
          </ul>
          {data.documentCount > data.documents.length && (
            <p>
              <a href={`/datasets?groups=${encodeURIComponent(BUDGET_THEME)}`}>{t('open-data.budget.documents.all', { count: data.documentCount })}</a>
            </p>
          )}
        </>
      )}
    </div>
  );
}

import { sql } from 'kysely';
import type { Services } from '../../../core/services';
import type { PageContext } from '../../../core/ui/context';
import { Alert } from '../../../core/ui/layout';
import { odDb, findDataset } from '../store';
import { tableRef } from '../datastore';
import { BarChart } from './chart';

/** The dataset whose DataStore table feeds the budget explorer (its demo figures are illustrative). */
export const BUDGET_DATASET = 'presupuesto-ejecucion';
const COLUMNS = ['jurisdiccion', 'finalidad', 'vigente', 'devengado'];
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
  if (!r || !COLUMNS.every((c) => r.fields.some((f) => f.id === c))) return { ...empty, dataset: { name: d.name, title: d.title } };
  const by = async (col: 'jurisdiccion' | 'finalidad') => {
    const rows = await sql<{ label: string; allocated: number; accrued: number }>`
      select ${sql.ref(col)}::text as label, coalesce(sum(vigente), 0)::float8 as allocated, coalesce(sum(devengado), 0)::float8 as accrued
      from ${sql.raw(tableRef(r.id))} group by 1 order by 2 desc limit 20`.execute(db);
    return rows.rows.map((x) => ({ label: x.label, allocated: Number(x.allocated), accrued: Number(x.accrued) }));
  };
  return { ...empty, dataset: { name: d.name, title: d.title }, byJurisdiction: await by('jurisdiccion'), byPurpose: await by('finalidad') };
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
      {!data.byJurisdiction.length ? (
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

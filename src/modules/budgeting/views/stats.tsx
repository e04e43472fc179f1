import type { FastifyRequest } from 'fastify';
import { BarChart } from './charts';
import { MIN_CELL, publishable } from '../domain/privacy';
import type { CommuneRow } from '../participation';

interface Props {
  request: FastifyRequest;
  communes: CommuneRow[];
  demo: Array<{ band: string; gender: string; n: number }>;
  days: Array<{ day: string; supports: number; supporters: number; ballots: number; voters: number }>;
  year: number;
}

/** The participation statistics of a budget: aggregates only, cells under MIN_CELL people withheld. */
export function ParticipationStats({ request, communes, demo, days, year }: Props) {
  const { t, fmt } = request;
  const withheld = t('budgeting.stats.withheld', { n: MIN_CELL });
  const cell = (n: number) => {
    const v = publishable(n);
    return v === null ? <span class="text-italic">{withheld}</span> : fmt.number(v);
  };
  const turnout = (r: CommuneRow) => (r.population && publishable(r.voters) !== null ? fmt.percent(r.voters / r.population) : '—');
  const charted = communes.filter((r) => r.communeId !== null && r.population && publishable(r.voters) !== null && r.voters > 0);
  const label = (s: string) => (s === 'unknown' ? t('budgeting.stats.unknown') : s);
  // Accounts say female/male/other; Pabulib files say F/M (or K, "kobieta", in Polish files).
  const genders: Record<string, string> = { female: 'female', f: 'female', k: 'female', male: 'male', m: 'male', other: 'other', o: 'other', unknown: 'unknown' };
  const gender = (s: string) => (genders[s.toLowerCase()] ? t(`budgeting.stats.gender.${genders[s.toLowerCase()]}`) : s);
  return (
    <>
      <div class="usa-alert usa-alert--info usa-alert--slim">
        <div class="usa-alert__body">
          <p class="usa-alert__text">{t('budgeting.stats.privacy', { n: MIN_CELL })}</p>
        </div>
      </div>
      <section aria-labelledby="by-commune">
        <h2 id="by-commune">{t('budgeting.stats.communes')}</h2>
        {charted.length > 0 && (
          <BarChart
            id="turnout-share"
            title={t('budgeting.stats.turnout.share')}
            bars={charted.map((r) => ({ label: r.name ?? '', value: r.voters / r.population! }))}
            format={(n) => fmt.percent(n)}
          />
        )}
        <table class="usa-table usa-table--borderless usa-table--stacked" id="stats-communes">
          <caption>{t('budgeting.stats.communes.caption')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('budgeting.commune')}</th>
              <th scope="col">{t('budgeting.population')}</th>
              <th scope="col">{t('budgeting.supports')}</th>
              <th scope="col">{t('budgeting.stats.supporters')}</th>
              <th scope="col">{t('budgeting.stats.voters')}</th>
              <th scope="col">{t('budgeting.ballots')}</th>
              <th scope="col">{t('budgeting.stats.turnout.share')}</th>
            </tr>
          </thead>
          <tbody>
            {communes.map((r) => (
              <tr data-commune={r.communeId === null ? 'unknown' : String(r.communeId)}>
                <th scope="row">{r.name ?? t('budgeting.stats.unknown')}</th>
                <td>{r.population == null ? '—' : fmt.number(r.population)}</td>
                <td>{cell(r.supports)}</td>
                <td>{cell(r.supporters)}</td>
                <td>{cell(r.voters)}</td>
                <td>{cell(r.ballots)}</td>
                <td>{turnout(r)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section aria-labelledby="by-age">
        <h2 id="by-age">{t('budgeting.stats.demographics')}</h2>
        <p>{t('budgeting.stats.age.year', { year })}</p>
        {demo.length === 0 ? (
          <p>{t('common.none')}</p>
        ) : (
          <table class="usa-table usa-table--borderless" id="stats-demographics">
            <caption>{t('budgeting.stats.demographics.caption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('budgeting.stats.age')}</th>
                <th scope="col">{t('budgeting.stats.gender')}</th>
                <th scope="col">{t('budgeting.stats.voters')}</th>
              </tr>
            </thead>
            <tbody>
              {demo.map((r) => (
                <tr data-band={r.band} data-gender={r.gender}>
                  <th scope="row">{label(r.band)}</th>
                  <td>{gender(r.gender)}</td>
                  <td>{cell(r.n)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section aria-labelledby="by-day">
        <h2 id="by-day">{t('budgeting.stats.byday')}</h2>
        {days.length === 0 ? (
          <p>{t('common.none')}</p>
        ) : (
          <table class="usa-table usa-table--borderless" id="stats-days">
            <caption>{t('budgeting.stats.byday.caption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('budgeting.stats.day')}</th>
                <th scope="col">{t('budgeting.supports')}</th>
                <th scope="col">{t('budgeting.stats.supporters')}</th>
                <th scope="col">{t('budgeting.ballots')}</th>
                <th scope="col">{t('budgeting.stats.voters')}</th>
              </tr>
            </thead>
            <tbody>
              {days.map((d) => (
                <tr data-day={d.day}>
                  <th scope="row">{d.day}</th>
                  <td>{cell(d.supports)}</td>
                  <td>{cell(d.supporters)}</td>
                  <td>{cell(d.ballots)}</td>
                  <td>{cell(d.voters)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}

/**
 * Derives how fast demo requests close from real NYC 311 records (../shared/data/service-requests):
 * `npx tsx src/modules/requests/demo/close-times.ts` rewrites data/demo/requests/close-times.json.
 *
 * The two samples are snapshots: each holds the requests filed in the ~4 hours before it was exported,
 * so a time to close is seen only when it is shorter than the time the request had before the export.
 * The honest figure they give is, per kind of service, the share closed within a few hours and how
 * long those quick closures took; what happens after that is not in the data (the seed models it).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';

/** The NYC 311 services each demo category is compared with (agency, and complaint types; none = all of the agency's). */
export const FAMILIES: Record<string, { agency: string; complaintTypes?: string[]; categories: string[] }> = {
  'NYPD parking': { agency: 'NYPD', complaintTypes: ['Illegal Parking', 'Blocked Driveway', 'Abandoned Vehicle'], categories: ['estacionamiento'] },
  'DOT streets': { agency: 'DOT', categories: ['alumbrado', 'bache', 'vereda', 'semaforo'] },
  'DSNY sanitation': { agency: 'DSNY', categories: ['higiene'] },
  'DPR parks and trees': { agency: 'DPR', categories: ['arbolado', 'plazas'] },
  'DEP sewers and water': { agency: 'DEP', complaintTypes: ['Sewer', 'Water System', 'Water Conservation'], categories: ['pluviales'] },
};

/** A request counts only if it had this long before the export, so that "not closed yet" means "took longer". */
export const HORIZON_HOURS = 2;

export interface Family {
  agency: string;
  complaint_types: string[] | null;
  /** Rows of the family in both samples. */
  rows: number;
  /** Rows filed at least HORIZON_HOURS before their file's export. */
  at_risk: number;
  /** Of those, closed within HORIZON_HOURS. */
  closed_within_horizon: number;
  /** Their times to close, in minutes, sorted: the seed draws from them. */
  quick_minutes: number[];
}

export interface CloseTimes {
  source: string;
  horizon_hours: number;
  families: Record<string, Family>;
  /** Demo category code → family name. */
  categories: Record<string, string>;
}

type Row = Record<string, string>;
// Dates are New York local time without a zone; only differences are used, so reading them as UTC is fine.
const ms = (s: string | undefined) => (s ? Date.parse(`${s.replace(/\.\d+$/, '')}Z`) : NaN);

export function deriveCloseTimes(files: Array<{ name: string; csv: string }>): CloseTimes {
  const families: Record<string, Family> = {};
  for (const [name, f] of Object.entries(FAMILIES)) {
    families[name] = { agency: f.agency, complaint_types: f.complaintTypes ?? null, rows: 0, at_risk: 0, closed_within_horizon: 0, quick_minutes: [] };
  }
  for (const file of files) {
    const rows = parse(file.csv, { columns: true, skip_empty_lines: true, relax_column_count: true }) as Row[];
    // The export happened at (or just after) the latest timestamp the file holds.
    const exportedAt = Math.max(...rows.flatMap((r) => [ms(r.created_date), ms(r.closed_date), ms(r.resolution_action_updated_date)]).filter(Number.isFinite));
    for (const r of rows) {
      const entry = Object.entries(FAMILIES).find(([, f]) => f.agency === r.agency && (!f.complaintTypes || f.complaintTypes.includes(r.complaint_type)));
      if (!entry) continue;
      const fam = families[entry[0]];
      fam.rows++;
      const created = ms(r.created_date);
      if (!Number.isFinite(created) || exportedAt - created < HORIZON_HOURS * 3600_000) continue;
      fam.at_risk++;
      const closed = r.status === 'Closed' ? ms(r.closed_date) : NaN;
      if (Number.isFinite(closed) && closed - created <= HORIZON_HOURS * 3600_000) {
        fam.closed_within_horizon++;
        fam.quick_minutes.push(Math.round(Math.max(0, closed - created) / 6000) / 10);
      }
    }
  }
  for (const fam of Object.values(families)) fam.quick_minutes.sort((a, b) => a - b);
  const categories: Record<string, string> = {};
  for (const [name, f] of Object.entries(FAMILIES)) for (const c of f.categories) categories[c] = name;
  return {
    source: `NYC Open Data "311 Service Requests" (erm2-nwe9), two 1,000-row samples: ${files.map((f) => f.name).join(', ')} (../shared/data/service-requests/SOURCE.md). Per family: requests filed at least ${HORIZON_HOURS} h before the export, and how many of them closed within ${HORIZON_HOURS} h (with their times). Written by src/modules/requests/demo/close-times.ts.`,
    horizon_hours: HORIZON_HOURS,
    families,
    categories,
  };
}

export function readSamples(dir: string) {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.csv'))
    .sort()
    .map((name) => ({ name, csv: fs.readFileSync(path.join(dir, name), 'utf8') }));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = path.resolve('data/demo/requests/close-times.json');
  const result = deriveCloseTimes(readSamples(path.resolve('../shared/data/service-requests')));
  fs.writeFileSync(out, JSON.stringify(result, null, 1).replace(/\[([\d.,\s]*)\]/g, (_m, xs: string) => `[${xs.replace(/\s+/g, '')}]`) + '\n');
  for (const [name, f] of Object.entries(result.families)) console.log(`${name}: ${f.closed_within_horizon}/${f.at_risk} closed within ${HORIZON_HOURS} h (${f.rows} rows)`);
}

import { PHASES, type Phase } from './phases';

/**
 * A budget's published schedule: a start and an end date per phase, as CONSUL shows it. Dates
 * are days in Buenos Aires (the form's `<input type="date">`), stored as that day's midnight there
 * so every page shows the day the administrator typed.
 */
const TZ_OFFSET = '-03:00'; // Argentina keeps UTC−3 all year.

/** "2026-03-01" → that day's midnight in Buenos Aires; null for anything that is not a real day. */
export function parseDay(text: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text.trim());
  if (!m) return null;
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T00:00:00${TZ_OFFSET}`);
  if (Number.isNaN(d.getTime())) return null;
  // Reject days that roll over (2026-02-30).
  return dayOf(d) === `${m[1]}-${m[2]}-${m[3]}` ? d : null;
}

const dayFormat = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Argentina/Buenos_Aires', year: 'numeric', month: '2-digit', day: '2-digit' });

/** The Buenos Aires day of an instant, as the date input wants it. */
export function dayOf(d: Date | string): string {
  return dayFormat.format(new Date(d));
}

export interface ScheduleEntry {
  phase: Phase;
  starts: Date | null;
  ends: Date | null;
}

export interface ScheduleError {
  field: string;
  key: string;
  params?: Record<string, string>;
}

/**
 * Reads the schedule form (`starts_<phase>`, `ends_<phase>`, each empty or YYYY-MM-DD) and checks
 * it: real days, no phase ending before it starts, and each dated phase starting after the one
 * before it (after its start, and not before its end when it has one). Phases left empty are not
 * published and do not take part in the order.
 */
export function readSchedule(form: Record<string, string>): { entries: ScheduleEntry[]; errors: ScheduleError[] } {
  const entries: ScheduleEntry[] = [];
  const errors: ScheduleError[] = [];
  for (const phase of PHASES) {
    const entry: ScheduleEntry = { phase, starts: null, ends: null };
    for (const side of ['starts', 'ends'] as const) {
      const field = `${side}_${phase}`;
      const text = (form[field] ?? '').trim();
      if (!text) continue;
      const d = parseDay(text);
      if (!d) errors.push({ field, key: 'budgeting.schedule.error.day' });
      else entry[side] = d;
    }
    if (entry.starts && entry.ends && entry.ends < entry.starts) errors.push({ field: `ends_${phase}`, key: 'budgeting.schedule.error.ends' });
    if (!entry.starts && entry.ends) errors.push({ field: `starts_${phase}`, key: 'budgeting.schedule.error.starts' });
    entries.push(entry);
  }
  let previous: ScheduleEntry | null = null;
  for (const e of entries) {
    if (!e.starts) continue;
    if (previous && (e.starts <= previous.starts! || (previous.ends && e.starts < previous.ends))) {
      errors.push({ field: `starts_${e.phase}`, key: 'budgeting.schedule.error.order', params: { previous: previous.phase } });
    }
    previous = e;
  }
  return { entries, errors };
}

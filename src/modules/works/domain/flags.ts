/**
 * Red flags, in the spirit of the Open Contracting Partnership's indicators. Each is a plain
 * rule on a project's own data so that a visitor can check it by hand; the thresholds are
 * the city's choice and are shown on the page that explains them.
 */
export const FLAGS = ['cost_overrun', 'delay', 'stalled', 'single_bidder', 'concentration'] as const;
export type Flag = (typeof FLAGS)[number];

export const THRESHOLDS = {
  /** Amendments adding more than this share of the original amount. */
  costOverrunShare: 0.2,
  /** No progress update for this many months while in progress or paused. */
  stalledMonths: 6,
  /** A contractor holding at least this share of all contracted money. */
  concentrationShare: 0.1,
};

export interface FlagInput {
  stage: string;
  progress: number | null;
  contractAmount: number | null;
  extraAmount: number;
  currentPlannedEnd: string | null;
  lastProgressAt: Date | null;
  /** ISO date; stands in for the last progress report when there is none yet. */
  startDate: string | null;
  bidders: number | null;
  contractorCuit: string | null;
}

export function addMonths(d: Date, months: number): Date {
  const out = new Date(d);
  out.setUTCMonth(out.getUTCMonth() + months);
  return out;
}

/** A work in progress with no report since this moment is stalled. */
export function stalledCutoff(today: Date): Date {
  return addMonths(today, -THRESHOLDS.stalledMonths);
}

/** The flags a project raises today. `concentrated` is the set of CUITs above the concentration share. */
export function flagsFor(p: FlagInput, today: Date, concentrated: ReadonlySet<string>): Flag[] {
  const out: Flag[] = [];
  const open = p.stage !== 'finished' && p.stage !== 'cancelled';
  if (p.contractAmount && p.contractAmount > 0 && p.extraAmount > THRESHOLDS.costOverrunShare * p.contractAmount) out.push('cost_overrun');
  if (open && p.currentPlannedEnd && p.currentPlannedEnd < today.toISOString().slice(0, 10) && (p.progress ?? 0) < 100) out.push('delay');
  const cutoff = stalledCutoff(today);
  const quietSince = p.lastProgressAt ? p.lastProgressAt < cutoff : !!p.startDate && p.startDate < cutoff.toISOString().slice(0, 10);
  if ((p.stage === 'in_progress' || p.stage === 'paused') && quietSince) out.push('stalled');
  if (p.bidders === 1) out.push('single_bidder');
  if (p.contractorCuit && concentrated.has(p.contractorCuit)) out.push('concentration');
  return out;
}

/** Contractors whose share of the total contracted amount reaches the threshold. */
export function concentratedContractors(totals: Array<{ cuit: string; amount: number }>): Set<string> {
  const all = totals.reduce((s, t) => s + t.amount, 0);
  if (all <= 0) return new Set();
  return new Set(totals.filter((t) => t.amount >= THRESHOLDS.concentrationShare * all).map((t) => t.cuit));
}

/**
 * A progress update is accepted when it stays within 0–100 and does not go backwards,
 * unless the official gives a reason (a re-measurement, a scope change).
 */
export function checkProgressUpdate(previous: number | null, next: number, reason: string): string | null {
  if (!Number.isFinite(next)) return 'works.progress.error.number';
  if (next < 0 || next > 100) return 'works.progress.error.range';
  if (previous !== null && next < previous && !reason.trim()) return 'works.progress.error.backwards';
  return null;
}

export interface AmendmentForm {
  date: string;
  extraAmount: number;
  extraMonths: number;
  reason: string;
}

/** Checks an amendment an official records: a real date, non-negative extras, and a reason. */
export function checkAmendment(raw: { date?: string; extra_amount?: string; extra_months?: string; reason?: string }): AmendmentForm | string {
  const date = (raw.date ?? '').trim();
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || Number.isNaN(Date.parse(`${date}T00:00:00Z`)) || new Date(`${date}T00:00:00Z`).toISOString().slice(0, 10) !== date) {
    return 'works.amendment.error.date';
  }
  const num = (s: string | undefined) => (s === undefined || s.trim() === '' ? 0 : parseDecimal(s));
  const extraAmount = num(raw.extra_amount);
  const extraMonths = num(raw.extra_months);
  if (extraAmount === 'ambiguous' || extraMonths === 'ambiguous') return 'works.amendment.error.ambiguous';
  if (!Number.isFinite(extraAmount) || extraAmount < 0 || !Number.isFinite(extraMonths) || extraMonths < 0 || extraMonths > 240) return 'works.amendment.error.number';
  if (extraAmount === 0 && extraMonths === 0) return 'works.amendment.error.empty';
  const reason = (raw.reason ?? '').trim();
  if (!reason) return 'works.amendment.error.reason';
  return { date, extraAmount, extraMonths, reason: reason.slice(0, 2000) };
}

/**
 * A number as people type it here or elsewhere: "2,5" and "2.5", "1.000.000,50" and "1,000,000.50",
 * "1000". With both separators the last one is the decimal one. A single separator followed by
 * exactly three digits ("1.500", "1,500") is a thousands separator in es-AR and a decimal point
 * in English: 'ambiguous', so the form asks instead of guessing. NaN when it is not a number.
 */
export function parseDecimal(raw: string): number | 'ambiguous' {
  const s = raw.trim().replace(/[\s\u00a0]/g, '').replace(/^\$/, '');
  if (!/^\d[\d.,]*$/.test(s) || /[.,]$/.test(s)) return NaN;
  const dots = (s.match(/\./g) ?? []).length;
  const commas = (s.match(/,/g) ?? []).length;
  const grouped = (int: string, sep: string) => new RegExp(`^\\d{1,3}(\\${sep}\\d{3})*$`).test(int);
  if (dots && commas) {
    const dec = s.lastIndexOf('.') > s.lastIndexOf(',') ? '.' : ',';
    const thou = dec === '.' ? ',' : '.';
    const [int, frac, ...rest] = s.split(dec);
    if (rest.length || !grouped(int, thou)) return NaN;
    return Number(`${int.split(thou).join('')}.${frac}`);
  }
  if (!dots && !commas) return Number(s);
  const sep = dots ? '.' : ',';
  const parts = s.split(sep);
  if (parts.length > 2) return grouped(s, sep) ? Number(parts.join('')) : NaN;
  if (parts[1].length === 3) return 'ambiguous';
  return Number(`${parts[0]}.${parts[1]}`);
}

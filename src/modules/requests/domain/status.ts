/** Where a request stands in the office's workflow. */
export const STATUSES = ['submitted', 'acknowledged', 'in_progress', 'solved', 'not_solvable', 'merged'] as const;
export type RequestStatus = (typeof STATUSES)[number];

export const OPEN_STATUSES: readonly RequestStatus[] = ['submitted', 'acknowledged', 'in_progress'];
export const CLOSED_STATUSES: readonly RequestStatus[] = ['solved', 'not_solvable', 'merged'];

export function isStatus(v: unknown): v is RequestStatus {
  return typeof v === 'string' && (STATUSES as readonly string[]).includes(v);
}

export function isOpen(s: RequestStatus): boolean {
  return OPEN_STATUSES.includes(s);
}

/** Which status an official may move a request to from where it is. Closed requests stay closed. */
const NEXT: Record<RequestStatus, readonly RequestStatus[]> = {
  submitted: ['acknowledged', 'in_progress', 'solved', 'not_solvable', 'merged'],
  acknowledged: ['in_progress', 'solved', 'not_solvable', 'merged'],
  in_progress: ['solved', 'not_solvable', 'merged'],
  solved: [],
  not_solvable: [],
  merged: [],
};

export type TransitionError = 'closed' | 'not_allowed' | 'reason_required';

/** Checks a status change; closing as not solvable needs a reason the resident will read. */
export function checkTransition(from: RequestStatus, to: RequestStatus, reason: string): TransitionError | null {
  if (!isOpen(from)) return 'closed';
  if (!NEXT[from].includes(to)) return 'not_allowed';
  if (to === 'not_solvable' && reason.trim().length < 3) return 'reason_required';
  return null;
}

/** GeoReport v2 knows only open and closed. */
export function open311Status(s: RequestStatus): 'open' | 'closed' {
  return isOpen(s) ? 'open' : 'closed';
}

/** mySociety's extended statuses (servicerequestupdates), as FixMyStreet reads them. */
export function mySocietyStatus(s: RequestStatus): string {
  switch (s) {
    case 'submitted':
      return 'OPEN';
    case 'acknowledged':
      return 'INVESTIGATING';
    case 'in_progress':
      return 'IN_PROGRESS';
    case 'solved':
      return 'FIXED';
    case 'not_solvable':
      return 'NO_FURTHER_ACTION';
    case 'merged':
      return 'DUPLICATE';
  }
}

/** Due date from the category's target: filing time plus target days. */
export function expectedAt(requestedAt: Date, targetDays: number): Date {
  return new Date(requestedAt.getTime() + targetDays * 86400_000);
}

export function isOverdue(r: { status: RequestStatus; expected_at: Date | null }, now = new Date()): boolean {
  return isOpen(r.status) && r.expected_at != null && r.expected_at.getTime() < now.getTime();
}

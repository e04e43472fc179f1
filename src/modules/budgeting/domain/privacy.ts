/**
 * Statistics pages publish aggregates only, and a cell that counts fewer than MIN_CELL people
 * (but not none) is withheld: with a handful of people in a commune × age × gender cell, a
 * count points at individuals.
 */
export const MIN_CELL = 5;

/** The count to publish, or null when it must be withheld. */
export function publishable(n: number): number | null {
  return n > 0 && n < MIN_CELL ? null : n;
}

/** Age bands of the participation statistics, by age in the budget's year. */
export function ageBand(age: number | null): string {
  if (age === null || !Number.isFinite(age)) return 'unknown';
  if (age < 30) return '16-29';
  if (age < 45) return '30-44';
  if (age < 60) return '45-59';
  return '60+';
}

/** CONSUL's budget phases, in order; each decides what residents may do and what pages show. */
export const PHASES = [
  'informing',
  'accepting',
  'reviewing',
  'selecting',
  'valuating',
  'publishing_prices',
  'balloting',
  'reviewing_ballots',
  'finished',
] as const;

export type Phase = (typeof PHASES)[number];

export function isPhase(s: unknown): s is Phase {
  return typeof s === 'string' && (PHASES as readonly string[]).includes(s);
}

const at = (p: Phase) => PHASES.indexOf(p);

export const phaseRules = {
  canPropose: (p: Phase) => p === 'accepting',
  /** Authors edit their proposals until accepting ends. */
  canEditProposal: (p: Phase) => p === 'accepting',
  canSupport: (p: Phase) => p === 'selecting',
  canBallot: (p: Phase) => p === 'balloting',
  canValuate: (p: Phase) => at(p) >= at('reviewing') && at(p) <= at('valuating'),
  showSupports: (p: Phase) => at(p) >= at('selecting'),
  showPrices: (p: Phase) => at(p) >= at('publishing_prices'),
  showResults: (p: Phase) => p === 'finished',
};

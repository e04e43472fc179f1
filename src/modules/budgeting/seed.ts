import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import type { SeedContext } from '../../core/manifest';
import type { Services } from '../../core/services';
import { parsePb } from './domain/pabulib';
import { splitByCommune } from './domain/demo';
import { importParts } from './store';
import { bgDb } from './tables';

/** Toulouse's budget was in euros; the demo shows pesos at an illustrative, fixed factor. */
const EUR_TO_ARS = 1000;
const FINISHED = 'demo-finished';
const BALLOTING = 'demo-balloting';

/**
 * Two budgets by commune built from Toulouse 2024 (Pabulib): a finished one with its real ballots,
 * and a 2026 edition in the balloting phase with the same projects and no ballots yet.
 * Idempotent: budgets already seeded are recognised by their source key.
 */
export async function seedBudgeting(services: Services, ctx: SeedContext) {
  const db = bgDb(services);
  const file = path.join(ctx.demoDir, 'budgeting', 'France_Toulouse_2024.pb');
  if (!fs.existsSync(file)) return ctx.log('budgeting: demo file missing, skipped');
  const communes = await db.selectFrom('communes').select(['id', 'name', 'population']).orderBy('id').execute();
  if (communes.length === 0) return ctx.log('budgeting: no communes, skipped');
  const existing = await db
    .selectFrom('bg_budgets')
    .select(sql<string>`source->>'demo'`.as('demo'))
    .where(sql<boolean>`source->>'demo' is not null`)
    .execute();
  const have = new Set(existing.map((r) => r.demo));
  const pb = parsePb(fs.readFileSync(file, 'utf8'));
  const parts = splitByCommune(pb, communes.length, EUR_TO_ARS);
  const amount = Math.round((Number(pb.meta.budget) * EUR_TO_ARS) / communes.length);
  const headings = (withVotes: boolean) =>
    communes.map((c, i) => {
      const part = parts.get(i + 1)!;
      return { name: c.name, amount, communeId: c.id, pb: withVotes ? part : { ...part, votes: [] } };
    });
  if (!have.has(FINISHED)) {
    await importParts(
      services,
      {
        name: 'BA Elige 2025',
        description: 'Presupuesto participativo por comuna (datos de demostración: proyectos y votos reales de Toulouse 2024, Pabulib, asignados a las comunas).',
        year: 2025,
        phase: 'finished',
        voting_rule: 'approval',
        max_votes: 3,
        result_rule: 'greedy',
        source: { demo: FINISHED, origin: 'Pabulib France_Toulouse_2024.pb' },
      },
      'Por comuna',
      headings(true),
    );
    ctx.log('budgeting: finished demo budget loaded');
  }
  if (!have.has(BALLOTING)) {
    await importParts(
      services,
      {
        name: 'BA Elige 2026',
        description: 'Votación abierta: elegí proyectos de tu comuna hasta completar el monto (datos de demostración).',
        year: 2026,
        phase: 'balloting',
        voting_rule: 'knapsack',
        result_rule: 'mes',
        source: { demo: BALLOTING, origin: 'Pabulib France_Toulouse_2024.pb' },
      },
      'Por comuna',
      headings(false),
    );
    ctx.log('budgeting: balloting demo budget loaded');
  }
}

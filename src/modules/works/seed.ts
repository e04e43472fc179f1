import fs from 'node:fs';
import path from 'node:path';
import type { Services } from '../../core/services';
import type { SeedContext } from '../../core/manifest';
import { importFile } from './importer';
import { bumpVersion, worksDb } from './store';
import { slugify } from './domain/normalise';

export const OLYMPICS_SLUG = 'juegos-olimpicos-de-la-juventud-2018';
/** The BA Obras "entornos" that were works of the 2018 Youth Olympic Games. */
const OLYMPIC_ENTORNOS = ['Villa Olímpica', 'Parque Olímpico', 'Barrio Olímpico'];

/** Imports the real 2024 BA Obras snapshot and archives the Youth Olympic Games programme. Idempotent. */
export async function seedWorks(services: Services, ctx: SeedContext): Promise<void> {
  const file = path.join(ctx.demoDir, 'works', 'ba-obras-2024.csv');
  if (!fs.existsSync(file)) {
    ctx.log(`works: ${file} not found, skipped`);
    return;
  }
  const r = await importFile(services, fs.readFileSync(file), 'ba-obras-2024.csv');
  ctx.log(`works: ${r.line}`);
  await archiveOlympics(services);
}

export async function archiveOlympics(services: Services): Promise<void> {
  const db = worksDb(services);
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('works_programmes')
      .values({
        slug: OLYMPICS_SLUG,
        name: 'Juegos Olímpicos de la Juventud Buenos Aires 2018',
        description:
          'Obras hechas para los Juegos Olímpicos de la Juventud de octubre de 2018: la Villa Olímpica en Villa Soldati (hoy Barrio Olímpico, viviendas) y el Parque Olímpico.',
        archived: true,
      })
      .onConflict((oc) => oc.column('slug').doNothing())
      .execute();
    const parent = await trx.selectFrom('works_programmes').select('id').where('slug', '=', OLYMPICS_SLUG).executeTakeFirstOrThrow();
    await trx
      .updateTable('works_programmes')
      .set({ parent_id: parent.id, archived: true })
      .where('slug', 'in', OLYMPIC_ENTORNOS.map(slugify))
      .execute();
    await bumpVersion(trx);
  });
}

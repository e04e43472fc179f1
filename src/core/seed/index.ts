import type { Services } from '../services';

/** True when the database holds no city yet (no communes, no accounts). */
export async function isEmptyCity(services: Services): Promise<boolean> {
  const row = await services.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n) === 0;
}

/** Loads the demo city: core's part, then every module's seed. */
export async function seedDemoCity(services: Services, log: (m: string) => void): Promise<void> {
  for (const m of services.registry.ready) {
    if (m.seed) {
      log(`Seeding ${m.name}…`);
      await m.seed(services, { log, demoDir: 'data/demo' });
    }
  }
}

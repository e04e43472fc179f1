import type { Services } from '../../../core/services';

/** A 0.01° square with its south-west corner at (x, y). */
export function square(x: number, y: number) {
  return { type: 'Polygon', coordinates: [[[x, y], [x + 0.01, y], [x + 0.01, y + 0.01], [x, y + 0.01], [x, y]]] };
}

/**
 * Two small communes side by side for the tests: Comuna 1 spans lng -58.40..-58.39, Comuna 2
 * -58.38..-58.37, both lat -34.60..-34.59; populations 1,000 and 2,000 (or `population` for both).
 */
export async function twoCommunes(services: Services, population?: number): Promise<void> {
  for (const [id, x] of [[1, -58.4], [2, -58.38]] as const) {
    await services.db.insertInto('communes').values({ id, name: `Comuna ${id}`, population: population ?? 1000 * id, area_m2: 1, geometry: JSON.stringify(square(x, -34.6)) }).execute();
  }
}

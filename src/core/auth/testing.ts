import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Services } from '../services';

/** Tests start from an empty city; census records need the 15 communes to point at. */
export async function ensureCommunes(services: Services): Promise<void> {
  const square = { type: 'Polygon', coordinates: [[[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]] };
  await services.db
    .insertInto('communes')
    .values(Array.from({ length: 15 }, (_, i) => ({ id: i + 1, name: `Comuna ${i + 1}`, population: 0, area_m2: 0, geometry: JSON.stringify(square) })))
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

/** A throwaway HTTP server on a free local port; returns its base URL and a close(). */
export async function localServer(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

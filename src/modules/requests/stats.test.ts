import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestApp, createUser, type TestContext } from '../../core/testing/harness';
import { manifest } from './manifest';
import { requestsFixture } from './testing';
import { rqDb } from './store';

let t: TestContext;

/** The rows of the page's table with this caption, as the text of their cells (header cell first). */
function tableRows(html: string, caption: string): string[][] {
  const at = html.indexOf(`<caption>${caption}</caption>`);
  assert.ok(at >= 0, `a table captioned "${caption}"`);
  const body = html.slice(at, html.indexOf('</table>', at));
  const tbody = body.slice(body.indexOf('<tbody>'));
  return [...tbody.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((row) =>
    [...row[1].matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((c) => c[1].replace(/<[^>]+>/g, '').replace(/&nbsp;|\u00a0|\u202f/g, ' ').trim()),
  );
}

before(async () => {
  t = await createTestApp({ modules: [manifest] });
  const f = await requestsFixture(t.services);
  // A second commune of 1 km², so that its density is a whole number of requests per km².
  const small = { type: 'Polygon' as const, coordinates: [[[-58.5, -34.7], [-58.49, -34.7], [-58.49, -34.69], [-58.5, -34.69], [-58.5, -34.7]]] };
  await t.services.db.insertInto('communes').values({ id: 2, name: 'Comuna 2', population: 1, area_m2: 1e6, geometry: JSON.stringify(small) }).execute();
  t.services.geo.invalidate();
  const db = rqDb(t.services);
  const day = 86400_000;
  const at = (iso: string, plusDays = 0) => new Date(Date.parse(iso) + plusDays * day);
  const resident = await createUser(t.services, {});
  // Street lights (Espacio Público, 5 days target), potholes (Otra área, 20 days target).
  const rows = [
    { key: 'a', service: f.light, office: f.office.id, commune: 1, filed: '2026-03-10T12:00:00-03:00', status: 'solved', closeAfter: 2, target: 5 },
    { key: 'b', service: f.light, office: f.office.id, commune: 1, filed: '2026-03-20T09:00:00-03:00', status: 'solved', closeAfter: 8, target: 5 },
    { key: 'c', service: f.light, office: f.office.id, commune: 2, filed: '2026-04-01T10:00:00-03:00', status: 'not_solvable', closeAfter: 4, target: 5 },
    // 22:30 in the city is already May in UTC: the month is the city's.
    { key: 'd', service: f.pothole, office: f.other.id, commune: 2, filed: '2026-04-30T22:30:00-03:00', status: 'in_progress', closeAfter: null, target: 20 },
    { key: 'e', service: f.pothole, office: f.other.id, commune: null, filed: '2026-05-05T08:00:00-03:00', status: 'solved', closeAfter: 10, target: 20 },
    // Merged duplicates are counted in their original only.
    { key: 'f', service: f.pothole, office: f.other.id, commune: 1, filed: '2026-05-06T08:00:00-03:00', status: 'merged', closeAfter: 1, target: 20 },
  ] as const;
  const ids: Record<string, number> = {};
  for (const r of rows) {
    const filed = at(r.filed);
    const { id } = await db
      .insertInto('rq_requests')
      .values({
        token: `tok-${r.key}`,
        service_id: r.service,
        office_id: r.office,
        status: r.status,
        commune_id: r.commune,
        lat: r.commune ? -34.6 : null,
        lng: r.commune ? -58.38 : null,
        author_id: resident.id,
        requested_at: filed,
        updated_at: filed,
        closed_at: r.closeAfter === null ? null : at(r.filed, r.closeAfter),
        expected_at: at(r.filed, r.target),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    ids[r.key] = id;
  }
  await db.updateTable('rq_requests').set({ merged_into_id: ids.e }).where('id', '=', ids.f).execute();
  await db
    .insertInto('rq_ratings')
    .values([
      { request_id: ids.a, user_id: resident.id, score: 5, comment: 'Rápido' },
      { request_id: ids.b, user_id: resident.id, score: 2, comment: 'Tardó' },
      { request_id: ids.e, user_id: null, score: 4, comment: '' },
    ])
    .execute();
});
after(() => t.close());

test('the statistics page gives the figures by category, commune and month (merged duplicates left out)', async () => {
  const res = await t.app.inject('/requests/stats');
  assert.equal(res.statusCode, 200);
  assert.deepEqual(tableRows(res.body, 'Reclamos por categoría'), [
    ['Luminaria apagada', '3'],
    ['Bache', '2'],
  ]);
  // Comuna 1: 2 requests over 16 km² (0 per km² once rounded); Comuna 2: 2 over 1 km²; one without a place.
  assert.deepEqual(tableRows(res.body, 'Reclamos por comuna'), [
    ['Comuna 1', '2', '0'],
    ['Comuna 2', '2', '2'],
    ['Sin comuna', '1', '—'],
  ]);
  assert.deepEqual(tableRows(res.body, 'Reclamos por mes'), [
    ['2026-03', '2'],
    ['2026-04', '2'],
    ['2026-05', '1'],
  ]);
  // The bars carry the same counts.
  assert.match(res.body, /<title id="rq-bars-t">Reclamos por categoría<\/title>/);
});

test('by office: closed, median days to close, share within target and average rating', async () => {
  const es = await t.app.inject('/requests/stats');
  // Espacio Público closed in 2, 8 and 4 days (median 4), two of three within 5 days, rated 5 and 2.
  // Otra área closed one in 10 days of its 20, rated 4 (through the signed link); its open request is not closed.
  const rows = tableRows(es.body, 'Tiempo de cierre por área');
  assert.equal(rows.length, 2);
  const [ep, other] = rows;
  assert.equal(ep[0], 'Espacio Público');
  assert.equal(ep[1], '3');
  assert.equal(ep[2], '4 días');
  assert.equal(ep[3], '66,7%');
  assert.equal(ep[4], '3,5');
  assert.equal(other[0], 'Otra área');
  assert.equal(other[1], '1');
  assert.equal(other[2], '10 días');
  assert.equal(other[3], '100%');
  assert.equal(other[4], '4');

  const en = await t.app.inject('/requests/stats?lang=en');
  const enRows = tableRows(en.body, 'Time to close by office');
  assert.deepEqual(enRows[0].slice(1, 3), ['3', '4 days']);
  assert.equal(enRows[0][3], '66.7%');
  assert.equal(enRows[0][4], '3.5');
});

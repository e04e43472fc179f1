import type { Services } from '../../core/services';
import { createApiToken } from '../../core/auth/session';
import { createOffice, createUser } from '../../core/testing/harness';
import { rqDb, saveAttribute, saveService } from './store';

/** A one-square-commune city around the Obelisco, an office, two categories and an API client. */
export async function requestsFixture(services: Services) {
  const square = { type: 'Polygon' as const, coordinates: [[[-58.4, -34.62], [-58.36, -34.62], [-58.36, -34.59], [-58.4, -34.59], [-58.4, -34.62]]] };
  await services.db.insertInto('communes').values({ id: 1, name: 'Comuna 1', population: 1, area_m2: 16e6, geometry: JSON.stringify(square) }).execute();
  const hood = await services.db
    .insertInto('neighbourhoods')
    .values({ slug: 'san-nicolas', name: 'San Nicolás', commune_id: 1, population: 1, area_m2: 16e6, geometry: JSON.stringify(square) })
    .returning('id')
    .executeTakeFirstOrThrow();
  services.geo.invalidate();
  const office = await createOffice(services, { slug: 'espacio-publico', name: 'Espacio Público' });
  const other = await createOffice(services, { slug: 'otra-area', name: 'Otra área' });
  const db = rqDb(services);
  const light = await saveService(db, { code: 'alumbrado', name: 'Luminaria apagada', name_en: 'Street light out', description: 'Luces', description_en: null, group_name: 'Alumbrado', keywords: 'luz,farol', office_id: office.id, target_days: 5, active: true });
  await saveAttribute(db, light, { code: 'estado', datatype: 'singlevaluelist', required: true, description: '¿Cómo está?', values: [{ key: 'apagada', name: 'Apagada' }, { key: 'prendida_dia', name: 'Prendida de día' }], position: 0 });
  await saveAttribute(db, light, { code: 'cantidad', datatype: 'number', required: false, description: '¿Cuántas?', values: [], position: 1 });
  await saveAttribute(db, light, { code: 'bloquea', datatype: 'multivaluelist', required: false, description: '¿Qué bloquea?', values: [{ key: 'vereda', name: 'Vereda' }, { key: 'calle', name: 'Calle' }], position: 2 });
  const pothole = await saveService(db, { code: 'bache', name: 'Bache', name_en: 'Pothole', description: '', description_en: null, group_name: 'Vía pública', keywords: null, office_id: other.id, target_days: 20, active: true });
  const client = await createUser(services, { email: 'app@test.cabildo' });
  const { token } = await createApiToken(services.db, client.id, 'app');
  return { office, other, hood: hood.id, light, pothole, client, token, inside: { lat: -34.6037, lng: -58.3816 } };
}

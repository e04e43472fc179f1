import fs from 'node:fs';
import path from 'node:path';
import type { Services } from '../../core/services';
import type { SeedContext } from '../../core/manifest';
import { systemActor } from '../../core/audit';
import { harvest } from './harvest';
import { odDb, findDataset, findResource, findOffice, type Viewer } from './store';
import { createPackage, createResource, updateResource } from './publishing';
import { syncRegistry } from './registry-sync';
import { BUDGET_DATASET } from './views/budget';

const seeder: Viewer = { userId: null, admin: true, officeIds: [], adminOfficeIds: [] };

/**
 * Files we have for resources of the real catalogue: uploaded so that previews, maps and the DataStore
 * work. `dir` is the demo folder the file is in (open-data by default: geo and works are shared with core
 * and the works module, so they are not copied twice).
 */
const FILES: Array<{ dataset: string; resource?: string; name: string; file: string; dir?: string; format?: 'CSV' | 'GeoJSON'; description: string }> = [
  { dataset: 'barrios', resource: '7ac3ebfa-2f32-41d4-ae39-ae6f5ba15070', name: 'Barrios por Comuna', file: 'barrios_comunas.csv', description: 'Barrios de la Ciudad y la comuna a la que pertenecen.' },
  { dataset: 'barrios', resource: '1c3d185b-fdc9-474b-b41b-9bd960a3806e', name: 'Barrios (GeoJSON)', file: 'caba_barrios.geojson', dir: 'geo', format: 'GeoJSON', description: 'Límites de los 48 barrios.' },
  { dataset: 'barrios', name: 'Población por barrio (Censo 2010)', file: 'caba_pob_barrios_2010.csv', description: 'Población de cada barrio según el Censo 2010.' },
  { dataset: 'comunas', resource: 'b0b627ac-5b47-4574-89ac-6999b63598ee', name: 'Comunas (GeoJSON)', file: 'caba_comunas.geojson', dir: 'geo', format: 'GeoJSON', description: 'Límites de las 15 comunas.' },
  { dataset: 'comunas', name: 'Población por comuna (proyección 2017)', file: 'gcba_pob_comunas_17.csv', description: 'Población proyectada de cada comuna para 2017.' },
  { dataset: 'sistema-unico-atencion-ciudadana', resource: 'cdfa6d6f-c165-4675-8eaf-ada653b93797', name: 'Solicitudes por comuna', file: 'gcba_suaci_comunas.csv', description: 'Contactos al sistema de atención ciudadana por mes, rubro, tipo de prestación, barrio y comuna.' },
  { dataset: 'sistema-unico-atencion-ciudadana', name: 'Contactos por barrio 2018', file: 'gcba_suaci_2018_contactos_por_barrio.csv', description: 'Total de contactos al sistema de atención ciudadana por barrio en 2018.' },
  { dataset: 'ba-obras', resource: 'juqdkmgo-181-resource', name: 'Obras Públicas', file: 'ba-obras-2024.csv', dir: 'works', description: 'Observatorio de obras urbanas (archivo original en Latin-1, separado por punto y coma).' },
];

export async function seed(services: Services, ctx: SeedContext): Promise<void> {
  const dir = path.join(ctx.demoDir, 'open-data');
  const db = odDb(services);
  const report = await harvest(services, path.join(dir, 'ckan-catalog-2021'), { origin: 'data.buenosaires.gob.ar' });
  ctx.log(`open-data: BA Data catalogue: ${report.created} created, ${report.updated} updated, ${report.unchanged} unchanged`);
  for (const f of FILES) {
    const d = await findDataset(db, f.dataset);
    if (!d) continue;
    const data = fs.readFileSync(path.join(f.dir ? path.join(ctx.demoDir, f.dir) : dir, f.file));
    const format = f.format ?? 'CSV';
    const upload = { data, filename: f.file, mimetype: format === 'CSV' ? 'text/csv' : 'application/geo+json' };
    if (f.resource) {
      const r = await findResource(db, f.resource);
      if (!r || r.url_type === 'upload') continue;
      await updateResource(services, systemActor, seeder, { id: r.id, name: f.name, description: f.description, format, fields: r.fields }, upload, 'patch');
    } else {
      const exists = await db.selectFrom('od_resources').select('id').where('dataset_id', '=', d.id).where('name', '=', f.name).where('state', '=', 'active').executeTakeFirst();
      if (exists) continue;
      await createResource(services, systemActor, seeder, { package_id: d.id, name: f.name, description: f.description, format }, upload);
    }
  }
  if (!(await findDataset(db, BUDGET_DATASET))) {
    const office = (await findOffice(db, 'ministerio-de-economia-y-finanzas')) ?? (await findOffice(db, 'cabildo'));
    if (office) {
      const d = await createPackage(services, systemActor, seeder, {
        name: BUDGET_DATASET,
        title: 'Ejecución del presupuesto por jurisdicción y finalidad (ilustrativo)',
        notes:
          'Crédito sancionado, vigente y devengado por jurisdicción, finalidad, función y objeto del gasto. Las cifras de esta demostración son ilustrativas: siguen la estructura del presupuesto de la Ciudad de Buenos Aires pero no son datos oficiales.',
        owner_org: office.slug,
        license_id: 'CC-BY-4.0',
        license_title: 'Creative Commons Attribution 4.0',
        groups: [{ name: 'economia-y-finanzas' }].filter(() => true),
        tags: [{ name: 'presupuesto' }, { name: 'ejecución presupuestaria' }],
        extras: [{ key: 'accrualPeriodicity', value: 'R/P3M' }, { key: 'superTheme', value: '["ECON"]' }],
      }).catch(async () =>
        createPackage(services, systemActor, seeder, { name: BUDGET_DATASET, title: 'Ejecución del presupuesto (ilustrativo)', owner_org: office.slug, tags: [{ name: 'presupuesto' }] }),
      );
      const file = 'presupuesto-ejecucion-ilustrativo.csv';
      await createResource(services, systemActor, seeder, { package_id: d.id, name: 'Ejecución 2024 (ilustrativa)', format: 'CSV', description: 'Cifras ilustrativas.' }, { data: fs.readFileSync(path.join(dir, file)), filename: file, mimetype: 'text/csv' });
    }
  }
  const reg = await syncRegistry(services);
  ctx.log(`open-data: registry datasets ${reg.created} created, ${reg.updated} updated`);
}

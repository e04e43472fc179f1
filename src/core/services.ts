import crypto from 'node:crypto';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import type { Config } from '../config';
import { openDatabase, migrate, coreMigrations, type Database, type Db } from './db';
import { AuditLog } from './audit';
import { Mailer } from './mail';
import { JobQueue } from './jobs';
import { FileStore, LocalDiskStorage } from './files';
import { Geo } from './geo';
import { createGeocoder, type Geocoder } from './geo/geocode';
import { Registry } from './registry';
import { coreDatasets } from './geo/datasets';
import { I18n, coreCatalogues } from './i18n';
import { coreMessages } from './messages';
import type { ModuleManifest } from './manifest';

/** The application's services: built once per process, shared by HTTP, CLI and jobs. */
export interface Services {
  config: Config;
  database: Database;
  db: Db;
  log: Logger;
  registry: Registry;
  i18n: I18n;
  audit: AuditLog;
  mail: Mailer;
  jobs: JobQueue;
  files: FileStore;
  geo: Geo;
  /** Null when the city runs no geocoder (GEOCODER_URL unset). */
  geocoder: Geocoder | null;
  /** Instance secret (keyed hashes of census documents, signed cookies). Kept in the database. */
  secret: string;
  close(): Promise<void>;
}

export interface ServicesOptions {
  modules: ModuleManifest[];
  database?: Database;
  logger?: Logger;
}

export async function createServices(config: Config, opts: ServicesOptions): Promise<Services> {
  const log = opts.logger ?? pino({ level: config.logLevel });
  const registry = new Registry(opts.modules, coreDatasets);
  const database = opts.database ?? (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  const db = database.db;
  await migrate(db, [coreMigrations, ...registry.migrationSets()]);
  const secret = await instanceSecret(db);
  const jobs = new JobQueue(db, log);
  const mail = new Mailer(db, { smtpUrl: config.smtpUrl, from: config.mailFrom }, log);
  const services: Services = {
    config,
    database,
    db,
    log,
    registry,
    i18n: new I18n([coreCatalogues, ...coreMessages, ...registry.catalogues()]),
    audit: new AuditLog(db),
    mail,
    jobs,
    files: new FileStore(db, new LocalDiskStorage(path.join(config.dataDir, 'files')), config.uploadLimitBytes),
    geo: new Geo(db),
    geocoder: createGeocoder(config.geocoder, { userAgent: `Cabildo (${config.baseUrl})` }),
    secret,
    close: async () => {
      jobs.stop();
      mail.close();
      await database.close();
    },
  };
  jobs.register(
    {
      'mail.deliver': async () => ({ sent: await mail.deliverPending() }),
      ...registry.jobHandlers(),
    },
    services,
  );
  for (const s of registry.schedules()) jobs.schedule(s.job, s.everyMinutes * 60_000);
  return services;
}

async function instanceSecret(db: Db): Promise<string> {
  if (process.env.CABILDO_SECRET) return process.env.CABILDO_SECRET;
  const candidate = crypto.randomBytes(32).toString('hex');
  // Insert-if-absent then read: two processes starting together agree on one secret.
  await db
    .insertInto('settings')
    .values({ key: 'secret', value: JSON.stringify(candidate) })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  const row = await db.selectFrom('settings').select('value').where('key', '=', 'secret').executeTakeFirstOrThrow();
  return row.value as string;
}

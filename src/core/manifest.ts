import type { FastifyPluginAsync } from 'fastify';
import type { Migration } from 'kysely';
import type { Catalogues, Locale } from './i18n';
import type { Services } from './services';
import type { JobHandler } from './jobs';

/**
 * What a module adds to Cabildo, declared in one place (as Decidim's component manifests do).
 * Core reads manifests and never names a module.
 */
export interface ModuleManifest {
  /** Folder name under src/modules, e.g. 'open-data'. Also the prefix of its tables' bookkeeping. */
  name: string;
  /** Where its pages live, e.g. '/datasets'. */
  path: string;
  /** i18n keys for the home card and the navigation. */
  titleKey: string;
  descriptionKey: string;
  /** 'coming' shows an honest "coming soon" card and registers nothing else. */
  status: 'ready' | 'coming';
  /** The module's strings in every locale. */
  messages?: Catalogues;
  migrations?: Record<string, Migration>;
  /** HTML pages, registered at the site root (an encapsulated Fastify plugin). */
  routes?: FastifyPluginAsync;
  /** JSON API, registered under /api/v1 (TypeBox schemas → validation + OpenAPI). */
  api?: FastifyPluginAsync;
  /** Client islands this module's pages use: logical name → entry file (bundled by esbuild). */
  islands?: Record<string, string>;
  /** Show in the main navigation (order: lower first). */
  nav?: { order: number };
  /** Links in /admin for officials and administrators of this module. */
  adminLinks?: AdminLink[];
  search?: SearchProvider;
  hubEvents?: HubEventProvider;
  datasets?: PublishedDataset[];
  statistics?: (services: Services) => Promise<Statistic[]>;
  /** Loads this module's part of the demo city. Runs after core's seed. */
  seed?: (services: Services, ctx: SeedContext) => Promise<void>;
  jobs?: Record<string, JobHandler>;
  /** Jobs of `jobs` the worker queues on its own: at start-up, then every `everyMinutes`. */
  schedules?: Array<{ job: string; everyMinutes: number }>;
  /** Subcommands of `cabildo`: `cabildo <name> …`. */
  cli?: Record<string, CliCommand>;
}

export interface AdminLink {
  href: string;
  labelKey: string;
  /** Who sees the link: administrators only, or officials too. */
  audience: 'admin' | 'official' | 'moderator';
}

export interface SearchHit {
  title: string;
  url: string;
  snippet?: string;
  /** i18n key naming the kind of thing found ("Dataset", "Project"…). */
  kindKey: string;
  rank: number;
}

export interface SearchProvider {
  search(services: Services, q: string, locale: Locale, limit: number): Promise<SearchHit[]>;
}

export interface HubEvent {
  id: string;
  title: string;
  url: string;
  starts_at: Date;
  ends_at?: Date;
  kindKey: string;
  description?: string;
}

export interface HubEventProvider {
  events(services: Services, range: { from: Date; to: Date }): Promise<HubEvent[]>;
}

/** A dataset a module publishes as open data; the open-data registry keeps it current. */
export interface PublishedDataset {
  slug: string;
  title: Record<Locale, string>;
  description: Record<Locale, string>;
  /** Theme (sector) slug, e.g. 'urbanismo-y-territorio'. */
  theme: string;
  keywords: string[];
  accrualPeriodicity: string; // ISO 8601 duration, e.g. R/P1D
  resources: PublishedResource[];
}

export interface PublishedResource {
  slug: string;
  name: string;
  format: 'CSV' | 'GeoJSON' | 'JSON';
  mediaType: string;
  /** Produces the file now, from the module's tables. */
  produce(services: Services): Promise<string | Buffer>;
}

export interface Statistic {
  key: string;
  labelKey: string;
  value: number;
}

export interface SeedContext {
  log(message: string): void;
  /** Where the shipped demo data lives (data/demo). */
  demoDir: string;
}

export interface CliCommand {
  summary: string;
  run(services: Services, args: string[]): Promise<number | void>;
}

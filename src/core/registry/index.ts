import type { ModuleManifest, SearchProvider, HubEventProvider, PublishedDataset, AdminLink, CliCommand } from '../manifest';
import type { JobHandler } from '../jobs';
import type { MigrationSet } from '../db';
import type { Catalogues } from '../i18n';

/** What core learns from the manifests: every registry a module can fill. */
export class Registry {
  readonly modules: ModuleManifest[];
  readonly ready: ModuleManifest[];

  constructor(
    modules: ModuleManifest[],
    /** Datasets core publishes itself (communes, neighbourhoods). */
    private readonly coreDatasets: PublishedDataset[] = [],
  ) {
    const names = new Set<string>();
    for (const m of modules) {
      if (names.has(m.name)) throw new Error(`Two modules are named "${m.name}"`);
      names.add(m.name);
    }
    this.modules = modules;
    this.ready = modules.filter((m) => m.status === 'ready');
  }

  migrationSets(): MigrationSet[] {
    return this.ready.filter((m) => m.migrations).map((m) => ({ name: m.name, migrations: m.migrations! }));
  }

  catalogues(): Catalogues[] {
    return this.modules.flatMap((m) => (m.messages ? [m.messages] : []));
  }

  nav(): ModuleManifest[] {
    return this.ready.filter((m) => m.nav).sort((a, b) => a.nav!.order - b.nav!.order);
  }

  adminLinks(): AdminLink[] {
    return this.ready.flatMap((m) => m.adminLinks ?? []);
  }

  searchProviders(): { module: string; provider: SearchProvider }[] {
    return this.ready.filter((m) => m.search).map((m) => ({ module: m.name, provider: m.search! }));
  }

  hubEventProviders(): HubEventProvider[] {
    return this.ready.flatMap((m) => (m.hubEvents ? [m.hubEvents] : []));
  }

  /** Every dataset published through the open-data registry: core's, then each module's. */
  datasets(): { module: string; dataset: PublishedDataset }[] {
    return this.coreDatasets.map((dataset) => ({ module: 'core', dataset })).concat(this.ready.flatMap((m) => (m.datasets ?? []).map((dataset) => ({ module: m.name, dataset }))));
  }

  jobHandlers(): Record<string, JobHandler> {
    return Object.assign({}, ...this.ready.map((m) => m.jobs ?? {}));
  }

  schedules(): Array<{ job: string; everyMinutes: number }> {
    return this.ready.flatMap((m) => m.schedules ?? []);
  }

  cliCommands(): Record<string, CliCommand> {
    return Object.assign({}, ...this.ready.map((m) => m.cli ?? {}));
  }
}

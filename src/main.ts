import { loadConfig, ConfigError, type Config } from './config';
import { createServices, type Services } from './core/services';
import { buildApp } from './app';
import { modules } from './modules';
import { coreCommands } from './core/cli';
import { isEmptyCity, seedDemoCity } from './core/seed';

const HELP = `Usage: cabildo <command> [options]

Commands:
  serve                       start the web server (default); migrates, and seeds the demo city on an empty database
  migrate                     run every pending migration
  seed --demo                 load the demo city into the database
  create-admin <email>        create (or promote) an administrator; prints the password when it creates one
  token create --email <e> [--name <label>]
                              create an API token for an account; prints it as the last line
  backup <file>               write a dump of the whole database (restores into either engine)
  restore <file>              load a dump written by backup into an empty database
Environment: DATA_DIR (default ./data), DATABASE_URL (PostgreSQL; PGlite otherwise), PORT, SEED (demo|none).`;

async function withServices<T>(config: Config, fn: (s: Services) => Promise<T>): Promise<T> {
  const services = await createServices(config, { modules });
  try {
    return await fn(services);
  } finally {
    await services.close();
  }
}

async function serve(config: Config) {
  const services = await createServices(config, { modules });
  if (config.seed === 'demo' && (await isEmptyCity(services))) {
    await seedDemoCity(services, (m) => services.log.info(m));
  }
  const app = await buildApp(services);
  services.jobs.start();
  services.mail.start();
  const shutdown = async () => {
    await app.close();
    await services.close();
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  await app.listen({ port: config.port, host: config.host });
}

export async function main(argv: string[]): Promise<number> {
  const [command = 'serve', ...args] = argv;
  if (command === '--help' || command === '-h' || command === 'help') {
    console.log(HELP);
    return 0;
  }
  const config = loadConfig();
  if (command === 'serve') {
    await serve(config);
    return -1; // keeps running
  }
  if (command === 'migrate') {
    await withServices(config, async () => console.log('Migrations are up to date.'));
    return 0;
  }
  if (command === 'seed') {
    if (!args.includes('--demo')) {
      console.error('Usage: cabildo seed --demo');
      return 2;
    }
    await withServices(config, (s) => seedDemoCity(s, (m) => console.log(m)));
    return 0;
  }
  const core = coreCommands[command];
  const moduleCommands = Object.fromEntries(modules.filter((m) => m.status === 'ready').flatMap((m) => Object.entries(m.cli ?? {})));
  const cmd = core ?? moduleCommands[command];
  if (!cmd) {
    console.error(`Unknown command "${command}".\n\n${HELP}`);
    return 2;
  }
  return withServices(config, async (s) => (await cmd.run(s, args)) ?? 0);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err) => {
    console.error(err instanceof ConfigError ? `Configuration error: ${err.message}` : `Error: ${(err as Error).message}`);
    process.exit(1);
  },
);

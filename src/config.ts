import path from 'node:path';
import { geocoderSettings, type GeocoderSettings } from './core/geo/geocode';

/** Everything Cabildo reads from the environment, typed and checked once at start-up. */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** When set, PostgreSQL through `pg`; otherwise embedded PGlite under dataDir. */
  databaseUrl?: string;
  /** 'demo' loads the demo city on an empty database; 'none' starts empty. */
  seed: 'demo' | 'none';
  baseUrl: string;
  cityName: string;
  cityShortName: string;
  /** The city's colours for the USWDS theme. */
  theme: { primary: string; primaryDark: string; accent: string; logoUrl?: string };
  tileUrl?: string;
  tileAttribution: string;
  /** An address → point service (Nominatim or USIG); without it addresses stay as typed. */
  geocoder?: GeocoderSettings;
  redisUrl?: string;
  smtpUrl?: string;
  mailFrom: string;
  oidc?: { issuer: string; clientId: string; clientSecret: string; label: string };
  census: { connector: 'local' | 'http'; url?: string; token?: string };
  /** Verification attempts allowed per account per day. */
  verificationAttempts: number;
  logLevel: string;
  /** Secure cookies: behind HTTPS (BASE_URL https://…) or TRUST_PROXY. */
  secureCookies: boolean;
  trustProxy: boolean;
  uploadLimitBytes: number;
  /** Set by the test harness: quieter logs, no mail worker timers. */
  testing: boolean;
}

export class ConfigError extends Error {}

/** Turns a settings parser's complaint into a ConfigError (the message says which variable). */
function configured<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const port = int(env, 'PORT', 3000);
  const seed = (env.SEED ?? 'demo').toLowerCase();
  if (seed !== 'demo' && seed !== 'none') throw new ConfigError(`SEED must be "demo" or "none", got "${env.SEED}"`);
  const connector = (env.CENSUS_CONNECTOR ?? (env.CENSUS_URL ? 'http' : 'local')) as Config['census']['connector'];
  if (connector !== 'local' && connector !== 'http') throw new ConfigError('CENSUS_CONNECTOR must be "local" or "http"');
  if (connector === 'http' && !env.CENSUS_URL) throw new ConfigError('CENSUS_CONNECTOR=http needs CENSUS_URL');
  const baseUrl = (env.BASE_URL ?? `http://localhost:${port}`).replace(/\/$/, '');
  const oidc = env.OIDC_ISSUER
    ? {
        issuer: env.OIDC_ISSUER,
        clientId: env.OIDC_CLIENT_ID ?? '',
        clientSecret: env.OIDC_CLIENT_SECRET ?? '',
        label: env.OIDC_LABEL ?? 'Mi BA',
      }
    : undefined;
  if (oidc && !oidc.clientId) throw new ConfigError('OIDC_ISSUER needs OIDC_CLIENT_ID');
  return {
    port,
    host: env.HOST ?? '0.0.0.0',
    dataDir: path.resolve(env.DATA_DIR ?? './data'),
    databaseUrl: env.DATABASE_URL || undefined,
    seed,
    baseUrl,
    cityName: env.CITY_NAME ?? 'Ciudad Autónoma de Buenos Aires',
    cityShortName: env.CITY_SHORT_NAME ?? 'Buenos Aires',
    theme: {
      primary: env.THEME_PRIMARY ?? '#0b5b8f',
      primaryDark: env.THEME_PRIMARY_DARK ?? '#07385a',
      accent: env.THEME_ACCENT ?? '#fdd306',
      logoUrl: env.THEME_LOGO_URL || undefined,
    },
    tileUrl: env.TILE_URL || undefined,
    tileAttribution: env.TILE_ATTRIBUTION ?? '© OpenStreetMap contributors',
    geocoder: configured(() => geocoderSettings(env)),
    redisUrl: env.REDIS_URL || undefined,
    smtpUrl: env.SMTP_URL || undefined,
    mailFrom: env.MAIL_FROM ?? 'Cabildo <no-reply@cabildo.test>',
    oidc,
    census: { connector, url: env.CENSUS_URL, token: env.CENSUS_TOKEN },
    verificationAttempts: int(env, 'VERIFICATION_ATTEMPTS', 5),
    logLevel: env.LOG_LEVEL ?? 'info',
    secureCookies: baseUrl.startsWith('https://') || env.TRUST_PROXY === '1',
    trustProxy: env.TRUST_PROXY === '1',
    uploadLimitBytes: int(env, 'UPLOAD_LIMIT_BYTES', 20 * 1024 * 1024),
    testing: false,
    ...overrides,
  };
}

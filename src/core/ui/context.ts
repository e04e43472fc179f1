import type { Locale, Translate, Formatters } from '../i18n';
import type { Assets } from './assets';
import type { ModuleManifest } from '../manifest';
import type { Config } from '../../config';

export interface SessionUser {
  id: number;
  email: string;
  name: string;
  roles: string[];
  verified: boolean;
  communeId: number | null;
  /** Offices the user is a member of: an official acts only for these. */
  officeIds: number[];
  /** Of those, the offices the user administers (approves what the office publishes). */
  officeAdminIds: number[];
  emailConfirmed: boolean;
}

/** What every page component needs from the request: language, user, CSRF token, URLs. */
export interface PageContext {
  locale: Locale;
  t: Translate;
  fmt: Formatters;
  user: SessionUser | null;
  csrfToken: string;
  /** The current path with query, for the language switch and redirects after sign-in. */
  url: string;
  assets: Assets;
  nav: ModuleManifest[];
  config: Config;
}

import type { Catalogues } from './i18n';
import { geoMessages } from './geo/messages';
import { authMessages } from './auth/messages';
import { adminMessages } from './admin/messages';
import { officesMessages } from './offices/messages';
import { opsMessages } from './ops/messages';

/**
 * Each core area (auth, admin, geo…) keeps its strings in its own messages.ts; they are listed
 * here so the shell's catalogue stays small and two people editing two areas never collide.
 */
export const coreMessages: Catalogues[] = [geoMessages, authMessages, adminMessages, officesMessages, opsMessages];

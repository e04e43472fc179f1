import type { Catalogues } from './i18n';

/**
 * Each core area (auth, admin, geo…) keeps its strings in its own messages.ts; they are listed
 * here so the shell's catalogue stays small and two people editing two areas never collide.
 */
export const coreMessages: Catalogues[] = [];

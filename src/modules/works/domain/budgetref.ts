import type { BudgetRef } from './project';

/** A participatory-budgeting project on this site: /budgets/<budget>/proposals/<proposal>. */
const LOCAL = /^\/budgets\/(\d+)(?:\/proposals\/(\d+))?\/?$/;

/**
 * A BA Elige link as an office or a file writes it: a path on this site (the budgeting module's
 * project page) or an absolute http(s) URL (BA Elige's own site). Undefined when it is neither.
 */
export function parseBudgetRef(rawUrl: string, rawTitle: string | null): BudgetRef | undefined {
  const s = rawUrl.trim();
  const title = rawTitle?.trim().slice(0, 300) || null;
  const local = LOCAL.exec(s);
  if (local) return { id: local[2] ? `${local[1]}/${local[2]}` : local[1], title, url: s.replace(/\/$/, '') };
  if (!/^https?:\/\//i.test(s)) return undefined;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return undefined;
  }
  // BA Elige's pages end in the project's number (…/proyectos/1234): that is its id there.
  const id = /(\d+)\/?$/.exec(u.pathname)?.[1] ?? null;
  return { id, title, url: u.href.replace(/[|{}^`\\"<>]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase()) };
}

/** The office's form: both empty removes the link; otherwise a readable URL and a title. */
export function checkBudgetRefForm(raw: { pb_url?: string; pb_title?: string }): { ref: BudgetRef | null } | string {
  const url = (raw.pb_url ?? '').trim();
  const title = (raw.pb_title ?? '').trim();
  if (!url && !title) return { ref: null };
  const ref = url.length <= 2000 ? parseBudgetRef(url, title) : undefined;
  if (!ref) return 'works.pb.error.url';
  if (!ref.title) return 'works.pb.error.title';
  return { ref };
}

/** Where the link points, absolute (OC4IDS `uri` is a URI; a local path gets the site's base). */
export function absoluteBudgetUrl(url: string, baseUrl: string): string {
  return url.startsWith('/') ? `${baseUrl.replace(/\/$/, '')}${url}` : url;
}

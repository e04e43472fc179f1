import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ComponentChildren } from 'preact';
import { forbidden, requireUser } from '../http/guards';
import type { PageContext } from '../ui/context';
import type { Db } from '../db';
import type { Translate } from '../i18n';

export const PAGE_SIZE = 25;
export const STAFF_ROLES = ['admin', 'official', 'moderator'] as const;

/** Officials and moderators reach the dashboard too; everything else under /admin is admin-only. */
export async function requireStaff(request: FastifyRequest, reply: FastifyReply) {
  if (!request.user) return requireUser(request, reply);
  if (!STAFF_ROLES.some((r) => request.user!.roles.includes(r))) throw forbidden('Requires an official, moderator or administrator account');
}

export type Form = Record<string, unknown>;

/** One text field from a urlencoded form: trimmed, '' when absent or sent twice. */
export function field(form: unknown, name: string): string {
  const v = (form as Form | undefined)?.[name];
  return typeof v === 'string' ? v.trim() : '';
}

export function queryString(query: unknown, name: string): string {
  const v = (query as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v.trim().slice(0, 200) : '';
}

export function pageNumber(query: unknown): number {
  const n = Number.parseInt(queryString(query, 'page'), 10);
  return Number.isFinite(n) && n >= 1 && n <= 100000 ? n : 1;
}

/** A positive integer id from a path or form, or null. */
export function intId(v: unknown): number | null {
  if (typeof v !== 'string' || !/^\d{1,9}$/.test(v)) return null;
  const n = Number(v);
  return n > 0 ? n : null;
}

/** Builds a list URL keeping the current filters, for pagination links. */
export function withParams(base: string, params: Record<string, string | number | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `${base}?${s}` : base;
}

export const SLUG_RE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
export const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * What offices and organisations have alike: name, a slug unique in their table, description and
 * contacts. Each problem goes into `errors` next to its field.
 */
export async function checkPublicBody(
  db: Db,
  table: 'offices' | 'organizations',
  t: Translate,
  f: { name: string; slug: string; description: string; email: string; url: string },
  selfId: number | null,
  errors: Record<string, string>,
): Promise<void> {
  if (!f.name) errors.name = t('admin.form.required');
  else if (f.name.length > 200) errors.name = t('admin.form.tooLong', { max: 200 });
  if (!f.slug) errors.slug = t('admin.form.required');
  else if (f.slug.length > 100 || !SLUG_RE.test(f.slug)) errors.slug = t('admin.form.slug');
  else {
    const clash = await db.selectFrom(table).select('id').where('slug', '=', f.slug).executeTakeFirst();
    if (clash && clash.id !== selfId) errors.slug = t('admin.form.slugTaken');
  }
  if (f.description.length > 5000) errors.description = t('admin.form.tooLong', { max: 5000 });
  if (f.email && (f.email.length > 200 || !EMAIL_RE.test(f.email))) errors.email = t('admin.form.email');
  if (f.url && (f.url.length > 500 || !isHttpUrl(f.url))) errors.url = t('admin.form.url');
}

export function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => '\\' + c);
}

/** PostgreSQL unique violation: the one race our pre-checks cannot rule out. */
export function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === '23505';
}

/** Flash messages travel in the redirect's query string (?done=key) so they work without sessions or JS. */
export function Flash({ ctx, done }: { ctx: PageContext; done: string }) {
  if (!done || !/^[a-zA-Z]+$/.test(done)) return null;
  const key = `admin.done.${done}`;
  const text = ctx.t(key);
  if (text === key) return null;
  return (
    <div class="usa-alert usa-alert--success usa-alert--slim" role="status">
      <div class="usa-alert__body">
        <p class="usa-alert__text">{text}</p>
      </div>
    </div>
  );
}

export function ErrorSummary({ ctx, errors }: { ctx: PageContext; errors: Record<string, string> }) {
  if (Object.keys(errors).length === 0) return null;
  return (
    <div class="usa-alert usa-alert--error" role="alert">
      <div class="usa-alert__body">
        <p class="usa-alert__text">{ctx.t('common.error.summary')}</p>
      </div>
    </div>
  );
}

export function AdminPage({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <div class="grid-container">
      <h1>{title}</h1>
      {children}
    </div>
  );
}

/** Admin forms use core's select field. */
export { SelectField as Select } from '../ui/layout';

export const adminCrumb = (ctx: PageContext) => ({ href: '/admin', label: ctx.t('admin.title') });

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ComponentChildren } from 'preact';
import { forbidden, requireUser } from '../http/guards';
import type { PageContext } from '../ui/context';

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

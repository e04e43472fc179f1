import zlib from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { VNode } from 'preact';
import { renderDocument, type LayoutProps } from '../../core/ui/layout';
import type { PageContext } from '../../core/ui/context';

/**
 * Whole rendered pages for anonymous visitors, keyed by URL, language and the works' version.
 *
 * Only what is the same for every anonymous visitor is kept: a page whose rendering asked for
 * a CSRF token (a form that posts) is never stored, and a signed-in visitor always gets a fresh
 * render (the header names them; the project page offers them its edit link). A write anywhere
 * bumps the version in its own transaction, so no process serves a page older than the data
 * after the commit; TTL_MS only bounds what changes with the clock (delay/stalled flags).
 * Bodies are compressed once per entry, not once per request.
 */

export interface PageParts {
  title: string;
  body: VNode;
  opts?: Omit<LayoutProps, 'ctx' | 'title' | 'children'> & { status?: number };
}

/** A body and its compressed forms, made on first demand. */
export interface Compressible {
  html: Buffer;
  br?: Buffer;
  gzip?: Buffer;
}

interface Entry extends Compressible {
  at: number;
}

const TTL_MS = 60_000;
/** A bound on memory: free-text searches make an unbounded set of URLs. */
const MAX_ENTRIES = 500;
const MAX_BYTES = 64 * 1024 * 1024;
const entries = new Map<string, Entry>();
let bytes = 0;

/** `WORKS_PAGE_CACHE=off` renders every request (the benchmark measures both ways). */
export function pageCacheEnabled(): boolean {
  return process.env.WORKS_PAGE_CACHE !== 'off';
}

export function clearPageCache(): void {
  entries.clear();
  bytes = 0;
}

function size(e: Entry): number {
  return e.html.length + (e.br?.length ?? 0) + (e.gzip?.length ?? 0);
}

function remember(key: string, e: Entry): void {
  const old = entries.get(key);
  if (old) bytes -= size(old);
  entries.set(key, e);
  bytes += size(e);
  // Oldest first: a Map iterates in insertion order, and hits are re-inserted.
  for (const [k, v] of entries) {
    if (entries.size <= MAX_ENTRIES && bytes <= MAX_BYTES) break;
    entries.delete(k);
    bytes -= size(v);
  }
}

/** br, gzip or identity, by the client's Accept-Encoding (a q=0 refuses). */
export function pickEncoding(header: string | string[] | undefined): 'br' | 'gzip' | 'identity' {
  const accepted = new Set<string>();
  for (const part of String(header ?? '').toLowerCase().split(',')) {
    const [name, ...params] = part.trim().split(';');
    const q = params.map((p) => /^\s*q=([\d.]+)/.exec(p)).find(Boolean);
    if (name && (!q || Number(q[1]) > 0)) accepted.add(name.trim());
  }
  if (accepted.has('br')) return 'br';
  if (accepted.has('gzip') || accepted.has('*')) return 'gzip';
  return 'identity';
}

/** Sends a body compressed as the client accepts, compressing each encoding once per body. */
export function sendCompressed(request: FastifyRequest, reply: FastifyReply, e: Compressible, type: string) {
  const enc = pickEncoding(request.headers['accept-encoding']);
  reply.type(type).header('vary', 'accept-encoding');
  if (enc === 'identity') return reply.send(e.html);
  if (enc === 'br') {
    e.br ??= zlib.brotliCompressSync(e.html, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 6, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: e.html.length } });
    return reply.header('content-encoding', 'br').send(e.br);
  }
  e.gzip ??= zlib.gzipSync(e.html, { level: 6 });
  return reply.header('content-encoding', 'gzip').send(e.gzip);
}

function send(request: FastifyRequest, reply: FastifyReply, e: Entry, state: 'hit' | 'miss') {
  const before = size(e);
  reply.code(200).header('cache-control', 'no-store').header('x-cache', state);
  const out = sendCompressed(request, reply, e, 'text/html; charset=utf-8');
  bytes += size(e) - before;
  return out;
}

/**
 * Renders a page inside the site layout, as core's reply.page does, serving and storing it
 * from the cache when the visitor is anonymous and the page has no form token.
 * `version` is the works' version (store.worksVersion); null means "do not cache".
 */
export async function cachedPage(
  request: FastifyRequest,
  reply: FastifyReply,
  version: string | null,
  build: (ctx: PageContext) => Promise<PageParts>,
): Promise<FastifyReply> {
  const cacheable = pageCacheEnabled() && version !== null && request.method === 'GET' && !request.user;
  const key = `${version}\n${request.locale}\n${request.url}`;
  if (cacheable) {
    const hit = entries.get(key);
    if (hit && Date.now() - hit.at < TTL_MS) {
      entries.delete(key);
      entries.set(key, hit);
      return send(request, reply, hit, 'hit');
    }
  }
  const base = request.pageContext();
  let usedCsrf = false;
  // The same context, but it notes whether anything rendered asked for the form token.
  const ctx = Object.defineProperties({} as PageContext, {
    ...Object.getOwnPropertyDescriptors(base),
    csrfToken: {
      enumerable: true,
      get() {
        usedCsrf = true;
        return base.csrfToken;
      },
    },
  });
  const { title, body, opts = {} } = await build(ctx);
  const { status = 200, ...layout } = opts;
  const html = renderDocument(ctx, title, body, layout);
  if (cacheable && !usedCsrf && status === 200) {
    const e: Entry = { at: Date.now(), html: Buffer.from(html) };
    remember(key, e);
    return send(request, reply, e, 'miss');
  }
  return reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
}

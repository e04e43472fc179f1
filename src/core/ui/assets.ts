import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { build } from 'esbuild';
import type { Config } from '../../config';

const require = createRequire(import.meta.url);

/** A package's folder, found from its entry point (some packages do not export package.json). */
function packageDir(name: string): string {
  let dir = path.dirname(require.resolve(name));
  while (!fs.existsSync(path.join(dir, 'package.json')) || JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).name !== name) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`Cannot find the folder of ${name}`);
    dir = up;
  }
  return dir;
}
const version = (dir: string): string => JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
const uswdsDir = packageDir('@uswds/uswds');
const leafletDir = packageDir('leaflet');
export const uswdsVersion = version(uswdsDir);
export const leafletVersion = version(leafletDir);
export const uswdsDist = path.join(uswdsDir, 'dist');
export const leafletDist = path.join(leafletDir, 'dist');

export interface Asset {
  body: Buffer;
  type: string;
}

/**
 * The city's stylesheet and the client islands, built at start-up and served from memory under
 * content-hashed names, so browsers may cache them for a year.
 */
export class Assets {
  readonly files = new Map<string, Asset>();
  /** logical name ('app.css', 'map.js') → public URL */
  readonly urls = new Map<string, string>();

  static async build(config: Config, islands: Record<string, string>): Promise<Assets> {
    const a = new Assets();
    const themeCss = fs.readFileSync(new URL('./theme.css', import.meta.url), 'utf8');
    const vars = `:root{--city-primary:${config.theme.primary};--city-primary-dark:${config.theme.primaryDark};--city-accent:${config.theme.accent};}\n`;
    a.add('app.css', Buffer.from(vars + themeCss), 'text/css; charset=utf-8');
    const entries = Object.entries(islands);
    if (entries.length) {
      const result = await build({
        entryPoints: Object.fromEntries(entries),
        bundle: true,
        minify: true,
        format: 'esm',
        target: ['es2020'],
        write: false,
        outdir: '/islands',
        entryNames: '[name]',
        splitting: true,
        chunkNames: 'chunk-[hash]',
        jsx: 'automatic',
        jsxImportSource: 'preact',
        logLevel: 'silent',
      });
      // Chunks are imported by name from the entries, so they keep their own (already hashed) names.
      for (const f of result.outputFiles) {
        const base = path.basename(f.path);
        if (base.startsWith('chunk-')) a.files.set(`/assets/js/${base}`, { body: Buffer.from(f.contents), type: 'text/javascript; charset=utf-8' });
      }
      for (const f of result.outputFiles) {
        const base = path.basename(f.path);
        if (!base.startsWith('chunk-')) a.add(base, Buffer.from(f.contents), 'text/javascript; charset=utf-8', '/assets/js/');
      }
    }
    return a;
  }

  private add(name: string, body: Buffer, type: string, prefix = '/assets/') {
    const hash = crypto.createHash('sha256').update(body).digest('hex').slice(0, 12);
    const ext = path.extname(name);
    const url = `${prefix}${path.basename(name, ext)}-${hash}${ext}`;
    this.files.set(url, { body, type });
    this.urls.set(name, url);
  }

  url(name: string): string {
    const u = this.urls.get(name);
    if (!u) throw new Error(`Unknown asset ${name}`);
    return u;
  }
}

import { esAR } from './es-AR';
import { en } from './en';

export const LOCALES = ['es-AR', 'en'] as const;
export type Locale = (typeof LOCALES)[number];
export const DEFAULT_LOCALE: Locale = 'es-AR';

export type Catalogue = Record<string, string>;
export type Catalogues = Record<Locale, Catalogue>;

export type Translate = (key: string, params?: Record<string, string | number>) => string;

export function isLocale(v: unknown): v is Locale {
  return typeof v === 'string' && (LOCALES as readonly string[]).includes(v);
}

/** Accepts 'en', 'en-US', 'es', 'es-AR'… and maps them onto the locales we have. */
export function matchLocale(v: string | undefined | null): Locale | undefined {
  if (!v) return undefined;
  const lower = v.toLowerCase();
  if (lower.startsWith('en')) return 'en';
  if (lower.startsWith('es')) return 'es-AR';
  return undefined;
}

export const coreCatalogues: Catalogues = { 'es-AR': esAR, en };

/** Every string the UI shows, core's and the modules', merged by locale. */
export class I18n {
  private readonly merged: Catalogues = { 'es-AR': {}, en: {} };

  constructor(catalogues: Catalogues[]) {
    for (const c of catalogues) {
      for (const loc of LOCALES) Object.assign(this.merged[loc], c[loc]);
    }
  }

  has(locale: Locale, key: string): boolean {
    return key in this.merged[locale];
  }

  translator(locale: Locale): Translate {
    const cat = this.merged[locale];
    const fallback = this.merged[DEFAULT_LOCALE];
    return (key, params) => {
      // A missing key shows itself rather than crash a page; the catalogue test keeps it from shipping.
      let s = cat[key] ?? fallback[key] ?? key;
      if (params) s = s.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m));
      return s;
    };
  }
}

const intlLocale = (l: Locale) => (l === 'en' ? 'en-US' : 'es-AR');

/** Dates, numbers and money the way each language writes them. */
// Intl formatters are costly to build and hold no state: one set per locale serves every request.
const formattersByLocale = new Map<Locale, ReturnType<typeof makeFormatters>>();

export function formatters(locale: Locale) {
  let f = formattersByLocale.get(locale);
  if (!f) formattersByLocale.set(locale, (f = makeFormatters(locale)));
  return f;
}

function makeFormatters(locale: Locale) {
  const loc = intlLocale(locale);
  const tz = 'America/Argentina/Buenos_Aires';
  const num = new Intl.NumberFormat(loc);
  const ars = new Intl.NumberFormat(loc, { style: 'currency', currency: 'ARS', maximumFractionDigits: 0 });
  const pct = new Intl.NumberFormat(loc, { style: 'percent', maximumFractionDigits: 1 });
  const date = new Intl.DateTimeFormat(loc, { dateStyle: 'long', timeZone: tz });
  const dateTime = new Intl.DateTimeFormat(loc, { dateStyle: 'medium', timeStyle: 'short', timeZone: tz });
  return {
    number: (n: number) => num.format(n),
    money: (n: number) => ars.format(n),
    percent: (fraction: number) => pct.format(fraction),
    date: (d: Date | string) => date.format(new Date(d)),
    dateTime: (d: Date | string) => dateTime.format(new Date(d)),
  };
}
export type Formatters = ReturnType<typeof formatters>;

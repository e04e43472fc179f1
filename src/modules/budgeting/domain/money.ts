/**
 * Amounts typed by people and shown to them, in the budget's own currency (imported Pabulib
 * budgets are in EUR, PLN…; core's fmt.money knows only ARS).
 */

/**
 * Reads an amount as a person types it, in either language: "1.500,50" (es-AR), "1500,50",
 * "1500.5", "1,500.50" (en), "1.500.000". Rule, locale-free so a form pre-filled in one language
 * reads back the same in the other: the last `.` or `,` is the decimal separator when 1 or 2
 * digits follow it (money has cents at most); every other `.`/`,` groups thousands and must be
 * followed by exactly 3 digits. Spaces and a leading currency sign are ignored. Returns null for
 * anything else (the caller answers 400) — never guesses by dropping separators.
 */
export function parseAmount(text: string): number | null {
  const s = text.replace(/[\s\u00a0]/g, '').replace(/^(?:[A-Z]{3}|\$|€|zł)/i, '').replace(/(?:[A-Z]{3}|€|zł)$/i, '');
  if (!/^\d[\d.,]*$/.test(s)) return null;
  let whole = s;
  let cents = '';
  const m = /^(.*\d)[.,](\d{1,2})$/.exec(s);
  if (m) {
    whole = m[1];
    cents = m[2];
  }
  const groups = whole.split(/[.,]/);
  if (groups.length > 1) {
    if (!/^\d{1,3}$/.test(groups[0]) || groups.slice(1).some((g) => !/^\d{3}$/.test(g))) return null;
    // One grouping character throughout: "1.500,000" is not a number.
    const seps = new Set(whole.replace(/\d/g, ''));
    if (seps.size > 1) return null;
    if (m && seps.has(s[m[1].length])) return null;
  }
  const n = Number(`${groups.join('')}${cents ? `.${cents}` : ''}`);
  return Number.isFinite(n) ? n : null;
}

const cache = new Map<string, { whole: Intl.NumberFormat; cents: Intl.NumberFormat }>();

function formattersFor(locale: string, currency: string) {
  const key = `${locale}|${currency}`;
  let f = cache.get(key);
  if (!f) {
    const loc = locale === 'en' ? 'en-US' : locale === 'es-AR' ? 'es-AR' : locale;
    let code = currency;
    try {
      new Intl.NumberFormat(loc, { style: 'currency', currency: code });
    } catch {
      // A malformed code from an imported file: show the amount in the city's currency rather than fail the page.
      code = 'ARS';
    }
    f = {
      whole: new Intl.NumberFormat(loc, { style: 'currency', currency: code, minimumFractionDigits: 0, maximumFractionDigits: 0 }),
      cents: new Intl.NumberFormat(loc, { style: 'currency', currency: code, minimumFractionDigits: 2, maximumFractionDigits: 2 }),
    };
    cache.set(key, f);
  }
  return f;
}

/** "$ 1.500", "$ 1.500,50", "1.500 €", "PLN 1,500.50": cents only when there are any. */
export function formatMoney(amount: number, currency: string, locale: string): string {
  const f = formattersFor(locale, currency || 'ARS');
  return Number.isInteger(amount) ? f.whole.format(amount) : f.cents.format(amount);
}

/** An amount as a form field shows it for editing: no grouping, the language's decimal mark. */
export function amountForInput(amount: number, locale: string): string {
  const text = String(Math.round(amount * 100) / 100);
  return locale === 'en' ? text : text.replace('.', ',');
}

import { formatMoney } from '../domain/money';

/**
 * "Money left" / "projects left" on the ballot page, updated as the resident ticks projects.
 * An enhancement only: the server renders the same line from the stored ballot and recomputes
 * it on every save, and it alone decides whether a ballot fits. The figures come from data-*
 * attributes the server renders (the heading's amount, K, each checkbox's price) and the
 * sentences from the server's message catalogue, so the page speaks the resident's language.
 */
function fill(template: string, values: Record<string, string>) {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => values[k] ?? m);
}

for (const host of Array.from(document.querySelectorAll<HTMLElement>('[data-island="budgeting-ballot"]'))) {
  const form = document.getElementById(host.dataset.form ?? '') as HTMLFormElement | null;
  if (!form) continue;
  const d = host.dataset;
  const amount = Number(d.amount);
  const k = d.k ? Number(d.k) : null;
  const locale = d.locale ?? 'es-AR';
  const currency = d.currency ?? 'ARS';
  const money = (n: number) => formatMoney(n, currency, locale);
  const update = () => {
    const boxes = Array.from(form.querySelectorAll<HTMLInputElement>('input[type="checkbox"][data-price]')).filter((b) => b.checked);
    const total = boxes.reduce((s, b) => s + Number(b.dataset.price), 0);
    let text: string;
    let over = false;
    if (d.rule === 'knapsack') {
      over = total > amount;
      text = over ? fill(d.msgOverMoney ?? '', { over: money(total - amount), total: money(amount) }) : fill(d.msgMoney ?? '', { left: money(amount - total), total: money(amount) });
    } else {
      const values = { n: String(boxes.length), k: k === null ? '∞' : String(k), over: String(boxes.length - (k ?? 0)) };
      over = k !== null && boxes.length > k;
      text = fill((over ? d.msgOverCount : d.msgCount) ?? '', values);
    }
    host.textContent = text;
    host.classList.toggle('text-secondary-dark', over);
    host.classList.toggle('text-bold', over);
  };
  form.addEventListener('change', update);
  update();
}

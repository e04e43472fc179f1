import type { PageContext } from '../../../core/ui/context';

export interface Bar {
  label: string;
  value: number;
  href?: string;
}

/**
 * A horizontal bar chart drawn on the server: an SVG with a title for screen readers that
 * skip images, followed by the same numbers in a table (the table is the accessible source).
 */
export function BarChart({ ctx, id, title, bars, valueLabel, format }: { ctx: PageContext; id: string; title: string; bars: Bar[]; valueLabel: string; format?: (n: number) => string }) {
  const fmt = format ?? ctx.fmt.number;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const rowH = 22;
  const labelW = 230;
  const barW = 340;
  const h = bars.length * rowH + 8;
  const clip = (s: string) => (s.length > 34 ? s.slice(0, 33) + '…' : s);
  return (
    <figure class="margin-x-0 margin-y-3" aria-labelledby={`${id}-caption`}>
      <h3 id={`${id}-caption`}>{title}</h3>
      <svg viewBox={`0 0 ${labelW + barW + 90} ${h}`} role="img" aria-labelledby={`${id}-title`} width="100%">
        <title id={`${id}-title`}>{title}</title>
        {bars.map((b, i) => {
          const w = Math.max(1, (b.value / max) * barW);
          const y = 4 + i * rowH;
          return (
            <g key={i}>
              <text x={labelW - 6} y={y + 14} text-anchor="end" font-size="12" fill="#1b1b1b">
                {clip(b.label)}
              </text>
              <rect x={labelW} y={y + 2} width={w} height={rowH - 6} fill="#005ea2" />
              <text x={labelW + w + 4} y={y + 14} font-size="12" fill="#1b1b1b">
                {fmt(b.value)}
              </text>
            </g>
          );
        })}
      </svg>
      <div class="city-table-wrap">
        <table class="usa-table usa-table--compact usa-table--borderless">
          <caption class="usa-sr-only">{title}</caption>
          <thead>
            <tr>
              <th scope="col">{ctx.t('works.chart.category')}</th>
              <th scope="col" class="text-right">
                {valueLabel}
              </th>
            </tr>
          </thead>
          <tbody>
            {bars.map((b, i) => (
              <tr key={i}>
                <th scope="row">{b.href ? <a href={b.href}>{b.label}</a> : b.label}</th>
                <td class="text-right">{fmt(b.value)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </figure>
  );
}

/** Progress as a native <progress> bar with its number in words beside it. */
export function ProgressBar({ ctx, value }: { ctx: PageContext; value: number | null }) {
  if (value === null) return <span>{ctx.t('works.unknown')}</span>;
  return (
    <span>
      <progress class="city-progress" max={100} value={value} aria-label={ctx.t('works.field.progress')}>
        {ctx.fmt.percent(value / 100)}
      </progress>{' '}
      {ctx.fmt.percent(value / 100)}
    </span>
  );
}

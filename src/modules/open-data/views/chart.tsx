import type { PageContext } from '../../../core/ui/context';
import { niceMax, type BarDatum } from '../domain/chart';

/** Server-rendered horizontal bars, with the same numbers in a table for screen readers. */
export function BarChart({ ctx, title, data, series }: { ctx: PageContext; title: string; data: BarDatum[]; series?: { label: string; values: number[] } }) {
  const max = niceMax(Math.max(...data.map((d) => d.value), ...(series?.values ?? [])));
  const rowH = series ? 34 : 24;
  const width = 640;
  const left = 220;
  const height = data.length * rowH + 30;
  const scale = (v: number) => Math.max(0, ((width - left - 20) * v) / max);
  const id = `chart-${Math.abs(hash(title))}`;
  return (
    <figure class="od-chart">
      <svg role="img" aria-labelledby={`${id}-t`} viewBox={`0 0 ${width} ${height}`} width="100%" xmlns="http://www.w3.org/2000/svg">
        <title id={`${id}-t`}>{title}</title>
        {data.map((d, i) => (
          <g key={i} transform={`translate(0, ${i * rowH + 4})`}>
            <text x={left - 8} y={14} text-anchor="end" font-size="12" fill="#1b1b1b">
              {d.label}
            </text>
            <rect x={left} y={2} width={scale(d.value)} height={series ? 13 : 16} fill="#005ea2" />
            {series && <rect x={left} y={16} width={scale(series.values[i] ?? 0)} height={13} fill="#e5a000" />}
          </g>
        ))}
        <line x1={left} x2={left} y1={0} y2={height - 24} stroke="#565c65" />
        <text x={width - 20} y={height - 8} text-anchor="end" font-size="11" fill="#565c65">
          {ctx.fmt.number(max)}
        </text>
      </svg>
      <figcaption>{title}</figcaption>
      <table class="usa-table usa-sr-only">
        <caption>{title}</caption>
        <thead>
          <tr>
            <th scope="col">{ctx.t('open-data.chart.label')}</th>
            <th scope="col">{ctx.t('open-data.chart.value')}</th>
            {series && <th scope="col">{series.label}</th>}
          </tr>
        </thead>
        <tbody>
          {data.map((d, i) => (
            <tr key={i}>
              <th scope="row">{d.label}</th>
              <td>{ctx.fmt.number(d.value)}</td>
              {series && <td>{ctx.fmt.number(series.values[i] ?? 0)}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

function hash(s: string) {
  let h = 0;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) | 0;
  return h;
}

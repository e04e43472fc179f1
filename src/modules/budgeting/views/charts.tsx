/** Server-rendered SVG charts: role="img" with a <title>; every chart sits beside a data table. */

export interface Bar {
  label: string;
  value: number;
  highlight?: boolean;
}

export function BarChart(props: { id: string; title: string; bars: Bar[]; format: (n: number) => string; line?: { at: number; label: string } }) {
  const { bars } = props;
  const rowH = 22;
  const labelW = 220;
  const chartW = 420;
  const valueW = 130;
  const max = Math.max(1, ...bars.map((b) => b.value), props.line?.at ?? 0);
  const height = bars.length * rowH + 30;
  const x = (v: number) => labelW + (v / max) * chartW;
  const short = (s: string) => (s.length > 32 ? s.slice(0, 31) + '…' : s);
  return (
    <svg class="bg-chart" role="img" aria-labelledby={`${props.id}-title`} viewBox={`0 0 ${labelW + chartW + valueW} ${height}`} width="100%">
      <title id={`${props.id}-title`}>{props.title}</title>
      {bars.map((b, i) => (
        <g>
          <text x={labelW - 6} y={i * rowH + 15} text-anchor="end" font-size="12" fill="#1b1b1b">
            {short(b.label)}
          </text>
          <rect x={labelW} y={i * rowH + 4} width={Math.max(1, x(b.value) - labelW)} height={rowH - 8} fill={b.highlight ? '#005ea2' : '#a9aeb1'} />
          <text x={x(b.value) + 4} y={i * rowH + 15} font-size="12" fill="#1b1b1b">
            {props.format(b.value)}
          </text>
        </g>
      ))}
      {props.line && (
        <g>
          <line x1={x(props.line.at)} x2={x(props.line.at)} y1={0} y2={bars.length * rowH + 4} stroke="#d83933" stroke-width="2" stroke-dasharray="4 3" />
          <text x={x(props.line.at)} y={bars.length * rowH + 20} text-anchor="middle" font-size="12" fill="#d83933">
            {props.line.label}
          </text>
        </g>
      )}
    </svg>
  );
}

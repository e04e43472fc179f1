import type { PageContext } from '../../../core/ui/context';
import { pathOf, projection, type MapShapes } from '../domain/map';

/** The resource's places drawn server-side: works without JavaScript; the table lists the same rows. */
export function ShapeMap({ ctx, title, shapes, context }: { ctx: PageContext; title: string; shapes: MapShapes; context?: MapShapes }) {
  const p = projection(shapes);
  if (!p) return null;
  return (
    <figure class="od-map">
      <svg role="img" aria-labelledby="od-map-t od-map-d" viewBox={`0 0 ${p.width} ${p.height}`} width="100%" xmlns="http://www.w3.org/2000/svg">
        <title id="od-map-t">{title}</title>
        <desc id="od-map-d">{ctx.t('open-data.map.desc', { points: shapes.points.length, shapes: shapes.lines.length })}</desc>
        <rect x={0} y={0} width={p.width} height={p.height} fill="#f0f0f0" />
        {context?.lines.map((l, i) => (
          <path key={`c${i}`} d={pathOf(l, p)} fill="none" stroke="#a9aeb1" stroke-width="0.8" />
        ))}
        {shapes.lines.map((l, i) => (
          <path key={`l${i}`} d={pathOf(l, p)} fill="#005ea2" fill-opacity="0.15" stroke="#005ea2" stroke-width="1" />
        ))}
        {shapes.points.map((pt, i) => {
          const [x, y] = p.project(pt);
          return <circle key={`p${i}`} cx={x} cy={y} r={3} fill="#d83933" fill-opacity="0.8" />;
        })}
      </svg>
      <figcaption>{title}</figcaption>
    </figure>
  );
}

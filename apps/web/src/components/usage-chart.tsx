'use client';

/**
 * A bar chart of one series over time, as plain SVG (no chart library). Loaded with next/dynamic by the admin page.
 * Screen readers get the same numbers as a table in the <details> below it.
 */
export interface ChartPoint {
  label: string;
  value: number;
}

const W = 640;
const H = 180;
const PAD = { top: 12, right: 8, bottom: 24, left: 56 };

export default function UsageChart({
  title,
  points,
  format,
  tableLabel,
}: {
  title: string;
  points: ChartPoint[];
  format: (value: number) => string;
  tableLabel: string;
}) {
  const max = Math.max(0, ...points.map((p) => p.value)) || 1;
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const step = points.length > 0 ? innerW / points.length : innerW;
  const barW = Math.max(1, step * 0.7);
  const every = Math.max(1, Math.ceil(points.length / 8));
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={title} preserveAspectRatio="none">
        {[0, 0.5, 1].map((f) => {
          const y = PAD.top + innerH * (1 - f);
          return (
            <g key={f}>
              <line x1={PAD.left} x2={W - PAD.right} y1={y} y2={y} className="chart-grid" />
              <text x={PAD.left - 6} y={y + 4} textAnchor="end" className="chart-axis">
                {format(max * f)}
              </text>
            </g>
          );
        })}
        {points.map((p, i) => {
          const h = (p.value / max) * innerH;
          const x = PAD.left + i * step + (step - barW) / 2;
          return (
            <g key={p.label}>
              <rect x={x} y={PAD.top + innerH - h} width={barW} height={h} className="chart-bar">
                <title>{`${p.label}: ${format(p.value)}`}</title>
              </rect>
              {i % every === 0 ? (
                <text x={x + barW / 2} y={H - 6} textAnchor="middle" className="chart-axis">
                  {p.label.slice(5)}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <details>
        <summary>{tableLabel}</summary>
        <table className="table">
          <tbody>
            {points.map((p) => (
              <tr key={p.label}>
                <th scope="row">{p.label}</th>
                <td>{format(p.value)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

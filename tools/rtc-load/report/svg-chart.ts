/** Minimal inline-SVG charts for the HTML report: no scripts, no external resources. */

export interface ChartSeries {
  name: string;
  color: string;
  points: ReadonlyArray<readonly [number, number]>;
  axis?: 'left' | 'right';
  dashed?: boolean;
  /** Draw as steps (a value holds until the next sample), e.g. replica counts. */
  step?: boolean;
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  leftLabel: string;
  rightLabel?: string;
  series: readonly ChartSeries[];
  xMax?: number;
}

export interface BarSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Bars on a log2 x axis: [from, to) and height. */
  bars: ReadonlyArray<{ from: number; to: number; value: number }>;
  color: string;
  markers?: ReadonlyArray<{ label: string; at: number }>;
}

const WIDTH_PX = 760;
const HEIGHT_PX = 300;
const MARGIN = { top: 34, bottom: 42, left: 62, right: 62 };

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

export interface Scale {
  max: number;
  step: number;
}

/** An axis from 0 with a round step (1, 2, 2.5 or 5 times a power of ten) and about `targetTicks` ticks. */
export function niceScale(maxValue: number, targetTicks = 5): Scale {
  if (!(maxValue > 0)) return { max: 1, step: 0.2 };
  const rough = maxValue / targetTicks;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((candidate) => candidate >= rough) ?? 10 * magnitude;
  return { max: Math.ceil(maxValue / step - 1e-9) * step, step };
}

function ticks(scale: Scale): number[] {
  const count = Math.round(scale.max / scale.step);
  return Array.from({ length: count + 1 }, (_, i) => i * scale.step);
}

function label(value: number): string {
  if (value === 0) return '0';
  if (Math.abs(value) >= 1000) return `${trim(value / 1000)}k`;
  return trim(value);
}

function trim(value: number): string {
  return Number(value.toPrecision(3)).toString();
}

function fmt(value: number): string {
  return value.toFixed(1);
}

export function lineChart(spec: LineChartSpec): string {
  const plotWidth = WIDTH_PX - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT_PX - MARGIN.top - MARGIN.bottom;
  const xs = spec.series.flatMap((s) => s.points.map(([x]) => x));
  const xScale = niceScale(spec.xMax ?? Math.max(1, ...xs), 7);
  const xMax = xScale.max;
  const axisScale = (axis: 'left' | 'right'): Scale =>
    // 5% headroom keeps a line that sits at its maximum off the frame.
    niceScale(1.05 * Math.max(0, ...spec.series.filter((s) => (s.axis ?? 'left') === axis).flatMap((s) => s.points.map(([, y]) => y))));
  const leftScale = axisScale('left');
  const rightScale = axisScale('right');
  const leftMax = leftScale.max;
  const rightMax = rightScale.max;
  const toX = (x: number): number => MARGIN.left + (x / xMax) * plotWidth;
  const toY = (y: number, axis: 'left' | 'right'): number => MARGIN.top + plotHeight - (y / (axis === 'left' ? leftMax : rightMax)) * plotHeight;

  const parts: string[] = [];
  parts.push(svgOpen(spec.title));
  for (const tick of ticks(leftScale)) {
    const y = fmt(toY(tick, 'left'));
    parts.push(`<line stroke="#e9ecef" x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${y}" y2="${y}"/>`);
    parts.push(`<text font-size="11" fill="#495057" x="${MARGIN.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${label(tick)}</text>`);
  }
  const hasRight = spec.rightLabel !== undefined && spec.series.some((s) => s.axis === 'right');
  if (hasRight) {
    for (const tick of ticks(rightScale)) {
      const y = fmt(toY(tick, 'right'));
      parts.push(`<text font-size="11" fill="#495057" x="${MARGIN.left + plotWidth + 6}" y="${y}" dominant-baseline="middle">${label(tick)}</text>`);
    }
    parts.push(axisTitle(spec.rightLabel ?? '', WIDTH_PX - 14, MARGIN.top + plotHeight / 2, 90));
  }
  for (const tick of ticks(xScale)) {
    const x = fmt(toX(tick));
    parts.push(`<text font-size="11" fill="#495057" x="${x}" y="${MARGIN.top + plotHeight + 16}" text-anchor="middle">${label(tick)}</text>`);
  }
  parts.push(`<rect fill="none" stroke="#adb5bd" x="${MARGIN.left}" y="${MARGIN.top}" width="${plotWidth}" height="${plotHeight}"/>`);
  parts.push(axisTitle(spec.leftLabel, 16, MARGIN.top + plotHeight / 2, -90));
  parts.push(`<text font-size="12" fill="#212529" x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT_PX - 6}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`);

  for (const series of spec.series) {
    const axis = series.axis ?? 'left';
    const commands: string[] = [];
    let previousY: number | undefined;
    for (const [x, y] of series.points) {
      const px = fmt(toX(x));
      const py = toY(y, axis);
      if (commands.length === 0) commands.push(`M${px} ${fmt(py)}`);
      else if (series.step && previousY !== undefined) commands.push(`L${px} ${fmt(previousY)}L${px} ${fmt(py)}`);
      else commands.push(`L${px} ${fmt(py)}`);
      previousY = py;
    }
    if (commands.length === 0) continue;
    const dash = series.dashed ? ' stroke-dasharray="6 4"' : '';
    parts.push(`<path d="${commands.join('')}" fill="none" stroke="${series.color}" stroke-width="2"${dash}/>`);
    if (series.points.length === 1) {
      const [x, y] = series.points[0] ?? [0, 0];
      parts.push(`<circle cx="${fmt(toX(x))}" cy="${fmt(toY(y, axis))}" r="3" fill="${series.color}"/>`);
    }
  }
  parts.push(legend(spec.series));
  parts.push('</svg>');
  return parts.join('\n');
}

export function logBarChart(spec: BarSpec): string {
  const plotWidth = WIDTH_PX - MARGIN.left - 20;
  const plotHeight = HEIGHT_PX - MARGIN.top - MARGIN.bottom;
  const parts: string[] = [svgOpen(spec.title)];
  if (spec.bars.length === 0) {
    parts.push(`<text font-size="12" fill="#212529" x="${WIDTH_PX / 2}" y="${HEIGHT_PX / 2}" text-anchor="middle">no responses</text></svg>`);
    return parts.join('\n');
  }
  const lowLog = Math.floor(Math.log10(Math.min(...spec.bars.map((b) => b.from))));
  const highLog = Math.ceil(Math.log10(Math.max(...spec.bars.map((b) => b.to))));
  const span = Math.max(1, highLog - lowLog);
  const toX = (value: number): number => MARGIN.left + ((Math.log10(value) - lowLog) / span) * plotWidth;
  const yScale = niceScale(Math.max(...spec.bars.map((b) => b.value)));
  const yMax = yScale.max;
  const toY = (value: number): number => MARGIN.top + plotHeight - (value / yMax) * plotHeight;
  for (const tick of ticks(yScale)) {
    const y = fmt(toY(tick));
    parts.push(`<line stroke="#e9ecef" x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${y}" y2="${y}"/>`);
    parts.push(`<text font-size="11" fill="#495057" x="${MARGIN.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${label(tick)}</text>`);
  }
  for (let power = lowLog; power <= highLog; power += 1) {
    const x = fmt(toX(10 ** power));
    parts.push(`<line stroke="#e9ecef" x1="${x}" x2="${x}" y1="${MARGIN.top}" y2="${MARGIN.top + plotHeight}"/>`);
    parts.push(`<text font-size="11" fill="#495057" x="${x}" y="${MARGIN.top + plotHeight + 16}" text-anchor="middle">${trim(10 ** power)}</text>`);
  }
  for (const bar of spec.bars) {
    const x = toX(bar.from);
    const width = Math.max(1, toX(bar.to) - x - 0.5);
    const y = toY(bar.value);
    parts.push(`<rect x="${fmt(x)}" y="${fmt(y)}" width="${fmt(width)}" height="${fmt(MARGIN.top + plotHeight - y)}" fill="${spec.color}"/>`);
  }
  for (const marker of spec.markers ?? []) {
    if (!(marker.at > 0)) continue;
    const x = fmt(toX(marker.at));
    parts.push(`<line x1="${x}" x2="${x}" y1="${MARGIN.top}" y2="${MARGIN.top + plotHeight}" stroke="#444" stroke-dasharray="3 3"/>`);
    parts.push(`<text font-size="11" fill="#495057" x="${x}" y="${MARGIN.top - 4}" text-anchor="middle">${escapeXml(marker.label)}</text>`);
  }
  parts.push(`<rect fill="none" stroke="#adb5bd" x="${MARGIN.left}" y="${MARGIN.top}" width="${plotWidth}" height="${plotHeight}"/>`);
  parts.push(axisTitle(spec.yLabel, 16, MARGIN.top + plotHeight / 2, -90));
  parts.push(`<text font-size="12" fill="#212529" x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT_PX - 6}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

function svgOpen(title: string): string {
  // Presentation attributes rather than page CSS, so a chart copied out of the report looks the same.
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH_PX} ${HEIGHT_PX}" width="${WIDTH_PX}" height="${HEIGHT_PX}" ` +
    `font-family="system-ui, sans-serif" role="img" aria-label="${escapeXml(title)}">\n` +
    `<title>${escapeXml(title)}</title>\n<rect width="${WIDTH_PX}" height="${HEIGHT_PX}" fill="#fff"/>`
  );
}

function axisTitle(text: string, x: number, y: number, rotateDeg: number): string {
  return `<text font-size="12" fill="#212529" x="${x}" y="${fmt(y)}" text-anchor="middle" transform="rotate(${rotateDeg} ${x} ${fmt(y)})">${escapeXml(text)}</text>`;
}

function legend(series: readonly ChartSeries[]): string {
  let x = MARGIN.left;
  const items: string[] = [];
  for (const s of series) {
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    items.push(`<line x1="${x}" x2="${x + 18}" y1="14" y2="14" stroke="${s.color}" stroke-width="3"${dash}/>`);
    items.push(`<text font-size="11" fill="#495057" x="${x + 22}" y="14" dominant-baseline="middle">${escapeXml(s.name)}</text>`);
    x += 30 + s.name.length * 6.5;
  }
  return items.join('\n');
}

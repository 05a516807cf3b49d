/**
 * Draws compare_brokers.ts results as an SVG bar chart: for each scenario, one
 * bar per broker showing how it did relative to the reference broker (1.0 =
 * as good as Mosquitto, further right = better), on a logarithmic axis so that
 * 0.5× and 2× sit at the same distance from the reference line. Plain SVG text:
 * no dependency, and the file diffs readably.
 */

export interface ChartRow {
  /** e.g. "c: fan-out 1:20 QoS 0". */
  label: string;
  /** One value per broker: how many times better than the reference (NaN when unmeasured). */
  values: number[];
}

export interface ChartInput {
  title: string;
  subtitle: string;
  brokers: string[];
  rows: ChartRow[];
}

const COLORS = ["#2563eb", "#9ca3af", "#f59e0b", "#10b981"];
const MIN = 0.25;
const MAX = 32;
const LEFT = 300;
const WIDTH = 900;
const BAR = 14;
const TOP = 70;

const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** The x position of a ratio on the log axis. */
function x(ratio: number): number {
  const clamped = Math.min(MAX, Math.max(MIN, ratio));
  return LEFT + (Math.log2(clamped / MIN) / Math.log2(MAX / MIN)) * (WIDTH - LEFT - 60);
}

export function ratioChart(input: ChartInput): string {
  const group = input.brokers.length * BAR + 14;
  const height = TOP + input.rows.length * group + 60;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" ` +
    `viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="16" y="24" font-size="16" font-weight="bold">${escape(input.title)}</text>`,
    `<text x="16" y="44" fill="#555">${escape(input.subtitle)}</text>`,
  ];
  const bottom = TOP + input.rows.length * group;
  for (let tick = MIN; tick <= MAX; tick *= 2) {
    const tx = x(tick);
    out.push(
      `<line x1="${tx}" y1="${TOP - 6}" x2="${tx}" y2="${bottom}" stroke="${
        tick === 1 ? "#111" : "#e5e7eb"
      }"/>`,
      `<text x="${tx}" y="${bottom + 16}" text-anchor="middle" fill="#555">${tick}×</text>`,
    );
  }
  for (const [r, row] of input.rows.entries()) {
    const y0 = TOP + r * group;
    out.push(`<text x="${LEFT - 8}" y="${y0 + group / 2}" text-anchor="end">${escape(row.label)}</text>`);
    for (const [b, value] of row.values.entries()) {
      const y = y0 + b * BAR;
      if (!Number.isFinite(value)) continue;
      out.push(
        `<rect x="${x(MIN)}" y="${y}" width="${(x(value) - x(MIN)).toFixed(1)}" height="${BAR - 3}" ` +
          `fill="${COLORS[b % COLORS.length]}"/>`,
        `<text x="${(x(value) + 4).toFixed(1)}" y="${y + BAR - 4}" font-size="10">${
          value.toFixed(2)
        }×</text>`,
      );
    }
  }
  const legendY = bottom + 40;
  for (const [b, name] of input.brokers.entries()) {
    const lx = 16 + b * 180;
    out.push(
      `<rect x="${lx}" y="${legendY - 10}" width="12" height="12" fill="${COLORS[b % COLORS.length]}"/>`,
      `<text x="${lx + 18}" y="${legendY}">${escape(name)}</text>`,
    );
  }
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

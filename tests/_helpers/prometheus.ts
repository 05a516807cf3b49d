/** Reading the Prometheus text the admin API serves at /metrics. */

/** The value of one sample, e.g. `mqtt_connections{listener="memory",protocol="5"}`, or undefined. */
export function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/**
 * What the per-key schema cannot say about `bridges:`: unique names usable as
 * a topic level, an address that parses (the address format is defined here),
 * at least one topic rule, valid filters on both sides, certificate pairs, and
 * ordered reconnect delays.
 *
 * @module
 */
import { validateTopicFilter } from "../protocol/topic.ts";
import type { BridgeConfig } from "./schema.ts";

/** One problem, with the index of its bridge (to find its line) and the key path. */
export interface BridgeProblem {
  index: number;
  key: string;
  message: string;
}

/** Every cross-key problem of the bridges, in order. */
export function bridgeProblems(bridges: readonly (BridgeConfig | undefined)[]): BridgeProblem[] {
  const problems: BridgeProblem[] = [];
  const names = new Set<string>();
  bridges.forEach((b, index) => {
    if (!b) return;
    const key = `bridges[${index}]`;
    const problem = (at: string, message: string) => problems.push({ index, key: at, message });
    if (b.name !== undefined) {
      if (names.has(b.name)) problem(`${key}.name`, `bridge name "${b.name}" is used twice`);
      if (!/^[A-Za-z0-9_.-]+$/.test(b.name)) {
        problem(`${key}.name`, "use letters, digits, '.', '_' and '-' only (it becomes a topic level)");
      }
      names.add(b.name);
    }
    if (b.address !== undefined && parseAddress(b.address, 1883) === undefined) {
      problem(`${key}.address`, `expected host:port, got ${JSON.stringify(b.address)}`);
    }
    if ((b.cert_file === undefined) !== (b.key_file === undefined)) {
      problem(key, "cert_file and key_file go together");
    }
    if (b.reconnect_min_ms > b.reconnect_max_ms) {
      problem(`${key}.reconnect_min_ms`, "must not exceed reconnect_max_ms");
    }
    if (!b.topics || b.topics.length === 0) {
      problem(`${key}.topics`, "a bridge needs at least one topic rule");
    }
    b.topics?.forEach((t, j) => {
      if (!t) return;
      for (const side of ["local", "remote"] as const) {
        const filter = t[`${side}_prefix`] + t.pattern;
        try {
          validateTopicFilter(filter);
        } catch (err) {
          problem(
            `${key}.topics[${j}]`,
            `${side} filter ${JSON.stringify(filter)}: ${(err as Error).message}`,
          );
        }
      }
    });
  });
  return problems;
}

/**
 * "host:port", "host" or "[v6]:port" to its parts; undefined when it is not an address.
 *
 * @example
 * ```ts
 * import { parseAddress } from "./bridge_rules.ts";
 * console.assert(parseAddress("broker.example:8883", 1883)?.port === 8883);
 * ```
 */
export function parseAddress(
  address: string,
  defaultPort: number,
): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:\s[\]]+))(?::(\d{1,5}))?$/.exec(address.trim());
  if (m === null) return undefined;
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1] ?? m[2], port };
}

/**
 * A bridge's topic rules as pure functions, with Mosquitto's
 * `topic pattern direction qos local-prefix remote-prefix` meaning: a topic
 * matches a rule when it starts with the prefix of its side and the rest
 * matches the pattern; the other side's topic is that side's prefix plus the
 * same rest.
 *
 * @module
 */
import type { QoS } from "../protocol/packet.ts";
import { topicMatches } from "../protocol/topic.ts";

/** One rule of a bridge. */
export interface TopicRule {
  pattern: string;
  direction: "in" | "out" | "both";
  qos: QoS;
  localPrefix: string;
  remotePrefix: string;
}

/** Which way a message crosses the bridge. */
export type Crossing = "in" | "out";

/** Whether a rule carries messages in that direction. */
export function carries(rule: TopicRule, crossing: Crossing): boolean {
  return rule.direction === "both" || rule.direction === crossing;
}

/**
 * The filter a rule subscribes with on the side a message comes from: the local
 * side for "out", the remote side for "in".
 *
 * @example
 * ```ts
 * import { sourceFilter } from "./topic_remap.ts";
 * const rule = { pattern: "#", direction: "out", qos: 1, localPrefix: "site/", remotePrefix: "hq/site1/" } as const;
 * console.assert(sourceFilter(rule, "out") === "site/#");
 * ```
 */
export function sourceFilter(rule: TopicRule, crossing: Crossing): string {
  return (crossing === "out" ? rule.localPrefix : rule.remotePrefix) + rule.pattern;
}

/**
 * The topic on the other side for a topic on the source side, or undefined when
 * the rule does not match it (wrong prefix, or the rest does not match the pattern).
 *
 * @example
 * ```ts
 * import { remap } from "./topic_remap.ts";
 * const rule = { pattern: "#", direction: "both", qos: 1, localPrefix: "site/", remotePrefix: "hq/site1/" } as const;
 * console.assert(remap(rule, "out", "site/temp") === "hq/site1/temp");
 * console.assert(remap(rule, "in", "hq/site1/cmd") === "site/cmd");
 * ```
 */
export function remap(rule: TopicRule, crossing: Crossing, topic: string): string | undefined {
  const [from, to] = crossing === "out"
    ? [rule.localPrefix, rule.remotePrefix]
    : [rule.remotePrefix, rule.localPrefix];
  if (!topic.startsWith(from)) return undefined;
  const rest = topic.slice(from.length);
  // An empty pattern maps exactly the prefix itself (Mosquitto's `topic "" both 0 a/b c/d`).
  const matched = rule.pattern === "" ? rest === "" : rest !== "" && topicMatches(rule.pattern, rest);
  if (!matched) return undefined;
  const mapped = to + rest;
  return mapped === "" ? undefined : mapped;
}

/** The first rule carrying `topic` in that direction, with the mapped topic and the rule's QoS. */
export function route(
  rules: readonly TopicRule[],
  crossing: Crossing,
  topic: string,
): { topic: string; qos: QoS } | undefined {
  for (const rule of rules) {
    if (!carries(rule, crossing)) continue;
    const mapped = remap(rule, crossing, topic);
    if (mapped !== undefined) return { topic: mapped, qos: rule.qos };
  }
  return undefined;
}

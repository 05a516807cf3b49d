/**
 * Topic matching as ACL rules need it, on filters split into levels once: whether a
 * rule matches a topic name (a message), covers a whole subscription filter, or
 * shares at least one topic with it.
 *
 * Rules follow Mosquitto's treatment of `$` topics: a rule whose filter does not
 * itself start with `$` never applies to a `$` topic (so `#` does not reach `$SYS`),
 * and a subscription filter starting with a wildcard never matches a `$` topic
 * [MQTT-4.7.2-1].
 *
 * @module
 */
import { isSystemTopic } from "../protocol/topic.ts";

/** Whether the rule filter `rule` matches the topic name `topic` (both split into levels). */
export function ruleMatchesTopic(rule: readonly string[], topic: readonly string[]): boolean {
  if (isSystemTopic(topic[0]) && !isSystemTopic(rule[0])) return false;
  for (let i = 0; i < rule.length; i++) {
    const level = rule[i];
    // "#" matches the parent level too: "a/#" matches "a".
    if (level === "#") return true;
    if (i >= topic.length) return false;
    if (level !== "+" && level !== topic[i]) return false;
  }
  return rule.length === topic.length;
}

/** Whether `rule` matches every topic the subscription filter `filter` can match. */
export function ruleCoversFilter(rule: readonly string[], filter: readonly string[]): boolean {
  if (isSystemTopic(filter[0]) && !isSystemTopic(rule[0])) return false;
  for (let i = 0; i < rule.length; i++) {
    const level = rule[i];
    if (level === "#") return true;
    if (i >= filter.length) return false;
    if (filter[i] === "#") return false;
    if (level === "+") continue;
    if (filter[i] === "+" || filter[i] !== level) return false;
  }
  return rule.length === filter.length;
}

/** Whether some topic name matches both `rule` and the subscription filter `filter`. */
export function ruleIntersectsFilter(rule: readonly string[], filter: readonly string[]): boolean {
  const ruleDollar = isSystemTopic(rule[0]);
  const filterDollar = isSystemTopic(filter[0]);
  // A rule without "$" reaches no "$" topic; a filter opening with a wildcard reaches none either.
  if (filterDollar && !ruleDollar) return false;
  if (ruleDollar && (filter[0] === "+" || filter[0] === "#")) return false;
  const n = Math.max(rule.length, filter.length);
  for (let i = 0; i < n; i++) {
    const r = rule[i];
    const f = filter[i];
    if (r === "#" || f === "#") return true;
    // One side ended: they share a topic only when the other ends in "#" here ("a" and "a/#").
    if (r === undefined || f === undefined) return false;
    if (r !== "+" && f !== "+" && r !== f) return false;
  }
  return true;
}

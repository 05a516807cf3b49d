/**
 * Topic names and filters: validation, shared-subscription filters, `$` topics.
 *
 * @module
 */
import { protocolError } from "./errors.ts";
import { Reason } from "./packet.ts";

/** Checks a topic name a client publishes to (throws ProtocolError 0x90). */
export function validateTopicName(topic: string): void {
  // [MQTT-4.7.3-1] at least one character.
  if (topic.length === 0) throw protocolError(Reason.TopicNameInvalid, "empty topic name");
  // [MQTT-4.7.0-1] no wildcards in topic names.
  if (topic.includes("+") || topic.includes("#")) {
    throw protocolError(Reason.TopicNameInvalid, "wildcard in a topic name");
  }
  // [MQTT-4.7.3-2] no U+0000.
  if (topic.includes("\u0000")) throw protocolError(Reason.TopicNameInvalid, "U+0000 in a topic name");
  // [MQTT-4.7.3-3] at most 65535 bytes once encoded (a UTF-16 unit is at most 3 UTF-8 bytes).
  if (topic.length > 21845 && new TextEncoder().encode(topic).length > 65535) {
    throw protocolError(Reason.TopicNameInvalid, "topic name longer than 65535 bytes");
  }
}

/** Checks a topic filter (throws ProtocolError 0x8F). */
export function validateTopicFilter(filter: string): void {
  if (filter.length === 0) throw protocolError(Reason.TopicFilterInvalid, "empty topic filter"); // [MQTT-4.7.3-1]
  if (filter.includes("\u0000")) throw protocolError(Reason.TopicFilterInvalid, "U+0000 in a topic filter");
  const levels = filter.split("/");
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    // [MQTT-4.7.1-1] "#" alone in its level, and last.
    if (level.includes("#") && (level !== "#" || i !== levels.length - 1)) {
      throw protocolError(Reason.TopicFilterInvalid, `"#" must be alone in the last level: ${filter}`);
    }
    // [MQTT-4.7.1-2] "+" occupies a whole level.
    if (level.includes("+") && level !== "+") {
      throw protocolError(Reason.TopicFilterInvalid, `"+" must occupy a whole level: ${filter}`);
    }
  }
}

const SHARE_PREFIX = "$share/";

/**
 * Splits `$share/{group}/{filter}`; null for a non-shared filter. Throws
 * ProtocolError 0x8F for a malformed share name [MQTT-4.8.2-1] [MQTT-4.8.2-2].
 */
export function parseSharedFilter(filter: string): { group: string; filter: string } | null {
  if (!filter.startsWith(SHARE_PREFIX)) return null;
  const rest = filter.slice(SHARE_PREFIX.length);
  const slash = rest.indexOf("/");
  const group = slash === -1 ? rest : rest.slice(0, slash);
  if (group.length === 0 || group.includes("+") || group.includes("#")) {
    throw protocolError(Reason.TopicFilterInvalid, `invalid share name in ${filter}`);
  }
  if (slash === -1 || slash === rest.length - 1) {
    throw protocolError(Reason.TopicFilterInvalid, `shared subscription without a topic filter: ${filter}`);
  }
  const inner = rest.slice(slash + 1);
  validateTopicFilter(inner);
  return { group, filter: inner };
}

/** Topics beginning with "$" are the server's ($SYS); wildcards at the first level do not match them. */
export function isSystemTopic(topic: string): boolean {
  return topic.charCodeAt(0) === 0x24;
}

/** Whether a topic name matches a filter (used where no tree is at hand, e.g. ACLs). */
export function topicMatches(filter: string, topic: string): boolean {
  // [MQTT-4.7.2-1] filters starting with a wildcard do not match "$" topics.
  if (isSystemTopic(topic) && (filter.startsWith("+") || filter.startsWith("#"))) return false;
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * MQTT topics and filters as NATS subjects, so that NATS does the wildcard
 * matching across the cluster. Pure functions; the scheme is documented in
 * docs/cluster.md.
 *
 * Each MQTT level becomes one NATS token:
 * - the empty level is `_` alone;
 * - `A`–`Z`, `a`–`z`, `0`–`9` and `-` stand for themselves;
 * - every other UTF-8 byte (including `_`, `.`, `*`, `>`, space and `$`) is `_` followed
 *   by two upper-case hex digits.
 *
 * The mapping is total (every string maps) and injective (`_` alone or `_XX` can only
 * come from one input), and its output uses only characters that are also legal in
 * JetStream KV keys, so the same tokens key the retained-message bucket.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const HEX = "0123456789ABCDEF";

function isPlain(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) || code === 0x2d;
}

/** One MQTT level (or any string) as a NATS token. */
export function escapeLevel(level: string): string {
  if (level.length === 0) return "_";
  let plain = true;
  for (let i = 0; i < level.length && plain; i++) plain = isPlain(level.charCodeAt(i));
  if (plain) return level;
  let out = "";
  for (const byte of encoder.encode(level)) {
    out += isPlain(byte) ? String.fromCharCode(byte) : "_" + HEX[byte >> 4] + HEX[byte & 15];
  }
  return out;
}

/** The inverse of {@link escapeLevel}. Throws RangeError on a token it could not have produced. */
export function unescapeLevel(token: string): string {
  if (token === "_") return "";
  if (token.indexOf("_") === -1) return token;
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    const code = token.charCodeAt(i);
    if (code !== 0x5f) {
      bytes.push(code);
      continue;
    }
    const hex = token.slice(i + 1, i + 3);
    if (!/^[0-9A-F]{2}$/.test(hex)) throw new RangeError(`not an escaped level: ${token}`);
    bytes.push(parseInt(hex, 16));
    i += 2;
  }
  return decoder.decode(new Uint8Array(bytes));
}

/** A topic name as the tokens after a subject prefix: `a/b.c` → `a.b_2Ec`. */
export function topicToTokens(topic: string): string {
  return topic.split("/").map(escapeLevel).join(".");
}

/** The inverse of {@link topicToTokens}. */
export function tokensToTopic(tokens: string): string {
  return tokens.split(".").map(unescapeLevel).join("/");
}

/** `prefix.<tokens>` for a topic name. */
export function topicToSubject(prefix: string, topic: string): string {
  return `${prefix}.${topicToTokens(topic)}`;
}

/** The topic of a subject built by {@link topicToSubject} with a prefix of `prefixTokens` tokens. */
export function subjectToTopic(subject: string, prefixTokens: number): string {
  let at = 0;
  for (let i = 0; i < prefixTokens; i++) at = subject.indexOf(".", at) + 1;
  return tokensToTopic(subject.slice(at));
}

/**
 * The NATS subjects that together match exactly the topics an MQTT filter matches
 * (shared-subscription prefixes already removed). `+` becomes `*` and `#` becomes `>`;
 * since NATS `a.>` needs at least one more token while MQTT `a/#` also matches `a`,
 * a trailing `/#` yields the parent subject as well.
 */
export function filterToSubjects(prefix: string, filter: string): string[] {
  const levels = filter.split("/");
  const tokens = levels.map((level) => level === "+" ? "*" : level === "#" ? ">" : escapeLevel(level));
  const subject = `${prefix}.${tokens.join(".")}`;
  if (levels.length > 1 && levels[levels.length - 1] === "#") {
    return [subject, `${prefix}.${tokens.slice(0, -1).join(".")}`];
  }
  return [subject];
}

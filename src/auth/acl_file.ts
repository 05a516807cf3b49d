/**
 * ACL files in Mosquitto's `acl_file` syntax, with Mosquitto 2.0's meaning, so that
 * the same file decides the same way in both brokers:
 *
 *   # comment
 *   topic [read|write|readwrite|deny] FILTER     (before any user line: anonymous clients)
 *   user NAME                                    (the topic lines after it: that user)
 *   pattern [read|write|readwrite|deny] FILTER   (every client; %u user name, %c client id)
 *
 * A message's topic (read: delivered to the client; write: published by it) is
 * decided by the client's own rules first (its user block, or the anonymous block),
 * `deny` rules before grants: a matching deny refuses, a matching grant of that
 * access allows. Only when they decide nothing are the patterns asked, in the same
 * way; no decision means no access. A client id or user name containing `+` or `#`
 * gets nothing from patterns (CVE-2017-7650), and a grant pattern never substitutes a
 * value containing `/` (which would reach into a deeper level of someone else's tree).
 *
 * A subscription is refused only when it can never deliver anything: a deny covers
 * its whole filter, or no read grant shares a topic with it. What it may carry is
 * then decided per message at delivery ({@link AclFileAuthorizer.authorizeDelivery}).
 *
 * @module
 */
import type { Access, Authorizer } from "../broker/security.ts";
import { validateTopicFilter } from "../protocol/topic.ts";
import { ruleCoversFilter, ruleIntersectsFilter, ruleMatchesTopic } from "./acl_match.ts";

type Kind = "read" | "write" | "readwrite" | "deny";
const KINDS: readonly string[] = ["read", "write", "readwrite", "deny"];

interface Rule {
  kind: Kind;
  filter: string;
  levels: string[];
  /** Pattern rules: whether the filter substitutes the client id / the user name. */
  clientId: boolean;
  username: boolean;
}

/** One block of rules, denies kept apart because they are checked first. */
interface RuleList {
  denies: Rule[];
  grants: Rule[];
}

export interface AclRules {
  anonymous: RuleList;
  users: Map<string, RuleList>;
  patterns: RuleList;
}

type Client = { clientId: string; username?: string };

const emptyList = (): RuleList => ({ denies: [], grants: [] });

/** Parses ACL text; an error names the file, the line and what is expected. */
export function parseAclFile(text: string, fileName: string): AclRules {
  const rules: AclRules = { anonymous: emptyList(), users: new Map(), patterns: emptyList() };
  let current = rules.anonymous;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const [keyword, ...rest] = line.split(/\s+/);
    const where = `${fileName}:${i + 1}`;
    if (keyword === "user") {
      if (rest.length === 0) throw new Error(`${where}: "user" needs a user name`);
      const name = rest.join(" ");
      current = rules.users.get(name) ?? emptyList();
      rules.users.set(name, current);
      return;
    }
    if (keyword !== "topic" && keyword !== "pattern") {
      throw new Error(`${where}: unknown keyword "${keyword}" (expected topic, pattern or user)`);
    }
    const rule = parseRule(rest, keyword === "pattern", where);
    const list = keyword === "pattern" ? rules.patterns : current;
    (rule.kind === "deny" ? list.denies : list.grants).push(rule);
  });
  return rules;
}

/** `[access] FILTER`: with two or more words the first is the access, as Mosquitto reads it. */
function parseRule(words: string[], pattern: boolean, where: string): Rule {
  if (words.length === 0) throw new Error(`${where}: needs a topic filter`);
  let kind: Kind = "readwrite";
  if (words.length > 1) {
    if (!KINDS.includes(words[0])) {
      throw new Error(`${where}: unknown access "${words[0]}" (expected read, write, readwrite or deny)`);
    }
    kind = words.shift() as Kind;
  }
  const filter = words.join(" ");
  try {
    validateTopicFilter(filter);
  } catch (err) {
    throw new Error(`${where}: invalid topic filter "${filter}": ${(err as Error).message}`);
  }
  return {
    kind,
    filter,
    levels: filter.split("/"),
    clientId: pattern && filter.includes("%c"),
    username: pattern && filter.includes("%u"),
  };
}

const grants = (kind: Kind, access: Access) => kind === "readwrite" || kind === access;
const hasWildcard = (s: string | undefined) => s !== undefined && (s.includes("+") || s.includes("#"));

/**
 * A pattern's levels for this client, or null when the pattern does not apply to it:
 * `%u` without a user name, or a grant that would substitute a value containing "/".
 */
function expand(rule: Rule, client: Client): string[] | null {
  if (!rule.clientId && !rule.username) return rule.levels;
  const { clientId, username } = client;
  if (rule.username && username === undefined) return null;
  if (rule.kind !== "deny") {
    if (rule.clientId && clientId.includes("/")) return null;
    if (rule.username && username!.includes("/")) return null;
  }
  return rule.filter.replaceAll("%c", clientId).replaceAll("%u", username ?? "").split("/");
}

/** The client's own block: its user's rules, or the anonymous rules without a user name. */
function ownRules(rules: AclRules, client: Client): RuleList | undefined {
  return client.username === undefined ? rules.anonymous : rules.users.get(client.username);
}

/** Whether the client may read (receive) or write (publish) the topic name `topic`. */
export function decideTopic(rules: AclRules, client: Client, access: Access, topic: string): boolean {
  const levels = topic.split("/");
  const own = ownRules(rules, client);
  if (own !== undefined) {
    for (const rule of own.denies) if (ruleMatchesTopic(rule.levels, levels)) return false;
    for (const rule of own.grants) {
      if (grants(rule.kind, access) && ruleMatchesTopic(rule.levels, levels)) return true;
    }
  }
  const patterns = rules.patterns;
  // [CVE-2017-7650] a client id or user name with a wildcard could match other clients' patterns.
  if (hasWildcard(client.clientId) || hasWildcard(client.username)) return false;
  for (const rule of patterns.denies) {
    const expanded = expand(rule, client);
    if (expanded !== null && ruleMatchesTopic(expanded, levels)) return false;
  }
  for (const rule of patterns.grants) {
    if (!grants(rule.kind, access)) continue;
    const expanded = expand(rule, client);
    if (expanded !== null && ruleMatchesTopic(expanded, levels)) return true;
  }
  return false;
}

/**
 * Whether a subscription to `filter` could ever deliver something: refused when a
 * deny covers the whole filter or no read grant shares a topic with it.
 */
export function decideSubscription(rules: AclRules, client: Client, filter: string): boolean {
  const levels = filter.split("/");
  const own = ownRules(rules, client);
  if (own !== undefined) {
    for (const rule of own.denies) if (ruleCoversFilter(rule.levels, levels)) return false;
    for (const rule of own.grants) {
      if (grants(rule.kind, "read") && ruleIntersectsFilter(rule.levels, levels)) return true;
    }
  }
  if (hasWildcard(client.clientId) || hasWildcard(client.username)) return false;
  for (const rule of rules.patterns.denies) {
    const expanded = expand(rule, client);
    if (expanded !== null && ruleCoversFilter(expanded, levels)) return false;
  }
  for (const rule of rules.patterns.grants) {
    if (!grants(rule.kind, "read")) continue;
    const expanded = expand(rule, client);
    if (expanded !== null && ruleIntersectsFilter(expanded, levels)) return true;
  }
  return false;
}

const CACHE_LIMIT = 10_000;

/** The Authorizer for an ACL file: synchronous, cached, reloadable. */
export class AclFileAuthorizer implements Authorizer {
  #rules: AclRules;
  readonly #cache = new Map<string, boolean>();
  readonly path: string;

  constructor(rules: AclRules, path = "<acl>") {
    this.#rules = rules;
    this.path = path;
  }

  static async load(path: string): Promise<AclFileAuthorizer> {
    return new AclFileAuthorizer(parseAclFile(await Deno.readTextFile(path), path), path);
  }

  /** Re-reads the file (SIGHUP); on error the old rules stay. */
  async reload(): Promise<void> {
    this.#rules = parseAclFile(await Deno.readTextFile(this.path), this.path);
    this.#cache.clear();
  }

  /** "write": may publish to the topic name; "read": may subscribe to the filter. */
  authorize(client: Client, access: Access, topic: string): boolean {
    const key = `${client.clientId}\u0000${client.username ?? "\u0001"}\u0000${access}\u0000${topic}`;
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached;
    const verdict = access === "read"
      ? decideSubscription(this.#rules, client, topic)
      : decideTopic(this.#rules, client, "write", topic);
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(key, verdict);
    return verdict;
  }

  /** May the client receive a message published on `topic`? (The broker caches the answer.) */
  authorizeDelivery(client: Client, topic: string): boolean {
    return decideTopic(this.#rules, client, "read", topic);
  }
}

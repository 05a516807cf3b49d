/**
 * ACL files in Mosquitto's `acl_file` syntax, so existing files work:
 *
 *   # comment
 *   topic [read|write|readwrite|deny] FILTER     (before any user line: anonymous clients)
 *   user NAME                                    (following topic lines: that user)
 *   pattern [read|write|readwrite|deny] FILTER   (every client; %u user name, %c client id)
 *
 * No matching rule means no access; a matching `deny` beats any grant. A rule's
 * filter grants a subscription only when it covers every topic the subscription
 * could match (`read sensors/#` allows subscribing to `sensors/+/temp`, not `#`).
 *
 * @module
 */
import type { Access, Authorizer } from "../broker/security.ts";
import { topicMatches } from "../protocol/topic.ts";

type Kind = "read" | "write" | "readwrite" | "deny";

interface Rule {
  kind: Kind;
  filter: string;
  /** Whether the filter contains %u / %c to substitute per client. */
  pattern: boolean;
}

export interface AclRules {
  anonymous: Rule[];
  users: Map<string, Rule[]>;
  patterns: Rule[];
}

/** Parses ACL text; an error names the file, the line and what is expected. */
export function parseAclFile(text: string, fileName: string): AclRules {
  const rules: AclRules = { anonymous: [], users: new Map(), patterns: [] };
  let current = rules.anonymous;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const [keyword, ...rest] = line.split(/\s+/);
    const where = `${fileName}:${i + 1}`;
    if (keyword === "user") {
      if (rest.length === 0) throw new Error(`${where}: "user" needs a user name`);
      const name = rest.join(" ");
      current = rules.users.get(name) ?? [];
      rules.users.set(name, current);
      return;
    }
    if (keyword !== "topic" && keyword !== "pattern") {
      throw new Error(`${where}: unknown keyword "${keyword}" (expected topic, pattern or user)`);
    }
    let kind: Kind = "readwrite";
    if (["read", "write", "readwrite", "deny"].includes(rest[0]) && rest.length > 1) {
      kind = rest.shift() as Kind;
    }
    const filter = rest.join(" ");
    if (filter === "") throw new Error(`${where}: "${keyword}" needs a topic filter`);
    const rule = { kind, filter, pattern: keyword === "pattern" };
    (keyword === "pattern" ? rules.patterns : current).push(rule);
  });
  return rules;
}

/**
 * Whether ACL filter `acl` covers every topic subscription filter `sub` can match.
 * A wildcard at the first level never covers "$" topics [MQTT-4.7.2-1].
 */
export function filterCovers(acl: string, sub: string): boolean {
  const a = acl.split("/");
  const s = sub.split("/");
  if (s[0].startsWith("$") && (a[0] === "#" || a[0] === "+")) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === "#") return true;
    if (i >= s.length) return false;
    if (s[i] === "#") return false;
    if (a[i] === "+") continue;
    if (s[i] !== a[i]) return false;
  }
  return a.length === s.length;
}

function allows(kind: Kind, access: Access): boolean {
  return kind === "readwrite" || kind === access;
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

  authorize(client: { clientId: string; username?: string }, access: Access, topic: string): boolean {
    const key = `${client.clientId}\u0000${client.username ?? "\u0001"}\u0000${access}\u0000${topic}`;
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached;
    const verdict = this.#decide(client, access, topic);
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(key, verdict);
    return verdict;
  }

  #decide(client: { clientId: string; username?: string }, access: Access, topic: string): boolean {
    const own = client.username === undefined
      ? this.#rules.anonymous
      : (this.#rules.users.get(client.username) ?? []);
    const patterns = this.#rules.patterns.flatMap((r) => {
      // A pattern with %u cannot apply to a client without a user name.
      if (r.filter.includes("%u") && client.username === undefined) return [];
      return [{
        ...r,
        filter: r.filter.replaceAll("%u", client.username ?? "").replaceAll("%c", client.clientId),
      }];
    });
    // A subscription is checked as a filter; a publication as a topic name.
    const matches = (filter: string) =>
      access === "read" ? filterCovers(filter, topic) : topicMatches(filter, topic);
    const overlaps = (filter: string) =>
      topicMatches(filter, topic) || filterCovers(filter, topic) || filterCovers(topic, filter);
    let granted = false;
    for (const rule of [...own, ...patterns]) {
      if (rule.kind === "deny" && overlaps(rule.filter)) return false;
      if (rule.kind !== "deny" && allows(rule.kind, access) && matches(rule.filter)) granted = true;
    }
    return granted;
  }
}

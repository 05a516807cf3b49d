/**
 * The subscription tree: a trie over topic levels. Subscribe and unsubscribe
 * cost O(levels of the filter), whatever else is subscribed. match() results
 * are cached per topic and the cache is dropped on any change, so the hot path
 * (one match per PUBLISH) is one Map lookup with no allocation.
 *
 * @module
 */
import { isSystemTopic } from "../protocol/topic.ts";

/** One share group matching a topic, with its members. */
export interface SharedGroupMatch<T> {
  readonly group: string;
  readonly filter: string;
  readonly members: ReadonlyArray<readonly [clientId: string, value: T]>;
}

/** Everything subscribed to a topic. */
export interface TopicMatch<T> {
  /** Non-shared subscriptions; a client appears once per matching filter. */
  readonly subscribers: ReadonlyArray<readonly [clientId: string, value: T]>;
  readonly shared: ReadonlyArray<SharedGroupMatch<T>>;
}

class Node<T> {
  /**
   * Created with the first child: most nodes of a tree of device topics are leaves (one per
   * device), and an empty Map costs about 200 bytes (docs/benchmarks.md, idle connections).
   */
  children: Map<string, Node<T>> | null = null;
  subscribers: Map<string, T> | null = null;
  shared: Map<string, Map<string, T>> | null = null;
  readonly parent: Node<T> | null;
  readonly level: string;
  /** The filter this node stands for (for shared-group reporting). */
  readonly filter: string;

  constructor(parent: Node<T> | null, level: string) {
    this.parent = parent;
    this.level = level;
    this.filter = parent === null ? "" : parent.parent === null ? level : `${parent.filter}/${level}`;
  }

  get empty(): boolean {
    return (this.children === null || this.children.size === 0) && this.subscribers === null &&
      this.shared === null;
  }
}

/** Match results kept per topic; cleared when full or on any subscription change (~10 MiB at most). */
const CACHE_LIMIT = 50_000;

export class TopicTree<T> {
  readonly #root = new Node<T>(null, "");
  readonly #cache = new Map<string, TopicMatch<T>>();
  #size = 0;
  #nodes = 0;
  /**
   * Told when a filter (per share group) gets its first subscriber or loses its last:
   * the cluster keeps one NATS subscription per filter this node needs.
   */
  onFilterChange: ((filter: string, group: string | undefined, present: boolean) => void) | undefined;

  /** Number of subscriptions (shared and not). */
  get size(): number {
    return this.#size;
  }

  /** Number of trie nodes (tests check that unsubscribe prunes). */
  get nodeCount(): number {
    return this.#nodes;
  }

  /** Adds or replaces the client's subscription to `filter`. Returns true when it is new. */
  subscribe(filter: string, clientId: string, value: T, group?: string): boolean {
    let node = this.#root;
    for (const level of filter.split("/")) {
      const children: Map<string, Node<T>> = node.children ??= new Map();
      let child = children.get(level);
      if (child === undefined) {
        child = new Node(node, level);
        children.set(level, child);
        this.#nodes++;
      }
      node = child;
    }
    let members: Map<string, T>;
    if (group === undefined) {
      members = node.subscribers ??= new Map();
    } else {
      node.shared ??= new Map();
      members = node.shared.get(group) ?? new Map();
      node.shared.set(group, members);
    }
    const isNew = !members.has(clientId);
    const first = members.size === 0;
    members.set(clientId, value);
    if (isNew) this.#size++;
    this.#invalidate();
    if (first) this.onFilterChange?.(filter, group, true);
    return isNew;
  }

  /** Removes the client's subscription to `filter`; prunes empty nodes. Returns true if it existed. */
  unsubscribe(filter: string, clientId: string, group?: string): boolean {
    let node: Node<T> | undefined = this.#root;
    for (const level of filter.split("/")) {
      node = node.children?.get(level);
      if (node === undefined) return false;
    }
    let removed = false;
    let last = false;
    if (group === undefined) {
      removed = node.subscribers?.delete(clientId) ?? false;
      last = node.subscribers?.size === 0;
      if (last) node.subscribers = null;
    } else {
      const members = node.shared?.get(group);
      removed = members?.delete(clientId) ?? false;
      last = members?.size === 0;
      if (last) node.shared!.delete(group);
      if (node.shared?.size === 0) node.shared = null;
    }
    if (!removed) return false;
    this.#size--;
    this.#prune(node);
    this.#invalidate();
    if (last) this.onFilterChange?.(filter, group, false);
    return true;
  }

  #prune(node: Node<T>): void {
    while (node.parent !== null && node.empty) {
      node.parent.children!.delete(node.level);
      this.#nodes--;
      node = node.parent;
    }
  }

  #invalidate(): void {
    if (this.#cache.size > 0) this.#cache.clear();
  }

  /** Every subscription matching `topic`. The result is shared and must not be modified. */
  match(topic: string): TopicMatch<T> {
    const cached = this.#cache.get(topic);
    if (cached !== undefined) return cached;
    const subscribers: (readonly [string, T])[] = [];
    const shared: SharedGroupMatch<T>[] = [];
    const levels = topic.split("/");
    // [MQTT-4.7.2-1] filters starting with a wildcard do not match topics starting with "$".
    const system = isSystemTopic(topic);
    this.#walk(this.#root, levels, 0, system, subscribers, shared);
    const result: TopicMatch<T> = { subscribers, shared };
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(topic, result);
    return result;
  }

  #walk(
    node: Node<T>,
    levels: string[],
    i: number,
    system: boolean,
    out: (readonly [string, T])[],
    shared: SharedGroupMatch<T>[],
  ): void {
    const wildcardsAllowed = !(system && i === 0);
    const children = node.children;
    if (wildcardsAllowed && children !== null) {
      // "#" matches this level and everything below, including the parent level itself.
      const hash = children.get("#");
      if (hash !== undefined) collect(hash, out, shared);
    }
    if (i === levels.length) {
      collect(node, out, shared);
      return;
    }
    if (children === null) return;
    if (wildcardsAllowed) {
      const plus = children.get("+");
      if (plus !== undefined) this.#walk(plus, levels, i + 1, system, out, shared);
    }
    const exact = children.get(levels[i]);
    if (exact !== undefined) this.#walk(exact, levels, i + 1, system, out, shared);
  }

  /** Every subscription, for management views. */
  *entries(): Iterable<{ filter: string; clientId: string; group?: string; value: T }> {
    const stack: Node<T>[] = [this.#root];
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (node.subscribers) {
        for (const [clientId, value] of node.subscribers) yield { filter: node.filter, clientId, value };
      }
      if (node.shared) {
        for (const [group, members] of node.shared) {
          for (const [clientId, value] of members) yield { filter: node.filter, clientId, group, value };
        }
      }
      if (node.children !== null) { for (const child of node.children.values()) stack.push(child); }
    }
  }
}

function collect<T>(node: Node<T>, out: (readonly [string, T])[], shared: SharedGroupMatch<T>[]): void {
  if (node.subscribers !== null) { for (const entry of node.subscribers) out.push(entry); }
  if (node.shared !== null) {
    for (const [group, members] of node.shared) {
      shared.push({ group, filter: node.filter, members: [...members] });
    }
  }
}

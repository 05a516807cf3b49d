/**
 * Retained messages: one per topic, found for a subscription filter by a trie
 * walk along the filter (not a scan of every retained topic).
 *
 * @module
 */
import { isSystemTopic } from "../protocol/topic.ts";

class Node<M> {
  readonly children = new Map<string, Node<M>>();
  message: M | undefined;
  readonly parent: Node<M> | null;
  readonly level: string;

  constructor(parent: Node<M> | null, level: string) {
    this.parent = parent;
    this.level = level;
  }
}

export class RetainedIndex<M extends { topic: string; payload?: Uint8Array }> {
  readonly #root = new Node<M>(null, "");
  readonly #byTopic = new Map<string, M>();
  #bytes = 0;

  get size(): number {
    return this.#byTopic.size;
  }

  /** Total payload bytes held (for $SYS and metrics). */
  get bytes(): number {
    return this.#bytes;
  }

  get(topic: string): M | undefined {
    return this.#byTopic.get(topic);
  }

  values(): IterableIterator<M> {
    return this.#byTopic.values();
  }

  /** Stores or replaces the retained message of its topic. */
  set(message: M): void {
    let node = this.#root;
    for (const level of message.topic.split("/")) {
      let child = node.children.get(level);
      if (child === undefined) {
        child = new Node(node, level);
        node.children.set(level, child);
      }
      node = child;
    }
    if (node.message !== undefined) this.#bytes -= node.message.payload?.length ?? 0;
    node.message = message;
    this.#bytes += message.payload?.length ?? 0;
    this.#byTopic.set(message.topic, message);
  }

  delete(topic: string): boolean {
    let node: Node<M> | undefined = this.#root;
    for (const level of topic.split("/")) {
      node = node.children.get(level);
      if (node === undefined) return false;
    }
    if (node.message === undefined) return false;
    this.#bytes -= node.message.payload?.length ?? 0;
    node.message = undefined;
    this.#byTopic.delete(topic);
    while (node.parent !== null && node.message === undefined && node.children.size === 0) {
      node.parent.children.delete(node.level);
      node = node.parent;
    }
    return true;
  }

  /** Retained messages whose topic matches `filter`. */
  match(filter: string): M[] {
    const out: M[] = [];
    this.#walk(this.#root, filter.split("/"), 0, out);
    return out;
  }

  #walk(node: Node<M>, levels: string[], i: number, out: M[]): void {
    if (i === levels.length) {
      if (node.message !== undefined) out.push(node.message);
      return;
    }
    const level = levels[i];
    if (level === "#") {
      // "#" matches the parent level too ("a/#" matches "a").
      if (node !== this.#root && node.message !== undefined) out.push(node.message);
      this.#collectAll(node, out, i === 0);
      return;
    }
    if (level === "+") {
      for (const [name, child] of node.children) {
        // [MQTT-4.7.2-1] a wildcard at the first level does not match "$" topics.
        if (i === 0 && isSystemTopic(name)) continue;
        this.#walk(child, levels, i + 1, out);
      }
      return;
    }
    const child = node.children.get(level);
    if (child !== undefined) this.#walk(child, levels, i + 1, out);
  }

  #collectAll(node: Node<M>, out: M[], skipSystem: boolean): void {
    for (const [name, child] of node.children) {
      if (skipSystem && isSystemTopic(name)) continue;
      if (child.message !== undefined) out.push(child.message);
      this.#collectAll(child, out, false);
    }
  }
}

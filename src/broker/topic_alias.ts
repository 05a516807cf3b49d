/**
 * Topic aliases (MQTT 5) in both directions, per connection.
 *
 * @module
 */
import { Reason } from "../protocol/packet.ts";
import { protocolError } from "../protocol/errors.ts";

/** Inbound: aliases the client set, bounded by the broker's Topic Alias Maximum. */
export class InboundAliases {
  readonly #max: number;
  readonly #topics = new Map<number, string>();

  constructor(max: number) {
    this.#max = max;
  }

  /**
   * Resolves the topic of an inbound PUBLISH. A non-empty topic with an alias
   * (re)defines the alias; an empty topic must use a known alias.
   */
  resolve(topic: string, alias: number | undefined): string {
    if (alias === undefined) {
      // Without an alias the topic name must not be empty (a protocol error in 5.0).
      if (topic === "") throw protocolError(Reason.ProtocolError, "PUBLISH with an empty topic and no alias");
      return topic;
    }
    // [MQTT-3.3.2-8] alias 0 and [MQTT-3.3.2-9] an alias above the maximum the broker sent are errors (0x94).
    if (alias === 0 || alias > this.#max) {
      throw protocolError(Reason.TopicAliasInvalid, `topic alias ${alias} outside 1..${this.#max}`);
    }
    if (topic !== "") {
      this.#topics.set(alias, topic);
      return topic;
    }
    const known = this.#topics.get(alias);
    if (known === undefined) {
      throw protocolError(Reason.ProtocolError, `topic alias ${alias} used before it was set`);
    }
    return known;
  }
}

/**
 * Outbound: the broker assigns aliases to the topics it sends most recently,
 * up to the client's Topic Alias Maximum, replacing the least recently used.
 */
export class OutboundAliases {
  readonly #max: number;
  /** topic → alias, in least-recently-used order (Map keeps insertion order). */
  readonly #byTopic = new Map<string, number>();

  constructor(max: number) {
    this.#max = max;
  }

  /**
   * The alias to send for `topic`, and whether the topic name must be sent with it
   * (first use of the alias) or may be left empty.
   */
  lookup(topic: string): { alias: number; sendTopic: boolean } {
    const known = this.#byTopic.get(topic);
    if (known !== undefined) {
      this.#byTopic.delete(topic);
      this.#byTopic.set(topic, known);
      return { alias: known, sendTopic: false };
    }
    let alias: number;
    if (this.#byTopic.size < this.#max) {
      alias = this.#byTopic.size + 1;
    } else {
      const [oldest, oldAlias] = this.#byTopic.entries().next().value as [string, number];
      this.#byTopic.delete(oldest);
      alias = oldAlias;
    }
    this.#byTopic.set(topic, alias);
    return { alias, sendTopic: true };
  }
}

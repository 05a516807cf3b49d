/**
 * Node liveness through the `mqtt_nodes` bucket. Each node instance records a heartbeat:
 * the time, and the stream sequence up to which everything it routed is stored (where a
 * replay starts if it dies). Every node also sweeps the others' heartbeats: an instance
 * whose heartbeat is stale and that does not answer is dead, and one node adopts its
 * sessions. A node that learns it was declared dead lets its sessions go. See
 * docs/cluster.md, "Node failure".
 *
 * @module
 */
import type { JetStreamManager, KV, NatsConnection } from "nats";
import type { Logger } from "@logtape/logtape";
import type { PeerPort } from "../broker/peers.ts";
import { eraseKey, listKeys } from "./bucket_keys.ts";
import { retryTransient } from "./nats_retry.ts";
import { decodeRecord, encodeRecord } from "./record_codec.ts";
import { escapeLevel, unescapeLevel } from "./subject_mapping.ts";

/** What a node records about itself: everything it routed up to stream sequence `cursor` is stored. */
export interface Heartbeat {
  at: number;
  cursor: number;
}

/** What the sweep needs of the session hand-over (src/cluster/handover.ts implements it). */
export interface OrphanAdopter {
  /** Whether a node instance answers (a slow node is not a dead one). */
  alive(instance: string): Promise<boolean>;
  /** Takes in the sessions a dead instance owned; resolves with how many. */
  adoptOrphans(instance: string): Promise<number>;
}

export interface HeartbeatOptions {
  nc: NatsConnection;
  jsm: JetStreamManager;
  nodes: KV;
  /** The nodes bucket's name (keys are listed and erased through its stream). */
  bucket: string;
  instance: string;
  /** The stream sequence up to which this node's routing is stored. */
  stored(): number;
  /** A node whose heartbeat is older than this (ms) and that does not answer is taken as dead. */
  deadAfterMs: number;
}

export class Heartbeats {
  readonly #o: HeartbeatOptions;
  readonly #key: string;
  /** Writes, one after another: a later one never records an older cursor. */
  #writes: Promise<void> = Promise.resolve();
  /** The cursor of the last heartbeat written. */
  #written = -1;
  #fenced = false;

  constructor(options: HeartbeatOptions) {
    this.#o = options;
    this.#key = escapeLevel(options.instance);
  }

  /** Records the time and how far this node's routing is stored. */
  beat(): Promise<void> {
    const next = this.#writes.then(async () => {
      const cursor = this.#o.stored();
      const record = encodeRecord({ at: Date.now(), cursor } satisfies Heartbeat);
      await retryTransient(() => this.#o.nodes.put(this.#key, record), {
        abandoned: () => this.#o.nc.isClosed(),
      });
      this.#written = cursor;
    });
    this.#writes = next.catch(() => {});
    return next;
  }

  /**
   * Runs before a store write deletes delivered messages: a delivered message must be at or
   * below the recorded cursor, or a replay after this node's death would deliver it again.
   */
  beatIfBehind(): Promise<void> {
    return this.#o.stored() > this.#written ? this.beat() : Promise.resolve();
  }

  /**
   * A node cut off from NATS for longer than the death timeout is taken as dead and its sessions
   * are adopted elsewhere while it may still hold them. Once it hears of it, it lets them all go
   * (their clients reconnect and find them, caught up, where they were adopted).
   */
  async fenceIfDeclaredDead(port: Pick<PeerPort, "releaseAll">, log: Logger): Promise<void> {
    if (this.#fenced) return;
    const marker = await this.#o.nodes.get(`dead.${this.#key}`);
    if (marker?.operation !== "PUT") return;
    this.#fenced = true;
    const released = port.releaseAll();
    log.error(
      "Cluster: this node ({instance}) was cut off from NATS long enough to be taken as dead; its " +
        "{released} sessions were adopted elsewhere and are let go here. Restart this node.",
      { instance: this.#o.instance, released },
    );
  }

  /**
   * Finds node instances that stopped (stale heartbeat, no answer) and adopts their stored
   * sessions here; one node wins each dead instance (a create-only marker key).
   */
  async sweep(handover: OrphanAdopter, log: Logger): Promise<void> {
    const { nodes, jsm, bucket } = this.#o;
    for (const key of await listKeys(jsm, bucket, ">")) {
      if (key.startsWith("dead.") || key === this.#key) continue;
      const entry = await nodes.get(key);
      // Erased as soon as its sessions have a new home (older versions left a tombstone).
      if (entry?.operation !== "PUT") continue;
      if (Date.now() - decodeRecord<Heartbeat>(entry.value).at < this.#o.deadAfterMs) continue;
      const instance = unescapeLevel(key);
      // A slow node is not a dead one.
      if (await handover.alive(instance)) continue;
      if (!await this.#claimDead(key)) continue;
      const adopted = await handover.adoptOrphans(instance);
      // Every session it owned has a new home; the marker stays until the bucket's TTL.
      await eraseKey(jsm, bucket, key);
      log.info("Node instance {instance} stopped; {adopted} of its sessions adopted here", {
        instance,
        adopted,
      });
    }
  }

  /** Whether this node adopts a dead instance's sessions: it created the marker, now or in a failed try. */
  async #claimDead(key: string): Promise<boolean> {
    const marker = encodeRecord({ by: this.#o.instance, at: Date.now() });
    if (await this.#o.nodes.create(`dead.${key}`, marker).then(() => true, () => false)) return true;
    const mark = await this.#o.nodes.get(`dead.${key}`);
    return mark?.operation === "PUT" && decodeRecord<{ by: string }>(mark.value).by === this.#o.instance;
  }
}

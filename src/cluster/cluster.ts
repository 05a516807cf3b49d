/**
 * A broker as one node of a cluster on NATS JetStream: connects, makes sure the
 * buckets and the stream exist, and wires the pieces to the engine — the router
 * (messages), the store (sessions and retained messages in KV), the retained-message
 * watcher (every node keeps the whole retained set in memory, in sync), the stream feed,
 * the session handover and the heartbeats. See docs/cluster.md.
 *
 * @module
 */
import {
  connect,
  credsAuthenticator,
  Events,
  type JetStreamClient,
  type JetStreamManager,
  type KV,
  type NatsConnection,
  RetentionPolicy,
  StorageType,
} from "nats";
import { type Broker, peersOf } from "../public_broker.ts";
import { getLogger, type Logger } from "@logtape/logtape";
import type { PeerLink, PeerPort, PeerStatus } from "../broker/peers.ts";
import { listKeys } from "./bucket_keys.ts";
import { decodeRetained, JetStreamStore } from "./jetstream_store.ts";
import type { ClaimingStore } from "../persistence/store.ts";
import { SessionHandover } from "./handover.ts";
import { Heartbeats } from "./heartbeat.ts";
import { DURABLE_SUBJECTS } from "./message_wire.ts";
import { NatsRouter } from "./nats_router.ts";
import { RETRY_DEADLINE_MS } from "./nats_retry.ts";
import { StreamFeed } from "./stream_feed.ts";
import { tokensToTopic } from "./subject_mapping.ts";

/**
 * How a node reaches NATS and names itself (the `cluster:` section of the configuration).
 *
 * @example
 * ```ts
 * import type { ClusterOptions } from "../cluster_mod.ts";
 * const options: ClusterOptions = { servers: ["nats://127.0.0.1:4222"], nodeId: "node-1", replicas: 1 };
 * console.log(options.nodeId);
 * ```
 */
export interface ClusterOptions {
  /** NATS URLs, e.g. `nats://127.0.0.1:4222`. */
  servers: string[];
  /** A NATS `.creds` file's contents (JWT and NKey seed). */
  credentials?: string;
  /** This node's name, stable across restarts. */
  nodeId: string;
  /** JetStream replicas of the buckets and the stream (1 for a single NATS server). */
  replicas?: number;
  /** How long the stream keeps QoS 1/2 messages for catching sessions up (seconds). */
  replayWindowS?: number;
  /** Heartbeat period in ms. */
  heartbeatMs?: number;
  /** A node whose heartbeat is older than this (ms) and that does not answer is taken as dead. */
  deadAfterMs?: number;
}

/** The JetStream stream that carries QoS 1/2 messages between nodes. */
export const STREAM = "MQTT_MSGS";
interface Buckets {
  sessions: KV;
  retained: KV;
  nodes: KV;
}

const BUCKETS = { sessions: "mqtt_sessions", retained: "mqtt_retained", nodes: "mqtt_nodes" } as const;

/** Reads a node's NATS objects; set once, by the class below. */
let natsOfNode: (node: ClusterNode) => { nc: NatsConnection; js: JetStreamClient; store: JetStreamStore };

/**
 * One node of a cluster: its NATS connection, the JetStream store its broker writes to,
 * and, once joined, the routing, the stream feed, the session hand-over and the
 * heartbeats that make its broker one of the cluster's peers.
 *
 * @example
 * ```ts ignore
 * import { Broker } from "../mod.ts";
 * import { ClusterNode } from "../cluster_mod.ts";
 * const node = await ClusterNode.connect({ servers: ["nats://127.0.0.1:4222"], nodeId: "node-1" });
 * const broker = new Broker({ store: node.store });
 * await broker.start();
 * await node.join(broker);
 * // … serve clients; at the end:
 * await broker.close();
 * await node.close();
 * ```
 */
export class ClusterNode {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #store: JetStreamStore;
  /** The node's configured name. */
  readonly nodeId: string;
  /** This start of the node: its name and a random suffix (owner records and messages name it). */
  readonly instance: string;
  #router: NatsRouter | undefined;
  #feed: StreamFeed | undefined;
  readonly #kv: Buckets;
  readonly #options: ClusterOptions;
  #timer: ReturnType<typeof setInterval> | undefined;
  #watch: { stop(): void } | undefined;
  #sweeping = false;
  readonly #heartbeats: Heartbeats;
  /** NATS connection events and faults waited out, for the metrics. */
  readonly #status = { disconnects: 0, reconnects: 0, retries: 0 };
  #closing = false;

  readonly #jsm: JetStreamManager;

  static {
    natsOfNode = (node) => ({ nc: node.#nc, js: node.#js, store: node.#store });
  }

  /** The store every node shares (sessions and retained messages on JetStream KV): give it to the broker this node joins. */
  get store(): ClaimingStore {
    return this.#store;
  }

  private constructor(nc: NatsConnection, jsm: JetStreamManager, kv: Buckets, options: ClusterOptions) {
    this.#nc = nc;
    this.#js = nc.jetstream();
    this.#jsm = jsm;
    this.#kv = kv;
    this.#options = options;
    this.nodeId = options.nodeId;
    this.instance = `${options.nodeId}:${crypto.randomUUID().slice(0, 8)}`;
    this.#store = new JetStreamStore({
      sessions: kv.sessions,
      retained: kv.retained,
      jsm,
      sessionsBucket: BUCKETS.sessions,
      beforeDeletes: () => this.#heartbeats.beatIfBehind(),
      connected: () => !nc.isClosed(),
      onRetry: () => this.#status.retries++,
    });
    this.#heartbeats = new Heartbeats({
      nc,
      jsm,
      nodes: kv.nodes,
      bucket: BUCKETS.nodes,
      instance: this.instance,
      stored: () => this.#feed?.durable ?? 0,
      deadAfterMs: options.deadAfterMs ?? 5 * (options.heartbeatMs ?? 1000),
    });
  }

  /** Connects to NATS and prepares the stream and buckets (idempotent across nodes). */
  static async connect(options: ClusterOptions): Promise<ClusterNode> {
    const nc = await connect({
      servers: options.servers,
      name: `mqtt-${options.nodeId}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      authenticator: options.credentials
        ? credsAuthenticator(new TextEncoder().encode(options.credentials))
        : undefined,
    });
    const replicas = options.replicas ?? 1;
    const windowS = options.replayWindowS ?? 3600;
    const jsm = await nc.jetstreamManager();
    // Nodes starting together race to create the same objects, and a new cluster may still be
    // electing its JetStream leader: each step is retried for a while.
    await retrying(async () => {
      if (await jsm.streams.info(STREAM).catch(() => undefined)) return;
      await jsm.streams.add({
        name: STREAM,
        subjects: [DURABLE_SUBJECTS],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        num_replicas: replicas,
        max_age: windowS * 1_000_000_000,
        // A publish retried through a NATS fault carries the same message id: stored once if
        // it arrives again within this window (longer than any retry goes on).
        duplicate_window: 2 * RETRY_DEADLINE_MS * 1_000_000,
      });
    });
    const js = nc.jetstream();
    // Sessions and heartbeats are read from the bucket's leader (allow_direct off): a replica may
    // lag behind what another node has just written, and a stale session or heartbeat loses or
    // doubles messages. Retained messages are followed by a watcher and may be read anywhere.
    const kv = {
      sessions: await retrying(() =>
        js.views.kv(BUCKETS.sessions, { replicas, history: 1, allow_direct: false })
      ),
      retained: await retrying(() => js.views.kv(BUCKETS.retained, { replicas, history: 1 })),
      nodes: await retrying(() =>
        js.views.kv(BUCKETS.nodes, { replicas, history: 1, ttl: windowS * 1000, allow_direct: false })
      ),
    };
    // A replicated stream answers only once it has elected a leader.
    for (const name of [STREAM, ...Object.values(BUCKETS).map((b) => `KV_${b}`)]) {
      await waitForLeader(() =>
        jsm.streams.info(name).then((i) => i.cluster === undefined ? "standalone" : i.cluster.leader)
      );
    }
    return new ClusterNode(nc, jsm, kv, options);
  }

  /**
   * Makes `broker` a node, its peers the other nodes: call after broker.start() and before
   * listeners open. The cluster logs under the category `logCategory` (default
   * `["mqtt", "cluster"]`).
   */
  async join(broker: Broker, options: { logCategory?: readonly string[] } = {}): Promise<void> {
    const log = getLogger([...options.logCategory ?? ["mqtt", "cluster"]]);
    const { port, attach } = peersOf(broker);
    const onError = (err: unknown) => log.warn("Cluster: {error}", { error: String(err) });
    this.#followStatus(log);
    const router = new NatsRouter(this.#nc, this.#js, port, { instance: this.instance, onError });
    this.#router = router;
    await this.#syncRetained(port, log);
    const feed = await StreamFeed.start({
      js: this.#js,
      stream: STREAM,
      instance: this.instance,
      route: (message, own) => port.deliver(message, { own }),
      storing: () => this.#store.failures === 0,
      onError,
      onRestart: (position) => {
        log.warn("Cluster: reading the message stream again after sequence {position}", { position });
      },
    });
    this.#feed = feed;
    const handover = new SessionHandover({
      nc: this.#nc,
      js: this.#js,
      port,
      log,
      feed,
      store: this.#store,
      sessions: this.#kv.sessions,
      nodes: this.#kv.nodes,
      stream: STREAM,
      node: this.nodeId,
      instance: this.instance,
      ownerKeys: () => listKeys(this.#jsm, BUCKETS.sessions, "o.*"),
    });
    handover.listen();
    const link: PeerLink = {
      routing: "stream",
      adoptsOrphans: true,
      forward: (message, batch) => router.forward(message, batch),
      claim: (clientId, clean, client) => handover.claim(clientId, clean, client),
      settled: () => router.settled(),
      interestChanged: (filter, group, present) => router.filterChanged(filter, group, present),
      status: () => this.status(),
    };
    attach(link);
    const heartbeats = this.#heartbeats;
    await heartbeats.beat();
    // Failures here are NATS faults being waited out (each step runs again next period).
    const failed = (what: string) => (err: unknown) =>
      log.warn("Cluster: {what} failed: {error}", { what, error: String(err) });
    this.#timer = setInterval(() => {
      heartbeats.beat().then(() => heartbeats.fenceIfDeclaredDead(port, log))
        .catch(failed("heartbeat"));
      feed.check().catch(() => {});
      if (this.#sweeping) return;
      this.#sweeping = true;
      heartbeats.sweep(handover, log).catch(failed("looking for stopped nodes"))
        .finally(() => this.#sweeping = false);
    }, this.#options.heartbeatMs ?? 1000);
    log.info("Cluster node {node} joined as {instance} through NATS server {server}", {
      node: this.nodeId,
      instance: this.instance,
      server: this.#nc.getServer(),
    });
  }

  /** NATS subscriptions this node holds for the filters its sessions use (for tests and diagnosis). */
  get natsSubscriptions(): number {
    return this.#router?.subscriptionCount ?? 0;
  }

  /** The node's NATS connection state and the faults it waited out (for the metrics). */
  status(): PeerStatus {
    return {
      connected: !this.#nc.isClosed() && this.#connected,
      ...this.#status,
      retries: this.#status.retries + (this.#router?.publishRetries ?? 0),
    };
  }

  #connected = true;

  /** Logs and counts NATS disconnects and reconnects (nats.js reconnects by itself, to any server). */
  #followStatus(log: Logger): void {
    (async () => {
      for await (const s of this.#nc.status()) {
        if (s.type === Events.Disconnect) {
          this.#connected = false;
          this.#status.disconnects++;
          if (!this.#closing) log.warn("Cluster: lost the NATS server {server}", { server: String(s.data) });
        } else if (s.type === Events.Reconnect) {
          this.#connected = true;
          this.#status.reconnects++;
          log.warn("Cluster: reconnected to the NATS server {server}", { server: String(s.data) });
        }
      }
    })().catch(() => {});
  }

  /** Loads every retained message, then follows changes made by any node. */
  async #syncRetained(port: PeerPort, log: Logger): Promise<void> {
    let ready!: () => void;
    const initialised = new Promise<void>((resolve) => ready = resolve);
    const watch = await this.#kv.retained.watch({ initializedFn: () => ready() });
    this.#watch = watch;
    (async () => {
      for await (const entry of watch) {
        try {
          if (entry.operation === "PUT") {
            const message = decodeRetained(entry.value);
            port.retainedChanged(message.topic, message);
          } else {
            port.retainedChanged(tokensToTopic(entry.key), undefined);
          }
        } catch (err) {
          log.warn("Retained entry {key} unreadable: {error}", { key: entry.key, error: String(err) });
        }
      }
    })();
    await initialised;
  }

  /** Stops following the cluster and closes the NATS connection (after the broker closed). */
  async close(): Promise<void> {
    this.#closing = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    // The broker has stored everything by now: the node that adopts its sessions replays less.
    if (this.#feed !== undefined) await this.#heartbeats.beat().catch(() => {});
    this.#watch?.stop();
    this.#router?.close();
    await this.#feed?.stop();
    await this.#nc.drain().catch(() => {});
  }
}

async function retrying<T>(step: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await step();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function waitForLeader(leader: () => Promise<string | undefined>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await leader().catch(() => undefined);
    if (found) return;
    if (Date.now() > deadline) throw new Error("JetStream stream has no leader");
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A node's NATS connection, JetStream client and concrete store, for tests and tools.
 * Not part of the package's API.
 */
export function natsOf(
  node: ClusterNode,
): { nc: NatsConnection; js: JetStreamClient; store: JetStreamStore } {
  return natsOfNode(node);
}

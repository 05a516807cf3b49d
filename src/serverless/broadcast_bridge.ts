/**
 * Cross-instance delivery for serverless hosts. Each isolate runs its own broker;
 * isolates that share a BroadcastChannel name forward to each other what they route,
 * and announce which client ids they serve so that an older connection elsewhere is
 * closed and its session handed over through the shared store. What this can and
 * cannot guarantee is in docs/deploy.md.
 *
 * The bridge is one of the engine's two peer implementations (src/broker/peers.ts): the
 * engine forwards to it what it accepts and asks it for a client's session on CONNECT;
 * the bridge reaches the engine only through the PeerPort it is given.
 *
 * Loops are impossible by construction, not by filtering: a notice is posted only for
 * what the engine forwards, and messages received from peers are delivered through the
 * port, which runs no hook and forwards nothing. BroadcastChannel never delivers a
 * message to the object that posted it, so each instance sees each message once.
 *
 * Notices are posted in batches: Deno's in-process BroadcastChannel keeps only a few
 * hundred undelivered messages per receiver and silently drops the rest (measured:
 * 261 of 1000 posted in one turn arrived; 4539 of 5000 QoS 0 messages from one
 * WebSocket client with one post per event-loop task), so one post per message
 * loses bursts. Batches are numbered, and a receiver that sees a gap counts and logs it.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { type Broker, peersOf } from "../public_broker.ts";
import type { HookClient } from "../broker/hooks.ts";
import type { PeerClaim, PeerLink, PeerPort } from "../broker/peers.ts";
import type { LoadedSession, StoredMessage } from "../persistence/store.ts";
import { identityOf, judgeOwner } from "../broker/session_owner.ts";
import type { SharedKvStore } from "./shared_kv_store.ts";

/** A message routed by one instance, for the others' subscribers. */
export interface PublishNotice {
  kind: "publish";
  from: string;
  message: StoredMessage;
}

/** An instance accepted a connection for `clientId` at broker-clock time `at`. */
export interface TakeoverNotice {
  kind: "takeover";
  from: string;
  clientId: string;
  at: number;
  /**
   * The identity that connected (a user name, null when anonymous): an instance holding
   * the client id for another user keeps it (src/broker/session_owner.ts). Absent from
   * instances of older versions, whose notices are obeyed as before.
   */
  identity?: string | null;
}

/** An instance gave up `clientId` after `to`'s takeover notice; its writes are in the store. */
export interface ReleasedNotice {
  kind: "released";
  from: string;
  clientId: string;
  to: string;
}

/** One notice. */
export type BridgeNotice = PublishNotice | TakeoverNotice | ReleasedNotice;

/** What travels on the channel (structured clone): one instance's notices of one turn, in order. */
export interface BridgeBatch {
  from: string;
  /** 1, 2, 3… per instance: a gap means the channel dropped batches. */
  seq: number;
  notices: BridgeNotice[];
}

/**
 * How a {@link BroadcastBridge} joins its instance to the others.
 *
 * @example
 * ```ts
 * import type { BroadcastBridgeOptions } from "../serverless_mod.ts";
 * const options: BroadcastBridgeOptions = { channel: "my-app", releaseWaitMs: 500 };
 * console.log(options.channel);
 * ```
 */
export interface BroadcastBridgeOptions {
  /** The BroadcastChannel name the instances share (default "deno-mqtt"). */
  channel?: string;
  /** This instance's id in notices (default a random UUID). */
  instanceId?: string;
  /**
   * The shared store: sessions of clients that connected elsewhere before are taken from it,
   * and the retained messages are loaded from it at start ({@link BroadcastBridge.ready}).
   */
  store?: SharedKvStore;
  /** How long to wait for the instance holding a session to release it (default 250 ms). */
  releaseWaitMs?: number;
}

/** Batches posted at once within one millisecond before further notices wait for a timer. */
const IMMEDIATE_POSTS_PER_MS = 2;

/**
 * A bridge's counters, for tests and the logs ({@link BroadcastBridge.counts}).
 *
 * @example
 * ```ts
 * import type { BridgeCounts } from "../serverless_mod.ts";
 * const lossy = (c: BridgeCounts) => c.lostBatches > 0;
 * console.log(lossy({ sent: 1, received: 1, released: 0, lostBatches: 0 }));
 * ```
 */
export interface BridgeCounts {
  /** Notices posted. */
  sent: number;
  /** Notices received. */
  received: number;
  /** Client ids given up to another instance. */
  released: number;
  /** Batches from peers that never arrived (dropped by the channel). */
  lostBatches: number;
}

/**
 * Links one broker to its peer instances over a BroadcastChannel.
 *
 * @example
 * ```ts
 * import { Broker } from "../mod.ts";
 * import { BroadcastBridge } from "./broadcast_bridge.ts";
 * const broker = new Broker();
 * const bridge = new BroadcastBridge(broker, { channel: "example" }); // links itself to the broker
 * await broker.start();
 * await bridge.ready(); // handle what peers sent while the broker was starting
 * bridge.close();
 * await broker.close();
 * ```
 */
export class BroadcastBridge {
  /** This instance's id in notices. */
  readonly instanceId: string;
  /** Notices sent and received, sessions released, batches lost. */
  readonly counts: BridgeCounts = { sent: 0, received: 0, released: 0, lostBatches: 0 };
  readonly #port: PeerPort;
  readonly #channel: BroadcastChannel;
  readonly #log = getLogger(["mqtt", "bridge"]);
  /** When each locally connected client id connected, to decide which of two connections is newer. */
  readonly #connectedAt = new Map<string, number>();
  /** Batches held until the broker has loaded its state (null once ready). */
  #pending: BridgeBatch[] | null = [];
  /** Notices waiting to be posted together (see #post). */
  #outbox: BridgeNotice[] = [];
  #seq = 0;
  #windowStart = 0;
  #windowPosts = 0;
  /** The last batch number seen from each peer. */
  readonly #lastSeq = new Map<string, number>();
  readonly #store: SharedKvStore | undefined;
  readonly #releaseWaitMs: number;
  /** Takeovers of this instance waiting for the previous holder's release, by client id. */
  readonly #releases = new Map<string, () => void>();

  /**
   * Opens the channel (buffering what arrives) and links `broker` to its peers through it
   * (before the broker starts).
   */
  constructor(broker: Broker, options: BroadcastBridgeOptions = {}) {
    const { port, attach } = peersOf(broker);
    this.#port = port;
    this.instanceId = options.instanceId ?? crypto.randomUUID();
    this.#store = options.store;
    this.#releaseWaitMs = options.releaseWaitMs ?? 250;
    this.#channel = new BroadcastChannel(options.channel ?? "deno-mqtt");
    this.#channel.onmessage = (event: MessageEvent<BridgeBatch>) => this.#receive(event.data);
    attach(this.#link());
    // Which of two connections of one client id is newer is decided by when each was accepted.
    broker.use({
      onConnect: (client) => this.#connected(client),
      onDisconnect: (client) => {
        this.#connectedAt.delete(client.clientId);
      },
    });
  }

  /** What the engine asks of its peers (src/broker/peers.ts), over the channel. */
  #link(): PeerLink {
    return {
      // Every instance routes what it accepts at once; its peers get a copy.
      routing: "local",
      // An isolate that stops leaves its sessions in KV, for their clients to claim elsewhere.
      adoptsOrphans: false,
      forward: (message) => this.#forward(message),
      claim: (clientId, clean, client) => this.#claim(clientId, clean, client),
      // Every message goes to every instance: there is no interest to route by.
      settled: () => undefined,
      interestChanged: () => {},
      status: () => undefined,
    };
  }

  /**
   * Loads the retained messages from the shared store (after the broker started), then
   * applies the notices that arrived meanwhile, and from then on applies them as they
   * come. Opening the channel before the store is read means a retained message set
   * while this instance was loading is not missed: its notice lands after the load.
   */
  async ready(): Promise<void> {
    if (this.#store !== undefined) {
      const now = this.#port.now();
      for (const message of await this.#store.loadRetained()) {
        if (message.expiresAt === undefined || message.expiresAt > now) {
          this.#port.retainedChanged(message.topic, message);
        }
      }
    }
    const pending = this.#pending ?? [];
    this.#pending = null;
    for (const batch of pending) this.#applyBatch(batch);
  }

  /** Posts what is waiting and closes the channel. */
  close(): void {
    this.#flush();
    this.#channel.close();
  }

  /** A message this instance accepted, for the other instances' subscribers. */
  #forward(message: StoredMessage): void {
    // The notice is cloned when its batch is posted, a little later. A QoS 0 payload may be a
    // view into a read buffer that is reused by then (and cloning a view clones all of its buffer):
    // copy it. A payload that fills its buffer is the broker's own copy.
    const whole = message.payload.byteLength === message.payload.buffer.byteLength;
    const stored: StoredMessage = {
      topic: message.topic,
      payload: whole ? message.payload : message.payload.slice(),
      qos: message.qos,
      retain: message.retain,
    };
    if (message.properties !== undefined) stored.properties = { ...message.properties };
    if (message.origin !== undefined) stored.origin = message.origin;
    this.#post({ kind: "publish", from: this.instanceId, message: stored });
  }

  #connected(client: HookClient): void {
    const at = this.#port.now();
    this.#connectedAt.set(client.clientId, at);
    const identity = identityOf(client.username);
    this.#post({ kind: "takeover", from: this.instanceId, clientId: client.clientId, at, identity });
  }

  /**
   * PeerLink.claim: a session this instance does not hold may be in the shared store, and held
   * by another instance (see {@link #load}); it is adopted here unless it belongs to another user,
   * which refuses the CONNECT. A session held here is judged by the engine when it attaches it.
   */
  async #claim(clientId: string, clean: boolean, client: { username?: string }): Promise<PeerClaim> {
    const port = this.#port;
    if (port.held(clientId) !== undefined) return { refused: false };
    const loaded = await this.#load(clientId, clean, client);
    // Another connection may have created the session while the store was read.
    if (loaded === undefined || port.held(clientId) !== undefined) return { refused: false };
    const identity = identityOf(client.username);
    if (judgeOwner(loaded.session.username, identity, true, port.foreignSession) !== "resume") {
      return { refused: true };
    }
    // With Clean Start the engine discards it when it attaches the CONNECT, which deletes the stored copy.
    port.adopt(loaded);
    return { refused: false };
  }

  /**
   * A client connects here whose session this instance does not hold: announce the
   * takeover, and read the session from the shared store. When a copy is stored, the
   * instance holding it (if any is still running) closes it, writes what it has and
   * says so; the copy is read again after that, or after `releaseWaitMs` without answer.
   * A copy stored for another user is returned without announcing anything: the broker
   * refuses the CONNECT, and the instance serving that user keeps its connection.
   */
  async #load(
    clientId: string,
    clean: boolean,
    client: { username?: string },
  ): Promise<LoadedSession | undefined> {
    const store = this.#store;
    if (store === undefined) return undefined;
    const identity = identityOf(client.username);
    const first = await store.loadSession(clientId);
    if (first !== undefined && judgeOwner(first.session.username, identity, true, "refuse") === "refuse") {
      return first;
    }
    const release = this.#awaitRelease(clientId);
    try {
      const at = this.#port.now();
      this.#post({ kind: "takeover", from: this.instanceId, clientId, at, identity });
      // With Clean Start the copy is only read to be deleted: its contents do not matter.
      if (first === undefined || clean) return first;
      return await release.within(this.#releaseWaitMs) ? await store.loadSession(clientId) : first;
    } finally {
      release.cancel();
    }
  }

  #awaitRelease(clientId: string): { within(ms: number): Promise<boolean>; cancel(): void } {
    let settle!: (released: boolean) => void;
    const released = new Promise<boolean>((resolve) => settle = resolve);
    let timer: ReturnType<typeof setTimeout> | undefined;
    this.#releases.set(clientId, () => settle(true));
    return {
      within: (ms) => {
        timer = setTimeout(() => settle(false), ms);
        return released;
      },
      cancel: () => {
        clearTimeout(timer);
        this.#releases.delete(clientId);
        settle(false);
      },
    };
  }

  #post(notice: BridgeNotice): void {
    this.#outbox.push(notice);
    if (this.#outbox.length > 1) return;
    // A few posts per millisecond go at the end of their turn, for the lowest latency; beyond
    // that, wait for the timer phase, so that the messages of many I/O tasks share one post.
    const now = performance.now();
    if (now - this.#windowStart >= 1) {
      this.#windowStart = now;
      this.#windowPosts = 0;
    }
    if (++this.#windowPosts <= IMMEDIATE_POSTS_PER_MS) queueMicrotask(() => this.#flush());
    else setTimeout(() => this.#flush(), 0);
  }

  #flush(): void {
    if (this.#outbox.length === 0) return;
    const notices = this.#outbox;
    this.#outbox = [];
    try {
      this.#channel.postMessage({ from: this.instanceId, seq: ++this.#seq, notices } satisfies BridgeBatch);
      this.counts.sent += notices.length;
    } catch (err) {
      // A closed channel (shutdown) or an uncloneable property: peers miss this batch.
      this.#log.warn("Cannot forward {count} notices to peer instances: {error}", {
        count: notices.length,
        error: String(err),
      });
    }
  }

  #receive(batch: BridgeBatch): void {
    this.counts.received += batch.notices.length;
    const last = this.#lastSeq.get(batch.from);
    if (last !== undefined && batch.seq > last + 1) {
      this.counts.lostBatches += batch.seq - last - 1;
      this.#log.warn("Missed {count} notice batches from instance {from}: the channel dropped them", {
        count: batch.seq - last - 1,
        from: batch.from,
      });
    }
    this.#lastSeq.set(batch.from, batch.seq);
    if (this.#pending !== null) this.#pending.push(batch);
    else this.#applyBatch(batch);
  }

  #applyBatch(batch: BridgeBatch): void {
    for (const notice of batch.notices) this.#apply(notice);
  }

  #apply(notice: BridgeNotice): void {
    if (notice.from === this.instanceId) return;
    if (notice.kind === "publish") return this.#deliver(notice.message);
    if (notice.kind === "takeover") return this.#takeover(notice);
    if (notice.to === this.instanceId) this.#releases.get(notice.clientId)?.();
  }

  #deliver(message: StoredMessage): void {
    // Expiry restarts from the arrival here: peers' clocks are not assumed to agree.
    const expiry = message.properties?.messageExpiryInterval;
    if (expiry !== undefined) message.expiresAt = this.#port.now() + expiry * 1000;
    this.#port.deliver(message).catch((err) =>
      this.#log.error("Message from a peer instance failed: {error}", { error: String(err) })
    );
    // The publishing instance stored the retained copy: the retained set here follows it.
    if (message.retain) {
      this.#port.retainedChanged(message.topic, message.payload.length === 0 ? undefined : message);
    }
  }

  /** Whether this instance holds the notice's client id for another identity than the notice's. */
  #keepsForOwner(notice: TakeoverNotice): boolean {
    const session = this.#port.held(notice.clientId);
    if (notice.identity === undefined || session === undefined) return false;
    return judgeOwner(session.owner, notice.identity, session.online, "refuse") === "refuse";
  }

  /**
   * [MQTT-3.1.4-3] across instances: of two connections with one client id, the newer
   * one stays and the older one is closed as taken over. Both instances decide the
   * same way (ties go to the larger instance id), so a crossing pair of notices still
   * leaves exactly one connection.
   */
  #takeover(notice: TakeoverNotice): void {
    if (this.#keepsForOwner(notice)) return;
    const local = this.#connectedAt.get(notice.clientId);
    if (
      local !== undefined && (local > notice.at || (local === notice.at && this.instanceId > notice.from))
    ) {
      return;
    }
    this.#connectedAt.delete(notice.clientId);
    // The newer connection's instance may be writing the session already: nothing more is written here.
    this.#port.release(notice.clientId, "detach").then(
      (released) => {
        if (!released) return;
        this.counts.released++;
        this.#post({ kind: "released", from: this.instanceId, clientId: notice.clientId, to: notice.from });
      },
      (err) =>
        this.#log.error("Cannot release {clientId}: {error}", {
          clientId: notice.clientId,
          error: String(err),
        }),
    );
  }
}

/**
 * This node's reading of the message stream. Every QoS 1/2 message the cluster accepts
 * is stored in the stream before its publisher is acknowledged, and every node — the
 * publisher's too — routes those messages to its sessions from here, in the stream's
 * order. So a node's progress is one number, the last stream sequence it routed (its
 * position), and what a session missed while it changed node is a range of sequences.
 *
 * An ordered consumer does the reading: when its server fails or messages go missing it
 * is recreated from the last sequence received, so a node that was cut off from NATS
 * carries on from where it was, without a gap.
 *
 * @module
 */
import type { ConsumerMessages, JetStreamClient, JsMsg } from "nats";
import type { StoredMessage } from "../persistence/store.ts";
import { decodeMessage, decodeOrigin, DURABLE_SUBJECTS } from "./message_wire.ts";
import { retryTransient } from "./nats_retry.ts";

export interface FeedOptions {
  js: JetStreamClient;
  stream: string;
  /** This node instance: its own messages come back through the stream too. */
  instance: string;
  /** Routes one message; resolves once what it queued is stored. */
  route(message: StoredMessage, own: boolean): Promise<void>;
  /** Whether stored state can still be trusted to follow routing (no store write failed). */
  storing(): boolean;
  onError(err: unknown): void;
  /** Told when the consumer had to be recreated (informational). */
  onRestart?(position: number): void;
  /** Behind the stream without moving for this long (ms), the consumer is recreated (default 3 s). */
  stallMs?: number;
}

interface Waiter {
  seq: number;
  resolve: (resume: () => void) => void;
}

const PULL_BATCH = 512;
/** A pull waits this long (ms); nats.js expects a heartbeat every half of it and resets after two missed. */
const PULL_EXPIRES_MS = 5_000;
/** Behind the stream without moving for this long (ms): the consumer is recreated where the feed is. */
const STALL_MS = 3_000;

export class StreamFeed {
  readonly #o: FeedOptions;
  #position: number;
  #durable: number;
  #holds = 0;
  readonly #buffer: JsMsg[] = [];
  #waiters: Waiter[] = [];
  #messages: ConsumerMessages | undefined;
  #stopped = false;
  /** Which consumer is current: a replaced one's closing must not start another. */
  #generation = 0;
  /** Where the feed was at the last check, and since when it has been behind without moving. */
  #checked = { position: -1, behindSince: 0 };

  private constructor(options: FeedOptions, position: number) {
    this.#o = options;
    this.#position = position;
    this.#durable = position;
  }

  /** Starts reading after the stream's current last message: nothing before it concerns a new node. */
  static async start(options: FeedOptions): Promise<StreamFeed> {
    const jsm = await options.js.jetstreamManager();
    const info = await retryTransient(() => jsm.streams.info(options.stream));
    const feed = new StreamFeed(options, info.state.last_seq);
    await feed.#open();
    return feed;
  }

  /** The last stream sequence routed here. */
  get position(): number {
    return this.#position;
  }

  /** The last stream sequence up to which everything routed here is stored. */
  get durable(): number {
    return this.#durable;
  }

  async #open(): Promise<void> {
    const generation = ++this.#generation;
    const consumer = await retryTransient(() =>
      this.#o.js.consumers.get(this.#o.stream, {
        filterSubjects: DURABLE_SUBJECTS,
        opt_start_seq: this.#position + 1,
      })
    );
    const messages = await consumer.consume({
      max_messages: PULL_BATCH,
      expires: PULL_EXPIRES_MS,
      callback: (m) => {
        if (generation === this.#generation) this.#receive(m);
      },
    });
    this.#messages = messages;
    messages.closed().then((err) => {
      if (this.#stopped || generation !== this.#generation) return;
      // The ordered consumer gave up (it normally recreates itself): start a new one where we are.
      if (err) this.#o.onError(err);
      this.#restart();
    });
  }

  /** Reads the stream again from the position on, with a new consumer. */
  #restart(): void {
    this.#generation++;
    this.#messages?.stop();
    this.#o.onRestart?.(this.#position);
    const again = () => {
      if (!this.#stopped) this.#open().catch((e) => (this.#o.onError(e), setTimeout(again, 1000)));
    };
    setTimeout(again, 100);
  }

  /**
   * Called periodically: when the feed is behind the stream and has not moved since the last
   * checks for `stallMs`, its consumer is gone with a NATS server that died (nats.js
   * notices that only after missed heartbeats and backs off): read again from the position on.
   */
  async check(): Promise<void> {
    const jsm = await this.#o.js.jetstreamManager();
    const last = (await jsm.streams.info(this.#o.stream)).state.last_seq;
    const now = Date.now();
    if (last <= this.#position || this.#position !== this.#checked.position || this.#holds > 0) {
      this.#checked = { position: this.#position, behindSince: now };
      return;
    }
    if (now - this.#checked.behindSince >= (this.#o.stallMs ?? STALL_MS)) {
      this.#checked = { position: this.#position, behindSince: now };
      this.#restart();
    }
  }

  #receive(m: JsMsg): void {
    if (this.#holds > 0) this.#buffer.push(m);
    else this.#route(m);
  }

  #route(m: JsMsg): void {
    const seq = m.seq;
    // A consumer recreated after a fault may resend what was already routed.
    if (seq <= this.#position) return;
    this.#position = seq;
    try {
      const message = decodeMessage(m.subject, m.data, m.headers);
      message.streamSeq = seq;
      const own = decodeOrigin(m.headers)?.node === this.#o.instance;
      this.#o.route(message, own).then(() => {
        // Commits complete in routing order; a failed one freezes the durable point for good.
        if (seq > this.#durable && this.#o.storing()) this.#durable = seq;
      });
    } catch (err) {
      // One unreadable message must not stop the feed.
      this.#o.onError(err);
    }
    if (this.#waiters.length > 0) this.#wake();
  }

  #wake(): void {
    const due = this.#waiters.filter((w) => w.seq <= this.#position);
    if (due.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => w.seq > this.#position);
    for (const w of due) w.resolve(this.hold());
  }

  /**
   * Stops routing until the returned function is called (messages wait meanwhile): what
   * happens in between happens at one exact position of the stream.
   */
  hold(): () => void {
    this.#holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.#holds > 0) return;
      while (this.#buffer.length > 0 && this.#holds === 0) this.#route(this.#buffer.shift()!);
    };
  }

  /**
   * Resolves, held (see {@link hold}), once the feed has routed `seq` or beyond; rejects
   * after `timeoutMs` (this node cannot read the stream).
   */
  holdAt(seq: number, timeoutMs: number): Promise<() => void> {
    if (this.#position >= seq) return Promise.resolve(this.hold());
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        seq,
        resolve: (resume) => {
          clearTimeout(timer);
          resolve(resume);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`the stream feed did not reach sequence ${seq} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Stops reading (shutdown). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#generation++;
    await this.#messages?.close().catch(() => {});
  }
}

/**
 * The read side of a transport that is handed its bytes by events (node TLS
 * sockets, WebSocket messages) rather than reading them: chunks are framed as
 * they arrive and queued as one batch per chunk until the engine asks for them.
 * Each chunk must be a fresh buffer, because the frames are views into it and
 * may wait in the queue.
 *
 * @module
 */
import { FrameSplitter, type FrameSplitterOptions } from "../protocol/frame_stream.ts";
import type { Frame } from "../protocol/packet.ts";
import type { FrameSource } from "./socket.ts";

/** Batches queued before a transport with `onWant` is asked to pause. */
const HIGH_WATER = 4;

export class PushedFrames implements FrameSource {
  readonly #splitter: FrameSplitter;
  readonly #onWant: (() => void) | undefined;
  readonly #queue: Frame[][] = [];
  #ended = false;
  #error: unknown = undefined;
  #waiter: { resolve: (batch: Frame[] | null) => void; reject: (err: unknown) => void } | null = null;

  /**
   * With `onWant` the transport is told when the queue has room again after
   * {@link wantsMore} turned false, so that it can pause while the engine is behind.
   */
  constructor(framing?: FrameSplitterOptions, onWant?: () => void) {
    this.#splitter = new FrameSplitter(framing);
    this.#onWant = onWant;
  }

  /** Frames `chunk`. False when it was malformed: the source has then ended with the error. */
  push(chunk: Uint8Array): boolean {
    if (this.#ended) return false;
    let batch: Frame[];
    try {
      batch = this.#splitter.push(chunk);
    } catch (err) {
      this.end(err);
      return false;
    }
    if (batch.length === 0) return true;
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      waiter.resolve(batch);
    } else this.#queue.push(batch);
    return true;
  }

  /** Whether the queue has room (a transport with `onWant` pauses when it has none). */
  get wantsMore(): boolean {
    return this.#queue.length < HIGH_WATER;
  }

  /** Ends the source, with `err` when given; queued batches are still handed out first. Idempotent. */
  end(err?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = err;
    // A packet cut off by the end gives its bytes back (to the broker's budget and the OS).
    this.#splitter.discard();
    const waiter = this.#waiter;
    this.#waiter = null;
    if (waiter === null) return;
    if (err === undefined) waiter.resolve(null);
    else waiter.reject(err);
  }

  next(): Promise<Frame[] | null> {
    const batch = this.#queue.shift();
    if (batch !== undefined) {
      if (this.#queue.length === HIGH_WATER - 1) this.#onWant?.();
      return Promise.resolve(batch);
    }
    if (this.#ended) return this.#error === undefined ? Promise.resolve(null) : Promise.reject(this.#error);
    this.#onWant?.();
    return new Promise((resolve, reject) => this.#waiter = { resolve, reject });
  }
}

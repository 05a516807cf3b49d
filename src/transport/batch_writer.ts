/**
 * The write side of a connection: every packet queued during one turn of the
 * event loop is coalesced and handed to the sink from a microtask (measured
 * here: ~2M msgs/s coalesced, ~100k awaiting each write, ~500/s with
 * setTimeout). While a write is in progress new bytes collect behind it.
 * Partial writes are looped until everything is written.
 *
 * Bytes are copied into chunks borrowed from pools shared by all writers and
 * returned once written. A connection therefore holds no buffer
 * while it is idle, a burst of large messages never reallocates and re-copies
 * a growing buffer (16 KiB fan-out spent a fifth of its time doing that), and
 * in steady state nothing is allocated per flush.
 *
 * A large PUBLISH payload (at least SHARED_PAYLOAD_MIN) is not copied: it takes a place of
 * its own in the list, written straight from the message (which never changes), so that a
 * message fanned out to many subscribers is copied by none of them. Its head is copied as
 * usual and small packets that follow go to a fresh chunk, so small messages stay coalesced.
 *
 * What a flush allocates besides the write itself is kept small, since at a moderate rate
 * (one message per turn) it is paid per message: the writers with bytes queued in a turn
 * are flushed from one shared microtask, and a write continues from one callback per
 * writer rather than from an async function (whose frame, promises and closures were
 * about half a kilobyte per flush, which the QoS 1 tail paid as young-generation
 * collections: docs/benchmarks.md).
 *
 * @module
 */
import { type EncodedPublish, SHARED_PAYLOAD_MIN } from "../protocol/publish.ts";

/** Writes some prefix of `bytes`, resolving with how many bytes were written. */
export type WriteSink = (bytes: Uint8Array) => Promise<number>;

/**
 * Two chunk sizes: a flush starts in a small chunk, so that one message fanned out to
 * 10 000 connections in one turn borrows 20 MiB rather than 2.5 GiB; what does not fit
 * continues in large ones.
 */
const SMALL = 2 * 1024;
/** Large chunks of 256 KiB: 16 KiB fan-out ran at 0.85–0.93× Mosquitto with 64 KiB, 0.98–1.17× with these. */
const LARGE = 256 * 1024;
/** Free chunks kept for reuse (8 MiB of each size); beyond that, returned chunks go to the GC. */
const smallPool: Uint8Array[] = [];
const largePool: Uint8Array[] = [];
const SMALL_POOL_LIMIT = 4096;
const LARGE_POOL_LIMIT = 32;

function borrow(first: boolean, size: number): Uint8Array {
  if (first && size <= SMALL) return smallPool.pop() ?? new Uint8Array(SMALL);
  if (size <= LARGE) return largePool.pop() ?? new Uint8Array(LARGE);
  return new Uint8Array(size); // an oversized PUBLISH head: a one-off buffer
}

/** What a list holds where a written chunk was. */
const NO_CHUNK = new Uint8Array(0);

/**
 * Chunks in write order, how much of each is filled (the last one is being filled) and
 * which of them are shared payloads: written but never filled, nor given back to a pool.
 */
class ChunkList {
  readonly chunks: Uint8Array[] = [];
  readonly lengths: number[] = [];
  readonly shared: boolean[] = [];
  count = 0;
}

/**
 * Empty lists for reuse. A writer holds a list only while it has bytes queued and another
 * while it writes them, and gives each back once empty: an idle connection holds none (the
 * capacity of a writer's own lists was ~800 B per idle connection), and in steady state a
 * flush allocates no list (nor truncates one, which gives up its capacity).
 */
const listPool: ChunkList[] = [];
const LIST_POOL_LIMIT = 1024;
/** A list grown longer than this (a burst) goes to the GC rather than keep its capacity. */
const LIST_KEEP_MAX = 256;

/** Empty chunk lists held by the pool (for tests). */
export function pooledChunkLists(): number {
  return listPool.length;
}

function takeList(): ChunkList {
  return listPool.pop() ?? new ChunkList();
}

/** Takes back a list whose chunks were all written (each place holds NO_CHUNK). */
function giveBackList(list: ChunkList): void {
  if (list.chunks.length > LIST_KEEP_MAX || listPool.length >= LIST_POOL_LIMIT) return;
  list.count = 0;
  listPool.push(list);
}

function giveBack(chunk: Uint8Array): void {
  if (chunk.length === SMALL) {
    if (smallPool.length < SMALL_POOL_LIMIT) smallPool.push(chunk);
  } else if (chunk.length === LARGE && largePool.length < LARGE_POOL_LIMIT) largePool.push(chunk);
}

export class BatchWriter {
  readonly #sink: WriteSink;
  readonly #onClose: () => void;
  readonly #onError: (err: unknown) => void;
  /** The chunks waiting for the next flush (none while nothing is queued). */
  #queue: ChunkList | null = null;
  /** The chunks being written, the one being written and how much of it is done. */
  #writing: ChunkList | null = null;
  #index = 0;
  #offset = 0;
  #queued = 0;
  #inFlight = 0;
  #scheduled = false;
  #closing = false;
  #closed = false;
  /**
   * What the sink's promise settles with: the bytes written, or the error. One callback per
   * writer for both outcomes (a number is a write, anything else a failure).
   */
  readonly #settled = (result: unknown): void => {
    if (typeof result === "number") this.#written(result);
    else this.#failed(result);
  };

  constructor(sink: WriteSink, options: { onClose?: () => void; onError?: (err: unknown) => void } = {}) {
    this.#sink = sink;
    this.#onClose = options.onClose ?? (() => {});
    this.#onError = options.onError ?? (() => {});
  }

  /** Bytes queued or being written. */
  get bufferedBytes(): number {
    return this.#queued + this.#inFlight;
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(bytes: Uint8Array): void {
    if (this.#closing) return;
    this.#copy(bytes);
    this.#schedule();
  }

  /**
   * Queues a PUBLISH: its head (with the packet id patched in the copy, the encoding is left
   * as it is) followed by its payload. Nothing of `encoded` is kept.
   */
  writePublish(encoded: EncodedPublish, packetId: number): void {
    if (this.#closing) return;
    // The head goes in one piece so that the packet id can be patched in the copy.
    const n = encoded.headLength;
    const last = this.#room(n);
    const queue = this.#queue!;
    const chunk = queue.chunks[last];
    const at = queue.lengths[last];
    const head = encoded.head;
    if (n === head.length) chunk.set(head, at);
    else if (n <= 64) { for (let i = 0; i < n; i++) chunk[at + i] = head[i]; // no view for a short head
     } else chunk.set(head.subarray(0, n), at);
    const packetIdOffset = encoded.packetIdOffset;
    if (packetIdOffset >= 0) {
      chunk[at + packetIdOffset] = packetId >> 8;
      chunk[at + packetIdOffset + 1] = packetId & 0xff;
    }
    queue.lengths[last] = at + n;
    this.#queued += n;
    const payload = encoded.payload;
    if (payload.length >= SHARED_PAYLOAD_MIN) this.#share(payload);
    else this.#copy(payload);
    this.#schedule();
  }

  /** Flushes what is queued, then calls onClose once. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#writing === null && !this.#scheduled) this.#finish();
  }

  /**
   * The index of a chunk with at least `n` contiguous free bytes, borrowing one if needed.
   * After a shared payload the next chunk starts small again, as a flush's first does: the
   * heads between large payloads are a few dozen bytes each.
   */
  #room(n: number): number {
    const queue = this.#queue ??= takeList();
    const last = queue.count - 1;
    if (last >= 0 && !queue.shared[last] && queue.chunks[last].length - queue.lengths[last] >= n) return last;
    queue.chunks[last + 1] = borrow(last < 0 || queue.shared[last], n);
    queue.lengths[last + 1] = 0;
    queue.shared[last + 1] = false;
    return queue.count++;
  }

  /** Queues `payload` by reference: a place of its own in the list, full from the start. */
  #share(payload: Uint8Array): void {
    const queue = this.#queue ??= takeList();
    const at = queue.count++;
    queue.chunks[at] = payload;
    queue.lengths[at] = payload.length;
    queue.shared[at] = true;
    this.#queued += payload.length;
  }

  /** Copies `bytes` in, across as many chunks as it takes. */
  #copy(bytes: Uint8Array): void {
    let offset = 0;
    while (offset < bytes.length) {
      const last = this.#room(1);
      const queue = this.#queue!;
      const chunk = queue.chunks[last];
      const at = queue.lengths[last];
      const n = Math.min(chunk.length - at, bytes.length - offset);
      chunk.set(offset === 0 && n === bytes.length ? bytes : bytes.subarray(offset, offset + n), at);
      queue.lengths[last] = at + n;
      offset += n;
    }
    this.#queued += bytes.length;
  }

  /**
   * The writers with bytes queued in this turn, flushed together from one microtask: at one
   * message per turn, a microtask per writer was one more allocation per message.
   */
  static #due: (BatchWriter | undefined)[] = [];
  static #dueCount = 0;

  static #flushDue = (): void => {
    const writers = BatchWriter.#due;
    let failure: { err: unknown } | undefined;
    // Writers made due while these flush (none today: a flush only starts a write) go after them.
    for (let i = 0; i < BatchWriter.#dueCount; i++) {
      const writer = writers[i]!;
      writers[i] = undefined; // (not kept: a writer that was closed can be collected)
      try {
        writer.#flush();
      } catch (err) {
        failure ??= { err }; // (an onClose or onError callback threw) the other writers still flush
      }
    }
    BatchWriter.#dueCount = 0;
    if (failure !== undefined) throw failure.err;
  };

  #schedule(): void {
    if (this.#scheduled || this.#writing !== null) return;
    this.#scheduled = true;
    // By index rather than push and `length = 0`, which gave up the list's capacity every turn.
    BatchWriter.#due[BatchWriter.#dueCount++] = this;
    if (BatchWriter.#dueCount === 1) queueMicrotask(BatchWriter.#flushDue);
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#queued === 0 || this.#closed) {
      if (this.#closing) this.#finish();
      return;
    }
    this.#writing = this.#queue;
    this.#queue = null;
    this.#index = 0;
    this.#offset = 0;
    this.#inFlight = this.#queued;
    this.#queued = 0;
    this.#writeNext();
  }

  /** Hands the sink what is left of the current chunk. */
  #writeNext(): void {
    const writing = this.#writing!;
    const chunk = writing.chunks[this.#index];
    let promise: Promise<number>;
    try {
      promise = this.#sink(chunk.subarray(this.#offset, writing.lengths[this.#index]));
    } catch (err) {
      return this.#failed(err);
    }
    promise.then(this.#settled, this.#settled);
  }

  #written(n: number): void {
    if (n <= 0) return this.#failed(new Error("write returned no progress"));
    const writing = this.#writing!;
    this.#offset += n;
    if (this.#offset < writing.lengths[this.#index]) return this.#writeNext();
    // Written: the sink no longer needs the bytes (sinks that keep them copy them). A shared
    // payload belongs to its message: it must never be lent out as a chunk to fill.
    if (!writing.shared[this.#index]) giveBack(writing.chunks[this.#index]);
    // Nor does this writer: the list must not keep a chunk that is lent to another one now.
    writing.chunks[this.#index] = NO_CHUNK;
    this.#offset = 0;
    if (++this.#index < writing.count) return this.#writeNext();
    this.#writing = null;
    giveBackList(writing);
    this.#inFlight = 0;
    if (this.#queued > 0) this.#schedule();
    else if (this.#closing) this.#finish();
  }

  #failed(err: unknown): void {
    // The lists are dropped, not pooled: they may still hold chunks.
    this.#writing = null;
    this.#inFlight = 0;
    this.#queued = 0;
    this.#queue = null;
    this.#onError(err);
    this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    this.#queue = null;
    this.#onClose();
  }
}

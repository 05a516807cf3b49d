/**
 * Framing: bytes in, MQTT control packet frames out. FrameSplitter is the pure
 * core (one call per chunk, frames pointing into the chunk); FrameStream wraps
 * it as a Web Streams TransformStream that emits one batch per chunk.
 *
 * @module
 */
import { malformed, ProtocolError, protocolError } from "./errors.ts";
import { type Frame, Reason } from "./packet.ts";
import { readVarint } from "./reader.ts";
import type { ReceiveBudget } from "./receive_budget.ts";

/** A {@link Frame}: offsets into the chunk it was framed from, and a view only if asked for. */
export class FrameView implements Frame {
  header: number;
  bytes: Uint8Array;
  start: number;
  end: number;
  #body: Uint8Array | null = null;

  constructor(header: number, bytes: Uint8Array, start: number, end: number) {
    this.header = header;
    this.bytes = bytes;
    this.start = start;
    this.end = end;
  }

  get body(): Uint8Array {
    return this.#body ??= this.bytes.subarray(this.start, this.end);
  }

  /** Points this frame (reused, see FrameSplitter.recycle) at another packet. */
  reset(header: number, bytes: Uint8Array, start: number, end: number): void {
    this.header = header;
    this.bytes = bytes;
    this.start = start;
    this.end = end;
    this.#body = null;
  }
}

/** A frame of `header` and `body` (a whole packet body held on its own, e.g. in tests). */
export function frameOf(header: number, body: Uint8Array): Frame {
  return new FrameView(header, body, 0, body.length);
}

/**
 * Batches and frames given back with {@link FrameSplitter.recycle}, reused by any splitter's
 * next push: a busy connection's batch then costs no array and no object per packet, and
 * an idle one holds none (it gives its last batch back before waiting for the next read).
 */
const spareBatches: FrameView[][] = [];
const spareFrames: FrameView[] = [];
const SPARE_BATCHES = 256;
const SPARE_FRAMES = 4096;
const NO_BYTES = new Uint8Array(0);

/** The largest packet the protocol can express: 1 + 4 + 268 435 455 bytes. */
export const PROTOCOL_MAX_PACKET_SIZE = 268_435_460;

/**
 * Bodies up to this size are allocated whole when their header arrives (cheap, and most
 * packets cut by a chunk boundary are small); larger ones grow as their bytes arrive.
 */
const WHOLE_BODY_MAX = 64 * 1024;
/** A growing body is extended in steps of this many bytes. */
const GROW_STEP = 64 * 1024;

export interface FrameSplitterOptions {
  /** Largest whole packet accepted, in bytes. Larger ones fail with 0x95 before their body is buffered. */
  maxPacketSize?: number;
  /**
   * Largest first packet (the CONNECT, which arrives before anyone is authenticated), in
   * bytes; larger ones fail with 0x95 from their header.
   */
  maxFirstPacketSize?: number;
  /**
   * Shared by the splitters of all connections: the bytes they hold in packets still
   * arriving. A packet whose next bytes do not fit fails with 0x89 Server busy.
   */
  budget?: ReceiveBudget;
}

export class FrameSplitter {
  maxPacketSize: number;
  readonly #maxFirstPacketSize: number;
  readonly #budget: ReceiveBudget | undefined;
  /** True until the first frame was produced: the first packet has its own limit. */
  #first = true;
  /** Bytes of a fixed header cut by a chunk boundary (at most 5); allocated the first time one is. */
  #head: Uint8Array | null = null;
  #headLength = 0;
  /**
   * The body being assembled across chunks: allocated whole when small; otherwise a view
   * of a resizable buffer that grows as bytes arrive, so that a declared length costs
   * nothing until it is sent, and that gives its memory back at once when shrunk.
   */
  #body: Uint8Array | null = null;
  #growing: ArrayBuffer | null = null;
  #bodyLength = 0;
  #bodyFilled = 0;
  #bodyHeader = 0;
  /** Bytes of the body reserved from the budget. */
  #reserved = 0;
  /** The last batch returned by push, until the caller gives it back with recycle(). */
  #lent: FrameView[] | null = null;
  /** Frames in the batch being built (written by index: a reused batch keeps its capacity). */
  #count = 0;
  /** The size of the variable byte integer {@link #readLength} read last. */
  #lengthBytes = 0;

  constructor(options: FrameSplitterOptions = {}) {
    this.maxPacketSize = options.maxPacketSize ?? PROTOCOL_MAX_PACKET_SIZE;
    this.#maxFirstPacketSize = options.maxFirstPacketSize ?? PROTOCOL_MAX_PACKET_SIZE;
    this.#budget = options.budget;
  }

  /** Bytes held for an incomplete packet (an idle connection holds none). */
  get pendingBytes(): number {
    return this.#headLength + (this.#growing?.byteLength ?? this.#body?.length ?? 0);
  }

  /**
   * Returns the frames completed by `chunk` (its first `end` bytes). Frames wholly inside the
   * chunk point into it; a frame assembled across chunks has its own buffer. Valid until the
   * next push. On a ProtocolError the partial packet is dropped (its budget given back).
   */
  push(chunk: Uint8Array, end = chunk.length): Frame[] {
    try {
      return this.#split(chunk, end);
    } catch (err) {
      this.discard();
      throw err;
    }
  }

  /**
   * The caller is done with the batch the last push returned (and everything in it): its
   * array and frames may be handed out again, by any splitter. Optional; a read loop that
   * handles each batch before reading again calls it before each read.
   */
  recycle(): void {
    const batch = this.#lent;
    if (batch === null) return;
    this.#lent = null;
    for (let i = 0; i < batch.length && spareFrames.length < SPARE_FRAMES; i++) {
      // Not pointing into this connection's buffer any more: a spare must not keep it alive.
      batch[i].reset(0, NO_BYTES, 0, 0);
      spareFrames.push(batch[i]);
    }
    // Given back with its frames still in it: `length = 0` would also give up its capacity,
    // and the next push would allocate it again. The next batch overwrites them.
    if (spareBatches.length < SPARE_BATCHES) spareBatches.push(batch);
  }

  /**
   * Drops a partially received packet and gives its bytes back, to the budget and to the
   * operating system. The transport calls it when the connection ends. Idempotent.
   */
  discard(): void {
    this.#headLength = 0;
    this.#release();
  }

  #split(chunk: Uint8Array, chunkEnd: number): Frame[] {
    // An earlier batch not given back is the caller's to keep: this one is new.
    this.#lent = null;
    const frames = spareBatches.pop() ?? [];
    this.#count = 0;
    let offset = this.#resume(chunk, chunkEnd, frames);
    while (offset < chunkEnd) {
      const length = this.#readLength(chunk, offset + 1, chunkEnd);
      if (length < 0) {
        (this.#head ??= new Uint8Array(5)).set(chunk.subarray(offset, chunkEnd), 0);
        this.#headLength = chunkEnd - offset;
        break;
      }
      const headerSize = 1 + this.#lengthBytes;
      this.#checkSize(headerSize + length);
      const end = offset + headerSize + length;
      if (end <= chunkEnd) {
        frames[this.#count++] = frameAt(chunk[offset], chunk, offset + headerSize, end);
        this.#first = false;
        offset = end;
        continue;
      }
      this.#startBody(chunk[offset], length);
      this.#append(chunk.subarray(offset + headerSize, chunkEnd));
      break;
    }
    frames.length = this.#count;
    this.#lent = frames;
    return frames;
  }

  /**
   * The variable byte integer at `offset` (the remaining length), its size in #lengthBytes;
   * -1 when the chunk ends before it does. (readVarint's result object, without the object.)
   */
  #readLength(chunk: Uint8Array, offset: number, end: number): number {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < 4; i++) {
      if (offset + i >= end) return -1;
      const b = chunk[offset + i];
      value += (b & 0x7f) * multiplier;
      if ((b & 0x80) === 0) {
        this.#lengthBytes = i + 1;
        return value;
      }
      multiplier *= 128;
    }
    throw malformed("variable byte integer longer than 4 bytes");
  }

  /** Continues a packet cut by the previous chunk; returns where the chunk's new packets start. */
  #resume(chunk: Uint8Array, chunkEnd: number, frames: FrameView[]): number {
    let offset = 0;
    if (this.#headLength > 0) {
      const head = this.#head!;
      // Complete the fixed header one byte at a time (it is at most 5 bytes).
      while (offset < chunkEnd) {
        head[this.#headLength++] = chunk[offset++];
        const length = readVarint(head, 1, this.#headLength);
        if (length === null) {
          if (this.#headLength === 5) throw malformed("variable byte integer longer than 4 bytes");
          continue;
        }
        this.#checkSize(this.#headLength + length.value);
        this.#headLength = 0;
        this.#startBody(head[0], length.value);
        break;
      }
    }
    if (this.#body !== null && offset < chunkEnd) {
      const take = Math.min(this.#bodyLength - this.#bodyFilled, chunkEnd - offset);
      this.#append(chunk.subarray(offset, offset + take));
      offset += take;
    }
    if (this.#body !== null && this.#bodyFilled === this.#bodyLength) {
      const body = this.#growing === null ? this.#body : new Uint8Array(this.#growing, 0, this.#bodyLength);
      frames[this.#count++] = frameAt(this.#bodyHeader, body, 0, body.length);
      this.#first = false;
      // The engine owns the frame now: it is no longer a partial packet, nor this splitter's to shrink.
      this.#growing = null;
      this.#release();
    }
    return offset;
  }

  #startBody(header: number, length: number): void {
    this.#bodyHeader = header;
    this.#bodyLength = length;
    this.#bodyFilled = 0;
    if (length <= WHOLE_BODY_MAX) {
      this.#reserve(length);
      this.#body = new Uint8Array(length);
    } else {
      this.#growing = new ArrayBuffer(0, { maxByteLength: length });
      // Length-tracking: the view follows the buffer as it grows.
      this.#body = new Uint8Array(this.#growing);
    }
  }

  /** Copies the next bytes of the body, growing a large body to hold them first. */
  #append(bytes: Uint8Array): void {
    const needed = this.#bodyFilled + bytes.length;
    const growing = this.#growing;
    if (growing !== null && growing.byteLength < needed) {
      const size = Math.min(this.#bodyLength, Math.ceil(needed / GROW_STEP) * GROW_STEP);
      this.#reserve(size - growing.byteLength);
      growing.resize(size);
    }
    this.#body!.set(bytes, this.#bodyFilled);
    this.#bodyFilled = needed;
  }

  #reserve(n: number): void {
    const budget = this.#budget;
    if (budget === undefined) return;
    if (!budget.reserve(n)) {
      throw protocolError(
        Reason.ServerBusy,
        `partially received packets already hold ${budget.used} of the ${budget.limit} bytes allowed`,
      );
    }
    this.#reserved += n;
  }

  /** Gives back the body's reservation; a growing buffer still held here is shrunk to nothing. */
  #release(): void {
    this.#growing?.resize(0);
    this.#growing = null;
    this.#body = null;
    if (this.#reserved > 0) this.#budget!.release(this.#reserved);
    this.#reserved = 0;
  }

  #checkSize(total: number): void {
    const max = this.#first ? Math.min(this.maxPacketSize, this.#maxFirstPacketSize) : this.maxPacketSize;
    // A packet larger than the whole budget could never be received: it is too large, not early.
    const budget = this.#budget;
    const limit = budget === undefined ? max : Math.min(max, budget.limit);
    if (total > limit) {
      const what = this.#first && limit === this.#maxFirstPacketSize ? "first packet (CONNECT)" : "packet";
      throw new ProtocolError(
        Reason.PacketTooLarge,
        `${what} of ${total} bytes exceeds the maximum of ${limit}`,
      );
    }
  }
}

/** A frame from the spares, or a new one. */
function frameAt(header: number, bytes: Uint8Array, start: number, end: number): FrameView {
  const frame = spareFrames.pop();
  if (frame === undefined) return new FrameView(header, bytes, start, end);
  frame.reset(header, bytes, start, end);
  return frame;
}

/**
 * A TransformStream from byte chunks to batches of frames: one batch per chunk that
 * completes at least one frame (per-frame enqueues cost about 3x on this platform).
 * The producer must hand over fresh chunks: frames are views into them.
 */
export class FrameStream extends TransformStream<Uint8Array, Frame[]> {
  constructor(options: FrameSplitterOptions = {}) {
    const splitter = new FrameSplitter(options);
    super({
      transform(chunk, controller) {
        const frames = splitter.push(chunk);
        if (frames.length > 0) controller.enqueue(frames);
      },
      flush: () => splitter.discard(),
      cancel: () => splitter.discard(),
    });
  }
}

/**
 * Framing: bytes in, MQTT control packet frames out. FrameSplitter is the pure
 * core (one call per chunk, frames as views into the chunk); FrameStream wraps
 * it as a Web Streams TransformStream that emits one batch per chunk.
 *
 * @module
 */
import { malformed, ProtocolError, protocolError } from "./errors.ts";
import { type Frame, Reason } from "./packet.ts";
import { readVarint } from "./reader.ts";
import type { ReceiveBudget } from "./receive_budget.ts";

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
   * Returns the frames completed by `chunk`. Frames wholly inside the chunk are views into
   * it; a frame assembled across chunks has its own buffer. Valid until the next push.
   * On a ProtocolError the partial packet is dropped (its budget given back).
   */
  push(chunk: Uint8Array): Frame[] {
    try {
      return this.#split(chunk);
    } catch (err) {
      this.discard();
      throw err;
    }
  }

  /**
   * Drops a partially received packet and gives its bytes back, to the budget and to the
   * operating system. The transport calls it when the connection ends. Idempotent.
   */
  discard(): void {
    this.#headLength = 0;
    this.#release();
  }

  #split(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    let offset = this.#resume(chunk, frames);
    while (offset < chunk.length) {
      const length = readVarint(chunk, offset + 1);
      if (length === null) {
        (this.#head ??= new Uint8Array(5)).set(chunk.subarray(offset), 0);
        this.#headLength = chunk.length - offset;
        break;
      }
      const headerSize = 1 + length.bytes;
      this.#checkSize(headerSize + length.value);
      const end = offset + headerSize + length.value;
      if (end <= chunk.length) {
        frames.push({ header: chunk[offset], body: chunk.subarray(offset + headerSize, end) });
        this.#first = false;
        offset = end;
        continue;
      }
      this.#startBody(chunk[offset], length.value);
      this.#append(chunk.subarray(offset + headerSize));
      break;
    }
    return frames;
  }

  /** Continues a packet cut by the previous chunk; returns where the chunk's new packets start. */
  #resume(chunk: Uint8Array, frames: Frame[]): number {
    let offset = 0;
    if (this.#headLength > 0) {
      const head = this.#head!;
      // Complete the fixed header one byte at a time (it is at most 5 bytes).
      while (offset < chunk.length) {
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
    if (this.#body !== null && offset < chunk.length) {
      const take = Math.min(this.#bodyLength - this.#bodyFilled, chunk.length - offset);
      this.#append(chunk.subarray(offset, offset + take));
      offset += take;
    }
    if (this.#body !== null && this.#bodyFilled === this.#bodyLength) {
      const body = this.#growing === null ? this.#body : new Uint8Array(this.#growing, 0, this.#bodyLength);
      frames.push({ header: this.#bodyHeader, body });
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

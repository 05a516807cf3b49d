/**
 * Framing: bytes in, MQTT control packet frames out. FrameSplitter is the pure
 * core (one call per chunk, frames as views into the chunk); FrameStream wraps
 * it as a Web Streams TransformStream that emits one batch per chunk.
 *
 * @module
 */
import { malformed, protocolError } from "./errors.ts";
import { type Frame, Reason } from "./packet.ts";
import { readVarint } from "./reader.ts";

/** The largest packet the protocol can express: 1 + 4 + 268 435 455 bytes. */
export const PROTOCOL_MAX_PACKET_SIZE = 268_435_460;

export interface FrameSplitterOptions {
  /** Largest whole packet accepted, in bytes. Larger ones fail with 0x95 before their body is buffered. */
  maxPacketSize?: number;
}

export class FrameSplitter {
  maxPacketSize: number;
  /** Bytes of a fixed header cut by a chunk boundary (at most 5); allocated the first time one is. */
  #head: Uint8Array | null = null;
  #headLength = 0;
  /** The body being assembled across chunks, sized exactly once its length is known. */
  #body: Uint8Array | null = null;
  #bodyFilled = 0;
  #bodyHeader = 0;

  constructor(options: FrameSplitterOptions = {}) {
    this.maxPacketSize = options.maxPacketSize ?? PROTOCOL_MAX_PACKET_SIZE;
  }

  /** Bytes held for an incomplete packet (an idle connection holds none). */
  get pendingBytes(): number {
    return this.#headLength + (this.#body?.length ?? 0);
  }

  /**
   * Returns the frames completed by `chunk`. Frames wholly inside the chunk are views into
   * it; a frame assembled across chunks has its own buffer. Valid until the next push.
   */
  push(chunk: Uint8Array): Frame[] {
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
        offset = end;
        continue;
      }
      this.#startBody(chunk[offset], length.value, chunk.subarray(offset + headerSize));
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
        this.#startBody(head[0], length.value, new Uint8Array(0));
        break;
      }
    }
    if (this.#body !== null && offset < chunk.length) {
      const take = Math.min(this.#body.length - this.#bodyFilled, chunk.length - offset);
      this.#body.set(chunk.subarray(offset, offset + take), this.#bodyFilled);
      this.#bodyFilled += take;
      offset += take;
    }
    if (this.#body !== null && this.#bodyFilled === this.#body.length) {
      frames.push({ header: this.#bodyHeader, body: this.#body });
      this.#body = null;
    }
    return offset;
  }

  #startBody(header: number, length: number, available: Uint8Array): void {
    this.#bodyHeader = header;
    this.#body = new Uint8Array(length);
    this.#body.set(available, 0);
    this.#bodyFilled = available.length;
  }

  #checkSize(total: number): void {
    if (total > this.maxPacketSize) {
      throw protocolError(
        Reason.PacketTooLarge,
        `packet of ${total} bytes exceeds the maximum of ${this.maxPacketSize}`,
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
    });
  }
}

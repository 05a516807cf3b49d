/**
 * The Socket every transport hands the engine: its write side is always a
 * BatchWriter, so only the read side, the addresses and what the transport
 * itself still buffers differ.
 *
 * @module
 */
import type { EncodedPublish } from "../protocol/publish.ts";
import type { BatchWriter } from "./batch_writer.ts";
import type { FrameSource, Socket } from "./socket.ts";

/** What differs between transports. */
export interface SocketParts {
  remoteAddress: string;
  listener: string;
  frames: FrameSource;
  closed: Promise<void>;
  identity?: string;
  internal?: boolean;
  /** Bytes the transport holds beyond the writer's own (e.g. `ws.bufferedAmount`). */
  transportBuffered?: () => number;
}

/**
 * A class rather than an object literal of closures: one of these exists per connection,
 * and with 100 000 connections every closure and context it saves is memory (docs/benchmarks.md).
 */
class WriterSocket implements Socket {
  readonly remoteAddress: string;
  readonly listener: string;
  readonly frames: FrameSource;
  readonly closed: Promise<void>;
  readonly identity?: string;
  readonly internal?: boolean;
  readonly #writer: BatchWriter;
  readonly #transportBuffered: (() => number) | undefined;

  constructor(writer: BatchWriter, parts: SocketParts) {
    this.#writer = writer;
    this.remoteAddress = parts.remoteAddress;
    this.listener = parts.listener;
    this.frames = parts.frames;
    this.closed = parts.closed;
    if (parts.identity !== undefined) this.identity = parts.identity;
    if (parts.internal) this.internal = true;
    this.#transportBuffered = parts.transportBuffered;
  }

  write(bytes: Uint8Array): void {
    this.#writer.write(bytes);
  }

  writePublish(encoded: EncodedPublish, packetId: number): void {
    this.#writer.writePublish(encoded, packetId);
  }

  get bufferedBytes(): number {
    const extra = this.#transportBuffered;
    return extra === undefined ? this.#writer.bufferedBytes : this.#writer.bufferedBytes + extra();
  }

  close(): void {
    this.#writer.close();
  }
}

/** The Socket for a transport whose writes go through `writer`. */
export function writerSocket(writer: BatchWriter, parts: SocketParts): Socket {
  return new WriterSocket(writer, parts);
}

/**
 * Any duplex byte stream as a Socket: the readable side goes through the Web
 * Streams framer, the writable side gets coalesced writes.
 *
 * @module
 */
import { FrameStream } from "../protocol/frame_stream.ts";
import { BatchWriter } from "./batch_writer.ts";
import type { FrameSource, Socket } from "./socket.ts";
import type { Frame } from "../protocol/packet.ts";
import { writerSocket } from "./writer_socket.ts";

/**
 * A pair of byte streams, e.g. a `Deno.Conn` or one end of a TransformStream pair.
 *
 * @example
 * ```ts
 * import { Broker, type DuplexStream } from "../mod.ts";
 * const toBroker = new TransformStream<Uint8Array, Uint8Array>();
 * const toClient = new TransformStream<Uint8Array, Uint8Array>();
 * const serverSide: DuplexStream = { readable: toBroker.readable, writable: toClient.writable };
 * const broker = new Broker();
 * broker.handle(serverSide);
 * await broker.close();
 * ```
 */
export interface DuplexStream {
  /** Bytes from the client. Each chunk must be fresh: the broker may keep views into it. */
  readable: ReadableStream<Uint8Array>;
  /** Bytes to the client. */
  writable: WritableStream<Uint8Array>;
}

/**
 * How {@link streamSocket} describes the connection to the broker.
 *
 * @example
 * ```ts
 * import type { StreamSocketOptions } from "../mod.ts";
 * const options: StreamSocketOptions = { remoteAddress: "worker-7", listener: "in-process", maxPacketSize: 65536 };
 * console.log(options.listener);
 * ```
 */
export interface StreamSocketOptions {
  /** Where the client is, as logs and hooks show it (default "stream"). */
  remoteAddress?: string;
  /** The listener name logs and metrics show (default "stream"). */
  listener?: string;
  /** Packets larger than this (bytes) are refused while framing (default: the protocol's maximum). */
  maxPacketSize?: number;
  /** See {@link Socket.internal}. */
  internal?: boolean;
}

/**
 * Wraps a duplex stream.
 *
 * @example
 * ```ts
 * import { Broker, streamSocket } from "../mod.ts";
 * const up = new TransformStream<Uint8Array, Uint8Array>();
 * const down = new TransformStream<Uint8Array, Uint8Array>();
 * const broker = new Broker();
 * broker.handle(streamSocket({ readable: up.readable, writable: down.writable }, { remoteAddress: "pipe" }));
 * await broker.close();
 * ```
 * Its readable side must hand out fresh chunks (frames are
 * views into them and may be held while the engine is busy).
 */
export function streamSocket(duplex: DuplexStream, options: StreamSocketOptions = {}): Socket {
  const writer = duplex.writable.getWriter();
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => resolveClosed = r);
  const batch = new BatchWriter(async (bytes) => {
    // The coalescing buffer is reused after this resolves: hand the stream its own copy.
    await writer.write(bytes.slice());
    return bytes.length;
  }, {
    onClose: () => {
      writer.close().catch(() => {}).finally(resolveClosed);
    },
  });
  const frames = streamFrames(
    duplex.readable.pipeThrough(new FrameStream({ maxPacketSize: options.maxPacketSize })),
  );
  return writerSocket(batch, {
    remoteAddress: options.remoteAddress ?? "stream",
    listener: options.listener ?? "stream",
    frames,
    closed,
    ...(options.internal ? { internal: true } : {}),
  });
}

/** Reads a stream of frame batches as a FrameSource. */
export function streamFrames(readable: ReadableStream<Frame[]>): FrameSource {
  const reader = readable.getReader();
  return {
    async next() {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return null;
        if (value.length > 0) return value;
      }
    },
  };
}

/** Whether a value is already a Socket (has framed input). */
export function isSocket(value: Socket | DuplexStream): value is Socket {
  return "frames" in value;
}

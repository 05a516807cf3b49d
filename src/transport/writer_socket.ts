/**
 * The Socket every transport hands the engine: its write side is always a
 * BatchWriter, so only the read side, the addresses and what the transport
 * itself still buffers differ.
 *
 * @module
 */
import type { Frame } from "../protocol/packet.ts";
import type { BatchWriter } from "./batch_writer.ts";
import type { Socket } from "./socket.ts";

/** What differs between transports. */
export interface SocketParts {
  remoteAddress: string;
  listener: string;
  frames: ReadableStream<Frame[]>;
  closed: Promise<void>;
  identity?: string;
  internal?: boolean;
  /** Bytes the transport holds beyond the writer's own (e.g. `ws.bufferedAmount`). */
  transportBuffered?: () => number;
}

/** A Socket whose writes go through `writer`. */
export function writerSocket(writer: BatchWriter, parts: SocketParts): Socket {
  const { transportBuffered, ...fields } = parts;
  return {
    ...fields,
    write: (bytes) => writer.write(bytes),
    writePublish: (head, offset, id, payload) => writer.writePublish(head, offset, id, payload),
    get bufferedBytes() {
      return transportBuffered === undefined
        ? writer.bufferedBytes
        : writer.bufferedBytes + transportBuffered();
    },
    close: () => writer.close(),
  };
}

/**
 * An in-memory connection for engine tests: the broker side is a real Socket
 * (PushedFrames for framing, BatchWriter for coalesced writes); the client
 * side writes raw bytes and reads what the broker wrote.
 */
import { BatchWriter } from "../../src/transport/batch_writer.ts";
import type { Socket } from "../../src/transport/socket.ts";
import { writerSocket } from "../../src/transport/writer_socket.ts";
import { PushedFrames } from "../../src/transport/pushed_frames.ts";

export interface MemoryClient {
  write(bytes: Uint8Array): void;
  /** The next chunk the broker wrote, or null once the connection is closed. */
  read(): Promise<Uint8Array | null>;
  close(): void;
  readonly closed: Promise<void>;
}

export function memorySocketPair(options: { remoteAddress?: string; maxPacketSize?: number } = {}): {
  socket: Socket;
  client: MemoryClient;
} {
  const frames = new PushedFrames({ maxPacketSize: options.maxPacketSize });
  const toClient: (Uint8Array | null)[] = [];
  let clientWaiter: (() => void) | null = null;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => resolveClosed = r);
  let isClosed = false;

  const deliver = (chunk: Uint8Array | null) => {
    toClient.push(chunk);
    const w = clientWaiter;
    clientWaiter = null;
    w?.();
  };
  const shutdown = () => {
    if (isClosed) return;
    isClosed = true;
    frames.end();
    deliver(null);
    resolveClosed();
  };
  const writer = new BatchWriter((bytes) => {
    if (!isClosed) deliver(bytes.slice());
    return Promise.resolve(bytes.length);
  }, { onClose: shutdown });

  const socket: Socket = writerSocket(writer, {
    remoteAddress: options.remoteAddress ?? "127.0.0.1:50000",
    listener: "memory",
    frames,
    closed,
  });

  const client: MemoryClient = {
    write(bytes) {
      if (isClosed) return;
      frames.push(bytes.slice());
    },
    async read() {
      while (toClient.length === 0) await new Promise<void>((r) => clientWaiter = r);
      const chunk = toClient.shift()!;
      if (chunk === null) toClient.unshift(null);
      return chunk;
    },
    close: shutdown,
    closed,
  };
  return { socket, client };
}

/**
 * What the broker engine needs from a client connection, whatever carries it
 * (TCP, TLS, WebSocket, an in-memory pair in tests). The engine imports this
 * file as a type only.
 *
 * @module
 */
import type { Frame } from "../protocol/packet.ts";
import type { EncodedPublish } from "../protocol/publish.ts";

/**
 * The read side of a connection: the engine asks for the next batch when it has handled
 * the previous one, so a transport reads only as fast as the engine consumes.
 *
 * Why not a `ReadableStream<Frame[]>`: a stream read costs about a dozen objects (the pull
 * promise, read request, result, deferreds) and a stream about 2 KiB per connection. With
 * 10 000 clients each sending once a second every one of those lives a second, long enough
 * to be promoted out of the young generation, and major GCs then stalled delivery for
 * hundreds of milliseconds (docs/benchmarks.md). Web Streams remain the interface where
 * users hand the broker bytes (`streamSocket`).
 *
 * @example
 * ```ts
 * import type { Frame, FrameSource } from "../mod.ts";
 * const body = new Uint8Array(0);
 * const batches: Frame[][] = [[{ header: 0xc0, bytes: body, start: 0, end: 0, body }]]; // one PINGREQ
 * const source: FrameSource = { next: () => Promise.resolve(batches.shift() ?? null) };
 * console.log((await source.next())?.length); // 1
 * ```
 */
export interface FrameSource {
  /** The next non-empty batch, or null once the peer has ended. Rejects on malformed input. */
  next(): Promise<Frame[] | null>;
}

/**
 * One client connection as the engine sees it.
 *
 * @example
 * ```ts
 * import { Broker, type Socket, streamSocket } from "../mod.ts";
 * const up = new TransformStream<Uint8Array, Uint8Array>();
 * const down = new TransformStream<Uint8Array, Uint8Array>();
 * const socket: Socket = streamSocket({ readable: up.readable, writable: down.writable }, { remoteAddress: "pipe" });
 * const broker = new Broker();
 * broker.handle(socket);
 * await broker.close();
 * ```
 */
export interface Socket {
  /** "host:port" of the peer (after PROXY protocol, the real client). */
  readonly remoteAddress: string;
  /** The name of the listener that accepted it, e.g. "tcp:127.0.0.1:1883". */
  readonly listener: string;
  /** The subject CN of a verified client certificate (TLS listeners that request one). */
  readonly identity?: string;
  /**
   * Set on connections opened inside the process by the broker itself (a bridge's local side):
   * the per-client limits against abuse (connection count, message rate) do not apply to them.
   */
  readonly internal?: boolean;
  /**
   * Batches of framed packets, one batch per chunk read. A batch's `body` views are
   * valid only until the next read: handle the batch (and copy whatever must outlive
   * it) before asking for the next one.
   */
  readonly frames: FrameSource;
  /** Queues a copy of `bytes` (the caller may reuse its buffer); coalesced and written once per microtask. Never blocks. */
  write(bytes: Uint8Array): void;
  /**
   * Queues an encoded PUBLISH that is shared by many subscribers without copying it first:
   * its head (fixed header, topic, packet id, properties) with `packetId` patched in at its
   * `packetIdOffset` when that is >= 0, followed by its payload. Nothing of `encoded` is kept
   * after the call (a reused head may be rewritten at once), except a payload of at least
   * SHARED_PAYLOAD_MIN bytes: that one is written from where it is and must never change.
   */
  writePublish(encoded: EncodedPublish, packetId: number): void;
  /** Bytes queued and not yet handed to the operating system. */
  readonly bufferedBytes: number;
  /** Flushes what is queued, then closes. Idempotent. */
  close(): void;
  /** Resolves once the socket is closed, by either side. */
  readonly closed: Promise<void>;
}

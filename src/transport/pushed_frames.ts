/**
 * The read side of a transport that is handed its bytes by events (node TLS
 * sockets, WebSocket messages) rather than reading them: chunks are framed as
 * they arrive and enqueued as one batch per chunk. Each chunk must be a fresh
 * buffer, because the frames are views into it and may wait in the queue.
 *
 * @module
 */
import { FrameSplitter } from "../protocol/frame_stream.ts";
import type { Frame } from "../protocol/packet.ts";

export class PushedFrames {
  readonly frames: ReadableStream<Frame[]>;
  readonly #splitter: FrameSplitter;
  #controller!: ReadableStreamDefaultController<Frame[]>;
  #ended = false;

  /**
   * With `onPull` the stream buffers up to four batches and calls it when it wants
   * more, so that the transport can pause while the engine is behind.
   */
  constructor(maxPacketSize?: number, onPull?: () => void) {
    this.#splitter = new FrameSplitter({ maxPacketSize });
    this.frames = new ReadableStream<Frame[]>(
      { start: (c) => void (this.#controller = c), pull: onPull === undefined ? undefined : () => onPull() },
      onPull === undefined ? undefined : { highWaterMark: 4 },
    );
  }

  /** Frames `chunk`. False when it was malformed: the stream has then ended with the error. */
  push(chunk: Uint8Array): boolean {
    try {
      const batch = this.#splitter.push(chunk);
      if (batch.length > 0) this.#controller.enqueue(batch);
      return true;
    } catch (err) {
      this.end(err);
      return false;
    }
  }

  /** Whether the queue has room (a transport with `onPull` pauses when it has none). */
  get wantsMore(): boolean {
    return (this.#controller.desiredSize ?? 1) > 0;
  }

  /** Ends the stream, with `err` when given. Idempotent. */
  end(err?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    try {
      if (err === undefined) this.#controller.close();
      else this.#controller.error(err);
    } catch {
      // already finished
    }
  }
}

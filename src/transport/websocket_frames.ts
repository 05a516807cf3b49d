/**
 * The server side of the WebSocket framing (RFC 6455 section 5), as a pure
 * codec: bytes from the client in, payload bytes and control events out; frame
 * headers for what the server sends.
 *
 * The decoder streams: a data frame's payload is unmasked and handed on as its
 * bytes arrive, never collected first, so a client announcing a huge frame holds
 * no more memory than it has sent (the MQTT framer behind it enforces the packet
 * size). Message boundaries do not matter to MQTT [MQTT-6.0.0-2], so fragmented
 * messages are passed through fragment by fragment.
 *
 * @module
 */

/** Frame opcodes. */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** Close status codes the broker sends. */
export const CloseCode = {
  Normal: 1000,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  TooBig: 1009,
} as const;

/** What one chunk of client bytes amounted to, in order. */
export type WebSocketEvent =
  /** Unmasked payload of a binary message (possibly a part of a frame): a view into the chunk. */
  | { kind: "data"; bytes: Uint8Array }
  /** A text message began: MQTT travels in binary messages only. */
  | { kind: "text" }
  | { kind: "ping"; payload: Uint8Array }
  | { kind: "pong" }
  /** The client closes; `code` is 1005 when it gave none. */
  | { kind: "close"; code: number };

/** A framing violation: the connection is closed with `closeCode`. */
export class WebSocketError extends Error {
  constructor(readonly closeCode: number, message: string) {
    super(message);
    this.name = "WebSocketError";
  }
}

/** Largest payload of a control frame. */
const MAX_CONTROL = 125;

/**
 * Decodes the frames a client sends. Each chunk must belong to the caller and
 * stay untouched afterwards: payloads are unmasked in place and the data events
 * are views into it.
 */
export class FrameDecoder {
  /** The header being read (2 to 14 bytes), and how much of it has arrived. */
  readonly #header = new Uint8Array(14);
  #headerFilled = 0;
  /** Payload bytes of the current frame still to come; -1 while reading a header. */
  #remaining = -1;
  #opcode = 0;
  #fin = false;
  readonly #mask = new Uint8Array(4);
  #maskOffset = 0;
  /** A control frame's payload, collected (it is at most 125 bytes). */
  #control: Uint8Array | null = null;
  #controlFilled = 0;
  /** Inside a fragmented data message: its first frame's opcode, else 0. */
  #message = 0;
  #closed = false;

  /** The events in `chunk`. Throws WebSocketError on a framing violation. */
  push(chunk: Uint8Array): WebSocketEvent[] {
    const events: WebSocketEvent[] = [];
    let at = 0;
    while (at < chunk.length && !this.#closed) {
      if (this.#remaining < 0) {
        at = this.#readHeader(chunk, at);
        if (this.#remaining < 0) break; // the header continues in the next chunk
        if (this.#opcode === Opcode.Text) events.push({ kind: "text" });
        if (this.#remaining === 0) this.#finishFrame(events);
        continue;
      }
      const n = Math.min(this.#remaining, chunk.length - at);
      const bytes = chunk.subarray(at, at + n);
      this.#unmask(bytes);
      at += n;
      this.#remaining -= n;
      if (this.#control !== null) {
        this.#control.set(bytes, this.#controlFilled);
        this.#controlFilled += n;
      } else if (this.#message === Opcode.Binary && n > 0) {
        events.push({ kind: "data", bytes });
      }
      if (this.#remaining === 0) this.#finishFrame(events);
    }
    return events;
  }

  /** Consumes header bytes from `chunk` at `at`; returns the new position. */
  #readHeader(chunk: Uint8Array, at: number): number {
    const h = this.#header;
    while (at < chunk.length) {
      h[this.#headerFilled++] = chunk[at++];
      const need = headerLength(h, this.#headerFilled);
      if (need === this.#headerFilled) {
        this.#startFrame();
        return at;
      }
    }
    return at;
  }

  #startFrame(): void {
    const h = this.#header;
    const length = this.#headerFilled;
    this.#headerFilled = 0;
    if ((h[0] & 0x70) !== 0) throw new WebSocketError(CloseCode.ProtocolError, "RSV bits set (no extension)");
    // Clients must mask every frame (RFC 6455 5.1).
    if ((h[1] & 0x80) === 0) throw new WebSocketError(CloseCode.ProtocolError, "unmasked client frame");
    this.#fin = (h[0] & 0x80) !== 0;
    this.#opcode = h[0] & 0x0f;
    let size = h[1] & 0x7f;
    if (size === 126) size = (h[2] << 8) | h[3];
    else if (size === 127) {
      const high = ((h[2] << 24) >>> 0) + (h[3] << 16) + (h[4] << 8) + h[5];
      // Beyond 2^53 bytes a length is not a JavaScript number; no MQTT traffic comes near it.
      if (high > 0x1fffff) throw new WebSocketError(CloseCode.TooBig, "frame length beyond 2^53");
      size = high * 2 ** 32 + ((h[6] << 24) >>> 0) + (h[7] << 16) + (h[8] << 8) + h[9];
    }
    this.#mask.set(h.subarray(length - 4, length));
    this.#maskOffset = 0;
    this.#remaining = size;
    this.#checkOpcode(size);
  }

  #checkOpcode(size: number): void {
    const op = this.#opcode;
    if (op >= 0x8) {
      if (op !== Opcode.Close && op !== Opcode.Ping && op !== Opcode.Pong) {
        throw new WebSocketError(CloseCode.ProtocolError, `unknown control opcode ${op}`);
      }
      if (!this.#fin || size > MAX_CONTROL) {
        throw new WebSocketError(CloseCode.ProtocolError, "fragmented or oversized control frame");
      }
      this.#control = new Uint8Array(size);
      this.#controlFilled = 0;
      return;
    }
    this.#control = null;
    if (op === Opcode.Continuation) {
      if (this.#message === 0) throw new WebSocketError(CloseCode.ProtocolError, "continuation of nothing");
      return;
    }
    if (op !== Opcode.Binary && op !== Opcode.Text) {
      throw new WebSocketError(CloseCode.ProtocolError, `unknown data opcode ${op}`);
    }
    if (this.#message !== 0) {
      throw new WebSocketError(CloseCode.ProtocolError, "new message inside a fragmented one");
    }
    this.#message = op;
  }

  #finishFrame(events: WebSocketEvent[]): void {
    this.#remaining = -1;
    const op = this.#opcode;
    if (op < 0x8) {
      if (this.#fin) this.#message = 0;
      return;
    }
    const payload = this.#control!;
    this.#control = null;
    if (op === Opcode.Ping) events.push({ kind: "ping", payload });
    else if (op === Opcode.Pong) events.push({ kind: "pong" });
    else {
      if (payload.length === 1) throw new WebSocketError(CloseCode.ProtocolError, "one-byte close payload");
      this.#closed = true;
      events.push({ kind: "close", code: payload.length >= 2 ? (payload[0] << 8) | payload[1] : 1005 });
    }
  }

  #unmask(bytes: Uint8Array): void {
    const mask = this.#mask;
    let m = this.#maskOffset;
    for (let i = 0; i < bytes.length; i++) {
      bytes[i] ^= mask[m];
      m = (m + 1) & 3;
    }
    this.#maskOffset = m;
  }
}

/** The full length of a header whose first `filled` bytes are in `h`, or more than `filled` when unknown yet. */
function headerLength(h: Uint8Array, filled: number): number {
  if (filled < 2) return 2;
  const size = h[1] & 0x7f;
  const extended = size === 126 ? 2 : size === 127 ? 8 : 0;
  return 2 + extended + ((h[1] & 0x80) !== 0 ? 4 : 0);
}

/** The header of an unmasked, final server frame of `length` payload bytes. */
export function frameHeader(opcode: number, length: number): Uint8Array {
  if (length < 126) return Uint8Array.of(0x80 | opcode, length);
  if (length < 0x10000) return Uint8Array.of(0x80 | opcode, 126, length >> 8, length & 0xff);
  const header = new Uint8Array(10);
  header[0] = 0x80 | opcode;
  header[1] = 127;
  const high = Math.floor(length / 2 ** 32);
  new DataView(header.buffer).setUint32(2, high);
  new DataView(header.buffer).setUint32(6, length >>> 0);
  return header;
}

/** A whole server control frame (close, ping, pong) with its payload. */
export function controlFrame(opcode: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const frame = new Uint8Array(2 + payload.length);
  frame.set(frameHeader(opcode, payload.length));
  frame.set(payload, 2);
  return frame;
}

/** A close frame carrying `code`. */
export function closeFrame(code: number): Uint8Array {
  return controlFrame(Opcode.Close, Uint8Array.of(code >> 8, code & 0xff));
}

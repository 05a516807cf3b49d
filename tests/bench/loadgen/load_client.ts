/**
 * One raw MQTT connection of the load generator: CONNECT/SUBSCRIBE handshakes,
 * a read loop that scans frames in place, and a coalescing writer. What to do
 * with each frame is the caller's `onFrame`.
 */
import { CoalescingWriter } from "./coalescing_writer.ts";
import {
  DISCONNECT,
  encodeConnect,
  encodeSubscribe,
  Header,
  PINGREQ,
  type ProtoLevel,
  type Qos,
  scanFrames,
} from "./wire.ts";

export type FrameHandler = (first: number, data: Uint8Array, start: number, end: number) => void;

const HANDSHAKE_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_S = 60;

export interface ConnectOptions {
  host: string;
  port: number;
  proto: ProtoLevel;
  clientId: string;
  persistent: boolean;
  /** Bytes per read (256 KiB): large for throughput, smaller when there are thousands of connections. */
  readBytes?: number;
}

export class LoadClient {
  readonly #conn: Deno.TcpConn;
  readonly writer: CoalescingWriter;
  readonly level: ProtoLevel;
  readonly name: string;
  onFrame: FrameHandler = () => {};
  /** Called after each read chunk has been handled (progress for waiting publishers). */
  onRead: () => void = () => {};
  /** Called once when the connection ends without us closing it. */
  onLost: (reason: string) => void = () => {};
  #closing = false;
  #pinger: ReturnType<typeof setInterval> | undefined;
  readonly done: Promise<void>;

  private constructor(conn: Deno.TcpConn, level: ProtoLevel, name: string, readBytes: number) {
    this.#conn = conn;
    this.level = level;
    this.name = name;
    conn.setNoDelay(true);
    this.writer = new CoalescingWriter(conn);
    this.done = this.#readLoop(readBytes);
  }

  /** Connects and completes CONNECT/CONNACK; throws on refusal or timeout. */
  static async open(o: ConnectOptions): Promise<LoadClient> {
    const conn = await Deno.connect({ hostname: o.host, port: o.port });
    const client = new LoadClient(conn, o.proto, o.clientId, o.readBytes ?? 256 * 1024);
    try {
      const connack = client.#expect(Header.CONNACK, "CONNACK");
      client.writer.append(encodeConnect(o.proto, {
        clientId: o.clientId,
        clean: !o.persistent,
        keepAlive: KEEP_ALIVE_S,
        sessionExpiry: o.persistent ? 300 : 0,
      }));
      const [data, start] = await connack;
      // v3.1.1 return code and v5 reason code are both the second byte; non-zero is a refusal.
      const code = data[start + 1];
      if (code !== 0) throw new Error(`${o.clientId}: CONNECT refused with code 0x${code.toString(16)}`);
    } catch (err) {
      client.close();
      throw err;
    }
    // Keep-alive: ping at half the interval so long runs are never cut by the broker.
    client.#pinger = setInterval(() => client.writer.append(PINGREQ), (KEEP_ALIVE_S / 2) * 1000);
    return client;
  }

  /** SUBSCRIBE to one filter and wait for a granted SUBACK. */
  async subscribe(filter: string, qos: Qos): Promise<void> {
    const suback = this.#expect(Header.SUBACK, "SUBACK");
    this.writer.append(encodeSubscribe(this.level, 1, filter, qos));
    const [data, start, end] = await suback;
    let p = start + 2;
    if (this.level === 5) p += 1 + data[p]; // property length is below 128 in practice
    const code = data[Math.min(p, end - 1)];
    if (code >= 0x80) {
      throw new Error(`${this.name}: SUBSCRIBE ${filter} refused with 0x${code.toString(16)}`);
    }
  }

  #expect(first: number, what: string): Promise<[Uint8Array, number, number]> {
    return new Promise((resolve, reject) => {
      const previous = this.onFrame;
      const previousLost = this.onLost;
      const timer = setTimeout(() => {
        restore();
        reject(new Error(`${this.name}: no ${what} within ${HANDSHAKE_TIMEOUT_MS} ms`));
      }, HANDSHAKE_TIMEOUT_MS);
      const restore = () => {
        clearTimeout(timer);
        this.onFrame = previous;
        this.onLost = previousLost;
      };
      this.onLost = (reason) => {
        restore();
        reject(new Error(`${this.name}: connection closed before ${what} (${reason})`));
      };
      this.onFrame = (f, data, start, end) => {
        if ((f & 0xf0) !== first) return previous(f, data, start, end);
        restore();
        resolve([data.slice(start, end), 0, end - start]);
      };
    });
  }

  async #readLoop(readBytes: number): Promise<void> {
    const buf = new Uint8Array(readBytes);
    let carry: Uint8Array | null = null;
    let reason = "closed by the broker";
    try {
      for (;;) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        let data: Uint8Array = buf.subarray(0, n);
        if (carry !== null) {
          const joined: Uint8Array = new Uint8Array(carry.length + n);
          joined.set(carry);
          joined.set(data, carry.length);
          data = joined;
          carry = null;
        }
        const used = scanFrames(data, (f, d, s, e) => this.onFrame(f, d, s, e));
        if (used < data.length) carry = data.slice(used);
        this.onRead();
      }
    } catch (err) {
      reason = (err as Error).message;
    }
    clearInterval(this.#pinger);
    if (!this.#closing) this.onLost(reason);
  }

  /** Sends DISCONNECT, waits briefly for it to be written, then closes the socket. */
  async disconnect(): Promise<void> {
    if (this.#closing) return;
    this.writer.append(DISCONNECT);
    await Promise.race([this.writer.drained(), new Promise((r) => setTimeout(r, 500))]);
    this.close();
  }

  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#pinger);
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }
}

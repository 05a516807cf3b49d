/**
 * The server end of an in-memory connection, scripted by a test: it decodes
 * what the client under test sends and sends typed packets back. Used to test
 * the bridge's MQTT client against exact server behaviour (refusals, windows,
 * out-of-order acknowledgements).
 */
import { decodePacket, encodePacket } from "../../src/protocol/codec.ts";
import { FrameSplitter } from "../../src/protocol/frame_stream.ts";
import type { Packet, ProtocolLevel } from "../../src/protocol/packet.ts";
import type { Socket } from "../../src/transport/socket.ts";
import { memorySocketPair } from "./memory_socket.ts";
import type { PacketOf } from "./test_client.ts";

export class ScriptedServer {
  level: ProtocolLevel;
  /** The client's end, to hand to the code under test. */
  readonly socket: Socket;
  readonly #raw: ReturnType<typeof memorySocketPair>["client"];
  readonly #splitter = new FrameSplitter();
  readonly #received: Packet[] = [];
  #closed = false;
  #wake: () => void = () => {};

  constructor(level: ProtocolLevel = 5) {
    this.level = level;
    const { socket, client } = memorySocketPair({ remoteAddress: "scripted" });
    // The pair's "socket" end frames what the raw end writes: that end is the client's here.
    this.socket = socket;
    this.#raw = client;
    this.#pump();
  }

  /** One reader for the connection's lifetime, so that no chunk is taken by an abandoned wait. */
  async #pump(): Promise<void> {
    for (;;) {
      const chunk = await this.#raw.read();
      if (chunk === null) break;
      for (const frame of this.#splitter.push(chunk)) this.#received.push(decodePacket(frame, this.level));
      this.#wake();
    }
    this.#closed = true;
    this.#wake();
  }

  /** Whether the client closed the connection. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends a packet to the client. */
  send(packet: Packet): void {
    this.#raw.write(encodePacket(packet, this.level));
  }

  /** The next packet the client sent (CONNECT decodes at its own level). */
  async next(timeoutMs = 2000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    while (this.#received.length === 0) {
      if (this.#closed) throw new Error("the client closed the connection");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("no packet from the client in time");
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
    return this.#received.shift()!;
  }

  /** The next packet, which must be of `type`. */
  async expect<T extends Packet["type"]>(type: T, timeoutMs?: number): Promise<PacketOf<T>> {
    const packet = await this.next(timeoutMs);
    if (packet.type !== type) throw new Error(`expected packet type ${type}, got ${packet.type}`);
    return packet as PacketOf<T>;
  }

  /** True when the client sends nothing for `ms`. */
  async silentFor(ms = 100): Promise<boolean> {
    try {
      await this.next(ms);
      return false;
    } catch {
      return true;
    }
  }

  close(): void {
    this.#raw.close();
  }
}

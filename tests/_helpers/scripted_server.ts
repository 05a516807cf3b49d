/**
 * The server end of an in-memory connection, scripted by a test: it decodes
 * what the client under test sends and sends typed packets back. Used to test
 * the bridge's MQTT client against exact server behaviour (refusals, windows,
 * out-of-order acknowledgements).
 */
import { encodePacket } from "../../src/protocol/codec.ts";
import type { Packet, ProtocolLevel } from "../../src/protocol/packet.ts";
import type { Socket } from "../../src/transport/socket.ts";
import { memorySocketPair } from "./memory_socket.ts";
import { type PacketOf, PacketQueue } from "./packet_queue.ts";

export class ScriptedServer {
  level: ProtocolLevel;
  /** The client's end, to hand to the code under test. */
  readonly socket: Socket;
  readonly #raw: ReturnType<typeof memorySocketPair>["client"];
  readonly #queue = new PacketQueue();

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
      this.#queue.receive(chunk, this.level);
    }
    this.#queue.end("closed by the client");
  }

  /** Whether the client closed the connection. */
  get closed(): boolean {
    return this.#queue.ending !== undefined;
  }

  /** Sends a packet to the client. */
  send(packet: Packet): void {
    this.#raw.write(encodePacket(packet, this.level));
  }

  /** The next packet the client sent (CONNECT decodes at its own level). */
  next(timeoutMs = 2000): Promise<Packet> {
    return this.#queue.next(timeoutMs);
  }

  /** The next packet, which must be of `type`. */
  expect<T extends Packet["type"]>(type: T, timeoutMs = 2000): Promise<PacketOf<T>> {
    return this.#queue.expect(type, timeoutMs);
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

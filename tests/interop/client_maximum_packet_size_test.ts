/**
 * A v5 client that declares a Maximum Packet Size of 5 bytes, against the broker
 * process and against Mosquitto 2.0.11: neither may send it a packet over 5
 * bytes [MQTT-3.1.2-24]. Mosquitto cannot fit its CONNACK and closes the
 * connection. This broker with its default configuration cannot either (its
 * CONNACK carries its own Maximum Packet Size, 10 bytes at least) and closes;
 * when it advertises no maximum it leaves the optional Topic Alias Maximum out,
 * sends a 5-byte CONNACK, and closes with a 3-byte DISCONNECT 0x95 when the
 * SUBACK (6 bytes at least) cannot fit: a deliberate difference, documented in
 * docs/security.md.
 */
import assert from "node:assert/strict";
import { encodePacket } from "../../src/protocol/codec.ts";
import { FrameSplitter } from "../../src/protocol/frame_stream.ts";
import { PacketType, Reason } from "../../src/protocol/packet.ts";
import { startBroker } from "../_helpers/broker_process.ts";
import { mosquittoAvailable, startMosquitto } from "../_helpers/mosquitto.ts";

/** Connects with Maximum Packet Size 5, subscribes; returns every packet received (type, size, first bytes). */
async function tinyClientSession(port: number): Promise<{ type: number; size: number; bytes: number[] }[]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const write = async (bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
  };
  const received: { type: number; size: number; bytes: number[] }[] = [];
  const reading = (async () => {
    const splitter = new FrameSplitter();
    const buf = new Uint8Array(4096);
    try {
      for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
        for (const f of splitter.push(buf.slice(0, n))) {
          const size = 2 + f.body.length; // every packet here is under 128 bytes
          received.push({ type: f.header >> 4, size, bytes: [f.header, f.body.length, ...f.body] });
        }
      }
    } catch {
      // reset: the same as a close here
    }
  })();
  await write(encodePacket({
    type: PacketType.CONNECT,
    protocolName: "MQTT",
    protocolLevel: 5,
    clean: true,
    keepAlive: 60,
    clientId: "tiny",
    properties: { maximumPacketSize: 5 },
  }, 5));
  await write(encodePacket({
    type: PacketType.SUBSCRIBE,
    packetId: 1,
    subscriptions: [{ filter: "a/b", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  }, 5)).catch(() => {});
  const timer = setTimeout(() => conn.close(), 5000); // a broker that never closes fails below
  await reading;
  clearTimeout(timer);
  try {
    conn.close();
  } catch {
    // closed by the timer
  }
  return received;
}

Deno.test({
  name:
    "a client of Maximum Packet Size 5 never gets a larger packet, here and from Mosquitto [MQTT-3.1.2-24]",
  ignore: !mosquittoAvailable,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const mosquitto = await startMosquitto();
    const ours = await startBroker();
    const unadvertised = await startBroker({
      yaml: "persistence:\n  type: memory\nlimits:\n  max_partial_packet_bytes: 268435460\n",
    });
    try {
      const started = Date.now();
      const fromMosquitto = await tinyClientSession(mosquitto.port);
      const fromOurs = await tinyClientSession(ours.port);
      const fromUnadvertised = await tinyClientSession(unadvertised.port);
      assert.ok(Date.now() - started < 5000, "every broker closed the connection");
      assert.deepEqual(fromMosquitto, [], "Mosquitto: no CONNACK, the connection closed");
      assert.deepEqual(fromOurs, [], "default configuration: no CONNACK, the connection closed");
      assert.deepEqual(fromUnadvertised, [
        { type: PacketType.CONNACK, size: 5, bytes: [0x20, 0x03, 0x00, 0x00, 0x00] },
        { type: PacketType.DISCONNECT, size: 3, bytes: [0xe0, 0x01, Reason.PacketTooLarge] },
      ]);
      assert.match(mosquitto.output(), /oversize packet/);
    } finally {
      await Promise.all([mosquitto.stop(), ours.stop(), unadvertised.stop()]);
    }
  },
});

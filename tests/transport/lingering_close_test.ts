/**
 * The broker's last packet reaches a client that is still sending: a real broker
 * process closes connections for a protocol error (more QoS 2 PUBLISHes than its
 * Receive Maximum: DISCONNECT 0x93) and for a refused CONNECT, while the client
 * keeps writing. Without a lingering close the kernel answered the client's next
 * bytes with a reset and dropped what the broker had not sent yet, so the client
 * saw "Connection reset" instead of the reason code.
 *
 * The same on every listener type: TCP, TLS, WebSocket and WebSocket over TLS.
 *
 * Each case runs ROUNDS times (LINGER_ROUNDS=n overrides) because a close race that
 * passed once has not passed.
 */
import assert from "node:assert/strict";
import { type BrokerProcess, freePort, startBroker } from "../_helpers/broker_process.ts";
import { makeCerts, opensslAvailable, type TestCerts } from "../_helpers/certs.ts";
import { describe } from "../_helpers/packet_queue.ts";
import { clientFrame, upgradeRequest } from "../_helpers/websocket_bytes.ts";
import { WireClient, type WireClientOptions } from "../_helpers/wire_client.ts";
import {
  type DisconnectPacket,
  type Packet,
  PacketType,
  Reason,
  type SubscriptionRequest,
} from "../../src/protocol/packet.ts";
import { decodePacket, encodePacket } from "../../src/protocol/codec.ts";
import { FrameSplitter } from "../../src/protocol/frame_stream.ts";

const ROUNDS = Number(Deno.env.get("LINGER_ROUNDS") ?? 8);
const encoder = new TextEncoder();

interface Ports {
  tcp: number;
  refusing: number;
  tls: number;
  ws: number;
  wss: number;
}

async function start(certs: TestCerts | undefined): Promise<{ broker: BrokerProcess; ports: Ports }> {
  const ports = { tcp: freePort(), refusing: freePort(), tls: freePort(), ws: freePort(), wss: freePort() };
  const files = certs === undefined
    ? ""
    : `    cert_file: ${certs.serverCert}\n    key_file: ${certs.serverKey}\n`;
  const tls = certs === undefined
    ? ""
    : `  - type: tls\n    host: 127.0.0.1\n    port: ${ports.tls}\n${files}` +
      `  - type: wss\n    host: 127.0.0.1\n    port: ${ports.wss}\n    path: /mqtt\n${files}`;
  const broker = await startBroker({
    port: ports.tcp,
    yaml: `  - { type: tcp, host: 127.0.0.1, port: ${ports.refusing}, allow_anonymous: false }\n` +
      `  - { type: ws, host: 127.0.0.1, port: ${ports.ws}, path: /mqtt }\n${tls}` +
      "persistence:\n  type: memory\nmqtt:\n  receive_maximum: 3\n",
  });
  // startBroker waited for the first listener; the others open right after it.
  for (const port of [ports.refusing, ports.ws, ...(certs === undefined ? [] : [ports.tls, ports.wss])]) {
    await accepting(port);
  }
  return { broker, ports };
}

async function accepting(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** A v5 CONNECT: a clean start, no keep-alive. */
function connectPacket(clientId: string): Uint8Array {
  return encodePacket(
    { type: PacketType.CONNECT, protocolName: "MQTT", protocolLevel: 5, clean: true, keepAlive: 0, clientId },
    5,
  );
}

/** SUBSCRIBE (packet id 1) to `filter` at QoS 0. */
function subscribePacket(filter: string): Uint8Array {
  const subscription: SubscriptionRequest = {
    filter,
    qos: 0,
    noLocal: false,
    retainAsPublished: false,
    retainHandling: 0,
  };
  return encodePacket({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [subscription] }, 5);
}

function publish(topic: string, payload: Uint8Array, qos: 0 | 1 | 2, packetId?: number): Uint8Array {
  return encodePacket(
    { type: PacketType.PUBLISH, topic, payload, qos, retain: false, dup: false, packetId },
    5,
  );
}

async function connect(options: WireClientOptions, clientId: string): Promise<WireClient> {
  const client = await WireClient.open({ ...options, level: 5, timeoutMs: 2000 });
  await client.sendRaw(connectPacket(clientId));
  const connack = await client.expect(PacketType.CONNACK, 5000);
  assert.equal(connack.reasonCode, 0);
  return client;
}

/** Writes `packet` again and again until the connection ends or `ms` passed (the client that keeps sending). */
async function keepSending(client: WireClient, packet: Uint8Array, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (client.ending === undefined && client.writeError === undefined && Date.now() < until) {
    await client.sendRaw(packet);
  }
}

/** Reads until the broker ends the connection; returns what arrived and how it ended. */
async function drain(client: WireClient): Promise<{ packets: Packet[]; ending: string | undefined }> {
  const packets: Packet[] = [];
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      packets.push(await client.next(deadline - Date.now()));
    } catch {
      break;
    }
  }
  return { packets, ending: client.ending };
}

/**
 * A client with a backlog it has not read yet: it subscribes to its own topic and sends 1 MiB
 * of QoS 0 to it while not reading, then four QoS 2 PUBLISHes (over the Receive Maximum of 3),
 * and goes on sending for 300 ms before it starts reading. The DISCONNECT is queued behind the
 * backlog; closing with the client's bytes unread reset the connection and lost it.
 */
async function overflowRound(options: WireClientOptions, round: number): Promise<void> {
  const client = await connect(options, `overflow-${round}`);
  try {
    await client.sendRaw(subscribePacket("echo"));
    await client.expect(PacketType.SUBACK);
    client.pauseReads();
    const chunk = publish("echo", new Uint8Array(64 * 1024), 0);
    const writes = (async () => {
      for (let i = 0; i < 16; i++) await client.sendRaw(chunk);
      const qos2 = [1, 2, 3, 4].map((id) => publish("in", encoder.encode("x"), 2, id));
      for (const p of qos2) await client.sendRaw(p);
      await keepSending(client, publish("noise", new Uint8Array(4096), 0), 2000);
    })();
    await new Promise((r) => setTimeout(r, 300));
    client.resumeReads();
    const { packets, ending } = await drain(client);
    client.close(); // a write the broker never reads would otherwise wait forever
    await writes;
    const disconnect = packets.find((p) => p.type === PacketType.DISCONNECT) as DisconnectPacket | undefined;
    assert.ok(
      disconnect !== undefined,
      `round ${round}: no DISCONNECT among ${packets.length} packets (ending: ${ending}, ` +
        `read error: ${client.readError?.message}); last: ${packets.at(-1) && describe(packets.at(-1)!)}`,
    );
    assert.equal(disconnect.reasonCode, Reason.ReceiveMaximumExceeded);
    assert.equal(packets.at(-1), disconnect, "the DISCONNECT is the last packet");
    assert.equal(ending, "eof", `round ${round}: the connection ends with FIN, not a reset`);
  } finally {
    client.close();
  }
}

/** Whether SIGTERM ends the broker within `ms`. */
async function stopsWithin(broker: BrokerProcess, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((r) => timer = setTimeout(() => r(false), ms));
  const stopped = await Promise.race([broker.stop().then(() => true), late]);
  clearTimeout(timer);
  return stopped;
}

/** A refused CONNECT followed at once by more packets: the client must still read the CONNACK's code. */
async function refusedRound(port: number, round: number): Promise<void> {
  const client = await WireClient.open({ port, level: 5 });
  try {
    await client.sendRaw(connectPacket(`refused-${round}`));
    await keepSending(client, publish("noise", new Uint8Array(4096), 0), 2000);
    const { packets, ending } = await drain(client);
    assert.equal(packets.length, 1, `round ${round}: ${packets.map(describe).join(", ")} (ending ${ending})`);
    const connack = packets[0];
    assert.equal(connack.type, PacketType.CONNACK);
    // 0x87, or 0x8A once repeated refusals from one address are banned for a while.
    assert.ok([Reason.NotAuthorized, Reason.Banned].includes(connack.reasonCode as 0x87), describe(connack));
    assert.equal(ending, "eof", `round ${round}: the connection ends with FIN, not a reset`);
  } finally {
    client.close();
  }
}

Deno.test(`a DISCONNECT 0x93 queued behind a backlog reaches a TCP client that keeps sending (${ROUNDS} rounds)`, async () => {
  const { broker, ports } = await start(undefined);
  try {
    for (let round = 0; round < ROUNDS; round++) await overflowRound({ port: ports.tcp }, round);
  } finally {
    await broker.stop();
  }
});

Deno.test(`a refusing CONNACK reaches a TCP client that keeps sending after its CONNECT (${ROUNDS} rounds)`, async () => {
  const { broker, ports } = await start(undefined);
  try {
    for (let round = 0; round < ROUNDS; round++) await refusedRound(ports.refusing, round);
  } finally {
    await broker.stop();
  }
});

Deno.test({
  name:
    `a DISCONNECT 0x93 queued behind a backlog reaches a TLS client that keeps sending (${ROUNDS} rounds)`,
  ignore: !opensslAvailable,
  async fn() {
    const certs = await makeCerts();
    const { broker, ports } = await start(certs);
    const caCerts = [await Deno.readTextFile(certs.caCert)];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        await overflowRound({ port: ports.tls, hostname: "127.0.0.1", tlsCaCerts: caCerts }, round);
      }
      // Connections the broker ended but never finished closing would hold its TLS server open.
      assert.ok(await stopsWithin(broker, 10_000), "the broker shuts down: no connection is left lingering");
    } finally {
      await broker.kill();
      await Deno.remove(certs.dir, { recursive: true });
    }
  },
});

/**
 * WebSocket has its own closing handshake: the DISCONNECT goes out as a binary message and the
 * close frame after it, whatever the client is still sending.
 */
async function webSocketRound(port: number, round: number): Promise<void> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, "mqtt");
  socket.binaryType = "arraybuffer";
  const received: Uint8Array[] = [];
  const closed = new Promise<CloseEvent>((resolve) => socket.onclose = resolve);
  socket.onmessage = (e) => received.push(new Uint8Array(e.data as ArrayBuffer));
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  socket.send(connectPacket(`ws-${round}`));
  for (const id of [1, 2, 3, 4]) socket.send(publish("in", encoder.encode("x"), 2, id));
  const noise = publish("noise", new Uint8Array(4096), 0);
  const until = Date.now() + 300;
  let open = true;
  closed.then(() => open = false);
  while (open && Date.now() < until) {
    socket.send(noise);
    await new Promise((r) => setTimeout(r, 1));
  }
  await closed;
  const splitter = new FrameSplitter();
  const packets = received.flatMap((chunk) => splitter.push(chunk).map((f) => decodePacket(f, 5)));
  const last = packets.at(-1);
  assert.equal(last?.type, PacketType.DISCONNECT, `round ${round}: ${packets.map(describe).join(", ")}`);
  assert.equal((last as DisconnectPacket).reasonCode, Reason.ReceiveMaximumExceeded);
}

Deno.test(`a DISCONNECT 0x93 reaches a WebSocket client that keeps sending, before the close frame (${ROUNDS} rounds)`, async () => {
  const { broker, ports } = await start(undefined);
  try {
    for (let round = 0; round < ROUNDS; round++) await webSocketRound(ports.ws, round);
  } finally {
    await broker.stop();
  }
});

/** The server's frames after the 101 head: binary payloads in order, and whether a close frame came last. */
function serverFrames(bytes: Uint8Array): { binary: Uint8Array[]; closedLast: boolean } {
  const text = new TextDecoder("latin1").decode(bytes);
  let at = text.indexOf("\r\n\r\n") + 4;
  assert.ok(at > 3 && text.startsWith("HTTP/1.1 101 "), text.slice(0, 40));
  const binary: Uint8Array[] = [];
  let last = -1;
  while (at + 2 <= bytes.length) {
    const opcode = bytes[at] & 0x0f;
    let length = bytes[at + 1] & 0x7f;
    let head = 2;
    if (length === 126) [length, head] = [(bytes[at + 2] << 8) | bytes[at + 3], 4];
    else if (length === 127) {
      [length, head] = [Number(new DataView(bytes.buffer, at + 2, 8).getBigUint64(0)), 10];
    }
    if (at + head + length > bytes.length) break; // cut off by the end
    if (opcode === 0x2) binary.push(bytes.subarray(at + head, at + head + length));
    last = opcode;
    at += head + length;
  }
  return { binary, closedLast: last === 0x8 };
}

/**
 * ws or wss spoken frame by frame on a raw connection (the WebSocket API can neither pause its
 * reads nor be given the test CA), with overflowRound's backlog: 1 MiB echoed back to a client
 * that does not read yet, then four QoS 2 PUBLISHes (over the Receive Maximum of 3) and more
 * while it starts reading only after 300 ms. The DISCONNECT and the close frame behind the
 * backlog must arrive, and the connection end cleanly.
 */
async function backlogWebSocketRound(open: () => Promise<Deno.Conn>, round: number): Promise<void> {
  const conn = await open();
  const write = async (bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
  };
  let done = false;
  const writes = (async () => {
    try {
      await write(encoder.encode(upgradeRequest()));
      await write(clientFrame(0x82, connectPacket(`ws-backlog-${round}`)));
      await write(clientFrame(0x82, subscribePacket("echo")));
      const chunk = clientFrame(0x82, publish("echo", new Uint8Array(60_000), 0));
      for (let i = 0; i < 18; i++) await write(chunk);
      for (const id of [1, 2, 3, 4]) {
        await write(clientFrame(0x82, publish("in", encoder.encode("x"), 2, id)));
      }
      const noise = clientFrame(0x82, publish("noise", new Uint8Array(4096), 0));
      const until = Date.now() + 2000;
      while (!done && Date.now() < until) await write(noise);
    } catch {
      // the broker closed while this client was still writing
    }
  })();
  await new Promise((r) => setTimeout(r, 300));
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(64 * 1024);
  let ending = "eof";
  try {
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      chunks.push(buffer.slice(0, n));
    }
  } catch (err) {
    ending = `error: ${(err as Error).message}`;
  }
  done = true;
  conn.close(); // a write the broker no longer reads would otherwise wait
  await writes;
  const bytes = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
  chunks.reduce((offset, c) => (bytes.set(c, offset), offset + c.length), 0);
  const { binary, closedLast } = serverFrames(bytes);
  const splitter = new FrameSplitter();
  const packets = binary.flatMap((chunk) => splitter.push(chunk).map((f) => decodePacket(f, 5)));
  const last = packets.at(-1);
  assert.equal(
    last?.type,
    PacketType.DISCONNECT,
    `round ${round}: no DISCONNECT last among ${packets.length} packets (ending: ${ending}); ` +
      `last: ${last && describe(last)}`,
  );
  assert.equal((last as DisconnectPacket).reasonCode, Reason.ReceiveMaximumExceeded);
  assert.ok(closedLast, `round ${round}: the close frame follows the DISCONNECT`);
  assert.equal(ending, "eof", `round ${round}: the connection ends cleanly, not with a reset`);
}

Deno.test(`a DISCONNECT 0x93 and the close frame queued behind a backlog reach a ws client that keeps sending (${ROUNDS} rounds)`, async () => {
  const { broker, ports } = await start(undefined);
  try {
    const open = () => Deno.connect({ hostname: "127.0.0.1", port: ports.ws });
    for (let round = 0; round < ROUNDS; round++) await backlogWebSocketRound(open, round);
  } finally {
    await broker.stop();
  }
});

Deno.test({
  name:
    `a DISCONNECT 0x93 and the close frame queued behind a backlog reach a wss client that keeps sending (${ROUNDS} rounds)`,
  ignore: !opensslAvailable,
  async fn() {
    const certs = await makeCerts();
    const { broker, ports } = await start(certs);
    const caCerts = [await Deno.readTextFile(certs.caCert)];
    try {
      const open = () => Deno.connectTls({ hostname: "127.0.0.1", port: ports.wss, caCerts });
      for (let round = 0; round < ROUNDS; round++) await backlogWebSocketRound(open, round);
      assert.ok(await stopsWithin(broker, 10_000), "the broker shuts down: no connection is left lingering");
    } finally {
      await broker.kill();
      await Deno.remove(certs.dir, { recursive: true });
    }
  },
});

/**
 * An end-to-end MQTT load generator in TypeScript, usable against any broker:
 *
 *   deno task loadgen -- --scenario fanout --port 1883 [--qos 1] [--count 20000] [--persistent]
 *
 * Publishers and subscribers run in this process on raw TCP with pre-encoded
 * packets and coalesced writes. Payloads carry a send timestamp, the publisher
 * index and a sequence number, so end-to-end latency, loss and duplicates are
 * measured. A progress line goes to stderr every second; the last stdout line
 * is the summary. The run always ends by itself (--duration caps it).
 */
import { decodePacket, encodePacket, encodePublish } from "../../src/protocol/codec.ts";
import { FrameSplitter } from "../../src/protocol/frame_stream.ts";
import { type Packet, PacketType, type ProtocolLevel, type QoS } from "../../src/protocol/packet.ts";
import { BatchWriter } from "../../src/transport/batch_writer.ts";

interface Options {
  host: string;
  port: number;
  pubs: number;
  subs: number;
  qos: QoS;
  size: number;
  count: number;
  inflight: number;
  window: number;
  duration: number;
  proto: ProtocolLevel;
  mode: "shared" | "mesh";
  persistent: boolean;
  json: boolean;
}

const SCENARIOS: Record<string, Partial<Options>> = {
  one1: { pubs: 1, subs: 1, mode: "shared", count: 100_000, window: 2000 },
  fanin: { pubs: 20, subs: 1, mode: "shared", count: 5_000, window: 100 },
  fanout: { pubs: 1, subs: 20, mode: "shared", count: 10_000, window: 200 },
  mesh: { pubs: 20, subs: 0, mode: "mesh", count: 1_000, window: 20 },
};

export function parseOptions(argv: string[]): Options {
  const o: Options = {
    host: "127.0.0.1",
    port: 1883,
    pubs: 1,
    subs: 1,
    qos: 0,
    size: 64,
    count: 10_000,
    inflight: 64,
    window: 1000,
    duration: 30,
    proto: 4,
    mode: "shared",
    persistent: false,
    json: false,
  };
  const scenario = argv.indexOf("--scenario");
  if (scenario >= 0) {
    const preset = SCENARIOS[argv[scenario + 1]];
    if (!preset) throw new Error(`unknown scenario ${argv[scenario + 1]} (one1, fanin, fanout, mesh)`);
    Object.assign(o, preset);
  }
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, "");
    if (name === "scenario") {
      i++;
      continue;
    }
    if (name === "persistent" || name === "json") {
      o[name] = true;
      continue;
    }
    if (!(name in o)) throw new Error(`unknown option --${name}`);
    const value = argv[++i];
    (o as unknown as Record<string, unknown>)[name] = name === "host" || name === "mode"
      ? value
      : Number(value);
  }
  if (o.mode === "mesh") o.subs = o.pubs;
  return o;
}

/** One raw MQTT connection. */
class Conn {
  readonly #conn: Deno.Conn;
  readonly writer: BatchWriter;
  readonly #splitter = new FrameSplitter();
  onPacket: (p: Packet) => void = () => {};
  readonly level: ProtocolLevel;
  closed = false;

  constructor(conn: Deno.TcpConn, level: ProtocolLevel) {
    this.#conn = conn;
    this.level = level;
    conn.setNoDelay(true);
    this.writer = new BatchWriter((b) => conn.write(b), { onClose: () => this.#close() });
    this.#read();
  }

  async #read(): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        for (const f of this.#splitter.push(buf.subarray(0, n))) this.onPacket(decodePacket(f, this.level));
      }
    } catch {
      // connection reset: reported through `closed`
    }
    this.closed = true;
  }

  #close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  send(p: Packet): void {
    this.writer.write(encodePacket(p, this.level));
  }

  next(type: number, timeoutMs = 10_000): Promise<Packet> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no packet type ${type} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const previous = this.onPacket;
      this.onPacket = (p) => {
        if (p.type !== type) return previous(p);
        clearTimeout(timer);
        this.onPacket = previous;
        resolve(p);
      };
    });
  }

  static async open(o: Options, clientId: string): Promise<Conn> {
    const c = new Conn(await Deno.connect({ hostname: o.host, port: o.port }), o.proto);
    const connack = c.next(PacketType.CONNACK);
    c.send({
      type: PacketType.CONNECT,
      protocolName: "MQTT",
      protocolLevel: o.proto,
      clean: !o.persistent,
      keepAlive: 60,
      clientId,
      properties: o.proto === 5 && o.persistent ? { sessionExpiryInterval: 300 } : undefined,
    });
    const ack = await connack as { reasonCode: number };
    if (ack.reasonCode !== 0) throw new Error(`CONNECT refused: ${ack.reasonCode}`);
    return c;
  }

  close(): void {
    this.writer.write(new Uint8Array([0xe0, 0x00]));
    this.writer.close();
  }
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** Runs one load test and returns its summary. */
export async function runLoad(o: Options, progress = true) {
  const prefix = `lg${Math.floor(Math.random() * 1e6)}`;
  const topicOf = (i: number) => o.mode === "mesh" ? `${prefix}/${i}` : `${prefix}/t`;
  const expected = o.mode === "mesh" ? o.pubs * o.count * o.subs : o.pubs * o.count * o.subs;
  const latencies = new Float64Array(Math.min(expected, 2_000_000));
  let delivered = 0;
  let duplicates = 0;
  const seen = new Map<string, Uint8Array>();
  const subs: Conn[] = [];
  for (let s = 0; s < o.subs; s++) {
    const c = await Conn.open(o, `${prefix}-sub-${s}`);
    const bits = new Uint8Array(o.pubs * o.count);
    seen.set(`${s}`, bits);
    c.onPacket = (p) => {
      if (p.type === PacketType.PUBLISH) {
        const view = new DataView(p.payload.buffer, p.payload.byteOffset, p.payload.byteLength);
        const sent = view.getFloat64(0);
        const index = view.getUint32(8) * o.count + view.getUint32(12);
        if (bits[index]) duplicates++;
        else {
          bits[index] = 1;
          if (delivered < latencies.length) latencies[delivered] = (performance.now() - sent) * 1000;
          delivered++;
        }
        if (p.qos === 1) c.send({ type: PacketType.PUBACK, packetId: p.packetId!, reasonCode: 0 });
        if (p.qos === 2) c.send({ type: PacketType.PUBREC, packetId: p.packetId!, reasonCode: 0 });
      } else if (p.type === PacketType.PUBREL) {
        c.send({ type: PacketType.PUBCOMP, packetId: p.packetId, reasonCode: 0 });
      }
    };
    const suback = c.next(PacketType.SUBACK);
    c.send({
      type: PacketType.SUBSCRIBE,
      packetId: 1,
      subscriptions: [{
        filter: o.mode === "mesh" ? `${prefix}/+` : topicOf(0),
        qos: o.qos,
        noLocal: false,
        retainAsPublished: false,
        retainHandling: 0,
      }],
    });
    await suback;
    subs.push(c);
  }
  const pubs: Conn[] = o.mode === "mesh" ? subs : [];
  for (let p = pubs.length; p < o.pubs; p++) pubs.push(await Conn.open(o, `${prefix}-pub-${p}`));

  const start = performance.now();
  const deadline = start + o.duration * 1000;
  let published = 0;
  let acked = 0;
  let lastDelivery = start;
  const ticker = progress
    ? setInterval(() => {
      const secs = (performance.now() - start) / 1000;
      console.error(
        `${secs.toFixed(0)}s published=${published} delivered=${delivered}/${expected} rate=${
          Math.round(delivered / secs)
        } msg/s`,
      );
    }, 1000)
    : undefined;

  const publisher = async (index: number, c: Conn) => {
    let inflight = 0;
    let wake: (() => void) | null = null;
    const previous = c.onPacket;
    c.onPacket = (p) => {
      if (p.type === PacketType.PUBACK || p.type === PacketType.PUBCOMP) {
        inflight--;
        acked++;
        wake?.();
      } else if (p.type === PacketType.PUBREC) {
        c.send({ type: PacketType.PUBREL, packetId: p.packetId, reasonCode: 0 });
      } else previous(p);
    };
    const payload = new Uint8Array(Math.max(16, o.size));
    const view = new DataView(payload.buffer);
    view.setUint32(8, index);
    const template = encodePublish({
      type: PacketType.PUBLISH,
      topic: topicOf(index),
      payload,
      qos: o.qos,
      retain: false,
      dup: false,
      packetId: 1,
    }, o.proto);
    for (let seq = 0; seq < o.count; seq++) {
      while (
        (o.qos > 0 && inflight >= o.inflight) ||
        (published / o.pubs - delivered / Math.max(1, o.subs) > o.window)
      ) {
        if (performance.now() > deadline || c.closed) return;
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 1);
        });
        wake = null;
      }
      view.setFloat64(0, performance.now());
      view.setUint32(12, seq);
      c.writer.writePublish(template.head, template.packetIdOffset, (seq % 65535) + 1, payload);
      published++;
      if (o.qos > 0) inflight++;
      if (seq % 64 === 63) await new Promise((r) => setTimeout(r, 0));
    }
  };
  await Promise.all(pubs.map((c, i) => publisher(i, c)));
  while (delivered < expected && performance.now() < deadline) {
    const before = delivered;
    await new Promise((r) => setTimeout(r, 5));
    if (delivered !== before) lastDelivery = performance.now();
  }
  if (delivered >= expected) lastDelivery = performance.now();
  clearInterval(ticker);
  for (const c of new Set([...pubs, ...subs])) c.close();
  const secs = (lastDelivery - start) / 1000;
  const sorted = latencies.subarray(0, Math.min(delivered, latencies.length)).sort();
  return {
    delivered,
    expected,
    rate: Math.round(delivered / secs),
    p50_us: Math.round(percentile(sorted, 0.5)),
    p95_us: Math.round(percentile(sorted, 0.95)),
    p99_us: Math.round(percentile(sorted, 0.99)),
    loss: expected - delivered,
    duplicates,
    published,
    acked,
    secs: Number(secs.toFixed(3)),
  };
}

if (import.meta.main) {
  let options: Options;
  try {
    options = parseOptions(Deno.args);
  } catch (err) {
    console.error((err as Error).message);
    Deno.exit(2);
  }
  try {
    const r = await runLoad(options, true);
    console.log(options.json ? JSON.stringify(r) : Object.entries(r).map(([k, v]) => `${k}=${v}`).join(" "));
    Deno.exit(r.loss === 0 ? 0 : 1);
  } catch (err) {
    console.error(`load test failed: ${(err as Error).message}`);
    Deno.exit(1);
  }
}

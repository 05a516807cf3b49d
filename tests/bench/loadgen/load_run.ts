/**
 * Runs one load test: connects subscribers then publishers, drives the
 * publishers under the inflight, window and rate limits, and tracks every
 * delivery (latency, loss, duplicates) until all arrived, the run goes idle,
 * a connection fails, or the duration cap is hit.
 */
import { type ConnectOptions, LoadClient } from "./load_client.ts";
import type { LoadOptions } from "./options.ts";
import { LoadTracker } from "./load_tracker.ts";
import { Header, publishLayout, publishTemplate, writeAck } from "./wire.ts";

export interface LoadSummary {
  delivered: number;
  expected: number;
  /** Delivered messages per second, from the first publish to the last delivery. */
  rate: number;
  p50_us: number;
  p95_us: number;
  p99_us: number;
  max_us: number;
  loss: number;
  duplicates: number;
  published: number;
  acked: number;
  /** Times a publisher gave up waiting for its window (QoS 0 loss) after 1 s without progress. */
  stalls: number;
  secs: number;
  /** Why the run ended early: a connection failed. */
  error?: string;
}

export interface LoadProgress {
  secs: number;
  published: number;
  delivered: number;
  expected: number;
  acked: number;
}

/** Nothing delivered or acknowledged for this long after publishing ends: the run is over. */
const IDLE_MS = 3000;
const WINDOW_STALL_MS = 1000;
const CONNECT_PARALLELISM = 50;

export async function runLoad(
  o: LoadOptions,
  hooks: { onProgress?: (p: LoadProgress) => void } = {},
): Promise<LoadSummary> {
  const t = new LoadTracker(o);
  const prefix = `loadgen/${crypto.randomUUID().slice(0, 8)}`;
  const connections = o.mode === "shared" ? o.pubs + o.subs : o.pubs;
  const base: Omit<ConnectOptions, "clientId"> = {
    ...o,
    readBytes: connections > 1000 ? 16 * 1024 : undefined,
  };
  const clients: LoadClient[] = [];
  const open = async (name: string) => {
    const c = await LoadClient.open({ ...base, clientId: `${prefix.replace("/", "-")}-${name}` });
    clients.push(c);
    c.onRead = () => t.notify();
    c.onLost = (reason) => t.fail(`${c.name}: ${reason}`);
    return c;
  };
  let ticker: ReturnType<typeof setInterval> | undefined;
  // The hard cap: stop everyone, then close the sockets so that no await (a write the
  // broker never reads) can outlive the run.
  let closer: ReturnType<typeof setTimeout> | undefined;
  const cap = setTimeout(() => {
    t.stop();
    closer = setTimeout(() => clients.forEach((c) => c.close()), 500);
  }, o.duration * 1000);
  try {
    const topics = topicsFor(o, prefix);
    const subs = await inBatches(o.subs, async (s) => {
      const c = await open(`sub${s}`);
      attachSubscriber(c, s, t);
      await c.subscribe(topics.filter(s), o.qos);
      return c;
    });
    const pubs = o.mode !== "shared" ? subs : await inBatches(o.pubs, async (p) => {
      const c = await open(`pub${p}`);
      c.onFrame = (first, data, start) => t.onPublisherFrame(c, first, data, start);
      return c;
    });
    t.start();
    ticker = setInterval(() => hooks.onProgress?.(t.progress()), 1000);
    await Promise.all(pubs.map((c, i) => publish(c, i, topics.publish(i), o, t)));
    await drain(t);
  } catch (err) {
    t.fail((err as Error).message);
  } finally {
    clearInterval(ticker);
    clearTimeout(cap);
    clearTimeout(closer);
    await Promise.all(clients.map((c) => c.disconnect()));
  }
  return t.summary();
}

/** Which filter subscriber s uses and which topic publisher p writes to, per mode. */
function topicsFor(o: LoadOptions, prefix: string) {
  if (o.mode === "mesh") return { filter: () => `${prefix}/+`, publish: (p: number) => `${prefix}/${p}` };
  if (o.mode === "ring") {
    // Client p publishes to the next client's topic, so every message crosses two connections.
    return {
      filter: (s: number) => `${prefix}/${s}`,
      publish: (p: number) => `${prefix}/${(p + 1) % o.pubs}`,
    };
  }
  return { filter: () => `${prefix}/t`, publish: () => `${prefix}/t` };
}

async function inBatches<T>(n: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += CONNECT_PARALLELISM) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + CONNECT_PARALLELISM); j++) batch.push(make(j));
    // allSettled: every connection of the batch is registered (and later closed) even if one fails.
    for (const r of await Promise.allSettled(batch)) {
      if (r.status === "rejected") throw r.reason;
      out.push(r.value);
    }
  }
  return out;
}

/** Subscriber side: record each PUBLISH and complete the QoS 1/2 handshakes. */
function attachSubscriber(c: LoadClient, sub: number, t: LoadTracker): void {
  const level = c.level;
  c.onFrame = (first, data, start, end) => {
    const type = first & 0xf0;
    if (type === Header.PUBLISH) {
      const { qos, packetId, payloadAt } = publishLayout(level, first, data, start);
      if (end - payloadAt >= 16) {
        const view = new DataView(data.buffer, data.byteOffset + payloadAt, 16);
        t.deliver(sub, view.getUint32(8), view.getUint32(12), view.getFloat64(0));
      }
      if (qos > 0) ack(c, qos === 1 ? Header.PUBACK : Header.PUBREC, packetId);
    } else if (type === (Header.PUBREL & 0xf0)) {
      ack(c, Header.PUBCOMP, (data[start] << 8) | data[start + 1]);
    } else t.onPublisherFrame(c, first, data, start);
  };
}

function ack(c: LoadClient, first: number, packetId: number): void {
  const { buf, at } = c.writer.reserve(4);
  writeAck(buf, at, first, packetId);
}

/** Publisher side: pre-encoded PUBLISH, patched in place, appended in batches under the limits. */
async function publish(c: LoadClient, index: number, topic: string, o: LoadOptions, t: LoadTracker) {
  const tpl = publishTemplate(c.level, topic, o.qos, o.size);
  const batchCap = Math.max(1, Math.floor(64 * 1024 / tpl.bytes.length));
  t.registerPublisher(c, index);
  let packetId = 0;
  const blocked: Blocked = { since: performance.now(), mark: -1 };
  for (let seq = 0; seq < o.count && !t.stopped;) {
    let allowed = Math.min(batchCap, o.count - seq, t.windowRoom(index, seq));
    if (o.qos > 0) allowed = Math.min(allowed, o.inflight - t.inflight[index]);
    if (o.rate > 0) allowed = Math.min(allowed, dueBy(o, index, t.elapsedMs()) - seq);
    if (allowed <= 0) {
      await waitForRoom(o, t, index, seq, blocked);
      continue;
    }
    for (let k = 0; k < allowed; k++, seq++) {
      const { buf, at } = c.writer.reserve(tpl.bytes.length);
      buf.set(tpl.bytes, at);
      if (tpl.packetIdAt >= 0) {
        packetId = packetId === 65535 ? 1 : packetId + 1;
        buf[at + tpl.packetIdAt] = packetId >> 8;
        buf[at + tpl.packetIdAt + 1] = packetId & 0xff;
      }
      const view = new DataView(buf.buffer, buf.byteOffset + at + tpl.payloadAt, 16);
      view.setFloat64(0, performance.now());
      view.setUint32(8, index);
      view.setUint32(12, seq);
    }
    t.published += allowed;
    if (o.qos > 0) t.inflight[index] += allowed;
    await c.writer.drained();
    if (c.writer.error) t.fail(`${c.name}: ${c.writer.error.message}`);
  }
}

/** Since when a publisher has been blocked, and the progress mark it saw then. */
interface Blocked {
  since: number;
  mark: number;
}

/**
 * With --rate, how many of publisher `index`'s messages are due after `ms`. Message k is due at
 * (k + index / pubs) / rate seconds: the publishers are spread evenly over each period instead of
 * all firing at the same instant, as independent clients would be.
 */
function dueBy(o: LoadOptions, index: number, ms: number): number {
  const periods = ms * o.rate / 1000 - index / o.pubs;
  return periods < 0 ? 0 : Math.floor(periods) + 1;
}

async function waitForRoom(o: LoadOptions, t: LoadTracker, index: number, seq: number, blocked: Blocked) {
  if (o.rate > 0 && dueBy(o, index, t.elapsedMs()) <= seq) {
    // Rate-limited: sleep until this message is due.
    const dueMs = ((seq + index / o.pubs) * 1000) / o.rate;
    await new Promise((r) => setTimeout(r, Math.max(1, dueMs - t.elapsedMs())));
    return;
  }
  await t.waitProgress(WINDOW_STALL_MS);
  const now = performance.now();
  if (t.progressMark() !== blocked.mark) {
    blocked.mark = t.progressMark();
    blocked.since = now;
  } else if (now - blocked.since >= WINDOW_STALL_MS && t.windowRoom(index, seq) <= 0 && !t.stopped) {
    // Nothing arrived for a second: QoS 0 messages may have been dropped, so do not wait forever.
    t.releaseWindow(index);
    blocked.since = now;
  }
}

/** After publishing: wait for every delivery and acknowledgement, going idle, a failure, or the cap. */
async function drain(t: LoadTracker): Promise<void> {
  let mark = t.progressMark();
  let idleSince = performance.now();
  while (!t.stopped && !t.complete()) {
    await t.waitProgress(100);
    const now = performance.now();
    if (t.progressMark() !== mark) {
      mark = t.progressMark();
      idleSince = now;
    } else if (now - idleSince > IDLE_MS) return;
  }
}

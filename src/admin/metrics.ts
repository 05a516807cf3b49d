/**
 * The `/metrics` endpoint in the Prometheus text exposition format. Labels are
 * drawn from bounded sets only (listener names from the configuration, protocol
 * levels, packet types, drop reasons): never a client id or a topic, so that the
 * series count cannot grow with traffic.
 *
 * @module
 */
import type { AdminView } from "../broker/admin_view.ts";
import type { BridgeStatus } from "../bridge/bridge.ts";
import type { PeerStatus } from "../broker/peers.ts";
import { COMMIT_BUCKETS_MS } from "../broker/stats.ts";
import { PacketType } from "../protocol/packet.ts";
import type { EventLoopMonitor } from "./event_loop.ts";

const TYPE_NAMES = Object.fromEntries(Object.entries(PacketType).map(([k, v]) => [v, k.toLowerCase()]));

/** Accumulates one metric family at a time. */
class Exposition {
  readonly lines: string[] = [];

  family(name: string, type: "counter" | "gauge" | "histogram", help: string): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    return this;
  }

  sample(name: string, value: number, labels?: Record<string, string | number>): this {
    const text = labels === undefined
      ? ""
      : `{${
        Object.entries(labels).map(([k, v]) =>
          `${k}="${String(v).replace(/["\\\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`)}"`
        )
          .join(",")
      }}`;
    this.lines.push(`${name}${text} ${Number.isFinite(value) ? value : 0}`);
    return this;
  }
}

/** One counter family with a sample per packet type, from counts indexed by type. */
function perType(e: Exposition, name: string, help: string, counts: readonly number[]): void {
  e.family(name, "counter", help);
  for (let t = 1; t <= 15; t++) e.sample(name, counts[t], { type: TYPE_NAMES[t] });
}

/**
 * One listener's transport counters (src/transport/admission.ts ListenerStats has this shape).
 *
 * @example
 * ```ts
 * import type { TransportCounters } from "../server_mod.ts";
 * const failing = (c: TransportCounters) => c.acceptErrors + c.tlsFailures + c.handshakeTimeouts > 0;
 * console.log(failing({ name: "tcp", open: 0, handshaking: 0, acceptErrors: 0, refused: 0, tlsFailures: 0, upgradeFailures: 0, handshakeTimeouts: 0 }));
 * ```
 */
export interface TransportCounters {
  /** The listener's name. */
  readonly name: string;
  /** Sockets open now, at any stage. */
  readonly open: number;
  /** Sockets still in their TLS, HTTP upgrade or PROXY stage. */
  readonly handshaking: number;
  /** accept() failures (each retried after a back-off). */
  readonly acceptErrors: number;
  /** Connections closed at accept: a connection limit was reached. */
  readonly refused: number;
  /** Failed TLS handshakes. */
  readonly tlsFailures: number;
  /** HTTP requests refused instead of upgraded to WebSocket. */
  readonly upgradeFailures: number;
  /** Connections whose handshake stage outlived the connect timeout. */
  readonly handshakeTimeouts: number;
}

/** What the metrics read besides the broker's admin view. */
export interface MetricsSources {
  /** Adds the event-loop delay. */
  loop?: EventLoopMonitor;
  /** Adds the bridge families (labelled by bridge name, which comes from the configuration). */
  bridges?: readonly BridgeStatus[];
  /** Adds the listener families (labelled by listener name, which comes from the configuration). */
  listeners?: readonly TransportCounters[];
}

/** The listener families: sockets by stage, accept failures, refusals, failed and timed-out handshakes. */
function listenerFamilies(e: Exposition, listeners: readonly TransportCounters[]): void {
  const families: [string, "gauge" | "counter", string, (l: TransportCounters) => number][] = [
    ["mqtt_listener_sockets", "gauge", "Sockets open, at any stage from accept to close.", (l) => l.open],
    [
      "mqtt_listener_handshaking_sockets",
      "gauge",
      "Sockets still in their TLS, HTTP upgrade or PROXY stage.",
      (l) => l.handshaking,
    ],
    [
      "mqtt_listener_accept_errors_total",
      "counter",
      "accept() failures such as EMFILE/ENFILE, each retried after a back-off.",
      (l) => l.acceptErrors,
    ],
    [
      "mqtt_listener_refused_total",
      "counter",
      "Connections closed at accept: listener or broker connection limit reached.",
      (l) => l.refused,
    ],
    ["mqtt_listener_tls_failures_total", "counter", "Failed TLS handshakes.", (l) => l.tlsFailures],
    [
      "mqtt_listener_upgrade_failures_total",
      "counter",
      "HTTP requests refused instead of upgraded to WebSocket.",
      (l) => l.upgradeFailures,
    ],
    [
      "mqtt_listener_handshake_timeouts_total",
      "counter",
      "Connections closed because their handshake stage outlived limits.connect_timeout_ms.",
      (l) => l.handshakeTimeouts,
    ],
  ];
  for (const [name, type, help, value] of families) {
    e.family(name, type, help);
    for (const l of listeners) e.sample(name, value(l), { listener: l.name });
  }
}

/** The bridge families: connected state, messages each way, held messages, reconnects. */
function bridgeFamilies(e: Exposition, bridges: readonly BridgeStatus[]): void {
  e.family("mqtt_bridge_connected", "gauge", "1 while the bridge is connected to its remote broker.");
  for (const b of bridges) e.sample("mqtt_bridge_connected", b.connected ? 1 : 0, { bridge: b.name });
  e.family("mqtt_bridge_messages_total", "counter", "Messages carried by the bridge, by direction.");
  for (const b of bridges) {
    e.sample("mqtt_bridge_messages_total", b.messagesIn, { bridge: b.name, direction: "in" });
    e.sample("mqtt_bridge_messages_total", b.messagesOut, { bridge: b.name, direction: "out" });
  }
  e.family(
    "mqtt_bridge_queued_messages",
    "gauge",
    "QoS 1/2 messages held for the remote (queued and in flight).",
  );
  for (const b of bridges) e.sample("mqtt_bridge_queued_messages", b.queued, { bridge: b.name });
  e.family("mqtt_bridge_reconnects_total", "counter", "Reconnect attempts since start.");
  for (const b of bridges) e.sample("mqtt_bridge_reconnects_total", b.reconnects, { bridge: b.name });
}

/** Cluster mode: the node's NATS connection and the faults it waited out (docs/cluster.md). */
function clusterFamilies(e: Exposition, c: PeerStatus): void {
  e.family("mqtt_cluster_nats_connected", "gauge", "1 while this node is connected to a NATS server.")
    .sample("mqtt_cluster_nats_connected", c.connected ? 1 : 0);
  e.family("mqtt_cluster_nats_disconnects_total", "counter", "NATS connections lost since start.")
    .sample("mqtt_cluster_nats_disconnects_total", c.disconnects);
  e.family("mqtt_cluster_nats_reconnects_total", "counter", "NATS connections regained since start.")
    .sample("mqtt_cluster_nats_reconnects_total", c.reconnects);
  e.family(
    "mqtt_cluster_retries_total",
    "counter",
    "Stream publishes and store writes retried through a NATS fault.",
  ).sample("mqtt_cluster_retries_total", c.retries);
}

/** Renders every metric of the broker `admin` shows, and of the event loop and bridges when given. */
export function renderMetrics(admin: AdminView, sources: MetricsSources = {}): string {
  const loop = sources.loop;
  const s = admin.counters;
  const e = new Exposition();
  const byListener = new Map<string, number>();
  for (const client of admin.clients()) {
    const key = `${client.listener}\u0000${client.protocolLevel}`;
    byListener.set(key, (byListener.get(key) ?? 0) + 1);
  }
  e.family("mqtt_connections", "gauge", "Connected clients by listener and protocol level.");
  for (const [key, n] of byListener) {
    const [listener, level] = key.split("\u0000");
    e.sample("mqtt_connections", n, { listener, protocol: level });
  }
  e.family("mqtt_connections_total", "counter", "Network connections accepted since start.")
    .sample("mqtt_connections_total", s.connectionsTotal);
  e.family("mqtt_connect_refused_total", "counter", "CONNECT packets refused.")
    .sample("mqtt_connect_refused_total", s.connectRefused);
  e.family(
    "mqtt_protocol_errors_total",
    "counter",
    "Connections closed for a malformed packet or protocol error.",
  )
    .sample("mqtt_protocol_errors_total", s.protocolErrors);
  const sizes = admin.sizes();
  e.family("mqtt_sessions", "gauge", "Sessions held, connected or not.").sample(
    "mqtt_sessions",
    sizes.sessions,
  );

  perType(e, "mqtt_packets_received_total", "Control packets received, by type.", s.packetsReceived);
  perType(e, "mqtt_packets_sent_total", "Control packets sent, by type.", s.packetsSent);
  perType(e, "mqtt_bytes_received_total", "Bytes received, by packet type.", s.bytesReceivedByType);
  perType(e, "mqtt_bytes_sent_total", "Bytes sent, by packet type.", s.bytesSentByType);

  e.family("mqtt_messages_published_total", "counter", "Application messages received (clients and broker).")
    .sample("mqtt_messages_published_total", s.messagesReceived);
  e.family("mqtt_messages_delivered_total", "counter", "Application messages sent to clients.")
    .sample("mqtt_messages_delivered_total", s.messagesSent);
  e.family("mqtt_messages_dropped_total", "counter", "Messages not delivered, by reason.");
  for (const [reason, n] of Object.entries(s.dropped)) e.sample("mqtt_messages_dropped_total", n, { reason });

  const { inflight, queued } = admin.pendingMessages();
  e.family("mqtt_messages_inflight", "gauge", "QoS 1/2 messages sent and not yet acknowledged.")
    .sample("mqtt_messages_inflight", inflight);
  e.family("mqtt_messages_queued", "gauge", "Messages waiting in session queues.").sample(
    "mqtt_messages_queued",
    queued,
  );
  e.family("mqtt_subscriptions", "gauge", "Subscriptions in the topic tree.").sample(
    "mqtt_subscriptions",
    sizes.subscriptions,
  );
  e.family("mqtt_retained_messages", "gauge", "Retained messages.").sample(
    "mqtt_retained_messages",
    sizes.retained,
  );

  e.family("mqtt_store_commit_seconds", "histogram", "Durable store commit latency.");
  let cumulative = 0;
  COMMIT_BUCKETS_MS.forEach((le, i) => {
    cumulative += s.commitBuckets[i];
    e.sample("mqtt_store_commit_seconds_bucket", cumulative, { le: le / 1000 });
  });
  e.sample("mqtt_store_commit_seconds_bucket", s.commitCount, { le: "+Inf" })
    .sample("mqtt_store_commit_seconds_sum", s.commitSumMs / 1000)
    .sample("mqtt_store_commit_seconds_count", s.commitCount);

  if (sources.bridges !== undefined && sources.bridges.length > 0) bridgeFamilies(e, sources.bridges);
  if (sources.listeners !== undefined) listenerFamilies(e, sources.listeners);
  const cluster = admin.peerStatus();
  if (cluster !== undefined) clusterFamilies(e, cluster);
  if (loop !== undefined) {
    e.family("process_event_loop_delay_seconds", "gauge", "How late the last event-loop timer fired.")
      .sample("process_event_loop_delay_seconds", loop.lastMs / 1000);
  }
  const mem = Deno.memoryUsage();
  e.family("process_resident_memory_bytes", "gauge", "Resident set size.").sample(
    "process_resident_memory_bytes",
    mem.rss,
  );
  e.family("process_heap_used_bytes", "gauge", "V8 heap in use.").sample(
    "process_heap_used_bytes",
    mem.heapUsed,
  );
  e.family("process_uptime_seconds", "gauge", "Seconds since the broker started.")
    .sample("process_uptime_seconds", admin.uptimeMs() / 1000);
  return e.lines.join("\n") + "\n";
}

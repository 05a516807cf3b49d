/**
 * Starts a listener of any type from its configuration (tcp, tls, ws, wss), with the
 * framing limits every connection of a broker shares, the broker-wide connection gate
 * and the handshake time. Broker.listen (src/mod.ts) and startServer (src/server.ts)
 * both start theirs here, so the library entry does not load the server program.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Engine } from "../broker/broker.ts";
import type { ListenerConfig } from "../config/schema.ts";
import type { FrameSplitterOptions } from "../protocol/frame_stream.ts";
import { ReceiveBudget } from "../protocol/receive_budget.ts";
import type { ConnectionGate, ListenerStats } from "./admission.ts";
import type { Socket } from "./socket.ts";
import { listenTcp } from "./tcp.ts";
import { listenTls, type TlsSettings, validateCaBundle, validateCertificatePair } from "./tls.ts";
import { listenWebSocket } from "./websocket_listener.ts";

/**
 * A running listener of any type.
 *
 * @example
 * ```ts
 * import { Broker, type Listener } from "../mod.ts";
 * const broker = new Broker();
 * const listener: Listener = await broker.listen({ type: "tcp", host: "127.0.0.1", port: 0 });
 * console.log(listener.name, listener.port);
 * await broker.close();
 * ```
 */
export interface Listener {
  /** `tcp`, `tls`, `ws` or `wss`. */
  readonly type: string;
  /** The name in logs and metrics (`<type>:<host>:<port>` unless configured). */
  readonly name: string;
  /** The address it is bound to. */
  readonly hostname: string;
  /** The port it is bound to (the one picked when 0 was asked for). */
  readonly port: number;
  /** Transport counters (accept errors, refusals, handshake failures and timeouts). */
  readonly stats?: ListenerStats;
  /** Stops accepting; resolves once the listener is closed. */
  close(): Promise<void>;
}

/**
 * What every connection's framer enforces, from the engine's limits: the packet sizes and
 * one receive budget, which all the listeners of a broker share (so it is made once).
 * Kept by reference: a reload that changes the limits updates it for new connections.
 */
export function framingOptions(broker: Pick<Engine, "mqtt" | "limits">): FrameSplitterOptions {
  return {
    maxPacketSize: broker.mqtt.maxPacketSize,
    maxFirstPacketSize: broker.limits.maxConnectSize,
    budget: new ReceiveBudget(broker.limits.maxPartialPacketBytes),
  };
}

/** What a listener needs from the broker it serves. */
export interface ListenerContext {
  /**
   * Packet size limits and the receive budget ({@link framingOptions}): one object shared
   * by all the broker's listeners, so that every connection draws on the same budget and a
   * reload's new limits reach every listener.
   */
  framing: FrameSplitterOptions;
  /** Called with every connection once its handshake stage is over. */
  onSocket: (socket: Socket) => void;
  /** The broker-wide connection budget (`limits.max_connections`) shared by all listeners. */
  gate?: ConnectionGate;
  /** Time a connection may spend in its TLS/HTTP/PROXY handshake (`limits.connect_timeout_ms`). */
  handshakeTimeoutMs?: () => number;
}

/** The listener's name in logs and metrics. */
export function listenerName(l: ListenerConfig): string {
  return l.name ?? `${l.type}:${l.host}:${l.port}`;
}

/**
 * The certificate, key and CA of a tls or wss listener, checked (throws CertificateError
 * naming the file): what start, SIGHUP and `--check-config` all load.
 */
export function listenerCertificates(l: ListenerConfig): TlsSettings {
  const { cert, key, notAfter } = validateCertificatePair(l.cert_file!, l.key_file!);
  if (notAfter.getTime() < Date.now()) {
    getLogger(["mqtt", "server"]).warn("The certificate {file} of listener {listener} expired on {date}", {
      file: l.cert_file,
      listener: listenerName(l),
      date: notAfter.toISOString(),
    });
  }
  return {
    cert,
    key,
    ca: l.ca_file === undefined ? undefined : validateCaBundle(l.ca_file),
    requireCertificate: l.require_certificate,
    minVersion: l.min_tls_version,
  };
}

/** Starts one listener of any type. */
export async function startListener(l: ListenerConfig, context: ListenerContext): Promise<Listener> {
  const common = {
    hostname: l.host,
    port: l.port,
    name: listenerName(l),
    framing: context.framing,
    maxConnections: l.max_connections,
    gate: context.gate,
    handshakeTimeoutMs: context.handshakeTimeoutMs,
  };
  switch (l.type) {
    case "tcp":
      return listenTcp({ ...common, proxyProtocol: l.proxy_protocol }, context.onSocket);
    case "tls":
      return await listenTls({ ...common, ...listenerCertificates(l) }, context.onSocket);
    case "ws":
    case "wss":
      return await listenWebSocket({
        ...common,
        path: l.path,
        tls: l.type === "wss" ? listenerCertificates(l) : undefined,
      }, context.onSocket);
  }
}

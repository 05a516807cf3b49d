/**
 * Starts a listener of any type from its configuration (tcp, tls, ws, wss), with the
 * framing limits every connection of a broker shares. Broker.listen (src/mod.ts) and
 * startServer (src/server.ts) both start theirs here, so the library entry does not load
 * the server program.
 *
 * @module
 */
import type { Broker } from "../broker/broker.ts";
import type { BrokerConfig, ListenerConfig } from "../config/schema.ts";
import type { FrameSplitterOptions } from "../protocol/frame_stream.ts";
import { ReceiveBudget } from "../protocol/receive_budget.ts";
import type { Socket } from "./socket.ts";
import { listenTcp } from "./tcp.ts";
import { listenTls } from "./tls.ts";
import { listenWebSocket } from "./websocket.ts";

/** A running listener of any type. */
export interface Listener {
  /** `tcp`, `tls`, `ws` or `wss`. */
  readonly type: string;
  /** The name in logs and metrics (`<type>:<host>:<port>` unless configured). */
  readonly name: string;
  /** The address it is bound to. */
  readonly hostname: string;
  /** The port it is bound to (the one picked when 0 was asked for). */
  readonly port: number;
  /** Stops accepting; resolves once the listener is closed. */
  close(): Promise<void>;
}

/**
 * What every connection's framer enforces, from the engine's limits: the packet sizes and
 * one receive budget, which all the listeners of a broker share (so it is made once).
 * Kept by reference: a reload that changes the limits updates it for new connections.
 */
export function framingOptions(broker: Pick<Broker, "mqtt" | "limits">): FrameSplitterOptions {
  return {
    maxPacketSize: broker.mqtt.maxPacketSize,
    maxFirstPacketSize: broker.limits.maxConnectSize,
    budget: new ReceiveBudget(broker.limits.maxPartialPacketBytes),
  };
}

/** Starts one listener of any type; `framing` defaults to the configuration's limits. */
export async function startListener(
  l: ListenerConfig,
  config: BrokerConfig,
  onSocket: (s: Socket) => void,
  framing?: FrameSplitterOptions,
): Promise<Listener> {
  const name = l.name ?? `${l.type}:${l.host}:${l.port}`;
  framing ??= {
    maxPacketSize: config.mqtt.max_packet_size,
    maxFirstPacketSize: config.limits?.max_connect_size,
  };
  const read = (path: string | undefined) => path === undefined ? undefined : Deno.readTextFileSync(path);
  switch (l.type) {
    case "tcp":
      return listenTcp({
        hostname: l.host,
        port: l.port,
        name,
        framing,
        proxyProtocol: l.proxy_protocol,
        maxConnections: l.max_connections,
      }, onSocket);
    case "tls":
      return await listenTls({
        hostname: l.host,
        port: l.port,
        name,
        framing,
        cert: read(l.cert_file)!,
        key: read(l.key_file)!,
        ca: read(l.ca_file),
        requireCertificate: l.require_certificate,
        minVersion: l.min_tls_version,
        maxConnections: l.max_connections,
      }, onSocket);
    case "ws":
    case "wss":
      return await listenWebSocket({
        hostname: l.host,
        port: l.port,
        path: l.path,
        name,
        framing,
        tls: l.type === "wss" ? { cert: read(l.cert_file)!, key: read(l.key_file)! } : undefined,
      }, onSocket);
  }
}

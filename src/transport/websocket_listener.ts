/**
 * The ws and wss listeners. The broker accepts each TCP connection itself (see
 * accept_loop.ts), runs TLS with node:tls for wss (so `ca_file` and
 * `require_certificate` work exactly as on tls listeners), reads the HTTP
 * upgrade request and answers it, and only then hands the connection to the
 * engine. Deno.serve cannot do this: it gives no hold on a connection before
 * its request arrives (idle connections were never closed nor counted), cannot
 * verify client certificates, and ends the process when accept() fails with
 * EMFILE. The handshake stage (TLS and HTTP) must finish within the connect
 * timeout.
 *
 * @module
 */
import type { TLSSocket } from "node:tls";
import type { FrameSplitterOptions } from "../protocol/frame_stream.ts";
import { getLogger } from "@logtape/logtape";
import { AcceptLoop, type Slot } from "./accept_loop.ts";
import { ConnectionGate, ListenerStats } from "./admission.ts";
import { type ByteChannel, connChannel, tlsChannel } from "./byte_channel.ts";
import {
  checkUpgrade,
  parseRequestHead,
  type Refusal,
  refusalResponse,
  switchingProtocols,
} from "./http_upgrade.ts";
import type { Socket } from "./socket.ts";
import { DEFAULT_HANDSHAKE_TIMEOUT_MS } from "./tcp.ts";
import { certificateIdentity, type TlsSettings, TlsTerminator } from "./tls.ts";
import { upgradedSocket } from "./upgraded_socket.ts";

const log = getLogger(["mqtt", "transport"]);

export interface WebSocketOptions {
  hostname: string;
  port: number;
  /** HTTP path that upgrades to MQTT (default "/mqtt"). */
  path?: string;
  name?: string;
  /** Packet size limits and the broker's receive budget, shared by every connection's framer. */
  framing?: FrameSplitterOptions;
  /** Serve wss: certificate, key, and client certificate settings as on tls listeners. */
  tls?: TlsSettings;
  /** Connections accepted at once on this listener (0 = no limit), counted from accept. */
  maxConnections?: number;
  /** The broker-wide connection budget shared by all listeners (default: this listener's alone). */
  gate?: ConnectionGate;
  stats?: ListenerStats;
  /** Time allowed for TLS and the HTTP upgrade together (default 10 s, as `limits.connect_timeout_ms`). */
  handshakeTimeoutMs?: () => number;
}

export interface WebSocketListener {
  readonly type: "ws" | "wss";
  readonly name: string;
  readonly hostname: string;
  readonly port: number;
  readonly stats: ListenerStats;
  /** wss only: swaps the certificate, key and CA for new connections. */
  reloadCertificates?(cert: string, key: string, ca?: string): void;
  close(): Promise<void>;
}

/**
 * Reads the upgrade request from `channel` and answers it. Resolves with the bytes that
 * followed the request once the 101 is on its way, or with why it was refused (the
 * refusal has been answered), or null when the peer left first.
 */
export function readUpgrade(
  channel: ByteChannel,
  path: string,
): Promise<{ initial: Uint8Array } | { refused: Refusal } | null> {
  return new Promise((resolve) => {
    let head = new Uint8Array(0);
    const refuse = (refusal: Refusal) => {
      channel.write(refusalResponse(refusal)).catch(() => {});
      channel.end();
      resolve({ refused: refusal });
    };
    channel.receive({
      data(chunk) {
        const joined = new Uint8Array(head.length + chunk.length);
        joined.set(head);
        joined.set(chunk, head.length);
        head = joined;
        const parsed = parseRequestHead(head);
        if (parsed === null) return;
        channel.pause();
        if ("status" in parsed) return refuse(parsed);
        const answer = checkUpgrade(parsed, path);
        if ("status" in answer) return refuse(answer);
        channel.write(switchingProtocols(answer.accept, answer.protocol)).catch(() => {});
        resolve({ initial: parsed.rest });
      },
      end: () => resolve(null),
    });
  });
}

/** Serves MQTT over WebSocket; every upgraded connection goes to `onSocket`. */
export function listenWebSocket(
  options: WebSocketOptions,
  onSocket: (socket: Socket) => void,
): Promise<WebSocketListener> {
  const path = options.path ?? "/mqtt";
  const type = options.tls ? "wss" : "ws";
  // No ALPN for wss: browsers offer http/1.1, and answering "mqtt" would fail them.
  const terminator = options.tls ? new TlsTerminator(options.tls, []) : undefined;
  const listener = Deno.listen({ hostname: options.hostname, port: options.port, transport: "tcp" });
  const addr = listener.addr as Deno.NetAddr;
  const name = options.name ?? `${type}:${addr.hostname}:${addr.port}`;
  const stats = options.stats ?? new ListenerStats(name, type);

  const serve = async (conn: Deno.TcpConn, slot: Slot, remoteAddress: string) => {
    let channel: ByteChannel;
    let identity: string | undefined;
    if (terminator) {
      let tls: TLSSocket;
      try {
        tls = await terminator.handshake(conn);
      } catch (err) {
        if (!slot.released) {
          stats.tlsFailures++;
          log.debug("TLS handshake from {address} on {listener} failed: {reason}", {
            address: remoteAddress,
            listener: name,
            reason: (err as Error).message,
          });
        }
        throw err;
      }
      channel = tlsChannel(tls);
      identity = certificateIdentity(tls);
    } else channel = connChannel(conn);
    channel.closed.then(() => slot.release());
    if (slot.released) return channel.destroy(); // the handshake took too long
    const upgrade = await readUpgrade(channel, path);
    if (slot.released || upgrade === null) return channel.destroy();
    if ("refused" in upgrade) {
      slot.handedOver(); // answered: it only lingers until the client has read the refusal
      stats.upgradeFailures++;
      log.debug("WebSocket request from {address} on {listener} refused: {status} {reason}", {
        address: remoteAddress,
        listener: name,
        status: upgrade.refused.status,
        reason: upgrade.refused.message,
      });
      return;
    }
    slot.handedOver();
    const socket = upgradedSocket(channel, {
      listener: name,
      remoteAddress,
      framing: options.framing,
      identity,
      initial: upgrade.initial,
    });
    onSocket(socket);
    channel.resume();
  };

  const loop = new AcceptLoop(listener, {
    stats,
    gate: options.gate ?? new ConnectionGate(),
    maxConnections: options.maxConnections ?? 0,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? (() => DEFAULT_HANDSHAKE_TIMEOUT_MS),
  }, (conn, slot) => {
    conn.setNoDelay(true);
    const remote = conn.remoteAddr as Deno.NetAddr;
    serve(conn, slot, `${remote.hostname}:${remote.port}`).catch(() => {
      try {
        conn.close();
      } catch {
        // already closed
      }
      slot.release();
    });
  });
  return Promise.resolve({
    type,
    name,
    hostname: addr.hostname,
    port: addr.port,
    stats,
    ...(terminator
      ? { reloadCertificates: (c: string, k: string, ca?: string) => terminator.reload(c, k, ca) }
      : {}),
    close: () => loop.close(),
  });
}

/**
 * A complete broker process from a configuration: store, security, engine and
 * listeners. main.ts and embedders that want "the program" call startServer().
 *
 * @module
 */
import { Broker } from "./broker/broker.ts";
import type { Authenticator, Authorizer } from "./broker/security.ts";
import { brokerOptionsFrom } from "./config/broker_options.ts";
import type { BrokerConfig, ListenerConfig } from "./config/schema.ts";
import { getLog } from "./log/logging.ts";
import { KvStore } from "./persistence/kv_store.ts";
import { MemoryStore } from "./persistence/memory_store.ts";
import type { Store } from "./persistence/store.ts";
import { listenTcp } from "./transport/tcp.ts";
import { listenTls, type TlsListener } from "./transport/tls.ts";
import { listenWebSocket } from "./transport/websocket.ts";
import type { Socket } from "./transport/socket.ts";

/** A running listener of any type. */
export interface Listener {
  readonly type: string;
  readonly name: string;
  readonly hostname: string;
  readonly port: number;
  close(): Promise<void>;
}

/** A running broker with its listeners. */
export interface Server {
  readonly broker: Broker;
  readonly listeners: Listener[];
  readonly config: BrokerConfig;
  /** Stops listening, closes clients gracefully and flushes the store. */
  close(): Promise<void>;
}

export interface ServerOptions {
  version?: string;
  /** Replace the security objects built from the configuration. */
  authenticator?: Authenticator;
  authorizer?: Authorizer;
}

function storeFor(config: BrokerConfig): Store {
  const p = config.persistence;
  if (p.type === "memory") return new MemoryStore();
  return new KvStore({ path: p.path, commitWindowMs: p.commit_window_ms });
}

/** The default policy without files: anonymous clients per `auth.allow_anonymous`. */
function anonymousPolicy(config: BrokerConfig): Authenticator {
  return {
    authenticate: (info) => {
      const listener = config.listeners.find((l) => (l.name ?? "") === info.listener);
      const allowed = listener?.allow_anonymous ?? config.auth.allow_anonymous;
      if (info.username === undefined && allowed) return Promise.resolve({ ok: true });
      // A user name taken from a verified client certificate is authenticated by that certificate.
      if (info.username !== undefined && info.username === info.certificateIdentity) {
        return Promise.resolve({ ok: true });
      }
      return Promise.resolve({
        ok: false,
        reason: info.username === undefined ? "not_authorized" : "bad_credentials",
      });
    },
  };
}

/** Starts one listener of any type. */
async function startListener(
  l: ListenerConfig,
  config: BrokerConfig,
  onSocket: (s: Socket) => void,
): Promise<Listener> {
  const name = l.name ?? `${l.type}:${l.host}:${l.port}`;
  const maxPacketSize = config.mqtt.max_packet_size;
  const read = (path: string | undefined) => path === undefined ? undefined : Deno.readTextFileSync(path);
  switch (l.type) {
    case "tcp":
      return listenTcp({ hostname: l.host, port: l.port, name, maxPacketSize }, onSocket);
    case "tls":
      return await listenTls({
        hostname: l.host,
        port: l.port,
        name,
        maxPacketSize,
        cert: read(l.cert_file)!,
        key: read(l.key_file)!,
        ca: read(l.ca_file),
        requireCertificate: l.require_certificate,
      }, onSocket);
    case "ws":
    case "wss":
      return await listenWebSocket({
        hostname: l.host,
        port: l.port,
        path: l.path,
        name,
        maxPacketSize,
        tls: l.type === "wss" ? { cert: read(l.cert_file)!, key: read(l.key_file)! } : undefined,
      }, onSocket);
  }
}

/** Re-reads the certificate files of TLS listeners (SIGHUP); open connections are kept. */
export function reloadCertificates(server: Server): string[] {
  const reloaded: string[] = [];
  server.config.listeners.forEach((l, i) => {
    const listener = server.listeners[i] as Listener & Partial<TlsListener>;
    if (l.type !== "tls" || !listener?.reloadCertificates) return;
    const ca = l.ca_file ? Deno.readTextFileSync(l.ca_file) : undefined;
    listener.reloadCertificates(Deno.readTextFileSync(l.cert_file!), Deno.readTextFileSync(l.key_file!), ca);
    reloaded.push(listener.name);
  });
  return reloaded;
}

/** Builds and starts everything the configuration describes. */
export async function startServer(config: BrokerConfig, options: ServerOptions = {}): Promise<Server> {
  const log = getLog("server");
  const store = storeFor(config);
  const broker = new Broker({
    ...brokerOptionsFrom(config),
    store,
    version: options.version,
    authenticator: options.authenticator ?? anonymousPolicy(config),
    authorizer: options.authorizer,
  });
  await broker.start();
  const listeners: Listener[] = [];
  try {
    for (const l of config.listeners) {
      const listener = await startListener(l, config, (socket) => broker.handle(socket));
      listeners.push(listener);
      log.info("Listening on {type} {host}:{port}", {
        type: listener.type,
        host: listener.hostname,
        port: listener.port,
      });
    }
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    await broker.close();
    throw err;
  }
  return {
    broker,
    listeners,
    config,
    async close() {
      // In parallel: some listeners (WebSocket, TLS) finish closing only once their connections end.
      await Promise.all([...listeners.map((l) => l.close()), broker.close()]);
      log.info("Broker stopped");
    },
  };
}

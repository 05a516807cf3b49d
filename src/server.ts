/**
 * A complete broker process from a configuration: store, security, engine and
 * listeners. main.ts and embedders that want "the program" call startServer().
 *
 * @module
 */
import type { Engine } from "./broker/broker.ts";
import { Broker, engineOf } from "./public_broker.ts";
import type { Authenticator, Authorizer } from "./broker/security.ts";
import { AclFileAuthorizer } from "./auth/acl_file.ts";
import { credentialsRevoked, FileAuthenticator } from "./auth/file_authenticator.ts";
import { brokerOptionsFrom, limitOptions } from "./config/broker_options.ts";
import type { BrokerConfig } from "./config/schema.ts";
import { getLog } from "./log/logging.ts";
import { KvStore } from "./persistence/kv_store.ts";
import type { FrameSplitterOptions } from "./protocol/frame_stream.ts";
import { MemoryStore } from "./persistence/memory_store.ts";
import type { SnapshotStore } from "./persistence/store.ts";
import { ConnectionGate } from "./transport/admission.ts";
import { validateCertificatePair } from "./transport/tls.ts";
import { type AdminServer, startAdminServer } from "./admin/admin_server.ts";
import { EventLoopMonitor } from "./admin/event_loop.ts";
import { LiveStats } from "./admin/live_stats.ts";
import { SysTopics } from "./admin/sys_topics.ts";
import type { BridgeStatus } from "./bridge/bridge.ts";
import { Bridges } from "./bridge/bridges.ts";
import type { ClusterNode } from "./cluster/cluster.ts";
import {
  framingOptions,
  type Listener,
  listenerCertificates,
  type ListenerContext,
  startListener,
} from "./transport/listener.ts";

export type { Listener, ListenerContext };

/**
 * A running broker with its listeners, as a configuration describes it.
 *
 * @example
 * ```ts
 * import { parseConfig, startServer } from "./server_mod.ts";
 * const server = await startServer(parseConfig("listeners: [{ port: 0 }]\npersistence: { type: memory }\n", "x"));
 * const more = await server.broker.listen({ type: "ws", host: "127.0.0.1", port: 0 });
 * console.log(server.listeners[0].port, more.port, server.bridges().length);
 * await server.close();
 * ```
 */
export interface Server {
  /** The broker: publish, subscribe, hooks, and its admin view. */
  readonly broker: Broker;
  /** The configured listeners, in configuration order. */
  readonly listeners: Listener[];
  /** The admin HTTP listener, when `admin.enabled`. */
  readonly admin: AdminServer | undefined;
  /** The configuration it runs (the reloaded one after a reload that applied everything). */
  readonly config: BrokerConfig;
  /** The configured bridges' state and counters. */
  bridges(): readonly BridgeStatus[];
  /**
   * Applies what can change at runtime from a new configuration (auth files, ACL,
   * certificates, limits); returns the keys applied and those that need a restart.
   */
  reload(next: BrokerConfig): Promise<{ applied: string[]; restartRequired: string[] }>;
  /** Stops listening, closes clients gracefully and flushes the store. */
  close(): Promise<void>;
}

/**
 * What {@link startServer} takes besides the configuration.
 *
 * @example
 * ```ts
 * import { parseConfig, type ServerOptions, startServer } from "./server_mod.ts";
 * const options: ServerOptions = { version: "1.0.0", authorizer: { authorize: () => true } };
 * const server = await startServer(parseConfig("listeners: [{ port: 0 }]\npersistence: { type: memory }\n", "x"), options);
 * await server.close();
 * ```
 */
export interface ServerOptions {
  /** The version $SYS and the admin API report. */
  version?: string;
  /** Replaces the authenticator built from the configuration's `auth` section. */
  authenticator?: Authenticator;
  /** Replaces the authorizer built from the configuration's `auth` section (the ACL file). */
  authorizer?: Authorizer;
}

/**
 * Cluster mode when NATS servers are configured: the node's connection, its store and its id.
 * The cluster code (and the NATS client under it) is loaded only then.
 */
async function clusterFor(config: BrokerConfig): Promise<ClusterNode | undefined> {
  const c = config.cluster;
  if (c.nats.servers === undefined || c.nats.servers.length === 0) return undefined;
  const { ClusterNode } = await import("./cluster/cluster.ts");
  return await ClusterNode.connect({
    servers: c.nats.servers,
    credentials: c.nats.credentials ? Deno.readTextFileSync(c.nats.credentials) : undefined,
    nodeId: c.node_id ?? Deno.hostname(),
    replicas: c.replicas,
    replayWindowS: c.replay_window_s,
  });
}

function storeFor(config: BrokerConfig): SnapshotStore {
  const p = config.persistence;
  if (p.type === "memory") return new MemoryStore();
  return new KvStore({ path: p.path, commitWindowMs: p.commit_window_ms });
}

/** Security built from the `auth` section, swappable on reload. */
class Security implements Authenticator, Authorizer {
  authenticator: FileAuthenticator;
  acl: AclFileAuthorizer | undefined;

  constructor(authenticator: FileAuthenticator, acl: AclFileAuthorizer | undefined) {
    this.authenticator = authenticator;
    this.acl = acl;
  }

  static async build(config: BrokerConfig): Promise<Security> {
    const anonymous = new Map(
      config.listeners.map((l) => [l.name ?? `${l.type}:${l.host}:${l.port}`, l.allow_anonymous]),
    );
    const authenticator = new FileAuthenticator({
      passwordFile: config.auth.password_file,
      allowAnonymous: (listener) => anonymous.get(listener) ?? config.auth.allow_anonymous,
    });
    await authenticator.reload();
    const acl = config.auth.acl_file ? await AclFileAuthorizer.load(config.auth.acl_file) : undefined;
    return new Security(authenticator, acl);
  }

  authenticate(info: Parameters<Authenticator["authenticate"]>[0]) {
    return this.authenticator.authenticate(info);
  }

  authorize(
    client: { clientId: string; username?: string },
    access: "read" | "write",
    topic: string,
  ): boolean {
    return this.acl ? this.acl.authorize(client, access, topic) : true;
  }

  /** Per-message read checks exist only with an ACL file (the broker re-reads this on reload). */
  get authorizeDelivery():
    | ((client: { clientId: string; username?: string }, topic: string) => boolean)
    | undefined {
    const acl = this.acl;
    return acl === undefined ? undefined : (client, topic) => acl.authorizeDelivery(client, topic);
  }
}

/** Applies reloaded limits to framing options made by {@link framingOptions}. */
function updateFraming(framing: FrameSplitterOptions, broker: Pick<Engine, "mqtt" | "limits">): void {
  framing.maxPacketSize = broker.mqtt.maxPacketSize;
  framing.maxFirstPacketSize = broker.limits.maxConnectSize;
  framing.budget!.limit = broker.limits.maxPartialPacketBytes;
}

/** A listener that can swap its certificates (tls and wss). */
type Reloadable = Listener & { reloadCertificates?: (cert: string, key: string, ca?: string) => void };

/**
 * Re-reads the certificate files of tls and wss listeners (SIGHUP) from `config`; new
 * connections use them and open connections are kept. A listener whose new files do not
 * form a valid pair keeps its current certificates; the failure is returned and logged.
 */
export function reloadCertificates(
  server: Server,
  config: BrokerConfig = server.config,
): { reloaded: string[]; failed: { listener: string; error: string }[] } {
  const reloaded: string[] = [];
  const failed: { listener: string; error: string }[] = [];
  config.listeners.forEach((l, i) => {
    const listener = server.listeners[i] as Reloadable | undefined;
    if ((l.type !== "tls" && l.type !== "wss") || !listener?.reloadCertificates) return;
    try {
      const { cert, key, ca } = listenerCertificates(l);
      listener.reloadCertificates(cert, key, ca);
      reloaded.push(listener.name);
    } catch (err) {
      const error = (err as Error).message;
      failed.push({ listener: listener.name, error });
      getLog("server").error("Kept the current certificates of listener {listener}: {error}", {
        listener: listener.name,
        error,
      });
    }
  });
  return { reloaded, failed };
}

/** $SYS topics, live rates, event-loop monitor and the admin listener, as configured. */
function startMonitoring(
  broker: Broker,
  config: BrokerConfig,
  listeners: Listener[],
  more: { ready: () => boolean; bridges: () => readonly BridgeStatus[] },
): { admin: AdminServer | undefined; stop(): void } {
  const engine = engineOf(broker);
  // $SYS updates are the broker's own messages, not counted in the figures they report.
  const sys = new SysTopics({
    admin: broker.admin,
    clock: engine.clock,
    publish: (message) => engine.publishInternal(message, false),
  }, config.sys.interval);
  sys.start();
  const a = config.admin;
  if (!a.enabled) return { admin: undefined, stop: () => sys.stop() };
  if (a.cert_file !== undefined && a.key_file !== undefined) validateCertificatePair(a.cert_file, a.key_file);
  const live = new LiveStats(broker.admin);
  const loop = new EventLoopMonitor();
  let admin: AdminServer;
  try {
    admin = startAdminServer({
      broker,
      config: () => config,
      listeners: () =>
        listeners.map((l, i) => ({
          type: l.type,
          name: l.name,
          hostname: l.hostname,
          port: l.port,
          path: config.listeners[i].path,
        })),
      live,
      loop,
      ready: more.ready,
      bridges: more.bridges,
      transport: () => [...listeners.flatMap((l) => l.stats ?? []), admin.stats],
    }, {
      host: a.host,
      port: a.port,
      token: a.token,
      username: a.username,
      password: a.password,
      certFile: a.cert_file,
      keyFile: a.key_file,
      allowRemoteWithoutAuth: a.allow_remote_without_auth,
    });
  } catch (err) {
    sys.stop();
    throw new Error(`admin (${a.host}:${a.port}): ${(err as Error).message}`, { cause: err });
  }
  live.start();
  loop.start();
  return {
    admin,
    stop() {
      sys.stop();
      live.stop();
      loop.stop();
    },
  };
}

/**
 * Builds and starts everything the configuration describes.
 *
 * @example
 * ```ts
 * import { parseConfig, startServer } from "./server_mod.ts";
 * const config = parseConfig("listeners:\n  - { type: tcp, port: 0 }\npersistence: { type: memory }\n", "inline");
 * const server = await startServer(config);
 * console.log(server.listeners[0].port);
 * await server.close();
 * ```
 */
export async function startServer(config: BrokerConfig, options: ServerOptions = {}): Promise<Server> {
  const log = getLog("server");
  const security = await Security.build(config);
  const bridges = new Bridges(config.bridges ?? []);
  const cluster = await clusterFor(config);
  const store = cluster?.store ?? storeFor(config);
  const broker = new Broker({
    ...brokerOptionsFrom(config),
    store,
    version: options.version,
    // Bridges connect to this broker as local sessions that only they can authenticate.
    authenticator: bridges.authenticator(options.authenticator ?? security),
    authorizer: bridges.authorizer(options.authorizer ?? security),
  });
  const engine = engineOf(broker);
  await broker.start();
  const framing = framingOptions(engine);
  const listeners: Listener[] = [];
  let monitoring: ReturnType<typeof startMonitoring>;
  const context: ListenerContext = {
    framing,
    onSocket: (socket) => engine.handle(socket),
    gate: new ConnectionGate(() => engine.limits.maxConnections),
    handshakeTimeoutMs: () => engine.limits.connectTimeoutMs,
  };
  try {
    await cluster?.join(broker);
    for (const [i, l] of config.listeners.entries()) {
      let listener: Listener;
      try {
        listener = await startListener(l, context);
      } catch (err) {
        // "Address already in use" alone does not say which of several listeners failed.
        throw new Error(`listeners[${i}] (${l.type} ${l.host}:${l.port}): ${(err as Error).message}`, {
          cause: err,
        });
      }
      listeners.push(listener);
      log.info("Listening on {type} {host}:{port}", {
        type: listener.type,
        host: listener.hostname,
        port: listener.port,
      });
    }
    await bridges.start(engine);
    monitoring = startMonitoring(broker, config, listeners, {
      ready: () => !engine.closing,
      bridges: () => bridges.status(),
    });
  } catch (err) {
    await bridges.stop();
    await Promise.all(listeners.map((l) => l.close()));
    await broker.close();
    await cluster?.close();
    throw err;
  }
  const server: Server = {
    broker,
    listeners,
    admin: monitoring.admin,
    config,
    bridges: () => bridges.status(),
    async reload(next) {
      const changed = (a: unknown, b: unknown) => JSON.stringify(a) !== JSON.stringify(b);
      const applied: string[] = [];
      const restartRequired: string[] = [];
      for (const key of ["persistence", "mqtt", "admin", "sys", "bridges", "cluster"] as const) {
        if (changed(server.config[key], next[key])) restartRequired.push(key);
      }
      const listenerShape = (c: BrokerConfig) =>
        c.listeners.map((l) => ({ ...l, cert_file: 0, key_file: 0, ca_file: 0 }));
      if (changed(listenerShape(server.config), listenerShape(next))) restartRequired.push("listeners");
      const fresh = await Security.build({ ...next, listeners: server.config.listeners });
      const revoked = credentialsRevoked(security.authenticator, fresh.authenticator);
      security.authenticator = fresh.authenticator;
      security.acl = fresh.acl;
      // Existing subscriptions and queued messages follow the new ACL from the next message on.
      engine.accessChanged();
      engine.foreignSession = next.auth.foreign_session;
      applied.push("auth (password file and ACL re-read)");
      // Embedders' own authenticators keep their clients; the password file's are checked again.
      if (options.authenticator === undefined) {
        const closed = broker.admin.revokeClients(revoked);
        if (closed.length > 0) {
          log.info("Disconnected {count} clients whose credentials were removed or changed: {clients}", {
            count: closed.length,
            clients: closed.join(", "),
          });
        }
      }
      if (changed(server.config.limits, next.limits)) {
        Object.assign(engine.limits, limitOptions(next.limits));
        engine.mqtt.maxPacketSize = Math.min(
          server.config.mqtt.max_packet_size,
          engine.limits.maxPartialPacketBytes,
        );
        updateFraming(framing, engine);
        applied.push("limits");
      }
      if (!restartRequired.includes("listeners")) {
        const { reloaded, failed } = reloadCertificates(server, next);
        if (reloaded.length > 0) applied.push(`certificates (${reloaded.join(", ")})`);
        if (failed.length > 0) {
          applied.push(
            `certificates kept for ${failed.map((f) => f.listener).join(", ")} (see the error above)`,
          );
        }
      }
      (server as { config: BrokerConfig }).config = restartRequired.length === 0
        ? next
        : { ...server.config, auth: next.auth, limits: next.limits, log: next.log };
      return { applied, restartRequired };
    },
    async close() {
      // In parallel: some listeners (WebSocket, TLS) finish closing only once their connections end.
      monitoring.stop();
      // Bridges first: their local sessions disconnect normally and keep their queues.
      await bridges.stop();
      await Promise.all([...listeners.map((l) => l.close()), broker.close(), monitoring.admin?.close()]);
      await cluster?.close();
      log.info("Broker stopped");
    },
  };
  return server;
}

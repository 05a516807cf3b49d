/**
 * The bridge's local side: an in-process connection to this broker through an
 * in-memory stream pair, so that the local session of a bridge is an ordinary
 * persistent session (its subscriptions, queue and in-flight window live in the
 * engine and in the store like any client's). Bridge sessions authenticate with a
 * secret drawn at start-up, which no network client can present, and may then
 * publish and subscribe anywhere, as Mosquitto's bridges may.
 *
 * @module
 */
import type { Engine } from "../broker/broker.ts";

/** What a bridge needs of the engine: serve its local connection, see and bound its session, publish its state. */
export type BridgeEngine = Pick<Engine, "handle" | "admin" | "limitQueue" | "publishInternal">;
import type { Access, Authenticator, Authorizer, AuthResult, ConnectInfo } from "../broker/security.ts";
import { NEVER_EXPIRES } from "../broker/session.ts";
import type { PublishPacket } from "../protocol/packet.ts";
import type { Socket } from "../transport/socket.ts";
import { streamSocket } from "../transport/stream_socket.ts";
import { MqttClient } from "./mqtt_client.ts";
import { sourceFilter, type TopicRule } from "./topic_remap.ts";

/** The client id of a bridge's local session. */
export function localClientId(bridgeName: string): string {
  return `$bridge/${bridgeName}`;
}

/** The user name bridge sessions connect with (the password is the secret). */
export const BRIDGE_USERNAME = "$bridge";

/**
 * Knows the local client ids of the configured bridges and the secret they
 * present; wraps the server's authenticator and authorizer so that those ids are
 * let in only with the secret, and then allowed everything.
 */
export class BridgeTrust {
  readonly secret: Uint8Array = crypto.getRandomValues(new Uint8Array(32));
  readonly #ids: Set<string>;

  constructor(bridgeNames: readonly string[]) {
    this.#ids = new Set(bridgeNames.map(localClientId));
  }

  #presentsSecret(password: Uint8Array | undefined): boolean {
    if (password === undefined || password.length !== this.secret.length) return false;
    let diff = 0;
    for (let i = 0; i < password.length; i++) diff |= password[i] ^ this.secret[i];
    return diff === 0;
  }

  /** A network client claiming a bridge's id is refused: it would take the bridge's session over. */
  authenticator(inner: Authenticator | undefined): Authenticator {
    return {
      authenticate: (info: ConnectInfo): Promise<AuthResult> => {
        if (!this.#ids.has(info.clientId)) {
          return inner ? inner.authenticate(info) : Promise.resolve({ ok: true });
        }
        const ok = info.username === BRIDGE_USERNAME && this.#presentsSecret(info.password);
        return Promise.resolve(ok ? { ok: true } : { ok: false, reason: "not_authorized" });
      },
    };
  }

  authorizer(inner: Authorizer | undefined): Authorizer {
    const ids = this.#ids;
    return {
      authorize: (client: { clientId: string; username?: string }, access: Access, topic: string) =>
        ids.has(client.clientId) || (inner ? inner.authorize(client, access, topic) : true),
      // Read per delivery whenever the inner authorizer does (which a reload may change).
      get authorizeDelivery() {
        const check = inner?.authorizeDelivery;
        if (check === undefined) return undefined;
        return (client: { clientId: string; username?: string }, topic: string) =>
          ids.has(client.clientId) || check.call(inner, client, topic);
      },
    };
  }
}

/** Opens an in-memory connection served by `broker`; returns the client's end. */
export function openLocal(broker: Pick<BridgeEngine, "handle">, bridgeName: string): Socket {
  const toBroker = new TransformStream<Uint8Array, Uint8Array>();
  const toClient = new TransformStream<Uint8Array, Uint8Array>();
  const name = `bridge:${bridgeName}`;
  broker.handle(
    streamSocket({ readable: toBroker.readable, writable: toClient.writable }, {
      remoteAddress: name,
      listener: "bridge",
      internal: true,
    }),
  );
  return streamSocket({ readable: toClient.readable, writable: toBroker.writable }, {
    remoteAddress: "local",
    listener: name,
  });
}

/** How a bridge's local session connects. */
export interface LocalOptions {
  trust: BridgeTrust;
  /** Messages the broker may send before the bridge acknowledges (the remote's window). */
  receiveMaximum: number;
  maxInflight: number;
  onMessage(message: PublishPacket): Promise<void>;
}

/** Connects the bridge's local session: persistent, never expiring, resumed if it exists. */
export function connectLocal(
  broker: Pick<BridgeEngine, "handle">,
  bridgeName: string,
  options: LocalOptions,
) {
  return MqttClient.connect(openLocal(broker, bridgeName), {
    protocolName: "MQTT",
    protocolLevel: 5,
    clean: false,
    keepAlive: 0,
    clientId: localClientId(bridgeName),
    username: BRIDGE_USERNAME,
    password: options.trust.secret,
    properties: { sessionExpiryInterval: NEVER_EXPIRES, receiveMaximum: options.receiveMaximum },
  }, { onMessage: options.onMessage, maxInflight: options.maxInflight });
}

/**
 * Makes sure the bridge's local session exists with exactly the `out` subscriptions of
 * `rules` and the bridge's queue bound, before the remote is first reached, so that
 * messages published meanwhile are queued for it.
 */
export async function prepareLocalSession(
  broker: BridgeEngine,
  bridgeName: string,
  options: { trust: BridgeTrust; rules: readonly TopicRule[]; queueLimit: number },
): Promise<void> {
  const { client } = await connectLocal(broker, bridgeName, {
    trust: options.trust,
    receiveMaximum: 1,
    maxInflight: 1,
    // Nothing is forwarded yet: whatever the session had queued stays unacknowledged for later.
    onMessage: () => Promise.reject(new Error("remote not connected")),
  });
  try {
    const id = localClientId(bridgeName);
    broker.limitQueue(id, options.queueLimit);
    const wanted = options.rules.filter((r) => r.direction !== "in");
    const filters = new Set(wanted.map((r) => sourceFilter(r, "out")));
    const stale = broker.admin.subscriptions(id).map((s) => s.filter).filter((f) => !filters.has(f));
    if (stale.length > 0) await client.unsubscribe(stale);
    if (wanted.length === 0) return;
    await client.subscribe(wanted.map((r) => ({
      filter: sourceFilter(r, "out"),
      qos: r.qos,
      // What the bridge publishes here never goes back out through it.
      noLocal: true,
      retainAsPublished: true,
      // Retained messages once, when the subscription is new; not again on every start.
      retainHandling: 1,
    })));
  } finally {
    client.disconnect();
  }
}

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
import type { Broker } from "../broker/broker.ts";
import type { Access, Authenticator, Authorizer, AuthResult, ConnectInfo } from "../broker/security.ts";
import type { Socket } from "../transport/socket.ts";
import { streamSocket } from "../transport/stream_socket.ts";

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
    return {
      authorize: (client: { clientId: string; username?: string }, access: Access, topic: string) =>
        this.#ids.has(client.clientId) || (inner ? inner.authorize(client, access, topic) : true),
    };
  }
}

/** Opens an in-memory connection served by `broker`; returns the client's end. */
export function openLocal(broker: Broker, bridgeName: string): Socket {
  const toBroker = new TransformStream<Uint8Array, Uint8Array>();
  const toClient = new TransformStream<Uint8Array, Uint8Array>();
  const name = `bridge:${bridgeName}`;
  broker.handle(
    streamSocket({ readable: toBroker.readable, writable: toClient.writable }, {
      remoteAddress: name,
      listener: "bridge",
    }),
  );
  return streamSocket({ readable: toClient.readable, writable: toBroker.writable }, {
    remoteAddress: "local",
    listener: name,
  });
}

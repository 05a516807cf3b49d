/**
 * Who gets a socket: every accepted connection takes a slot from its listener
 * and from the broker-wide budget (`listeners[].max_connections` and
 * `limits.max_connections`) from the moment it is accepted, before any TLS
 * handshake, HTTP upgrade or CONNECT, and gives it back when it closes. A client
 * that opens connections and never speaks therefore exhausts the operator's
 * limit, never the process's file descriptors.
 *
 * @module
 */

/**
 * One listener's transport counters (the `/metrics` listener families).
 *
 * @example
 * ```ts
 * import { Broker } from "../mod.ts";
 * const broker = new Broker();
 * const listener = await broker.listen({ type: "tcp", host: "127.0.0.1", port: 0 });
 * console.log(listener.stats?.open, listener.stats?.refused);
 * await broker.close();
 * ```
 */
export class ListenerStats {
  /** Sockets open now, from accept to close, at any stage. */
  open = 0;
  /** Sockets open that have not yet been handed to the broker (TLS handshake, HTTP upgrade, PROXY header). */
  handshaking = 0;
  /** accept() failures, e.g. EMFILE/ENFILE (each is retried after a back-off). */
  acceptErrors = 0;
  /** Connections closed at once because the listener or the broker was full. */
  refused = 0;
  /** TLS handshakes that failed (no or bad client certificate, protocol errors). */
  tlsFailures = 0;
  /** WebSocket requests refused (wrong path, no mqtt subprotocol, not an upgrade). */
  upgradeFailures = 0;
  /** Connections closed because their handshake stage outlived the connect timeout. */
  handshakeTimeouts = 0;

  /** Counters of the listener `name` of `type` (tcp, tls, ws, wss). */
  constructor(readonly name: string, readonly type: string) {}
}

/**
 * The broker-wide count of open sockets and its limit. The limit is read on each
 * admission, so that a SIGHUP that changes `limits.max_connections` applies at once.
 */
export class ConnectionGate {
  readonly #limit: () => number;
  #open = 0;

  /** `limit` returns the broker-wide maximum (0 = none). */
  constructor(limit: () => number = () => 0) {
    this.#limit = limit;
  }

  /** Sockets open on every listener that uses this gate. */
  get open(): number {
    return this.#open;
  }

  /**
   * Takes a slot for a new connection on a listener, or returns the reason it is refused.
   * The caller gives the slot back with {@link release} exactly once.
   */
  admit(stats: ListenerStats, listenerLimit: number): "listener" | "broker" | null {
    if (listenerLimit > 0 && stats.open >= listenerLimit) return "listener";
    const limit = this.#limit();
    if (limit > 0 && this.#open >= limit) return "broker";
    this.#open++;
    stats.open++;
    return null;
  }

  release(stats: ListenerStats): void {
    this.#open--;
    stats.open--;
  }
}

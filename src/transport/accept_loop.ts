/**
 * The accept loop every MQTT listener runs (tcp, tls, ws, wss): it takes a slot
 * for each connection before anything else (see admission.ts), times the
 * connection's handshake stage (PROXY header, TLS, HTTP upgrade) against the
 * connect timeout, and survives accept() failures. When the process runs out
 * of file descriptors (EMFILE/ENFILE) accept() fails at once for as long as the
 * condition lasts; retrying at once would spin a core, so the loop backs off
 * (10 ms doubling to 1 s), logs the first failure of a streak and the recovery,
 * and counts every failure. Connected clients are not affected.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { ConnectionGate, ListenerStats } from "./admission.ts";

const log = getLogger(["mqtt", "transport"]);

/** First and longest pause after a failed accept(). */
export const ACCEPT_BACKOFF_MIN_MS = 10;
export const ACCEPT_BACKOFF_MAX_MS = 1000;

export interface AcceptOptions {
  stats: ListenerStats;
  gate: ConnectionGate;
  /** This listener's limit (0 = none). */
  maxConnections: number;
  /** Time a connection may spend before it is handed to the broker (read at each accept). */
  handshakeTimeoutMs: () => number;
  /**
   * Whether connections have a handshake stage at all (default true). Without one (tcp
   * without PROXY protocol) a slot is handed over from the start and costs no timer.
   */
  handshake?: boolean;
}

/**
 * One admitted connection's place: it holds a slot from accept until {@link release},
 * and closes the connection if {@link handedOver} is not called within the handshake time.
 */
export class Slot {
  readonly #gate: ConnectionGate;
  readonly #stats: ListenerStats;
  #close: () => void;
  #settled: (slot: Slot) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #handshaking = true;
  #released = false;

  /** `close` closes the connection; `settled` is told once the handshake stage is over either way. */
  constructor(options: AcceptOptions, close: () => void, settled: (slot: Slot) => void = () => {}) {
    this.#gate = options.gate;
    this.#stats = options.stats;
    this.#close = close;
    this.#settled = settled;
    if (options.handshake === false) {
      this.#handshaking = false;
      this.#close = this.#settled = noop;
      return;
    }
    this.#stats.handshaking++;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#handshaking) return;
      this.#stats.handshakeTimeouts++;
      log.debug("Listener {listener}: handshake not finished within the connect timeout, closed", {
        listener: this.#stats.name,
      });
      this.abort();
    }, options.handshakeTimeoutMs());
  }

  /** Closes a connection still in its handshake (time is up, or the listener closes). */
  abort(): void {
    this.#close();
    this.release();
  }

  /** Whether the handshake stage timed out or the slot was given back. */
  get released(): boolean {
    return this.#released;
  }

  /** The handshake is over and the broker has the connection (its own CONNECT timer runs from here). */
  handedOver(): void {
    if (!this.#handshaking) return;
    this.#handshaking = false;
    this.#stats.handshaking--;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#settled(this);
    // A slot lives as long as its connection: keep nothing it no longer needs.
    this.#close = this.#settled = noop;
  }

  /** Gives the slot back; idempotent. */
  release(): void {
    if (this.#released) return;
    this.handedOver();
    this.#released = true;
    this.#gate.release(this.#stats);
  }
}

const noop = () => {};

/** Whether an accept() error means the listener itself is gone. */
function listenerGone(err: unknown): boolean {
  return err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

/** Accepts until closed, handing each admitted connection and its slot to `onConn`. */
export class AcceptLoop {
  readonly #listener: Deno.Listener<Deno.TcpConn>;
  readonly #options: AcceptOptions;
  readonly #onConn: (conn: Deno.TcpConn, slot: Slot) => void;
  readonly done: Promise<void>;
  /** Connections still in their handshake stage: closed with the listener. */
  readonly #handshaking = new Set<Slot>();
  #stopped = false;
  #wake: (() => void) | undefined;

  constructor(
    listener: Deno.Listener<Deno.TcpConn>,
    options: AcceptOptions,
    onConn: (conn: Deno.TcpConn, slot: Slot) => void,
  ) {
    this.#listener = listener;
    this.#options = options;
    this.#onConn = onConn;
    this.done = this.#run();
  }

  async #run(): Promise<void> {
    let backoff = 0;
    let failures = 0;
    while (!this.#stopped) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (err) {
        if (this.#stopped || listenerGone(err)) return;
        backoff = backoff === 0 ? ACCEPT_BACKOFF_MIN_MS : Math.min(backoff * 2, ACCEPT_BACKOFF_MAX_MS);
        this.#acceptFailed(err, ++failures, backoff);
        await this.#sleep(backoff);
        continue;
      }
      if (failures > 0) {
        log.info("Listener {listener} accepts connections again after {failures} failed accepts", {
          listener: this.#options.stats.name,
          failures,
        });
      }
      backoff = 0;
      failures = 0;
      this.#admit(conn);
    }
  }

  #acceptFailed(err: unknown, failures: number, backoff: number): void {
    const stats = this.#options.stats;
    stats.acceptErrors++;
    const code = (err as { code?: string }).code ?? (err as Error).name;
    const fields = { listener: stats.name, code, error: String((err as Error).message ?? err), backoff };
    // One warning per streak: under EMFILE every retry fails until some descriptor is closed.
    const text =
      "Listener {listener} cannot accept connections ({code}: {error}); retrying with back-off from {backoff} ms";
    if (failures === 1) log.warn(text, fields);
    else log.debug(text, fields);
  }

  #admit(conn: Deno.TcpConn): void {
    const o = this.#options;
    const refused = o.gate.admit(o.stats, o.maxConnections);
    if (refused !== null) {
      o.stats.refused++;
      log.debug("Listener {listener} refused a connection: {limit} connection limit reached", {
        listener: o.stats.name,
        limit: refused,
      });
      closeQuietly(conn); // refused before any byte is read
      return;
    }
    const slot = new Slot(o, () => closeQuietly(conn), (s) => this.#handshaking.delete(s));
    if (o.handshake !== false) this.#handshaking.add(slot);
    try {
      this.#onConn(conn, slot);
    } catch (err) {
      log.debug("Listener {listener}: connection setup failed: {error}", {
        listener: o.stats.name,
        error: String(err),
      });
      closeQuietly(conn);
      slot.release();
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Stops accepting (open connections are left alone) and waits for the loop to end. */
  async close(): Promise<void> {
    this.#stopped = true;
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    this.#wake?.();
    for (const slot of [...this.#handshaking]) slot.abort();
    await this.done;
  }
}

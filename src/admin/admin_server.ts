/**
 * The admin HTTP listener (`admin:` in the configuration): the management API,
 * `/metrics` and the dashboard, behind a bearer token or basic auth when one is
 * configured, over TLS when a certificate is given. `/health` and `/ready` stay
 * open so that orchestrators can probe without credentials.
 *
 * Deno.serve stops serving for good when accept() fails with EMFILE (its
 * `finished` promise rejects; unobserved, that rejection ends the process). The
 * listener observes it, counts and logs it, and serves again on the same address
 * after a back-off (10 ms doubling to 1 s) for as long as descriptors are short.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { TransportCounters } from "./metrics.ts";
import type { AdminContext } from "./http_api.ts";
import { route } from "./http_api.ts";
import { unauthenticatedRemote } from "../config/admin_rules.ts";
import { type AdminGuardOptions, refuseRequest } from "./request_guard.ts";

export interface AdminOptions {
  host: string;
  port: number;
  token?: string;
  username?: string;
  password?: string;
  certFile?: string;
  keyFile?: string;
  /** Serve without credentials on an address beyond loopback (refused otherwise). */
  allowRemoteWithoutAuth?: boolean;
}

/** accept() failures of the admin listener, for `/metrics` (same shape as a listener's counters). */
export class AdminListenerStats {
  readonly name = "admin";
  readonly open = 0;
  readonly handshaking = 0;
  acceptErrors = 0;
  readonly refused = 0;
  readonly tlsFailures = 0;
  readonly upgradeFailures = 0;
  readonly handshakeTimeouts = 0;
}

/**
 * A running admin listener ({@link Server.admin}).
 *
 * @example
 * ```ts
 * import { parseConfig, startServer } from "../server_mod.ts";
 * const yaml = "listeners: [{ port: 0 }]\npersistence: { type: memory }\nadmin: { enabled: true, port: 0 }\n";
 * const server = await startServer(parseConfig(yaml, "x"));
 * console.log(`http://${server.admin?.hostname}:${server.admin?.port}/metrics`);
 * await server.close();
 * ```
 */
export interface AdminServer {
  /** The port it is bound to. */
  readonly port: number;
  /** The address it is bound to. */
  readonly hostname: string;
  /** Its accept() failures, as a listener's counters. */
  readonly stats: TransportCounters;
  /** Stops serving. */
  close(): Promise<void>;
}

/** Compares in time independent of where the strings differ. */
function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ (y[i % Math.max(1, y.length)] ?? 0);
  return diff === 0;
}

/** Whether the request carries the configured credentials (always true when none are configured). */
export function authorized(options: AdminOptions, req: Request): boolean {
  if (options.token === undefined && options.username === undefined) return true;
  const header = req.headers.get("authorization") ?? "";
  if (options.token !== undefined && header.startsWith("Bearer ")) {
    return sameSecret(header.slice(7), options.token);
  }
  if (options.username !== undefined && header.startsWith("Basic ")) {
    let decoded = "";
    try {
      decoded = atob(header.slice(6));
    } catch {
      return false;
    }
    const colon = decoded.indexOf(":");
    return colon > 0 && sameSecret(decoded.slice(0, colon), options.username) &&
      sameSecret(decoded.slice(colon + 1), options.password ?? "");
  }
  return false;
}

const OPEN_PATHS = new Set(["/health", "/ready", "/", "/dashboard", "/favicon.ico"]);

const BACKOFF_MIN_MS = 10;
const BACKOFF_MAX_MS = 1000;

export function startAdminServer(ctx: AdminContext, options: AdminOptions): AdminServer {
  const log = getLogger(["mqtt", "admin"]);
  const remote = unauthenticatedRemote(options);
  if (remote !== null && !options.allowRemoteWithoutAuth) throw new Error(remote);
  const tls = options.certFile !== undefined && options.keyFile !== undefined
    ? { cert: Deno.readTextFileSync(options.certFile), key: Deno.readTextFileSync(options.keyFile) }
    : {};
  const stats = new AdminListenerStats();
  const handler = (req: Request): Response | Promise<Response> => {
    const path = new URL(req.url).pathname;
    if (!OPEN_PATHS.has(path) && !authorized(options, req)) {
      const challenge = options.username !== undefined ? 'Basic realm="mqtt-broker"' : "Bearer";
      return new Response(JSON.stringify({ error: "unauthorized" }), {
        status: 401,
        headers: { "content-type": "application/json", "www-authenticate": challenge },
      });
    }
    const refused = refuseRequest(req, guard);
    if (refused !== null) return refused;
    return route(ctx, req);
  };
  let closing = false;
  let backoff = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let port = options.port;
  let server: Deno.HttpServer<Deno.NetAddr>;
  const serve = (): Deno.HttpServer<Deno.NetAddr> => {
    const s = Deno.serve({ hostname: options.host, port, ...tls, onListen: () => {} }, handler);
    s.finished.catch((err) => {
      if (closing) return;
      stats.acceptErrors++;
      log.warn("Admin listener stopped accepting ({error}); serving again after a back-off", {
        error: String((err as Error)?.message ?? err),
      });
      retry();
    });
    return s;
  };
  const retry = () => {
    backoff = backoff === 0 ? BACKOFF_MIN_MS : Math.min(backoff * 2, BACKOFF_MAX_MS);
    timer = setTimeout(() => {
      timer = undefined;
      if (closing) return;
      try {
        server = serve();
        backoff = 0;
        log.info("Admin listener serves again on {host}:{port}", { host: options.host, port });
      } catch (err) {
        // Binding needs a descriptor too: still short of them.
        stats.acceptErrors++;
        log.debug("Admin listener cannot listen yet: {error}", { error: String((err as Error).message) });
        retry();
      }
    }, backoff);
  };
  server = serve();
  const addr = server.addr;
  port = addr.port;
  const guard: AdminGuardOptions = {
    host: options.host,
    boundAddress: addr.hostname,
    checkHost: options.token === undefined && options.username === undefined &&
      !options.allowRemoteWithoutAuth,
  };
  log.info("Admin API on {scheme}://{host}:{port}", {
    scheme: "cert" in tls ? "https" : "http",
    host: addr.hostname,
    port: addr.port,
  });
  return {
    port: addr.port,
    hostname: addr.hostname,
    stats,
    close: () => {
      closing = true;
      clearTimeout(timer);
      return server.shutdown().catch(() => {});
    },
  };
}

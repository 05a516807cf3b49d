/**
 * The admin HTTP listener (`admin:` in the configuration): the management API,
 * `/metrics` and the dashboard, behind a bearer token or basic auth when one is
 * configured, over TLS when a certificate is given. `/health` and `/ready` stay
 * open so that orchestrators can probe without credentials.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { AdminContext } from "./http_api.ts";
import { route } from "./http_api.ts";

export interface AdminOptions {
  host: string;
  port: number;
  token?: string;
  username?: string;
  password?: string;
  certFile?: string;
  keyFile?: string;
}

/** A running admin listener. */
export interface AdminServer {
  readonly port: number;
  readonly hostname: string;
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

const OPEN_PATHS = new Set(["/health", "/ready", "/", "/dashboard"]);

export function startAdminServer(ctx: AdminContext, options: AdminOptions): AdminServer {
  const log = getLogger(["mqtt", "admin"]);
  const tls = options.certFile !== undefined && options.keyFile !== undefined
    ? { cert: Deno.readTextFileSync(options.certFile), key: Deno.readTextFileSync(options.keyFile) }
    : {};
  const server = Deno.serve({
    hostname: options.host,
    port: options.port,
    ...tls,
    onListen: () => {},
  }, (req) => {
    const path = new URL(req.url).pathname;
    if (!OPEN_PATHS.has(path) && !authorized(options, req)) {
      const challenge = options.username !== undefined ? 'Basic realm="mqtt-broker"' : "Bearer";
      return new Response(JSON.stringify({ error: "unauthorized" }), {
        status: 401,
        headers: { "content-type": "application/json", "www-authenticate": challenge },
      });
    }
    return route(ctx, req);
  });
  const addr = server.addr as Deno.NetAddr;
  log.info("Admin API on {scheme}://{host}:{port}", {
    scheme: "cert" in tls ? "https" : "http",
    host: addr.hostname,
    port: addr.port,
  });
  return {
    port: addr.port,
    hostname: addr.hostname,
    close: () => server.shutdown(),
  };
}

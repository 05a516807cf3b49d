/**
 * Where a bridge connects: opens a Socket to the remote broker over tcp, tls
 * (optionally with a client certificate), ws or wss. The Socket is the same one
 * the listeners hand the engine, so the bridge's client reads frames through the
 * project's own framer.
 *
 * @module
 */
import { parseAddress } from "../config/bridge_rules.ts";
import type { BridgeConfig } from "../config/schema.ts";
import { connSocket } from "../transport/tcp.ts";
import type { Socket } from "../transport/socket.ts";
import { webSocketSocket } from "../transport/websocket.ts";

const DEFAULT_PORTS = { tcp: 1883, tls: 8883, ws: 80, wss: 443 } as const;

/** The PEM material a tls/wss bridge presents and trusts, read once per connection attempt. */
function tlsMaterial(config: BridgeConfig): { caCerts?: string[]; cert?: string; key?: string } {
  const read = (path: string | undefined) => path === undefined ? undefined : Deno.readTextFileSync(path);
  const ca = read(config.ca_file);
  return {
    caCerts: ca === undefined ? undefined : [ca],
    cert: read(config.cert_file),
    key: read(config.key_file),
  };
}

/** Opens a WebSocket offering the `mqtt` subprotocol and waits until it is open. */
function openWebSocket(url: string, config: BridgeConfig): Promise<WebSocket> {
  const { caCerts, cert, key } = tlsMaterial(config);
  // A custom CA or a client certificate needs Deno's own HTTP client; plain wss uses the system roots.
  const client = config.transport === "wss" && (caCerts !== undefined || cert !== undefined)
    ? Deno.createHttpClient(cert !== undefined && key !== undefined ? { caCerts, cert, key } : { caCerts })
    : undefined;
  const ws = new WebSocket(url, { protocols: ["mqtt"], client });
  // The HTTP client lives as long as the connection it carries.
  ws.addEventListener("close", () => client?.close());
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(ws);
    ws.onerror = (e) => reject(new Error(`WebSocket ${url}: ${(e as ErrorEvent).message ?? "failed"}`));
    ws.onclose = () => reject(new Error(`WebSocket ${url} closed before opening`));
  });
}

/** Connects to the bridge's remote broker; rejects when it cannot be reached. */
export async function openRemote(config: BridgeConfig): Promise<Socket> {
  const { host, port } = parseAddress(config.address, DEFAULT_PORTS[config.transport])!;
  const name = `bridge:${config.name}`;
  switch (config.transport) {
    case "tcp": {
      const conn = await Deno.connect({ hostname: host, port });
      conn.setNoDelay(true);
      return connSocket(conn, name);
    }
    case "tls": {
      const { caCerts, cert, key } = tlsMaterial(config);
      const options = { hostname: host, port, caCerts };
      const conn = await Deno.connectTls(
        cert !== undefined && key !== undefined ? { ...options, cert, key } : options,
      );
      return connSocket(conn, name);
    }
    case "ws":
    case "wss": {
      const url = `${config.transport}://${host.includes(":") ? `[${host}]` : host}:${port}${config.path}`;
      const ws = await openWebSocket(url, config);
      return webSocketSocket(ws, name, `${host}:${port}`);
    }
  }
}

/** Rejects after `ms`; a socket that opens later is closed at once. */
export function withTimeout(opening: Promise<Socket>, ms: number): Promise<Socket> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let late = false;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      late = true;
      reject(new Error(`no connection within ${ms} ms`));
    }, ms);
  });
  opening.then((s) => late && s.close(), () => {});
  return Promise.race([opening, timeout]).finally(() => clearTimeout(timer));
}

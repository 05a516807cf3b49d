/**
 * The HTTP/1.1 request that opens a WebSocket (RFC 6455 section 4.2), read by
 * the broker itself rather than by Deno.serve: the listener then owns the
 * connection from accept to upgrade, so it can time the request out, count the
 * connection against its limits, and run over a TLS socket that verified a
 * client certificate. Pure functions over bytes.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** Largest request head accepted; a WebSocket request needs well under 2 KiB. */
export const MAX_HEAD_BYTES = 8192;

/** The key suffix that RFC 6455 fixes for computing Sec-WebSocket-Accept. */
const ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** A parsed request head and the bytes that followed it (the first frames, when the client did not wait). */
export interface RequestHead {
  method: string;
  target: string;
  version: string;
  /** Header names in lower case; repeated headers joined with ", ". */
  headers: Map<string, string>;
  rest: Uint8Array;
}

/** Where the head ends (index after the blank line), or -1 when it has not all arrived. */
function headEnd(bytes: Uint8Array): number {
  for (let i = 3; i < bytes.length; i++) {
    if (bytes[i] === 0x0a && bytes[i - 1] === 0x0d && bytes[i - 2] === 0x0a && bytes[i - 3] === 0x0d) {
      return i + 1;
    }
  }
  return -1;
}

/** An answer that refuses the upgrade: the status and a short text body. */
export interface Refusal {
  status: number;
  message: string;
  headers?: Record<string, string>;
}

/**
 * Parses the head at the start of `bytes`: null when more bytes are needed, a
 * {@link Refusal} when it is too long or not HTTP/1.1.
 */
export function parseRequestHead(bytes: Uint8Array): RequestHead | Refusal | null {
  const end = headEnd(bytes);
  if (end === -1) {
    return bytes.length >= MAX_HEAD_BYTES ? { status: 431, message: "request head too large" } : null;
  }
  if (end > MAX_HEAD_BYTES) return { status: 431, message: "request head too large" };
  // Header bytes outside ASCII are kept as Latin-1, as HTTP/1.1 defines them.
  const lines = new TextDecoder("latin1").decode(bytes.subarray(0, end - 4)).split("\r\n");
  const [method, target, version, ...extra] = lines[0].split(" ");
  if (extra.length > 0 || !target || !/^HTTP\/1\.[0-9]$/.test(version ?? "")) {
    return { status: 400, message: "not an HTTP/1.x request line" };
  }
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) return { status: 400, message: "malformed header line" };
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const before = headers.get(name);
    headers.set(name, before === undefined ? value : `${before}, ${value}`);
  }
  return { method, target, version, headers, rest: bytes.subarray(end) };
}

/** Whether a comma-separated header value lists `token` (case-insensitive). */
function lists(value: string | undefined, token: string): boolean {
  return (value ?? "").split(",").some((t) => t.trim().toLowerCase() === token);
}

/** The path of a request target (origin form or absolute form), without its query. */
function pathOf(target: string): string | null {
  if (target.startsWith("/")) return target.split("?")[0];
  try {
    return new URL(target).pathname;
  } catch {
    return null;
  }
}

/** Picks the subprotocol to answer from a Sec-WebSocket-Protocol header, or null. */
export function chooseSubprotocol(header: string | null | undefined): string | null {
  const offered = (header ?? "").split(",").map((p) => p.trim()).filter((p) => p !== "");
  // [MQTT-6.0.0-4] the server answers "mqtt"; "mqttv3.1" is what MQTT 3.1 clients offer.
  if (offered.includes("mqtt")) return "mqtt";
  if (offered.includes("mqttv3.1")) return "mqttv3.1";
  return null;
}

/** What an upgrade request amounts to: the accept key and subprotocol, or why it is refused. */
export function checkUpgrade(
  head: RequestHead,
  path: string,
): { accept: string; protocol: string } | Refusal {
  const h = head.headers;
  if (pathOf(head.target) !== path) return { status: 404, message: "not found" };
  if (!lists(h.get("upgrade"), "websocket")) {
    return {
      status: 426,
      message: "this endpoint speaks MQTT over WebSocket",
      headers: { upgrade: "websocket" },
    };
  }
  if (head.method !== "GET" || head.version !== "HTTP/1.1" || !lists(h.get("connection"), "upgrade")) {
    return { status: 400, message: "a WebSocket upgrade is an HTTP/1.1 GET with Connection: Upgrade" };
  }
  if (h.get("sec-websocket-version") !== "13") {
    return {
      status: 426,
      message: "WebSocket version 13 only",
      headers: { "sec-websocket-version": "13" },
    };
  }
  const key = h.get("sec-websocket-key") ?? "";
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key)) return { status: 400, message: "bad Sec-WebSocket-Key" };
  const protocol = chooseSubprotocol(h.get("sec-websocket-protocol"));
  if (protocol === null) return { status: 400, message: "offer the mqtt WebSocket subprotocol" };
  const accept = createHash("sha1").update(key + ACCEPT_GUID).digest("base64");
  return { accept, protocol };
}

const encoder = new TextEncoder();

/** The 101 answer that completes the handshake. */
export function switchingProtocols(accept: string, protocol: string): Uint8Array {
  return encoder.encode(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
  );
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  404: "Not Found",
  408: "Request Timeout",
  426: "Upgrade Required",
  431: "Request Header Fields Too Large",
  503: "Service Unavailable",
};

/** A complete response that refuses the upgrade; the connection is closed after it. */
export function refusalResponse(refusal: Refusal): Uint8Array {
  const body = encoder.encode(refusal.message);
  const extra = Object.entries(refusal.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  const head = encoder.encode(
    `HTTP/1.1 ${refusal.status} ${REASONS[refusal.status] ?? "Error"}\r\n` +
      `content-type: text/plain\r\ncontent-length: ${body.length}\r\nconnection: close\r\n${extra}\r\n`,
  );
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/**
 * The management API (JSON), `/metrics`, health and readiness, and the
 * dashboard page, as one request handler. Documented in docs/http-api.md.
 *
 * @module
 */
import type { SessionInfo, SubscriptionInfo } from "../broker/admin_view.ts";
import type { Broker } from "../public_broker.ts";
import { treeFilter } from "../broker/session.ts";
import type { BrokerConfig } from "../config/schema.ts";
import { topicMatches, validateTopicFilter, validateTopicName } from "../protocol/topic.ts";
import { DASHBOARD_HTML } from "./dashboard_page.ts";
import type { EventLoopMonitor } from "./event_loop.ts";
import type { LiveStats } from "./live_stats.ts";
import { renderMetrics, type TransportCounters } from "./metrics.ts";
import type { BridgeStatus } from "../bridge/bridge.ts";

/** What the API reads besides the broker. */
export interface AdminContext {
  /** The broker: its admin view, and publish for the API's publish and retained deletion. */
  broker: Broker;
  config: () => BrokerConfig;
  listeners: () => { type: string; name: string; hostname: string; port: number; path?: string }[];
  live: LiveStats;
  loop: EventLoopMonitor;
  /** False until the broker has started, and again while it shuts down. */
  ready: () => boolean;
  /** The configured bridges, for /metrics. */
  bridges?: () => readonly BridgeStatus[];
  /** The listeners' transport counters (and the admin listener's), for /metrics. */
  transport?: () => readonly TransportCounters[];
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** An integer query parameter in [min, max], its default when absent; anything else is a 400. */
function intParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null) return fallback;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= min && n <= max)) {
    throw new HttpError(400, `${name} must be an integer ${min}..${max}, got "${raw}"`);
  }
  return n;
}

/** Reads `limit` (1..1000, default 100) and `offset` and slices `items`. */
function page<T>(url: URL, items: T[]): { total: number; offset: number; limit: number; items: T[] } {
  const limit = intParam(url, "limit", 100, 1, 1000);
  const offset = intParam(url, "offset", 0, 0, Number.MAX_SAFE_INTEGER);
  return { total: items.length, offset, limit, items: items.slice(offset, offset + limit) };
}

/** A session as the API shows it (docs/http-api.md). */
function clientSummary(session: SessionInfo) {
  return {
    clientId: session.clientId,
    username: session.username ?? null,
    connected: session.connected,
    address: session.remoteAddress ?? null,
    listener: session.listener ?? null,
    protocol: session.protocolLevel,
    keepAlive: session.keepAlive ?? null,
    inflight: session.inflight,
    queued: session.queued,
    subscriptions: session.subscriptionCount,
    expiryInterval: session.expiryInterval,
  };
}

/** A subscription as the API shows it. */
function subscriptionSummary(sub: SubscriptionInfo) {
  return {
    clientId: sub.clientId,
    filter: sub.filter,
    qos: sub.qos,
    noLocal: sub.noLocal,
    retainAsPublished: sub.retainAsPublished,
    retainHandling: sub.retainHandling,
    subscriptionId: sub.subscriptionId ?? null,
    group: sub.group ?? null,
  };
}

const byClientId = (x: SessionInfo, y: SessionInfo) => x.clientId < y.clientId ? -1 : 1;

const SECRET_KEYS = new Set(["token", "password", "key_file"]);

/** The configuration with secrets replaced by "***". */
function redacted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redacted);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, SECRET_KEYS.has(k) && v !== undefined ? "***" : redacted(v)]),
  );
}

async function publish(broker: Broker, req: Request): Promise<Response> {
  const body = await req.json().catch(() => {
    throw new HttpError(400, "the body must be JSON");
  });
  const { topic, payload = "", encoding = "utf8", qos = 0, retain = false } = body ?? {};
  if (typeof topic !== "string") throw new HttpError(400, "topic (string) is required");
  if (typeof payload !== "string") throw new HttpError(400, "payload must be a string");
  if (![0, 1, 2].includes(qos)) throw new HttpError(400, "qos must be 0, 1 or 2");
  if (encoding !== "utf8" && encoding !== "base64") {
    throw new HttpError(400, 'encoding must be "utf8" or "base64"');
  }
  try {
    validateTopicName(topic);
  } catch (err) {
    throw new HttpError(400, `invalid topic: ${(err as Error).message}`);
  }
  // As for clients (docs/security.md): topics starting with $ ($SYS/…) are the broker's own.
  if (topic.startsWith("$")) throw new HttpError(403, "topics starting with $ are reserved for the broker");
  const bytes = encoding === "base64" ? Uint8Array.from(atob(payload), (c) => c.charCodeAt(0)) : payload;
  await broker.publish({ topic, payload: bytes, qos, retain: retain === true });
  return json({ published: true }, 202);
}

function retainedList(broker: Broker, url: URL) {
  const filter = url.searchParams.get("topic") ?? "#";
  try {
    validateTopicFilter(filter);
  } catch (err) {
    throw new HttpError(400, `invalid topic filter: ${(err as Error).message}`);
  }
  const messages = [...broker.admin.retained(filter)].sort((a, b) => a.topic < b.topic ? -1 : 1);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const result = page(url, messages);
  return {
    ...result,
    items: result.items.map((m) => {
      let text: string | null = null;
      try {
        text = decoder.decode(m.payload.subarray(0, 4096));
      } catch { /* binary payload: base64 only */ }
      // Previews stop at 4 KiB; `size` tells the whole length.
      return {
        topic: m.topic,
        qos: m.qos,
        size: m.payload.length,
        payloadText: text,
        payloadBase64: btoa(String.fromCharCode(...m.payload.subarray(0, 4096))),
      };
    }),
  };
}

function overview(ctx: AdminContext) {
  const admin = ctx.broker.admin;
  const s = admin.counters;
  const { inflight, queued } = admin.pendingMessages();
  const sizes = admin.sizes();
  const perListener = new Map<string, number>();
  for (const client of admin.clients()) {
    perListener.set(client.listener, (perListener.get(client.listener) ?? 0) + 1);
  }
  return {
    version: admin.version,
    uptimeSeconds: Math.floor(admin.uptimeMs() / 1000),
    clients: { connected: s.clientsConnected, maximum: s.clientsMaximum, sessions: sizes.sessions },
    messages: {
      received: s.messagesReceived,
      sent: s.messagesSent,
      dropped: s.droppedTotal,
      inflight,
      queued,
    },
    bytes: { received: s.bytesReceived, sent: s.bytesSent },
    subscriptions: sizes.subscriptions,
    retained: sizes.retained,
    eventLoopDelayMs: ctx.loop.lastMs,
    memory: Deno.memoryUsage(),
    listeners: ctx.listeners().map((l) => ({ ...l, connections: perListener.get(l.name) ?? 0 })),
    rates: ctx.live.history,
    topTopics: ctx.live.topTopics,
  };
}

/** A percent-decoded path segment; a broken escape such as `%E0%A4%A` is the client's error. */
function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new HttpError(400, `bad percent-encoding in the path: ${part}`);
  }
}

/** Routes one authenticated request. */
export async function route(ctx: AdminContext, req: Request): Promise<Response> {
  const url = new URL(req.url);
  const b = ctx.broker;
  const method = req.method;
  try {
    const parts = url.pathname.split("/").filter((p) => p !== "").map(decodePart);
    if (url.pathname === "/favicon.ico") return new Response(null, { status: 204 });
    if (url.pathname === "/" || url.pathname === "/dashboard") {
      return new Response(DASHBOARD_HTML, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    if (url.pathname === "/metrics") {
      return new Response(
        renderMetrics(b.admin, { loop: ctx.loop, bridges: ctx.bridges?.(), listeners: ctx.transport?.() }),
        {
          headers: { "content-type": "text/plain; version=0.0.4" },
        },
      );
    }
    if (url.pathname === "/health") return json({ status: "ok" });
    if (url.pathname === "/ready") return ctx.ready() ? json({ ready: true }) : json({ ready: false }, 503);
    if (parts[0] !== "api" || parts[1] !== "v1") throw new HttpError(404, "not found");
    const [resource, id] = [parts[2], parts[3]];
    if (resource === "overview" && method === "GET") return json(overview(ctx));
    if (resource === "config" && method === "GET") return json(redacted(ctx.config()));
    if (resource === "bridges" && id === undefined && method === "GET") {
      // A list like the others: the { total, offset, limit, items } envelope.
      return json(page(
        url,
        (ctx.bridges?.() ?? []).map((b) => ({
          name: b.name,
          connected: b.connected,
          messagesIn: b.messagesIn,
          messagesOut: b.messagesOut,
          queued: b.queued,
          reconnects: b.reconnects,
        })),
      ));
    }
    if (resource === "publish" && method === "POST") return await publish(b, req);
    if (resource === "clients" && id === undefined && method === "GET") {
      const q = url.searchParams.get("q")?.toLowerCase() ?? "";
      const connectedOnly = url.searchParams.get("connected") === "true";
      const items = b.admin.sessions()
        .filter((s) => (!connectedOnly || s.connected) && s.clientId.toLowerCase().includes(q))
        .sort(byClientId)
        .map(clientSummary);
      return json(page(url, items));
    }
    if ((resource === "clients" || resource === "sessions") && id !== undefined) {
      const session = b.admin.session(id);
      if (session === undefined) throw new HttpError(404, `no session for client id "${id}"`);
      if (method === "GET") {
        return json({
          ...clientSummary(session),
          subscriptions: session.subscriptions.map(subscriptionSummary),
        });
      }
      if (method === "DELETE" && resource === "clients") {
        if (!b.admin.disconnect(id)) throw new HttpError(409, `client "${id}" is not connected`);
        return new Response(null, { status: 204 });
      }
      if (method === "DELETE") {
        await b.admin.removeSession(id);
        return new Response(null, { status: 204 });
      }
    }
    if (resource === "sessions" && id === undefined && method === "GET") {
      return json(page(url, b.admin.sessions().sort(byClientId).map(clientSummary)));
    }
    if (resource === "subscriptions" && method === "GET") {
      const client = url.searchParams.get("client");
      const topic = url.searchParams.get("topic");
      let items = b.admin.subscriptions(client ?? undefined).map(subscriptionSummary);
      if (topic !== null) {
        // Only the subscriptions that would receive a message on `topic`.
        items = items.filter((s) => topicMatches(treeFilter(s), topic));
      }
      return json(page(url, items));
    }
    if (resource === "retained" && method === "GET") return json(retainedList(b, url));
    if (resource === "retained" && method === "DELETE" && id !== undefined) {
      // The topic is the rest of the path as written (empty levels included).
      const topic = decodePart(url.pathname.slice("/api/v1/retained/".length));
      await b.publish({ topic, payload: new Uint8Array(0), retain: true });
      return new Response(null, { status: 204 });
    }
    throw new HttpError(404, `no route for ${method} ${url.pathname}`);
  } catch (err) {
    if (err instanceof HttpError) return json({ error: err.message }, err.status);
    return json({ error: String(err) }, 500);
  }
}

import assert from "node:assert/strict";
import mqtt from "mqtt";
import { parseConfig } from "../../src/config/load_config.ts";
import { startServer } from "../../src/server.ts";

async function withAdmin(extra: string, fn: (base: string, mqttUrl: string) => Promise<void>) {
  const config = parseConfig(
    `listeners:\n  - { type: tcp, port: 0 }\npersistence: { type: memory }\nauth: { allow_anonymous: true }\n` +
      `admin: { enabled: true, port: 0${extra} }\n`,
    "inline.yaml",
  );
  const server = await startServer(config);
  try {
    await fn(`http://127.0.0.1:${server.admin!.port}`, `mqtt://127.0.0.1:${server.listeners[0].port}`);
  } finally {
    await server.close();
  }
}

const connect = (url: string, clientId: string) => mqtt.connectAsync(url, { clientId, reconnectPeriod: 0 });

/** The status of a GET sent by hand: fetch() will not let a test choose the Host header. */
async function statusWithHost(
  port: number | string,
  path: string,
  host: string,
  extra = "",
): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
  await conn.write(
    new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`),
  );
  let text = "";
  const buf = new Uint8Array(65536);
  for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  conn.close();
  return Number(text.split(" ")[1]);
}

Deno.test({
  name: "the admin API lists, inspects and disconnects clients, and lists sessions and subscriptions",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withAdmin("", async (base, url) => {
      const alice = await connect(url, "alice");
      const bob = await connect(url, "bob");
      await alice.subscribeAsync("room/+", { qos: 1 });
      const clients = await (await fetch(`${base}/api/v1/clients?q=ali`)).json();
      assert.equal(clients.total, 1);
      assert.equal(clients.items[0].clientId, "alice");
      assert.equal(clients.items[0].connected, true);
      assert.equal(clients.items[0].subscriptions, 1);
      assert.match(clients.items[0].address, /127\.0\.0\.1/);
      const detail = await (await fetch(`${base}/api/v1/clients/alice`)).json();
      assert.deepEqual(detail.subscriptions.map((s: { filter: string }) => s.filter), ["room/+"]);
      const subs = await (await fetch(`${base}/api/v1/subscriptions?topic=room/1`)).json();
      assert.deepEqual(subs.items.map((s: { clientId: string }) => s.clientId), ["alice"]);
      const paged = await (await fetch(`${base}/api/v1/sessions?limit=1&offset=1`)).json();
      assert.equal(paged.total, 2);
      assert.deepEqual(paged.items.map((s: { clientId: string }) => s.clientId), ["bob"]);

      const closed = new Promise<void>((resolve) => bob.once("close", () => resolve()));
      const kicked = await fetch(`${base}/api/v1/clients/bob`, { method: "DELETE" });
      assert.equal(kicked.status, 204);
      await closed;
      const missing = await fetch(`${base}/api/v1/clients/nobody`);
      assert.equal(missing.status, 404);
      await missing.body?.cancel();
      await alice.endAsync();
      await bob.endAsync(true);
    });
  },
});

Deno.test({
  name: "the admin API publishes, lists and deletes retained messages, and removes sessions",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withAdmin("", async (base, url) => {
      const sub = await connect(url, "listener");
      await sub.subscribeAsync("api/#");
      const got = new Promise<string>((resolve) => sub.once("message", (_t, p) => resolve(p.toString())));
      const res = await fetch(`${base}/api/v1/publish`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic: "api/news", payload: "extra", qos: 1, retain: true }),
      });
      assert.equal(res.status, 202);
      await res.body?.cancel();
      assert.equal(await got, "extra");
      const retained = await (await fetch(`${base}/api/v1/retained?topic=api/%23`)).json();
      assert.deepEqual(
        retained.items.map((m: { topic: string; payloadText: string }) => [m.topic, m.payloadText]),
        [[
          "api/news",
          "extra",
        ]],
      );
      const bad = await fetch(`${base}/api/v1/publish`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic: "a/#" }),
      });
      assert.equal(bad.status, 400);
      assert.match((await bad.json()).error, /invalid topic/);
      assert.equal((await fetch(`${base}/api/v1/retained/api/news`, { method: "DELETE" })).status, 204);
      assert.equal((await (await fetch(`${base}/api/v1/retained`)).json()).total, 0);
      assert.equal((await fetch(`${base}/api/v1/sessions/listener`, { method: "DELETE" })).status, 204);
      assert.equal((await (await fetch(`${base}/api/v1/sessions`)).json()).total, 0);
      await sub.endAsync(true);
    });
  },
});

Deno.test({
  name:
    "with a token the API and /metrics need it; health, readiness and the page do not; config secrets are hidden",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withAdmin(", token: s3cret", async (base) => {
      for (const path of ["/api/v1/overview", "/metrics", "/api/v1/config"]) {
        const res = await fetch(base + path);
        assert.equal(res.status, 401, path);
        await res.body?.cancel();
      }
      const wrong = await fetch(`${base}/metrics`, { headers: { authorization: "Bearer nope" } });
      assert.equal(wrong.status, 401);
      await wrong.body?.cancel();
      const auth = { headers: { authorization: "Bearer s3cret" } };
      const config = await (await fetch(`${base}/api/v1/config`, auth)).json();
      assert.equal(config.admin.token, "***");
      assert.equal((await (await fetch(`${base}/health`)).json()).status, "ok");
      assert.equal((await (await fetch(`${base}/ready`)).json()).ready, true);
      const page = await (await fetch(`${base}/`)).text();
      assert.match(page, /<title>MQTT broker dashboard<\/title>/);
      assert.doesNotMatch(page, /https?:\/\/(?!127)/, "the page loads nothing from the network");
    });
  },
});

Deno.test({
  name: "basic auth is accepted when a user name and password are configured",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withAdmin(", username: ops, password: pw", async (base) => {
      const ok = await fetch(`${base}/api/v1/overview`, {
        headers: { authorization: `Basic ${btoa("ops:pw")}` },
      });
      assert.equal(ok.status, 200);
      assert.equal((await ok.json()).clients.connected, 0);
      const bad = await fetch(`${base}/api/v1/overview`, {
        headers: { authorization: `Basic ${btoa("ops:no")}` },
      });
      assert.equal(bad.status, 401);
      assert.match(bad.headers.get("www-authenticate") ?? "", /Basic/);
      await bad.body?.cancel();
    });
  },
});

Deno.test({
  name:
    "bad input answers 400 or 403, never 500: a broken escape, $SYS topics, limit and offset out of range",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withAdmin("", async (base) => {
      const status = async (path: string, init?: RequestInit) => {
        const res = await fetch(base + path, init);
        const body = await res.json();
        assert.equal(typeof body.error, "string", `${path}: a JSON error`);
        return res.status;
      };
      assert.equal(await status("/api/v1/clients/%E0%A4%A"), 400);
      assert.equal(await status("/api/v1/retained/a%ZZ", { method: "DELETE" }), 400);
      const publish = (topic: string) => ({
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic, payload: "x" }),
      });
      assert.equal(
        await status("/api/v1/publish", publish("$SYS/x")),
        403,
        "refused like a client's publish",
      );
      assert.equal(await status("/api/v1/publish", publish("$anything")), 403);
      for (const query of ["limit=0", "limit=1001", "limit=abc", "limit=-1", "limit=1.5", "offset=-1"]) {
        assert.equal(await status(`/api/v1/sessions?${query}`), 400, query);
      }
      const page = await (await fetch(`${base}/api/v1/sessions?limit=1000&offset=0`)).json();
      assert.equal(page.limit, 1000);
    });
  },
});

Deno.test({
  name: "the browser's automatic /favicon.ico request gets 204, even with a token",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withAdmin(", token: s3cret", async (base) => {
      const res = await fetch(`${base}/favicon.ico`);
      assert.equal(res.status, 204);
      await res.body?.cancel();
    });
  },
});

Deno.test({
  name:
    "cross-site requests cannot change state: foreign Origin 403, non-JSON bodies 415, same-origin JSON accepted",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withAdmin("", async (base) => {
      const body = JSON.stringify({ topic: "csrf/t", payload: "x" });
      const post = async (headers: Record<string, string>) => {
        const res = await fetch(`${base}/api/v1/publish`, { method: "POST", headers, body });
        await res.body?.cancel();
        return res.status;
      };
      // What a form or a fetch on another site produces: a simple request, no preflight.
      assert.equal(await post({ "content-type": "text/plain", origin: "http://evil.example" }), 403);
      assert.equal(await post({ "content-type": "application/json", origin: "http://evil.example" }), 403);
      assert.equal(await post({ "content-type": "application/json", origin: "null" }), 403);
      assert.equal(await post({ "content-type": "application/json", "sec-fetch-site": "cross-site" }), 403);
      assert.equal(await post({ "content-type": "text/plain" }), 415, "JSON only");
      assert.equal(await post({ "content-type": "application/x-www-form-urlencoded" }), 415);
      assert.equal(await post({ "content-type": "application/json; charset=utf-8", origin: base }), 202);
      assert.equal(
        await post({ "content-type": "application/json" }),
        202,
        "tools such as curl send no Origin",
      );
      const del = await fetch(`${base}/api/v1/retained/csrf/t`, {
        method: "DELETE",
        headers: { origin: "http://evil.example" },
      });
      assert.equal(del.status, 403);
      await del.body?.cancel();
    });
  },
});

Deno.test({
  name: "without credentials every request must name the listener in Host (DNS rebinding is refused)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withAdmin("", async (base) => {
      const port = new URL(base).port;
      const get = (host: string) => statusWithHost(port, "/api/v1/overview", host);
      assert.equal(await get("attacker.example:" + port), 403);
      assert.equal(await get("127.0.0.1:" + port), 200);
      assert.equal(await get("localhost:" + port), 200);
      assert.equal(await get("localhost:9999"), 200, "an SSH tunnel may change the port");
    });
    await withAdmin(", token: s3cret", async (base) => {
      // With a token, a rebound page has nothing to send: Host is not checked.
      const port = new URL(base).port;
      assert.equal(
        await statusWithHost(port, "/api/v1/overview", "broker.example", "Authorization: Bearer s3cret\r\n"),
        200,
      );
    });
  },
});

Deno.test({
  name:
    "the admin API beyond loopback without credentials is refused at start unless allowed in so many words",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const yaml = (admin: string) =>
      `listeners:\n  - { type: tcp, port: 0 }\npersistence: { type: memory }\nadmin: { enabled: true, port: 0, ${admin} }\n`;
    assert.throws(
      () => parseConfig(yaml("host: 0.0.0.0"), "broker.yaml"),
      /broker\.yaml:\d+: admin\.host: the admin API on 0\.0\.0\.0 would be open to anyone .*admin\.token/,
    );
    parseConfig(yaml("host: 0.0.0.0, token: t"), "broker.yaml");
    parseConfig(yaml("host: localhost"), "broker.yaml");
    const server = await startServer(
      parseConfig(yaml("host: 0.0.0.0, allow_remote_without_auth: true"), "x"),
    );
    assert.equal(server.admin?.hostname, "0.0.0.0");
    // Opened to the network on purpose, it answers whatever name it is reached by.
    assert.equal(await statusWithHost(server.admin!.port, "/api/v1/overview", "broker.example:18083"), 200);
    await server.close();
  },
});

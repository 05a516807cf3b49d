/**
 * Hostile phase: connections that never finish their handshake (issue #18 item
 * 3). The broker runs as a child process with `limits.connect_timeout_ms: 1000`,
 * 20 connections per listener and 50 in all. Each phase stalls one listener with
 * 20 connections, each stuck at a stage before CONNECT:
 *
 * - tcp: silent after the TCP handshake;
 * - tls: silent, or a ClientHello and nothing more;
 * - ws: idle before the HTTP request, or the request trickled a byte per 100 ms;
 * - wss: silent, a ClientHello and nothing more, or a finished TLS handshake and no request.
 *
 * While they stall they fill the listener (the next connection is refused at
 * once), the broker is alive and a client connected before gets a QoS 1 round
 * trip within 5 s; every staller is closed within the connect timeout (plus
 * 1.5 s of slack for a loaded machine); then a new client on that listener gets
 * a QoS 1 round trip within 5 s. A last phase fills the broker-wide limit with
 * stallers spread over the listeners.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { freshRoundTrip, isAlive, qos1RoundTrip, wellBehavedClient } from "../_helpers/broker_health.ts";
import { freePort, startLimitedBroker } from "../_helpers/broker_process.ts";
import { makeCerts, opensslAvailable } from "../_helpers/certs.ts";
import { MiB, mib, rssBytes } from "../_helpers/rss.ts";
import {
  recordClientHello,
  silentStaller,
  type Staller,
  tlsIdleStaller,
  tricklingStaller,
} from "../_helpers/stallers.ts";
import { upgradeRequest } from "../_helpers/websocket_bytes.ts";

if (!opensslAvailable) console.warn("skipping the handshake stall test: openssl is not installed");

const TIMEOUT_MS = 1000;
const SLACK_MS = 1500;
const PER_LISTENER = 20;
const GLOBAL = 50;
/**
 * RSS bound: RSS before the phases plus 64 MiB. At most 50 connections are open at once,
 * each at most a TLS session in its handshake (100–200 KiB at the high-water mark, see
 * fd_exhaustion_test.ts): under 10 MiB, with the rest for the heap growing a step.
 */
const RSS_MARGIN = 64 * MiB;

/** How long each staller lived, or Infinity for one still open when the wait is over. */
function lifetimes(stallers: Staller[]): Promise<number[]> {
  const cap = new Promise<number>((r) => setTimeout(() => r(Infinity), TIMEOUT_MS + SLACK_MS + 1000));
  return Promise.all(stallers.map((s) => Promise.race([s.closed, cap])));
}

/** Milliseconds until the broker closes a fresh connection to `port` (a full listener closes it at once). */
async function msUntilRefused(port: number): Promise<number> {
  const s = await silentStaller(port);
  const ms = await Promise.race([s.closed, new Promise<number>((r) => setTimeout(() => r(Infinity), 3000))]);
  s.close();
  return ms;
}

Deno.test({
  name:
    "connections stalled before CONNECT on tcp, tls, ws and wss are closed at the connect timeout and count against the limits",
  ignore: !opensslAvailable || Deno.build.os !== "linux",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const certs = await makeCerts();
    const ca = Deno.readTextFileSync(certs.caCert);
    const hello = await recordClientHello();
    const ports = { tcp: freePort(), tls: freePort(), ws: freePort(), wss: freePort() };
    const files = `cert_file: ${certs.serverCert}, key_file: ${certs.serverKey}`;
    const broker = await startLimitedBroker(
      `listeners:
  - { type: tcp, host: 127.0.0.1, port: ${ports.tcp}, max_connections: ${PER_LISTENER + 1} }
  - { type: tls, host: 127.0.0.1, port: ${ports.tls}, max_connections: ${PER_LISTENER}, ${files} }
  - { type: ws, host: 127.0.0.1, port: ${ports.ws}, max_connections: ${PER_LISTENER} }
  - { type: wss, host: 127.0.0.1, port: ${ports.wss}, max_connections: ${PER_LISTENER}, ${files} }
persistence: { type: memory }
limits: { connect_timeout_ms: ${TIMEOUT_MS}, max_connections: ${GLOBAL} }
sys: { interval: 0 }
`,
      // The watcher takes one tcp slot: the tcp listener gets one more than the others.
      { port: ports.tcp, openFiles: 1024 },
    );
    const pid = broker.child.pid;
    const watcher = await wellBehavedClient(`mqtt://127.0.0.1:${ports.tcp}`, "stall/watch");
    const rssBefore = await rssBytes(pid);
    const urls = {
      tcp: `mqtt://127.0.0.1:${ports.tcp}`,
      tls: `mqtts://localhost:${ports.tls}`,
      ws: `ws://127.0.0.1:${ports.ws}/mqtt`,
      wss: `wss://localhost:${ports.wss}/mqtt`,
    };
    const kinds: Record<keyof typeof ports, ((i: number) => Promise<Staller>)> = {
      tcp: () => silentStaller(ports.tcp),
      tls: (i) => silentStaller(ports.tls, i % 2 === 0 ? undefined : hello),
      ws: (i) => i % 2 === 0 ? silentStaller(ports.ws) : tricklingStaller(ports.ws, upgradeRequest()),
      wss: (i) =>
        i % 3 === 0
          ? silentStaller(ports.wss)
          : i % 3 === 1
          ? silentStaller(ports.wss, hello)
          : tlsIdleStaller(ports.wss, ca),
    };
    const check = async (label: string) => {
      assert.ok(await isAlive(broker), `${label}: the broker is alive\n${broker.output()}`);
      await qos1RoundTrip(watcher, "stall/watch");
      const rss = await rssBytes(pid);
      assert.ok(rss < rssBefore + RSS_MARGIN, `${label}: RSS ${mib(rss)} (before ${mib(rssBefore)})`);
      return rss;
    };
    try {
      for (const type of ["tcp", "tls", "ws", "wss"] as const) {
        await t.step(
          `${type}: ${PER_LISTENER} stallers fill the listener and are closed at the timeout`,
          async () => {
            const stallers: Staller[] = [];
            try {
              for (let i = 0; i < PER_LISTENER; i++) stallers.push(await kinds[type](i));
              const refusedIn = await msUntilRefused(ports[type]);
              assert.ok(
                refusedIn < 500,
                `${type}: the listener is full, the next connection closed in ${refusedIn} ms`,
              );
              const rss = await check(type);
              const times = await lifetimes(stallers);
              const slowest = Math.max(...times);
              console.log(
                `${type}: ${PER_LISTENER} stallers closed after ${Math.min(...times).toFixed(0)}–${
                  slowest.toFixed(0)
                } ms; refused the next in ${refusedIn.toFixed(0)} ms; RSS ${mib(rss)}`,
              );
              assert.ok(slowest < TIMEOUT_MS + SLACK_MS, `${type}: the slowest staller lived ${slowest} ms`);
            } finally {
              for (const s of stallers) s.close();
            }
            await freshRoundTrip(urls[type], { ca: Buffer.from(ca) });
          },
        );
      }
      await t.step(`stallers on every listener fill the broker-wide limit of ${GLOBAL}`, async () => {
        const stallers: Staller[] = [];
        try {
          // The watcher holds one slot; 49 stallers take the rest, spread over the listeners.
          const types = ["tcp", "tls", "ws", "wss"] as const;
          for (let i = 0; i < GLOBAL - 1; i++) stallers.push(await kinds[types[i % 4]](i));
          for (const type of types) {
            const refusedIn = await msUntilRefused(ports[type]);
            assert.ok(refusedIn < 500, `${type}: refused in ${refusedIn} ms while the broker is full`);
          }
          await check("global");
          const slowest = Math.max(...await lifetimes(stallers));
          assert.ok(slowest < TIMEOUT_MS + SLACK_MS, `the slowest staller lived ${slowest} ms`);
        } finally {
          for (const s of stallers) s.close();
        }
        await freshRoundTrip(urls.ws);
      });
    } finally {
      watcher.end(true);
      await broker.stop();
      await Deno.remove(certs.dir, { recursive: true });
      await Deno.remove(broker.dir, { recursive: true });
    }
  },
});

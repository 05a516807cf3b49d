/**
 * The tls listener on its own: certificate pairs checked before serving, the
 * handshake timed by the connect timeout and counted against the listener's
 * limit, failed handshakes logged and counted, certificates swapped in place.
 */
import assert from "node:assert/strict";
import { connect as tlsConnect } from "node:tls";
import { Buffer } from "node:buffer";
import type { LogRecord } from "@logtape/logtape";
import { configureLoggingTo } from "../../src/log/logging.ts";
import { ConnectionGate } from "../../src/transport/admission.ts";
import type { Socket } from "../../src/transport/socket.ts";
import {
  CertificateError,
  listenTls,
  validateCaBundle,
  validateCertificatePair,
} from "../../src/transport/tls.ts";
import { makeCerts, opensslAvailable, type TestCerts } from "../_helpers/certs.ts";
import { msUntilClosed, recordClientHello } from "../_helpers/stallers.ts";
import { waitFor } from "../_helpers/wait_for.ts";

const certs: TestCerts | undefined = opensslAvailable ? await makeCerts() : undefined;
if (!certs) console.warn("skipping TLS listener tests: openssl is not installed");
const read = (path: string) => Deno.readTextFileSync(path);

/** Listener options: 127.0.0.1, any port, the test server certificate. */
function onLoopback(c: TestCerts) {
  return { hostname: "127.0.0.1", port: 0, cert: read(c.serverCert), key: read(c.serverKey) };
}

/** A TLS client (CA-verified) that resolves once the handshake is done, or rejects. */
function handshake(port: number, extra: Record<string, unknown> = {}) {
  return new Promise<ReturnType<typeof tlsConnect>>((resolve, reject) => {
    const socket = tlsConnect({
      host: "127.0.0.1",
      port,
      ca: read(certs!.caCert),
      servername: "localhost",
      ...extra,
    });
    socket.once("secureConnect", () => resolve(socket));
    socket.once("error", reject);
  });
}

Deno.test({
  name: "a certificate and key that belong together pass; each kind of bad pair names the file at fault",
  ignore: !certs,
  fn() {
    const c = certs!;
    const good = validateCertificatePair(c.serverCert, c.serverKey);
    assert.match(good.cert, /BEGIN CERTIFICATE/);
    assert.ok(good.notAfter.getTime() > Date.now());
    const fails = (certFile: string, keyFile: string, file: string, text: RegExp) =>
      assert.throws(
        () => validateCertificatePair(certFile, keyFile),
        (err) => err instanceof CertificateError && err.file === file && text.test(err.message),
      );
    fails(c.serverCert, c.clientKey, c.clientKey, /does not match the certificate/);
    fails(c.serverKey, c.serverKey, c.serverKey, /holds no PEM certificate/);
    fails(c.serverCert, c.serverCert, c.serverCert, /not a readable PEM private key/);
    fails(`${c.dir}/missing.crt`, c.serverKey, `${c.dir}/missing.crt`, /cannot read the certificate/);
    const truncated = `${c.dir}/truncated.crt`;
    const pem = read(c.serverCert);
    Deno.writeTextFileSync(truncated, pem.slice(0, 200) + pem.slice(400));
    fails(truncated, c.serverKey, truncated, /cannot be parsed/);
    assert.match(validateCaBundle(c.caCert), /BEGIN CERTIFICATE/);
    assert.throws(() => validateCaBundle(c.serverKey), CertificateError);
  },
});

Deno.test({
  name:
    "a silent connection and a ClientHello that stops are closed at the connect timeout, holding a slot meanwhile",
  ignore: !certs,
  sanitizeResources: false,
  async fn() {
    const c = certs!;
    const hello = await recordClientHello();
    const listener = await listenTls({
      ...onLoopback(c),
      maxConnections: 1,
      handshakeTimeoutMs: () => 300,
    }, () => {});
    try {
      for (const staller of ["silent", "ClientHello then nothing"]) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
        if (staller !== "silent") await conn.write(hello);
        await waitFor("the staller's slot", () => listener.stats.handshaking === 1);
        // The staller holds the listener's only slot: the next connection is refused at once.
        const other = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
        assert.ok(await msUntilClosed(other) < 250, `${staller}: a second connection is refused at once`);
        other.close();
        const closedAfter = await msUntilClosed(conn);
        conn.close();
        assert.ok(closedAfter < 2000, `${staller}: closed after ${closedAfter} ms`);
      }
      assert.equal(listener.stats.handshakeTimeouts, 2);
      assert.equal(listener.stats.refused, 2);
      await waitFor("the slots given back", () => listener.stats.open === 0);
    } finally {
      await listener.close();
    }
  },
});

Deno.test({
  name: "the handshake timer stops at the end of the handshake: a slow CONNECT is the engine's business",
  ignore: !certs,
  sanitizeResources: false,
  async fn() {
    const c = certs!;
    const sockets: Socket[] = [];
    const listener = await listenTls({
      ...onLoopback(c),
      handshakeTimeoutMs: () => 200,
    }, (s) => sockets.push(s));
    const client = await handshake(listener.port);
    try {
      await waitFor("the socket handed over", () => sockets.length === 1);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(client.destroyed, false, "still open well after the handshake time");
      client.write(Buffer.from([0xc0, 0x00])); // PINGREQ
      const batch = await sockets[0].frames.next();
      assert.equal(batch?.[0].header, 0xc0);
      assert.equal(listener.stats.handshakeTimeouts, 0);
      assert.match(sockets[0].remoteAddress, /^127\.0\.0\.1:\d+$/);
    } finally {
      client.destroy();
      sockets[0]?.close(); // as the engine does once the frames end
      await sockets[0]?.closed;
      await listener.close();
    }
  },
});

Deno.test({
  name: "failed handshakes are logged at debug with their reason and counted",
  ignore: !certs,
  sanitizeResources: false,
  async fn() {
    const c = certs!;
    const records: LogRecord[] = [];
    await configureLoggingTo({ level: "debug", format: "text", categories: {}, payloads: false }, (r) => {
      records.push(r);
    });
    const listener = await listenTls({
      ...onLoopback(c),
      ca: read(c.caCert),
      requireCertificate: true,
      gate: new ConnectionGate(),
    }, () => {});
    try {
      await handshake(listener.port).then((s) => s.destroy(), () => {});
      await waitFor("the failure counted", () => listener.stats.tlsFailures === 1);
      const line = records.find((r) => r.message.join("").includes("TLS handshake"));
      assert.ok(line, "a debug line for the failed handshake");
      assert.equal(line.level, "debug");
      assert.match(String(line.properties.reason), /certificate/i);
      assert.match(String(line.properties.address), /^127\.0\.0\.1:/);
    } finally {
      await listener.close();
      await configureLoggingTo({ level: "fatal", format: "text", categories: {}, payloads: false }, () => {});
    }
  },
});

Deno.test({
  name: "reloaded certificates serve new handshakes while open connections stay",
  ignore: !certs,
  sanitizeResources: false,
  async fn() {
    const c = certs!;
    const other = await makeCerts();
    const sockets: Socket[] = [];
    const listener = await listenTls(onLoopback(c), (s) => sockets.push(s));
    try {
      const before = await handshake(listener.port);
      listener.reloadCertificates(read(other.serverCert), read(other.serverKey));
      await assert.rejects(handshake(listener.port), "the old CA no longer verifies the new certificate");
      const after = await handshake(listener.port, { ca: read(other.caCert) });
      assert.equal(before.destroyed, false);
      before.destroy();
      after.destroy();
    } finally {
      await Promise.all(sockets.map((s) => (s.close(), s.closed)));
      await listener.close();
      await Deno.remove(other.dir, { recursive: true });
    }
  },
});

if (certs) {
  globalThis.addEventListener("unload", () => Deno.removeSync(certs.dir, { recursive: true }));
}

/**
 * MQTT over TLS. TLS is terminated with `node:tls` rather than Deno.listenTls:
 * a Deno.listenTls connection cannot turn Nagle's algorithm off, which delays a
 * connection's first small replies by up to ~40 ms, and cannot verify client
 * certificates; node:tls does both and can swap certificates in place (SIGHUP)
 * without dropping connections.
 *
 * The broker accepts the TCP connections itself (accept_loop.ts) and hands each
 * to a node:tls server that never listens. Letting node:tls accept loses the
 * listener for good when accept() fails with EMFILE (measured on Deno 2.9.6: no
 * error event, the port stops answering), and gives no hold on connections that
 * stall in the handshake.
 *
 * @module
 */
import { createServer, type Server, type TLSSocket } from "node:tls";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { Buffer } from "node:buffer";
import { getLogger } from "@logtape/logtape";
import { AcceptLoop } from "./accept_loop.ts";
import { ConnectionGate, ListenerStats } from "./admission.ts";
import { BatchWriter } from "./batch_writer.ts";
import { connDuplex } from "./conn_duplex.ts";
import type { FrameSplitterOptions } from "../protocol/frame_stream.ts";
import { lingeringEnd } from "./lingering_close.ts";
import { PushedFrames } from "./pushed_frames.ts";
import type { Socket } from "./socket.ts";
import { DEFAULT_HANDSHAKE_TIMEOUT_MS } from "./tcp.ts";
import { writerSocket } from "./writer_socket.ts";

const log = getLogger(["mqtt", "transport"]);

/** How TLS is set up on a listener (tls and wss). */
export interface TlsSettings {
  /** PEM certificate chain, key, and optional CA bundle for client certificates. */
  cert: string;
  key: string;
  ca?: string;
  /** Require a client certificate signed by `ca`. */
  requireCertificate?: boolean;
  /** Oldest TLS version accepted (default TLSv1.2). */
  minVersion?: "TLSv1.2" | "TLSv1.3";
}

export interface TlsOptions extends TlsSettings {
  hostname: string;
  port: number;
  /** Connections accepted at once on this listener (0 = no limit), counted from accept. */
  maxConnections?: number;
  name?: string;
  /** Packet size limits and the broker's receive budget, shared by every connection's framer. */
  framing?: FrameSplitterOptions;
  /** The broker-wide connection budget shared by all listeners (default: this listener's alone). */
  gate?: ConnectionGate;
  stats?: ListenerStats;
  /** Time allowed for the TLS handshake (default 10 s, as `limits.connect_timeout_ms`). */
  handshakeTimeoutMs?: () => number;
}

export interface TlsListener {
  readonly type: "tls";
  readonly name: string;
  readonly hostname: string;
  readonly port: number;
  readonly stats: ListenerStats;
  /** Swaps the certificate, key and CA for new connections; open ones are kept. */
  reloadCertificates(cert: string, key: string, ca?: string): void;
  close(): Promise<void>;
}

/** A certificate or key file that cannot serve; the message names the file. */
export class CertificateError extends Error {
  constructor(readonly file: string, message: string) {
    super(message);
    this.name = "CertificateError";
  }
}

function readPem(file: string, what: string): string {
  try {
    return Deno.readTextFileSync(file);
  } catch (err) {
    throw new CertificateError(file, `${file}: cannot read the ${what} (${(err as Error).message})`);
  }
}

/** Parses the first certificate of `pem`; `what` names the file's role in messages. */
function parseCertificate(file: string, pem: string, what = "certificate"): X509Certificate {
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new CertificateError(file, `${file} holds no PEM ${what} (expected "-----BEGIN CERTIFICATE-----")`);
  }
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new CertificateError(
      file,
      `${file}: not a PEM ${what}: it cannot be parsed (${(err as Error).message})`,
    );
  }
}

/**
 * Reads and checks a certificate and its private key: both parse, and the key is the
 * certificate's. Throws {@link CertificateError} naming the file at fault. `--check-config`,
 * start and SIGHUP all call it, so a bad pair is refused before any listener serves it.
 *
 * @returns the PEM texts and the certificate's expiry.
 */
export function validateCertificatePair(
  certFile: string,
  keyFile: string,
): { cert: string; key: string; notAfter: Date } {
  const cert = readPem(certFile, "certificate");
  const key = readPem(keyFile, "private key");
  const x509 = parseCertificate(certFile, cert);
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new CertificateError(
      keyFile,
      `${keyFile}: not a readable PEM private key (encrypted keys are not supported): ${
        (err as Error).message
      }`,
    );
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new CertificateError(
      keyFile,
      `the key in ${keyFile} does not match the certificate in ${certFile} ` +
        "(give the key the certificate was issued for, or a certificate for this key)",
    );
  }
  return { cert, key, notAfter: new Date(x509.validTo) };
}

/** Reads and checks a CA bundle (its first certificate must parse). */
export function validateCaBundle(caFile: string): string {
  const ca = readPem(caFile, "CA bundle");
  parseCertificate(caFile, ca, "certificate bundle");
  return ca;
}

/** The identity a verified client certificate carries (its subject CN), if any. */
export function certificateIdentity(socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  return Array.isArray(cn) ? cn[0] : cn || undefined;
}

/** Adapts a node socket (already set up) to the Socket interface. */
export function nodeSocket(
  socket: TLSSocket,
  listener: string,
  options: { framing?: FrameSplitterOptions; remoteAddress?: string } = {},
): Socket & { identity?: string } {
  // Backpressure: stop reading the socket while the engine has batches waiting.
  const source = new PushedFrames(options.framing, () => void socket.resume());
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => resolveClosed = r);
  let lingering = false;
  socket.on("data", (chunk: Buffer) => {
    if (lingering) return; // closed by the engine: read only to be discarded
    // node hands out fresh buffers per event: frame views stay valid.
    if (!source.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))) socket.destroy();
    else if (!source.wantsMore) socket.pause();
  });
  socket.on("end", () => source.end());
  socket.on("error", () => source.end());
  socket.on("close", () => {
    source.end();
    resolveClosed();
  });
  let wrote = false;
  const writer = new BatchWriter(
    (bytes) =>
      new Promise((resolve, reject) => {
        wrote = true;
        if (socket.destroyed) return reject(new Error("socket closed"));
        socket.write(Buffer.from(bytes), (err) => err ? reject(err) : resolve(bytes.length));
      }),
    {
      // A lingering close (see lingering_close.ts), so that the last packet reaches a client
      // that is still sending: what it sends meanwhile is read and discarded.
      onClose: () => {
        if (socket.destroyed) return;
        // Never written to: nothing to deliver, so nothing to linger for (see tcp.ts).
        if (!wrote) return void socket.destroy();
        lingering = true;
        lingeringEnd(socket);
      },
    },
  );
  return writerSocket(writer, {
    remoteAddress: options.remoteAddress ?? `${socket.remoteAddress}:${socket.remotePort}`,
    listener,
    frames: source,
    closed,
    identity: certificateIdentity(socket),
    transportBuffered: () => socket.writableLength,
  });
}

/**
 * Runs server-side TLS handshakes over connections accepted elsewhere, with one
 * configuration that {@link reload} swaps for the handshakes that follow.
 *
 * Each connection gets a node:tls server of its own (never listening) that the
 * connection is injected into: its `secureConnection` and `tlsClientError` events
 * then belong to that connection without ambiguity, using public node APIs only.
 * A server costs about 0.06 ms to make (measured with Deno 2.9.6), small beside
 * the handshake itself.
 */
export class TlsTerminator {
  #options: Parameters<typeof createServer>[0];
  readonly #settings: TlsSettings;

  constructor(settings: TlsSettings, alpn: string[]) {
    this.#settings = settings;
    this.#options = {
      cert: settings.cert,
      key: settings.key,
      ca: settings.ca,
      requestCert: settings.ca !== undefined || settings.requireCertificate === true,
      rejectUnauthorized: settings.requireCertificate === true,
      ALPNProtocols: alpn,
      minVersion: settings.minVersion ?? "TLSv1.2",
      // The listener times the handshake itself (the connect timeout, see accept_loop.ts).
      // node:tls's own timer (120 s by default) is not cleared when a connection closes
      // mid-handshake (Deno 2.9.6), and holds ~10 KiB per such connection until it fires:
      // a client opening and closing connections could pile up memory with it. A value
      // that is not positive turns it off (as in Node.js).
      handshakeTimeout: -1,
    };
  }

  /** The TLS session over `conn`, once its handshake (and client certificate check) succeeded. */
  handshake(conn: Deno.Conn): Promise<TLSSocket> {
    const server: Server = createServer(this.#options);
    const stream = connDuplex(conn);
    return new Promise((resolve, reject) => {
      const fail = (reason: string) => {
        // Destroying the stream takes the TLS session down with it; left alone, the session
        // (and the native state behind it) would outlive the connection.
        stream.destroy();
        reject(new Error(reason));
      };
      // A peer that leaves mid-handshake raises no TLS error: watch the connection itself.
      const left = (err?: Error) => fail(err?.message ?? "the client closed during the handshake");
      stream.once("end", left);
      stream.once("error", left);
      server.once("secureConnection", (socket: TLSSocket) => {
        stream.off("end", left);
        stream.off("error", left);
        resolve(socket);
      });
      server.once("tlsClientError", (err: Error, socket: TLSSocket) => {
        // A failed certificate check surfaces as a hang-up; its reason is on the socket.
        const reason = socket?.authorizationError;
        socket?.destroy();
        fail(reason ? `client certificate: ${reason}` : err.message);
      });
      // Node's documented way to hand a server a connection it did not accept itself.
      server.emit("connection", stream);
    });
  }

  /** Uses a new certificate, key and CA for the handshakes that start from now on. */
  reload(cert: string, key: string, ca?: string): void {
    this.#options = {
      ...this.#options,
      cert,
      key,
      ca,
      requestCert: ca !== undefined || this.#settings.requireCertificate === true,
    };
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

/** Listens for MQTT over TLS (ALPN "mqtt"). */
export function listenTls(options: TlsOptions, onSocket: (socket: Socket) => void): Promise<TlsListener> {
  const terminator = new TlsTerminator(options, ["mqtt"]);
  const listener = Deno.listen({ hostname: options.hostname, port: options.port, transport: "tcp" });
  const addr = listener.addr as Deno.NetAddr;
  const name = options.name ?? `tls:${addr.hostname}:${addr.port}`;
  const stats = options.stats ?? new ListenerStats(name, "tls");
  const loop = new AcceptLoop(listener, {
    stats,
    gate: options.gate ?? new ConnectionGate(),
    maxConnections: options.maxConnections ?? 0,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? (() => DEFAULT_HANDSHAKE_TIMEOUT_MS),
  }, (conn, slot) => {
    conn.setNoDelay(true);
    const remote = conn.remoteAddr as Deno.NetAddr;
    const remoteAddress = `${remote.hostname}:${remote.port}`;
    terminator.handshake(conn).then((tls) => {
      if (slot.released) return void tls.destroy(); // finished after its time was up
      slot.handedOver();
      const socket = nodeSocket(tls, name, { framing: options.framing, remoteAddress });
      socket.closed.then(() => slot.release());
      onSocket(socket);
    }, (err: Error) => {
      if (!slot.released) {
        stats.tlsFailures++;
        log.debug("TLS handshake from {address} on {listener} failed: {reason}", {
          address: remoteAddress,
          listener: name,
          reason: err.message,
        });
      }
      closeQuietly(conn);
      slot.release();
    });
  });
  return Promise.resolve({
    type: "tls",
    name,
    hostname: addr.hostname,
    port: addr.port,
    stats,
    reloadCertificates: (cert, key, ca) => terminator.reload(cert, key, ca),
    close: () => loop.close(),
  });
}

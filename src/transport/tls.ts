/**
 * MQTT over TLS. TLS is terminated with `node:tls` rather than Deno.listenTls:
 * a Deno.listenTls connection cannot turn Nagle's algorithm off, which delays a
 * connection's first small replies by up to ~40 ms; node:tls sockets take
 * setNoDelay(true). node:tls also verifies client certificates and can swap
 * certificates in place (SIGHUP) without dropping connections.
 *
 * @module
 */
import { createServer, type Server, type TLSSocket } from "node:tls";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { Buffer } from "node:buffer";
import { BatchWriter } from "./batch_writer.ts";
import type { FrameSplitterOptions } from "../protocol/frame_stream.ts";
import { LINGER_MS } from "./lingering_close.ts";
import { PushedFrames } from "./pushed_frames.ts";
import type { Socket } from "./socket.ts";
import { writerSocket } from "./writer_socket.ts";

export interface TlsOptions {
  hostname: string;
  port: number;
  /** PEM certificate chain, key, and optional CA bundle for client certificates. */
  cert: string;
  key: string;
  ca?: string;
  /** Require a client certificate signed by `ca`. */
  requireCertificate?: boolean;
  /** Oldest TLS version accepted (default TLSv1.2). */
  minVersion?: "TLSv1.2" | "TLSv1.3";
  /** Connections accepted at once on this listener (0 = no limit). */
  maxConnections?: number;
  name?: string;
  /** Packet size limits and the broker's receive budget, shared by every connection's framer. */
  framing?: FrameSplitterOptions;
}

export interface TlsListener {
  readonly type: "tls";
  readonly name: string;
  readonly hostname: string;
  readonly port: number;
  /** Swaps the certificate and key for new connections; open ones are kept. */
  reloadCertificates(cert: string, key: string, ca?: string): void;
  close(): Promise<void>;
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
  framing?: FrameSplitterOptions,
): Socket & { identity?: string } {
  // Backpressure: stop reading the socket while the engine has batches waiting.
  const source = new PushedFrames(framing, () => void socket.resume());
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
      // A lingering close (see lingering_close.ts): end() sends close_notify and FIN after the
      // last packet; what the client still sends is read and discarded (resume() in case
      // backpressure paused it) until it closes too or LINGER_MS passed.
      onClose: () => {
        if (socket.destroyed) return;
        // Never written to: nothing to deliver, so nothing to linger for (see tcp.ts).
        if (!wrote) return void socket.destroy();
        lingering = true;
        socket.resume();
        socket.end();
        const timer = setTimeout(() => socket.destroy(), LINGER_MS);
        socket.once("close", () => clearTimeout(timer));
      },
    },
  );
  return writerSocket(writer, {
    remoteAddress: `${socket.remoteAddress}:${socket.remotePort}`,
    listener,
    frames: source,
    closed,
    identity: certificateIdentity(socket),
    transportBuffered: () => socket.writableLength,
  });
}

/** Listens for MQTT over TLS (ALPN "mqtt"). */
export function listenTls(options: TlsOptions, onSocket: (socket: Socket) => void): Promise<TlsListener> {
  const server: Server = createServer({
    cert: options.cert,
    key: options.key,
    ca: options.ca,
    requestCert: options.ca !== undefined || options.requireCertificate === true,
    rejectUnauthorized: options.requireCertificate === true,
    ALPNProtocols: ["mqtt"],
    minVersion: options.minVersion ?? "TLSv1.2",
  });
  if (options.maxConnections) server.maxConnections = options.maxConnections;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      const addr = server.address() as { address: string; port: number };
      const name = options.name ?? `tls:${addr.address}:${addr.port}`;
      server.on("secureConnection", (socket: TLSSocket) => {
        socket.setNoDelay(true);
        onSocket(nodeSocket(socket, name, options.framing));
      });
      // A failed handshake is that client's problem only.
      server.on("tlsClientError", () => {});
      resolve({
        type: "tls",
        name,
        hostname: addr.address,
        port: addr.port,
        reloadCertificates(cert, key, ca) {
          server.setSecureContext({ cert, key, ca });
        },
        close: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
  });
}

/**
 * Checks that `certFile` holds a PEM certificate and `keyFile` the private key that
 * belongs to it, so that a broken pair is refused before a listener that could only
 * fail every handshake starts. Throws an Error naming the file and what to do.
 */
export function validateCertificatePair(certFile: string, keyFile: string): void {
  const read = (path: string, what: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch (err) {
      throw new Error(`${path}: cannot read the ${what} (${(err as Error).message})`);
    }
  };
  const certText = read(certFile, "certificate");
  const keyText = read(keyFile, "private key");
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certText);
  } catch {
    throw new Error(`${certFile}: not a PEM certificate (expected "-----BEGIN CERTIFICATE-----")`);
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(keyText);
  } catch {
    throw new Error(`${keyFile}: not a PEM private key (expected "-----BEGIN PRIVATE KEY-----" or similar)`);
  }
  if (!cert.checkPrivateKey(key)) {
    throw new Error(
      `${keyFile}: this private key does not belong to the certificate in ${certFile} ` +
        `(give the key the certificate was issued for, or a certificate for this key)`,
    );
  }
}

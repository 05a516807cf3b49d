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
import { Buffer } from "node:buffer";
import { FrameSplitter } from "../protocol/frame_stream.ts";
import type { Frame } from "../protocol/packet.ts";
import { BatchWriter } from "./batch_writer.ts";
import type { Socket } from "./socket.ts";

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
  maxPacketSize?: number;
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
  maxPacketSize?: number,
): Socket & { identity?: string } {
  const splitter = new FrameSplitter({ maxPacketSize });
  let controller!: ReadableStreamDefaultController<Frame[]>;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => resolveClosed = r);
  let ended = false;
  const end = (err?: unknown) => {
    if (ended) return;
    ended = true;
    try {
      if (err === undefined) controller.close();
      else controller.error(err);
    } catch {
      // already finished
    }
  };
  const frames = new ReadableStream<Frame[]>({
    start: (c) => void (controller = c),
    // Backpressure: stop reading the socket while the engine has batches waiting.
    pull: () => void socket.resume(),
  }, { highWaterMark: 4 });
  socket.on("data", (chunk: Buffer) => {
    try {
      // node hands out fresh buffers per event: frame views stay valid.
      const batch = splitter.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      if (batch.length > 0) controller.enqueue(batch);
      if ((controller.desiredSize ?? 1) <= 0) socket.pause();
    } catch (err) {
      end(err);
      socket.destroy();
    }
  });
  socket.on("end", () => end());
  socket.on("error", () => end());
  socket.on("close", () => {
    end();
    resolveClosed();
  });
  const writer = new BatchWriter(
    (bytes) =>
      new Promise((resolve, reject) => {
        if (socket.destroyed) return reject(new Error("socket closed"));
        socket.write(Buffer.from(bytes), (err) => err ? reject(err) : resolve(bytes.length));
      }),
    { onClose: () => socket.end() },
  );
  const remote = `${socket.remoteAddress}:${socket.remotePort}`;
  return {
    remoteAddress: remote,
    listener,
    frames,
    identity: certificateIdentity(socket),
    write: (b) => writer.write(b),
    writePublish: (h, o, id, p) => writer.writePublish(h, o, id, p),
    get bufferedBytes() {
      return writer.bufferedBytes + socket.writableLength;
    },
    close: () => writer.close(),
    closed,
  };
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
        onSocket(nodeSocket(socket, name, options.maxPacketSize));
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

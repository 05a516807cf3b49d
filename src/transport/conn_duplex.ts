/**
 * A `Deno.Conn` as a node `Duplex`, so that node:tls can run a server-side TLS
 * session over a connection the broker accepted itself (see tls.ts for why the
 * broker does not let node:tls accept). Reads follow the consumer's demand;
 * writes are looped until complete.
 *
 * @module
 */
import { Duplex } from "node:stream";
import { Buffer } from "node:buffer";
import { ReadBuffer } from "./byte_channel.ts";

/** The node stream over `conn`; destroying it closes the connection. */
export function connDuplex(conn: Deno.Conn): Duplex {
  // Starts small (a stalled or idle connection pins 1 KiB) and grows to whole TLS records.
  const buffer = new ReadBuffer();
  let reading = false;
  const duplex: Duplex = new Duplex({
    read() {
      if (reading) return;
      reading = true;
      conn.read(buffer.bytes).then((n) => {
        reading = false;
        if (n === null) {
          duplex.push(null);
          return;
        }
        // A copy of exactly what arrived: node keeps the chunk, and the read buffer is reused.
        // The stream asks for the next read itself (read() again) while it wants more.
        const chunk = Buffer.from(buffer.bytes.slice(0, n).buffer);
        buffer.filled(n);
        duplex.push(chunk);
      }, (err) => {
        reading = false;
        duplex.destroy(err);
      });
    },
    write(chunk: Buffer, _encoding, callback) {
      writeAll(conn, chunk).then(() => callback(), callback);
    },
    final(callback) {
      conn.closeWrite().then(() => callback(), () => callback());
    },
    destroy(err, callback) {
      try {
        conn.close();
      } catch {
        // already closed
      }
      callback(err);
    },
  });
  return duplex;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

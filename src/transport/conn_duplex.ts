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

/** A TLS record is at most 16 KiB plus overhead: one read takes a whole record or more. */
const READ_SIZE = 32 * 1024;

/** The node stream over `conn`; destroying it closes the connection. */
export function connDuplex(conn: Deno.Conn): Duplex {
  const buffer = new Uint8Array(READ_SIZE);
  let reading = false;
  const duplex: Duplex = new Duplex({
    read() {
      if (reading) return;
      reading = true;
      conn.read(buffer).then((n) => {
        reading = false;
        if (n === null) {
          duplex.push(null);
          return;
        }
        // A copy of exactly what arrived: node keeps the chunk, and the read buffer is reused.
        // The stream asks for the next read itself (read() again) while it wants more.
        duplex.push(Buffer.from(buffer.slice(0, n).buffer));
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

/**
 * Read buffers for socket transports, sized read by read. A read waiting on an
 * idle connection pins its whole buffer for as long as the client stays silent,
 * which for most MQTT clients is most of the time; a busy connection wants large
 * reads (fewer reads and batches per message). So each connection owns only a
 * small buffer, which its waiting read uses whenever the last read brought
 * little, and larger reads borrow a buffer from pools shared by every
 * connection and give it back as soon as the batch read into it is handled.
 *
 * @module
 */

/** The buffer a connection owns: what a read waiting on an idle connection holds. */
export const MIN_READ = 128;
/** A busy connection's reads grow to 256 KiB (large payloads: fewer reads and batches per message). */
export const MAX_READ = 256 * 1024;

/** Free pooled buffers kept per size (at most 4 MiB of each size, and at least 4). */
const POOL_BYTES = 4 * 1024 * 1024;
/** pools[i] holds free buffers of MIN_READ << (i + 1) bytes. */
const pools: Uint8Array[][] = [];
for (let size = MIN_READ * 2; size <= MAX_READ; size *= 2) pools.push([]);

/**
 * The size of the next read after one that returned `n` bytes into a buffer of `size`:
 * twice as large after a full read (the socket held more), else room for twice what
 * came, so that a steady flow keeps fitting in one read and a connection that went
 * quiet waits on its small buffer again at once.
 */
export function nextReadSize(n: number, size: number): number {
  if (n >= size) return Math.min(size * 2, MAX_READ);
  let next = MIN_READ;
  while (next < 2 * n && next < MAX_READ) next *= 2;
  return next;
}

function poolOf(size: number): Uint8Array[] {
  return pools[Math.log2(size / MIN_READ) - 1];
}

/** A buffer of `size` bytes (a power of two between 2 × MIN_READ and MAX_READ) from the shared pool. */
export function borrowReadBuffer(size: number): Uint8Array {
  return poolOf(size).pop() ?? new Uint8Array(size);
}

/** Returns a borrowed buffer; nothing may read or write it afterwards. */
export function returnReadBuffer(buffer: Uint8Array): void {
  const pool = poolOf(buffer.length);
  if (pool.length < Math.max(4, POOL_BYTES / buffer.length)) pool.push(buffer);
}

/** Free buffers held by the pools, in bytes (for tests). */
export function pooledReadBytes(): number {
  let bytes = 0;
  for (let i = 0; i < pools.length; i++) bytes += pools[i].length * (MIN_READ << (i + 1));
  return bytes;
}

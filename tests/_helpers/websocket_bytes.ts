/**
 * A WebSocket client spoken byte by byte, for tests that need what the
 * WebSocket API hides (a request trickled or cut, reads paused, frames of any
 * kind): the upgrade request for MQTT and masked client frames.
 */

/** A WebSocket upgrade request for MQTT on `path` (the key of RFC 6455's example). */
export function upgradeRequest(path = "/mqtt"): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
}

/**
 * A client frame: `first` is the byte of FIN, RSV and opcode (0x82: a final binary frame),
 * the length in the shortest of its three forms, then `payload` masked with `mask` (by
 * default 0 0 0 0, which leaves the bytes readable in a test).
 */
export function clientFrame(first: number, payload: ArrayLike<number>, mask = [0, 0, 0, 0]): Uint8Array {
  const n = payload.length;
  const length = n < 126 ? [0x80 | n] : n < 0x10000 ? [0x80 | 126, n >> 8, n & 0xff] : [
    0x80 | 127,
    0,
    0,
    0,
    0,
    (n >>> 24) & 0xff,
    (n >> 16) & 0xff,
    (n >> 8) & 0xff,
    n & 0xff,
  ];
  const head = [first, ...length, ...mask];
  const frame = new Uint8Array(head.length + n);
  frame.set(head);
  for (let i = 0; i < n; i++) frame[head.length + i] = payload[i] ^ mask[i % 4];
  return frame;
}

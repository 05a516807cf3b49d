import assert from "node:assert/strict";
import { ACCEPT_BACKOFF_MAX_MS, AcceptLoop, type Slot } from "../../src/transport/accept_loop.ts";
import { ConnectionGate, ListenerStats } from "../../src/transport/admission.ts";
import { listenTcp } from "../../src/transport/tcp.ts";
import type { Socket } from "../../src/transport/socket.ts";

/** A listener whose accept() fails like a process out of file descriptors, `failures` times. */
function exhaustedListener(failures: number): Deno.Listener<Deno.TcpConn> & { calls: number[] } {
  const calls: number[] = [];
  let never: () => void = () => {};
  const listener = {
    calls,
    accept(): Promise<Deno.TcpConn> {
      calls.push(performance.now());
      if (calls.length <= failures) {
        const err = new Error("Too many open files (os error 24)") as Error & { code: string };
        err.code = "EMFILE";
        return Promise.reject(err);
      }
      return new Promise((_resolve, reject) => never = () => reject(new Deno.errors.BadResource("closed")));
    },
    close: () => never(),
  };
  return listener as unknown as Deno.Listener<Deno.TcpConn> & { calls: number[] };
}

Deno.test("EMFILE from accept() is counted and retried with a growing back-off, not in a spin", async () => {
  const listener = exhaustedListener(6);
  const stats = new ListenerStats("test", "tcp");
  const loop = new AcceptLoop(listener, {
    stats,
    gate: new ConnectionGate(),
    maxConnections: 0,
    handshakeTimeoutMs: () => 1000,
  }, () => {});
  const deadline = Date.now() + 10_000;
  while (listener.calls.length < 7 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await loop.close();
  assert.equal(stats.acceptErrors, 6);
  const gaps = listener.calls.slice(1).map((t, i) => t - listener.calls[i]);
  // 10, 20, 40, … ms: the pauses double (timers may fire late, never early).
  assert.ok(gaps[0] >= 9, `first pause ${gaps[0]} ms`);
  for (let i = 1; i < 6; i++) {
    assert.ok(gaps[i] >= Math.min(10 * 2 ** i, ACCEPT_BACKOFF_MAX_MS) - 1, `pause ${i}: ${gaps[i]} ms`);
  }
});

Deno.test("a listener closed during its back-off stops at once", async () => {
  const listener = exhaustedListener(1000);
  const loop = new AcceptLoop(listener, {
    stats: new ListenerStats("test", "tcp"),
    gate: new ConnectionGate(),
    maxConnections: 0,
    handshakeTimeoutMs: () => 1000,
  }, () => {});
  await new Promise((r) => setTimeout(r, 100));
  const start = performance.now();
  await loop.close();
  assert.ok(performance.now() - start < 50);
});

Deno.test("every open connection counts against the broker-wide limit, across listeners, until it closes", async () => {
  let limit = 2;
  const gate = new ConnectionGate(() => limit);
  const sockets: Socket[] = [];
  const a = listenTcp({ hostname: "127.0.0.1", port: 0, gate }, (s) => sockets.push(s));
  const b = listenTcp({ hostname: "127.0.0.1", port: 0, gate }, (s) => sockets.push(s));
  const conns: Deno.Conn[] = [];
  const dial = async (port: number) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conns.push(conn);
    return conn;
  };
  const refusedAtOnce = async (conn: Deno.Conn) =>
    (await conn.read(new Uint8Array(1)).catch(() => null)) === null;
  try {
    await dial(a.port);
    await dial(b.port);
    while (gate.open < 2) await new Promise((r) => setTimeout(r, 5));
    assert.ok(
      await refusedAtOnce(await dial(a.port)),
      "the third connection, on either listener, is refused",
    );
    assert.equal(a.stats.refused, 1);
    limit = 3; // a SIGHUP raising limits.max_connections applies to the next accept
    await dial(b.port);
    while (gate.open < 3) await new Promise((r) => setTimeout(r, 5));
    sockets[0].close();
    await sockets[0].closed;
    assert.equal(gate.open, 2, "a closed connection gives its slot back");
  } finally {
    for (const c of conns) c.close();
    for (const s of sockets) s.close();
    await Promise.all(sockets.map((s) => s.closed));
    await Promise.all([a.close(), b.close()]);
  }
});

Deno.test("a slot handed over in time is not closed; one that is not is closed and counted", async () => {
  const stats = new ListenerStats("test", "tcp");
  const gate = new ConnectionGate();
  const slots: Slot[] = [];
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const loop = new AcceptLoop(
    listener,
    { stats, gate, maxConnections: 0, handshakeTimeoutMs: () => 100 },
    (_c, s) => {
      slots.push(s);
    },
  );
  const port = (listener.addr as Deno.NetAddr).port;
  const fast = await Deno.connect({ hostname: "127.0.0.1", port });
  const slow = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    while (slots.length < 2) await new Promise((r) => setTimeout(r, 5));
    slots[0].handedOver();
    assert.equal(await slow.read(new Uint8Array(1)).catch(() => null), null, "the slow one is closed");
    assert.equal(stats.handshakeTimeouts, 1);
    assert.equal(slots[0].released, false);
    assert.equal(stats.open, 1);
    slots[0].release();
    slots[0].release(); // idempotent
    assert.equal(gate.open, 0);
  } finally {
    fast.close();
    slow.close();
    await loop.close();
  }
});

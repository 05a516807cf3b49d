/**
 * Tests of the end-to-end load generator: its wire encoder and frame scanner,
 * histogram, option parsing and writer in isolation, then short real runs
 * against a Mosquitto started on a free port (skipped when it is not installed).
 */
import assert from "node:assert/strict";
import { CoalescingWriter } from "./loadgen/coalescing_writer.ts";
import { LatencyHistogram } from "./loadgen/latency_histogram.ts";
import { runLoad } from "./loadgen/load_run.ts";
import { type LoadOptions, parseOptions } from "./loadgen/options.ts";
import {
  encodeConnect,
  encodeSubscribe,
  publishLayout,
  publishTemplate,
  scanFrames,
} from "./loadgen/wire.ts";
import { formatSummary } from "./loadgen.ts";

Deno.test("CONNECT for 3.1.1 is encoded byte for byte", () => {
  // deno-fmt-ignore
  const want = [
    0x10, 14, // CONNECT, remaining length 14
    0, 4, 0x4d, 0x51, 0x54, 0x54, // "MQTT"
    4, 0x02, 0, 60, // level 4, clean session, keep-alive 60 s
    0, 2, 0x61, 0x62, // client id "ab"
  ];
  assert.deepEqual([...encodeConnect(4, { clientId: "ab", clean: true, keepAlive: 60 })], want);
});

Deno.test("CONNECT for v5 with a persistent session carries the session expiry property", () => {
  const bytes = [...encodeConnect(5, { clientId: "a", clean: false, keepAlive: 60, sessionExpiry: 300 })];
  assert.deepEqual(bytes.slice(8, 18), [5, 0x00, 0, 60, 5, 0x11, 0, 0, 0x01, 0x2c]);
});

Deno.test("SUBSCRIBE carries flags 0010, the packet id, the filter and the QoS", () => {
  assert.deepEqual([...encodeSubscribe(4, 1, "t", 1)], [0x82, 6, 0, 1, 0, 1, 0x74, 1]);
  assert.deepEqual([...encodeSubscribe(5, 1, "t", 2)], [0x82, 7, 0, 1, 0, 0, 1, 0x74, 2]);
});

Deno.test("a PUBLISH template reads back through publishLayout at every level and QoS", () => {
  for (const level of [4, 5] as const) {
    for (const qos of [0, 1, 2] as const) {
      const tpl = publishTemplate(level, "a/b", qos, 200); // 200 bytes: a two-byte remaining length
      const frames: [number, number, number][] = [];
      assert.equal(scanFrames(tpl.bytes, (f, _d, s, e) => frames.push([f, s, e])), tpl.bytes.length);
      assert.equal(frames.length, 1);
      const [first, start, end] = frames[0];
      assert.equal(first, 0x30 | (qos << 1));
      const layout = publishLayout(level, first, tpl.bytes, start);
      assert.equal(layout.payloadAt, tpl.payloadAt);
      assert.equal(end - layout.payloadAt, 200);
      assert.equal(layout.packetId, qos > 0 ? 1 : 0);
    }
  }
});

Deno.test("the frame scanner keeps a partial frame for the next read at every split point", () => {
  // deno-fmt-ignore
  const stream = Uint8Array.from([
    0x20, 2, 0, 0, // CONNACK
    ...publishTemplate(4, "t", 1, 130).bytes, // PUBLISH with a two-byte remaining length
    0xd0, 0, // PINGRESP
  ]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const seen: number[] = [];
    const used = scanFrames(stream.subarray(0, cut), (f) => seen.push(f));
    const rest = Uint8Array.from([...stream.subarray(used, cut), ...stream.subarray(cut)]);
    assert.equal(scanFrames(rest, (f) => seen.push(f)), rest.length);
    assert.deepEqual(seen, [0x20, 0x32, 0xd0], `cut at ${cut}`);
  }
});

Deno.test("the latency histogram reports quantiles within one percent", () => {
  const h = new LatencyHistogram();
  for (let us = 1; us <= 100_000; us++) h.record(us);
  assert.equal(h.count, 100_000);
  assert.equal(h.max, 100_000);
  for (const [q, want] of [[0.5, 50_000], [0.95, 95_000], [0.99, 99_000]]) {
    assert.ok(Math.abs(h.quantile(q) - want) / want < 0.01, `q${q}: ${h.quantile(q)}`);
  }
  assert.equal(new LatencyHistogram().quantile(0.5), 0);
});

Deno.test("scenario presets take the reference counts and flags override them", () => {
  const o = parseOptions(["--scenario", "fanout", "--count", "100", "--qos", "1", "--proto", "5", "--json"]);
  assert.deepEqual([o.pubs, o.subs, o.window, o.count, o.qos, o.proto, o.json], [
    1,
    20,
    200,
    100,
    1,
    5,
    true,
  ]);
  assert.equal(parseOptions(["--scenario", "one1"]).count, 1_000_000);
  const mesh = parseOptions(["--scenario", "mesh", "--pubs", "4"]);
  assert.deepEqual([mesh.pubs, mesh.subs, mesh.mode], [4, 4, "mesh"]);
  const ring = parseOptions(["--mode", "ring", "--pubs", "10000", "--rate", "1"]);
  assert.deepEqual([ring.pubs, ring.subs, ring.mode], [10_000, 10_000, "ring"]);
  assert.throws(() => parseOptions(["--pubs", "10000"]), /at most 1000 publishers/);
  assert.throws(() => parseOptions(["--scenario", "nope"]), /unknown scenario/);
  assert.throws(() => parseOptions(["--qos", "3"]), /--qos/);
  assert.throws(() => parseOptions(["--size", "8"]), /at least 16/);
  assert.throws(() => parseOptions(["--frobnicate", "1"]), /unknown option/);
});

Deno.test("the -- that `deno task loadgen -- …` passes on is skipped, as the README writes the command", () => {
  const o = parseOptions(["--", "--scenario", "fanout", "--port", "1883"]);
  assert.deepEqual([o.subs, o.port], [20, 1883]);
});

Deno.test("the coalescing writer loops over partial writes and joins appends of one turn", async () => {
  const writes: number[] = [];
  const received: number[] = [];
  const sink = {
    write(p: Uint8Array) {
      const n = Math.min(3, p.length); // a socket that takes three bytes at a time
      writes.push(n);
      received.push(...p.subarray(0, n));
      return Promise.resolve(n);
    },
  };
  const w = new CoalescingWriter(sink);
  w.append(Uint8Array.of(1, 2, 3, 4));
  w.append(Uint8Array.of(5, 6, 7));
  await w.drained();
  assert.deepEqual(received, [1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(writes, [3, 3, 1]);
  assert.equal(w.pending, 0);
});

Deno.test("the summary line reads like mqttload's, rate in msg/s", () => {
  const line = formatSummary({
    delivered: 5,
    expected: 6,
    rate: 100,
    p50_us: 1,
    p95_us: 2,
    p99_us: 3,
    max_us: 4,
    loss: 1,
    duplicates: 0,
    published: 6,
    acked: 6,
    stalls: 0,
    secs: 0.05,
  });
  assert.match(
    line,
    /^delivered=5 expected=6 rate=100 msg\/s p50_us=1 p95_us=2 p99_us=3 .*loss=1 duplicates=0/,
  );
});

// --- against a real broker -------------------------------------------------------------------------------

const mosquittoInstalled = await new Deno.Command("mosquitto", {
  args: ["-h"],
  stdout: "null",
  stderr: "null",
})
  .output().then(() => true, () => false);
if (!mosquittoInstalled) {
  console.warn("loadgen_test: `mosquitto` is not installed: skipping the end-to-end runs");
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function withMosquitto(fn: (port: number) => Promise<void>): Promise<void> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "loadgen-test-" });
  await Deno.writeTextFile(
    `${dir}/mosquitto.conf`,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 64\n` +
      `max_queued_messages 100000\nlog_dest none\n`,
  );
  const child = new Deno.Command("mosquitto", {
    args: ["-c", `${dir}/mosquitto.conf`],
    stdout: "null",
    stderr: "null",
  })
    .spawn();
  try {
    for (let i = 0;; i++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        break;
      } catch (err) {
        if (i > 100) throw err;
        await new Promise((r) => setTimeout(r, 30));
      }
    }
    await fn(port);
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
}

function options(port: number, args: string[]): LoadOptions {
  return parseOptions(["--port", `${port}`, "--duration", "10", ...args]);
}

Deno.test({
  name: "every message of a small fan-out arrives once at QoS 0, 1 and 2, on 3.1.1 and 5.0",
  ignore: !mosquittoInstalled,
  fn: () =>
    withMosquitto(async (port) => {
      for (const [qos, proto] of [["0", "4"], ["1", "5"], ["2", "4"]]) {
        const s = await runLoad(
          options(port, [
            "--scenario",
            "fanout",
            "--subs",
            "5",
            "--count",
            "300",
            "--qos",
            qos,
            "--proto",
            proto,
          ]),
        );
        assert.equal(s.error, undefined);
        assert.deepEqual([s.delivered, s.expected, s.loss, s.duplicates], [1500, 1500, 0, 0], `QoS ${qos}`);
        assert.equal(s.acked, qos === "0" ? 0 : 300);
        assert.ok(s.rate > 0 && s.p50_us > 0 && s.p50_us <= s.p99_us, JSON.stringify(s));
      }
    }),
});

Deno.test({
  name: "a mesh and a rate-limited run deliver everything, the rate limit holding the pace",
  ignore: !mosquittoInstalled,
  fn: () =>
    withMosquitto(async (port) => {
      const mesh = await runLoad(
        options(port, ["--scenario", "mesh", "--pubs", "4", "--count", "100", "--qos", "1"]),
      );
      assert.deepEqual([mesh.delivered, mesh.loss, mesh.duplicates], [1600, 0, 0]);
      const paced = await runLoad(options(port, ["--scenario", "one1", "--count", "50", "--rate", "100"]));
      assert.equal(paced.delivered, 50);
      assert.ok(paced.secs >= 0.45, `50 messages at 100/s took ${paced.secs} s`);
    }),
});

Deno.test({
  name: "a ring gives every client one subscription and every message one receiver, paced and spread",
  ignore: !mosquittoInstalled,
  fn: () =>
    withMosquitto(async (port) => {
      const started = performance.now();
      const ring = await runLoad(
        options(port, ["--mode", "ring", "--pubs", "50", "--count", "3", "--qos", "1", "--rate", "2"]),
      );
      assert.equal(ring.error, undefined);
      assert.deepEqual([ring.delivered, ring.expected, ring.loss, ring.duplicates], [150, 150, 0, 0]);
      assert.equal(ring.acked, 150);
      // 3 messages at 2/s: the last publisher's third message is due at (2 + 49/50) / 2 s ≈ 1.5 s.
      assert.ok(performance.now() - started >= 1400, "the publishers were paced");
      // Spread over the period, 50 clients at 2/s never queue behind each other for long.
      assert.ok(ring.p99_us < 250_000, JSON.stringify(ring));
    }),
});

Deno.test("a refused connection ends the run with an error and the CLI exits 1", async () => {
  const port = freePort();
  const s = await runLoad(options(port, ["--scenario", "one1", "--count", "10"]));
  assert.match(s.error ?? "", /refused/i);
  const cli = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./loadgen.ts", import.meta.url).pathname,
      "--port",
      `${port}`,
      "--count",
      "10",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(cli.code, 1);
  assert.match(new TextDecoder().decode(cli.stdout), /delivered=0 expected=10/);
});

Deno.test({
  name: "a broker that dies mid-run makes the run stop with an error instead of waiting for the cap",
  ignore: !mosquittoInstalled,
  fn: async () => {
    let run: Promise<Awaited<ReturnType<typeof runLoad>>> | undefined;
    await withMosquitto((port) => {
      run = runLoad(options(port, ["--scenario", "one1", "--count", "100000", "--rate", "1000"]));
      return new Promise((r) => setTimeout(r, 500));
    });
    const started = performance.now();
    const s = await run!;
    assert.ok(s.error, "the lost connection is reported");
    assert.ok(s.delivered < 100_000);
    assert.ok(performance.now() - started < 3000, "it did not wait for the 10 s cap");
  },
});

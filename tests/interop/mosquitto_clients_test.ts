/**
 * The real broker process against Mosquitto's command-line clients
 * (mosquitto_pub / mosquitto_sub), in 3.1.1 and 5. Skipped with a message when
 * they are not installed (CI installs them).
 */
import assert from "node:assert/strict";
import { hasCommand, run, startBroker } from "../_helpers/broker_process.ts";

const available = await hasCommand("mosquitto_sub") && await hasCommand("mosquitto_pub");
if (!available) {
  console.warn("skipping mosquitto client interop tests: mosquitto_pub/mosquitto_sub not installed");
}

/** Starts mosquitto_sub waiting for `count` messages, and resolves once it is subscribed. */
async function subscriber(port: number, args: string[], count = 1) {
  const child = new Deno.Command("mosquitto_sub", {
    args: ["-h", "127.0.0.1", "-p", `${port}`, "-C", `${count}`, "-W", "8", "-v", ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // mosquitto_sub gives no "subscribed" signal: wait a little for its SUBSCRIBE to land.
  await new Promise((r) => setTimeout(r, 400));
  return child;
}

async function lines(child: Deno.ChildProcess): Promise<string[]> {
  const out = await child.output();
  return new TextDecoder().decode(out.stdout).trim().split("\n").filter((l) => l !== "");
}

Deno.test({
  name: "mosquitto_pub and mosquitto_sub interoperate with the broker",
  ignore: !available,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const broker = await startBroker();
    const port = `${broker.port}`;
    try {
      for (const version of ["mqttv311", "mqttv5"]) {
        for (const qos of ["0", "1", "2"]) {
          await t.step(`${version} QoS ${qos}: a published message reaches a subscriber`, async () => {
            const topic = `mc/${version}/${qos}`;
            const sub = await subscriber(broker.port, ["-V", version, "-q", qos, "-t", topic]);
            const pub = await run("mosquitto_pub", [
              "-h",
              "127.0.0.1",
              "-p",
              port,
              "-V",
              version,
              "-q",
              qos,
              "-t",
              topic,
              "-m",
              "hello",
            ]);
            assert.equal(pub.code, 0, pub.stderr);
            assert.deepEqual(await lines(sub), [`${topic} hello`]);
          });
        }
      }

      await t.step("a retained message is delivered to a later subscriber", async () => {
        const pub = await run("mosquitto_pub", [
          "-h",
          "127.0.0.1",
          "-p",
          port,
          "-q",
          "1",
          "-r",
          "-t",
          "mc/retained",
          "-m",
          "kept",
        ]);
        assert.equal(pub.code, 0, pub.stderr);
        const sub = await run("mosquitto_sub", [
          "-h",
          "127.0.0.1",
          "-p",
          port,
          "-C",
          "1",
          "-W",
          "5",
          "-v",
          "-t",
          "mc/retained",
        ]);
        assert.equal(sub.stdout.trim(), "mc/retained kept");
      });

      await t.step("the will of a killed client is published", async () => {
        const watcher = await subscriber(broker.port, ["-q", "1", "-t", "mc/will/#"]);
        const dying = new Deno.Command("mosquitto_sub", {
          args: [
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-t",
            "mc/nothing",
            "--will-topic",
            "mc/will/x",
            "--will-payload",
            "dead",
            "--will-qos",
            "1",
          ],
          stdout: "null",
          stderr: "null",
        }).spawn();
        await new Promise((r) => setTimeout(r, 400));
        dying.kill("SIGKILL");
        await dying.status;
        assert.deepEqual(await lines(watcher), ["mc/will/x dead"]);
      });
    } finally {
      await broker.stop();
    }
  },
});

/**
 * A 3-server NATS cluster with JetStream on 127.0.0.1 for the cluster tests:
 * free ports, a temporary store directory per server, and a wait until JetStream
 * has elected its meta leader and answers. A server can be killed (SIGKILL) and
 * started again on the same ports and store directory.
 */
import { connect, type NatsConnection } from "nats";
import { freePort } from "./broker_process.ts";

export const NATS_SERVER = "/usr/sbin/nats-server";

/** Whether nats-server is installed; when it is not, says which test skips and why. */
export function hasNatsServer(test = "cluster tests"): boolean {
  try {
    if (Deno.statSync(NATS_SERVER).isFile) return true;
  } catch {
    // not installed
  }
  console.warn(`${test} skipped: ${NATS_SERVER} is not installed (apt-get install nats-server)`);
  return false;
}

export interface NatsCluster {
  /** Client URLs, one per server. */
  readonly urls: string[];
  /** Server names (`n0`, `n1`, …), as JetStream reports its leaders. */
  readonly names: string[];
  /** SIGKILLs server `i` and waits until it is gone. */
  kill(i: number): Promise<void>;
  /** Starts server `i` again (same ports, same store directory). */
  restart(i: number): void;
  stop(): Promise<void>;
}

export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const dir = await Deno.makeTempDir({ prefix: "nats-cluster-" });
  const clientPorts = Array.from({ length: size }, () => freePort());
  const routePorts = Array.from({ length: size }, () => freePort());
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(",");
  const names = clientPorts.map((_, i) => `n${i}`);
  const spawn = (i: number) =>
    // Niced, like the cluster's brokers: their load must not disturb timing-sensitive tests beside them.
    new Deno.Command("nice", {
      args: [
        ...["-n", "10", NATS_SERVER],
        ...["-a", "127.0.0.1", "-p", String(clientPorts[i]), "-n", names[i], "-js", "-sd", `${dir}/n${i}`],
        // A lone server runs standalone JetStream; clustered JetStream would wait for peers.
        ...(size === 1
          ? []
          : ["--cluster_name", "mqtt-test", "--cluster", `nats://127.0.0.1:${routePorts[i]}`]),
        ...(size === 1 ? [] : ["--routes", routes]),
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
  const children = clientPorts.map((_, i) => spawn(i));
  const urls = clientPorts.map((p) => `nats://127.0.0.1:${p}`);
  const stop = async () => {
    for (const child of children) {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
    }
    await Promise.all(children.map((c) => c.status));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const kill = async (i: number) => {
    try {
      children[i].kill("SIGKILL");
    } catch {
      // already gone
    }
    await children[i].status;
  };
  const restart = (i: number) => {
    children[i] = spawn(i);
  };
  try {
    await waitForJetStream(urls, 20_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { urls, names, kill, restart, stop };
}

async function waitForJetStream(urls: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const nc = await connect({ servers: urls, timeout: 1000 });
      try {
        const jsm = await nc.jetstreamManager({ timeout: 1000 });
        await jsm.getAccountInfo();
        return;
      } finally {
        await nc.close();
      }
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`JetStream not ready: ${err}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * A test against one NATS server with JetStream, through a connection to it that is closed
 * (and the server stopped) afterwards; skipped with a warning where nats-server is missing.
 */
export function natsTest(name: string, fn: (nc: NatsConnection, t: Deno.TestContext) => Promise<void>): void {
  Deno.test({
    name,
    ignore: !hasNatsServer(`"${name}"`),
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      const nats = await startNatsCluster(1);
      const nc = await connect({ servers: nats.urls });
      try {
        await fn(nc, t);
      } finally {
        await nc.close();
        await nats.stop();
      }
    },
  });
}

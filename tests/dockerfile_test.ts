/**
 * The Dockerfile cannot be built here (no Docker, no registry): these tests keep it in
 * step with what can be checked: the pinned Deno version, the start task's flags, the
 * entry and configuration it copies, the user, the volume and the ports.
 */
import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { parseConfig } from "../src/config/load_config.ts";

const root = new URL("../", import.meta.url).pathname;
const dockerfile = await Deno.readTextFile(`${root}Dockerfile`);

/** Instructions as [keyword, rest], comments and blank lines dropped, continued lines joined. */
const instructions = dockerfile.replace(/\\\n\s*/g, " ").split("\n")
  .filter((line) => line.trim() !== "" && !line.trimStart().startsWith("#"))
  .map((line) => {
    const [keyword, ...rest] = line.trim().split(/\s+/);
    return [keyword.toUpperCase(), rest.join(" ")] as const;
  });
const all = (keyword: string) => instructions.filter(([k]) => k === keyword).map(([, rest]) => rest);
const exec = (keyword: string): string[] => JSON.parse(all(keyword).at(-1) ?? "[]");

Deno.test("the Dockerfile builds on the official Deno image at the version the README and CI pin", async () => {
  const readme = await Deno.readTextFile(`${root}README.md`);
  const pinned = readme.match(/Requires \*\*Deno (\d+\.\d+\.\d+)\*\*/)?.[1];
  assert.ok(pinned, "the README names the Deno version it requires");
  assert.deepEqual(all("FROM"), [`denoland/deno:${pinned}`]);
  const ci = await Deno.readTextFile(`${root}.ci/run`);
  assert.match(ci, new RegExp(`^DENO_VERSION=${pinned.replaceAll(".", "\\.")}$`, "m"));
});

Deno.test("the Dockerfile runs main.ts with exactly the start task's flags, as a user other than root", () => {
  const entrypoint = exec("ENTRYPOINT");
  const start = denoJson.tasks.start.split(/\s+/);
  assert.deepEqual(entrypoint, start, "ENTRYPOINT and `deno task start` differ");
  const users = all("USER");
  assert.ok(users.length > 0 && !["root", "0"].includes(users.at(-1)!), "the container must not run as root");
  // Dependencies are cached at build time from the lock file, for the same entry.
  assert.ok(all("RUN").some((r) => r.includes("deno install --frozen --entrypoint main.ts")));
  // Every install names an entry: a bare `deno install` would fetch the test tools scoped to tests/ too.
  const installs = all("RUN").flatMap((r) => r.match(/deno install[^&]*/g) ?? []);
  assert.ok(installs.length >= 2 && installs.every((i) => i.includes("--entrypoint")), installs.join("; "));
  assert.ok(all("COPY").some((c) => / main\.ts /.test(` ${c} `)));
});

Deno.test("the image's configuration is valid, keeps state on the volume and listens on the exposed ports", async () => {
  const [source, target] = all("COPY").find((c) => c.includes("container.yaml"))!.split(/\s+/).slice(-2);
  assert.equal(exec("CMD").join(" "), `--config ${target.replace(/^\.\//, "")}`);
  const text = await Deno.readTextFile(`${root}${source}`);
  const config = parseConfig(text, source, { env: { MQTT_ADMIN_TOKEN: "t" }, checkFiles: false });
  assert.equal(config.persistence.type, "kv");
  const volume = all("VOLUME")[0];
  assert.ok(config.persistence.type === "kv" && config.persistence.path.startsWith(`${volume}/`));
  const ports = [...config.listeners.map((l) => l.port), config.admin.port].sort();
  assert.deepEqual(all("EXPOSE").join(" ").split(/\s+/).map(Number).sort(), ports);
  // Nothing is open by accident once a port is published.
  assert.equal(config.auth.allow_anonymous, false);
  assert.throws(() => parseConfig(text, source, { env: {}, checkFiles: false }), /MQTT_ADMIN_TOKEN/);
});

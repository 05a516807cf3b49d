/**
 * The broker program: parse flags, load the configuration, configure logging,
 * start the server, and handle signals. Everything else lives in src/.
 */
import denoJson from "./deno.json" with { type: "json" };
import { parseArgs, usage } from "./src/config/cli.ts";
import { DEFAULT_CONFIG_YAML } from "./src/config/default_config.ts";
import { ConfigError, loadConfig, parseConfig } from "./src/config/load_config.ts";
import type { BrokerConfig, LogLevelName } from "./src/config/schema.ts";
import { configureLogging, getLog } from "./src/log/logging.ts";
import { preflight } from "./src/preflight.ts";
import { startServer } from "./src/server.ts";

async function readConfig(path: string | undefined): Promise<BrokerConfig> {
  return path ? await loadConfig(path) : parseConfig(DEFAULT_CONFIG_YAML, "<built-in default>");
}

async function main(args: string[]): Promise<number> {
  const cli = parseArgs(args);
  if ("error" in cli) {
    console.error(`${cli.error}\n\n${usage()}`);
    return 2;
  }
  if (cli.help) {
    console.log(usage());
    return 0;
  }
  if (cli.version) {
    console.log(`deno-mqtt ${denoJson.version}`);
    return 0;
  }
  let config: BrokerConfig;
  try {
    config = await readConfig(cli.config);
  } catch (err) {
    console.error(
      err instanceof ConfigError ? err.message : `cannot load the configuration: ${(err as Error).message}`,
    );
    return 1;
  }
  if (cli.checkConfig) {
    // Everything start would load (password and ACL files, certificates), short of binding ports.
    const problems = preflight(config);
    if (problems.length > 0) {
      console.error(
        `${cli.config ?? "built-in configuration"}: invalid\n${problems.map((p) => `  ${p}`).join("\n")}`,
      );
      return 1;
    }
    console.log(`${cli.config ?? "built-in configuration"}: valid`);
    return 0;
  }
  if (cli.logLevel) config.log.level = cli.logLevel as LogLevelName;
  if (cli.port !== undefined && config.listeners.length > 0) config.listeners[0].port = cli.port;
  await configureLogging(config.log);
  const log = getLog("main");
  // Signals are handled from before the listeners open: a SIGTERM that arrives while the server
  // starts (a supervisor stopping it at once) still shuts down gracefully, once it has started.
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let stopping = false;
  const stopped = Promise.withResolvers<void>();
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("Received {signal}, shutting down", { signal });
    server?.close().finally(stopped.resolve);
  };
  /** SIGHUP: re-read the file and apply what can change at runtime; name what needs a restart. */
  const reload = async () => {
    if (server === undefined) return void log.warn("SIGHUP while starting: ignored");
    try {
      const next = await readConfig(cli.config);
      if (cli.logLevel) next.log.level = cli.logLevel as LogLevelName;
      if (cli.port !== undefined && next.listeners.length > 0) next.listeners[0].port = cli.port;
      await configureLogging(next.log);
      const { applied, restartRequired } = await server.reload(next);
      log.info("Reloaded: {applied}; log settings applied", { applied: applied.join(", ") });
      if (restartRequired.length > 0) {
        log.warn("These changes need a restart to take effect: {keys}", { keys: restartRequired.join(", ") });
      }
    } catch (err) {
      log.error("Reload failed, keeping the running configuration: {error}", {
        error: (err as Error).message,
      });
    }
  };
  Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
  Deno.addSignalListener("SIGHUP", () => reload());
  try {
    server = await startServer(config, { version: denoJson.version });
  } catch (err) {
    log.fatal("Cannot start: {error}", { error: (err as Error).message });
    return 1;
  }
  if (stopping) server.close().finally(stopped.resolve);
  await stopped.promise;
  return 0;
}

Deno.exit(await main(Deno.args));

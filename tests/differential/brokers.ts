/**
 * Runs a scenario on both brokers, each started fresh on a free port of
 * 127.0.0.1 from the scenario's one configuration: this broker as a child
 * process of main.ts (so the real configuration path is exercised), Mosquitto
 * from Debian.
 */
import { startBroker } from "../_helpers/broker_process.ts";
import { startMosquitto } from "../_helpers/mosquitto.ts";
import { renderMosquittoConf, renderYaml, writeConfigFiles } from "./broker_config.ts";
import { type Observations, runScenario } from "./runner.ts";
import type { Scenario } from "./scenario.ts";

export interface BothObservations {
  ours: Observations;
  mosquitto: Observations;
}

/** Runs `scenario` against this broker and against Mosquitto, at the same time. */
export async function runOnBoth(scenario: Scenario): Promise<BothObservations> {
  const config = scenario.config ?? {};
  const files = await writeConfigFiles(config);
  try {
    const [ours, mosquitto] = await Promise.all([
      (async () => {
        const broker = await startBroker({ yaml: renderYaml(config, files) });
        try {
          return await runScenario(scenario, broker.port);
        } finally {
          await broker.stop();
          await Deno.remove(broker.dir, { recursive: true });
        }
      })(),
      (async () => {
        const broker = await startMosquitto({
          allowAnonymous: config.allowAnonymous ?? true,
          extra: renderMosquittoConf(config, files),
        });
        try {
          return await runScenario(scenario, broker.port);
        } finally {
          await broker.stop();
          await Deno.remove(broker.dir, { recursive: true });
        }
      })(),
    ]);
    return { ours, mosquitto };
  } finally {
    await Deno.remove(files.dir, { recursive: true });
  }
}

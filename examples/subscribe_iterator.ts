/**
 * Consuming messages in-process with `for await`: the subscription is a ReadableStream
 * with a bounded buffer; breaking out of the loop unsubscribes.
 *
 *   deno run -A --unstable-kv examples/subscribe_iterator.ts
 */
import { Broker } from "../src/mod.ts";

export async function collect(count: number): Promise<string[]> {
  const broker = new Broker();
  await broker.start();
  const messages = broker.subscribe("sensors/+/temp");
  const readings: string[] = [];
  const reading = (async () => {
    for await (const message of messages) {
      readings.push(`${message.topic}: ${new TextDecoder().decode(message.payload)}`);
      if (readings.length === count) break;
    }
  })();
  for (let i = 0; i < count; i++) {
    await broker.publish({ topic: `sensors/room${i}/temp`, payload: `${20 + i}` });
  }
  await reading;
  await broker.close();
  return readings;
}

if (import.meta.main) console.log((await collect(3)).join("\n"));

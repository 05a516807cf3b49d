/**
 * Publishing from an HTTP endpoint: `POST /publish/<topic>` with the payload as body.
 *
 *   deno run -A --unstable-kv examples/http_publish.ts [mqtt-port] [http-port]
 *   curl -X POST --data 21.5 http://127.0.0.1:8000/publish/sensors/kitchen/temp
 */
import { Broker } from "../src/mod.ts";

export async function startExample(mqttPort = 1883, httpPort = 8000) {
  const broker = new Broker();
  await broker.start();
  const mqtt = await broker.listen({ type: "tcp", host: "127.0.0.1", port: mqttPort });
  const http = Deno.serve({ hostname: "127.0.0.1", port: httpPort, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    if (req.method !== "POST" || !url.pathname.startsWith("/publish/")) {
      return new Response("not found", { status: 404 });
    }
    const topic = decodeURIComponent(url.pathname.slice("/publish/".length));
    try {
      await broker.publish({ topic, payload: new Uint8Array(await req.arrayBuffer()), qos: 1 });
      return new Response(null, { status: 204 });
    } catch (err) {
      return new Response((err as Error).message, { status: 400 });
    }
  });
  console.log(`MQTT on ${mqtt.port}, HTTP on ${http.addr.port}`);
  return {
    broker,
    mqttPort: mqtt.port,
    httpPort: http.addr.port,
    close: async () => {
      await http.shutdown();
      await broker.close();
    },
  };
}

if (import.meta.main) await startExample(Number(Deno.args[0] ?? 1883), Number(Deno.args[1] ?? 8000));

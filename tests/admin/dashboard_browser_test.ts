/**
 * The dashboard in a real browser: headless Chromium from Debian driven by
 * playwright-core. Skipped with a message where /usr/bin/chromium is absent
 * (CI installs it). With DASHBOARD_SCREENSHOT=path it also saves a screenshot
 * taken while a publisher keeps the broker busy.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { chromium } from "playwright-core";
import { parseConfig } from "../../src/config/load_config.ts";
import { startServer } from "../../src/server.ts";

const CHROMIUM = "/usr/bin/chromium";
const available = await Deno.stat(CHROMIUM).then(() => true, () => false);
if (!available) {
  console.warn(`skipping the dashboard browser test: ${CHROMIUM} not installed (apt-get install chromium)`);
}

Deno.test({
  name: "the dashboard loads, its numbers follow the traffic, its console speaks MQTT, and disconnect works",
  ignore: !available,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const config = parseConfig(
      "listeners:\n  - { type: tcp, port: 0 }\n  - { type: ws, port: 0 }\npersistence: { type: memory }\n" +
        "auth: { allow_anonymous: true }\nadmin: { enabled: true, port: 0, token: t0k }\n",
      "inline.yaml",
    );
    const server = await startServer(config);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu"],
    });
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.listeners[0].port}`, {
      clientId: "sensor-7",
      reconnectPeriod: 0,
    });
    let timer: ReturnType<typeof setInterval> | undefined;
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      // Anything the page gets wrong shows here, such as the browser's own /favicon.ico request failing.
      const consoleErrors: string[] = [];
      page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
      page.on("pageerror", (e) => consoleErrors.push(String(e)));
      await page.goto(`http://127.0.0.1:${server.admin!.port}/?token=t0k`);
      const stat = (name: string) => page.locator(`[data-stat="${name}"]`);
      const until = (js: string) => page.waitForFunction(js, undefined, { timeout: 10_000 });
      await until(`document.querySelector('[data-stat="connected"]')?.textContent === "1"`);
      await page.waitForSelector('tr[data-client="sensor-7"]');

      let n = 0;
      timer = setInterval(() => client.publish(`plant/line${n % 3}/temp`, `${20 + (n++ % 5)}`), 20);
      await until(`Number(document.querySelector('[data-stat="received"]')?.textContent) >= 20`);
      await until(`document.getElementById("topics").textContent.includes("plant/line")`);
      assert.ok(Number(await stat("received").textContent()) >= 20);

      await page.click("#connect");
      await until(`document.getElementById("log").textContent.includes("connected")`);
      await page.fill("#subtopic", "plant/#");
      await page.click("#sub");
      await until(`document.getElementById("log").textContent.includes("plant/line")`);

      const shot = Deno.env.get("DASHBOARD_SCREENSHOT");
      if (shot) {
        await new Promise((r) => setTimeout(r, 4000));
        await page.screenshot({ path: shot, fullPage: true });
      }

      clearInterval(timer);
      timer = undefined;
      const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
      await page.click('tr[data-client="sensor-7"] button.kick');
      await closed;
      await until(`!document.querySelector('tr[data-client="sensor-7"] button.kick')`);
      assert.deepEqual(consoleErrors, [], "no console errors");
    } finally {
      clearInterval(timer);
      client.end(true);
      await browser.close();
      await server.close();
    }
  },
});

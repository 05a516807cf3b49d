/**
 * The real broker process against the Eclipse paho-mqtt Python client from
 * Debian (python3-paho-mqtt), in 3.1.1 and 5. The Python side runs one script
 * and prints what it observed as JSON; the assertions are here. Skipped with a
 * message when /usr/bin/python3 or paho is missing (CI installs them).
 */
import assert from "node:assert/strict";
import { run, startBroker } from "../_helpers/broker_process.ts";

const PYTHON = "/usr/bin/python3";

async function pahoAvailable(): Promise<boolean> {
  try {
    return (await run(PYTHON, ["-c", "import paho.mqtt.client"])).code === 0;
  } catch {
    return false;
  }
}

const available = await pahoAvailable();
if (!available) console.warn("skipping paho interop tests: /usr/bin/python3 with paho-mqtt not installed");

/** Observes v3.1.1 QoS 2 and retained delivery, then MQTT 5 properties, No Local and shared subscriptions. */
const SCRIPT = String.raw`
import json, sys, threading, time
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.subscribeoptions import SubscribeOptions

port = int(sys.argv[1])
out = {}

def client(cid, v5=True):
    c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
    c.received = []
    c.lock = threading.Lock()
    def on_message(cl, userdata, msg):
        with cl.lock:
            cl.received.append(msg)
    c.on_message = on_message
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    return c

def wait_for(pred, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False

# 3.1.1: QoS 2 round trip and a retained message for a later subscriber.
a = client("paho-v4-sub", v5=False)
r, _ = a.subscribe("paho/v4", qos=2); time.sleep(0.2)
p = client("paho-v4-pub", v5=False)
p.publish("paho/v4", b"exactly once", qos=2).wait_for_publish(5)
p.publish("paho/v4/retained", b"kept", qos=1, retain=True).wait_for_publish(5)
wait_for(lambda: len(a.received) >= 1)
late = client("paho-v4-late", v5=False)
late.subscribe("paho/v4/retained", qos=1)
wait_for(lambda: len(late.received) >= 1)
out["v4"] = {
  "qos2": [(m.topic, m.payload.decode(), m.qos) for m in a.received],
  "retained": [(m.topic, m.payload.decode(), m.retain) for m in late.received],
}

# 5: subscription identifier + No Local, and publication properties forwarded unaltered.
s = client("paho-v5-sub")
sp = Properties(PacketTypes.SUBSCRIBE); sp.SubscriptionIdentifier = 7
s.subscribe("paho/v5/#", options=SubscribeOptions(qos=1, noLocal=True), properties=sp); time.sleep(0.2)
s.publish("paho/v5/self", b"not to me", qos=1).wait_for_publish(5)
pub = client("paho-v5-pub")
pp = Properties(PacketTypes.PUBLISH)
pp.UserProperty = [("a", "1"), ("b", "2")]
pp.ResponseTopic = "paho/reply"
pp.CorrelationData = b"\x01\x02"
pp.ContentType = "text/plain"
pp.MessageExpiryInterval = 60
pub.publish("paho/v5/x", b"with properties", qos=1, properties=pp).wait_for_publish(5)
wait_for(lambda: len(s.received) >= 1)
time.sleep(0.2)
def describe(m):
    pr = m.properties
    return {
      "topic": m.topic, "qos": m.qos,
      "user": [list(x) for x in getattr(pr, "UserProperty", [])],
      "responseTopic": getattr(pr, "ResponseTopic", None),
      "correlation": list(getattr(pr, "CorrelationData", b"")),
      "contentType": getattr(pr, "ContentType", None),
      "expiry": getattr(pr, "MessageExpiryInterval", None),
      "subIds": getattr(pr, "SubscriptionIdentifier", None),
    }
out["v5"] = [describe(m) for m in s.received]

# 5: a shared subscription splits the messages between its two members.
m1 = client("paho-share-1"); m2 = client("paho-share-2")
for m in (m1, m2):
    m.subscribe("$share/g/paho/shared", options=SubscribeOptions(qos=1))
time.sleep(0.3)
for i in range(10):
    pub.publish("paho/shared", str(i).encode(), qos=1).wait_for_publish(5)
wait_for(lambda: len(m1.received) + len(m2.received) >= 10)
time.sleep(0.2)
out["shared"] = sorted([len(m1.received), len(m2.received)])
out["sharedPayloads"] = sorted(int(m.payload) for m in m1.received + m2.received)

for c in (a, p, late, s, pub, m1, m2):
    c.disconnect(); c.loop_stop()
print(json.dumps(out))
`;

Deno.test({
  name:
    "paho (Python) interoperates in 3.1.1 and 5: QoS 2, retained, properties, No Local, subscription identifiers, shared subscriptions [MQTT-3.3.2-17] [MQTT-3.8.3-3]",
  ignore: !available,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const broker = await startBroker();
    try {
      const result = await run(PYTHON, ["-c", SCRIPT, `${broker.port}`], 30_000);
      assert.equal(result.code, 0, result.stderr);
      const seen = JSON.parse(result.stdout);
      assert.deepEqual(seen.v4.qos2, [["paho/v4", "exactly once", 2]]);
      assert.deepEqual(seen.v4.retained, [["paho/v4/retained", "kept", 1]]);
      assert.equal(seen.v5.length, 1, "No Local keeps the subscriber's own message away");
      const [got] = seen.v5;
      assert.equal(got.topic, "paho/v5/x");
      assert.deepEqual(got.user, [["a", "1"], ["b", "2"]]);
      assert.equal(got.responseTopic, "paho/reply");
      assert.deepEqual(got.correlation, [1, 2]);
      assert.equal(got.contentType, "text/plain");
      assert.ok(got.expiry >= 59 && got.expiry <= 60, `expiry ${got.expiry}`);
      assert.deepEqual(got.subIds, [7]);
      assert.deepEqual(seen.sharedPayloads, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.deepEqual(seen.shared, [5, 5], "round robin splits evenly");
    } finally {
      await broker.stop();
    }
  },
});

/**
 * An mqtt.js message store that outlives the client using it. mqtt.js closes its stores
 * when a client ends; an application that wants QoS 2 exactly once across reconnects keeps
 * its receive state, so a test that reconnects with a new client object passes this one on.
 */
import mqtt from "mqtt";

export class KeptStore extends mqtt.Store {
  override close(cb?: () => void): void {
    cb?.();
  }
}

/**
 * The last steps of an accepted CONNECT: the CONNACK (once the session is durable),
 * then the connection is established, the resumed session's messages go out again,
 * and hooks hear of the client.
 *
 * @module
 */
import { PacketType, type Properties } from "../../protocol/packet.ts";
import { type ClientContext, hookClient } from "../client_context.ts";
import { redeliver } from "../delivery.ts";
import type { ConnectAttempt, StepOutcome } from "./connect_attempt.ts";

/** [MQTT-3.2.2-1] [MQTT-3.2.2-2] [MQTT-3.2.2-3] the CONNACK, whose Session Present tells whether state was resumed. */
export function sendConnack(ctx: ClientContext, attempt: ConnectAttempt): StepOutcome {
  const properties = attempt.v5 ? connackProperties(ctx, attempt) : undefined;
  const present = attempt.present;
  attempt.batch.afterCommit(() => {
    ctx.state.connackSent = true;
    ctx.send({ type: PacketType.CONNACK, sessionPresent: present, reasonCode: 0, properties });
  });
}

/** The connection serves the client: keep-alive, redelivery, the log and the onConnect hooks. */
export function announce(ctx: ClientContext, attempt: ConnectAttempt): StepOutcome {
  const engine = ctx.engine;
  const state = ctx.state;
  ctx.established();
  engine.connectionOpened();
  if (attempt.present) redeliver(engine, attempt.session!, attempt.batch);
  engine.log.debug("Client {clientId} connected from {remote} (v{level}, session present: {present})", {
    clientId: state.clientId,
    remote: ctx.socket.remoteAddress,
    level: attempt.packet.protocolLevel,
    present: attempt.present,
  });
  const client = hookClient(ctx);
  engine.hooks.notify("onConnect", (h) => h.onConnect!(client));
}

/** CONNACK properties: only what differs from the protocol defaults; undefined when nothing does. */
function connackProperties(ctx: ClientContext, attempt: ConnectAttempt): Properties | undefined {
  const mqtt = ctx.engine.mqtt;
  const state = ctx.state;
  const out: Properties = {};
  if (attempt.assigned) out.assignedClientIdentifier = state.clientId; // [MQTT-3.2.2-16]
  if (state.keepAlive !== attempt.packet.keepAlive) out.serverKeepAlive = state.keepAlive; // [MQTT-3.2.2-21]
  if (mqtt.receiveMaximum < 65535) out.receiveMaximum = mqtt.receiveMaximum;
  if (mqtt.maxQoS < 2) out.maximumQoS = mqtt.maxQoS;
  if (!mqtt.retainAvailable) out.retainAvailable = 0;
  if (mqtt.maxPacketSize < 268_435_460) out.maximumPacketSize = mqtt.maxPacketSize;
  if (mqtt.topicAliasMaximum > 0) out.topicAliasMaximum = mqtt.topicAliasMaximum;
  if (!mqtt.wildcardSubscriptions) out.wildcardSubscriptionAvailable = 0;
  if (!mqtt.subscriptionIdentifiers) out.subscriptionIdentifiersAvailable = 0;
  if (!mqtt.sharedSubscriptions) out.sharedSubscriptionAvailable = 0;
  // [MQTT-3.1.2-28] Response Information only for a client that asked for it.
  if (attempt.props.requestResponseInformation === 1) out.responseInformation = `response/${state.clientId}`;
  if (attempt.method !== undefined) {
    // [MQTT-4.12.0-5] a successful CONNACK repeats the Authentication Method of CONNECT.
    out.authenticationMethod = attempt.method;
    if (attempt.authenticationData !== undefined) out.authenticationData = attempt.authenticationData;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * The steps of a CONNECT before authentication (connect.ts runs them in order):
 * what the packet says of the client, and what the broker refuses before asking
 * who the client is.
 *
 * @module
 */
import { ProtocolError } from "../../protocol/errors.ts";
import { ConnackReturnCode, Reason, type WillMessage } from "../../protocol/packet.ts";
import { validateTopicName } from "../../protocol/topic.ts";
import type { ClientContext } from "../client_context.ts";
import type { MqttOptions } from "../options.ts";
import type { ConnectAttempt, StepOutcome } from "./connect_attempt.ts";
import { type Refusal, refuse } from "./connect_refusal.ts";

const SHUTTING_DOWN: Refusal = {
  v5: Reason.ServerUnavailable,
  v3: ConnackReturnCode.ServerUnavailable,
  why: "server shutting down",
};
const UNSUPPORTED_METHOD: Refusal = {
  v5: Reason.BadAuthenticationMethod,
  v3: ConnackReturnCode.NotAuthorized,
  why: "unsupported authentication method",
};
const EMPTY_ID_NEEDS_CLEAN: Refusal = {
  v5: Reason.ClientIdentifierNotValid,
  v3: ConnackReturnCode.IdentifierRejected,
  why: "empty client id needs clean session",
};

/** The protocol level, the bridge bit, and the client's Maximum Packet Size. */
export function readProtocol(ctx: ClientContext, attempt: ConnectAttempt): StepOutcome {
  const state = ctx.state;
  const packet = attempt.packet;
  state.level = packet.protocolLevel;
  state.bridge = packet.bridge === true && !attempt.v5;
  const max = attempt.props.maximumPacketSize;
  // Known before any reply, so that even a refusing CONNACK respects it [MQTT-3.2.2-19] [MQTT-3.2.2-20].
  if (attempt.v5 && max !== undefined) state.maxPacketSize = max;
}

export function refuseWhileClosing(ctx: ClientContext): StepOutcome {
  if (ctx.engine.closing) return refuse(ctx, SHUTTING_DOWN);
}

/** [MQTT-4.12.0-1] an unsupported Authentication Method is refused with 0x8C. */
export function checkAuthenticationMethod(ctx: ClientContext, attempt: ConnectAttempt): StepOutcome {
  const method = attempt.method;
  if (method === undefined || (attempt.v5 && ctx.engine.enhancedAuth(method) !== undefined)) return;
  return refuse(ctx, UNSUPPORTED_METHOD);
}

/** The client identifier: the client's, or one the server assigns to an empty one [MQTT-3.1.3-6]. */
export function settleClientId(ctx: ClientContext, attempt: ConnectAttempt): StepOutcome {
  const packet = attempt.packet;
  if (packet.clientId !== "") {
    ctx.state.clientId = packet.clientId;
    return;
  }
  // [MQTT-3.1.3-8] 3.1.1: an empty client id requires Clean Session = 1.
  if (!attempt.v5 && !packet.clean) return refuse(ctx, EMPTY_ID_NEEDS_CLEAN);
  ctx.state.clientId = `auto-${crypto.randomUUID()}`;
  attempt.assigned = true;
}

/** Will topic, QoS and retain against what the broker supports. */
export function checkWill(ctx: ClientContext, attempt: ConnectAttempt): StepOutcome {
  const will = attempt.packet.will;
  if (will === undefined) return;
  const error = willError(will, ctx.engine.mqtt);
  if (error === undefined) return;
  return refuse(ctx, { v5: error.reasonCode, v3: ConnackReturnCode.NotAuthorized, why: error.message });
}

function willError(will: WillMessage, mqtt: MqttOptions): ProtocolError | undefined {
  try {
    validateTopicName(will.topic);
  } catch (err) {
    return err as ProtocolError;
  }
  // [MQTT-3.2.2-12] a will QoS above Maximum QoS is refused with 0x9B.
  if (will.qos > mqtt.maxQoS) return new ProtocolError(Reason.QoSNotSupported, "will QoS not supported");
  // [MQTT-3.2.2-13] a retained will when retain is unavailable is refused with 0x9A.
  if (will.retain && !mqtt.retainAvailable) {
    return new ProtocolError(Reason.RetainNotSupported, "retain not supported");
  }
  return undefined;
}

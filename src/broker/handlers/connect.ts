/**
 * CONNECT: protocol level, client identifier, authentication, session
 * creation / resumption / takeover, will, and the CONNACK with what the broker
 * supports.
 *
 * @module
 */
import { validateTopicName } from "../../protocol/topic.ts";
import {
  ConnackReturnCode,
  type ConnectPacket,
  PacketType,
  type Properties,
  Reason,
} from "../../protocol/packet.ts";
import type { CommitBatch } from "../commit_batch.ts";
import { type ClientContext, hookClient } from "../client_context.ts";
import { redeliver } from "../delivery.ts";
import type { StoredWill } from "../../persistence/store.ts";
import type { AuthConversation } from "../enhanced_auth.ts";
import type { PendingConnect } from "../client_state.ts";
import type { AuthResult } from "../security.ts";
import { NEVER_EXPIRES, Session } from "../session.ts";
import { identityOf, judgeOwner } from "../session_owner.ts";
import { InboundAliases, OutboundAliases } from "../topic_alias.ts";
import { ProtocolError } from "../../protocol/errors.ts";

/** Sends a refusing CONNACK (v5 reason or 3.x return code) and closes [MQTT-3.2.2-7]. */
function refuse(ctx: ClientContext, v5Reason: number, v3Code: number, why: string): void {
  ctx.engine.stats.connectRefused++;
  const reasonCode = ctx.state.level === 5 ? v5Reason : v3Code;
  const properties: Properties | undefined = ctx.state.level === 5 ? { reasonString: why } : undefined;
  ctx.send({ type: PacketType.CONNACK, sessionPresent: false, reasonCode, properties });
  ctx.engine.log.info("Refused {clientId} from {remote}: {why}", {
    clientId: ctx.state.clientId,
    remote: ctx.socket.remoteAddress,
    why,
  });
  ctx.close(0, why);
}

/** A unique identifier for clients that sent an empty one [MQTT-3.1.3-6]. */
function assignClientId(): string {
  return `auto-${crypto.randomUUID()}`;
}

export async function handleConnect(
  ctx: ClientContext,
  packet: ConnectPacket,
  batch: CommitBatch,
): Promise<void> {
  const broker = ctx.engine;
  ctx.state.level = packet.protocolLevel;
  const v5 = packet.protocolLevel === 5;
  ctx.state.bridge = packet.bridge === true && !v5;
  const props = packet.properties ?? {};
  // Known before any reply, so that even a refusing CONNACK respects it [MQTT-3.2.2-19] [MQTT-3.2.2-20].
  if (v5 && props.maximumPacketSize !== undefined) ctx.state.maxPacketSize = props.maximumPacketSize;
  if (broker.closing) {
    return refuse(
      ctx,
      Reason.ServerUnavailable,
      ConnackReturnCode.ServerUnavailable,
      "server shutting down",
    );
  }
  const method = props.authenticationMethod;
  // [MQTT-4.12.0-1] an unsupported Authentication Method is refused with 0x8C.
  if (method !== undefined && (!v5 || broker.enhancedAuth(method) === undefined)) {
    return refuse(
      ctx,
      Reason.BadAuthenticationMethod,
      ConnackReturnCode.NotAuthorized,
      "unsupported authentication method",
    );
  }
  let clientId = packet.clientId;
  let assigned = false;
  if (clientId === "") {
    // [MQTT-3.1.3-8] 3.1.1: an empty client id requires Clean Session = 1.
    if (!v5 && !packet.clean) {
      ctx.state.clientId = "";
      return refuse(
        ctx,
        Reason.ClientIdentifierNotValid,
        ConnackReturnCode.IdentifierRejected,
        "empty client id needs clean session",
      );
    }
    clientId = assignClientId();
    assigned = true;
  }
  ctx.state.clientId = clientId;
  if (packet.will) {
    const willError = checkWill(ctx, packet);
    if (willError) {
      return refuse(ctx, willError.reasonCode, ConnackReturnCode.NotAuthorized, willError.message);
    }
  }

  const info = {
    clientId,
    // A verified client certificate stands in for a missing user name.
    username: packet.username ?? ctx.socket.identity,
    password: packet.password,
    remoteAddress: ctx.socket.remoteAddress,
    listener: ctx.socket.listener,
    certificateIdentity: ctx.socket.identity,
    protocolLevel: packet.protocolLevel,
  };
  if (method !== undefined) {
    const conversation = await broker.enhancedAuth(method)!.start(info, props.authenticationData);
    return continueEnhancedAuth(ctx, { packet, assigned, method }, conversation, batch);
  }
  const result = await broker.authenticate(info);
  return completeConnect(ctx, packet, assigned, result, batch);
}

/**
 * Before the session is attached, the client's session may be held elsewhere: on
 * another cluster node, which closes the client's connection there [MQTT-3.1.4-3]
 * and hands the session over through the shared store; or in a store shared with
 * other broker instances (loadSession hooks). Resolves true when it belongs to
 * another user and the CONNECT must be refused; undefined when nothing is asked.
 */
function fetchHeldElsewhere(ctx: ClientContext, clean: boolean): Promise<boolean> | undefined {
  const broker = ctx.engine;
  const owner = { username: ctx.state.username };
  const fromHooks = () =>
    broker.adoptSession(ctx.state.clientId, clean, owner).then((adopted) => adopted === "refused");
  const hooked = () => broker.hooks.loadSession.length > 0 && !broker.sessions.has(ctx.state.clientId);
  if (broker.cluster === undefined) return hooked() ? fromHooks() : undefined;
  // The cluster takes a session held elsewhere in itself (ClusterMember), caught up on what it missed.
  return broker.cluster.claim(ctx.state.clientId, clean, owner).then((claim) => {
    if (claim.refused) return true;
    return hooked() ? fromHooks() : false;
  });
}

/**
 * Sends the next AUTH 0x18 of an exchange [MQTT-4.12.0-2], or finishes the CONNECT
 * once the authenticator has decided.
 */
export function continueEnhancedAuth(
  ctx: ClientContext,
  pending: PendingConnect,
  conversation: AuthConversation,
  batch: CommitBatch,
): Promise<void> | void {
  if (ctx.phase === "closed") return;
  if (!conversation.done) {
    ctx.state.pendingConnect = { ...pending, conversation };
    ctx.armConnectTimer();
    ctx.send({
      type: PacketType.AUTH,
      reasonCode: Reason.ContinueAuthentication,
      properties: { authenticationMethod: pending.method, authenticationData: conversation.data },
    });
    return;
  }
  ctx.state.pendingConnect = null;
  if (conversation.ok) ctx.state.authMethod = pending.method;
  return completeConnect(ctx, pending.packet, pending.assigned, conversation, batch, {
    method: pending.method,
    data: conversation.data,
  });
}

/** Everything after authentication: the verdict, a session held elsewhere, then {@link establish}. */
function completeConnect(
  ctx: ClientContext,
  packet: ConnectPacket,
  assigned: boolean,
  result: AuthResult,
  batch: CommitBatch,
  enhanced?: { method: string; data?: Uint8Array },
): Promise<void> | void {
  if (ctx.phase === "closed") return;
  // [MQTT-4.12.0-4] a failed authentication gets a CONNACK of 0x80 or above, then the close.
  if (!result.ok) {
    if (result.reason === "bad_credentials") {
      return refuse(
        ctx,
        Reason.BadUserNameOrPassword,
        ConnackReturnCode.BadUserNameOrPassword,
        "bad user name or password",
      );
    }
    if (result.reason === "banned") {
      return refuse(ctx, Reason.Banned, ConnackReturnCode.NotAuthorized, "banned (too many failed logins)");
    }
    return refuse(ctx, Reason.NotAuthorized, ConnackReturnCode.NotAuthorized, "not authorized");
  }
  // The identity the session will belong to (session_owner.ts).
  ctx.state.username = result.username ?? packet.username ?? ctx.socket.identity;
  applyClientLimits(ctx, packet);
  const elsewhere = fetchHeldElsewhere(ctx, packet.clean);
  if (elsewhere === undefined) return establish(ctx, packet, assigned, batch, enhanced);
  return elsewhere.then((foreign) => {
    if (ctx.phase === "closed") return;
    if (foreign) return refuseForeignSession(ctx);
    establish(ctx, packet, assigned, batch, enhanced);
  });
}

/**
 * The client id names a session of another user (session_owner.ts): refused as an
 * identifier the server does not allow, 0x85 (5.0) [MQTT-3.1.3-8] or return code 2
 * (3.1.1), then closed. Not 0x87: the credentials are fine, it is this id that is not.
 */
function refuseForeignSession(ctx: ClientContext): void {
  refuse(
    ctx,
    Reason.ClientIdentifierNotValid,
    ConnackReturnCode.IdentifierRejected,
    "client id in use by another user",
  );
}

/** The session, the CONNACK, redelivery. */
function establish(
  ctx: ClientContext,
  packet: ConnectPacket,
  assigned: boolean,
  batch: CommitBatch,
  enhanced?: { method: string; data?: Uint8Array },
): void {
  if (ctx.phase === "closed") return;
  const broker = ctx.engine;
  const v5 = packet.protocolLevel === 5;
  const clientId = ctx.state.clientId;
  const attached = attachSession(ctx, packet, clientId, batch);
  if (attached === undefined) return refuseForeignSession(ctx);
  const { session, present } = attached;
  const connack: Properties = {};
  if (v5) fillConnackProperties(ctx, packet, connack, assigned ? clientId : undefined);
  if (enhanced !== undefined) {
    // [MQTT-4.12.0-5] a successful CONNACK repeats the Authentication Method of CONNECT.
    connack.authenticationMethod = enhanced.method;
    if (enhanced.data !== undefined) connack.authenticationData = enhanced.data;
  }
  // [MQTT-3.2.2-1] [MQTT-3.2.2-2] [MQTT-3.2.2-3] Session Present tells whether state was resumed.
  batch.afterCommit(() => {
    ctx.state.connackSent = true;
    ctx.send({
      type: PacketType.CONNACK,
      sessionPresent: present,
      reasonCode: 0,
      properties: v5 && Object.keys(connack).length > 0 ? connack : undefined,
    });
  });
  ctx.established();
  broker.connectionOpened();
  if (present) redeliver(broker, session, batch);
  broker.log.debug("Client {clientId} connected from {remote} (v{level}, session present: {present})", {
    clientId,
    remote: ctx.socket.remoteAddress,
    level: packet.protocolLevel,
    present,
  });
  const client = hookClient(ctx);
  broker.hooks.notify("onConnect", (h) => h.onConnect!(client));
}

/** Will topic, QoS and retain checks against what the broker supports. */
function checkWill(ctx: ClientContext, packet: ConnectPacket): ProtocolError | undefined {
  const will = packet.will!;
  try {
    validateTopicName(will.topic);
  } catch (err) {
    return err as ProtocolError;
  }
  const mqtt = ctx.engine.mqtt;
  // [MQTT-3.2.2-12] a will QoS above Maximum QoS is refused with 0x9B.
  if (will.qos > mqtt.maxQoS) return new ProtocolError(Reason.QoSNotSupported, "will QoS not supported");
  // [MQTT-3.2.2-13] a retained will when retain is unavailable is refused with 0x9A.
  if (will.retain && !mqtt.retainAvailable) {
    return new ProtocolError(Reason.RetainNotSupported, "retain not supported");
  }
  return undefined;
}

/** Applies keep-alive and the client's v5 limits to the connection. */
function applyClientLimits(ctx: ClientContext, packet: ConnectPacket): void {
  const broker = ctx.engine;
  const props = packet.properties ?? {};
  ctx.state.keepAlive = packet.keepAlive;
  if (packet.protocolLevel === 5) {
    const max = broker.mqtt.maxKeepAlive;
    if (packet.keepAlive > max || (packet.keepAlive === 0 && max < 65535)) ctx.state.keepAlive = max;
    // [MQTT-3.1.2-24] (5.0) never send more than the client's Maximum Packet Size.
    if (props.maximumPacketSize !== undefined) ctx.state.maxPacketSize = props.maximumPacketSize;
    // [MQTT-3.3.4-9] never more unacknowledged QoS 1/2 PUBLISH than the client's Receive Maximum.
    ctx.state.sendWindow = Math.min(broker.limits.maxInflight, props.receiveMaximum ?? 65535);
    // [MQTT-3.1.2-26] aliases stay within the client's Topic Alias Maximum; [MQTT-3.1.2-27] none when it is 0 or absent.
    if ((props.topicAliasMaximum ?? 0) > 0) ctx.state.aliases = new OutboundAliases(props.topicAliasMaximum!);
    ctx.state.inboundAliases = new InboundAliases(broker.mqtt.topicAliasMaximum);
    ctx.state.problemInformation = props.requestProblemInformation !== 0;
  } else {
    ctx.state.sendWindow = broker.limits.maxInflight;
  }
}

/**
 * Creates, resumes or replaces the session, and takes it over from an older connection.
 * Undefined when the session belongs to another user and stays theirs.
 */
function attachSession(
  ctx: ClientContext,
  packet: ConnectPacket,
  clientId: string,
  batch: CommitBatch,
): { session: Session; present: boolean } | undefined {
  const broker = ctx.engine;
  const expiry = packet.protocolLevel === 5
    ? (packet.properties?.sessionExpiryInterval ?? 0)
    : (packet.clean ? 0 : NEVER_EXPIRES);
  const identity = identityOf(ctx.state.username);
  let session = broker.sessions.get(clientId);
  if (session !== undefined) {
    // Decided before anything else: another user neither gets the session nor closes its connection.
    const verdict = judgeOwner(session.owner, identity, session.link !== null, broker.foreignSession);
    if (verdict === "refuse") return undefined;
    if (verdict === "discard") {
      broker.log.info("Session {clientId} of another user discarded for a new one", { clientId });
      broker.discardSession(session, batch);
      session = undefined;
    }
  }
  // [MQTT-3.1.4-3] an existing connection with this client id is closed (v5: DISCONNECT 0x8E).
  if (session?.link) session.link.takeOver();
  let present = false;
  if (session !== undefined && packet.clean) {
    // [MQTT-3.1.2-4] Clean Start discards any existing session.
    broker.discardSession(session, batch);
    session = undefined;
  }
  if (session === undefined) {
    session = new Session(clientId, packet.protocolLevel, expiry);
    broker.sessions.set(clientId, session);
  } else {
    present = true;
    // A resumed session's pending expiry and delayed will are cancelled [MQTT-3.1.3-9].
    session.clearTimers(broker.clock);
    session.protocolLevel = packet.protocolLevel;
    session.expiryInterval = expiry;
  }
  session.owner = identity;
  session.disconnectedAt = undefined;
  session.will = packet.will ? toStoredWill(packet, clientId) : undefined;
  ctx.attach(session);
  if (session.persistent) {
    batch.persist({ kind: "putSession", session: session.record() });
  } else if (broker.cluster !== undefined && session.will !== undefined) {
    // Only the will is stored: if this node dies, the node that adopts the record publishes it.
    session.storedForWill = true;
    batch.persist({ kind: "putSession", session: session.record(0) });
  } else if (present) {
    // It was persistent before and is not any more: drop its stored copy.
    batch.persist({ kind: "deleteSession", clientId });
  }
  return { session, present };
}

function toStoredWill(packet: ConnectPacket, clientId: string): StoredWill {
  const will = packet.will!;
  const properties = will.properties ? { ...will.properties } : undefined;
  const delay = properties?.willDelayInterval ?? 0;
  if (properties) delete properties.willDelayInterval;
  return {
    delay,
    message: {
      topic: will.topic,
      payload: will.payload.slice(),
      qos: will.qos,
      retain: will.retain,
      properties,
      origin: clientId,
    },
  };
}

/** CONNACK properties: only what differs from the protocol defaults is sent. */
function fillConnackProperties(
  ctx: ClientContext,
  packet: ConnectPacket,
  out: Properties,
  assignedId: string | undefined,
): void {
  const mqtt = ctx.engine.mqtt;
  if (assignedId !== undefined) out.assignedClientIdentifier = assignedId; // [MQTT-3.2.2-16]
  if (ctx.state.keepAlive !== packet.keepAlive) out.serverKeepAlive = ctx.state.keepAlive; // [MQTT-3.2.2-21]
  if (mqtt.receiveMaximum < 65535) out.receiveMaximum = mqtt.receiveMaximum;
  if (mqtt.maxQoS < 2) out.maximumQoS = mqtt.maxQoS;
  if (!mqtt.retainAvailable) out.retainAvailable = 0;
  if (mqtt.maxPacketSize < 268_435_460) out.maximumPacketSize = mqtt.maxPacketSize;
  if (mqtt.topicAliasMaximum > 0) out.topicAliasMaximum = mqtt.topicAliasMaximum;
  if (!mqtt.wildcardSubscriptions) out.wildcardSubscriptionAvailable = 0;
  if (!mqtt.subscriptionIdentifiers) out.subscriptionIdentifiersAvailable = 0;
  if (!mqtt.sharedSubscriptions) out.sharedSubscriptionAvailable = 0;
  // [MQTT-3.1.2-28] Response Information only for a client that asked for it.
  if (packet.properties?.requestResponseInformation === 1) {
    out.responseInformation = `response/${ctx.state.clientId}`;
  }
}

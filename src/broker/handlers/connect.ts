/**
 * CONNECT: protocol level, client identifier, authentication, session
 * creation / resumption / takeover, will, and the CONNACK with what the broker
 * supports.
 *
 * @module
 */
import { encodePacket } from "../../protocol/codec.ts";
import { validateTopicName } from "../../protocol/topic.ts";
import {
  ConnackReturnCode,
  type ConnectPacket,
  type Frame,
  PacketType,
  type Properties,
  Reason,
} from "../../protocol/packet.ts";
import type { CommitBatch } from "../commit_batch.ts";
import type { Connection } from "../connection.ts";
import { redeliver } from "../delivery.ts";
import type { StoredWill } from "../../persistence/store.ts";
import type { AuthConversation } from "../enhanced_auth.ts";
import type { AuthResult } from "../security.ts";
import { NEVER_EXPIRES, Session } from "../session.ts";
import { identityOf, judgeOwner } from "../session_owner.ts";
import { InboundAliases, OutboundAliases } from "../topic_alias.ts";
import { ProtocolError } from "../../protocol/errors.ts";

/** [MQTT-3.1.2-2] an unsupported protocol level gets CONNACK 0x01, then the connection closes. */
export function rejectUnsupportedVersion(conn: Connection, _frame: Frame): void {
  conn.socket.write(
    encodePacket({
      type: PacketType.CONNACK,
      sessionPresent: false,
      reasonCode: ConnackReturnCode.UnacceptableProtocolVersion,
    }, 4),
  );
}

/** Sends a refusing CONNACK (v5 reason or 3.x return code) and closes [MQTT-3.2.2-7]. */
function refuse(conn: Connection, v5Reason: number, v3Code: number, why: string): void {
  conn.broker.stats.connectRefused++;
  const reasonCode = conn.level === 5 ? v5Reason : v3Code;
  const properties: Properties | undefined = conn.level === 5 ? { reasonString: why } : undefined;
  conn.send({ type: PacketType.CONNACK, sessionPresent: false, reasonCode, properties });
  conn.broker.log.info("Refused {clientId} from {remote}: {why}", {
    clientId: conn.clientId,
    remote: conn.socket.remoteAddress,
    why,
  });
  conn.close(0, why);
}

/** A unique identifier for clients that sent an empty one [MQTT-3.1.3-6]. */
function assignClientId(): string {
  return `auto-${crypto.randomUUID()}`;
}

export async function handleConnect(
  conn: Connection,
  packet: ConnectPacket,
  batch: CommitBatch,
): Promise<void> {
  const broker = conn.broker;
  conn.level = packet.protocolLevel;
  const v5 = packet.protocolLevel === 5;
  conn.bridge = packet.bridge === true && !v5;
  const props = packet.properties ?? {};
  // Known before any reply, so that even a refusing CONNACK respects it [MQTT-3.2.2-19] [MQTT-3.2.2-20].
  if (v5 && props.maximumPacketSize !== undefined) conn.maxPacketSize = props.maximumPacketSize;
  if (broker.closing) {
    return refuse(
      conn,
      Reason.ServerUnavailable,
      ConnackReturnCode.ServerUnavailable,
      "server shutting down",
    );
  }
  const method = props.authenticationMethod;
  // [MQTT-4.12.0-1] an unsupported Authentication Method is refused with 0x8C.
  if (method !== undefined && (!v5 || broker.enhancedAuth(method) === undefined)) {
    return refuse(
      conn,
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
      conn.clientId = "";
      return refuse(
        conn,
        Reason.ClientIdentifierNotValid,
        ConnackReturnCode.IdentifierRejected,
        "empty client id needs clean session",
      );
    }
    clientId = assignClientId();
    assigned = true;
  }
  conn.clientId = clientId;
  if (packet.will) {
    const willError = checkWill(conn, packet);
    if (willError) {
      return refuse(conn, willError.reasonCode, ConnackReturnCode.NotAuthorized, willError.message);
    }
  }

  const info = {
    clientId,
    // A verified client certificate stands in for a missing user name.
    username: packet.username ?? conn.socket.identity,
    password: packet.password,
    remoteAddress: conn.socket.remoteAddress,
    listener: conn.socket.listener,
    certificateIdentity: conn.socket.identity,
    protocolLevel: packet.protocolLevel,
  };
  if (method !== undefined) {
    const conversation = await broker.enhancedAuth(method)!.start(info, props.authenticationData);
    return continueEnhancedAuth(conn, { packet, assigned, method }, conversation, batch);
  }
  const result = await broker.authenticate(info);
  return completeConnect(conn, packet, assigned, result, batch);
}

/**
 * Before the session is attached, the client's session may be held elsewhere: by a peer
 * (another cluster node, another serverless isolate), which closes the client's
 * connection there [MQTT-3.1.4-3] and hands the session over through the shared store
 * (peers.ts). Resolves true when it belongs to another user and the CONNECT must be
 * refused; undefined when this broker has no peers.
 */
function fetchHeldElsewhere(conn: Connection, clean: boolean): Promise<boolean> | undefined {
  const peers = conn.broker.peers;
  if (peers === undefined) return undefined;
  return peers.claim(conn.clientId, clean, { username: conn.username }).then((claim) => claim.refused);
}

/** The CONNECT waiting for an enhanced authentication exchange to finish. */
export interface PendingConnect {
  packet: ConnectPacket;
  assigned: boolean;
  method: string;
}

/**
 * Sends the next AUTH 0x18 of an exchange [MQTT-4.12.0-2], or finishes the CONNECT
 * once the authenticator has decided.
 */
export function continueEnhancedAuth(
  conn: Connection,
  pending: PendingConnect,
  conversation: AuthConversation,
  batch: CommitBatch,
): Promise<void> | void {
  if (conn.state === "closed") return;
  if (!conversation.done) {
    conn.pendingConnect = { ...pending, conversation };
    conn.armConnectTimer();
    conn.send({
      type: PacketType.AUTH,
      reasonCode: Reason.ContinueAuthentication,
      properties: { authenticationMethod: pending.method, authenticationData: conversation.data },
    });
    return;
  }
  conn.pendingConnect = null;
  if (conversation.ok) conn.authMethod = pending.method;
  return completeConnect(conn, pending.packet, pending.assigned, conversation, batch, {
    method: pending.method,
    data: conversation.data,
  });
}

/** Everything after authentication: the verdict, a session held elsewhere, then {@link establish}. */
function completeConnect(
  conn: Connection,
  packet: ConnectPacket,
  assigned: boolean,
  result: AuthResult,
  batch: CommitBatch,
  enhanced?: { method: string; data?: Uint8Array },
): Promise<void> | void {
  if (conn.state === "closed") return;
  // [MQTT-4.12.0-4] a failed authentication gets a CONNACK of 0x80 or above, then the close.
  if (!result.ok) {
    if (result.reason === "bad_credentials") {
      return refuse(
        conn,
        Reason.BadUserNameOrPassword,
        ConnackReturnCode.BadUserNameOrPassword,
        "bad user name or password",
      );
    }
    if (result.reason === "banned") {
      return refuse(conn, Reason.Banned, ConnackReturnCode.NotAuthorized, "banned (too many failed logins)");
    }
    return refuse(conn, Reason.NotAuthorized, ConnackReturnCode.NotAuthorized, "not authorized");
  }
  // The identity the session will belong to (session_owner.ts).
  conn.username = result.username ?? packet.username ?? conn.socket.identity;
  applyClientLimits(conn, packet);
  const elsewhere = fetchHeldElsewhere(conn, packet.clean);
  if (elsewhere === undefined) return establish(conn, packet, assigned, batch, enhanced);
  return elsewhere.then((foreign) => {
    if (conn.state === "closed") return;
    if (foreign) return refuseForeignSession(conn);
    establish(conn, packet, assigned, batch, enhanced);
  });
}

/**
 * The client id names a session of another user (session_owner.ts): refused as an
 * identifier the server does not allow, 0x85 (5.0) [MQTT-3.1.3-8] or return code 2
 * (3.1.1), then closed. Not 0x87: the credentials are fine, it is this id that is not.
 */
function refuseForeignSession(conn: Connection): void {
  refuse(
    conn,
    Reason.ClientIdentifierNotValid,
    ConnackReturnCode.IdentifierRejected,
    "client id in use by another user",
  );
}

/** The session, the CONNACK, redelivery. */
function establish(
  conn: Connection,
  packet: ConnectPacket,
  assigned: boolean,
  batch: CommitBatch,
  enhanced?: { method: string; data?: Uint8Array },
): void {
  if (conn.state === "closed") return;
  const broker = conn.broker;
  const v5 = packet.protocolLevel === 5;
  const clientId = conn.clientId;
  const attached = attachSession(conn, packet, clientId, batch);
  if (attached === undefined) return refuseForeignSession(conn);
  const { session, present } = attached;
  const connack: Properties = {};
  if (v5) fillConnackProperties(conn, packet, connack, assigned ? clientId : undefined);
  if (enhanced !== undefined) {
    // [MQTT-4.12.0-5] a successful CONNACK repeats the Authentication Method of CONNECT.
    connack.authenticationMethod = enhanced.method;
    if (enhanced.data !== undefined) connack.authenticationData = enhanced.data;
  }
  // [MQTT-3.2.2-1] [MQTT-3.2.2-2] [MQTT-3.2.2-3] Session Present tells whether state was resumed.
  batch.then(() => {
    conn.connackSent = true;
    conn.send({
      type: PacketType.CONNACK,
      sessionPresent: present,
      reasonCode: 0,
      properties: v5 && Object.keys(connack).length > 0 ? connack : undefined,
    });
  });
  conn.established();
  broker.connectionOpened();
  if (present) redeliver(broker, session, batch);
  broker.log.debug("Client {clientId} connected from {remote} (v{level}, session present: {present})", {
    clientId,
    remote: conn.socket.remoteAddress,
    level: packet.protocolLevel,
    present,
  });
  const client = {
    clientId,
    username: conn.username,
    remoteAddress: conn.socket.remoteAddress,
    protocolLevel: conn.level,
  };
  broker.hooks.notify("onConnect", (h) => h.onConnect!(client));
}

/** Will topic, QoS and retain checks against what the broker supports. */
function checkWill(conn: Connection, packet: ConnectPacket): ProtocolError | undefined {
  const will = packet.will!;
  try {
    validateTopicName(will.topic);
  } catch (err) {
    return err as ProtocolError;
  }
  const mqtt = conn.broker.mqtt;
  // [MQTT-3.2.2-12] a will QoS above Maximum QoS is refused with 0x9B.
  if (will.qos > mqtt.maxQoS) return new ProtocolError(Reason.QoSNotSupported, "will QoS not supported");
  // [MQTT-3.2.2-13] a retained will when retain is unavailable is refused with 0x9A.
  if (will.retain && !mqtt.retainAvailable) {
    return new ProtocolError(Reason.RetainNotSupported, "retain not supported");
  }
  return undefined;
}

/** Applies keep-alive and the client's v5 limits to the connection. */
function applyClientLimits(conn: Connection, packet: ConnectPacket): void {
  const broker = conn.broker;
  const props = packet.properties ?? {};
  conn.keepAlive = packet.keepAlive;
  if (packet.protocolLevel === 5) {
    const max = broker.mqtt.maxKeepAlive;
    if (packet.keepAlive > max || (packet.keepAlive === 0 && max < 65535)) conn.keepAlive = max;
    // [MQTT-3.1.2-24] (5.0) never send more than the client's Maximum Packet Size.
    if (props.maximumPacketSize !== undefined) conn.maxPacketSize = props.maximumPacketSize;
    // [MQTT-3.3.4-9] never more unacknowledged QoS 1/2 PUBLISH than the client's Receive Maximum.
    conn.sendWindow = Math.min(broker.limits.maxInflight, props.receiveMaximum ?? 65535);
    // [MQTT-3.1.2-26] aliases stay within the client's Topic Alias Maximum; [MQTT-3.1.2-27] none when it is 0 or absent.
    if ((props.topicAliasMaximum ?? 0) > 0) conn.aliases = new OutboundAliases(props.topicAliasMaximum!);
    conn.inboundAliases = new InboundAliases(broker.mqtt.topicAliasMaximum);
    conn.problemInformation = props.requestProblemInformation !== 0;
  } else {
    conn.sendWindow = broker.limits.maxInflight;
  }
}

/**
 * Creates, resumes or replaces the session, and takes it over from an older connection.
 * Undefined when the session belongs to another user and stays theirs.
 */
function attachSession(
  conn: Connection,
  packet: ConnectPacket,
  clientId: string,
  batch: CommitBatch,
): { session: Session; present: boolean } | undefined {
  const broker = conn.broker;
  const expiry = packet.protocolLevel === 5
    ? (packet.properties?.sessionExpiryInterval ?? 0)
    : (packet.clean ? 0 : NEVER_EXPIRES);
  const identity = identityOf(conn.username);
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
    cancelTimers(conn, session);
    session.protocolLevel = packet.protocolLevel;
    session.expiryInterval = expiry;
  }
  session.owner = identity;
  session.disconnectedAt = undefined;
  session.will = packet.will ? toStoredWill(packet, clientId) : undefined;
  session.link = conn;
  conn.session = session;
  if (session.persistent) {
    batch.persist({ kind: "putSession", session: session.record() });
  } else if (broker.peers?.adoptsOrphans === true && session.will !== undefined) {
    // Only the will is stored: if this node dies, the node that adopts the record publishes it.
    session.storedForWill = true;
    batch.persist({ kind: "putSession", session: session.record(0) });
  } else if (present) {
    // It was persistent before and is not any more: drop its stored copy.
    batch.persist({ kind: "deleteSession", clientId });
  }
  return { session, present };
}

/** A resumed session's pending expiry and delayed will are cancelled [MQTT-3.1.3-9]. */
function cancelTimers(conn: Connection, session: Session): void {
  const clock = conn.broker.clock;
  if (session.expiryTimer !== undefined) clock.clearTimer(session.expiryTimer);
  if (session.willTimer !== undefined) clock.clearTimer(session.willTimer);
  session.expiryTimer = undefined;
  session.willTimer = undefined;
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
  conn: Connection,
  packet: ConnectPacket,
  out: Properties,
  assignedId: string | undefined,
): void {
  const mqtt = conn.broker.mqtt;
  if (assignedId !== undefined) out.assignedClientIdentifier = assignedId; // [MQTT-3.2.2-16]
  if (conn.keepAlive !== packet.keepAlive) out.serverKeepAlive = conn.keepAlive; // [MQTT-3.2.2-21]
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
    out.responseInformation = `response/${conn.clientId}`;
  }
}

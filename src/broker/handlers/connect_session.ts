/**
 * The steps of an authenticated CONNECT up to its session: the limits the client
 * set, a session held elsewhere, then creating, resuming, replacing or taking over
 * the session.
 *
 * @module
 */
import type { StoredWill } from "../../persistence/store.ts";
import type { ConnectPacket } from "../../protocol/packet.ts";
import type { ClientContext } from "../client_context.ts";
import { NEVER_EXPIRES, Session } from "../session.ts";
import { identityOf, judgeOwner } from "../session_owner.ts";
import { InboundAliases, OutboundAliases } from "../topic_alias.ts";
import { type ConnectAttempt, type StepOutcome, STOP } from "./connect_attempt.ts";
import { FOREIGN_SESSION, refuse } from "./connect_refusal.ts";

/** Keep-alive and the client's v5 limits. */
export function applyClientLimits(ctx: ClientContext, attempt: ConnectAttempt): StepOutcome {
  const engine = ctx.engine;
  const state = ctx.state;
  const packet = attempt.packet;
  const props = attempt.props;
  state.keepAlive = packet.keepAlive;
  if (!attempt.v5) {
    state.sendWindow = engine.limits.maxInflight;
    return;
  }
  const max = engine.mqtt.maxKeepAlive;
  if (packet.keepAlive > max || (packet.keepAlive === 0 && max < 65535)) state.keepAlive = max;
  // [MQTT-3.1.2-24] (5.0) never send more than the client's Maximum Packet Size.
  if (props.maximumPacketSize !== undefined) state.maxPacketSize = props.maximumPacketSize;
  // [MQTT-3.3.4-9] never more unacknowledged QoS 1/2 PUBLISH than the client's Receive Maximum.
  state.sendWindow = Math.min(engine.limits.maxInflight, props.receiveMaximum ?? 65535);
  // [MQTT-3.1.2-26] aliases stay within the client's Topic Alias Maximum; [MQTT-3.1.2-27] none when it is 0 or absent.
  if ((props.topicAliasMaximum ?? 0) > 0) state.aliases = new OutboundAliases(props.topicAliasMaximum!);
  state.inboundAliases = new InboundAliases(engine.mqtt.topicAliasMaximum);
  state.problemInformation = props.requestProblemInformation !== 0;
}

/** A session held elsewhere is claimed (see {@link fetchHeldElsewhere}); refused when it is another user's. */
export function claimHeldElsewhere(
  ctx: ClientContext,
  attempt: ConnectAttempt,
): StepOutcome | Promise<StepOutcome> {
  const elsewhere = fetchHeldElsewhere(ctx, attempt.packet.clean);
  if (elsewhere === undefined) return;
  return elsewhere.then((foreign) => {
    if (ctx.phase === "closed") return STOP;
    if (foreign) return refuse(ctx, FOREIGN_SESSION);
  });
}

/**
 * Before the session is attached, the client's session may be held elsewhere: by a peer
 * (another cluster node, another serverless isolate), which closes the client's
 * connection there [MQTT-3.1.4-3] and hands the session over through the shared store
 * (peers.ts). Resolves true when it belongs to another user and the CONNECT must be
 * refused; undefined when this broker has no peers.
 */
function fetchHeldElsewhere(ctx: ClientContext, clean: boolean): Promise<boolean> | undefined {
  const peers = ctx.engine.peers;
  if (peers === undefined) return undefined;
  return peers.claim(ctx.state.clientId, clean, { username: ctx.state.username }).then((claim) =>
    claim.refused
  );
}

/**
 * Creates, resumes or replaces the session, and takes it over from an older connection;
 * refused when the session belongs to another user and stays theirs.
 */
export function attachSession(ctx: ClientContext, attempt: ConnectAttempt): StepOutcome {
  const broker = ctx.engine;
  const packet = attempt.packet;
  const batch = attempt.batch;
  const clientId = ctx.state.clientId;
  const expiry = attempt.v5 ? (attempt.props.sessionExpiryInterval ?? 0) : (packet.clean ? 0 : NEVER_EXPIRES);
  const identity = identityOf(ctx.state.username);
  let session = broker.sessions.get(clientId);
  if (session !== undefined) {
    // Decided before anything else: another user neither gets the session nor closes its connection.
    const verdict = judgeOwner(session.owner, identity, session.link !== null, broker.foreignSession);
    if (verdict === "refuse") return refuse(ctx, FOREIGN_SESSION);
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
  attempt.session = session;
  attempt.present = present;
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

/**
 * PUBACK, PUBREC and PUBCOMP from a client: the outbound QoS 1/2 flows the
 * broker started. Each completed flow frees a window slot, which is refilled
 * from the session's queue.
 *
 * @module
 */
import { type AckPacket, PacketType, Reason } from "../../protocol/packet.ts";
import type { CommitBatch } from "../commit_batch.ts";
import type { ClientContext } from "../client_context.ts";
import { forgetInflight, pump } from "../delivery.ts";

export function handleOutboundAck(ctx: ClientContext, packet: AckPacket, batch: CommitBatch): void {
  const broker = ctx.engine;
  const session = ctx.state.session!;
  const entry = session.inflight.get(packet.packetId);
  switch (packet.type) {
    case PacketType.PUBACK:
      if (entry === undefined || entry.qos !== 1) return;
      break;
    case PacketType.PUBREC:
      if (entry === undefined || entry.qos !== 2) {
        // Unknown id: answered so the client can finish (v5 with 0x92 Packet Identifier not found).
        const reasonCode = ctx.state.level === 5 ? Reason.PacketIdentifierNotFound : 0;
        batch.afterCommit(() =>
          ctx.sendAck({ type: PacketType.PUBREL, packetId: packet.packetId, reasonCode })
        );
        return;
      }
      if (packet.reasonCode < 0x80) {
        // [MQTT-4.3.3-3] after PUBREC the sender sends PUBREL and keeps the id until PUBCOMP.
        entry.phase = "pubrel";
        if (broker.persistMessages && session.persistent) {
          batch.persist({ kind: "putOutbound", clientId: session.clientId, entry });
        }
        batch.afterCommit(() =>
          ctx.sendAck({ type: PacketType.PUBREL, packetId: packet.packetId, reasonCode: 0 })
        );
        return;
      }
      // A failing PUBREC ends the flow: the message is not delivered and the id is free.
      break;
    case PacketType.PUBCOMP:
      if (entry === undefined || entry.phase !== "pubrel") return;
      break;
  }
  forgetInflight(broker, session, entry!, batch);
  if (broker.hooks.onAck.length > 0) {
    broker.hooks.notify("onAck", (h) => h.onAck!(session.clientId, packet.packetId));
  }
  pump(broker, session, batch);
}

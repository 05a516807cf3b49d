/**
 * In-process subscriptions for embedders: `broker.subscribe(filter)` returns a
 * ReadableStream (also an async iterable) of the messages that match, fed by
 * the same router as network clients.
 *
 * Delivery is at QoS 0 into a bounded queue: when the reader falls more than
 * `bufferSize` messages behind, further messages are dropped for this
 * subscription and counted as `slow_consumer`, so a stalled reader can never
 * grow the broker's memory or slow down publishers.
 *
 * @module
 */
import { decodePacket, type EncodedPublish } from "../protocol/codec.ts";
import { frameOf } from "../protocol/frame_stream.ts";
import type { Properties, PublishPacket, QoS } from "../protocol/packet.ts";
import { parseSharedFilter, validateTopicFilter } from "../protocol/topic.ts";
import type { Socket } from "../transport/socket.ts";
import type { BrokerContext } from "./context.ts";
import { Session, type SessionLink, type Subscription } from "./session.ts";

/**
 * A message delivered to an in-process subscriber ({@link Broker.subscribe}).
 *
 * @example
 * ```ts
 * import { Broker, type ReceivedMessage } from "../mod.ts";
 * const broker = new Broker();
 * const reader = broker.subscribe("t").getReader();
 * await broker.publish({ topic: "t", payload: "x" });
 * const message: ReceivedMessage = (await reader.read()).value!;
 * console.log(message.topic, message.qos);
 * await broker.close();
 * ```
 */
export interface ReceivedMessage {
  /** The topic name it was published to. */
  topic: string;
  /** The payload, the subscriber's own. */
  payload: Uint8Array;
  /** Always 0: in-process delivery is at most once. */
  qos: QoS;
  /** Set for a retained message sent on subscribing, or one published retained. */
  retain: boolean;
  /** MQTT 5 properties the publisher sent. */
  properties?: Properties;
}

/**
 * Options of an in-process subscription ({@link Broker.subscribe}).
 *
 * @example
 * ```ts
 * import { Broker, type LocalSubscribeOptions } from "../mod.ts";
 * const options: LocalSubscribeOptions = { bufferSize: 100, retained: true };
 * const broker = new Broker();
 * const messages = broker.subscribe("status/#", options);
 * await messages.cancel();
 * await broker.close();
 * ```
 */
export interface LocalSubscribeOptions {
  /** Messages held for a slow reader before new ones are dropped (default 1000). */
  bufferSize?: number;
  /** Also deliver the retained messages that match, first. */
  retained?: boolean;
}

let counter = 0;

/** Reads back the PUBLISH the router encoded: the head and the payload form one frame. */
function decodeDelivery({ head, headLength, payload }: EncodedPublish): PublishPacket {
  let offset = 1;
  while (head[offset] & 0x80) offset++;
  const body = new Uint8Array(headLength - offset - 1 + payload.length);
  body.set(head.subarray(offset + 1, headLength), 0);
  body.set(payload, headLength - offset - 1);
  return decodePacket(frameOf(head[0], body), 5) as PublishPacket;
}

/** Subscribes in-process. The stream ends when cancelled; cancelling unsubscribes. */
export function subscribeLocal(
  broker: BrokerContext,
  filter: string,
  options: LocalSubscribeOptions = {},
): ReadableStream<ReceivedMessage> {
  validateTopicFilter(filter);
  const shared = parseSharedFilter(filter);
  const inner = shared?.filter ?? filter;
  const bufferSize = options.bufferSize ?? 1000;
  // U+0000 can never appear in a client id on the wire [MQTT-1.5.4-2], so this id cannot collide.
  const session = new Session(`\u0000local:${++counter}`, 5, 0);
  // The embedder's own subscriber: no ACL applies to it.
  session.trusted = true;
  let controller!: ReadableStreamDefaultController<ReceivedMessage>;
  const socket: Socket = {
    remoteAddress: "local",
    listener: "local",
    frames: { next: () => Promise.resolve(null) }, // nothing is ever read from an in-process subscriber
    write() {},
    writePublish(encoded) {
      const p = decodeDelivery(encoded);
      controller.enqueue({
        topic: p.topic,
        payload: p.payload,
        qos: p.qos,
        retain: p.retain,
        properties: p.properties,
      });
    },
    // Full queue: report an overflowing buffer so the router drops and counts instead of queueing.
    get bufferedBytes() {
      return (controller.desiredSize ?? 0) <= 0 ? Number.MAX_SAFE_INTEGER : 0;
    },
    close() {},
    closed: new Promise(() => {}),
  };
  const link: SessionLink = {
    level: 5,
    socket,
    maxPacketSize: Number.MAX_SAFE_INTEGER,
    sendWindow: 65535,
    aliases: null,
    takeOver() {},
  };
  session.link = link;
  const sub: Subscription = {
    filter,
    qos: 0,
    noLocal: false,
    retainAsPublished: true,
    retainHandling: 0,
    session,
  };
  if (shared !== null) sub.group = shared.group;
  return new ReadableStream<ReceivedMessage>({
    start(c) {
      controller = c;
      if (options.retained && shared === null) {
        for (const m of broker.retained.match(inner)) {
          c.enqueue({ topic: m.topic, payload: m.payload, qos: 0, retain: true, properties: m.properties });
        }
      }
      broker.tree.subscribe(inner, session.clientId, sub, shared?.group);
    },
    cancel() {
      broker.tree.unsubscribe(inner, session.clientId, shared?.group);
      session.link = null;
    },
  }, new CountQueuingStrategy({ highWaterMark: bufferSize }));
}

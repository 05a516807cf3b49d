/**
 * Routes one application message to every matching subscription: merges
 * overlapping subscriptions of one client, applies the subscription options,
 * picks one member per shared-subscription group, and encodes each distinct
 * outbound PUBLISH once for all the subscribers that receive the same bytes.
 *
 * @module
 */
import type { EncodedPublish } from "../protocol/codec.ts";
import type { QoS } from "../protocol/packet.ts";
import { PublishHead, SHARED_PAYLOAD_MIN } from "../protocol/publish.ts";
import { isSystemTopic } from "../protocol/topic.ts";
import type { StoredMessage } from "../persistence/store.ts";
import type { CommitBatch } from "./commit_batch.ts";
import {
  type DeliveryContext,
  deliveryPacket,
  doneWith,
  dropped,
  encodeForLink,
  outboundPublish,
  placeEntry,
  sendEntry,
  writePublish,
} from "./delivery.ts";
import type { SharedStrategy } from "./options.ts";
import type { Session, SessionLink, Subscription } from "./session.ts";
import type { SharedGroupMatch, TopicTree } from "./topic_tree.ts";

/**
 * What handing a message to a session needs: one subscription as it is, several of one client
 * merged, or a retained message's delivery on SUBSCRIBE. Passed whole, so that a delivery costs
 * no allocation and no positional flags.
 */
export interface Delivery {
  readonly session: Session;
  /** The granted QoS: the message goes at the lower of this and its own. */
  readonly qos: QoS;
  /** Keep the message's RETAIN flag; otherwise it is cleared. */
  readonly retainAsPublished: boolean;
}

/** A retained message sent on SUBSCRIBE: always with RETAIN set [MQTT-3.3.1-8], with the subscription's id. */
export interface RetainedDelivery extends Delivery {
  readonly retainAsPublished: true;
  readonly subscriptionIds: number[] | undefined;
}

/**
 * Whether the message's payload belongs to it ("owned"), or is a view into a read buffer
 * ("view"), copied once, only if some delivery must outlive the routing call.
 */
export type PayloadHolding = "owned" | "view";

/** One delivery decision: the options merged over a client's matching subscriptions. */
interface Merged extends Delivery {
  qos: QoS;
  retainAsPublished: boolean;
  noLocal: boolean;
  ids: number[] | undefined;
}

export class Router {
  readonly #ctx: DeliveryContext;
  readonly #tree: TopicTree<Subscription>;
  readonly #strategy: SharedStrategy;
  readonly #groupCursor = new Map<string, number>();
  /**
   * Encodings of the message being routed, by (level, qos, retain), for sends that wait for a
   * commit: each its own bytes. Reset per message.
   */
  readonly #variants: (EncodedPublish | undefined)[] = new Array(18).fill(undefined);
  /**
   * The same for sends made during route(), which are written (copied) at once: the heads
   * below, encoded again for each message instead of allocated. Reset per message.
   */
  readonly #written: (PublishHead | undefined)[] = new Array(18).fill(undefined);
  readonly #heads: PublishHead[] = Array.from({ length: 18 }, () => new PublishHead());
  #stamp = 0;
  // State of the message being routed (route() is synchronous and not re-entrant).
  #message!: StoredMessage;
  #retainCleared: StoredMessage | undefined;
  #transient = false;
  #deferring = false;
  /** Whether read access is checked per delivery (an authorizer with authorizeDelivery). */
  #checking = false;
  #origin: string | undefined;
  #batch!: CommitBatch;
  /**
   * In a cluster, share groups span nodes and NATS queue groups pick the node: route()
   * then serves only non-shared subscriptions and routeGroup() serves one group. QoS 1/2
   * messages reach this node's subscribers from the cluster's stream, in the stream's order
   * like on every other node (routeHere()): route() leaves them alone.
   */
  clustered = false;

  constructor(ctx: DeliveryContext, tree: TopicTree<Subscription>, strategy: SharedStrategy) {
    this.#ctx = ctx;
    this.#tree = tree;
    this.#strategy = strategy;
  }

  /**
   * Delivers `message` to all matching subscriptions (see {@link PayloadHolding} for `payload`).
   * Returns the number of sessions whose subscriptions matched (No Local excluded), whether
   * or not each could take the message now: an offline session that does not queue QoS 0,
   * or whose queue is full, is still a matching subscriber (PUBACK 0x10 says there is none).
   */
  route(message: StoredMessage, batch: CommitBatch, payload: PayloadHolding = "owned"): number {
    // "$" topics ($SYS) are never forwarded to a cluster: they are routed where they arise.
    if (this.clustered && message.qos > 0 && !isSystemTopic(message.topic)) return 0;
    return this.routeHere(message, batch, payload);
  }

  /** {@link route} without the cluster's detour: every matching subscription on this node. */
  routeHere(message: StoredMessage, batch: CommitBatch, payload: PayloadHolding = "owned"): number {
    const match = this.#tree.match(message.topic);
    const subscribers = match.subscribers;
    const shared = this.clustered ? [] : match.shared;
    if (subscribers.length === 0 && shared.length === 0) return 0;
    this.#begin(message, batch, payload);
    const stamp = ++this.#stamp;
    let overlapping = false;
    for (let i = 0; i < subscribers.length; i++) {
      const session = subscribers[i][1].session;
      if (session.routeStamp === stamp) {
        overlapping = true;
        break;
      }
      session.routeStamp = stamp;
    }
    let count = 0;
    if (!overlapping) {
      for (let i = 0; i < subscribers.length; i++) {
        const sub = subscribers[i][1];
        if (this.#excluded(sub)) continue;
        this.#handOver(sub, sub.subscriptionId === undefined ? undefined : [sub.subscriptionId]);
        count++;
      }
    } else {
      for (const m of mergeOverlapping(subscribers)) {
        if (this.#excluded(m)) continue;
        this.#handOver(m, m.ids);
        count++;
      }
    }
    // A shared subscription has no No Local (a 3.x bridge's implied one included): any member may get it.
    for (const group of shared) {
      const sub = this.#pickMember(group);
      if (sub === undefined) continue;
      this.#handOver(sub, sub.subscriptionId === undefined ? undefined : [sub.subscriptionId]);
      count++;
    }
    this.#end();
    return count;
  }

  /** Delivers `message` to one member of the share group `group` on `filter` (cluster mode). */
  routeGroup(message: StoredMessage, batch: CommitBatch, group: string, filter: string): number {
    const found = this.#tree.match(message.topic).shared.find((g) =>
      g.group === group && g.filter === filter
    );
    if (found === undefined) return 0;
    this.#begin(message, batch, "owned");
    const sub = this.#pickMember(found);
    if (sub !== undefined) {
      this.#handOver(sub, sub.subscriptionId === undefined ? undefined : [sub.subscriptionId]);
    }
    this.#end();
    return sub === undefined ? 0 : 1;
  }

  /** Delivers a retained message to the session of a new subscription (see {@link RetainedDelivery}). */
  deliverRetained(message: StoredMessage, batch: CommitBatch, to: RetainedDelivery): void {
    this.#begin(message, batch, "owned");
    this.#handOver(to, to.subscriptionIds);
    this.#end();
  }

  #begin(message: StoredMessage, batch: CommitBatch, payload: PayloadHolding): void {
    const transient = payload === "view";
    this.#message = message;
    this.#retainCleared = undefined;
    this.#transient = transient;
    this.#batch = batch;
    this.#deferring = batch.deferring;
    this.#origin = message.origin;
    this.#checking = this.#ctx.access.active;
    // A loop, not fill(): Array.prototype.fill allocated about 300 bytes per call here.
    const variants = this.#variants;
    const written = this.#written;
    for (let i = 0; i < variants.length; i++) {
      variants[i] = undefined;
      written[i] = undefined;
    }
    // Deferred sends run after this call returns: they need bytes that stay valid.
    if (transient && this.#deferring) this.#own();
  }

  #own(): StoredMessage {
    if (this.#transient) {
      this.#message = { ...this.#message, payload: this.#message.payload.slice() };
      this.#transient = false;
    }
    return this.#message;
  }

  /** The message with the RETAIN flag the subscriber must see, owned. */
  #messageFor(retain: boolean): StoredMessage {
    const message = this.#own();
    if (message.retain === retain) return message;
    return this.#retainCleared ??= { ...message, retain };
  }

  /** After a message: the reused heads let go of its payload. */
  #end(): void {
    this.#message = undefined as unknown as StoredMessage;
    const written = this.#written;
    for (let i = 0; i < written.length; i++) written[i]?.release();
  }

  /**
   * The message's PUBLISH for `link`, shared by every subscriber that gets the same bytes.
   * `kept`: for a send that waits for a commit, bytes of their own; otherwise a reused head,
   * valid until the next message.
   */
  #encoded(
    link: SessionLink,
    qos: QoS,
    retain: boolean,
    ids: number[] | undefined,
    kept: boolean,
  ): EncodedPublish {
    const message = this.#message;
    // The clock only for a message that expires (its remaining interval is encoded).
    const now = message.expiresAt === undefined ? 0 : this.#ctx.clock.now();
    const uncached = ids !== undefined || (link.aliases !== null && link.level === 5);
    if (uncached) return encodeForLink(link, message, outboundPublish(message, qos, retain, ids, now));
    const slot = (link.level - 3) * 6 + qos * 2 + (retain ? 1 : 0);
    if (kept) {
      return this.#variants[slot] ??= encodeForLink(
        link,
        message,
        outboundPublish(message, qos, retain, ids, now),
      );
    }
    let written = this.#written[slot];
    if (written === undefined) {
      const packet = deliveryPacket(message, qos, retain, ids, now);
      written = this.#written[slot] = this.#heads[slot];
      encodeForLink(link, message, packet, written);
      doneWith(packet);
    }
    return written;
  }

  /** [MQTT-3.8.3-3] No Local: never back to the publishing client (the subscription does not match). */
  #excluded(sub: { readonly noLocal: boolean; readonly session: Session }): boolean {
    return sub.noLocal && this.#origin === sub.session.clientId;
  }

  /** Writes, queues or (QoS 0 to a slow or offline client) drops the message for one session. */
  #handOver(to: Delivery, ids: number[] | undefined): void {
    const session = to.session;
    const granted = to.qos;
    const message = this.#message;
    // Read access is decided per message (a subscription filter may span denied topics); a session
    // whose user is not known yet (undefined) keeps the message, checked again before it is sent.
    if (this.#checking && this.#ctx.access.allows(session, message.topic) === false) return;
    // [MQTT-3.8.4-8] delivered at the lower of the published QoS and the granted QoS.
    const qos = (message.qos < granted ? message.qos : granted) as QoS;
    // [MQTT-3.3.1-12] [MQTT-3.3.1-13] RETAIN is kept only for Retain As Published subscriptions.
    const retain = to.retainAsPublished ? message.retain : false;
    const link = session.link;
    const ctx = this.#ctx;
    if (qos === 0 && link !== null) {
      if (link.socket.bufferedBytes > ctx.limits.maxOutboundBuffer) {
        dropped(ctx, session.clientId, message.topic, "slow_consumer");
        return;
      }
      if (this.#deferring) {
        const encoded = this.#encoded(link, 0, retain, ids, true);
        this.#batch.afterCommit(() => {
          if (session.link === link) writePublish(ctx, link, encoded, 0);
        });
      } else {
        // A large payload is written by reference (SHARED_PAYLOAD_MIN): a view into the read
        // buffer would be overwritten by the next read, so it is copied, once per message.
        if (this.#transient && message.payload.length >= SHARED_PAYLOAD_MIN) this.#own();
        writePublish(ctx, link, this.#encoded(link, 0, retain, ids, false), 0);
      }
      return;
    }
    if (qos === 0 && !(session.persistent && ctx.limits.queueQos0)) {
      dropped(ctx, session.clientId, message.topic, "offline_qos0");
      return;
    }
    const entry = session.newEntry(this.#messageFor(retain), qos, ids);
    const batch = this.#batch;
    if (placeEntry(ctx, session, entry, batch) !== "send") return;
    // In the window: sent now, or after the commit (placing it may have made the batch wait).
    const online = link!;
    if (batch.deferring) {
      const encoded = this.#encoded(online, qos, retain, ids, true);
      batch.afterCommit(() => sendEntry(ctx, session, online, entry, encoded));
    } else {
      sendEntry(ctx, session, online, entry, this.#encoded(online, qos, retain, ids, false));
    }
  }

  /**
   * One member of a share group, by the configured strategy, preferring connected members;
   * with read checks, only a member that may read the message (the group loses it only when
   * none may).
   */
  #pickMember(group: SharedGroupMatch<Subscription>): Subscription | undefined {
    const members = group.members;
    const n = members.length;
    if (n === 0) return undefined;
    const sticky = this.#strategy === "sticky";
    const start = sticky
      ? hashString(this.#origin ?? "") % n
      : this.#strategy === "random"
      ? Math.floor(Math.random() * n)
      : this.#nextCursor(`${group.group}\u0000${group.filter}`, n);
    let fallback: Subscription | undefined;
    for (let i = 0; i < n; i++) {
      const sub = members[(start + i) % n][1];
      if (this.#checking && this.#ctx.access.allows(sub.session, this.#message.topic) === false) continue;
      if (sticky || sub.session.online) return sub;
      fallback ??= sub;
    }
    // Nobody is connected: the chosen member's session queues it (QoS 1/2).
    return fallback;
  }

  #nextCursor(key: string, n: number): number {
    const cursor = this.#groupCursor.get(key) ?? 0;
    this.#groupCursor.set(key, (cursor + 1) % n);
    return cursor % n;
  }
}

/**
 * A client with several matching subscriptions gets the message once: at the
 * highest granted QoS, with every subscription identifier [MQTT-3.3.4-2] [MQTT-3.3.4-3].
 */
function mergeOverlapping(subscribers: ReadonlyArray<readonly [string, Subscription]>): Merged[] {
  const bySession = new Map<Session, Merged>();
  for (const [, sub] of subscribers) {
    const found = bySession.get(sub.session);
    if (found === undefined) {
      bySession.set(sub.session, {
        session: sub.session,
        qos: sub.qos,
        retainAsPublished: sub.retainAsPublished,
        noLocal: sub.noLocal,
        ids: sub.subscriptionId === undefined ? undefined : [sub.subscriptionId],
      });
      continue;
    }
    if (sub.qos > found.qos) found.qos = sub.qos;
    found.retainAsPublished ||= sub.retainAsPublished;
    // Delivered unless every matching subscription asked for No Local.
    found.noLocal &&= sub.noLocal;
    if (sub.subscriptionId !== undefined) (found.ids ??= []).push(sub.subscriptionId);
  }
  return [...bySession.values()];
}

/** FNV-1a: a cheap stable hash for sticky share-group assignment. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

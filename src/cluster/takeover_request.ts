/**
 * The takeover request between node instances, on `mqtt.cluster.takeover.<instance>`: the
 * client id whose session the asking node wants, and the identity that connects with it, in
 * the `Mqtt-Identity` header. A session belongs to a user (src/broker/session_owner.ts): with
 * the identity, the node holding the session can refuse to let go of another user's session
 * before it closes anything. A node of an older version sends no header and ignores it: it
 * is answered, and answers, as before. An empty request is a liveness ping.
 *
 * @module
 */
import { headers, type MsgHdrs, type NatsConnection, type Subscription } from "nats";
import { escapeLevel } from "./subject_mapping.ts";

export const takeoverSubject = (instance: string) => `mqtt.cluster.takeover.${escapeLevel(instance)}`;

/** Header of a takeover request: the identity that connects, as JSON (a user name or null), URI-encoded. */
export const IDENTITY_HEADER = "Mqtt-Identity";

/** A session let go at stream position `cursor`; `held`: the owner had it (else nothing can be missing). */
export interface Released {
  held: boolean;
  cursor: number;
}

/** The answer to a takeover request: the session stays another user's, or it was let go. */
export type TakeoverReply = { refused: true } | Released;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The headers of a takeover request on behalf of `identity` (a user name, or null when anonymous). */
export function identityHeader(identity: string | null): MsgHdrs {
  const h = headers();
  h.set(IDENTITY_HEADER, encodeURIComponent(JSON.stringify(identity)));
  return h;
}

/** The identity a takeover request names; undefined when it names none (a node of an older version). */
export function requestIdentity(h: MsgHdrs | undefined): string | null | undefined {
  const raw = h?.get(IDENTITY_HEADER);
  if (!raw) return undefined;
  try {
    const value = JSON.parse(decodeURIComponent(raw));
    return typeof value === "string" ? value : null;
  } catch {
    return undefined; // unreadable: answered as a node of an older version would be
  }
}

/**
 * Asks `instance` to let go of `clientId`'s session on behalf of `identity`. Undefined when
 * it does not answer within `timeoutMs` (or nobody listens): that instance is gone.
 */
export async function askToLetGo(
  nc: NatsConnection,
  target: { instance: string; clientId: string },
  options: { identity: string | null; timeoutMs: number },
): Promise<TakeoverReply | undefined> {
  try {
    const reply = await nc.request(takeoverSubject(target.instance), encoder.encode(target.clientId), {
      timeout: options.timeoutMs,
      headers: identityHeader(options.identity),
    });
    const answer = JSON.parse(decoder.decode(reply.data)) as Partial<{ refused: true } & Released>;
    if (answer.refused === true) return { refused: true };
    return { held: answer.held === true, cursor: answer.cursor ?? 0 };
  } catch {
    return undefined;
  }
}

/** How a node answers the takeover requests addressed to it. */
export interface TakeoverAnswering {
  instance: string;
  /** The reply to a request; one that fails gets none (the asking node then treats this one as gone). */
  letGo(clientId: string, identity: string | null | undefined): Promise<TakeoverReply>;
  onError(clientId: string, err: unknown): void;
}

/** Answers the takeover requests addressed to `o.instance`, and liveness pings. */
export function answerTakeovers(nc: NatsConnection, o: TakeoverAnswering): Subscription {
  return nc.subscribe(takeoverSubject(o.instance), {
    callback: async (err, msg) => {
      if (err) return;
      if (msg.data.length === 0) return void msg.respond(encoder.encode("{}"));
      const clientId = decoder.decode(msg.data);
      try {
        msg.respond(encoder.encode(JSON.stringify(await o.letGo(clientId, requestIdentity(msg.headers)))));
      } catch (err) {
        o.onError(clientId, err);
      }
    },
  });
}

/** Whether `instance` answers a liveness ping (asked a few times: it may be reconnecting to NATS). */
export async function answersPing(nc: NatsConnection, instance: string): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await nc.request(takeoverSubject(instance), new Uint8Array(0), { timeout: 1000 });
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return false;
}

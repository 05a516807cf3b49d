/**
 * MQTT over a `WebSocket` object: the bridge's client side, and fetch handlers
 * on hosts that own the HTTP server (serverless) via Deno.upgradeWebSocket. The
 * broker negotiates the subprotocol itself: it parses the offered list (commas
 * with or without spaces) and answers `mqtt` (or `mqttv3.1` for old clients).
 * Binary messages go through the same framer as TCP; a packet may span messages
 * and a message may hold several packets. The ws and wss listeners speak
 * WebSocket themselves: see websocket_listener.ts.
 *
 * @module
 */
import { malformed } from "../protocol/errors.ts";
import { BatchWriter } from "./batch_writer.ts";
import type { FrameSplitterOptions } from "../protocol/frame_stream.ts";
import { chooseSubprotocol } from "./http_upgrade.ts";
import { PushedFrames } from "./pushed_frames.ts";
import type { Socket } from "./socket.ts";
import { writerSocket } from "./writer_socket.ts";

/** Wraps an upgraded WebSocket as a Socket. */
export function webSocketSocket(
  ws: WebSocket,
  listener: string,
  remoteAddress: string,
  framing?: FrameSplitterOptions,
): Socket {
  ws.binaryType = "arraybuffer";
  const source = new PushedFrames(framing);
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => resolveClosed = r);
  ws.onmessage = (event) => {
    if (typeof event.data === "string") {
      // [MQTT-6.0.0-1] MQTT travels in binary frames only: a text frame closes the connection.
      source.end(malformed("text WebSocket frame"));
      return;
    }
    // Each message is a fresh buffer, so frame views stay valid however long they wait.
    source.push(new Uint8Array(event.data as ArrayBuffer));
  };
  ws.onclose = () => {
    source.end();
    resolveClosed();
  };
  ws.onerror = () => source.end();
  const writer = new BatchWriter((bytes) => {
    if (ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error("WebSocket closed"));
    // One binary message per flush; it may carry several MQTT packets.
    ws.send(bytes.slice());
    return Promise.resolve(bytes.length);
  }, {
    onClose: () => {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close();
    },
  });
  return writerSocket(writer, {
    remoteAddress,
    listener,
    frames: source,
    closed,
    transportBuffered: () => ws.bufferedAmount,
  });
}

/** Where and how {@link upgradeToMqtt} accepts a request. */
export interface UpgradeOptions {
  /** The only HTTP path that upgrades; others get 404. */
  path: string;
  /** Listener name given to the sockets. */
  name: string;
  /** "host:port" of the peer, read before the upgrade takes the connection over. */
  remoteAddress: string;
  framing?: FrameSplitterOptions;
}

/**
 * Answers one HTTP request: upgrades it to MQTT over WebSocket and hands the socket
 * to `onSocket`, or explains with a 4xx why not: for fetch handlers on hosts that own
 * the HTTP server (serverless).
 */
export function upgradeToMqtt(
  req: Request,
  options: UpgradeOptions,
  onSocket: (socket: Socket) => void,
): Response {
  const url = new URL(req.url);
  if (url.pathname !== options.path) return new Response("not found", { status: 404 });
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new Response("this endpoint speaks MQTT over WebSocket", {
      status: 426,
      headers: { upgrade: "websocket" },
    });
  }
  const protocol = chooseSubprotocol(req.headers.get("sec-websocket-protocol"));
  if (protocol === null) return new Response("offer the mqtt WebSocket subprotocol", { status: 400 });
  // Deno.upgradeWebSocket's own `protocol` check splits the offered list on ", " only and
  // refuses "mqttv3.1,mqtt": upgrade without it and answer the header ourselves.
  const { socket, response } = Deno.upgradeWebSocket(req);
  response.headers.set("sec-websocket-protocol", protocol);
  onSocket(webSocketSocket(socket, options.name, options.remoteAddress, options.framing));
  return response;
}

export { chooseSubprotocol };

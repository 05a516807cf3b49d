/**
 * The MQTT Socket over a connection that has been upgraded to WebSocket by the
 * broker's own listener: client frames are decoded as they arrive and their
 * payload framed as MQTT; what the engine writes goes out as one binary message
 * per flush (it may carry several MQTT packets [MQTT-6.0.0-2]).
 *
 * @module
 */
import { malformed } from "../protocol/errors.ts";
import type { FrameSplitterOptions } from "../protocol/frame_stream.ts";
import { BatchWriter } from "./batch_writer.ts";
import type { ByteChannel, ChannelHandler } from "./byte_channel.ts";
import { PushedFrames } from "./pushed_frames.ts";
import type { Socket } from "./socket.ts";
import {
  CloseCode,
  closeFrame,
  controlFrame,
  FrameDecoder,
  frameHeader,
  Opcode,
  WebSocketError,
} from "./websocket_frames.ts";
import { writerSocket } from "./writer_socket.ts";

export interface UpgradedSocketOptions {
  listener: string;
  remoteAddress: string;
  /** Packet size limits and the broker's receive budget, shared by every connection's framer. */
  framing?: FrameSplitterOptions;
  /** The verified client certificate's CN (wss with ca_file). */
  identity?: string;
  /** Bytes that arrived after the HTTP request head (the client's first frames). */
  initial?: Uint8Array;
}

/** Messages up to this size go out as one write of header and payload together. */
const COPY_LIMIT = 64 * 1024;

/** Wraps an upgraded channel as a Socket. */
export function upgradedSocket(channel: ByteChannel, options: UpgradedSocketOptions): Socket {
  const source = new PushedFrames(options.framing, () => channel.resume());
  // However the connection ends, a packet it cut off gives its bytes back to the budget
  // (an ended channel tells its handler nothing more).
  channel.closed.then(() => source.end());
  const decoder = new FrameDecoder();
  let closing = false;
  let wrote = false;
  /**
   * Sends a close frame (at most once) and ends the connection after it: with a lingering
   * close once the engine wrote to this client (its last packet must reach a client that is
   * still sending, see lingering_close.ts), at once otherwise, as on tcp: nothing is lost,
   * and a client streaming a huge declared CONNECT is cut off rather than drained.
   */
  const closeWith = (code: number) => {
    if (closing) return;
    closing = true;
    const sent = channel.write(closeFrame(code));
    if (wrote) {
      sent.catch(() => {});
      channel.end();
    } else sent.then(() => channel.destroy(), () => channel.destroy());
  };
  const handler: ChannelHandler = {
    data(chunk) {
      try {
        for (const event of decoder.push(chunk)) {
          switch (event.kind) {
            case "data":
              // A malformed packet ends the source with its error; the engine then closes.
              if (!source.push(event.bytes)) return channel.pause();
              break;
            case "text":
              // [MQTT-6.0.0-1] MQTT travels in binary frames only: a text frame closes the connection.
              source.end(malformed("text WebSocket frame"));
              return;
            case "ping":
              channel.write(controlFrame(Opcode.Pong, event.payload)).catch(() => {});
              break;
            case "pong":
              break;
            case "close":
              source.end();
              return closeWith(event.code === 1005 ? CloseCode.Normal : event.code);
          }
        }
      } catch (err) {
        source.end(malformed(`WebSocket framing: ${(err as Error).message}`));
        return closeWith(err instanceof WebSocketError ? err.closeCode : CloseCode.ProtocolError);
      }
      if (!source.wantsMore) channel.pause();
    },
    end: () => source.end(),
  };
  channel.receive(handler);
  // Frames that came with the request head go first.
  if (options.initial && options.initial.length > 0) handler.data(options.initial);
  const writer = new BatchWriter((bytes) => {
    if (closing) return Promise.reject(new Error("WebSocket closing"));
    wrote = true;
    const header = frameHeader(Opcode.Binary, bytes.length);
    let write: Promise<void>;
    if (bytes.length <= COPY_LIMIT) {
      const frame = new Uint8Array(header.length + bytes.length);
      frame.set(header);
      frame.set(bytes, header.length);
      write = channel.write(frame);
    } else {
      // The writer reuses `bytes` once this resolves, and channel.write finishes with it first.
      write = channel.write(header, bytes);
    }
    return write.then(() => bytes.length);
  }, { onClose: () => closeWith(CloseCode.Normal) });
  return writerSocket(writer, {
    remoteAddress: options.remoteAddress,
    listener: options.listener,
    frames: source,
    closed: channel.closed,
    identity: options.identity,
    transportBuffered: () => channel.buffered,
  });
}

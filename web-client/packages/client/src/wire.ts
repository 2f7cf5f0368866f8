/**
 * Envelope encode/decode: one tickwire.v1.ClientMessage or ServerMessage per
 * binary WebSocket frame (proto/tickwire/v1/tickwire.proto).
 */
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  ClientMessageSchema,
  ServerMessageSchema,
  type ServerMessage,
} from "./gen/tickwire/v1/tickwire_pb.js";
import { DecodeError } from "./errors.js";

/** A ClientMessage in the shape `create` accepts. */
export type ClientMessageInit = MessageInitShape<typeof ClientMessageSchema>;

/** encodeClient encodes one client envelope into frame bytes. */
export function encodeClient(msg: ClientMessageInit): Uint8Array {
  return toBinary(ClientMessageSchema, create(ClientMessageSchema, msg));
}

/**
 * decodeServer decodes one server frame. It throws {@link DecodeError} for
 * bytes that are not a ServerMessage or that carry no message (empty oneof).
 */
export function decodeServer(frame: Uint8Array): ServerMessage {
  let msg: ServerMessage;
  try {
    msg = fromBinary(ServerMessageSchema, frame);
  } catch (e) {
    throw new DecodeError(e instanceof Error ? e.message : String(e), { cause: e });
  }
  if (msg.kind.case === undefined) throw new DecodeError("empty envelope (no kind)");
  return msg;
}

/**
 * The server side of the envelope, for tests and fake servers (not part of
 * the package's API).
 */
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  ClientMessageSchema,
  ServerMessageSchema,
  type ClientMessage,
} from "../src/gen/tickwire/v1/tickwire_pb.js";
import { DecodeError } from "../src/errors.js";

/** encodeServer encodes a server envelope (tests and fake servers). */
export function encodeServer(msg: MessageInitShape<typeof ServerMessageSchema>): Uint8Array {
  return toBinary(ServerMessageSchema, create(ServerMessageSchema, msg));
}

/** decodeClient decodes a client frame (tests and fake servers). */
export function decodeClient(frame: Uint8Array): ClientMessage {
  let msg: ClientMessage;
  try {
    msg = fromBinary(ClientMessageSchema, frame);
  } catch (e) {
    throw new DecodeError(e instanceof Error ? e.message : String(e), { cause: e });
  }
  if (msg.kind.case === undefined) throw new DecodeError("empty envelope (no kind)");
  return msg;
}

import { test } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { ClientMessageSchema, ProtocolVersion, ServerMessageSchema } from "../src/gen/tickwire/v1/tickwire_pb.js";
import { DecodeError } from "../src/index.js";
import { decodeServer, encodeClient } from "../src/wire.js";
import { decodeClient, encodeServer } from "./wire-helpers.js";

test("client envelope round trip", () => {
  const cases = [
    { requestId: 1, kind: { case: "hello" as const, value: { protocolVersion: ProtocolVersion.PROTOCOL_VERSION_1, name: "ada", client: "tickwire-web/0.1" } } },
    { requestId: 2, kind: { case: "join" as const, value: { roomType: "arena", options: new Uint8Array([10, 3, 97, 100, 97]) } } },
    { kind: { case: "input" as const, value: { seq: 4294967295, ackTick: 77, payload: new Uint8Array([8, 1]) } } },
    { kind: { case: "ping" as const, value: { clientTimeMs: 1234.5, rttMs: 42, interpDelayMs: 100 } } },
    { kind: { case: "ack" as const, value: { tick: 0 } } },
  ];
  for (const c of cases) {
    const bytes = encodeClient(c);
    const back = decodeClient(bytes);
    assert.deepEqual(toBinary(ClientMessageSchema, back), bytes);
    assert.equal(back.kind.case, c.kind.case);
    assert.equal(back.requestId, c.requestId ?? 0);
  }
});

test("server envelope round trip", () => {
  const bytes = encodeServer({ requestId: 9, kind: { case: "state", value: { tick: 10, baselineTick: 9, lastInputSeq: 3, payload: new Uint8Array([0]) } } });
  const m = decodeServer(bytes);
  assert.equal(m.kind.case, "state");
  if (m.kind.case === "state") {
    assert.equal(m.kind.value.tick, 10);
    assert.equal(m.kind.value.baselineTick, 9);
    assert.equal(m.kind.value.lastInputSeq, 3);
  }
  assert.equal(m.requestId, 9);
});

test("decodeServer refuses garbage and empty envelopes", () => {
  const bad = [
    new Uint8Array([0xff, 0xff, 0xff]),
    new Uint8Array([0x0a, 0x05, 0x01]), // truncated length-delimited
    new Uint8Array([]), // empty: no kind
    toBinary(ServerMessageSchema, create(ServerMessageSchema, { requestId: 3 })),
  ];
  for (const b of bad) assert.throws(() => decodeServer(b), DecodeError);
});

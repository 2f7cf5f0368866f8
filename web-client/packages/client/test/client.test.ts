import { test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { JoinOptionsSchema, StateSchema, TaggedSchema, type State } from "../../../src/gen/arena/v1/arena_pb.js";
import { CloseCode, type ClientMessage } from "../src/gen/tickwire/v1/tickwire_pb.js";
import { TickwireClient, type ClientOptions, type DeepReadonly } from "../src/index.js";
import { encodeServer } from "./wire-helpers.js";
import { FakeSocket, fakeClient, quiet, welcome } from "./fake-socket.js";

async function connected(
  opts: { reconnect?: false; now?: () => number; dev?: boolean; logger?: ClientOptions["logger"] } = {},
) {
  const { c, sockets } = fakeClient({
    logger: opts.logger ?? quiet,
    dev: opts.dev ?? false,
    ...(opts.now ? { now: opts.now } : {}),
    reconnect: opts.reconnect === false ? false : { initialDelayMs: 1, jitter: 0 },
  });
  const ws = await welcome(c, sockets);
  const joined = c.joinOrCreate("arena");
  const join = ws.last();
  assert.equal(join.kind.case, "join");
  ws.deliver(encodeServer({ requestId: join.requestId, kind: { case: "joined", value: { roomId: "r1", playerId: 7, tick: 5, tickRate: 20, sendRate: 20 } } }));
  assert.equal((await joined).roomId, "r1");
  return { c, ws, sockets };
}

async function leave(c: TickwireClient<typeof StateSchema>, ws: FakeSocket): Promise<void> {
  const left = c.leave();
  const req = ws.last();
  assert.equal(req.kind.case, "leave");
  ws.deliver(encodeServer({ requestId: req.requestId, kind: { case: "left", value: { roomId: "r1" } } }));
  await left;
}

const full = toBinary(StateSchema, create(StateSchema, { players: { 7: { x: 100, y: 200, name: "ada" } }, it: 0 }));

test("client: full state, patch against an older baseline, missing baseline asks for a full state", async () => {
  const { c, ws } = await connected();
  const ticks: number[] = [];
  c.on("state", (e) => ticks.push(e.tick));
  ws.deliver(encodeServer({ kind: { case: "state", value: { tick: 10, baselineTick: 0, payload: full } } }));
  // Two patches against tick 10 (the baseline may be older than the newest state).
  ws.deliver(encodeServer({ kind: { case: "state", value: { tick: 11, baselineTick: 10, lastInputSeq: 0, payload: new Uint8Array([0x03, 0, 0, 1, 7, 0x0f, 2, 1]) } } }));
  ws.deliver(encodeServer({ kind: { case: "state", value: { tick: 12, baselineTick: 10, lastInputSeq: 0, payload: new Uint8Array([0x03, 0, 0, 1, 7, 0x0f, 4, 3]) } } }));
  assert.deepEqual(ticks, [10, 11, 12]);
  assert.equal(c.state!.players[7]!.x, 102);
  assert.equal(c.state!.players[7]!.y, 198);
  // Unknown baseline: dropped, Ack{0} sent.
  ws.deliver(encodeServer({ kind: { case: "state", value: { tick: 13, baselineTick: 3, payload: new Uint8Array([0]) } } }));
  assert.deepEqual(ticks, [10, 11, 12]);
  assert.equal(ws.last().kind.case, "ack");
  assert.equal(c.counters.missingBaselines, 1);
  // Inputs carry seq and the newest applied tick.
  assert.equal(c.sendInput(new Uint8Array([8, 1])), 1);
  const inp = ws.last();
  assert.ok(inp.kind.case === "input" && inp.kind.value.seq === 1 && inp.kind.value.ackTick === 12);
  c.close();
});

test("client: a frame that does not decode is counted and ignored", async () => {
  const { c, ws } = await connected();
  let errors = 0;
  c.on("error", () => errors++);
  ws.deliver(new Uint8Array([0xff, 0xff, 0xff]));
  ws.onmessage?.({ data: "text" });
  ws.deliver(encodeServer({ kind: { case: "state", value: { tick: 10, baselineTick: 0, payload: new Uint8Array([0xff]) } } }));
  assert.equal(c.counters.decodeErrors, 2);
  assert.equal(c.counters.patchErrors, 1);
  assert.ok(errors >= 2);
  assert.equal(c.connectionState, "open");
  c.close();
});

test("client: reconnects after a drop and rejoins the same room; not after 4004", async () => {
  const { c, ws, sockets } = await connected();
  const events: string[] = [];
  c.on("reconnecting", (r) => events.push(`reconnecting ${r.attempt}`));
  c.on("joined", (j) => events.push(`joined ${j.roomId}`));
  ws.drop(1006);
  await new Promise((r) => setTimeout(r, 20));
  const ws2 = sockets[1]!;
  assert.ok(ws2, "no reconnect attempt");
  ws2.open();
  const hello = ws2.sent[0]!;
  ws2.deliver(encodeServer({ requestId: hello.requestId, kind: { case: "welcome", value: { sessionId: "s2" } } }));
  const rejoin = ws2.last();
  assert.ok(rejoin.kind.case === "join" && rejoin.kind.value.roomId === "r1", "did not rejoin by room id");
  ws2.deliver(encodeServer({ requestId: rejoin.requestId, kind: { case: "joined", value: { roomId: "r1", playerId: 9, tickRate: 20 } } }));
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(events, ["reconnecting 1", "joined r1"]);
  ws2.drop(CloseCode.UNAUTHORIZED);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(sockets.length, 2, "reconnected after 4004");
  assert.equal(c.connectionState, "closed");
});

test("client: Pong.hold_ms is taken out of the round trip; a Pong without it is not a sample", async (t) => {
  let now = 0;
  const { c, ws } = await connected({ now: () => now });
  t.after(() => c.close()); // also on a failed assertion: the ping timers would keep the process alive
  const pongs: number[] = [];
  c.on("pong", (p) => pongs.push(p.rttMs));
  const pong = (value: { clientTimeMs: number; serverTimeMs: number; tick: number; holdMs?: number }) =>
    ws.deliver(encodeServer({ kind: { case: "pong", value } }));

  // No hold_ms: the server could not tell the hold, so no RTT or offset sample.
  now = 1060;
  pong({ clientTimeMs: 1000, serverTimeMs: 5_000_000, tick: 9 });
  assert.equal(c.clock.sampleCount, 0);
  assert.deepEqual(pongs, []);

  // Unusable holds: negative, NaN, infinite, absurd.
  for (const holdMs of [-1, NaN, Infinity, 60_000, 1e9]) pong({ clientTimeMs: 1000, serverTimeMs: 5_000_000, tick: 9, holdMs });
  assert.equal(c.clock.sampleCount, 0);
  assert.deepEqual(pongs, []);

  // Round trip 60 ms, of which the server held the Ping 40: RTT 20, and the
  // server's clock read 1_700_000_000_000 at local 1050 (sent 1000 + hold 40 + RTT/2).
  pong({ clientTimeMs: 1000, serverTimeMs: 1_700_000_001_050, tick: 9, holdMs: 40 });
  assert.equal(c.clock.sampleCount, 1);
  assert.equal(c.clock.rttMs, 20);
  assert.equal(c.clock.offsetMs, 1_700_000_000_000);
  assert.deepEqual(pongs, [20]);

  // holdMs 0 is a plain round trip; a later Pong without hold_ms changes nothing.
  now = 2030;
  pong({ clientTimeMs: 2000, serverTimeMs: 1_700_000_002_015, tick: 10, holdMs: 0 });
  assert.equal(c.clock.sampleCount, 2);
  assert.equal(c.clock.rttMs, 25);
  assert.equal(c.clock.offsetMs, 1_700_000_000_000);
  now = 3500;
  pong({ clientTimeMs: 3000, serverTimeMs: 0, tick: 11 });
  assert.equal(c.clock.sampleCount, 2);
  assert.equal(c.clock.rttMs, 25);
  assert.equal(c.clock.offsetMs, 1_700_000_000_000);
  assert.deepEqual(pongs, [20, 25]);
});

test("client: typed room messages are sent and dispatched by full type name", async (t) => {
  const debug: string[] = [];
  const { c, ws } = await connected({ logger: { ...quiet, debug: (m: string) => debug.push(m) } });
  t.after(() => c.close());
  // Send: the payload is the message encoded with its schema, named by typeName.
  assert.equal(c.send(TaggedSchema, { tagger: 7, target: 3, tick: 12 }), true);
  const out = ws.last();
  assert.ok(out.kind.case === "message");
  assert.equal(out.kind.value.typeName, "arena.v1.Tagged");
  assert.deepEqual(fromBinary(TaggedSchema, out.kind.value.payload).target, 3);

  // Receive: each listener of the type gets the decoded message and the sender.
  const got: string[] = [];
  const off = c.onMessage(TaggedSchema, (m, from) => got.push(`a ${m.tagger}>${m.target}@${m.tick} from ${from}`));
  c.onMessage(TaggedSchema, (m) => got.push(`b ${m.target}`));
  c.onMessage(JoinOptionsSchema, (m) => got.push(`name ${m.name}`));
  const msg = (typeName: string, payload: Uint8Array, fromPlayer = 0) =>
    ws.deliver(encodeServer({ kind: { case: "message", value: { typeName, payload, fromPlayer } } }));
  msg("arena.v1.Tagged", toBinary(TaggedSchema, create(TaggedSchema, { tagger: 1, target: 2, tick: 30 })));
  msg("arena.v1.JoinOptions", toBinary(JoinOptionsSchema, create(JoinOptionsSchema, { name: "bo" })), 4);
  assert.deepEqual(got, ["a 1>2@30 from 0", "b 2", "name bo"]);

  // Unknown type names are ignored, logged at debug level and counted.
  msg("arena.v1.Nope", new Uint8Array([8, 1]));
  msg("", new Uint8Array());
  assert.equal(c.counters.unknownMessages, 2);
  assert.equal(debug.length, 2);
  assert.match(debug[0]!, /arena\.v1\.Nope/);

  // A payload that does not decode as the named type: counted, "error", no listener call.
  let errors = 0;
  c.on("error", () => errors++);
  msg("arena.v1.Tagged", new Uint8Array([0xff, 0xff]));
  assert.equal(c.counters.decodeErrors, 1);
  assert.equal(errors, 1);

  // A listener that throws does not stop the others; removed listeners are not called.
  off();
  c.onMessage(TaggedSchema, () => {
    throw new Error("game bug");
  });
  got.length = 0;
  msg("arena.v1.Tagged", toBinary(TaggedSchema, create(TaggedSchema, { target: 5 })));
  assert.deepEqual(got, ["b 5"]);
  assert.equal(c.connectionState, "open");

  // Not in a room: nothing is sent.
  await leave(c, ws);
  const n = ws.sent.length;
  assert.equal(c.send(TaggedSchema, { target: 1 }), false);
  assert.equal(ws.sent.length, n);
  c.close();
});

test("client: states are deep-frozen with dev on, and not with it off", async (t) => {
  for (const dev of [true, false]) {
    const { c, ws } = await connected({ dev });
    t.after(() => c.close());
    const states: DeepReadonly<State>[] = [];
    c.on("state", (e) => states.push(e.state));
    ws.deliver(encodeServer({ kind: { case: "state", value: { tick: 10, baselineTick: 0, payload: full } } }));
    ws.deliver(encodeServer({ kind: { case: "state", value: { tick: 11, baselineTick: 10, payload: new Uint8Array([0x03, 0, 0, 1, 7, 0x0f, 2, 1]) } } }));
    assert.equal(states.length, 2);
    for (const s of states) {
      assert.equal(Object.isFrozen(s), dev);
      assert.equal(Object.isFrozen(s.players), dev);
      assert.equal(Object.isFrozen(s.players[7]), dev);
    }
    if (dev) {
      // ES modules are strict: a mutation throws instead of corrupting the baseline.
      assert.throws(() => {
        (states[1]!.players[7] as { x: number }).x = 0;
      }, TypeError);
    }
    assert.equal(states[1]!.players[7]!.x, 101);
    assert.equal(states[0]!.players[7]!.x, 100, "the baseline was changed");
    c.close();
  }
});

// Type-level checks (tsc --noEmit): states are read-only all the way down.
export function readonlyStateTypes(s: DeepReadonly<State>): void {
  // @ts-expect-error a state's fields are read-only
  s.it = 1;
  // @ts-expect-error so are the fields of nested messages in maps
  s.players[1]!.x = 1;
  // @ts-expect-error and the maps themselves
  delete s.players[1];
}

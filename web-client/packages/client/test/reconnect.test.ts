/**
 * Reconnection and seat resume, with a fake socket (the test plays the
 * server) and fake timers (node:test's mock timers plus an injected clock).
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { StateSchema } from "../../../src/gen/arena/v1/arena_pb.js";
import { CloseCode, ErrorCode, type ClientMessage } from "../src/gen/tickwire/v1/tickwire_pb.js";
import {
  FINAL_CLOSE_CODES,
  backoffDelayMs,
  type ClientOptions,
  type DisconnectedInfo,
  type ReconnectedInfo,
  type ReconnectingInfo,
  type ResumeFailedInfo,
} from "../src/index.js";
import { encodeServer } from "./wire-helpers.js";
import { FakeSocket, fakeClient, welcome } from "./fake-socket.js";

const full = toBinary(StateSchema, create(StateSchema, { players: { 7: { x: 100, y: 200, name: "ada", score: 3 } }, it: 0 }));

/** Lets promise continuations run (setImmediate is not mocked). */
const flush = () => new Promise<void>((r) => setImmediate(r));

type Ev = { disconnected: DisconnectedInfo[]; reconnecting: ReconnectingInfo[]; reconnected: ReconnectedInfo[]; resumeFailed: ResumeFailedInfo[] };

/**
 * A client in room r1 as player 7, with resume token t1 and a 10 s grace
 * (unless given), under fake timers; `advance` moves both clocks.
 */
async function inRoom(t: TestContext, opts: Partial<ClientOptions> = {}, joined: { resumeToken?: string; reconnectGraceMs?: number } = {}) {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
  let now = 1000;
  const { c, sockets } = fakeClient({ now: () => now, ...opts });
  t.after(() => c.close());
  const ev: Ev = { disconnected: [], reconnecting: [], reconnected: [], resumeFailed: [] };
  c.on("disconnected", (e) => ev.disconnected.push(e));
  c.on("reconnecting", (e) => ev.reconnecting.push(e));
  c.on("reconnected", (e) => ev.reconnected.push(e));
  c.on("resumeFailed", (e) => ev.resumeFailed.push(e));
  const ws = await welcome(c, sockets);
  const p = c.joinOrCreate("arena");
  const join = ws.last();
  ws.deliver(
    encodeServer({
      requestId: join.requestId,
      kind: {
        case: "joined",
        value: {
          roomId: "r1",
          roomType: "arena",
          playerId: 7,
          tickRate: 20,
          sendRate: 20,
          resumeToken: joined.resumeToken ?? "t1",
          reconnectGraceMs: joined.reconnectGraceMs ?? 10_000,
        },
      },
    }),
  );
  await p;
  const advance = async (ms: number) => {
    now += ms;
    t.mock.timers.tick(ms);
    await flush();
  };
  /** Waits out the scheduled delay of the newest reconnection attempt and opens its socket with a Welcome. */
  const reopen = async (): Promise<FakeSocket> => {
    const n = sockets.length;
    await advance(ev.reconnecting[ev.reconnecting.length - 1]!.delayMs);
    const s = sockets[n];
    assert.ok(s, "no reconnection attempt");
    s.open();
    const hello = s.sent[0]!;
    assert.equal(hello.kind.case, "hello");
    s.deliver(encodeServer({ requestId: hello.requestId, kind: { case: "welcome", value: { sessionId: `s${n + 1}` } } }));
    await flush();
    return s;
  };
  return { c, ws, sockets, ev, advance, reopen, now: () => now };
}

function joinOf(m: ClientMessage) {
  assert.equal(m.kind.case, "join", `expected a Join, got ${m.kind.case}`);
  return m.kind.value as Extract<ClientMessage["kind"], { case: "join" }>["value"];
}

test("backoffDelayMs: 100 ms doubling to 2 s, ±50% jitter by default", () => {
  for (let n = 1; n <= 12; n++) {
    const d = Math.min(2000, 100 * 2 ** (n - 1));
    assert.equal(backoffDelayMs(n, {}, 0), Math.round(d / 2), `attempt ${n} low`);
    assert.equal(backoffDelayMs(n, {}, 0.5), d, `attempt ${n} middle`);
    assert.ok(backoffDelayMs(n, {}, 0.999999) <= 1.5 * d, `attempt ${n} high`);
    for (let i = 0; i < 20; i++) {
      const x = backoffDelayMs(n);
      assert.ok(x >= d / 2 && x <= 1.5 * d, `attempt ${n}: ${x} outside [${d / 2}, ${1.5 * d}]`);
    }
  }
  assert.equal(backoffDelayMs(3, { initialDelayMs: 10, factor: 3, maxDelayMs: 50, jitter: 0 }, 0.9), 50);
  assert.equal(backoffDelayMs(2, { initialDelayMs: 10, factor: 3, jitter: 0 }, 0.9), 30);
});

test("reconnect: the seat is resumed with the token, which rotates; seqs continue; the next state must be full", async (t) => {
  const { c, ws, sockets, ev, reopen, advance } = await inRoom(t);
  assert.equal(c.resumeToken, "t1");
  for (let i = 0; i < 3; i++) c.sendInput(new Uint8Array([8, 1]));
  ws.deliver(encodeServer({ kind: { case: "state", value: { tick: 10, baselineTick: 0, lastInputSeq: 1, payload: full } } }));
  assert.equal(c.stateTick, 10);

  ws.drop(1006);
  assert.equal(c.connectionState, "reconnecting");
  assert.equal(c.room, undefined);
  assert.equal(c.sendInput(new Uint8Array([8, 1])), 0, "an input was sent while disconnected");
  assert.equal(ev.disconnected.length, 1);
  assert.deepEqual(
    { code: ev.disconnected[0]!.code, inRoom: ev.disconnected[0]!.inRoom, graceMs: ev.disconnected[0]!.graceMs, will: ev.disconnected[0]!.willReconnect },
    { code: 1006, inRoom: true, graceMs: 10_000, will: true },
  );
  assert.equal(ev.reconnecting[0]!.resuming, true);
  const d1 = ev.reconnecting[0]!.delayMs;
  assert.ok(d1 >= 50 && d1 <= 150, `first delay ${d1}`);

  const ws2 = await reopen();
  const j = joinOf(ws2.last());
  assert.equal(j.resumeToken, "t1");
  assert.equal(j.roomId, "");
  assert.equal(j.roomType, "");
  // The room processed inputs up to 2 (3 was lost with the connection).
  ws2.deliver(
    encodeServer({
      requestId: ws2.last().requestId,
      kind: { case: "joined", value: { roomId: "r1", roomType: "arena", playerId: 7, tickRate: 20, resumeToken: "t2", resumed: true, lastInputSeq: 2, reconnectGraceMs: 10_000 } },
    }),
  );
  await flush();
  assert.equal(ev.reconnected.length, 1);
  assert.equal(ev.reconnected[0]!.resumed, true);
  assert.equal(ev.reconnected[0]!.joined.playerId, 7);
  assert.ok(ev.reconnected[0]!.downtimeMs >= d1);
  assert.equal(c.resumeToken, "t2", "the token did not rotate");
  assert.equal(c.connectionState, "open");
  assert.equal((c.room as { playerId: number } | undefined)?.playerId, 7, "not back in the room");
  assert.equal(c.lastInputSeq, 2);
  assert.equal(c.sendInput(new Uint8Array([8, 1])), 3, "seqs must continue right after last_input_seq");
  // Baselines were reset: a patch against tick 10 has no baseline and asks for a full state.
  ws2.deliver(encodeServer({ kind: { case: "state", value: { tick: 12, baselineTick: 10, payload: new Uint8Array([0]) } } }));
  assert.equal(c.counters.missingBaselines, 1);
  ws2.deliver(encodeServer({ kind: { case: "state", value: { tick: 13, baselineTick: 0, lastInputSeq: 3, payload: full } } }));
  assert.equal(c.stateTick, 13);
  assert.equal(c.state?.players[7]?.score, 3);

  // The next outage resumes with the new token; the server's seq is ahead of ours this time.
  ws2.drop(1001);
  const ws3 = await reopen();
  assert.equal(joinOf(ws3.last()).resumeToken, "t2");
  ws3.deliver(
    encodeServer({
      requestId: ws3.last().requestId,
      kind: { case: "joined", value: { roomId: "r1", playerId: 7, resumeToken: "t3", resumed: true, lastInputSeq: 9, reconnectGraceMs: 10_000 } },
    }),
  );
  await flush();
  assert.equal(c.resumeToken, "t3");
  assert.equal(c.sendInput(new Uint8Array([8, 1])), 10);
  assert.equal(ev.reconnected.length, 2);
  assert.equal(ev.resumeFailed.length, 0);
  assert.equal(sockets.length, 3);
  await advance(0);
});

test("reconnect: a refused resume joins afresh (the room by id, then by type)", async (t) => {
  const { c, ws, ev, reopen } = await inRoom(t);
  ws.drop(1006);
  const ws2 = await reopen();
  assert.equal(joinOf(ws2.last()).resumeToken, "t1");
  ws2.deliver(encodeServer({ requestId: ws2.last().requestId, kind: { case: "error", value: { code: ErrorCode.RESUME_REFUSED, message: "used" } } }));
  await flush();
  assert.equal(ev.resumeFailed.length, 1);
  assert.equal(ev.resumeFailed[0]!.reason, "used");
  assert.equal(ev.resumeFailed[0]!.willRejoin, true);
  assert.equal(ev.resumeFailed[0]!.error?.code, ErrorCode.RESUME_REFUSED);
  const byId = joinOf(ws2.last());
  assert.deepEqual({ id: byId.roomId, token: byId.resumeToken }, { id: "r1", token: "" });
  ws2.deliver(encodeServer({ requestId: ws2.last().requestId, kind: { case: "error", value: { code: ErrorCode.ROOM_NOT_FOUND, message: "gone" } } }));
  await flush();
  const byType = joinOf(ws2.last());
  assert.deepEqual({ id: byType.roomId, type: byType.roomType }, { id: "", type: "arena" });
  ws2.deliver(
    encodeServer({ requestId: ws2.last().requestId, kind: { case: "joined", value: { roomId: "r2", roomType: "arena", playerId: 1, resumeToken: "u1", reconnectGraceMs: 10_000 } } }),
  );
  await flush();
  assert.equal(ev.reconnected.length, 1);
  assert.equal(ev.reconnected[0]!.resumed, false);
  assert.equal(c.room?.roomId, "r2");
  assert.equal(c.resumeToken, "u1");
  assert.equal(c.sendInput(new Uint8Array([8, 1])), 1, "a fresh room starts its seqs at 1");
});

test("reconnect: CLOSE_CODE_ROOM_LOST joins a room of the same type afresh, without a resume", async (t) => {
  const { c, ws, ev, reopen } = await inRoom(t);
  ws.drop(CloseCode.ROOM_LOST);
  assert.equal(ev.resumeFailed[0]?.reason, "room lost");
  assert.equal(ev.disconnected[0]?.graceMs, 0);
  assert.equal(ev.reconnecting[0]?.resuming, false);
  const ws2 = await reopen();
  const j = joinOf(ws2.last());
  assert.deepEqual({ token: j.resumeToken, id: j.roomId, type: j.roomType }, { token: "", id: "", type: "arena" });
  ws2.deliver(encodeServer({ requestId: ws2.last().requestId, kind: { case: "joined", value: { roomId: "r9", roomType: "arena", playerId: 2, resumeToken: "v1" } } }));
  await flush();
  assert.equal(c.room?.roomId, "r9");
  assert.equal(ev.reconnected[0]?.resumed, false);
});

test("reconnect: CLOSE_CODE_RECONNECT redials at once", async (t) => {
  const { ws, ev, reopen } = await inRoom(t);
  ws.drop(CloseCode.RECONNECT);
  assert.equal(ev.reconnecting[0]!.delayMs, 0);
  const ws2 = await reopen();
  assert.equal(joinOf(ws2.last()).resumeToken, "t1");
});

test("reconnect: delays end within the grace; after it, no resume but a fresh join", async (t) => {
  const { ev, sockets, advance, reopen, now } = await inRoom(t, {}, { reconnectGraceMs: 1000 });
  const lostAt = now();
  sockets[0]!.drop(1006);
  // Attempts that fail to connect: each delay is cut to end before the grace.
  for (let i = 0; i < 6; i++) {
    const r = ev.reconnecting[ev.reconnecting.length - 1]!;
    if (!r.resuming) break; // the grace is (nearly) over
    assert.ok(now() + r.delayMs <= lostAt + 1000, `attempt ${r.attempt} at ${now() + r.delayMs - lostAt} ms, past the grace`);
    const n = sockets.length;
    await advance(r.delayMs);
    if (now() - lostAt >= 1000) break;
    sockets[n]!.drop(1006);
  }
  await advance(1000); // the grace is over
  const s = sockets[sockets.length - 1]!;
  if (s.readyState === 0) s.drop(1006);
  const ws = await reopen();
  assert.equal(ev.resumeFailed.length, 1);
  assert.equal(ev.resumeFailed[0]!.reason, "grace over");
  const j = joinOf(ws.last());
  assert.equal(j.resumeToken, "", "resumed after the grace");
  assert.equal(j.roomId, "r1");
});

test("reconnect: after the grace, failed attempts back off again instead of redialing at once", async (t) => {
  const { ev, sockets, advance, now } = await inRoom(t, {}, { reconnectGraceMs: 1000 });
  const lostAt = now();
  sockets[0]!.drop(1006);
  // The network stays down: every attempt fails, well past the grace.
  for (let i = 0; i < 12 && now() - lostAt < 6000; i++) {
    const r = ev.reconnecting[ev.reconnecting.length - 1]!;
    const n = sockets.length;
    await advance(r.delayMs);
    assert.ok(sockets[n], `attempt ${r.attempt} did not dial`);
    sockets[n]!.drop(1006);
  }
  const late = ev.reconnecting.filter((r) => !r.resuming);
  assert.ok(late.length >= 2, `${late.length} attempts after the grace`);
  for (const r of late) assert.ok(r.delayMs >= 50, `attempt ${r.attempt} after the grace redials after ${r.delayMs} ms`);
  assert.ok(ev.reconnecting.length < 12, `${ev.reconnecting.length} attempts in 6 s`);
});

test("reconnect: never after a final close code", async (t) => {
  for (const code of FINAL_CLOSE_CODES) {
    await t.test(`code ${code}`, async (t) => {
      const { c, ws, sockets, ev, advance } = await inRoom(t);
      ws.drop(code);
      await advance(60_000);
      assert.equal(sockets.length, 1, `reconnected after ${code}`);
      assert.equal(c.connectionState, "closed");
      assert.equal(ev.disconnected[0]?.willReconnect, false);
      assert.equal(ev.reconnecting.length, 0);
    });
  }
  for (const code of [1001, 1006, 1011, 4001, 4005, 4008, 4013, 4014, CloseCode.ROOM_LOST, CloseCode.RECONNECT]) {
    await t.test(`code ${code} reconnects`, async (t) => {
      const { ws, sockets, ev, advance } = await inRoom(t);
      ws.drop(code);
      await advance(ev.reconnecting[0]!.delayMs);
      assert.equal(sockets.length, 2, `no reconnection after ${code}`);
    });
  }
});

test("reconnect: off with reconnect: false; resume() by hand works", async (t) => {
  const { c, ws, sockets, ev, advance } = await inRoom(t, { reconnect: false });
  ws.drop(1006);
  await advance(60_000);
  assert.equal(sockets.length, 1);
  assert.equal(c.connectionState, "closed");
  assert.equal(ev.disconnected[0]?.willReconnect, false);
  const w = c.connect();
  const ws2 = sockets[1]!;
  ws2.open();
  ws2.deliver(encodeServer({ requestId: ws2.sent[0]!.requestId, kind: { case: "welcome", value: {} } }));
  await w;
  const r = c.resume();
  assert.equal(joinOf(ws2.last()).resumeToken, "t1");
  ws2.deliver(encodeServer({ requestId: ws2.last().requestId, kind: { case: "joined", value: { roomId: "r1", playerId: 7, resumed: true, resumeToken: "t2" } } }));
  assert.equal((await r).resumed, true);
  assert.equal(c.resumeToken, "t2");
});

test("reconnect: a silent drop (no frame for 3 s in a room) is caught and resumed", async (t) => {
  const { c, ws, sockets, ev, advance } = await inRoom(t);
  for (let i = 1; i <= 5; i++) {
    await advance(1000);
    ws.deliver(encodeServer({ kind: { case: "state", value: { tick: i, baselineTick: 0, payload: full } } }));
  }
  assert.equal(c.connectionState, "open", "dropped although frames arrived");
  // A page frozen for 10 s (the timer stalls with it) is not a silent drop by itself.
  await advance(10_000);
  assert.equal(c.connectionState, "open", "a stalled timer was taken for a silent drop");
  for (let i = 0; i < 36; i++) await advance(100);
  assert.equal(ws.closedWith, 4000, "the silent connection was not closed");
  assert.equal(ev.disconnected.length, 1);
  assert.match(ev.disconnected[0]!.reason, /silent drop/);
  assert.equal(ev.reconnecting[0]!.resuming, true);
  await advance(ev.reconnecting[0]!.delayMs);
  assert.equal(sockets.length, 2);
});

test("reconnect: inputs sent into a silently dropped connection do not push the seqs past what the room accepts", async (t) => {
  // A game sends an input every frame; until the silence timeout notices
  // the drop, they go into the dead connection (3 s at 60 Hz: 180 seqs,
  // far more than the 64 the room accepts past the newest it has seen).
  const { c, ws, ev, advance, reopen } = await inRoom(t);
  for (let i = 0; i < 5; i++) c.sendInput(new Uint8Array([8, 1]));
  ws.deliver(encodeServer({ kind: { case: "state", value: { tick: 10, baselineTick: 0, lastInputSeq: 5, payload: full } } }));
  let sent = 5;
  for (let i = 0; i < 100 && ev.disconnected.length === 0; i++) {
    for (let k = 0; k < 3; k++) if (c.sendInput(new Uint8Array([8, 1])) > 0) sent++;
    await advance(50);
  }
  assert.equal(ev.disconnected.length, 1, "the silent drop was not caught");
  assert.ok(sent > 5 + 64, `only ${sent} inputs went into the dead connection`);
  const ws2 = await reopen();
  ws2.deliver(
    encodeServer({
      requestId: ws2.last().requestId,
      kind: { case: "joined", value: { roomId: "r1", roomType: "arena", playerId: 7, tickRate: 20, resumeToken: "t2", resumed: true, lastInputSeq: 5, reconnectGraceMs: 10_000 } },
    }),
  );
  await flush();
  assert.equal(ev.reconnected[0]?.resumed, true);
  assert.equal(c.sendInput(new Uint8Array([8, 1])), 6, "the first input after the resume must follow the room's last_input_seq");
  const sentSeqs = ws2.sent.filter((m) => m.kind.case === "input").map((m) => (m.kind.value as { seq: number }).seq);
  assert.deepEqual(sentSeqs, [6]);
});

test("client: RoomClosing and PlayerConnection events; disconnectedPlayers", async (t) => {
  const { c, ws } = await inRoom(t);
  const closing: { closesInMs: number; reason: string; roomId: string }[] = [];
  const conn: string[] = [];
  c.on("roomClosing", (e) => closing.push(e));
  c.on("playerConnection", (e) => conn.push(`${e.playerId} ${e.connected}`));
  const at = Date.now() + 5000;
  ws.deliver(encodeServer({ kind: { case: "roomClosing", value: { roomId: "r1", closeAtMs: at, reason: "node draining" } } }));
  assert.equal(closing.length, 1);
  assert.equal(closing[0]!.roomId, "r1");
  assert.equal(closing[0]!.reason, "node draining");
  assert.ok(closing[0]!.closesInMs > 4000 && closing[0]!.closesInMs <= 5000, `closesInMs ${closing[0]!.closesInMs}`);
  ws.deliver(encodeServer({ kind: { case: "playerConnection", value: { playerId: 3, connected: false } } }));
  ws.deliver(encodeServer({ kind: { case: "playerConnection", value: { playerId: 4, connected: false } } }));
  assert.deepEqual([...c.disconnectedPlayers].sort(), [3, 4]);
  ws.deliver(encodeServer({ kind: { case: "playerConnection", value: { playerId: 3, connected: true } } }));
  ws.deliver(encodeServer({ kind: { case: "playerLeft", value: { playerId: 4 } } }));
  assert.deepEqual([...c.disconnectedPlayers], []);
  assert.deepEqual(conn, ["3 false", "4 false", "3 true"]);
});

test("reconnect: an attempt whose handshake hangs is abandoned after connectTimeoutMs", async (t) => {
  const { ws, sockets, ev, advance } = await inRoom(t, { connectTimeoutMs: 2000 });
  ws.drop(1006);
  await advance(ev.reconnecting[0]!.delayMs);
  const hung = sockets[1]!;
  await advance(1999);
  assert.equal(hung.closedWith, undefined);
  assert.equal(ev.reconnecting.length, 1);
  await advance(1);
  assert.equal(hung.closedWith, 4000, "the hung attempt was not abandoned");
  assert.equal(ev.reconnecting.length, 2);
  assert.equal(ev.reconnecting[1]!.attempt, 2);
  assert.equal(ev.reconnecting[1]!.resuming, true);
});

test("reconnect: a resume refused for another reason (a draining node) tries again elsewhere, with the same token", async (t) => {
  const { ws, ev, reopen } = await inRoom(t);
  ws.drop(1006);
  const ws2 = await reopen();
  assert.equal(joinOf(ws2.last()).resumeToken, "t1");
  ws2.deliver(encodeServer({ requestId: ws2.last().requestId, kind: { case: "error", value: { code: ErrorCode.DRAINING, message: "node draining" } } }));
  await flush();
  assert.equal(ws2.closedWith, 4000, "the draining node's connection was kept");
  assert.equal(ev.resumeFailed.length, 0);
  assert.equal(ev.reconnecting[ev.reconnecting.length - 1]!.resuming, true);
  const ws3 = await reopen();
  assert.equal(joinOf(ws3.last()).resumeToken, "t1");
});

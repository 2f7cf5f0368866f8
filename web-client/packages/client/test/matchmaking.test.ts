import { test } from "node:test";
import assert from "node:assert/strict";
import { ErrorCode, MatchmakerTicketStatus, ServerError, type MatchmakerMatched, type MatchmakerStatus } from "../src/index.js";
import { encodeServer } from "./wire-helpers.js";
import { fakeClient, welcome } from "./fake-socket.js";

async function connected() {
  const { c, sockets } = fakeClient({ reconnect: false });
  return { c, ws: await welcome(c, sockets) };
}

test("matchmaking: add, waiting-for-capacity status, match, join with the reservation", async () => {
  const { c, ws } = await connected();
  const statuses: MatchmakerStatus[] = [];
  const matches: MatchmakerMatched[] = [];
  c.on("matchmakerStatus", (s) => statuses.push(s));
  c.on("matchmakerMatched", (m) => matches.push(m));

  const added = c.matchmakerAdd("duel", { numericProperties: { rating: 1200 }, party: ["s2@n2"] });
  const add = ws.last();
  assert.ok(add.kind.case === "matchmakerAdd");
  assert.equal(add.kind.value.queue, "duel");
  assert.equal(add.kind.value.numericProperties["rating"], 1200);
  assert.deepEqual(add.kind.value.party, ["s2@n2"]);
  ws.deliver(encodeServer({ requestId: add.requestId, kind: { case: "matchmakerMatched", value: { ticketId: "t1" } } }));
  assert.equal(await added, "t1");
  assert.equal(matches.length, 0, "the acknowledgement is not a match");

  ws.deliver(
    encodeServer({
      kind: {
        case: "matchmakerStatus",
        value: { ticketId: "t1", status: MatchmakerTicketStatus.WAITING_FOR_CAPACITY, queue: "duel", queuedForMs: 2500, timeoutMs: 60000 },
      },
    }),
  );
  assert.equal(statuses.length, 1);
  assert.equal(statuses[0]!.status, MatchmakerTicketStatus.WAITING_FOR_CAPACITY);
  assert.equal(statuses[0]!.ticketId, "t1");
  assert.equal(statuses[0]!.queuedForMs, 2500);
  assert.equal(statuses[0]!.timeoutMs, 60000);

  ws.deliver(encodeServer({ kind: { case: "matchmakerMatched", value: { ticketId: "t1", roomId: "r9", reservation: "resv" } } }));
  assert.equal(matches.length, 1);
  assert.equal(matches[0]!.roomId, "r9");

  const joined = c.joinWithReservation(matches[0]!.reservation);
  const join = ws.last();
  assert.ok(join.kind.case === "join");
  assert.equal(join.kind.value.reservation, "resv");
  ws.deliver(encodeServer({ requestId: join.requestId, kind: { case: "joined", value: { roomId: "r9", playerId: 1, tickRate: 20, sendRate: 20 } } }));
  assert.equal((await joined).roomId, "r9");
  c.close();
});

test("matchmaking: a timed-out ticket is an error event with its ticket id; cancel", async () => {
  const { c, ws } = await connected();
  const errors: unknown[] = [];
  c.on("error", (e) => errors.push(e));
  ws.deliver(
    encodeServer({
      kind: { case: "error", value: { code: ErrorCode.MATCHMAKING_TIMEOUT, message: "matchmaking timed out after 60 s (ticket t1)", ticketId: "t1" } },
    }),
  );
  assert.equal(errors.length, 1);
  const err = errors[0];
  assert.ok(err instanceof ServerError);
  assert.equal(err.code, ErrorCode.MATCHMAKING_TIMEOUT);
  assert.equal(err.codeName, "MATCHMAKING_TIMEOUT");
  assert.equal(err.ticketId, "t1");
  assert.match(err.message, /matchmaking timed out after 60 s/);

  const cancelled = c.matchmakerCancel("t2");
  const req = ws.last();
  assert.ok(req.kind.case === "matchmakerCancel" && req.kind.value.ticketId === "t2");
  ws.deliver(encodeServer({ requestId: req.requestId, kind: { case: "matchmakerMatched", value: { ticketId: "t2" } } }));
  await cancelled;
  c.close();
});

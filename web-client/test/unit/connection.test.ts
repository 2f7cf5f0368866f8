import { test } from "node:test";
import assert from "node:assert/strict";
import type { TickwireClient, ReconnectingInfo } from "@tickwire/client";
import { ConnectionView, closingText, reconnectingText } from "../../src/game/connection.js";

/** The client events ConnectionView listens to, fired by the test. */
class FakeClient {
  readonly disconnectedPlayers = new Set<number>();
  private readonly ls = new Map<string, ((ev: unknown) => void)[]>();
  on(type: string, fn: (ev: unknown) => void): () => void {
    this.ls.set(type, [...(this.ls.get(type) ?? []), fn]);
    return () => {};
  }
  emit(type: string, ev: unknown): void {
    for (const fn of this.ls.get(type) ?? []) fn(ev);
  }
}

const el = () => ({ hidden: true, textContent: "" }) as unknown as HTMLElement;
const close = { code: 1006, reason: "", message: "connection lost", willReconnect: true };

test("reconnectingText: a kept seat says so; a server down says unavailable", () => {
  const r: ReconnectingInfo = { attempt: 2, delayMs: 400, lastClose: close, resuming: true };
  assert.equal(reconnectingText(r, 10_000), "Connection lost: reconnecting… (attempt 2, in 0.4 s). Your seat is kept for 10 s.");
  assert.equal(reconnectingText({ ...r, resuming: false }, 0), "Server unavailable: reconnecting… (attempt 2, in 0.4 s)");
  assert.match(closingText(12_300), /closes in 13 s/);
  assert.match(closingText(-5), /is closing/);
});

test("ConnectionView: the veil follows the outage, the notice counts down, offline players", (t) => {
  t.mock.timers.enable({ apis: ["setInterval"] });
  let now = 0;
  const c = new FakeClient();
  const veil = el();
  const notice = el();
  const v = new ConnectionView(c as unknown as TickwireClient<never>, veil, notice, () => now);
  c.emit("roomClosing", { roomId: "r1", closeAtMs: 0, closesInMs: 20_000, receivedAt: 0, reason: "" });
  assert.equal(notice.hidden, false);
  assert.match(v.noticeText, /closes in 20 s/);
  now = 5_000;
  t.mock.timers.tick(250);
  assert.match(v.noticeText, /closes in 15 s/);

  c.emit("disconnected", { ...close, inRoom: true, graceMs: 10_000 });
  assert.equal(veil.hidden, false);
  assert.equal(v.reconnecting, true);
  assert.equal(v.seatGraceMs, 10_000);
  assert.equal(v.noticeText, "", "the notice of a room we lost stays");
  c.emit("joined", {});
  c.emit("reconnected", { resumed: true, joined: {}, downtimeMs: 300 });
  assert.equal(veil.hidden, true);
  assert.equal(v.lastComeback, "resumed");

  c.emit("disconnected", { ...close, willReconnect: false, inRoom: true, graceMs: 0 });
  assert.equal(veil.hidden, true, "a veil for a client that will not reconnect");

  c.disconnectedPlayers.add(4);
  assert.equal(v.offline(4), true);
  assert.equal(v.offline(5), false);
});

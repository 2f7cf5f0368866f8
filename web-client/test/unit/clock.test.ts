import { test } from "node:test";
import assert from "node:assert/strict";
import { ClockSync, MAX_PONG_HOLD_MS, TickClock, median, pongSentMs } from "../../src/sdk/index.js";

test("median", () => {
  const cases: [number[], number][] = [
    [[1], 1],
    [[3, 1, 2], 2],
    [[4, 1, 3, 2], 2.5],
    [[5, 5, 100], 5],
  ];
  for (const [v, want] of cases) assert.equal(median(v), want);
});

test("ClockSync: RTT median and offset from inliers only", () => {
  const c = new ClockSync({ window: 7 });
  // True offset 1000 ms; symmetric 20 ms path (rtt 40).
  let t = 0;
  for (let i = 0; i < 6; i++, t += 1000) assert.ok(c.addSample(t, t + 40, t + 20 + 1000));
  // A retransmit: 600 ms RTT with the delay all on the way back.
  assert.ok(c.addSample(t, t + 600, t + 20 + 1000));
  assert.equal(c.rttMs, 40);
  assert.equal(c.offsetMs, 1000);
  assert.equal(c.serverTime(5), 1005);
  assert.equal(c.addSample(10, 5, 0), false, "negative RTT accepted");
});

test("ClockSync: window slides", () => {
  const c = new ClockSync({ window: 3 });
  for (const rtt of [100, 100, 100, 20, 20, 20]) c.addSample(0, rtt, 0);
  assert.equal(c.sampleCount, 3);
  assert.equal(c.rttMs, 20);
});

test("pongSentMs: the Ping counts as sent hold_ms later; no usable hold, no sample", () => {
  assert.equal(pongSentMs(1000, 40, 1060), 1040);
  assert.equal(pongSentMs(1000, 0, 1060), 1000);
  assert.equal(pongSentMs(1000, 59_999, 70_000), 60_999);
  // A hold longer than the round trip (timer rounding) is cut to it: RTT 0.
  assert.equal(pongSentMs(1000, 60.5, 1060), 1060);
  // A reply received before its Ping keeps its negative round trip.
  assert.equal(pongSentMs(1000, 5, 990), 1000);
  for (const hold of [undefined, -0.5, NaN, Infinity, -Infinity, MAX_PONG_HOLD_MS, MAX_PONG_HOLD_MS + 1]) {
    assert.equal(pongSentMs(1000, hold, 100_000), undefined, `hold ${hold} accepted`);
  }
  // Round trip 60 ms (sent 1000, received 1060) with a 40 ms hold: RTT 20 and
  // the server time is taken at the midpoint of the network part (1050).
  const c = new ClockSync();
  assert.ok(c.addSample(pongSentMs(1000, 40, 1060)!, 1060, 501_050));
  assert.equal(c.rttMs, 20);
  assert.equal(c.offsetMs, 500_000);
  assert.equal(c.addSample(pongSentMs(1000, 5, 990)!, 990, 0), false, "negative round trip accepted");
});

test("TickClock: median origin ignores jitter", () => {
  const tc = new TickClock(50);
  // Tick t arrives at 1000 + 50t, with +30 ms jitter on every third.
  for (let t = 1; t <= 30; t++) tc.observe(t, 1000 + 50 * t + (t % 3 === 0 ? 30 : 0));
  assert.equal(tc.tickAt(1000 + 50 * 31), 31);
});

test("TickClock: resyncs after a lasting jump, not after one late frame", () => {
  const tc = new TickClock(50, { resyncMs: 250, resyncAfter: 3 });
  for (let t = 1; t <= 10; t++) tc.observe(t, 50 * t);
  tc.observe(11, 50 * 11 + 2000); // one stalled frame
  assert.equal(tc.tickAt(50 * 12), 12);
  // The timeline moved by 5 s (tab was in the background, server restarted...).
  for (let t = 12; t <= 14; t++) tc.observe(t, 50 * t + 5000);
  assert.equal(tc.resyncs, 1);
  assert.equal(tc.tickAt(50 * 15 + 5000), 15);
});

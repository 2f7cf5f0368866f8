import { test } from "node:test";
import assert from "node:assert/strict";
import { ClockSync, DEFAULT_INPUT_LEAD_MS, TickClock, nextInputSendMs } from "../src/index.js";
import { MAX_PONG_HOLD_MS, median, pongSentMs } from "../src/clock.js";

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

/** A TickClock whose origin is exactly originMs: ticks 1..5 arrive on time. */
function tickClockAt(originMs: number, tickMs = 50): TickClock {
  const tc = new TickClock(tickMs);
  for (let t = 1; t <= 5; t++) tc.observe(t, originMs + t * tickMs);
  return tc;
}

test("TickClock.originMs: the median origin", () => {
  const tc = tickClockAt(1000);
  assert.equal(tc.originMs, 1000);
  tc.observe(6, 1000 + 6 * 50 + 30); // one late frame does not move the median
  assert.equal(tc.originMs, 1000);
});

test("nextInputSendMs: origin + k*tickMs - rtt - lead, the first one strictly after now", () => {
  // Origin 1000, 50 ms ticks: the state of tick k arrives at 1000 + 50k.
  const cases: { name: string; now: number; rtt: number; lead: number; want: number }[] = [
    // rtt 10 + lead 20: send 30 ms before each arrival, at ...970, 1020, 1070...
    { name: "just after origin", now: 1000, rtt: 10, lead: 20, want: 1020 },
    { name: "just before a send time", now: 1019.9, rtt: 10, lead: 20, want: 1020 },
    { name: "on a send time: the next one", now: 1020, rtt: 10, lead: 20, want: 1070 },
    { name: "just after a send time", now: 1020.1, rtt: 10, lead: 20, want: 1070 },
    { name: "far later", now: 1_000_000, rtt: 10, lead: 20, want: 1_000_020 },
    { name: "before the origin", now: -500, rtt: 10, lead: 20, want: -480 },
    { name: "no rtt, no lead: on the arrivals", now: 999, rtt: 0, lead: 0, want: 1000 },
    { name: "no rtt, no lead, on an arrival", now: 1000, rtt: 0, lead: 0, want: 1050 },
    { name: "rtt only", now: 1000, rtt: 30, lead: 0, want: 1020 },
    { name: "lead only", now: 1000, rtt: 0, lead: 30, want: 1020 },
    { name: "rtt 40 + lead 20", now: 1000, rtt: 40, lead: 20, want: 1040 },
    { name: "rtt longer than a tick", now: 1001, rtt: 130, lead: 20, want: 1050 },
    { name: "fractional", now: 1000, rtt: 12.5, lead: 20, want: 1017.5 },
    { name: "negative rtt counts as 0", now: 1000, rtt: -40, lead: 20, want: 1030 },
    { name: "NaN rtt counts as 0", now: 1000, rtt: NaN, lead: 20, want: 1030 },
    { name: "negative lead counts as 0", now: 1000, rtt: 10, lead: -5, want: 1040 },
  ];
  const tc = tickClockAt(1000);
  for (const c of cases) assert.equal(nextInputSendMs(tc, c.now, c.rtt, c.lead), c.want, c.name);
  assert.equal(nextInputSendMs(tc, 1000, 10), nextInputSendMs(tc, 1000, 10, DEFAULT_INPUT_LEAD_MS), "default lead");
  assert.equal(DEFAULT_INPUT_LEAD_MS, 20);
});

test("nextInputSendMs: undefined until the TickClock is ready", () => {
  const tc = new TickClock(50);
  assert.equal(nextInputSendMs(tc, 1000, 10, 20), undefined, "no sample yet");
  tc.observe(1, 1050);
  assert.equal(nextInputSendMs(tc, 1000, 10, 20), 1020);
  tc.reset();
  assert.equal(nextInputSendMs(tc, 1000, 10, 20), undefined, "after reset");
  assert.equal(nextInputSendMs(tickClockAt(1000), NaN, 10, 20), undefined, "NaN now");
  const bad = tickClockAt(1000);
  for (const tickMs of [0, -50, NaN, Infinity]) {
    bad.tickMs = tickMs;
    assert.equal(nextInputSendMs(bad, 1000, 10, 20), undefined, `tickMs ${tickMs}`);
  }
});

test("nextInputSendMs: follows the TickClock's tickMs and origin", () => {
  const tc = tickClockAt(1000);
  tc.tickMs = 100; // same origin, 10 Hz: send times 970 + 100k
  assert.equal(nextInputSendMs(tc, 1000, 10, 20), 1070);
  assert.equal(nextInputSendMs(tc, 1070, 10, 20), 1170);
  // What the client does on joining a room of another rate: new tickMs, reset, new samples.
  tc.tickMs = 1000 / 30;
  tc.reset();
  assert.equal(nextInputSendMs(tc, 1000, 10, 20), undefined);
  for (let t = 1; t <= 5; t++) tc.observe(t, 2000 + (t * 1000) / 30);
  const at = nextInputSendMs(tc, 5000, 10, 20)!;
  const k = (at - 2000 + 30) / (1000 / 30);
  assert.ok(Math.abs(k - Math.round(k)) < 1e-9, `not on the 30 Hz timeline: ${at}`);
  assert.ok(at > 5000 && at <= 5000 + 1000 / 30, `${at}`);
  // A resync moves the timeline with the origin.
  const rs = tickClockAt(1000);
  for (let t = 6; t <= 8; t++) rs.observe(t, 1000 + t * 50 + 5007);
  assert.equal(rs.resyncs, 1);
  assert.equal(nextInputSendMs(rs, 7000, 10, 20), 7027);
});

test("nextInputSendMs: always strictly after now, within one tick, on the timeline", () => {
  // Deterministic pseudo-random cases, including performance.now-sized times
  // after days and origins far below 0 (tick numbers in the millions).
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let i = 0; i < 5000; i++) {
    const tickMs = [50, 1000 / 30, 1000 / 60, 100, 16, 1000 / 7][i % 6]!;
    const origin = (rnd() - 0.5) * 2e8;
    const now = rnd() * 4e8;
    const rtt = rnd() * 300;
    const lead = rnd() * 60;
    const tc = tickClockAt(origin, tickMs);
    // One sample per case in every 10: now exactly on a send time.
    const at0 = nextInputSendMs(tc, now, rtt, lead)!;
    const t = i % 10 === 0 ? at0 : now;
    const at = i % 10 === 0 ? nextInputSendMs(tc, t, rtt, lead)! : at0;
    const msg = `tickMs ${tickMs} origin ${origin} now ${t} rtt ${rtt} lead ${lead}: ${at}`;
    assert.ok(at > t, `not after now: ${msg}`);
    assert.ok(at - t <= tickMs + 1e-6, `more than a tick away: ${msg}`); // 1e-6: rounding at 4e8 ms
    const k = (at - tc.originMs + rtt + lead) / tickMs;
    assert.ok(Math.abs(k - Math.round(k)) < 1e-6, `off the timeline: ${msg}`);
  }
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { PlayerSchema, StateSchema, type State } from "../../src/gen/arena/v1/arena_pb.js";
import { Cooldown } from "../../src/game/controls.js";
import { alignedInputAt } from "../../src/game/pacing.js";
import { STANDARD_WORLD, step, worldOf } from "../../src/game/sim.js";
import {
  CAMERA_MARGIN,
  CorrectionSmoother,
  PLAYER_COLORS,
  camera,
  currentIt,
  interpolatePlayers,
  layoutLabels,
  playerColor,
  visibleRect,
} from "../../src/game/view.js";
import { TickClock, type Bracket } from "@tickwire/client";

test("step uses the world size (values from the Go server's StepIn)", () => {
  const cases = [
    { p: { x: 100, y: 100 }, m: [127, 127], world: { w: 1600, h: 900 }, want: { x: 133, y: 133 } },
    { p: { x: 6390, y: 3590 }, m: [127, 127], world: { w: 1600, h: 900 }, want: { x: 6336, y: 3536 } },
    { p: { x: 6390, y: 3590 }, m: [127, 127], world: { w: 8000, h: 8000 }, want: { x: 6423, y: 3623 } },
    { p: { x: 31950, y: 31950 }, m: [127, 127], world: { w: 8000, h: 8000 }, want: { x: 31936, y: 31936 } },
    { p: { x: 31950, y: 70 }, m: [-100, -127], world: { w: 8000, h: 8000 }, want: { x: 31921, y: 64 } },
    { p: { x: 5000, y: 5000 }, m: [-3, 77], world: { w: 8000, h: 8000 }, want: { x: 4999, y: 5029 } },
    { p: { x: 5000, y: 5000 }, m: [300, -300], world: { w: 8000, h: 8000 }, want: { x: 5033, y: 4967 } },
  ];
  for (const c of cases) {
    const got = step(c.p, { moveX: c.m[0]!, moveY: c.m[1]! }, c.world);
    assert.deepEqual(got, c.want, JSON.stringify(c));
  }
  // The default world is the standard map.
  assert.deepEqual(step({ x: 6390, y: 3590 }, { moveX: 127, moveY: 127 }), { x: 6336, y: 3536 });
});

test("worldOf: 0 means the standard size, per axis", () => {
  assert.deepEqual(worldOf(undefined), STANDARD_WORLD);
  assert.deepEqual(worldOf(create(StateSchema)), { w: 1600, h: 900 });
  assert.deepEqual(worldOf(create(StateSchema, { worldWidth: 8000, worldHeight: 8000 })), { w: 8000, h: 8000 });
  assert.deepEqual(worldOf(create(StateSchema, { worldWidth: 3000 })), { w: 3000, h: 900 });
});

test("camera: the standard map is centred whole, a large one is followed and clamped", () => {
  const cw = 1280;
  const ch = 720;
  const std = camera(STANDARD_WORLD, cw, ch, { x: 10, y: 10 });
  assert.equal(std.follow, false);
  assert.deepEqual([std.cx, std.cy], [800, 450]);
  const v = visibleRect(std, cw, ch);
  assert.ok(v.x0 <= 0 && v.y0 <= 0 && v.x1 >= 1600 && v.y1 >= 900, "the whole standard map is visible");

  const big = { w: 8000, h: 8000 };
  const mid = camera(big, cw, ch, { x: 4000, y: 3000 });
  assert.equal(mid.follow, true);
  assert.equal(mid.scale, std.scale, "players have the same size on both maps");
  assert.deepEqual([mid.cx, mid.cy], [4000, 3000]);
  // The focus point is at the canvas centre.
  assert.ok(Math.abs(4000 * mid.scale + mid.ox - cw / 2) < 1e-9);
  assert.ok(Math.abs(3000 * mid.scale + mid.oy - ch / 2) < 1e-9);

  const corner = camera(big, cw, ch, { x: 5, y: 7995 });
  const r = visibleRect(corner, cw, ch);
  assert.ok(Math.abs(r.x0 + CAMERA_MARGIN) < 1e-9, `left edge ${r.x0}`);
  assert.ok(Math.abs(r.y1 - 8000 - CAMERA_MARGIN) < 1e-9, `bottom edge ${r.y1}`);
  assert.deepEqual([camera(big, cw, ch).cx, camera(big, cw, ch).cy], [4000, 4000]);

  // A world wider than the view on one axis only follows on that axis.
  const wide = camera({ w: 8000, h: 900 }, cw, ch, { x: 6000, y: 100 });
  assert.equal(wide.follow, true);
  assert.deepEqual([wide.cx, wide.cy], [6000, 450]);
});

function st(players: Record<number, [number, number]>): State {
  const s = create(StateSchema);
  for (const [id, [x, y]] of Object.entries(players)) s.players[Number(id)] = create(PlayerSchema, { x, y, name: `p${id}` });
  return s;
}

test("interpolatePlayers: players entering and leaving the view", () => {
  const from = st({ 1: [0, 0], 2: [100, 100] }); // 2 leaves
  const to = st({ 1: [40, 80], 3: [500, 600] }); // 3 enters
  const b: Bracket<State> = { from, to, fromTick: 10, toTick: 11, alpha: 0.25, status: "ok" };
  const got = interpolatePlayers(b);
  assert.deepEqual([...got.keys()].sort(), [1, 3]);
  assert.deepEqual([got.get(1)!.x, got.get(1)!.y], [10, 20]);
  assert.deepEqual([got.get(3)!.x, got.get(3)!.y], [500, 600], "an entering player is drawn where it is, not lerped");
  assert.equal(got.get(3)!.p.name, "p3");
  assert.equal(interpolatePlayers(undefined).size, 0);
});

test("CorrectionSmoother eases small corrections over 100 ms and snaps big ones", () => {
  const s = new CorrectionSmoother(100, 192);
  assert.equal(s.correct(0, 0, 0), "none");
  assert.deepEqual(s.offset(0), { x: 0, y: 0 });
  // The prediction moved +40 in x: the rendered player stays, then eases.
  assert.equal(s.correct(40, 0, 1000), "smooth");
  assert.deepEqual(s.offset(1000), { x: -40, y: 0 });
  const half = s.offset(1050);
  assert.ok(half.x < 0 && half.x > -40, `halfway ${half.x}`);
  assert.ok(Math.abs(s.offset(1090).x) < Math.abs(half.x), "the offset shrinks over time");
  assert.deepEqual(s.offset(1100), { x: 0, y: 0 });
  assert.deepEqual(s.offset(5000), { x: 0, y: 0 });
  // A second correction adds to what is left of the first.
  s.correct(0, 100, 2000);
  s.correct(0, 50, 2000);
  assert.deepEqual(s.offset(2000), { x: 0, y: -150 });
  // Past the threshold (the sum here): snap, nothing left to ease.
  assert.equal(s.correct(0, 100, 2000), "snap");
  assert.deepEqual(s.offset(2000), { x: 0, y: 0 });
  assert.equal(s.correct(300, 0, 3000), "snap");
  assert.deepEqual([s.smoothed, s.snapped], [3, 2]);
});

test("Cooldown: at most one tag per second", () => {
  const c = new Cooldown(1000);
  assert.equal(c.remaining(0), 0);
  assert.equal(c.fire(0), true);
  assert.equal(c.fire(10), false);
  assert.equal(c.fire(999), false);
  assert.ok(Math.abs(c.remaining(500) - 0.5) < 1e-9);
  assert.equal(c.fire(1000), true);
  assert.equal(c.fire(1500), false);
  c.reset();
  assert.equal(c.fire(1501), true);
});

test("alignedInputAt: one input per tick on the timeline, following it when it moves", () => {
  const T = 50;
  const lead = 20;
  // The timeline (origin, rtt) over time: steady, a new RTT estimate, small
  // and large origin shifts (just under and over half a tick), a resync by
  // seconds; a 500 ms stall of the page in the middle.
  const phases = [
    { from: 0, origin: 1000, rtt: 10 },
    { from: 2000, origin: 1000, rtt: 40 },
    { from: 4000, origin: 1024, rtt: 40 },
    { from: 6000, origin: 1050, rtt: 40 },
    { from: 8000, origin: -4007, rtt: 40 },
    { from: 10_000, origin: -4007 + 23, rtt: 3 },
  ];
  const stall = { from: 9000, to: 9500 };
  const end = 12_000;
  const clocks = phases.map((p) => {
    const tc = new TickClock(T);
    for (let t = 1; t <= 5; t++) tc.observe(t, p.origin + t * T);
    return tc;
  });
  const sends: number[] = [];
  let last = -Infinity;
  let maxPoll = 0;
  for (let now = 500, i = 0; now < end; i++) {
    let p = 0;
    while (p + 1 < phases.length && phases[p + 1]!.from <= now) p++;
    const at = alignedInputAt(clocks[p]!, last, now, phases[p]!.rtt, lead);
    assert.ok(at !== undefined);
    if (at <= now) {
      sends.push(now);
      last = now;
      const again = alignedInputAt(clocks[p]!, last, now, phases[p]!.rtt, lead)!;
      assert.ok(again > now + T / 2, `a second send due at ${now}`);
    }
    // Timer granularity: polls 1 to 10 ms apart, and 500 ms during the stall.
    const step = now < stall.from && now + 10 >= stall.from ? stall.to - now : 1 + ((i * 7) % 10);
    if (step <= 10) maxPoll = Math.max(maxPoll, step);
    now += step;
  }
  for (let i = 1; i < sends.length; i++) {
    const gap = sends[i]! - sends[i - 1]!;
    assert.ok(gap > T / 2, `two sends ${gap} ms apart at ${sends[i]}`);
    if (sends[i - 1]! < stall.from && sends[i]! >= stall.from) {
      assert.equal(sends[i], stall.to, "no send right after the stall");
    } else {
      assert.ok(gap <= 1.5 * T + maxPoll, `${gap} ms without a send at ${sends[i]}`);
    }
  }
  // Between the changes each send is on its phase's timeline (a poll late at
  // most), one per tick.
  for (const [j, ph] of phases.entries()) {
    const from = Math.max(ph.from, 500) + 200;
    const to = Math.min(phases[j + 1]?.from ?? end, j === 4 ? stall.from : end) - 1;
    const inside = sends.filter((t) => t >= from && t < to);
    assert.ok(Math.abs(inside.length - (to - from) / T) <= 1, `phase ${j}: ${inside.length} sends in ${to - from} ms`);
    for (const t of inside) {
      const late = (((t - (ph.origin - ph.rtt - lead)) % T) + T) % T;
      assert.ok(late < maxPoll, `phase ${j}: send at ${t} is ${late} ms after its aligned time`);
    }
  }
});

test("alignedInputAt: the first send and the send after a stall are due at once", () => {
  const tc = new TickClock(50);
  assert.equal(alignedInputAt(tc, -Infinity, 1000, 10), undefined, "no timeline yet");
  for (let t = 1; t <= 5; t++) tc.observe(t, 1000 + 50 * t);
  // Send times (rtt 10, lead 20): ...970, 1020, 1070...
  const cases = [
    { last: -Infinity, now: 1100, want: 1070 }, // never sent: the latest aligned time, due
    { last: 800, now: 1100, want: 1070 }, // stalled: the latest one, due (one send, not the missed ones)
    { last: 1071, now: 1080, want: 1120 }, // just sent: the next tick's
    { last: 1094, now: 1100, want: 1120 }, // 26 ms after the last send: allowed
    { last: 1095, now: 1100, want: 1170 }, // 25 ms (half a tick) after it: too close, the next tick's
    { last: 1096, now: 1100, want: 1170 },
    { last: 1060, now: 1100, want: 1120 },
    { last: 1069, now: 1100, want: 1120 }, // a missed 1070 is not sent 1 ms after the last send
    { last: 1040, now: 1100, want: 1070 }, // a late poll still sends for 1070
  ];
  for (const c of cases) assert.equal(alignedInputAt(tc, c.last, c.now, 10, 20), c.want, `last ${c.last} now ${c.now}`);
});

test("playerColor: ten players present at once get ten colours, none an orb's or it's colour", () => {
  const seen = new Set<string>();
  for (let id = 1; id <= 10; id++) seen.add(playerColor(id));
  assert.equal(seen.size, 10);
  assert.equal(playerColor(11), playerColor(1));
  const hueDist = (a: number, b: number) => Math.min(Math.abs(a - b), 360 - Math.abs(a - b));
  for (const c of PLAYER_COLORS) {
    const m = /^hsl\((\d+) (\d+)% (\d+)%\)$/.exec(c);
    assert.ok(m, c);
    const [h, s] = [Number(m[1]), Number(m[2])];
    if (s < 40) continue; // greyish: far from the saturated orbs whatever the hue
    for (const avoid of [45, 163, 350]) assert.ok(hueDist(h, avoid) >= 20, `${c} is near hue ${avoid}`);
  }
});

test("layoutLabels: overlapping labels are stacked, apart ones stay", () => {
  const box = (id: number, x: number, y: number) => ({ id, x, y, w: 60, h: 16 });
  const overlaps = (a: { left: number; top: number }, b: { left: number; top: number }) =>
    a.left < b.left + 60 && b.left < a.left + 60 && a.top < b.top + 16 && b.top < a.top + 16;
  // Four players on one spot, one far away.
  const got = layoutLabels([box(1, 100, 100), box(2, 102, 101), box(3, 99, 100), box(4, 100, 98), box(5, 400, 100)]);
  assert.equal(got.length, 5);
  assert.deepEqual(got[0], { id: 1, left: 70, top: 84, moved: false });
  assert.deepEqual(got[4], { id: 5, left: 370, top: 84, moved: false });
  for (let i = 0; i < got.length; i++) {
    for (let j = i + 1; j < got.length; j++) assert.ok(!overlaps(got[i]!, got[j]!), `labels ${i + 1} and ${j + 1} overlap`);
  }
  assert.ok(got.slice(1, 4).every((l) => l.moved));
});

test("currentIt: a tag decides until a state of its tick arrives", () => {
  assert.equal(currentIt(3, 100, undefined), 3);
  assert.equal(currentIt(3, 100, { target: 7, tick: 102 }), 7);
  assert.equal(currentIt(7, 102, { target: 7, tick: 102 }), 7);
  // Later states win (e.g. someone else tagged since).
  assert.equal(currentIt(9, 110, { target: 7, tick: 102 }), 9);
});

test("camera: a scale floor zooms a narrow canvas in and follows on the standard map", () => {
  // A 390 × 844 phone: the standard map would be drawn at 0.23 px per unit.
  const loose = camera(STANDARD_WORLD, 390, 844, { x: 100, y: 450 });
  assert.ok(loose.scale < 0.25 && !loose.follow);
  const c = camera(STANDARD_WORLD, 390, 844, { x: 100, y: 450 }, 0.5);
  assert.equal(c.scale, 0.5);
  assert.ok(c.follow, "the camera does not follow a map wider than its view");
  // x follows the focus (clamped at the left edge), y is centred whole (900 < 1688).
  assert.equal(c.cx, 390 / 0.5 / 2 - CAMERA_MARGIN);
  assert.equal(c.cy, 450);
  // A desktop canvas is above the floor: unchanged.
  const d = camera(STANDARD_WORLD, 1280, 720, undefined, 0.5);
  assert.deepEqual(d, camera(STANDARD_WORLD, 1280, 720));
});

test("roundView: countdown while played, winner banner in the break", async () => {
  const { roundView, clock } = await import("../../src/game/round.js");
  const { RoundPhase } = await import("../../src/gen/arena/v1/arena_pb.js");
  assert.equal(clock(72), "1:12");
  assert.equal(clock(0.2), "0:01");
  assert.equal(clock(-3), "0:00");
  assert.deepEqual(roundView(undefined, 5, 20, 1), { label: "", secondsLeft: 0, banner: "", next: "" });
  const playing = create(StateSchema, { round: 3, phase: RoundPhase.PLAYING, phaseEndsTick: 2000 });
  assert.deepEqual(roundView(playing, 2000 - 20 * 72, 20, 1), { label: "Round 3 · 1:12", secondsLeft: 72, banner: "", next: "" });
  const over = create(StateSchema, { round: 3, phase: RoundPhase.OVER, phaseEndsTick: 100, winner: 2, winnerName: "ada", winnerScore: 42 });
  assert.deepEqual(roundView(over, 0, 20, 1), { label: "Round 3 over", secondsLeft: 5, banner: "ada wins round 3 · 42 points", next: "next round in 5" });
  assert.equal(roundView(over, 0, 20, 2).banner, "You win round 3 · 42 points");
  const nobody = create(StateSchema, { round: 1, phase: RoundPhase.OVER, phaseEndsTick: 10 });
  assert.equal(roundView(nobody, 0, 20, 1).banner, "Round 1 over · nobody scored");
});

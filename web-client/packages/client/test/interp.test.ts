import { test } from "node:test";
import assert from "node:assert/strict";
import { InterpolationBuffer, lerp } from "../src/index.js";

test("InterpolationBuffer brackets and alpha", () => {
  const b = new InterpolationBuffer<number>(8);
  for (const t of [10, 11, 12, 14]) b.push(t, t * 100);
  const cases: { at: number; from: number; to: number; alpha: number; status: string }[] = [
    { at: 9, from: 1000, to: 1000, alpha: 0, status: "behind" },
    { at: 10, from: 1000, to: 1000, alpha: 0, status: "ok" },
    { at: 10.25, from: 1000, to: 1100, alpha: 0.25, status: "ok" },
    { at: 13, from: 1200, to: 1400, alpha: 0.5, status: "ok" },
    { at: 15, from: 1400, to: 1400, alpha: 0, status: "ahead" },
  ];
  for (const c of cases) {
    const fresh = new InterpolationBuffer<number>(8);
    for (const t of [10, 11, 12, 14]) fresh.push(t, t * 100);
    const s = fresh.sample(c.at)!;
    assert.deepEqual([s.from, s.to, s.alpha, s.status], [c.from, c.to, c.alpha, c.status], `at ${c.at}`);
    assert.equal(lerp(s.from, s.to, s.alpha), c.from + (c.to - c.from) * c.alpha);
  }
});

test("InterpolationBuffer ignores stale pushes, drops the past, caps size, resyncs", () => {
  const b = new InterpolationBuffer<string>(3);
  assert.equal(b.sample(1), undefined);
  assert.ok(b.push(1, "a"));
  assert.equal(b.push(1, "dup"), false);
  b.push(2, "b");
  b.push(3, "c");
  b.push(4, "d");
  assert.equal(b.size, 3);
  assert.equal(b.sample(3.5)!.from, "c");
  assert.equal(b.size, 2, "snapshots before the bracket were kept");
  b.push(5, "e");
  b.resync();
  assert.equal(b.size, 1);
  assert.equal(b.newestTick, 5);
});

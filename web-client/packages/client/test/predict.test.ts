import { test } from "node:test";
import assert from "node:assert/strict";
import { Predictor } from "../src/index.js";
import { StateRing } from "../src/ring.js";

type P = { x: number };
const step = (s: P, dx: number): P => ({ x: s.x + dx });

test("Predictor replays unacknowledged inputs on each state", () => {
  const p = new Predictor<P, number>(step);
  assert.equal(p.push(1, 5), undefined, "predicted before any state");
  p.reconcile({ x: 0 }, 0); // first state: input 1 not processed yet
  assert.deepEqual(p.state, { x: 5 });
  p.push(2, 1);
  p.push(3, 10);
  assert.deepEqual(p.state, { x: 16 });
  // Server processed up to 2 and says x = 7 (it clamped input 1 to 6).
  assert.deepEqual(p.reconcile({ x: 7 }, 2), { x: 17 });
  assert.deepEqual(p.pending.map((i) => i.seq), [3]);
  // All processed.
  assert.deepEqual(p.reconcile({ x: 17 }, 3), { x: 17 });
  assert.equal(p.pending.length, 0);
});

test("Predictor bounds pending inputs", () => {
  const p = new Predictor<P, number>(step, 3);
  for (let i = 1; i <= 5; i++) p.push(i, 1);
  assert.deepEqual(p.pending.map((i) => i.seq), [3, 4, 5]);
  assert.equal(p.overflowed, 2);
  p.reset();
  assert.equal(p.pending.length, 0);
  assert.equal(p.state, undefined);
});

test("StateRing", () => {
  const r = new StateRing<string>(4);
  r.put(1, "a");
  r.put(2, "b");
  r.put(5, "e"); // overwrites slot of 1
  assert.equal(r.get(1), undefined);
  assert.equal(r.get(2), "b");
  assert.equal(r.get(5), "e");
  assert.equal(r.get(0), undefined);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { deepFreeze } from "../src/readonly.js";

test("deepFreeze freezes objects, arrays and maps all the way down, not typed arrays", () => {
  const bytes = new Uint8Array([1, 2, 3]);
  const v = { a: { b: [{ c: 1 }], m: { "7": { x: 1 } } }, bytes, n: null, big: 5n };
  const out = deepFreeze(v);
  assert.equal(out, v, "deepFreeze returns its argument");
  for (const o of [v, v.a, v.a.b, v.a.b[0], v.a.m, v.a.m["7"]]) assert.ok(Object.isFrozen(o));
  assert.equal(Object.isFrozen(bytes), false); // Object.freeze throws on a non-empty typed array
  bytes[0] = 9;
  assert.throws(() => {
    (v.a.m["7"] as { x: number }).x = 2;
  }, TypeError);
  // A frozen subtree is taken as frozen all the way down (not walked again).
  const shared = deepFreeze({ deep: { y: 1 } });
  const next = deepFreeze({ shared, fresh: { z: 1 } });
  assert.ok(Object.isFrozen(next.fresh) && Object.isFrozen(next.shared.deep));
  // Primitives pass through.
  assert.equal(deepFreeze(3), 3);
  assert.equal(deepFreeze(undefined), undefined);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { clone, create, equals, isFieldSet, toBinary } from "@bufbuild/protobuf";
import { PlayerSchema, StateSchema, type State } from "../../../src/gen/arena/v1/arena_pb.js";
import { applyPatch, PatchError } from "../src/index.js";

function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  return Uint8Array.from(clean.match(/../g) ?? [], (b) => parseInt(b, 16));
}

function baseState(): State {
  return create(StateSchema, {
    players: {
      7: { x: 100, y: 200, name: "ada", score: 3, hue: 1 },
      9: { x: -4, y: 8, name: "bob", hue: 200 },
    },
    pickups: { 1: { x: 10, y: 20, value: 1 } },
    it: 0,
  });
}

// Arena field order (by number): State{players=0, pickups=1, it=2};
// Player{x=0, y=1, name=2, score=3, hue=4}.
const cases: { name: string; patch: string; want: (s: State) => void }[] = [
  { name: "unchanged", patch: "00", want: () => {} },
  { name: "extra zero mask groups", patch: "80 80 00", want: () => {} },
  {
    name: "player moves diagonally (DELTA.md example: 4 bytes after the state mask)",
    patch: "03 00 00 01 07 0f 02 01",
    want: (s) => {
      s.players[7]!.x = 101;
      s.players[7]!.y = 199;
    },
  },
  { name: "it set", patch: "10 05", want: (s) => void (s.it = 5) },
  {
    // world_width (field 4, index 3: bits 6-7) SET 8000; world_height (index 4: bits 8-9: second mask byte 0x02) SET 900.
    name: "world size set (fields 4 and 5, a two-byte mask)",
    patch: "c0 02 c0 3e 84 07",
    want: (s) => {
      s.worldWidth = 8000;
      s.worldHeight = 900;
    },
  },
  {
    name: "map entry removed, added and patched",
    patch:
      "03 01 09" + // remove 9
      " 01 0b " + "09" + "08 0a 10 14 1a 03 63 61 74" + // set 11 = {x:5,y:10,name:"cat"} (9 bytes)
      " 01 07 80 06 0a", // patch 7: hue PATCH (idx4 -> bits 8,9 = group 1 bits 1,2) +5 (zigzag 10)
    want: (s) => {
      delete s.players[9];
      s.players[11] = create(PlayerSchema, { x: 5, y: 10, name: "cat" });
      s.players[7]!.hue = 6;
    },
  },
  {
    name: "optional score set to zero stays present",
    patch: "03 00 00 01 07 40 00",
    want: (s) => void (s.players[7]!.score = 0),
  },
  {
    name: "optional score cleared",
    patch: "03 00 00 01 07 80 01",
    want: (s) => void delete s.players[7]!.score,
  },
  {
    name: "uint32 patch wraps",
    patch: "03 00 00 01 07 80 06 03", // hue 1 + (-2) wraps
    want: (s) => void (s.players[7]!.hue = 4294967295),
  },
  {
    name: "map cleared and a scalar set in one patch",
    patch: "18 05",
    want: (s) => {
      s.pickups = {};
      s.it = 5;
    },
  },
  {
    name: "pickups replaced whole by SET",
    patch: "04 01 02 06 08 02 10 04 18 07",
    want: (s) => void (s.pickups = { 2: { $typeName: "arena.v1.Pickup", x: 1, y: 2, value: 7 } }),
  },
];

for (const c of cases) {
  test(`applyPatch: ${c.name}`, () => {
    const base = baseState();
    const before = clone(StateSchema, base);
    const got = applyPatch(StateSchema, base, hex(c.patch));
    const want = clone(StateSchema, base);
    c.want(want);
    assert.ok(equals(StateSchema, got, want), `got ${JSON.stringify(got, bigintJson)}`);
    assert.ok(equals(StateSchema, base, before), "baseline was modified");
    // The result encodes the same as the expected state (no stray fields).
    assert.deepEqual(toBinary(StateSchema, got), toBinary(StateSchema, want));
  });
}

test("applyPatch: optional score presence is kept", () => {
  const got = applyPatch(StateSchema, baseState(), hex("03 00 00 01 07 40 00"));
  assert.equal(got.players[7]!.score, 0);
  assert.ok(isFieldSet(got.players[7]!, PlayerSchema.fields.find((f) => f.name === "score")!));
});

test("applyPatch: untouched entries are shared with the baseline", () => {
  const base = baseState();
  const got = applyPatch(StateSchema, base, hex("03 00 00 01 07 0f 02 01"));
  assert.equal(got.players[9], base.players[9]);
  assert.equal(got.pickups, base.pickups);
  assert.notEqual(got.players[7], base.players[7]);
});

const bad: { name: string; patch: string; code: PatchError["code"] }[] = [
  { name: "empty", patch: "", code: "truncated" },
  { name: "truncated value", patch: "03 00 00 01 07 0f 02", code: "truncated" },
  { name: "truncated mask", patch: "80", code: "truncated" },
  { name: "trailing bytes", patch: "00 00", code: "trailing" },
  { name: "PATCH on a string", patch: "03 00 00 01 07 30", code: "bad-op" },
  { name: "PATCH of a missing map entry", patch: "03 00 00 01 08 0f 02 01", code: "missing-baseline" },
  { name: "PATCH of an unset scalar", patch: "30 02", code: "missing-baseline" },
  // State has 5 fields (indexes 0-4): index 5 is bits 10-11 (second mask byte, bit 3).
  // arena.v1.State has 11 fields (indices 0-10): field 11's SET is bit 22,
  // in the mask's fourth group; field 13's is bit 26.
  { name: "op past the last field", patch: "80 80 80 02", code: "field-index" },
  { name: "op past the last field in a later group", patch: "80 80 80 20", code: "field-index" },
  { name: "huge count", patch: "04 ff ff ff ff 0f", code: "truncated" },
  { name: "varint too long", patch: "10 ff ff ff ff ff ff ff ff ff ff 01", code: "bad-value" },
  { name: "bad UTF-8", patch: "03 00 00 01 07 10 01 ff", code: "bad-value" },
];

for (const c of bad) {
  test(`applyPatch refuses: ${c.name}`, () => {
    assert.throws(
      () => applyPatch(StateSchema, baseState(), hex(c.patch)),
      (e: unknown) => e instanceof PatchError && e.code === c.code,
    );
  });
}

test("applyPatch never throws anything but PatchError on random bytes", () => {
  // Deterministic pseudo-random input (xorshift), bounded loop.
  let seed = 0x9e3779b9;
  const rnd = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 4294967296;
  };
  const valid = hex("03 01 09 01 0b 09 08 0a 10 14 1a 03 63 61 74 01 07 80 06 0a");
  for (let i = 0; i < 3000; i++) {
    const p = valid.slice(0, 1 + Math.floor(rnd() * valid.length));
    const n = Math.floor(rnd() * 3);
    for (let j = 0; j < n; j++) p[Math.floor(rnd() * p.length)] = Math.floor(rnd() * 256);
    try {
      applyPatch(StateSchema, baseState(), p);
    } catch (e) {
      assert.ok(e instanceof PatchError, `unexpected ${String(e)}`);
    }
  }
});

function bigintJson(_k: string, v: unknown): unknown {
  return typeof v === "bigint" ? v.toString() : v;
}

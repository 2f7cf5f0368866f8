/**
 * Node benchmark: decode one arena-10 State envelope (10 players moving
 * diagonally, every tick) and apply its patch to the baseline, as the SDK
 * does per frame. Prints the median µs per frame of 5 runs.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { PlayerSchema, StateSchema, type State } from "../src/gen/arena/v1/arena_pb.js";
import { applyPatch } from "@tickwire/client";
import { decodeServer } from "../packages/client/src/wire.js";
import { encodeServer } from "../packages/client/test/wire-helpers.js";

const players: State["players"] = {};
for (let i = 1; i <= 10; i++) players[i] = create(PlayerSchema, { x: 400 + i * 40, y: 300 + i * 20, name: `bot-${i}`, score: i, hue: i * 36 });
const pickups: State["pickups"] = {};
for (let i = 1; i <= 12; i++) pickups[i] = { $typeName: "arena.v1.Pickup", x: i * 300, y: i * 200, value: 1 };
const base = create(StateSchema, { players, pickups, it: 3 });

// Patch: players PATCH; map patch with 10 entries, each x+12, y-12 (zigzag 24, 23).
const bytes: number[] = [0x03, 0x00, 0x00, 10];
for (let i = 1; i <= 10; i++) bytes.push(i, 0x0f, 24, 23);
const patch = new Uint8Array(bytes);
const frame = encodeServer({ kind: { case: "state", value: { tick: 101, baselineTick: 100, lastInputSeq: 55, payload: patch } } });
console.log(`arena-10 frame: ${frame.length} B envelope, ${patch.length} B patch, full state ${toBinary(StateSchema, base).length} B`);

const N = 20000;
const runs: number[] = [];
let sink = 0;
for (let r = 0; r < 6; r++) {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const m = decodeServer(frame);
    if (m.kind.case !== "state") throw new Error("bad frame");
    const s = applyPatch(StateSchema, base, m.kind.value.payload);
    sink += s.players[1]!.x;
  }
  if (r > 0) runs.push(((performance.now() - t0) * 1000) / N); // first run is warm-up
}
runs.sort((a, b) => a - b);
console.log(`decode+apply: median ${runs[2]!.toFixed(2)} µs/frame (runs: ${runs.map((x) => x.toFixed(2)).join(", ")}) [${sink > 0 ? "ok" : ""}]`);

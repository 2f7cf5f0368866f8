/**
 * The Go golden vectors (proto/DELTA.md, "Golden vectors"): for every
 * netcode/testdata/golden/NNN.{base,cur,patch}.bin, applying the patch to
 * base must give cur. Skipped only while the folder does not exist; once it
 * exists an empty folder, an incomplete triple or a missing TS schema fails.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { equals, fromBinary, type DescMessage } from "@bufbuild/protobuf";
import { applyPatch } from "../src/index.js";
import { deepFreeze } from "../src/readonly.js";

const here = dirname(fileURLToPath(import.meta.url));
const goldenDir = join(here, "../../../../netcode/testdata/golden");
const genDir = join(here, "gen/tickwire/testing");

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith("_pb.ts") ? [join(dir, e.name)] : [],
  );
}

async function testStateSchema(): Promise<DescMessage | undefined> {
  for (const f of walk(genDir)) {
    const mod = (await import(pathToFileURL(f).href)) as Record<string, unknown>;
    const s = mod["TestStateSchema"] as DescMessage | undefined;
    if (s && s.typeName === "tickwire.testing.v1.TestState") return s;
  }
  return undefined;
}

test("golden delta vectors from the Go encoder", async (t) => {
  if (!existsSync(goldenDir)) {
    t.skip(`no golden vectors yet (${goldenDir} does not exist)`);
    return;
  }
  const names = readdirSync(goldenDir);
  const ids = [...new Set(names.filter((n) => n.endsWith(".patch.bin")).map((n) => n.slice(0, -".patch.bin".length)))].sort();
  assert.ok(ids.length > 0, `${goldenDir} holds no *.patch.bin vectors`);
  const schema = await testStateSchema();
  assert.ok(schema, "tickwire.testing.v1.TestState is not generated under test/gen (run make proto)");
  for (const id of ids) {
    const read = (kind: string) => readFileSync(join(goldenDir, `${id}.${kind}.bin`));
    const base = fromBinary(schema, read("base"));
    const cur = fromBinary(schema, read("cur"));
    // A frozen baseline (the client's dev mode): applyPatch must copy, never write.
    const got = applyPatch(schema, deepFreeze(base), read("patch"));
    assert.ok(equals(schema, got, cur), `vector ${id}: apply(base, patch) != cur`);
    // Not compared byte for byte: protobuf-es writes string-keyed map
    // entries in insertion order, which a patch legitimately changes.
  }
});

// Builds the games' bundles into examples/arena/web/dist (embedded by the
// Go server with go:embed): the arena's app.js (minified, ES2020) and
// app.js.map, connect four's connect4/app.js and its map, and the static
// files (static/, connect four's in static/connect4/). `--check` builds in memory and fails when the committed files
// differ from a fresh build (a stale bundle), without writing anything.
import { build } from "esbuild";
import { readFileSync, writeFileSync, mkdirSync, readdirSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = resolve(root, "../examples/arena/web/dist");
const check = process.argv.includes("--check");
const limitGz = 60 * 1024;

const result = await build({
  absWorkingDir: root,
  entryPoints: { app: "src/game/main.ts", "connect4/app": "src/connect4/main.ts" },
  outdir,
  bundle: true,
  minify: true,
  sourcemap: true,
  format: "iife",
  target: ["es2020"],
  platform: "browser",
  // The SDK (@tickwire/client, a workspace package) from its source.
  conditions: ["@tickwire/source"],
  legalComments: "none",
  write: false,
  logLevel: "warning",
});

/** @type {Map<string, Uint8Array>} */
const files = new Map();
for (const f of result.outputFiles) files.set(f.path, f.contents);
for (const ent of readdirSync(join(root, "static"), { recursive: true, withFileTypes: true })) {
  if (!ent.isFile()) continue;
  const rel = relative(join(root, "static"), join(ent.parentPath, ent.name));
  files.set(join(outdir, rel), readFileSync(join(root, "static", rel)));
}

const app = files.get(join(outdir, "app.js"));
const gz = gzipSync(app, { level: 9 }).length;
const c4 = files.get(join(outdir, "connect4/app.js"));
const report = `app.js ${app.length} B, ${gz} B gzipped (limit ${limitGz}); connect4/app.js ${c4.length} B, ${gzipSync(c4, { level: 9 }).length} B gzipped`;
if (gz > limitGz) {
  console.error(`bundle too big: ${report}`);
  process.exit(1);
}

if (check) {
  let stale = 0;
  for (const [path, data] of files) {
    if (!existsSync(path) || Buffer.compare(readFileSync(path), Buffer.from(data)) !== 0) {
      console.error(`stale bundle file: ${relative(process.cwd(), path)} (run 'make web')`);
      stale++;
    }
  }
  if (stale) process.exit(1);
  console.log(`bundle is up to date: ${report}`);
} else {
  for (const [path, data] of files) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, data);
  }
  console.log(`wrote ${relative(process.cwd(), outdir)}: ${report}`);
}

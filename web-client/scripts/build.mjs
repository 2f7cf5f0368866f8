// Builds the arena game bundle into examples/arena/web/dist (embedded by the
// Go server with go:embed): app.js (minified, ES2020), app.js.map, and the
// static files. `--check` builds in memory and fails when the committed files
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
  entryPoints: ["src/game/main.ts"],
  outfile: join(outdir, "app.js"),
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
for (const name of readdirSync(join(root, "static"))) {
  files.set(join(outdir, name), readFileSync(join(root, "static", name)));
}

const app = files.get(join(outdir, "app.js"));
const gz = gzipSync(app, { level: 9 }).length;
const report = `app.js ${app.length} B, ${gz} B gzipped (limit ${limitGz})`;
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
  mkdirSync(outdir, { recursive: true });
  for (const [path, data] of files) writeFileSync(path, data);
  console.log(`wrote ${relative(process.cwd(), outdir)}: ${report}`);
}

// Builds the published package into dist/: ES2020 ESM JavaScript and .d.ts
// declarations, with tsc (tsconfig.build.json). Runs on `npm pack` (prepack).
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
rmSync(resolve(root, "dist"), { recursive: true, force: true });
execFileSync(process.execPath, [tsc, "-p", resolve(root, "tsconfig.build.json")], { stdio: "inherit" });

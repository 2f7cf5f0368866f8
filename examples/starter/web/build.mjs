// Bundles src/main.ts into dist/app.js and copies index.html: `npm run build`.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";

mkdirSync("dist", { recursive: true });
await build({ entryPoints: ["src/main.ts"], outfile: "dist/app.js", bundle: true, minify: true, format: "iife", target: "es2020" });
copyFileSync("index.html", "dist/index.html");

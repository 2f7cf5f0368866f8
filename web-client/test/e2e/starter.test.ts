/**
 * The starter's browser check, in Debian's Chromium: the starter's client
 * built as a team builds it (scripts/check-starter.sh: @tickwire/client from
 * its packed tarball), served by `go build ./examples/starter`; a page joins,
 * its dot (white, in the middle) moves right while ArrowRight is held, and
 * the Wave button comes back as a Waved message.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { freePort } from "./harness.js";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../../..");


let tmp = "";
let skip = "";
let proc: ChildProcess | undefined;
let browser: Browser | undefined;
let base = "";

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), "tickwire-starter-"));
  const bin = join(tmp, "starter");
  try {
    execFileSync("go", ["build", "-o", bin, "./examples/starter"], { cwd: repo, stdio: "pipe" });
  } catch (e) {
    skip = `examples/starter does not build: ${(e as { stderr?: Buffer }).stderr?.toString().slice(0, 500) ?? String(e)}`;
    return;
  }
  execFileSync(resolve(here, "../../scripts/check-starter.sh"), [join(tmp, "dist")], { stdio: "pipe" });
  const port = await freePort();
  let log = "";
  proc = spawn(bin, ["-addr", `127.0.0.1:${port}`, "-web", join(tmp, "dist")], { stdio: ["ignore", "pipe", "pipe"] });
  proc.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null || i === 200) throw new Error(`starter did not come up:\n${log}`);
    try {
      if ((await fetch(`${base}/`)).ok) break;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"] });
});

after(async () => {
  await browser?.close();
  if (proc && proc.exitCode === null) {
    const exited = new Promise((r) => proc!.once("exit", r));
    proc.kill("SIGKILL");
    await exited;
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** The left edge of the white pixels (the own dot and its name) on the canvas, -1 if none. */
const whiteLeft = (p: Page) =>
  p.evaluate(() => {
    const c = document.querySelector<HTMLCanvasElement>("#world")!;
    const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
    let left = -1;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i]! > 240 && d[i + 1]! > 240 && d[i + 2]! > 240 && d[i + 3]! > 240) {
        const x = (i / 4) % c.width;
        if (left < 0 || x < left) left = x;
      }
    }
    return left;
  });

test("the starter: join, move, wave", async (t) => {
  if (skip) return t.skip(skip);
  const errors: string[] = [];
  const page = await (await browser!.newContext({ viewport: { width: 800, height: 700 }, deviceScaleFactor: 1 })).newPage();
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(`uncaught ${e.message}`));
  try {
    await page.goto(base);
    await page.waitForFunction(() => /^Joined as player \d+$/.test(document.querySelector("#status")!.textContent ?? ""), null, { timeout: 10000 });
    await page.waitForFunction(() => {
      const c = document.querySelector<HTMLCanvasElement>("#world")!;
      return c.getContext("2d")!.getImageData(200, 200, 1, 1).data[0]! > 240; // the own dot, in the middle
    }, null, { timeout: 10000 });
    const x0 = await whiteLeft(page);
    await page.keyboard.down("ArrowRight");
    try {
      await page.waitForFunction((x0) => {
        const c = document.querySelector<HTMLCanvasElement>("#world")!;
        return c.getContext("2d")!.getImageData(x0, 200, 1, 1).data[0]! < 100; // the dot left its old spot
      }, x0, { timeout: 10000 });
    } finally {
      await page.keyboard.up("ArrowRight");
    }
    assert.ok((await whiteLeft(page)) > x0, "the dot did not move right");
    await page.click("#wave");
    await page.waitForFunction(() => /waves!$/.test(document.querySelector("#status")!.textContent ?? ""), null, { timeout: 5000 });
    assert.deepEqual(errors, []);
  } finally {
    await page.context().close();
  }
});

/**
 * End to end in Debian's Chromium (never a downloaded browser): builds the Go
 * arena server, starts it on a free 127.0.0.1 port, opens two pages that join
 * the same room, holds a key in page A and checks that page B sees A's player
 * move. Skipped only when ./examples/arena does not build.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Page } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../../..");
const results = resolve(here, "../../test-results");

type Arena = {
  playerId: number;
  connected: boolean;
  tick: number;
  roomId: string;
  status: string;
  players(): { id: number; x: number; y: number }[];
};

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? res(a.port) : rej(new Error("no port"))));
    });
  });
}

async function waitHttp(url: string, proc: ChildProcess, logs: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) throw new Error(`server exited ${proc.exitCode}:\n${logs()}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not come up:\n${logs()}`);
}

/** Polls fn in the page until it returns true (bounded: 200 × 100 ms). */
async function until(page: Page, what: string, fn: () => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await page.evaluate(fn)) return;
    await page.waitForTimeout(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

test("two browsers play in the same arena room", async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), "tickwire-e2e-"));
  const bin = join(tmp, "arena");
  try {
    execFileSync("go", ["build", "-o", bin, "./examples/arena"], { cwd: repo, stdio: "pipe" });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    const err = e as { stderr?: Buffer };
    t.skip(`examples/arena does not build: ${err.stderr?.toString().slice(0, 500) ?? String(e)}`);
    return;
  }
  const port = await freePort();
  let serverLog = "";
  const server = spawn(bin, ["-addr", `127.0.0.1:${port}`], { stdio: ["ignore", "pipe", "pipe"] });
  server.stdout!.on("data", (d: Buffer) => (serverLog += d.toString()));
  server.stderr!.on("data", (d: Buffer) => (serverLog += d.toString()));
  const base = `http://127.0.0.1:${port}`;
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  try {
    await waitHttp(`${base}/healthz`, server, () => serverLog);
    const consoleErrors: string[] = [];
    const open = async (label: string) => {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 } });
      const page = await ctx.newPage();
      page.on("console", (m) => {
        if (m.type() === "error") consoleErrors.push(`${label}: ${m.text()}`);
      });
      page.on("pageerror", (e) => consoleErrors.push(`${label}: ${e.message}`));
      await page.goto(base);
      await until(page, `${label} to join`, () => {
        const a = (window as unknown as { __arena?: Arena }).__arena;
        return !!a && a.connected && a.playerId > 0 && a.tick > 0;
      });
      return page;
    };
    const a = await open("A");
    const b = await open("B");
    const arena = (p: Page) => p.evaluate(() => {
      const x = (window as unknown as { __arena: Arena }).__arena;
      return { id: x.playerId, room: x.roomId, players: x.players() };
    });
    const sa = await arena(a);
    const sb = await arena(b);
    assert.equal(sa.room, sb.room, "pages joined different rooms");
    await until(b, "B to see A", () => {
      const x = (window as unknown as { __arena: Arena }).__arena;
      return x.players().length >= 2;
    });
    const before = (await arena(b)).players.find((p) => p.id === sa.id);
    assert.ok(before, `B does not see A's player ${sa.id}`);

    // Hold D (right) in page A, or A (left) if A spawned near the right wall.
    const key = before.x > 1200 ? "KeyA" : "KeyD";
    await a.bringToFront();
    await a.keyboard.down(key);
    try {
      await b.waitForFunction(
        ([id, x0]) => {
          const p = (window as unknown as { __arena: Arena }).__arena.players().find((q) => q.id === id);
          return !!p && Math.abs(p.x - x0) >= 100;
        },
        [sa.id, before.x] as const,
        { timeout: 15000, polling: 100 },
      );
    } finally {
      await a.keyboard.up(key);
    }
    const after = (await arena(b)).players.find((p) => p.id === sa.id)!;
    assert.ok(key === "KeyD" ? after.x > before.x : after.x < before.x, `A moved the wrong way: ${before.x} -> ${after.x}`);
    assert.ok(Math.abs(after.y - before.y) < 1, "A moved vertically while only a horizontal key was held");

    mkdirSync(results, { recursive: true });
    await b.waitForTimeout(300);
    await b.screenshot({ path: join(results, "arena-page-b.png") });
    await a.screenshot({ path: join(results, "arena-page-a.png") });
    assert.deepEqual(consoleErrors, [], "console errors");
  } finally {
    await browser.close();
    server.kill("SIGTERM");
    await new Promise((r) => (server.exitCode !== null ? r(null) : server.once("exit", r)));
    rmSync(tmp, { recursive: true, force: true });
  }
});

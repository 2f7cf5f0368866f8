/**
 * End to end in Debian's Chromium (never a downloaded browser): builds the Go
 * arena server once, starts it on free 127.0.0.1 ports and drives pages
 * through the debug hook `window.__arena`:
 *   - two pages join the same room; a key held in page A moves A in page B;
 *     A steers next to B and tags it (Space): both get Tagged, B is "it";
 *   - the large map: `?map=large` and the top-bar toggle join the same
 *     "arena-large" room, the camera follows, players() works;
 *   - timed rounds (a server with 12 s rounds): the countdown shows, A tags
 *     B and wins, both pages show the winner banner, then round 2 starts
 *     with every score back to 0;
 *   - a server restart: the page says it is reconnecting, then rejoins;
 *   - the layout at 1280×720 and on a 390×844 touch phone: the top bar's
 *     name field and map toggle, the HUD, the scores, the tag button, the
 *     help or touch hint and the toast do not overlap and stay on screen.
 * Page A of the first test runs with `?dev` (states deep-frozen: a game that
 * mutated one would throw, and the test fails on page errors).
 * Skipped only when ./examples/arena does not build. TICKWIRE_ARENA_BIN=path
 * uses a prebuilt server binary instead (it must embed the current bundle).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { freePort } from "./harness.js";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../../..");
const results = resolve(here, "../../test-results");

type Arena = {
  playerId: number;
  connected: boolean;
  tick: number;
  roomId: string;
  roomType: string;
  status: string;
  map: string;
  world: { w: number; h: number };
  camera: { x: number; y: number; scale: number; follow: boolean };
  it: number;
  round: { number: number; phase: number; winner: number; label: string; banner: string };
  tags(): { tagsSent: number; tagsReceived: number };
  local(): { x: number; y: number } | null;
  players(): { id: number; x: number; y: number; score: number }[];
};


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

const joinedFn = () => {
  const a = (window as unknown as { __arena?: Arena }).__arena;
  return !!a && a.connected && a.playerId > 0 && a.tick > 0;
};

/** A running arena server. */
interface Server {
  proc: ChildProcess;
  base: string;
  log(): string;
  /**
   * Stops the process and waits for it to exit: SIGKILL at once, or with
   * "SIGTERM" (the default) a graceful stop that turns into SIGKILL after
   * 1 s (the engine's drain waits up to DrainTimeout, 30 s, for rooms).
   */
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
}

const servers = new Set<Server>();

async function startServer(bin: string, port: number, extraArgs: string[] = []): Promise<Server> {
  let log = "";
  const proc = spawn(bin, ["-addr", `127.0.0.1:${port}`, "-admin-addr", "", ...extraArgs], { stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout!.on("data", (d: Buffer) => (log += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  const srv: Server = {
    proc,
    base: `http://127.0.0.1:${port}`,
    log: () => log,
    stop: async (signal = "SIGTERM") => {
      servers.delete(srv);
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill(signal);
        const timer = setTimeout(() => proc.kill("SIGKILL"), 1000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
  servers.add(srv);
  await waitHttp(`${srv.base}/healthz`, proc, () => log);
  return srv;
}

/**
 * Chromium reports a refused WebSocket connection as a console error; while
 * the server is down that is expected and not a page error.
 */
const expectedWhileDown = /WebSocket connection to '.*' failed/;

/** A browser window: desktop by default, or a touch phone. */
interface Device {
  viewport: { width: number; height: number };
  hasTouch?: boolean;
  isMobile?: boolean;
}
const desktop: Device = { viewport: { width: 1280, height: 720 } };
const phone: Device = { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true };

/** Opens a page, records its console errors and uncaught exceptions. */
async function openPage(browser: Browser, url: string, label: string, errors: string[], device: Device = desktop): Promise<Page> {
  const ctx = await browser.newContext({ ...device, deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`${label}: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`${label}: uncaught ${e.message}`));
  await page.goto(url);
  await until(page, `${label} to join`, joinedFn);
  return page;
}

/** Steers page a's player next to player bid with held arrow keys (bounded). */
async function steerNextTo(a: Page, bid: number): Promise<void> {
  await a.bringToFront();
  const held = new Set<string>();
  const hold = async (want: string[]) => {
    for (const k of [...held]) if (!want.includes(k)) (held.delete(k), await a.keyboard.up(k));
    for (const k of want) if (!held.has(k)) (held.add(k), await a.keyboard.down(k));
  };
  try {
    for (let i = 0; i < 150; i++) {
      const v = await a.evaluate((bid) => {
        const x = (window as unknown as { __arena: Arena }).__arena;
        const me = x.local();
        const other = x.players().find((p) => p.id === bid);
        return me && other ? { dx: other.x - me.x, dy: other.y - me.y } : null;
      }, bid);
      assert.ok(v, "A lost sight of B");
      if (Math.hypot(v.dx, v.dy) < 30) break;
      const want: string[] = [];
      if (Math.abs(v.dx) > 10) want.push(v.dx > 0 ? "ArrowRight" : "ArrowLeft");
      if (Math.abs(v.dy) > 10) want.push(v.dy > 0 ? "ArrowDown" : "ArrowUp");
      await hold(want);
      await a.waitForTimeout(40);
    }
  } finally {
    await hold([]);
  }
}

describe("arena e2e", () => {
  let tmp = "";
  let bin = "";
  let skip = "";
  let browser: Browser | undefined;

  before(async () => {
    bin = process.env.TICKWIRE_ARENA_BIN ?? "";
    if (!bin) {
      tmp = mkdtempSync(join(tmpdir(), "tickwire-e2e-"));
      bin = join(tmp, "arena");
      try {
        execFileSync("go", ["build", "-o", bin, "./examples/arena"], { cwd: repo, stdio: "pipe" });
      } catch (e) {
        const err = e as { stderr?: Buffer };
        skip = `examples/arena does not build: ${err.stderr?.toString().slice(0, 500) ?? String(e)}`;
        return;
      }
    }
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
      ],
    });
  });

  after(async () => {
    await browser?.close();
    for (const s of [...servers]) await s.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test("two browsers play in the same arena room", async (t) => {
    if (skip) return t.skip(skip);
    const server = await startServer(bin, await freePort());
    const consoleErrors: string[] = [];
    const contexts: { close(): Promise<void> }[] = [];
    try {
      const a = await openPage(browser!, `${server.base}/?dev`, "A", consoleErrors);
      const b = await openPage(browser!, server.base, "B", consoleErrors);
      contexts.push(a.context(), b.context());
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

      // Steer A next to B (held arrow keys, bounded), then tag with Space:
      // both pages get the Tagged message and B becomes "it".
      await steerNextTo(a, sb.id);
      await a.waitForTimeout(250); // let the server see A stopped next to B
      // Record the HUD's "it" row whenever B's toast changes: they must agree
      // from the first moment (the Tagged message can beat the state).
      await b.evaluate(() => {
        const w = window as unknown as { __toastHud: string[] };
        w.__toastHud = [];
        const toast = document.querySelector("#toast")!;
        new MutationObserver(() => {
          w.__toastHud.push(`${toast.textContent} | ${document.querySelector("#hud-it")!.textContent}`);
        }).observe(toast, { childList: true, characterData: true, subtree: true });
      });
      await a.keyboard.press("Space");
      const tagged = (bid: number) => {
        const x = (window as unknown as { __arena: Arena }).__arena;
        return x.tags().tagsReceived > 0 && x.it === bid;
      };
      await b.waitForFunction(tagged, sb.id, { timeout: 5000, polling: 50 });
      await a.waitForFunction(tagged, sb.id, { timeout: 5000, polling: 50 });
      assert.equal(await a.evaluate(() => (window as unknown as { __arena: Arena }).__arena.tags().tagsSent), 1);
      assert.equal(await b.locator("#hud-it").textContent(), "you!");
      const seen = await b.evaluate(() => (window as unknown as { __toastHud: string[] }).__toastHud);
      assert.ok(seen.length > 0, "B's toast never changed");
      for (const r of seen) assert.ok(!/you're it/.test(r) || r.endsWith("| you!"), `toast and HUD disagree: ${r}`);

      mkdirSync(results, { recursive: true });
      await b.waitForTimeout(150);
      await b.screenshot({ path: join(results, "arena-page-b.png") });
      await a.screenshot({ path: join(results, "arena-page-a.png") });
      assert.deepEqual(consoleErrors, [], "console errors");
    } finally {
      for (const c of contexts) await c.close();
      await server.stop();
    }
  });

  test("the large map: ?map=large and the toggle join the same arena-large room", async (t) => {
    if (skip) return t.skip(skip);
    const server = await startServer(bin, await freePort());
    const errors: string[] = [];
    const contexts: { close(): Promise<void> }[] = [];
    try {
      const a = await openPage(browser!, `${server.base}/?map=large`, "A", errors);
      contexts.push(a.context());
      // B starts on the standard map and switches with the top-bar toggle.
      const b = await openPage(browser!, server.base, "B", errors);
      contexts.push(b.context());
      assert.equal(await b.evaluate(() => (window as unknown as { __arena: Arena }).__arena.roomType), "arena");
      await b.click("#map-large");
      await until(b, "B to join arena-large", () => {
        const x = (window as unknown as { __arena: Arena }).__arena;
        return x.connected && x.roomType === "arena-large" && x.tick > 0 && x.players().some((p) => p.id === x.playerId);
      });
      assert.match(await b.evaluate(() => location.search), /map=large/);
      assert.equal(await b.getAttribute("#map-large", "aria-pressed"), "true");

      const snap = (p: Page) =>
        p.evaluate(() => {
          const x = (window as unknown as { __arena: Arena }).__arena;
          return { id: x.playerId, room: x.roomId, type: x.roomType, map: x.map, world: x.world, camera: x.camera, local: x.local(), players: x.players() };
        });
      await until(a, "A's state", () => {
        const x = (window as unknown as { __arena: Arena }).__arena;
        return x.players().some((p) => p.id === x.playerId) && x.local() !== null;
      });
      const sa = await snap(a);
      const sb = await snap(b);
      assert.equal(sa.type, "arena-large");
      assert.equal(sa.map, "large");
      assert.equal(sa.room, sb.room, "the pages joined different arena-large rooms");
      for (const s of [sa, sb]) {
        assert.deepEqual(s.world, { w: 8000, h: 8000 });
        assert.ok(s.camera.follow, "the camera does not follow on the large map");
        const me = s.players.find((p) => p.id === s.id);
        assert.ok(me, `players() lacks the page's own player ${s.id}`);
        assert.ok(me.x >= 16 && me.x <= 7984 && me.y >= 16 && me.y <= 7984, `own player outside the world: ${me.x},${me.y}`);
        for (const p of s.players) assert.ok(Number.isFinite(p.x) && Number.isFinite(p.y) && p.id > 0);
      }
      // The local player is on screen (the camera follows it).
      const onScreen = (s: typeof sa) =>
        Math.abs(s.camera.x - s.local!.x) * s.camera.scale <= 640 && Math.abs(s.camera.y - s.local!.y) * s.camera.scale <= 360;
      assert.ok(onScreen(sa), `A off screen: camera ${JSON.stringify(sa.camera)} local ${JSON.stringify(sa.local)}`);

      // Move A; its own state and the camera follow.
      const key = sa.local!.x > 4000 ? "KeyA" : "KeyD";
      await a.bringToFront();
      await a.keyboard.down(key);
      try {
        await a.waitForFunction(
          ([x0]) => {
            const x = (window as unknown as { __arena: Arena }).__arena;
            const me = x.players().find((p) => p.id === x.playerId);
            return !!me && Math.abs(me.x - x0) >= 100;
          },
          [sa.local!.x] as const,
          { timeout: 15000, polling: 100 },
        );
      } finally {
        await a.keyboard.up(key);
      }
      const moved = await snap(a);
      assert.ok(onScreen(moved), `A off screen after moving: camera ${JSON.stringify(moved.camera)} local ${JSON.stringify(moved.local)}`);
      mkdirSync(results, { recursive: true });
      await a.screenshot({ path: join(results, "arena-large-page-a.png") });
      assert.deepEqual(errors, [], "console errors");
    } finally {
      for (const c of contexts) await c.close();
      await server.stop();
    }
  });

  test("layout: nothing overlaps at 1280×720 or on a 390×844 touch phone", async (t) => {
    if (skip) return t.skip(skip);
    const server = await startServer(bin, await freePort());
    const errors: string[] = [];
    const pages: Page[] = [];
    try {
      for (const [name, device] of [["desktop", desktop], ["phone", phone]] as const) {
        const page = await openPage(browser!, server.base, name, errors, device);
        pages.push(page);
        // A scoreboard with a row and the longest toast the game shows.
        await until(page, "a scoreboard row", () => document.querySelectorAll("#scoreboard li").length > 0);
        const boxes = await page.evaluate(() => {
          const toast = document.querySelector<HTMLElement>("#toast")!;
          toast.textContent = "player-12345678901234 tagged you — you're it!";
          const out: Record<string, { x: number; y: number; w: number; h: number } | null> = {};
          for (const sel of ["#name", ".maps", ".hud", ".board", "#tag", "#help", "#touch-hint", "#toast"]) {
            const el = document.querySelector<HTMLElement>(sel)!;
            const r = el.getBoundingClientRect();
            const shown = getComputedStyle(el).display !== "none" && r.width > 0 && r.height > 0;
            out[sel] = shown ? { x: r.x, y: r.y, w: r.width, h: r.height } : null;
          }
          return out;
        });
        const { width: W, height: H } = device.viewport;
        const shown = Object.entries(boxes).filter((e): e is [string, NonNullable<(typeof e)[1]>] => e[1] !== null);
        for (const sel of ["#name", ".maps", ".hud", ".board", "#toast"]) assert.ok(boxes[sel], `${name}: ${sel} is not shown`);
        // The round's countdown and the connect four link sit inside the scores panel.
        const inside = await page.evaluate(() => {
          const board = document.querySelector(".board")!.getBoundingClientRect();
          return ["#round", "#c4-link"].map((sel) => {
            const r = document.querySelector(sel)!.getBoundingClientRect();
            return { sel, ok: r.width > 0 && r.left >= board.left && r.right <= board.right && r.top >= board.top && r.bottom <= board.bottom };
          });
        });
        for (const r of inside) assert.ok(r.ok, `${name}: ${r.sel} is not inside the scores panel`);
        if (device.hasTouch) {
          assert.ok(boxes["#tag"] && boxes["#touch-hint"], `${name}: no tag button or touch hint`);
          assert.equal(boxes["#help"], null, `${name}: the keyboard help shows on a touch screen`);
          assert.match((await page.locator("#touch-hint").textContent()) ?? "", /drag/i);
        } else {
          assert.ok(boxes["#help"], `${name}: no keyboard help`);
          assert.equal(boxes["#touch-hint"], null, `${name}: the touch hint shows without touch`);
        }
        for (const [sel, b] of shown) {
          assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.w <= W && b.y + b.h <= H, `${name}: ${sel} is off screen: ${JSON.stringify(b)}`);
        }
        for (let i = 0; i < shown.length; i++) {
          for (let j = i + 1; j < shown.length; j++) {
            const [sa, a] = shown[i]!;
            const [sb, b] = shown[j]!;
            const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
            assert.ok(!overlap, `${name} ${W}×${H}: ${sa} ${JSON.stringify(a)} overlaps ${sb} ${JSON.stringify(b)}`);
          }
        }
        await page.evaluate(() => (document.querySelector("#toast")!.textContent = ""));
        mkdirSync(results, { recursive: true });
        await page.screenshot({ path: join(results, `arena-${name}-${W}x${H}.png`) });
      }
      assert.deepEqual(errors, [], "console errors");
    } finally {
      for (const p of pages) await p.context().close();
      await server.stop();
    }
  });

  test("rounds: a countdown, the winner banner, then scores back to 0", async (t) => {
    if (skip) return t.skip(skip);
    const server = await startServer(bin, await freePort(), ["-round", "12s", "-round-break", "3s"]);
    const errors: string[] = [];
    const contexts: { close(): Promise<void> }[] = [];
    try {
      const a = await openPage(browser!, server.base, "A", errors);
      const b = await openPage(browser!, server.base, "B", errors);
      contexts.push(a.context(), b.context());
      const round = (p: Page) => p.evaluate(() => (window as unknown as { __arena: Arena }).__arena.round);
      const ids = async (p: Page) => p.evaluate(() => (window as unknown as { __arena: Arena }).__arena.playerId);
      const [ida, idb] = [await ids(a), await ids(b)];
      // Both joined in round 1 or 2 (12 s each): play in the next full round.
      await until(a, "a fresh round with 9+ s left", () => {
        const r = (window as unknown as { __arena: Arena }).__arena.round;
        return r.phase === 1 && /· 0:(09|1\d)$/.test(r.label);
      });
      const r0 = await round(a);
      assert.match(await a.locator("#round").textContent() ?? "", /^Round \d+ · 0:\d\d$/);
      await until(b, "B to see A", () => (window as unknown as { __arena: Arena }).__arena.players().length >= 2);
      await steerNextTo(a, idb);
      await a.waitForTimeout(250);
      await a.keyboard.press("Space");
      await a.waitForFunction((bid) => (window as unknown as { __arena: Arena }).__arena.it === bid, idb, { timeout: 5000, polling: 50 });
      // The round ends: A (5 points for the tag, B drained to 0) wins.
      for (const [p, want] of [[a, /^You win round \d+ · \d+ points?$/], [b, /^\S+ wins round \d+ · \d+ points?$/]] as const) {
        await p.waitForFunction(() => (window as unknown as { __arena: Arena }).__arena.round.phase === 2, null, { timeout: 15000, polling: 100 });
        const r = await round(p);
        assert.equal(r.number, r0.number, "the round changed before it was won");
        assert.equal(r.winner, ida);
        assert.match(r.banner, want);
        await p.locator("#banner").waitFor({ state: "visible", timeout: 5000 }); // the winner banner shows
      }
      mkdirSync(results, { recursive: true });
      await b.screenshot({ path: join(results, "arena-round-over.png") });
      // The next round: scores back to 0, the banner gone.
      await until(a, "the next round", () => (window as unknown as { __arena: Arena }).__arena.round.phase === 1);
      assert.equal((await round(a)).number, r0.number + 1);
      await a.locator("#banner").waitFor({ state: "hidden", timeout: 5000 });
      const scores = await a.evaluate(() => (window as unknown as { __arena: Arena }).__arena.players().map((p) => p.score));
      assert.ok(scores.every((s) => s <= 3), `scores not reset: ${scores}`); // orbs may score again at once
      assert.deepEqual(errors, [], "console errors");
    } finally {
      for (const c of contexts) await c.close();
      await server.stop();
    }
  });

  test("the page survives a server restart: reconnecting, then rejoined", async (t) => {
    if (skip) return t.skip(skip);
    const port = await freePort();
    let server = await startServer(bin, port);
    const errors: string[] = [];
    const page = await openPage(browser!, server.base, "P", errors);
    try {
      await server.stop("SIGKILL");
      await until(page, "the reconnecting status", () => {
        const x = (window as unknown as { __arena: Arena }).__arena;
        return !x.connected && /reconnecting/i.test(x.status);
      });
      const banner = page.locator("#status");
      assert.ok(await banner.isVisible(), "the status banner is hidden while the server is down");
      assert.match((await banner.textContent()) ?? "", /reconnecting/i);

      server = await startServer(bin, port);
      await until(page, "the page to rejoin", () => {
        const x = (window as unknown as { __arena: Arena }).__arena;
        return x.connected && x.playerId > 0 && x.tick > 0 && x.status === "" && x.players().some((p) => p.id === x.playerId);
      });
      assert.equal(await banner.isVisible(), false, "the status banner stays after the rejoin");
      const unexpected = errors.filter((e) => !expectedWhileDown.test(e));
      assert.deepEqual(unexpected, [], "console errors or uncaught exceptions");
    } finally {
      await page.context().close();
      await server.stop();
    }
  });
});

/**
 * Connect four end to end in Debian's Chromium: builds the Go server (the
 * arena's, which serves connect four at /connect4/), then two pages play a
 * full game in a private room: A follows the arena page's link to connect
 * four and creates a game; B opens A's invite link; they play in turn until
 * red (A) has four in a column; both pages show the winner; both ask for a
 * rematch and the colours swap. The turn timer is 30 s (never reached).
 * Skipped only when ./examples/arena does not build; TICKWIRE_ARENA_BIN=path
 * uses a prebuilt server.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { buildGo, freePort, launchChromium, startServer, stop } from "./harness.js";

const results = resolve(dirname(fileURLToPath(import.meta.url)), "../../test-results");

type C4 = { playerId: number; roomId: string; seat: number; status: number; turn: number; winner: number; game: number; message: string };
const c4 = (p: Page) => p.evaluate(() => ({ ...(window as unknown as { __c4: C4 }).__c4 }));

let tmp = "";
let skip = "";
let browser: Browser | undefined;
let proc: ChildProcess | undefined;
let base = "";

before(async () => {
  const built = buildGo("./examples/arena", "tickwire-c4-", process.env.TICKWIRE_ARENA_BIN);
  ({ tmp, skip } = built);
  if (skip) return;
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  proc = (await startServer(built.bin, ["-addr", `127.0.0.1:${port}`, "-admin-addr", ""], `${base}/healthz`)).proc;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stop(proc, tmp);
});

async function newPage(errors: string[], label: string, phone = false): Promise<Page> {
  const ctx = await browser!.newContext(
    phone ? { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 1 } : { viewport: { width: 1280, height: 720 }, deviceScaleFactor: 1 },
  );
  const page = await ctx.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`${label}: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`${label}: uncaught ${e.message}`));
  return page;
}

test("two pages play connect four to a win, then a rematch", async (t) => {
  if (skip) return t.skip(skip);
  const errors: string[] = [];
  const a = await newPage(errors, "A");
  const b = await newPage(errors, "B", true);
  try {
    // A: from the arena page's link to connect four, then "Create a game".
    await a.goto(`${base}/`);
    await a.click("#c4-link");
    await a.waitForURL(/\/connect4\/$/);
    await a.fill("#name", "ada");
    await a.click("#create");
    await a.waitForFunction(() => (window as unknown as { __c4: C4 }).__c4.roomId !== "", null, { timeout: 10000 });
    // The invite shows once the page has rendered the new room.
    await a.locator("#share").waitFor({ state: "visible", timeout: 5000 });
    const link = await a.inputValue("#link");
    const code = (await c4(a)).roomId;
    assert.equal(link, `${base}/connect4/#${code}`);
    assert.equal(await a.locator("#code-show").textContent(), code);

    // B opens the shared link and joins at once.
    await b.goto(link);
    for (const p of [a, b]) {
      await p.waitForFunction(() => (window as unknown as { __c4: C4 }).__c4.status === 2, null, { timeout: 10000 });
    }
    await a.locator("#share").waitFor({ state: "hidden", timeout: 5000 }); // no invite during the game
    const [sa, sb] = [await c4(a), await c4(b)];
    assert.equal(sb.roomId, sa.roomId);
    assert.deepEqual([sa.seat, sb.seat], [1, 2], "A is red, B yellow");
    assert.equal(sa.message, "Your turn");

    // Red (A) builds column 0, yellow (B) column 1; each move waits for the turn.
    const move = async (p: Page, seat: number, col: number) => {
      await p.waitForFunction((s) => (window as unknown as { __c4: C4 }).__c4.turn === s, seat, { timeout: 5000, polling: 50 });
      await p.locator(`.cell[data-col="${col}"]`).first().click();
      await p.waitForFunction((s) => (window as unknown as { __c4: C4 }).__c4.turn !== s, seat, { timeout: 5000, polling: 50 });
    };
    // Yellow moving out of turn is refused and says so.
    await b.locator('.cell[data-col="3"]').first().click();
    await b.waitForFunction(() => /not your turn/i.test((window as unknown as { __c4: C4 }).__c4.message), null, { timeout: 5000 });
    for (let i = 0; i < 3; i++) {
      await move(a, 1, 0);
      await move(b, 2, 1);
    }
    await move(a, 1, 0);
    for (const p of [a, b]) {
      await p.waitForFunction(() => (window as unknown as { __c4: C4 }).__c4.status === 3, null, { timeout: 5000 });
    }
    assert.equal((await c4(a)).winner, 1);
    assert.equal(await a.locator("#msg").textContent(), "You win!");
    assert.equal(await b.locator("#msg").textContent(), "ada wins!");
    assert.equal(await a.locator(".cell.win").count(), 4);
    mkdirSync(results, { recursive: true });
    await a.screenshot({ path: join(results, "connect4-desktop-win.png") });
    await b.screenshot({ path: join(results, "connect4-phone-win.png") });

    // Rematch: both ask; the colours swap (B starts as red).
    await a.click("#rematch");
    await a.waitForFunction(() => /waiting/i.test(document.querySelector("#rematch")!.textContent ?? ""), null, { timeout: 5000 });
    await b.click("#rematch");
    for (const p of [a, b]) {
      await p.waitForFunction(() => {
        const x = (window as unknown as { __c4: C4 }).__c4;
        return x.status === 2 && x.game === 2;
      }, null, { timeout: 5000 });
    }
    assert.deepEqual([(await c4(a)).seat, (await c4(b)).seat], [2, 1], "colours did not swap");
    assert.equal(await a.locator(".cell.red, .cell.yellow").count(), 0, "the board was not cleared");
    assert.deepEqual(errors, [], "console errors");
  } finally {
    await a.context().close();
    await b.context().close();
  }
});

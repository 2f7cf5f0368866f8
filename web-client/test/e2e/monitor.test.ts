/**
 * The monitor page (/monitor/ on the admin address) in Debian's Chromium:
 * the arena server runs with an admin token; two players join the same
 * room from the game page; the monitor, opened with #token=..., lists the
 * room and, clicked, its players; Kick on player A removes A from the
 * monitor's list (B stays) and A's page says it was kicked. Without the
 * token the page asks for it and shows no data. Screenshots go to
 * test-results/monitor-*.png. Skipped only when ./examples/arena does not
 * build; TICKWIRE_ARENA_BIN=path uses a prebuilt server binary.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { buildGo, freePort, launchChromium, startServer, stop } from "./harness.js";

const results = resolve(dirname(fileURLToPath(import.meta.url)), "../../test-results");
const token = "e2e-monitor-token-" + Math.random().toString(36).slice(2);

type Arena = { playerId: number; connected: boolean; tick: number; roomId: string; status: string };

let tmp = "";
let skip = "";
let proc: ChildProcess | undefined;
let browser: Browser | undefined;
let serverLog = () => "";
let game = "";
let admin = "";

before(async () => {
  const built = buildGo("./examples/arena", "tickwire-monitor-", process.env.TICKWIRE_ARENA_BIN);
  ({ tmp, skip } = built);
  if (skip) return;
  const [gp, ap] = [await freePort(), await freePort()];
  game = `http://127.0.0.1:${gp}`;
  admin = `http://127.0.0.1:${ap}`;
  const srv = await startServer(built.bin, ["-addr", `127.0.0.1:${gp}`, "-admin-addr", `127.0.0.1:${ap}`, "-admin-token", token], `${admin}/healthz`);
  proc = srv.proc;
  serverLog = srv.log;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stop(proc, tmp);
});

const arena = (p: Page) => p.evaluate(() => (window as unknown as { __arena: Arena }).__arena);

async function player(label: string, contexts: BrowserContext[], errors: string[]): Promise<Page> {
  const ctx = await browser!.newContext({ viewport: { width: 900, height: 600 }, deviceScaleFactor: 1 });
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.on("pageerror", (e) => errors.push(`${label}: uncaught ${e.message}`));
  await page.goto(game);
  await page.waitForFunction(() => {
    const a = (window as unknown as { __arena?: Arena }).__arena;
    return !!a && a.connected && a.playerId > 0 && a.tick > 0;
  }, null, { timeout: 20000, polling: 100 });
  return page;
}

test("the monitor lists the room and its players, and kicks a player", async (t) => {
  if (skip) return t.skip(skip);
  const contexts: BrowserContext[] = [];
  const errors: string[] = [];
  try {
    const a = await player("A", contexts, errors);
    const b = await player("B", contexts, errors);
    const [sa, sb] = [await arena(a), await arena(b)];
    assert.equal(sa.roomId, sb.roomId, "the players joined different rooms");

    const mctx = await browser!.newContext({ viewport: { width: 1280, height: 720 }, deviceScaleFactor: 1 });
    contexts.push(mctx);
    const mon = await mctx.newPage();
    mon.on("pageerror", (e) => errors.push(`monitor: uncaught ${e.message}`));
    await mon.goto(`${admin}/monitor/#token=${token}`);
    // The token leaves the address bar at once (kept in sessionStorage).
    assert.equal(await mon.evaluate(() => location.hash), "");
    const row = mon.locator(`#rooms tr[data-room="${sa.roomId}"]`);
    await row.waitFor({ timeout: 10000 });
    assert.match((await row.textContent()) ?? "", /2\/\d+/, "the room's row does not show 2 players");
    await row.click();
    const rowA = mon.locator(`#players tr[data-player="${sa.playerId}"]`);
    const rowB = mon.locator(`#players tr[data-player="${sb.playerId}"]`);
    await rowA.waitFor({ timeout: 10000 });
    await rowB.waitFor({ timeout: 10000 });
    assert.match((await rowA.textContent()) ?? "", /connected/);
    mkdirSync(results, { recursive: true });
    await mon.screenshot({ path: join(results, "monitor-room.png"), fullPage: true });

    await mon.fill("#reason", "e2e says bye");
    await rowA.locator('button[data-action="kick"]').click();
    await rowA.waitFor({ state: "detached", timeout: 10000 });
    await mon.waitForTimeout(1600); // a refresh later, B is still listed
    assert.equal(await rowB.count(), 1, "B left the monitor's list too");
    assert.equal(await mon.locator(`#players tr[data-player="${sa.playerId}"]`).count(), 0);
    await mon.screenshot({ path: join(results, "monitor-kicked.png"), fullPage: true });

    // A's page is told why: closed with 4006, kicked, with the reason.
    await a.waitForFunction(() => /kicked/i.test((window as unknown as { __arena: Arena }).__arena.status), null, { timeout: 10000, polling: 100 });
    const status = (await arena(a)).status;
    assert.match(status, /e2e says bye/, `A's status: ${status}`);
    assert.ok((await arena(b)).connected, "B was disconnected");
    assert.match(serverLog(), /msg="admin action".*action=kick/, "the kick is not in the server's log");
    assert.deepEqual(errors, []);
  } finally {
    for (const c of contexts) await c.close();
  }
});

test("the monitor without the token asks for it and shows nothing", async (t) => {
  if (skip) return t.skip(skip);
  const ctx = await browser!.newContext({ viewport: { width: 1000, height: 500 }, deviceScaleFactor: 1 });
  try {
    const page = await ctx.newPage();
    await page.goto(`${admin}/monitor/`);
    await page.locator("#login").waitFor({ state: "visible", timeout: 5000 });
    assert.equal(await page.locator("#main").isVisible(), false);
    // A wrong token is refused by the API and the form comes back.
    await page.fill("#token", "not-the-token");
    await page.click('#login button[type="submit"]');
    await page.waitForFunction(() => /refused/.test(document.querySelector("#login-why")?.textContent ?? ""), null, { timeout: 5000 });
    assert.equal(await page.locator("#rooms tbody tr").count(), 0);
    mkdirSync(results, { recursive: true });
    await page.screenshot({ path: join(results, "monitor-login.png") });
    const r = await fetch(`${admin}/monitor/api/rooms`);
    assert.equal(r.status, 401);
  } finally {
    await ctx.close();
  }
});

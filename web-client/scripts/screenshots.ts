/**
 * The README's screenshots (docs/img/*.png), made in Debian's headless
 * Chromium: `make -C web-client screenshots`. Builds and starts the games'
 * server (examples/arena) on a free loopback port, then:
 *   - the arena with three players, at 1280×720 and on a 390×844 phone;
 *   - connect four mid-game, at 1280×720 and on the phone.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../..");
const out = join(repo, "docs/img");

const port = await new Promise<number>((res, rej) => {
  const s = createServer();
  s.once("error", rej);
  s.listen(0, "127.0.0.1", () => {
    const a = s.address();
    s.close(() => (typeof a === "object" && a ? res(a.port) : rej(new Error("no port"))));
  });
});
const tmp = mkdtempSync(join(tmpdir(), "tickwire-shots-"));
const bin = join(tmp, "arena");
execFileSync("go", ["build", "-o", bin, "./examples/arena"], { cwd: repo, stdio: "inherit" });
const server = spawn(bin, ["-addr", `127.0.0.1:${port}`, "-admin-addr", ""], { stdio: "ignore" });
const base = `http://127.0.0.1:${port}`;
let browser: Browser | undefined;
try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      if (i > 100) throw new Error("server did not come up");
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"] });
  const desktop = { viewport: { width: 1280, height: 720 }, deviceScaleFactor: 1 };
  const phone = { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 1 };
  const open = async (url: string, device: object, name: string): Promise<Page> => {
    const ctx = await browser!.newContext(device);
    await ctx.addInitScript((n) => localStorage.setItem("tickwire.arena.name", n), name);
    const p = await ctx.newPage();
    await p.goto(url);
    return p;
  };
  const joined = (p: Page) =>
    p.waitForFunction(() => {
      const a = (window as unknown as { __arena?: { connected: boolean; tick: number } }).__arena;
      return !!a && a.connected && a.tick > 0;
    });
  mkdirSync(out, { recursive: true });

  // The arena: three players wander for a few seconds.
  const pages: Page[] = [];
  for (const [name, device] of [["ada", desktop], ["grace", desktop], ["linus", phone]] as const) {
    const p = await open(base, device, name);
    await joined(p);
    pages.push(p);
  }
  const keys = [["KeyD", "KeyS"], ["KeyA", "KeyW"], ["KeyW", "KeyD"]];
  for (let i = 0; i < pages.length; i++) for (const k of keys[i]!) await pages[i]!.keyboard.down(k);
  await pages[0]!.waitForTimeout(1500);
  for (let i = 0; i < pages.length; i++) for (const k of keys[i]!) await pages[i]!.keyboard.up(k);
  await pages[0]!.waitForTimeout(500);
  await pages[0]!.screenshot({ path: join(out, "arena-desktop.png") });
  await pages[2]!.screenshot({ path: join(out, "arena-phone.png") });
  for (const p of pages) await p.context().close();

  // Connect four: ada creates, grace joins by the link, a few moves.
  const a = await open(`${base}/connect4/`, desktop, "ada");
  await a.click("#create");
  await a.waitForFunction(() => (document.querySelector<HTMLInputElement>("#link")?.value ?? "") !== "");
  const b = await open(await a.inputValue("#link"), phone, "grace");
  const turn = (p: Page, seat: number) =>
    p.waitForFunction((s) => (window as unknown as { __c4: { turn: number } }).__c4.turn === s, seat);
  for (const [p, seat, col] of [[a, 1, 3], [b, 2, 3], [a, 1, 4], [b, 2, 2], [a, 1, 5], [b, 2, 6], [a, 1, 4]] as const) {
    await turn(p, seat);
    await p.locator(`.cell[data-col="${col}"]`).first().click();
    await p.waitForFunction((s) => (window as unknown as { __c4: { turn: number } }).__c4.turn !== s, seat);
  }
  await b.waitForTimeout(300);
  await a.screenshot({ path: join(out, "connect4-desktop.png") });
  await b.screenshot({ path: join(out, "connect4-phone.png") });
  console.log(`wrote ${out}: arena-desktop.png arena-phone.png connect4-desktop.png connect4-phone.png`);
} finally {
  await browser?.close();
  server.kill("SIGKILL");
  rmSync(tmp, { recursive: true, force: true });
}

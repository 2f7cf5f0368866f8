/**
 * Seats survive the network, end to end in Debian's Chromium: two pages play
 * in one arena room; page A reaches the server through a TCP proxy of the
 * test's, B directly.
 *   - A's network goes silent for 3 s (the proxy blackholes its open
 *     connections and refuses new ones): the SDK's silence timeout notices,
 *     A shows the reconnecting veil, resumes its seat: same player id, score
 *     and position; B never shows two copies of A.
 *   - A's connection is reset and the network is down 3 s: B shows A
 *     offline (greyed out) meanwhile; A resumes the same seat again.
 *   - SIGTERM: the server drains and A shows the room-closing countdown.
 * Each outage lasts 3 s by the clock, whatever the checks during it take (a
 * loaded machine makes them slow; the seat's grace is 10 s). What happens
 * meanwhile is latched in the pages (samplers every 10 ms) and checked after.
 * On failure the error carries a timeline: proxy events and the pages'
 * console (the SDK logs its closes, resumes and refusals there).
 * Skipped only when ./examples/arena does not build. TICKWIRE_ARENA_BIN=path
 * uses a prebuilt server binary instead (it must embed the current bundle).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server as NetServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { freePort } from "./harness.js";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../../..");
const results = resolve(here, "../../test-results");

type Player = { id: number; x: number; y: number; name: string; score: number };
type Arena = {
  playerId: number;
  connected: boolean;
  tick: number;
  roomId: string;
  status: string;
  reconnecting: boolean;
  comeback: string;
  notice: string;
  offline(): number[];
  players(): Player[];
  pickups(): { x: number; y: number }[];
  local(): { x: number; y: number } | null;
};
type Win = { __arena: Arena; __watch?: Watch };
/** What page B's watcher recorded about A (see watchOther). */
type Watch = { maxCopies: number; maxPlayers: number; samples: number; sawOffline: boolean; ids: number[]; timer?: ReturnType<typeof setInterval> };


/**
 * A TCP proxy on 127.0.0.1 in front of one upstream port, which the test
 * can take down: `blackhole` leaves open connections open but drops every
 * byte both ways (a silent drop: no FIN, no RST), `reset` resets them; while
 * down, new connections are reset at once (network unreachable).
 * `restore` lets new connections through; the dropped ones stay dead.
 */
class NetProxy {
  private readonly server: NetServer;
  private readonly pairs = new Set<{ c: Socket; u: Socket; dead: boolean }>();
  private down = false;
  port = 0;

  constructor(
    private readonly upstream: number,
    private readonly note: (event: string) => void = () => {},
  ) {
    this.server = createServer((c) => {
      if (this.down) {
        this.note("proxy: refused a connection (reset)");
        c.resetAndDestroy();
        return;
      }
      this.note("proxy: connection accepted");
      const u = connect(this.upstream, "127.0.0.1");
      const pair = { c, u, dead: false };
      this.pairs.add(pair);
      c.on("data", (d) => pair.dead || u.write(d));
      u.on("data", (d) => pair.dead || c.write(d));
      const end = () => {
        this.pairs.delete(pair);
        c.destroy();
        u.destroy();
      };
      c.on("close", end);
      u.on("close", end);
      c.on("error", () => {});
      u.on("error", () => {});
    });
  }

  listen(): Promise<void> {
    return new Promise((res) =>
      this.server.listen(0, "127.0.0.1", () => {
        this.port = (this.server.address() as { port: number }).port;
        res();
      }),
    );
  }

  blackhole(): void {
    this.down = true;
    this.note(`proxy: blackhole (${this.pairs.size} open connections)`);
    for (const p of this.pairs) p.dead = true;
  }

  reset(): void {
    this.down = true;
    this.note(`proxy: reset (${this.pairs.size} open connections)`);
    for (const p of [...this.pairs]) {
      p.c.resetAndDestroy();
      p.u.destroy();
    }
  }

  restore(): void {
    this.down = false;
    this.note("proxy: restored");
  }

  close(): Promise<void> {
    for (const p of [...this.pairs]) (p.c.destroy(), p.u.destroy());
    return new Promise((res) => this.server.close(() => res()));
  }
}

async function waitHttp(url: string, proc: ChildProcess, logs: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) throw new Error(`server exited ${proc.exitCode}:\n${logs()}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not come up:\n${logs()}`);
}

/** Polls fn(arg) in the page until it returns true (bounded: tries × 50 ms). */
async function until<A>(page: Page, what: string, fn: (arg: A) => boolean, arg: A, tries = 400): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await page.evaluate(fn as (arg: unknown) => boolean, arg as unknown)) return;
    await page.waitForTimeout(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const arena = (p: Page) =>
  p.evaluate(() => {
    const x = (window as unknown as Win).__arena;
    return { id: x.playerId, room: x.roomId, connected: x.connected, comeback: x.comeback, players: x.players(), offline: x.offline() };
  });

/**
 * Records in page B, every 10 ms (states come every 50 ms), how many
 * players named like A it shows and how many players in all, and whether A
 * was ever shown offline.
 */
async function watchOther(b: Page, nameA: string, idA: number): Promise<void> {
  await b.evaluate(
    ([name, id]) => {
      const w = window as unknown as Win;
      clearInterval(w.__watch?.timer);
      const watch: Watch = { maxCopies: 0, maxPlayers: 0, samples: 0, sawOffline: false, ids: [] };
      w.__watch = watch;
      watch.timer = setInterval(() => {
        const ps = w.__arena.players();
        const copies = ps.filter((p) => p.name === name);
        watch.samples++;
        watch.maxCopies = Math.max(watch.maxCopies, copies.length);
        watch.maxPlayers = Math.max(watch.maxPlayers, ps.length);
        for (const c of copies) if (!watch.ids.includes(c.id)) watch.ids.push(c.id);
        if (w.__arena.offline().includes(id)) watch.sawOffline = true;
      }, 10);
    },
    [nameA, idA] as const,
  );
}

describe("arena e2e: reconnection", () => {
  let tmp = "";
  let bin = "";
  let skip = "";
  let browser: Browser | undefined;
  const procs = new Set<ChildProcess>();

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
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test("a page whose network drops for 3 s resumes its seat; the other page never shows two copies", async (t) => {
    if (skip) return t.skip(skip);
    const port = await freePort();
    let log = "";
    const proc = spawn(bin, ["-addr", `127.0.0.1:${port}`, "-admin-addr", ""], { stdio: ["ignore", "pipe", "pipe"] });
    procs.add(proc);
    proc.stdout!.on("data", (d: Buffer) => (log += d.toString()));
    proc.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    await waitHttp(`http://127.0.0.1:${port}/healthz`, proc, () => log);
    const t0 = Date.now();
    const timeline: string[] = [];
    const note = (e: string) => timeline.push(`${((Date.now() - t0) / 1000).toFixed(3)} s ${e}`);
    const proxy = new NetProxy(port, note);
    await proxy.listen();
    const errors: string[] = [];
    const pages: Page[] = [];
    const open = async (url: string, label: string) => {
      const ctx = await browser!.newContext({ viewport: { width: 1280, height: 720 }, deviceScaleFactor: 1 });
      const page = await ctx.newPage();
      pages.push(page);
      page.on("console", (m) => {
        note(`${label} console.${m.type()}: ${m.text().slice(0, 200)}`);
        // A refused or reset WebSocket is a console error while the network is down.
        if (m.type() === "error" && !/WebSocket connection to '.*' failed/.test(m.text())) errors.push(`${label}: ${m.text()}`);
        // The arena logs the server's error frames (e.g. a refused input) as warnings.
        if (m.type() === "warning" && m.text().startsWith("arena:")) errors.push(`${label}: ${m.text()}`);
      });
      page.on("pageerror", (e) => errors.push(`${label}: uncaught ${e.message}`));
      await page.goto(url);
      await until(page, `${label} to join`, () => {
        const a = (window as unknown as Win).__arena;
        return !!a && a.connected && a.playerId > 0 && a.tick > 0;
      }, null);
      return page;
    };
    try {
      const a = await open(`http://127.0.0.1:${proxy.port}/`, "A");
      const b = await open(`http://127.0.0.1:${port}/`, "B");
      const sa = await arena(a);
      await until(b, "B to see A", (id) => (window as unknown as Win).__arena.players().some((p) => p.id === id), sa.id);
      const meA = (await arena(b)).players.find((p) => p.id === sa.id)!;
      const nameA = meA.name;
      assert.ok(nameA, "A has no name");

      // Steer A onto the nearest orb (held arrow keys, bounded), so that
      // the score to keep is not 0.
      await a.bringToFront();
      const held = new Set<string>();
      const hold = async (want: string[]) => {
        for (const k of [...held]) if (!want.includes(k)) (held.delete(k), await a.keyboard.up(k));
        for (const k of want) if (!held.has(k)) (held.add(k), await a.keyboard.down(k));
      };
      try {
        for (let i = 0; i < 400; i++) {
          const v = await a.evaluate(() => {
            const x = (window as unknown as Win).__arena;
            const me = x.local();
            const score = x.players().find((p) => p.id === x.playerId)?.score ?? 0;
            if (!me || score > 0) return { score, dx: 0, dy: 0 };
            let best = { dx: 0, dy: 0, d: Infinity };
            for (const o of x.pickups()) {
              const d = Math.hypot(o.x - me.x, o.y - me.y);
              if (d < best.d) best = { dx: o.x - me.x, dy: o.y - me.y, d };
            }
            return { score, dx: best.dx, dy: best.dy };
          });
          if (v.score > 0) break;
          const want: string[] = [];
          if (Math.abs(v.dx) > 4) want.push(v.dx > 0 ? "ArrowRight" : "ArrowLeft");
          if (Math.abs(v.dy) > 4) want.push(v.dy > 0 ? "ArrowDown" : "ArrowUp");
          await hold(want);
          await a.waitForTimeout(40);
        }
      } finally {
        await hold([]);
      }
      await a.waitForTimeout(300); // at rest on the server
      const scored = (await arena(b)).players.find((p) => p.id === sa.id)!.score;
      assert.ok(scored > 0, "A collected no orb: the score check would prove nothing");

      for (const how of ["blackhole", "reset"] as const) {
        const before = await arena(b);
        const seen = before.players.find((p) => p.id === sa.id)!;
        assert.ok(seen, `B lost sight of A before the ${how}`);
        await watchOther(b, nameA, sa.id);
        // __veil latches: a sampler in A saw the veil up at least once.
        await a.evaluate(() => {
          const w = window as unknown as { __veil: boolean; __veilTimer?: ReturnType<typeof setInterval>; __arena: Arena };
          clearInterval(w.__veilTimer);
          w.__veil = false;
          w.__veilTimer = setInterval(() => (w.__veil ||= w.__arena.reconnecting), 10);
        });

        // Down for 3 s by the clock: the checks below must not stretch the
        // outage (a loaded machine makes them slow) towards the 10 s grace.
        note(`${how}: network down`);
        if (how === "blackhole") proxy.blackhole();
        else proxy.reset();
        const restored = new Promise<void>((res) =>
          setTimeout(() => {
            proxy.restore();
            res();
          }, 3000),
        );
        if (how === "reset") {
          // The server saw the reset: B draws A greyed out, A shows the veil.
          // Screenshots of that for the record; the latches are checked below.
          const shown = await Promise.race([
            Promise.all([
              until(b, "B to show A offline", (id) => (window as unknown as Win).__arena.offline().includes(id), sa.id, 100),
              until(a, "A's reconnecting veil", () => (window as unknown as Win).__arena.reconnecting, null, 100),
            ]).then(() => true, () => false),
            restored.then(() => false),
          ]);
          if (shown) {
            mkdirSync(results, { recursive: true });
            await b.screenshot({ path: join(results, "reconnect-page-b-sees-a-offline.png") });
            await a.screenshot({ path: join(results, "reconnect-page-a-reconnecting.png") });
          }
        }
        await restored;

        // Back after the veil was up (a comeback of this outage, not the last one).
        await until(a, `A to resume after the ${how}`, () => {
          const x = (window as unknown as Win).__arena;
          const veil = (window as unknown as { __veil: boolean }).__veil;
          return veil && x.connected && x.comeback === "resumed" && x.tick > 0 && !x.reconnecting && x.players().some((p) => p.id === x.playerId);
        }, null);
        note(`${how}: A resumed`);
        const veil = await a.evaluate(() => (window as unknown as { __veil: boolean }).__veil);
        assert.ok(veil, `A never showed the reconnecting veil (${how})`);
        const back = await arena(a);
        assert.equal(back.id, sa.id, "A came back as another player");
        assert.equal(back.room, sa.room, "A came back in another room");
        const mine = back.players.find((p) => p.id === sa.id)!;
        assert.equal(mine.score, seen.score, "A's score changed");
        assert.ok(Math.hypot(mine.x - seen.x, mine.y - seen.y) < 1, `A moved: ${seen.x},${seen.y} -> ${mine.x},${mine.y}`);
        assert.equal(back.players.filter((p) => p.name === nameA).length, 1, "A sees itself twice");

        // B: one A, the same id, throughout; offline meanwhile when the server saw the reset.
        await until(b, "B to see A online", (id) => !(window as unknown as Win).__arena.offline().includes(id), sa.id);
        await b.waitForTimeout(200);
        const w = await b.evaluate(() => (window as unknown as Win).__watch!);
        assert.ok(w.samples > 20, `B's watcher ran ${w.samples} times`);
        assert.equal(w.maxCopies, 1, `B showed ${w.maxCopies} copies of A (${how})`);
        assert.deepEqual(w.ids, [sa.id], "B showed A under another id");
        assert.ok(w.maxPlayers <= 2, `B showed ${w.maxPlayers} players`);
        if (how === "reset") assert.ok(w.sawOffline, "B never showed A offline while A's connection was down");
        t.diagnostic(`${how}: A back as player ${back.id}, score ${mine.score}, veil seen: ${veil}; B sampled ${w.samples}×, max copies of A ${w.maxCopies}, showed A offline: ${w.sawOffline}`);
        mkdirSync(results, { recursive: true });
        await a.screenshot({ path: join(results, `reconnect-${how}-page-a.png`) });
      }

      // SIGTERM: the server drains; A is told its room closes, and when.
      note("SIGTERM");
      proc.kill("SIGTERM");
      await until(a, "the room-closing notice", () => /closes in \d+ s/.test((window as unknown as Win).__arena.notice), null, 100);
      const notice = await a.locator("#notice").textContent();
      const secs = Number(/closes in (\d+) s/.exec(notice ?? "")?.[1]);
      assert.ok(secs >= 1 && secs <= 30, `countdown ${secs} s`);
      await a.screenshot({ path: join(results, "reconnect-room-closing-page-a.png") });
      assert.deepEqual(errors, [], "console errors, server error frames or uncaught exceptions");
    } catch (e) {
      throw new Error(`${(e as Error).message}\ntimeline:\n${timeline.join("\n")}\nserver log:\n${log.slice(-3000)}`, { cause: e });
    } finally {
      for (const p of pages) await p.context().close();
      await proxy.close();
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGKILL");
        await exited;
      }
    }
  });
});

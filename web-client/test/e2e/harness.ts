/**
 * What the e2e tests share: a free loopback port, a Go program built once
 * into a temporary directory, a server process started and waited for,
 * and Debian's Chromium launched headless (never a downloaded browser).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "playwright-core";

/** The repository root. */
export const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? res(a.port) : rej(new Error("no port"))));
    });
  });
}

/** A Go program built by buildGo: its binary, its temporary directory, or why it did not build. */
export type Built = { bin: string; tmp: string; skip: string };

/**
 * buildGo builds the Go package pkg (e.g. "./examples/arena") into a new
 * temporary directory. prebuilt, when set, is used instead. A build
 * failure is returned as skip, for the test to report.
 */
export function buildGo(pkg: string, prefix: string, prebuilt = ""): Built {
  if (prebuilt) return { bin: prebuilt, tmp: "", skip: "" };
  const tmp = mkdtempSync(join(tmpdir(), prefix));
  const bin = join(tmp, "server");
  try {
    execFileSync("go", ["build", "-o", bin, pkg], { cwd: repo, stdio: "pipe" });
  } catch (e) {
    return { bin: "", tmp, skip: `${pkg} does not build: ${(e as { stderr?: Buffer }).stderr?.toString().slice(0, 500) ?? String(e)}` };
  }
  return { bin, tmp, skip: "" };
}

/** A server process started by startServer, with everything it printed. */
export type Server = { proc: ChildProcess; log: () => string };

/** startServer runs bin with args and waits (up to 20 s) until health answers 200. */
export async function startServer(bin: string, args: string[], health: string): Promise<Server> {
  let log = "";
  const proc = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout!.on("data", (d: Buffer) => (log += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null || i === 200) throw new Error(`server did not come up:\n${log}`);
    try {
      if ((await fetch(health)).ok) break;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, log: () => log };
}

/** stop kills a server started by startServer, waits for it, and removes a build's directory. */
export async function stop(proc: ChildProcess | undefined, tmp = ""): Promise<void> {
  if (proc && proc.exitCode === null) {
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGKILL");
    await exited;
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}

/** launchChromium starts /usr/bin/chromium headless. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

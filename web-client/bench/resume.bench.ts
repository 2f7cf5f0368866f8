/**
 * Resume time on loopback, with the SDK in Node (Node 20 needs
 * --experimental-websocket; `npm run bench:resume` passes it): builds and
 * starts the arena server on a free 127.0.0.1 port (or TICKWIRE_ARENA_BIN),
 * joins a room, then N times (default 50, RESUMES=n) abandons the
 * connection the way a reset does and lets the SDK reconnect and resume.
 * Measured per resume: from the new WebSocket (TCP connect) to the first
 * state after the resumed Joined. Prints p50, p90, p99 and max; no
 * assertions. The reconnection delay itself (backoff) is set to 0 and not
 * counted.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { JoinOptionsSchema, StateSchema } from "../src/gen/arena/v1/arena_pb.js";
import { TickwireClient, type WebSocketLike } from "@tickwire/client";
import { freePort } from "../test/e2e/harness.js";

const N = Number(process.env.RESUMES ?? 50);
const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");


function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

let tmp = "";
let bin = process.env.TICKWIRE_ARENA_BIN ?? "";
if (!bin) {
  tmp = mkdtempSync(join(tmpdir(), "tickwire-bench-"));
  bin = join(tmp, "arena");
  execFileSync("go", ["build", "-o", bin, "./examples/arena"], { cwd: repo, stdio: "inherit" });
}
const port = await freePort();
const server = spawn(bin, ["-addr", `127.0.0.1:${port}`, "-admin-addr", ""], { stdio: "ignore" });
try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
    } catch {
      if (i > 100) throw new Error("server did not come up");
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  let current: WebSocket | undefined;
  let dialedAt = 0;
  const client = new TickwireClient(StateSchema, {
    url: `ws://127.0.0.1:${port}/ws`,
    logger: { warn: console.warn, info: () => {} },
    reconnect: { initialDelayMs: 0, jitter: 0 },
    webSocket: (url) => {
      dialedAt = performance.now();
      current = new WebSocket(url);
      return current as unknown as WebSocketLike;
    },
  });
  await client.connect();
  await client.joinOrCreate("arena", { options: toBinary(JoinOptionsSchema, create(JoinOptionsSchema, { name: "bench" })) });
  const firstState = () => new Promise<void>((res) => { const off = client.on("state", () => (off(), res())); });
  await firstState();
  const ms: number[] = [];
  const toJoined: number[] = [];
  let fresh = 0;
  for (let i = 0; i < N; i++) {
    const id = client.room!.playerId;
    const back = new Promise<boolean>((res) => {
      const off = client.on("reconnected", (r) => (off(), toJoined.push(performance.now() - dialedAt), res(r.resumed)));
    });
    // Abandon the connection as a reset would: the SDK hears 1006, the
    // server a close without Leave (the seat waits for the resume).
    const ws = current!;
    const onclose = ws.onclose as unknown as (ev: { code: number; reason: string }) => void;
    ws.onclose = null;
    ws.onmessage = null;
    // Listen for the state before the reset: the room sends the resumed
    // player its snapshot right behind Joined, in the same read.
    const state = firstState();
    ws.close(4100, "bench");
    onclose({ code: 1006, reason: "bench reset" });
    const resumed = await back;
    await state;
    ms.push(performance.now() - dialedAt);
    if (!resumed || client.room?.playerId !== id) fresh++;
    await new Promise((r) => setTimeout(r, 20));
  }
  client.close();
  ms.sort((a, b) => a - b);
  toJoined.sort((a, b) => a - b);
  const f = (x: number) => x.toFixed(1);
  console.log(
    `resume on loopback, ${N} resumes (TCP connect to first state, SDK in Node): ` +
      `p50 ${f(pct(ms, 50))} ms, p90 ${f(pct(ms, 90))} ms, p99 ${f(pct(ms, 99))} ms, max ${f(ms[ms.length - 1]!)} ms; ` +
      `not resumed: ${fresh}; TCP connect to the resumed Joined: p50 ${f(pct(toJoined, 50))} ms, p99 ${f(pct(toJoined, 99))} ms`,
  );
} finally {
  server.kill("SIGKILL");
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}

/**
 * The arena sample game: a canvas client for examples/arena built on the
 * Tickwire SDK. Local player predicted and reconciled, others interpolated
 * 100 ms in the past, HUD, scoreboard, reconnect banner.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  InputSchema,
  JoinOptionsSchema,
  MessageType,
  StateSchema,
  TaggedSchema,
  type Player,
  type State,
} from "../gen/arena/v1/arena_pb.js";
import {
  DEFAULT_INTERP_DELAY_MS,
  InterpolationBuffer,
  Predictor,
  TickwireClient,
  lerp,
} from "../sdk/index.js";
import { Controls, type ControlInput } from "./controls.js";
import { PICKUP_RADIUS, PLAYER_RADIUS, QUANTUM, TAG_RANGE, WORLD_H, WORLD_W, step, type Pos } from "./sim.js";

const NAME_KEY = "tickwire.arena.name";
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const canvas = $<HTMLCanvasElement>("game");
const ctx = canvas.getContext("2d")!;
const statusEl = $("status");
const hud = {
  ping: $("hud-ping"),
  tick: $("hud-tick"),
  players: $("hud-players"),
  inRate: $("hud-in"),
  outRate: $("hud-out"),
};
const scoreboard = $("scoreboard");
const toastEl = $("toast");
const nameInput = $<HTMLInputElement>("name");

function loadName(): string {
  let n = "";
  try {
    n = localStorage.getItem(NAME_KEY) ?? "";
  } catch {
    /* storage disabled */
  }
  return n || `player-${Math.floor(Math.random() * 9000 + 1000)}`;
}
let playerName = loadName();
nameInput.value = playerName;

const client = new TickwireClient(StateSchema, { name: playerName, interpDelayMs: DEFAULT_INTERP_DELAY_MS });
const controls = new Controls(canvas, $("tag"));
const interp = new InterpolationBuffer<State>(32);
const predictor = new Predictor<Pos, ControlInput>(step);

let myId = 0;
let latest: State | undefined;
let status = "Connecting…";
let lastStepAt = 0;
let prevPredicted: Pos | undefined;
let itFlashUntil = 0;

function joinOptions(): Uint8Array {
  return toBinary(JoinOptionsSchema, create(JoinOptionsSchema, { name: playerName }));
}

function setStatus(s: string): void {
  status = s;
  statusEl.textContent = s;
  statusEl.hidden = s === "";
}

function toast(text: string): void {
  toastEl.textContent = text;
  toastEl.classList.remove("show");
  void toastEl.offsetWidth;
  toastEl.classList.add("show");
}

client.on("open", () => setStatus("Joining…"));
client.on("joined", (j) => {
  myId = j.playerId;
  interp.clear();
  predictor.reset();
  prevPredicted = undefined;
  latest = undefined;
  setStatus("");
});
client.on("left", () => {
  myId = 0;
});
client.on("state", (ev) => {
  latest = ev.state;
  interp.push(ev.tick, ev.state);
  const me = ev.state.players[myId];
  if (me) {
    const before = predictor.state;
    const now = predictor.reconcile({ x: me.x, y: me.y }, ev.lastInputSeq);
    if (!before) prevPredicted = now;
  }
});
client.on("message", (m) => {
  if (m.type !== MessageType.TAGGED) return;
  try {
    const t = fromBinary(TaggedSchema, m.payload);
    const name = (id: number) => latest?.players[id]?.name || `#${id}`;
    toast(`${name(t.tagger)} tagged ${name(t.target)}!`);
    if (t.target === myId) itFlashUntil = performance.now() + 1500;
  } catch (e) {
    console.warn("arena: ignored a Tagged message that does not decode", e);
  }
});
client.on("error", (e) => console.warn("arena:", e.message));
client.on("close", (c) => {
  myId = 0;
  setStatus(c.willReconnect ? `Disconnected: ${c.message}` : `Disconnected: ${c.message}. Reload the page to retry.`);
});
client.on("reconnecting", (r) => {
  const secs = (r.delayMs / 1000).toFixed(1);
  const down = r.lastClose.code === 1006 || r.lastClose.code === 1001;
  setStatus(`${down ? "Server unavailable" : r.lastClose.message}: reconnecting… (attempt ${r.attempt}, in ${secs} s)`);
});
client.on("open", () => {
  // Rejoin is automatic after a reconnect; the first join is ours.
  if (!client.room && firstJoin) {
    firstJoin = false;
    client.joinOrCreate("arena", { options: joinOptions() }).catch((e: Error) => {
      console.warn("arena: join failed", e);
      setStatus(`Could not join: ${e.message}`);
      firstJoin = true;
    });
  }
});
let firstJoin = true;

nameInput.addEventListener("change", async () => {
  const n = nameInput.value.trim().slice(0, 24);
  if (!n || n === playerName) return;
  playerName = n;
  try {
    localStorage.setItem(NAME_KEY, n);
  } catch {
    /* storage disabled */
  }
  nameInput.blur();
  if (!client.room) return;
  try {
    await client.leave();
    await client.joinOrCreate("arena", { options: joinOptions() });
  } catch (e) {
    console.warn("arena: rejoin with the new name failed", e);
  }
});

// ---- input: one arena.v1.Input per tick ----
let tickMs = 50;
let nextInputAt = 0;
setInterval(() => {
  const now = performance.now();
  if (!client.room) {
    nextInputAt = now;
    return;
  }
  tickMs = 1000 / (client.room.tickRate || 20);
  if (now - nextInputAt > 250) nextInputAt = now; // after a stall, do not burst
  let n = 0;
  while (nextInputAt <= now && n++ < 5) {
    nextInputAt += tickMs;
    const input = controls.take();
    const seq = client.sendInput(toBinary(InputSchema, create(InputSchema, input)));
    if (seq === 0) break;
    prevPredicted = predictor.state;
    predictor.push(seq, input);
    lastStepAt = now;
  }
}, 10);

// ---- HUD: rates once a second ----
let lastCounters = { ...client.counters, at: performance.now() };
setInterval(() => {
  const now = performance.now();
  const c = client.counters;
  const dt = (now - lastCounters.at) / 1000;
  hud.inRate.textContent = fmtRate((c.bytesIn - lastCounters.bytesIn) / dt);
  hud.outRate.textContent = fmtRate((c.bytesOut - lastCounters.bytesOut) / dt);
  lastCounters = { ...c, at: now };
  hud.ping.textContent = client.clock.sampleCount ? `${Math.round(client.clock.rttMs)} ms` : "–";
  hud.players.textContent = latest ? String(Object.keys(latest.players).length) : "–";
  renderScoreboard();
}, 1000);

function fmtRate(bps: number): string {
  return bps >= 1024 ? `${(bps / 1024).toFixed(1)} KB/s` : `${Math.round(bps)} B/s`;
}

function renderScoreboard(): void {
  if (!latest) {
    scoreboard.replaceChildren();
    return;
  }
  const rows = Object.entries(latest.players)
    .map(([id, p]) => ({ id: Number(id), p }))
    .sort((a, b) => (b.p.score ?? 0) - (a.p.score ?? 0) || a.id - b.id)
    .slice(0, 10);
  scoreboard.replaceChildren(
    ...rows.map(({ id, p }) => {
      const li = document.createElement("li");
      if (id === myId) li.className = "me";
      const dot = document.createElement("span");
      dot.className = "dot";
      dot.style.background = `hsl(${p.hue} 80% 60%)`;
      const name = document.createElement("span");
      name.className = "n";
      name.textContent = (p.name || `#${id}`) + (latest!.it === id ? " ★" : "");
      const score = document.createElement("span");
      score.className = "s";
      score.textContent = String(p.score ?? 0);
      li.append(dot, name, score);
      return li;
    }),
  );
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") {
    // The backlog of a background tab is history: restart from the present.
    interp.resync();
    client.ticks.reset();
    if (latest) client.requestFullState();
  }
});

// ---- rendering ----
let view = { scale: 1, ox: 0, oy: 0 };
function resize(): void {
  const dpr = Math.min(devicePixelRatio || 1, 2);
  canvas.width = Math.round(innerWidth * dpr);
  canvas.height = Math.round(innerHeight * dpr);
  const scale = Math.min(canvas.width / WORLD_W, canvas.height / WORLD_H) * 0.96;
  view = { scale, ox: (canvas.width - WORLD_W * scale) / 2, oy: (canvas.height - WORLD_H * scale) / 2 };
}
addEventListener("resize", resize);
resize();

/** Remote players at render time, in quarter units. */
function remotePositions(): Map<number, { p: Player; x: number; y: number }> {
  const out = new Map<number, { p: Player; x: number; y: number }>();
  const renderTick = client.ticks.ready
    ? client.ticks.tickAt(performance.now()) - DEFAULT_INTERP_DELAY_MS / tickMs
    : (interp.newestTick ?? 0);
  const b = interp.sample(renderTick);
  if (!b) return out;
  for (const [k, to] of Object.entries(b.to.players)) {
    const from = b.from.players[Number(k)];
    out.set(Number(k), {
      p: to,
      x: from ? lerp(from.x, to.x, b.alpha) : to.x,
      y: from ? lerp(from.y, to.y, b.alpha) : to.y,
    });
  }
  return out;
}

function localPosition(): Pos | undefined {
  const cur = predictor.state;
  if (!cur) return undefined;
  if (!prevPredicted) return cur;
  const a = Math.min(1, (performance.now() - lastStepAt) / tickMs);
  return { x: lerp(prevPredicted.x, cur.x, a), y: lerp(prevPredicted.y, cur.y, a) };
}

function frame(): void {
  requestAnimationFrame(frame);
  const { scale, ox, oy } = view;
  const W = canvas.width;
  const H = canvas.height;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = "#0b0f1a";
  ctx.fillRect(0, 0, W, H);
  ctx.setTransform(scale, 0, 0, scale, ox, oy);
  // Floor and grid.
  const g = ctx.createLinearGradient(0, 0, WORLD_W, WORLD_H);
  g.addColorStop(0, "#141b2d");
  g.addColorStop(1, "#10233a");
  ctx.fillStyle = g;
  ctx.fillRect(0, 0, WORLD_W, WORLD_H);
  ctx.strokeStyle = "rgba(120,160,255,0.07)";
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let x = 0; x <= WORLD_W; x += 50) {
    ctx.moveTo(x, 0);
    ctx.lineTo(x, WORLD_H);
  }
  for (let y = 0; y <= WORLD_H; y += 50) {
    ctx.moveTo(0, y);
    ctx.lineTo(WORLD_W, y);
  }
  ctx.stroke();
  ctx.strokeStyle = "rgba(140,180,255,0.5)";
  ctx.lineWidth = 3;
  ctx.strokeRect(0, 0, WORLD_W, WORLD_H);

  const t = performance.now() / 1000;
  if (latest) {
    for (const pk of Object.values(latest.pickups)) {
      const r = PICKUP_RADIUS * (1 + 0.15 * Math.sin(t * 4 + pk.x));
      ctx.fillStyle = pk.value > 1 ? "#ffd24a" : "#5cf2c8";
      ctx.shadowColor = ctx.fillStyle;
      ctx.shadowBlur = 12;
      ctx.beginPath();
      ctx.arc(pk.x / QUANTUM, pk.y / QUANTUM, r, 0, Math.PI * 2);
      ctx.fill();
    }
    ctx.shadowBlur = 0;
  }

  const remotes = remotePositions();
  const me = localPosition();
  const it = latest?.it ?? 0;
  for (const [id, r] of remotes) {
    if (id === myId) continue;
    drawPlayer(r.p, r.x, r.y, id === it, false);
  }
  const mine = latest?.players[myId];
  if (mine && me) {
    ctx.strokeStyle = "rgba(255,255,255,0.12)";
    ctx.setLineDash([6, 6]);
    ctx.beginPath();
    ctx.arc(me.x / QUANTUM, me.y / QUANTUM, TAG_RANGE, 0, Math.PI * 2);
    ctx.stroke();
    ctx.setLineDash([]);
    drawPlayer(mine, me.x, me.y, myId === it || performance.now() < itFlashUntil, true);
  }

  ctx.setTransform(1, 0, 0, 1, 0, 0);
  if (controls.stick.active) {
    const dpr = canvas.width / innerWidth;
    ctx.strokeStyle = "rgba(255,255,255,0.35)";
    ctx.lineWidth = 3;
    ctx.beginPath();
    ctx.arc(controls.stick.ox * dpr, controls.stick.oy * dpr, 60 * dpr, 0, Math.PI * 2);
    ctx.stroke();
    ctx.fillStyle = "rgba(255,255,255,0.5)";
    ctx.beginPath();
    ctx.arc((controls.stick.ox + controls.stick.x * 60) * dpr, (controls.stick.oy + controls.stick.y * 60) * dpr, 22 * dpr, 0, Math.PI * 2);
    ctx.fill();
  }
  hud.tick.textContent = client.stateTick ? String(client.stateTick) : "–";
}

function drawPlayer(p: Player, qx: number, qy: number, isIt: boolean, isMe: boolean): void {
  const x = qx / QUANTUM;
  const y = qy / QUANTUM;
  const color = `hsl(${p.hue} 80% 60%)`;
  if (isIt) {
    ctx.strokeStyle = "#ff4d6d";
    ctx.lineWidth = 4;
    ctx.beginPath();
    ctx.arc(x, y, PLAYER_RADIUS + 7 + Math.sin(performance.now() / 120) * 2, 0, Math.PI * 2);
    ctx.stroke();
  }
  ctx.fillStyle = color;
  ctx.shadowColor = color;
  ctx.shadowBlur = isMe ? 18 : 8;
  ctx.beginPath();
  ctx.arc(x, y, PLAYER_RADIUS, 0, Math.PI * 2);
  ctx.fill();
  ctx.shadowBlur = 0;
  if (isMe) {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 2.5;
    ctx.stroke();
  }
  ctx.font = "600 14px system-ui, sans-serif";
  ctx.textAlign = "center";
  ctx.fillStyle = "rgba(0,0,0,0.55)";
  ctx.fillText(p.name, x + 1, y - PLAYER_RADIUS - 7);
  ctx.fillStyle = "#e8eefc";
  ctx.fillText(p.name, x, y - PLAYER_RADIUS - 8);
}

requestAnimationFrame(frame);
setStatus(status);
void client.connect().catch((e: Error) => setStatus(`Cannot connect: ${e.message}`));

/** Test and debugging hook (read-only views). */
declare global {
  interface Window {
    __arena: unknown;
  }
}
window.__arena = {
  get playerId() {
    return myId;
  },
  get connected() {
    return client.connectionState === "open" && !!client.room;
  },
  get tick() {
    return client.stateTick;
  },
  get status() {
    return status;
  },
  get roomId() {
    return client.room?.roomId ?? "";
  },
  players(): { id: number; x: number; y: number; name: string; score: number }[] {
    if (!latest) return [];
    return Object.entries(latest.players).map(([id, p]) => ({
      id: Number(id),
      x: p.x / QUANTUM,
      y: p.y / QUANTUM,
      name: p.name,
      score: p.score ?? 0,
    }));
  },
  counters: () => ({ ...client.counters }),
};

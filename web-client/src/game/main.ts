/**
 * The arena sample game: a canvas client for examples/arena built on the
 * Tickwire SDK. Local player predicted and reconciled (small corrections
 * eased), others interpolated 100 ms in the past, a camera that follows the
 * player on maps larger than the screen with a minimap, tag effects, HUD,
 * scoreboard, reconnect banner.
 *
 * The map is picked with `?map=large` (room type "arena-large", else
 * "arena") or the toggle in the top bar, which rewrites the URL and moves to
 * a room of the other type. `?dev` turns on the SDK's development checks
 * (states deep-frozen: a mutation throws).
 */
import { create, toBinary } from "@bufbuild/protobuf";
import {
  InputSchema,
  JoinOptionsSchema,
  RoundOverSchema,
  StateSchema,
  TaggedSchema,
  type State,
} from "../gen/arena/v1/arena_pb.js";
import {
  DEFAULT_INPUT_LEAD_MS,
  DEFAULT_INTERP_DELAY_MS,
  InterpolationBuffer,
  Predictor,
  TickwireClient,
  lerp,
  type DeepReadonly,
} from "@tickwire/client";
import { Controls, Cooldown, type ControlInput } from "./controls.js";
import { alignedInputAt } from "./pacing.js";
import { ConnectionView, reconnectingText } from "./connection.js";
import { roundView } from "./round.js";
import { PICKUP_RADIUS, PLAYER_RADIUS, QUANTUM, STANDARD_WORLD, TAG_RANGE, step, worldOf, type Pos, type World } from "./sim.js";
import {
  CorrectionSmoother,
  camera,
  currentIt,
  interpolatePlayers,
  layoutLabels,
  playerColor,
  visibleRect,
  type Camera,
  type LabelBox,
  type RenderPlayer,
} from "./view.js";

/** A room state as the SDK hands it out: shared with its patch baselines, read-only. */
type ArenaState = DeepReadonly<State>;

const NAME_KEY = "tickwire.arena.name";
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const canvas = $<HTMLCanvasElement>("game");
const ctx = canvas.getContext("2d")!;
const statusEl = $("status");
const hud = {
  ping: $("hud-ping"),
  tick: $("hud-tick"),
  players: $("hud-players"),
  it: $("hud-it"),
  inRate: $("hud-in"),
  outRate: $("hud-out"),
};
const scoreboard = $("scoreboard");
const toastEl = $("toast");
const nameInput = $<HTMLInputElement>("name");
const tagButton = $("tag");
const touchHint = $("touch-hint");
const helpEl = $("help");
const boardTitle = $("board-title");
const mapButtons = { standard: $("map-standard"), large: $("map-large") };

type MapName = keyof typeof mapButtons;
const ROOM_TYPES: Record<MapName, string> = { standard: "arena", large: "arena-large" };
let mapName: MapName = new URLSearchParams(location.search).get("map") === "large" ? "large" : "standard";

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

const client = new TickwireClient(StateSchema, {
  name: playerName,
  interpDelayMs: DEFAULT_INTERP_DELAY_MS,
  dev: new URLSearchParams(location.search).has("dev"),
});
const controls = new Controls(canvas, tagButton);
/** The reconnecting veil, the room-closing notice, offline players. */
const conn = new ConnectionView(client, $("veil"), $("notice"));
const interp = new InterpolationBuffer<ArenaState>(32);
/** The world of the current room, from its states (used by prediction and rendering). */
let world: World = STANDARD_WORLD;
const predictor = new Predictor<Pos, ControlInput>((p, input) => step(p, input, world));
const smoother = new CorrectionSmoother();
const tagCooldown = new Cooldown(1000);

let myId = 0;
let latest: ArenaState | undefined;
let status = "Connecting…";
let lastStepAt = 0;
let prevPredicted: Pos | undefined;
let itFlashUntil = 0;
/** The newest tag (Tagged), which says who is "it" until a state of its tick arrives. */
let lastTag: { target: number; tick: number } | undefined;
let tagPulseAt = -Infinity;
const stats = { tagsSent: 0, tagsReceived: 0 };

/** A tag that landed, drawn for TAG_FX_MS. Positions (quarter units) are the last known ones. */
interface TagFx {
  tagger: number;
  target: number;
  at: number;
  tx: number;
  ty: number;
}
const TAG_FX_MS = 700;
let tagFx: TagFx[] = [];

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
  smoother.reset();
  prevPredicted = undefined;
  latest = undefined;
  world = STANDARD_WORLD;
  tagFx = [];
  lastTag = undefined;
  renderIt();
  everJoined = true;
  setStatus("");
  // A rejoin after a reconnect replays the old request: follow a map or
  // name change made meanwhile.
  if (j.roomType !== ROOM_TYPES[mapName] || joinedName !== playerName) void syncRoom();
});
client.on("left", () => {
  myId = 0;
});
client.on("state", (ev) => {
  latest = ev.state;
  if (lastTag && ev.tick >= lastTag.tick) lastTag = undefined;
  renderIt();
  renderRound();
  world = worldOf(ev.state);
  interp.push(ev.tick, ev.state);
  const me = ev.state.players[myId];
  if (me) {
    const before = predictor.state;
    const now = predictor.reconcile({ x: me.x, y: me.y }, ev.lastInputSeq);
    if (!before) {
      prevPredicted = now;
    } else {
      const dx = now.x - before.x;
      const dy = now.y - before.y;
      const r = smoother.correct(dx, dy, performance.now());
      if (r === "snap") prevPredicted = now;
      else if (r === "smooth" && prevPredicted) prevPredicted = { x: prevPredicted.x + dx, y: prevPredicted.y + dy };
    }
  }
});
client.onMessage(TaggedSchema, (t) => {
  stats.tagsReceived++;
  // The HUD first, so that it already agrees when the toast shows.
  if (t.tick > client.stateTick) lastTag = { target: t.target, tick: t.tick };
  renderIt();
  const name = (id: number) => (id === myId ? "You" : latest?.players[id]?.name || `#${id}`);
  toast(t.target === myId ? `${name(t.tagger)} tagged you — you're it!` : `${name(t.tagger)} tagged ${name(t.target)}!`);
  const now = performance.now();
  if (t.target === myId) itFlashUntil = now + 1500;
  const target = t.target === myId ? predictor.state : latest?.players[t.target];
  if (target) tagFx.push({ tagger: t.tagger, target: t.target, at: now, tx: target.x, ty: target.y });
});

// ---- rounds: the countdown by the scores, the winner banner in the break ----
const roundEl = $("round");
const bannerEl = $("banner");
const bannerTitle = $("banner-title");
const bannerNext = $("banner-next");
function renderRound(): void {
  const v = roundView(latest, client.stateTick, client.room?.tickRate ?? 20, myId);
  if (roundEl.textContent !== v.label) roundEl.textContent = v.label;
  roundEl.classList.toggle("ending", v.banner === "" && v.label !== "" && v.secondsLeft <= 10);
  bannerEl.hidden = v.banner === "";
  if (bannerTitle.textContent !== v.banner) bannerTitle.textContent = v.banner;
  if (bannerNext.textContent !== v.next) bannerNext.textContent = v.next;
}
setInterval(renderRound, 200);
client.onMessage(RoundOverSchema, (r) => {
  toast(r.winner === 0 ? `Round ${r.round} over` : r.winner === myId ? `You win round ${r.round}!` : `${r.name || `#${r.winner}`} wins round ${r.round}!`);
});

/** Who is "it" now: the newest state, or a newer tag (see currentIt). */
function itNow(): number {
  return currentIt(latest?.it ?? 0, client.stateTick, lastTag);
}

/** The HUD's "it" row, updated whenever "it" may have changed. */
function renderIt(): void {
  const it = itNow();
  const text = !it
    ? "–"
    : it === myId
      ? "you!"
      : latest?.players[it]?.name || client.room?.players.find((p) => p.playerId === it)?.name || `#${it}`;
  if (hud.it.textContent !== text) {
    hud.it.textContent = text;
    renderScoreboard(); // its ★
  }
}
client.on("error", (e) => console.warn("arena:", e.message));
client.on("close", (c) => {
  myId = 0;
  setStatus(c.willReconnect ? `Disconnected: ${c.message}` : `Disconnected: ${c.message}. Reload the page to retry.`);
});
client.on("reconnecting", (r) => setStatus(reconnectingText(r, conn.seatGraceMs)));
client.on("open", () => {
  // The SDK rejoins by itself after a reconnect; until a first join
  // succeeded, joining is ours.
  if (!everJoined) void syncRoom();
});
let everJoined = false;
/** The name the current room was joined with. */
let joinedName = "";
let syncing = false;

/**
 * Brings the room in line with the chosen map and name: leaves a room of
 * the wrong type (or joined with an old name) and joins-or-creates one of
 * the right type. Serialized; a no-op while disconnected (the joined
 * handler calls it again after the SDK's rejoin).
 */
async function syncRoom(): Promise<void> {
  if (syncing) return;
  syncing = true;
  try {
    for (let i = 0; i < 3; i++) {
      if (client.connectionState !== "open") return;
      const want = ROOM_TYPES[mapName];
      const r = client.room;
      if (r && r.roomType === want && joinedName === playerName) return;
      if (r) await client.leave();
      setStatus("Joining…");
      joinedName = playerName;
      await client.joinOrCreate(want, { options: joinOptions() });
    }
  } catch (e) {
    console.warn("arena: join failed", e);
    if (!client.room) setStatus(`Could not join: ${(e as Error).message}`);
  } finally {
    syncing = false;
  }
}

function showMap(): void {
  for (const [k, b] of Object.entries(mapButtons)) b.setAttribute("aria-pressed", String(k === mapName));
  boardTitle.textContent = mapName === "large" ? "Scores (nearby)" : "Scores";
}
showMap();
for (const [k, b] of Object.entries(mapButtons) as [MapName, HTMLElement][]) {
  b.addEventListener("click", () => {
    b.blur();
    if (k === mapName) return;
    mapName = k;
    const url = new URL(location.href);
    if (k === "large") url.searchParams.set("map", "large");
    else url.searchParams.delete("map");
    history.replaceState(null, "", url);
    showMap();
    void syncRoom();
  });
}

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
  void syncRoom();
});

// ---- input: one arena.v1.Input per tick ----
// The server reads each player's socket once, at the start of its tick. Once
// states arrive (client.ticks is ready) and an RTT is known, inputs are sent
// on the tick timeline, timed to reach the server DEFAULT_INPUT_LEAD_MS before
// a tick (nextInputSendMs, alignedInputAt): an input then waits at the server
// a few ms instead of half a tick on average, and each send travels close to
// a state arrival, so fewer TCP segments are pure delayed ACKs. Before that,
// one input every tickMs from whenever the room was joined.
let tickMs = 50;
/** Local time of the next send. */
let nextInputAt = 0;
/** Local time the last input was taken for sending. */
let lastInputAt = -Infinity;
/** The input loop runs at least this often (also the free-running granularity). */
const INPUT_POLL_MS = 10;

/** On the tick timeline when there is one (alignedInputAt); else nextInputAt is left free-running. */
function alignInput(now: number): void {
  if (client.clock.sampleCount === 0) return; // no RTT yet: 0 would aim every input late
  const at = alignedInputAt(client.ticks, lastInputAt, now, client.clock.rttMs, DEFAULT_INPUT_LEAD_MS);
  if (at !== undefined) nextInputAt = at;
}

function inputLoop(): void {
  const now = performance.now();
  try {
    pumpInput(now);
  } finally {
    // Wake at the send time when it is near (sharper than the poll) and at
    // least every INPUT_POLL_MS, to follow the room and the tick timeline.
    const wait = nextInputAt - performance.now();
    setTimeout(inputLoop, wait > 0 ? Math.min(INPUT_POLL_MS, wait) : INPUT_POLL_MS);
  }
}

function pumpInput(now: number): void {
  if (!client.room) {
    nextInputAt = now;
    return;
  }
  tickMs = 1000 / (client.room.tickRate || 20);
  alignInput(now);
  if (now - nextInputAt > 250) nextInputAt = now; // after a stall, do not burst
  let n = 0;
  while (nextInputAt <= now && n++ < 5) {
    nextInputAt += tickMs;
    lastInputAt = now; // an input is taken (sent, or dropped when not connected)
    alignInput(now); // on the tick timeline, the next send is over half a tick away: one pass
    const input = controls.take();
    if (input.tag) {
      // Space / the button sends Input.tag for one tick, at most once a second.
      if (tagCooldown.fire(now)) {
        tagPulseAt = now;
        stats.tagsSent++;
        tagButton.classList.add("cool");
        setTimeout(() => tagButton.classList.remove("cool"), tagCooldown.periodMs);
      } else {
        input.tag = false;
      }
    }
    const seq = client.sendInput(toBinary(InputSchema, create(InputSchema, input)));
    if (seq === 0) break;
    prevPredicted = predictor.state;
    predictor.push(seq, input);
    lastStepAt = now;
  }
}
inputLoop();

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
  const total = client.room?.players.length ?? 0;
  const seen = latest ? Object.keys(latest.players).length : 0;
  hud.players.textContent = !client.room ? "–" : seen < total ? `${total} (${seen} near)` : String(total);
  renderIt();
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
      dot.style.background = playerColor(id);
      const name = document.createElement("span");
      name.className = "n";
      name.textContent = (p.name || `#${id}`) + (itNow() === id ? " ★" : "");
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
let cam: Camera = camera(STANDARD_WORLD, 1, 1);
/** Camera scale floor, CSS pixels per world unit (see camera). */
const MIN_SCALE_CSS = 0.5;
function resize(): void {
  const dpr = Math.min(devicePixelRatio || 1, 2);
  canvas.width = Math.round(innerWidth * dpr);
  canvas.height = Math.round(innerHeight * dpr);
}
addEventListener("resize", resize);
resize();

/** Remote players at render time, in quarter units. */
function remotePositions(): Map<number, RenderPlayer> {
  const renderTick = client.ticks.ready
    ? client.ticks.tickAt(performance.now()) - DEFAULT_INTERP_DELAY_MS / tickMs
    : (interp.newestTick ?? 0);
  return interpolatePlayers(interp.sample(renderTick));
}

/** The local player's rendered position (quarter units): between ticks, plus the easing correction. */
function localPosition(now: number): Pos | undefined {
  const cur = predictor.state;
  if (!cur) return undefined;
  const a = prevPredicted ? Math.min(1, (now - lastStepAt) / tickMs) : 1;
  const from = prevPredicted ?? cur;
  const off = smoother.offset(now);
  return { x: lerp(from.x, cur.x, a) + off.x, y: lerp(from.y, cur.y, a) + off.y };
}

function frame(): void {
  requestAnimationFrame(frame);
  const now = performance.now();
  const W = canvas.width;
  const H = canvas.height;
  const remotes = remotePositions();
  const me = localPosition(now);
  const mine = latest?.players[myId];
  const focus = me ?? mine;
  // At least half a CSS pixel per world unit (a player 16 px across): a
  // phone zooms in on the standard map and follows the player.
  cam = camera(world, W, H, focus ? { x: focus.x / QUANTUM, y: focus.y / QUANTUM } : undefined, MIN_SCALE_CSS * (W / innerWidth));
  const vis = visibleRect(cam, W, H);
  const inView = (qx: number, qy: number, r: number) =>
    qx / QUANTUM + r >= vis.x0 && qx / QUANTUM - r <= vis.x1 && qy / QUANTUM + r >= vis.y0 && qy / QUANTUM - r <= vis.y1;

  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = "#0b0f1a";
  ctx.fillRect(0, 0, W, H);
  ctx.setTransform(cam.scale, 0, 0, cam.scale, cam.ox, cam.oy);
  // Floor and grid (the visible part).
  const g = ctx.createLinearGradient(0, 0, world.w, world.h);
  g.addColorStop(0, "#141b2d");
  g.addColorStop(1, "#10233a");
  ctx.fillStyle = g;
  ctx.fillRect(0, 0, world.w, world.h);
  ctx.strokeStyle = "rgba(120,160,255,0.07)";
  ctx.lineWidth = 1;
  ctx.beginPath();
  const gx0 = Math.max(0, Math.floor(vis.x0 / 50) * 50);
  const gx1 = Math.min(world.w, vis.x1);
  const gy0 = Math.max(0, Math.floor(vis.y0 / 50) * 50);
  const gy1 = Math.min(world.h, vis.y1);
  for (let x = gx0; x <= gx1; x += 50) {
    ctx.moveTo(x, Math.max(0, vis.y0));
    ctx.lineTo(x, gy1);
  }
  for (let y = gy0; y <= gy1; y += 50) {
    ctx.moveTo(Math.max(0, vis.x0), y);
    ctx.lineTo(gx1, y);
  }
  ctx.stroke();
  ctx.strokeStyle = "rgba(140,180,255,0.5)";
  ctx.lineWidth = 3;
  ctx.strokeRect(0, 0, world.w, world.h);

  const t = now / 1000;
  if (latest) {
    for (const pk of Object.values(latest.pickups)) {
      if (!inView(pk.x, pk.y, 2 * PICKUP_RADIUS)) continue;
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

  const it = itNow();
  const labels: Label[] = [];
  for (const [id, r] of remotes) {
    if (id === myId || !inView(r.x, r.y, PLAYER_RADIUS + 40)) continue;
    const off = conn.offline(id); // connection lost, seat kept: greyed out
    if (off) ctx.globalAlpha = 0.35;
    drawPlayer(id, r.x, r.y, id === it, false, off);
    ctx.globalAlpha = 1;
    labels.push({ id, name: (r.p.name || `#${id}`) + (off ? " (offline)" : ""), x: r.x / QUANTUM, y: r.y / QUANTUM, isIt: id === it });
  }
  if (mine && me) {
    const pulse = (now - tagPulseAt) / 300;
    if (pulse < 1) {
      ctx.fillStyle = `rgba(255,77,109,${0.25 * (1 - pulse)})`;
      ctx.beginPath();
      ctx.arc(me.x / QUANTUM, me.y / QUANTUM, TAG_RANGE * (0.6 + 0.4 * pulse), 0, Math.PI * 2);
      ctx.fill();
    }
    ctx.strokeStyle = tagCooldown.remaining(now) > 0 ? "rgba(255,77,109,0.25)" : "rgba(255,255,255,0.12)";
    ctx.lineWidth = 1;
    ctx.setLineDash([6, 6]);
    ctx.beginPath();
    ctx.arc(me.x / QUANTUM, me.y / QUANTUM, TAG_RANGE, 0, Math.PI * 2);
    ctx.stroke();
    ctx.setLineDash([]);
    drawPlayer(myId, me.x, me.y, myId === it || now < itFlashUntil, true);
    labels.unshift({ id: myId, name: mine.name || "you", x: me.x / QUANTUM, y: me.y / QUANTUM, isIt: myId === it });
  }
  drawTagFx(now, remotes, me);

  ctx.setTransform(1, 0, 0, 1, 0, 0);
  const dpr = W / innerWidth;
  drawLabels(labels, dpr);

  if (controls.stick.active) {
    touchHint.classList.add("used");
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
  if (cam.follow) drawMinimap(dpr, vis, remotes, me ?? mine, it);
  hud.tick.textContent = client.stateTick ? String(client.stateTick) : "–";
}

/** Expanding rings on the tagged player and a streak from the tagger. */
function drawTagFx(now: number, remotes: Map<number, RenderPlayer>, me: Pos | undefined): void {
  if (!tagFx.length) return;
  tagFx = tagFx.filter((f) => now - f.at < TAG_FX_MS);
  const pos = (id: number): Pos | undefined => (id === myId ? me : remotes.get(id));
  for (const f of tagFx) {
    const k = (now - f.at) / TAG_FX_MS;
    const tgt = pos(f.target) ?? { x: f.tx, y: f.ty };
    const src = pos(f.tagger);
    const x = tgt.x / QUANTUM;
    const y = tgt.y / QUANTUM;
    ctx.globalAlpha = 1 - k;
    if (src && k < 0.5) {
      ctx.strokeStyle = "#ff4d6d";
      ctx.lineWidth = 4 * (1 - 2 * k) + 1;
      ctx.beginPath();
      ctx.moveTo(src.x / QUANTUM, src.y / QUANTUM);
      ctx.lineTo(x, y);
      ctx.stroke();
    }
    ctx.strokeStyle = "#ff4d6d";
    ctx.lineWidth = 5 * (1 - k) + 1;
    ctx.beginPath();
    ctx.arc(x, y, PLAYER_RADIUS + 70 * k, 0, Math.PI * 2);
    ctx.stroke();
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(x, y, PLAYER_RADIUS + 35 * k, 0, Math.PI * 2);
    ctx.stroke();
    ctx.font = "800 18px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.fillStyle = "#ff4d6d";
    ctx.fillText("TAG!", x, y - PLAYER_RADIUS - 30 - 20 * k);
    ctx.globalAlpha = 1;
  }
}

/** World bounds, the camera's view, the local player and the others this client receives. */
function drawMinimap(
  dpr: number,
  vis: { x0: number; y0: number; x1: number; y1: number },
  remotes: Map<number, RenderPlayer>,
  me: Pos | undefined,
  it: number,
): void {
  const s = (150 * dpr) / Math.max(world.w, world.h);
  const mw = world.w * s;
  const mh = world.h * s;
  const x0 = 12 * dpr;
  // Above the help line or the touch hint, whichever shows.
  let bottom = 36;
  for (const el of [helpEl, touchHint]) {
    const r = el.getBoundingClientRect();
    if (r.height > 0) bottom = Math.max(bottom, innerHeight - r.top + 8);
  }
  const y0 = canvas.height - mh - bottom * dpr;
  ctx.fillStyle = "rgba(10,14,26,0.8)";
  ctx.fillRect(x0, y0, mw, mh);
  ctx.strokeStyle = "rgba(140,180,255,0.6)";
  ctx.lineWidth = 1.5 * dpr;
  ctx.strokeRect(x0, y0, mw, mh);
  const vx0 = Math.max(0, vis.x0);
  const vy0 = Math.max(0, vis.y0);
  ctx.strokeStyle = "rgba(255,255,255,0.35)";
  ctx.lineWidth = dpr;
  ctx.strokeRect(x0 + vx0 * s, y0 + vy0 * s, (Math.min(world.w, vis.x1) - vx0) * s, (Math.min(world.h, vis.y1) - vy0) * s);
  const dot = (q: Pos, r: number, color: string) => {
    ctx.fillStyle = color;
    ctx.beginPath();
    ctx.arc(x0 + (q.x / QUANTUM) * s, y0 + (q.y / QUANTUM) * s, r * dpr, 0, Math.PI * 2);
    ctx.fill();
  };
  for (const [id, r] of remotes) {
    if (id !== myId) dot(r, id === it ? 3.5 : 2.5, id === it ? "#ff4d6d" : playerColor(id));
  }
  if (me) {
    dot(me, 4, myId === it ? "#ff4d6d" : "#fff");
  }
}

function drawPlayer(id: number, qx: number, qy: number, isIt: boolean, isMe: boolean, offline = false): void {
  const x = qx / QUANTUM;
  const y = qy / QUANTUM;
  const color = offline ? "#8a8f99" : playerColor(id);
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
}

/** A name label to draw above a player (world units). */
interface Label {
  id: number;
  name: string;
  x: number;
  y: number;
  isIt: boolean;
}

/**
 * Name labels on dark pills, in screen pixels (readable whatever the
 * camera's scale, e.g. on a phone), placed so that none covers another when
 * players overlap (layoutLabels; the local player's, first, keeps its
 * place). A label moved off its player gets a thin line down to it. "It" is
 * marked on the label: "IT · name" in red. Call with the identity transform.
 */
function drawLabels(labels: Label[], dpr: number): void {
  if (!labels.length) return;
  ctx.font = `600 ${Math.round(12 * dpr)}px system-ui, sans-serif`;
  const text = (l: Label) => (l.isIt ? `IT · ${l.name}` : l.name);
  const sx = (x: number) => x * cam.scale + cam.ox;
  const sy = (y: number) => y * cam.scale + cam.oy;
  const ringTop = (l: Label) => sy(l.y - PLAYER_RADIUS - (l.isIt ? 9 : 0)) - 3 * dpr;
  const boxes: LabelBox[] = labels.map((l) => ({
    id: l.id,
    x: sx(l.x),
    y: ringTop(l),
    w: ctx.measureText(text(l)).width + 10 * dpr,
    h: 17 * dpr,
  }));
  const placed = layoutLabels(boxes);
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    const b = boxes[i]!;
    const p = placed[i]!;
    if (p.moved) {
      ctx.strokeStyle = "rgba(232,238,252,0.35)";
      ctx.lineWidth = dpr;
      ctx.beginPath();
      ctx.moveTo(p.left + b.w / 2, p.top + b.h);
      ctx.lineTo(b.x, ringTop(l));
      ctx.stroke();
    }
    ctx.fillStyle = l.isIt ? "rgba(60,8,20,0.82)" : "rgba(10,14,26,0.72)";
    ctx.beginPath();
    ctx.roundRect(p.left, p.top, b.w, b.h, 6 * dpr);
    ctx.fill();
    ctx.fillStyle = l.isIt ? "#ff8fa3" : l.id === myId ? "#ffffff" : "#e8eefc";
    ctx.fillText(text(l), p.left + b.w / 2, p.top + b.h / 2 + 1);
  }
  ctx.textBaseline = "alphabetic";
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
  /** "standard" or "large" (the toggle / ?map=). */
  get map() {
    return mapName;
  },
  get roomType() {
    return client.room?.roomType ?? "";
  },
  /** The current world size, world units. */
  get world() {
    return { ...world };
  },
  /** Camera centre (world units), scale and whether it follows the player. */
  get camera() {
    return { x: cam.cx, y: cam.cy, scale: cam.scale, follow: cam.follow };
  },
  /** The round: number, phase (1 playing, 2 over), winner and the page's countdown label and banner. */
  get round() {
    return {
      number: latest?.round ?? 0,
      phase: latest?.phase ?? 0,
      winner: latest?.winner ?? 0,
      label: roundEl.textContent ?? "",
      banner: bannerEl.hidden ? "" : (bannerTitle.textContent ?? ""),
    };
  },
  /** Player id of "it" (0: nobody). */
  get it() {
    return latest?.it ?? 0;
  },
  /** The local player's rendered position, world units. */
  local(): { x: number; y: number } | null {
    const p = localPosition(performance.now());
    return p ? { x: p.x / QUANTUM, y: p.y / QUANTUM } : null;
  },
  corrections: () => ({ smoothed: smoother.smoothed, snapped: smoother.snapped }),
  tags: () => ({ ...stats }),
  /** The colour a player is drawn in. */
  color: (id: number) => playerColor(id),
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
  /** The reconnecting veil is shown. */
  get reconnecting() {
    return conn.reconnecting;
  },
  /** How the page last came back after a lost connection: "resumed", "rejoined" or "". */
  get comeback() {
    return conn.lastComeback;
  },
  /** Ids of the other players whose connection is lost (drawn greyed out). */
  offline: () => [...client.disconnectedPlayers],
  /** The orbs, world units. */
  pickups: (): { x: number; y: number }[] => Object.values(latest?.pickups ?? {}).map((p) => ({ x: p.x / QUANTUM, y: p.y / QUANTUM })),
  /** The room-closing notice ("" when none). */
  get notice() {
    return conn.noticeText;
  },
};

/**
 * Rendering maths of the arena, kept free of the DOM so it is unit tested:
 * the camera, the interpolated remote players and the smoothing of local
 * prediction corrections.
 */
import type { Player, State } from "../gen/arena/v1/arena_pb.js";
import type { Bracket, DeepReadonly } from "@tickwire/client";
import { SPEED_Q, WORLD_H, WORLD_W, type World } from "./sim.js";

/** World-to-canvas transform: canvas = world × scale + (ox, oy). */
export interface Camera {
  scale: number;
  ox: number;
  oy: number;
  /** True when the world is larger than the canvas and the camera follows the player. */
  follow: boolean;
  /** The world point at the centre of the canvas, world units. */
  cx: number;
  cy: number;
}

/**
 * World units the camera may show beyond the world's edge when it follows,
 * so the border stays visible next to a player at the wall.
 */
export const CAMERA_MARGIN = 40;

/**
 * The camera for a canvas of cw × ch pixels. The scale is the one at which
 * the standard map fills the canvas (96 %), so players have the same size on
 * every map, but never below `minScale` canvas pixels per world unit (0: no
 * floor): on a narrow portrait phone the whole standard map would make a
 * player a few pixels wide, so the camera zooms in and follows instead. A
 * world that fits at the scale is centred whole (the standard map on a
 * desktop); a larger one is followed: centred on `focus` (world units,
 * usually the local player's rendered position; the world centre when
 * undefined) and clamped so that at most CAMERA_MARGIN units beyond the
 * edge show. Each axis is decided on its own.
 */
export function camera(world: World, cw: number, ch: number, focus?: { x: number; y: number }, minScale = 0): Camera {
  const scale = Math.max(Math.min(cw / WORLD_W, ch / WORLD_H) * 0.96, minScale);
  const vw = cw / scale;
  const vh = ch / scale;
  const axis = (size: number, view: number, f: number | undefined): number => {
    if (size <= view) return size / 2;
    const lo = view / 2 - CAMERA_MARGIN;
    const hi = size - view / 2 + CAMERA_MARGIN;
    const c = f ?? size / 2;
    return c < lo ? lo : c > hi ? hi : c;
  };
  const cx = axis(world.w, vw, focus?.x);
  const cy = axis(world.h, vh, focus?.y);
  return { scale, ox: cw / 2 - cx * scale, oy: ch / 2 - cy * scale, follow: world.w > vw || world.h > vh, cx, cy };
}

/** The world rectangle a camera shows on a cw × ch canvas. */
export function visibleRect(c: Camera, cw: number, ch: number): { x0: number; y0: number; x1: number; y1: number } {
  return { x0: -c.ox / c.scale, y0: -c.oy / c.scale, x1: (cw - c.ox) / c.scale, y1: (ch - c.oy) / c.scale };
}

/** A remote player at render time, position in quarter units. */
export interface RenderPlayer {
  p: DeepReadonly<Player>;
  x: number;
  y: number;
}

/**
 * The players of a bracket of two snapshots, interpolated. The buffer holds
 * whole snapshots rather than per-entity buffers, so an entity's history is
 * exactly the snapshots it appears in:
 *   - in `to` and `from`: interpolated;
 *   - only in `to` (joined, or entered the view under interest management):
 *     drawn at its `to` position, no lerp from an unknown origin;
 *   - only in `from` (left, or left the view): not drawn. Nothing per entity
 *     outlives the snapshots, which the buffer drops as render time passes.
 */
export function interpolatePlayers(b: Bracket<DeepReadonly<State>> | undefined): Map<number, RenderPlayer> {
  const out = new Map<number, RenderPlayer>();
  if (!b) return out;
  for (const [k, to] of Object.entries(b.to.players)) {
    const id = Number(k);
    const from = b.from.players[id];
    out.set(id, {
      p: to,
      x: from ? from.x + (to.x - from.x) * b.alpha : to.x,
      y: from ? from.y + (to.y - from.y) * b.alpha : to.y,
    });
  }
  return out;
}

/** What CorrectionSmoother.correct did. */
export type Correction = "none" | "smooth" | "snap";

/**
 * Smooths reconciliation corrections of the locally predicted player. When
 * the server's authoritative state moves the prediction, the rendered player
 * keeps its place and eases to the corrected one over `durationMs`
 * (ease-out); a correction larger than `snapDistance` (quarter units;
 * default 4 ticks of full speed, 48 world units) snaps at once. A correction
 * that arrives while an earlier one is still easing adds to what is left of
 * it, and the sum is what the snap threshold applies to.
 */
export class CorrectionSmoother {
  private ox = 0;
  private oy = 0;
  private at = 0;
  /** Corrections eased / snapped so far. */
  smoothed = 0;
  snapped = 0;

  constructor(
    readonly durationMs = 100,
    readonly snapDistance = 4 * SPEED_Q,
  ) {}

  /**
   * Takes a correction (corrected − previous prediction, quarter units) at
   * time `now` (ms).
   */
  correct(dx: number, dy: number, now: number): Correction {
    if (dx === 0 && dy === 0) return "none";
    const cur = this.offset(now);
    const nx = cur.x - dx;
    const ny = cur.y - dy;
    if (Math.hypot(nx, ny) > this.snapDistance) {
      this.reset();
      this.snapped++;
      return "snap";
    }
    this.ox = nx;
    this.oy = ny;
    this.at = now;
    this.smoothed++;
    return "smooth";
  }

  /** What to add to the corrected position when rendering at `now` (quarter units). */
  offset(now: number): { x: number; y: number } {
    const t = (now - this.at) / this.durationMs;
    if (t >= 1 || (this.ox === 0 && this.oy === 0)) return { x: 0, y: 0 };
    const k = t <= 0 ? 1 : (1 - t) * (1 - t);
    return { x: this.ox * k, y: this.oy * k };
  }

  reset(): void {
    this.ox = 0;
    this.oy = 0;
  }
}

/**
 * Player colours: a fixed palette picked by room player id (ids count up
 * from 1 in a room), so the first ten players present at once all differ and
 * every client draws a player the same colour. No entry is near the orbs'
 * teal (hue 163) and gold (hue 45) or the red of "it" (hue 350); entries
 * that share a hue region differ in lightness. (The server's Player.hue is
 * random and can land two players, or a player and the orbs, on one
 * colour; the client does not use it.)
 */
export const PLAYER_COLORS: readonly string[] = [
  "hsl(210 90% 62%)", // blue
  "hsl(285 75% 68%)", // violet
  "hsl(115 60% 52%)", // green
  "hsl(22 95% 58%)", // orange
  "hsl(320 80% 70%)", // pink
  "hsl(240 80% 75%)", // periwinkle
  "hsl(85 75% 45%)", // olive green
  "hsl(195 35% 82%)", // pale steel
  "hsl(15 50% 45%)", // rust
  "hsl(270 30% 45%)", // slate purple
];

/** The colour of room player `id` (1, 2, ...). */
export function playerColor(id: number): string {
  const n = PLAYER_COLORS.length;
  return PLAYER_COLORS[(((id - 1) % n) + n) % n]!;
}

/** A name label to place: anchored centred above (x, y), w × h, canvas units. */
export interface LabelBox {
  id: number;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Where a label goes: its box's top-left corner, and whether it had to move. */
export interface PlacedLabel {
  id: number;
  left: number;
  top: number;
  moved: boolean;
}

/**
 * Places name labels so that none overlaps another: in the given order
 * (put the local player first: it keeps its place), each label goes at its
 * anchor (bottom edge at y, centred on x) or, when that overlaps an
 * already placed label, is stacked upwards one row at a time (up to
 * `maxRows` rows), then sideways; the first free spot wins. A label with no
 * free spot stays at its anchor (moved: false is not promised then).
 */
export function layoutLabels(labels: readonly LabelBox[], gap = 2, maxRows = 4): PlacedLabel[] {
  const placed: { l: number; t: number; r: number; b: number }[] = [];
  const out: PlacedLabel[] = [];
  const free = (l: number, t: number, w: number, h: number) =>
    placed.every((p) => l + w + gap <= p.l || l >= p.r + gap || t + h + gap <= p.t || t >= p.b + gap);
  for (const lb of labels) {
    const left0 = lb.x - lb.w / 2;
    const top0 = lb.y - lb.h;
    let spot: { l: number; t: number } | undefined;
    search: for (let row = 0; row <= maxRows; row++) {
      const t = top0 - row * (lb.h + gap);
      for (const dx of [0, lb.w / 2 + gap, -(lb.w / 2 + gap)]) {
        if (free(left0 + dx, t, lb.w, lb.h)) {
          spot = { l: left0 + dx, t };
          break search;
        }
      }
    }
    const s = spot ?? { l: left0, t: top0 };
    placed.push({ l: s.l, t: s.t, r: s.l + lb.w, b: s.t + lb.h });
    out.push({ id: lb.id, left: s.l, top: s.t, moved: s.l !== left0 || s.t !== top0 });
  }
  return out;
}

/**
 * Who is "it" right now. A Tagged message can arrive before the state of
 * its tick (messages are sent at once, states on the send tick): until a
 * state at or after the tag's tick arrives, the tag decides, so the toast,
 * the HUD and the red ring agree from the moment the toast shows.
 */
export function currentIt(stateIt: number, stateTick: number, lastTag: { target: number; tick: number } | undefined): number {
  if (lastTag && stateTick < lastTag.tick) return lastTag.target;
  return stateIt;
}

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
 * The camera for a canvas of cw × ch pixels. The scale is always the one at
 * which the standard map fills the canvas (96 %), so players have the same
 * size on every map. A world that fits at that scale is centred whole (the
 * standard map); a larger one is followed: centred on `focus` (world units,
 * usually the local player's rendered position; the world centre when
 * undefined) and clamped so that at most CAMERA_MARGIN units beyond the
 * edge show. Each axis is decided on its own.
 */
export function camera(world: World, cw: number, ch: number, focus?: { x: number; y: number }): Camera {
  const scale = Math.min(cw / WORLD_W, ch / WORLD_H) * 0.96;
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

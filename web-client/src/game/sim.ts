/**
 * The arena rules the client predicts, exactly as arena.proto states them
 * (float64 arithmetic in the written order, Math.sqrt, Math.trunc), so the
 * predicted position matches the server's bit for bit.
 */
import { Constants } from "../gen/arena/v1/arena_pb.js";

export const WORLD_W = Constants.WORLD_WIDTH;
export const WORLD_H = Constants.WORLD_HEIGHT;
export const QUANTUM = Constants.QUANTUM;
export const SPEED_Q = Constants.SPEED_Q;
export const PLAYER_RADIUS = Constants.PLAYER_RADIUS;
export const PICKUP_RADIUS = Constants.PICKUP_RADIUS;
export const TAG_RANGE = Constants.TAG_RANGE;

/** A world size in world units. */
export interface World {
  w: number;
  h: number;
}

/** The standard map (State.world_width/world_height unset). */
export const STANDARD_WORLD: World = { w: WORLD_W, h: WORLD_H };

/**
 * The world of a state: State.world_width/world_height when set, else
 * WORLD_WIDTH x WORLD_HEIGHT (each axis on its own, as the server clamps).
 */
export function worldOf(s: { worldWidth: number; worldHeight: number } | undefined): World {
  return { w: s?.worldWidth || WORLD_W, h: s?.worldHeight || WORLD_H };
}

/** A position in quarter units. */
export interface Pos {
  x: number;
  y: number;
}

/** The movement part of an arena.v1.Input. */
export interface Move {
  moveX: number;
  moveY: number;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/**
 * One tick of movement for one input (arena.proto, "Rules") on a world of
 * world.w x world.h world units (default: the standard map).
 */
export function step(p: Pos, input: Move, world: World = STANDARD_WORLD): Pos {
  let mx = clamp(input.moveX, -127, 127);
  let my = clamp(input.moveY, -127, 127);
  const l = Math.sqrt(mx * mx + my * my);
  if (l > 127) {
    mx = (mx * 127) / l;
    my = (my * 127) / l;
  }
  const dx = Math.trunc((mx * SPEED_Q) / 127);
  const dy = Math.trunc((my * SPEED_Q) / 127);
  const lo = PLAYER_RADIUS * QUANTUM;
  return {
    x: clamp(p.x + dx, lo, world.w * QUANTUM - lo),
    y: clamp(p.y + dy, lo, world.h * QUANTUM - lo),
  };
}

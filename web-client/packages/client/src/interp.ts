/**
 * Interpolation buffer: keeps recent snapshots by (fractional) tick and
 * finds the pair that brackets a render time, so remote entities are drawn
 * a fixed delay in the past, between two real server states, instead of
 * jumping at every frame.
 *
 * The caller picks the render time, usually
 * `tickClock.tickAt(now) - delayMs / tickMs` (see TickClock); the buffer is
 * a pure data structure, single-threaded.
 */

/** The pair of snapshots around a render time. */
export interface Bracket<T> {
  from: T;
  to: T;
  fromTick: number;
  toTick: number;
  /** 0 at `from`, 1 at `to`; clamped to [0, 1]. */
  alpha: number;
  /**
   * "behind": the render time is older than the oldest snapshot (shows the
   * oldest); "ahead": newer than the newest (shows the newest, no
   * extrapolation); "ok" otherwise.
   */
  status: "ok" | "behind" | "ahead";
}

/** Default interpolation delay: 100 ms, 2 snapshots at 20 Hz. */
export const DEFAULT_INTERP_DELAY_MS = 100;

export class InterpolationBuffer<T> {
  private readonly ticks: number[] = [];
  private readonly values: T[] = [];

  constructor(
    /** Snapshots kept; older ones are dropped. Default 32. */
    readonly capacity = 32,
  ) {}

  get size(): number {
    return this.ticks.length;
  }

  /** Newest tick in the buffer, or undefined. */
  get newestTick(): number | undefined {
    return this.ticks.length ? this.ticks[this.ticks.length - 1] : undefined;
  }

  /**
   * Adds a snapshot. A tick not newer than the newest is ignored (returns
   * false): states arrive in order over TCP, so an older one means a stale
   * duplicate.
   */
  push(tick: number, value: T): boolean {
    const n = this.ticks.length;
    if (n > 0 && tick <= this.ticks[n - 1]!) return false;
    this.ticks.push(tick);
    this.values.push(value);
    if (this.ticks.length > this.capacity) {
      this.ticks.shift();
      this.values.shift();
    }
    return true;
  }

  /**
   * The snapshots around `renderTick`, or undefined when the buffer is empty.
   * Snapshots older than the one before renderTick are dropped, since
   * render time only moves forward.
   */
  sample(renderTick: number): Bracket<T> | undefined {
    const n = this.ticks.length;
    if (n === 0) return undefined;
    const t = this.ticks;
    const v = this.values;
    if (renderTick <= t[0]!) {
      return { from: v[0]!, to: v[0]!, fromTick: t[0]!, toTick: t[0]!, alpha: 0, status: renderTick < t[0]! ? "behind" : "ok" };
    }
    if (renderTick >= t[n - 1]!) {
      const status = renderTick > t[n - 1]! ? "ahead" : "ok";
      return { from: v[n - 1]!, to: v[n - 1]!, fromTick: t[n - 1]!, toTick: t[n - 1]!, alpha: 0, status };
    }
    let i = n - 2;
    while (i > 0 && t[i]! > renderTick) i--;
    // Drop what lies before the bracket.
    if (i > 0) {
      t.splice(0, i);
      v.splice(0, i);
      i = 0;
    }
    const a = t[i]!;
    const b = t[i + 1]!;
    return { from: v[i]!, to: v[i + 1]!, fromTick: a, toTick: b, alpha: (renderTick - a) / (b - a), status: "ok" };
  }

  /**
   * Keeps only the newest snapshot: after a background tab resumes, or when
   * the timeline jumped, so rendering restarts from the present rather than
   * replaying a backlog.
   */
  resync(): void {
    const n = this.ticks.length;
    if (n > 1) {
      this.ticks.splice(0, n - 1);
      this.values.splice(0, n - 1);
    }
  }

  clear(): void {
    this.ticks.length = 0;
    this.values.length = 0;
  }
}

/** Linear interpolation a + (b - a) × alpha. */
export function lerp(a: number, b: number, alpha: number): number {
  return a + (b - a) * alpha;
}

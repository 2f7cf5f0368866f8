/**
 * Player controls: keyboard (WASD / arrows, space to tag) and touch (a
 * virtual stick on the left half of the screen, a tag button). Produces one
 * arena input per tick with take().
 */
export interface ControlInput {
  moveX: number;
  moveY: number;
  tag: boolean;
}

const KEYS: Record<string, [number, number]> = {
  KeyW: [0, -1], ArrowUp: [0, -1],
  KeyS: [0, 1], ArrowDown: [0, 1],
  KeyA: [-1, 0], ArrowLeft: [-1, 0],
  KeyD: [1, 0], ArrowRight: [1, 0],
};

export class Controls {
  private readonly down = new Set<string>();
  private tagLatched = false;
  private stickId: number | undefined;
  private stickOrigin = { x: 0, y: 0 };
  /** Stick vector in [-1, 1], for drawing. */
  stick = { x: 0, y: 0, active: false, ox: 0, oy: 0 };

  constructor(target: HTMLElement, tagButton: HTMLElement) {
    addEventListener("keydown", (e) => {
      if (isTyping(e)) return;
      if (e.code in KEYS) {
        this.down.add(e.code);
        e.preventDefault();
      } else if (e.code === "Space") {
        this.tagLatched = true;
        e.preventDefault();
      }
    });
    addEventListener("keyup", (e) => this.down.delete(e.code));
    addEventListener("blur", () => this.down.clear());
    tagButton.addEventListener("pointerdown", (e) => {
      this.tagLatched = true;
      e.preventDefault();
    });
    target.addEventListener("pointerdown", (e) => {
      if (e.pointerType === "mouse" || this.stickId !== undefined) return;
      this.stickId = e.pointerId;
      this.stickOrigin = { x: e.clientX, y: e.clientY };
      this.stick = { x: 0, y: 0, active: true, ox: e.clientX, oy: e.clientY };
    });
    target.addEventListener("pointermove", (e) => {
      if (e.pointerId !== this.stickId) return;
      const r = 60;
      let dx = (e.clientX - this.stickOrigin.x) / r;
      let dy = (e.clientY - this.stickOrigin.y) / r;
      const l = Math.hypot(dx, dy);
      if (l > 1) {
        dx /= l;
        dy /= l;
      }
      this.stick.x = dx;
      this.stick.y = dy;
    });
    const end = (e: PointerEvent) => {
      if (e.pointerId !== this.stickId) return;
      this.stickId = undefined;
      this.stick = { x: 0, y: 0, active: false, ox: 0, oy: 0 };
    };
    target.addEventListener("pointerup", end);
    target.addEventListener("pointercancel", end);
  }

  /** The input for the next tick; clears the latched tag. */
  take(): ControlInput {
    let x = 0;
    let y = 0;
    for (const k of this.down) {
      const v = KEYS[k];
      if (v) {
        x += v[0];
        y += v[1];
      }
    }
    if (this.stick.active) {
      x = this.stick.x;
      y = this.stick.y;
    }
    const tag = this.tagLatched;
    this.tagLatched = false;
    return {
      moveX: Math.round(Math.max(-1, Math.min(1, x)) * 127),
      moveY: Math.round(Math.max(-1, Math.min(1, y)) * 127),
      tag,
    };
  }
}

function isTyping(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  return !!t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA");
}

/**
 * Client-side rate limit of an action: fire() succeeds at most once per
 * periodMs (the arena server accepts one tag per second per player; a press
 * during the cooldown is dropped, not queued).
 */
export class Cooldown {
  private last = -Infinity;

  constructor(readonly periodMs = 1000) {}

  /** Fires at `now` (ms) if the period has passed since the last fire. */
  fire(now: number): boolean {
    if (now - this.last < this.periodMs) return false;
    this.last = now;
    return true;
  }

  /** Fraction of the cooldown left at `now`: 1 just fired, 0 ready. */
  remaining(now: number): number {
    const r = 1 - (now - this.last) / this.periodMs;
    return r > 0 ? r : 0;
  }

  reset(): void {
    this.last = -Infinity;
  }
}

/**
 * StateRing keeps the most recent states by tick, so a patch whose baseline
 * is older than the newest state can still be applied. Fixed size; a tick
 * maps to slot tick % size and a lookup checks the stored tick.
 */
export class StateRing<T> {
  private readonly ticks: Uint32Array;
  private readonly states: (T | undefined)[];

  constructor(readonly size = 64) {
    this.ticks = new Uint32Array(size);
    this.states = new Array<T | undefined>(size);
  }

  put(tick: number, state: T): void {
    const i = tick % this.size;
    this.ticks[i] = tick;
    this.states[i] = state;
  }

  /** The state of `tick`, or undefined when it was never stored or was overwritten. */
  get(tick: number): T | undefined {
    if (tick === 0) return undefined;
    const i = tick % this.size;
    return this.ticks[i] === tick ? this.states[i] : undefined;
  }

  clear(): void {
    this.ticks.fill(0);
    this.states.fill(undefined);
  }
}

/**
 * Client-side prediction and server reconciliation.
 *
 * The game supplies a pure step function (the same rule the server runs for
 * one input). The predictor applies each local input at once, keeps it until
 * the server reports it processed (State.last_input_seq), and on every
 * authoritative state replays the inputs the server has not processed yet on
 * top of it. Single-threaded; step must not mutate its arguments.
 */

export type StepFn<S, I> = (state: S, input: I) => S;

export interface PendingInput<I> {
  seq: number;
  input: I;
}

export class Predictor<S, I> {
  private pendingInputs: PendingInput<I>[] = [];
  private predicted: S | undefined;
  /** Inputs dropped because more than maxPending were unacknowledged. */
  overflowed = 0;

  constructor(
    private readonly step: StepFn<S, I>,
    /**
     * Unacknowledged inputs kept at most (default 120, 6 s at 20 Hz); the
     * oldest are dropped beyond that, e.g. while the server is unreachable.
     */
    readonly maxPending = 120,
  ) {}

  /** The predicted state, undefined before the first reconcile. */
  get state(): S | undefined {
    return this.predicted;
  }

  /** Inputs sent but not yet processed by the server. */
  get pending(): readonly PendingInput<I>[] {
    return this.pendingInputs;
  }

  /**
   * Records a local input (seq as sent) and applies it to the predicted
   * state. Inputs must be pushed in increasing seq order. Returns the new
   * predicted state (undefined before the first authoritative state).
   */
  push(seq: number, input: I): S | undefined {
    this.pendingInputs.push({ seq, input });
    if (this.pendingInputs.length > this.maxPending) {
      this.pendingInputs.shift();
      this.overflowed++;
    }
    if (this.predicted !== undefined) this.predicted = this.step(this.predicted, input);
    return this.predicted;
  }

  /**
   * Takes an authoritative state in which the server processed the inputs up
   * to lastInputSeq: drops those, replays the rest in order, and returns the
   * new prediction.
   */
  reconcile(authoritative: S, lastInputSeq: number): S {
    let i = 0;
    while (i < this.pendingInputs.length && this.pendingInputs[i]!.seq <= lastInputSeq) i++;
    if (i > 0) this.pendingInputs.splice(0, i);
    let s = authoritative;
    for (const p of this.pendingInputs) s = this.step(s, p.input);
    this.predicted = s;
    return s;
  }

  /** Forgets everything (new room, reconnect). */
  reset(): void {
    this.pendingInputs = [];
    this.predicted = undefined;
  }
}

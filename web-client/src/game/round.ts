/**
 * The arena's timed rounds as the page shows them (DOM-free, unit tested):
 * the countdown next to the scores and the winner banner between rounds.
 */
import { RoundPhase, type State } from "../gen/arena/v1/arena_pb.js";
import type { DeepReadonly } from "@tickwire/client";

/** What the page shows of the round. */
export interface RoundView {
  /** "Round 3 · 1:12" while played, "Round 3 over" in the break, "" before any state. */
  label: string;
  /** Seconds left in the phase (rounded up, never negative). */
  secondsLeft: number;
  /** The banner text in the break ("ada wins round 3 · 42 points"), else "". */
  banner: string;
  /** The banner's second line in the break ("next round in 5"), else "". */
  next: string;
}

/** m:ss */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * The round view of state at tick `tick` of a room running at `tickRate` Hz.
 * `myId` turns the winner's name into "You".
 */
export function roundView(state: DeepReadonly<State> | undefined, tick: number, tickRate: number, myId: number): RoundView {
  if (!state || !state.round) return { label: "", secondsLeft: 0, banner: "", next: "" };
  const secondsLeft = Math.max(0, Math.ceil((state.phaseEndsTick - tick) / (tickRate || 20)));
  if (state.phase !== RoundPhase.OVER) {
    return { label: `Round ${state.round} · ${clock(secondsLeft)}`, secondsLeft, banner: "", next: "" };
  }
  const who = state.winner === myId ? "You win" : `${state.winnerName || `#${state.winner}`} wins`;
  const banner = state.winner
    ? `${who} round ${state.round} · ${state.winnerScore} point${state.winnerScore === 1 ? "" : "s"}`
    : `Round ${state.round} over · nobody scored`;
  return { label: `Round ${state.round} over`, secondsLeft, banner, next: `next round in ${secondsLeft}` };
}

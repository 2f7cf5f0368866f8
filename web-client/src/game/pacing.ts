/**
 * When the arena game sends its next input, on the tick timeline.
 */
import { DEFAULT_INPUT_LEAD_MS, nextInputSendMs, type TickClock } from "@tickwire/client";

/**
 * The next input send time on the tick timeline (nextInputSendMs), or
 * undefined when there is none yet: the first aligned send time more than
 * half a tick after the last send (lastSentMs; -Infinity before the first).
 * One input per server tick, never two within half a tick of each other and
 * at most 1.5 ticks between two sends, so when the timeline moves (a TickClock
 * resync, a new RTT estimate) the sends follow it without a double send or
 * more than one skipped tick. When the last send is more than 1.5 ticks old
 * (a stall) the most recent aligned time, at most nowMs, is returned: one
 * send is due now, not a burst.
 */
export function alignedInputAt(
  ticks: TickClock,
  lastSentMs: number,
  nowMs: number,
  rttMs: number,
  leadMs: number = DEFAULT_INPUT_LEAD_MS,
): number | undefined {
  return nextInputSendMs(ticks, Math.max(lastSentMs + ticks.tickMs / 2, nowMs - ticks.tickMs), rttMs, leadMs);
}

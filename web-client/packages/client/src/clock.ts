/**
 * Clock estimation from noisy samples, with median filters.
 *
 * ClockSync turns Ping/Pong round trips into an RTT and a server wall-clock
 * offset (pongSentMs takes the server's hold of the Ping, Pong.hold_ms, out of
 * the round trip). TickClock turns the arrival times of state frames into the
 * server's tick timeline as this client receives it, which is what the
 * interpolation buffer renders against.
 *
 * Both are plain data structures driven by the caller's clock (milliseconds
 * from any monotonic origin, e.g. performance.now()); nothing here reads a
 * clock or sets a timer, so tests are deterministic.
 */

/** Median of a non-empty array (the array is not modified). */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface ClockSyncOptions {
  /** Samples kept (a sliding window). Default 11. */
  window?: number;
  /**
   * A sample whose RTT exceeds outlierFactor × the median RTT plus
   * outlierSlackMs is an outlier (a TCP retransmit, a GC pause) and does not
   * count towards the offset estimate. Defaults 1.5 and 10.
   */
  outlierFactor?: number;
  outlierSlackMs?: number;
}

/**
 * Pong.hold_ms values from MAX_PONG_HOLD_MS up are not taken at face value: a
 * node holds a Ping for about one tick at most, so a hold near a minute is a
 * broken server or a corrupt frame, and such a reply is not used as a sample.
 */
export const MAX_PONG_HOLD_MS = 60_000;

/**
 * The send time to give ClockSync.addSample for a Pong received at local time
 * recvMs: the Ping's client_time_ms plus the time the server held the Ping
 * before answering (Pong.hold_ms). Treating the Ping as sent hold_ms later
 * makes the sample's RTT the round trip minus the hold, and its offset
 * server_time_ms − (sent + hold + RTT/2), the midpoint of the network part of
 * the round trip. A hold longer than the measured round trip (timer
 * resolution: browsers coarsen performance.now to 0.1–1 ms) is cut to it,
 * giving an RTT of 0.
 *
 * Returns undefined when the reply must not be used as an RTT or clock-offset
 * sample: hold_ms absent (the server could not tell the hold exactly),
 * negative, not finite, or MAX_PONG_HOLD_MS or more.
 */
export function pongSentMs(clientTimeMs: number, holdMs: number | undefined, recvMs: number): number | undefined {
  if (holdMs === undefined || !(holdMs >= 0 && holdMs < MAX_PONG_HOLD_MS)) return undefined;
  // max(clientTimeMs, …): a reply received "before" its Ping keeps its
  // negative round trip, which addSample refuses.
  return Math.min(clientTimeMs + holdMs, Math.max(clientTimeMs, recvMs));
}

interface PongSample {
  rtt: number;
  /** server wall-clock minus local clock, at the sample. */
  offset: number;
}

/**
 * ClockSync estimates RTT and the server wall-clock offset from ping/pong
 * samples: RTT is the median of the window; the offset is the median of the
 * offsets of the inlier samples (RTT close to the median), each computed
 * assuming a symmetric path (server time = local midpoint of the round trip).
 */
export class ClockSync {
  private readonly samples: PongSample[] = [];
  private readonly window: number;
  private readonly factor: number;
  private readonly slack: number;
  private rttEst = 0;
  private offsetEst = 0;

  constructor(opts: ClockSyncOptions = {}) {
    this.window = Math.max(1, opts.window ?? 11);
    this.factor = opts.outlierFactor ?? 1.5;
    this.slack = opts.outlierSlackMs ?? 10;
  }

  /**
   * Adds a sample: the local time the ping was sent, the local time the pong
   * arrived, and the server wall-clock time in the pong. For a Pong, sentMs
   * is pongSentMs(client_time_ms, hold_ms, recvMs) (the send time shifted by the
   * server's hold), not client_time_ms itself. Samples with a negative (or
   * NaN) round trip or a non-finite server time are ignored (returns false).
   */
  addSample(sentMs: number, recvMs: number, serverTimeMs: number): boolean {
    const rtt = recvMs - sentMs;
    if (!(rtt >= 0) || !Number.isFinite(serverTimeMs)) return false;
    this.samples.push({ rtt, offset: serverTimeMs - (sentMs + rtt / 2) });
    if (this.samples.length > this.window) this.samples.shift();
    this.rttEst = median(this.samples.map((s) => s.rtt));
    const limit = this.rttEst * this.factor + this.slack;
    const inliers = this.samples.filter((s) => s.rtt <= limit);
    this.offsetEst = median((inliers.length ? inliers : this.samples).map((s) => s.offset));
    return true;
  }

  /** Number of samples in the window. */
  get sampleCount(): number {
    return this.samples.length;
  }
  /** Median RTT in ms, 0 before the first sample. */
  get rttMs(): number {
    return this.rttEst;
  }
  /** Server wall clock minus local clock, ms. */
  get offsetMs(): number {
    return this.offsetEst;
  }
  /** Estimated server wall-clock time (ms since the epoch) at local time now. */
  serverTime(nowMs: number): number {
    return nowMs + this.offsetEst;
  }
  reset(): void {
    this.samples.length = 0;
    this.rttEst = 0;
    this.offsetEst = 0;
  }
}

export interface TickClockOptions {
  /** Arrival samples kept. Default 40 (2 s at 20 Hz). */
  window?: number;
  /**
   * A sample more than resyncMs away from the current estimate counts as a
   * jump; after resyncAfter consecutive jumps (a background tab resumed, the
   * server restarted, a long stall) the window restarts from the new
   * samples. Defaults 250 ms and 3.
   */
  resyncMs?: number;
  resyncAfter?: number;
}

/**
 * TickClock maps local time to the server's tick timeline as received here:
 * each state of tick t arriving at local time a is a sample of the origin
 * a - t × tickMs; the origin estimate is the median of the window. The
 * fractional tick at local time now is (now - origin) / tickMs.
 */
export class TickClock {
  private readonly origins: number[] = [];
  private readonly window: number;
  private readonly resyncMs: number;
  private readonly resyncAfter: number;
  private jumps = 0;
  private origin = 0;
  /** Resyncs done so far (diagnostics). */
  resyncs = 0;

  constructor(
    /** Milliseconds per tick (1000 / tick rate). */
    public tickMs: number,
    opts: TickClockOptions = {},
  ) {
    this.window = Math.max(1, opts.window ?? 40);
    this.resyncMs = opts.resyncMs ?? 250;
    this.resyncAfter = Math.max(1, opts.resyncAfter ?? 3);
  }

  /** True once at least one sample arrived. */
  get ready(): boolean {
    return this.origins.length > 0;
  }

  /** Adds the arrival of the state of `tick` at local time `arrivalMs`. */
  observe(tick: number, arrivalMs: number): void {
    const o = arrivalMs - tick * this.tickMs;
    if (this.origins.length > 0 && Math.abs(o - this.origin) > this.resyncMs) {
      if (++this.jumps >= this.resyncAfter) {
        this.origins.length = 0;
        this.jumps = 0;
        this.resyncs++;
      } else {
        return;
      }
    } else {
      this.jumps = 0;
    }
    this.origins.push(o);
    if (this.origins.length > this.window) this.origins.shift();
    this.origin = median(this.origins);
  }

  /**
   * Local time at which the state of tick 0 would arrive (the median origin
   * of the window; tick t arrives at originMs + t × tickMs). Meaningful only
   * when ready.
   */
  get originMs(): number {
    return this.origin;
  }

  /** Estimated (fractional) tick being received at local time now. */
  tickAt(nowMs: number): number {
    return (nowMs - this.origin) / this.tickMs;
  }

  /** Forgets every sample (new room, tab resumed). */
  reset(): void {
    this.origins.length = 0;
    this.jumps = 0;
  }
}

/**
 * How long before a server tick an input should reach the server, by
 * default: margin for jitter on the way up and for the send timer firing
 * late. See nextInputSendMs.
 */
export const DEFAULT_INPUT_LEAD_MS = 20;

/**
 * The local time at which to send the next input so that it reaches the
 * server leadMs before a server tick, or undefined while the TickClock is not
 * ready (no state arrived since the last reset) or its tickMs is not a
 * positive number.
 *
 * A server reads each player's socket once, at the start of its tick, so an
 * input sent at an arbitrary phase waits half a tick there on average before
 * it is used, and input sends on a phase unrelated to state arrivals cost
 * extra pure-ACK TCP segments. Sending on the tick timeline avoids both.
 *
 * The timeline: the state of tick k arrives at ticks.originMs + k × tickMs,
 * which includes the one-way delay down, so the server ran tick k at about
 * that time minus rttMs/2, and an input sent at local time t reaches the
 * server at about t + rttMs/2. Hence the send times are
 *
 *     originMs + k × tickMs − rttMs − leadMs      (k any integer)
 *
 * and the result is the earliest of them strictly after nowMs: always in
 * (nowMs, nowMs + tickMs]. A send time equal to nowMs is not returned (it is
 * due now; the next one is), so calling this again right after sending at the
 * returned time gives the following tick's send time, never the same one.
 *
 * rttMs is the round-trip estimate (e.g. ClockSync.rttMs; take it only once
 * the ClockSync has samples, as its 0 before the first Pong would aim every
 * input rtt − leadMs late). Negative or non-finite rttMs and leadMs count as
 * 0. The tick length is the TickClock's current tickMs. Pure: reads no clock.
 */
export function nextInputSendMs(
  ticks: TickClock,
  nowMs: number,
  rttMs: number,
  leadMs: number = DEFAULT_INPUT_LEAD_MS,
): number | undefined {
  const tickMs = ticks.tickMs;
  if (!ticks.ready || !(tickMs > 0) || !Number.isFinite(tickMs) || !Number.isFinite(nowMs)) return undefined;
  const nonNeg = (v: number) => (v > 0 && Number.isFinite(v) ? v : 0);
  // The send time for tick 0; every other one is base + k × tickMs.
  const base = ticks.originMs - nonNeg(rttMs) - nonNeg(leadMs);
  let t = base + (Math.floor((nowMs - base) / tickMs) + 1) * tickMs;
  // Rounding can put t on nowMs (or a hair below) or a whole tick late.
  if (t <= nowMs) t += tickMs;
  else if (t - tickMs > nowMs) t -= tickMs;
  return t;
}

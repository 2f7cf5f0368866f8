/**
 * Tickwire browser SDK: connection, room flow, delta-compressed state,
 * interpolation, prediction and clock sync for any Tickwire game.
 *
 * @example
 * const client = new TickwireClient(StateSchema, { name: "ada" });
 * client.on("state", (ev) => render(ev.state));
 * await client.connect();
 * await client.joinOrCreate("arena", { options: toBinary(JoinOptionsSchema, opts) });
 */
export { TickwireClient, describeClose } from "./client.js";
export type {
  ClientEvents,
  ClientOptions,
  CloseInfo,
  ConnectionState,
  Counters,
  ReconnectOptions,
  ReconnectingInfo,
  StateEvent,
  WebSocketLike,
} from "./client.js";
export { applyPatch } from "./delta.js";
export { PatchError, DecodeError, ServerError, ConnectionClosedError } from "./errors.js";
export type { PatchErrorCode } from "./errors.js";
export { encodeClient, decodeServer, encodeServer, decodeClient } from "./wire.js";
export type { ClientMessageInit } from "./wire.js";
export {
  ClockSync,
  DEFAULT_INPUT_LEAD_MS,
  MAX_PONG_HOLD_MS,
  TickClock,
  median,
  nextInputSendMs,
  pongSentMs,
} from "./clock.js";
export type { ClockSyncOptions, TickClockOptions } from "./clock.js";
export { InterpolationBuffer, DEFAULT_INTERP_DELAY_MS, lerp } from "./interp.js";
export type { Bracket } from "./interp.js";
export { Predictor } from "./predict.js";
export type { StepFn, PendingInput } from "./predict.js";
export { StateRing } from "./ring.js";
export { Emitter } from "./emitter.js";
export type { Listener } from "./emitter.js";

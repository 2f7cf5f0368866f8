/**
 * @tickwire/client: the browser SDK for Tickwire game servers. Connection
 * and room flow, delta-compressed state, typed game messages, interpolation,
 * prediction and clock sync, for any game's protobuf schema.
 *
 * @example
 * const client = new TickwireClient(StateSchema, { name: "ada" });
 * client.on("state", (ev) => render(ev.state));
 * client.onMessage(ChatSchema, (chat, from) => show(from, chat.text));
 * await client.connect();
 * await client.joinOrCreate("my-game");
 * client.sendInput(toBinary(InputSchema, create(InputSchema, { moveX: 1 })));
 * client.send(ChatSchema, { text: "hello" });
 *
 * @packageDocumentation
 */
export { TickwireClient, describeClose, backoffDelayMs, FINAL_CLOSE_CODES } from "./client.js";
export type {
  ClientEvents,
  ClientOptions,
  CloseInfo,
  ConnectionState,
  Counters,
  DisconnectedInfo,
  Logger,
  MessageListener,
  ReconnectOptions,
  ReconnectedInfo,
  ReconnectingInfo,
  ResumeFailedInfo,
  RoomClosingInfo,
  StateEvent,
  WebSocketLike,
} from "./client.js";
export type { DeepReadonly } from "./readonly.js";
export { applyPatch } from "./delta.js";
export { PatchError, DecodeError, ServerError, ConnectionClosedError } from "./errors.js";
export type { PatchErrorCode } from "./errors.js";
export { ClockSync, TickClock, DEFAULT_INPUT_LEAD_MS, nextInputSendMs } from "./clock.js";
export type { ClockSyncOptions, TickClockOptions } from "./clock.js";
export { InterpolationBuffer, DEFAULT_INTERP_DELAY_MS, lerp } from "./interp.js";
export type { Bracket } from "./interp.js";
export { Predictor } from "./predict.js";
export type { StepFn, PendingInput } from "./predict.js";
/** Protocol values the client's events and errors carry (tickwire.v1). */
export { CloseCode, ErrorCode, MatchmakerTicketStatus } from "./gen/tickwire/v1/tickwire_pb.js";
export type {
  Joined,
  Left,
  MatchmakerMatched,
  MatchmakerStatus,
  PlayerConnection,
  PlayerInfo,
  PlayerLeft,
  Welcome,
} from "./gen/tickwire/v1/tickwire_pb.js";

/**
 * TickwireClient: one browser connection to a Tickwire node.
 *
 * Flow: WebSocket (binary frames) → Hello → Welcome → Join → Joined → State
 * frames and room events. The client keeps a ring of recent states so patches
 * against an older baseline apply, assigns input sequence numbers, pings for
 * RTT and clock offset, counts bytes, and reconnects by itself (see
 * {@link ReconnectOptions}): a lost connection is redialed with backoff and
 * the seat resumed with the room's resume token (same player id, a full
 * state next, input seqs continuing), or, when the seat or the room is gone,
 * a room of the same type joined afresh.
 *
 * Threading: everything runs on the page's event loop; listeners are called
 * synchronously from WebSocket callbacks. States passed to listeners are
 * shared with the client's ring (later patches apply to them), so they are
 * typed {@link DeepReadonly}, and deep-frozen when `dev` is on.
 *
 * Game messages are protobuf messages of the game's own schema, named on the
 * wire by their full type name (RoomMessage.type_name): `send(Schema, msg)`
 * and `onMessage(Schema, (msg, from) => ...)`.
 */
import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import {
  CloseCode,
  ErrorCode,
  JoinSchema,
  MatchmakerAddSchema,
  ProtocolVersion,
  type Joined,
  type Left,
  type MatchmakerMatched,
  type MatchmakerStatus,
  type PlayerConnection,
  type PlayerInfo,
  type PlayerLeft,
  type RoomClosing,
  type RoomMessage,
  type ServerMessage,
  type Welcome,
} from "./gen/tickwire/v1/tickwire_pb.js";
import { ConnectionClosedError, DecodeError, PatchError, ServerError } from "./errors.js";
import { Emitter } from "./emitter.js";
import { applyPatch } from "./delta.js";
import { ClockSync, TickClock, pongSentMs } from "./clock.js";
import { StateRing } from "./ring.js";
import { decodeServer, encodeClient, type ClientMessageInit } from "./wire.js";
import { deepFreeze, type DeepReadonly } from "./readonly.js";

/** The subset of the browser WebSocket the client uses (injectable for tests). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string; wasClean?: boolean }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

/**
 * Automatic reconnection (on by default; `reconnect: false` turns it off).
 *
 * When the connection is lost (reset, Wi-Fi gone, a silent drop caught by
 * `silenceTimeoutMs`, the node going away), the client redials the same URL
 * (a load balancer picks a node) after attempt n's delay: `initialDelayMs`
 * × `factor`^(n−1), capped at `maxDelayMs`, then spread by ±`jitter` (so the
 * players of a dead node do not all come back in the same millisecond).
 * In a room, it resumes the seat with the last Joined's resume token while
 * the room's reconnection grace (Joined.reconnect_grace_ms) runs, and delays
 * are cut to end within the grace: the same player id comes back, the next
 * state is a full snapshot, input seqs continue. CLOSE_CODE_RECONNECT (the
 * node is draining) is redialed at once. When the seat cannot be resumed
 * (CLOSE_CODE_ROOM_LOST, a refused resume, the grace over), a client that
 * joined by room type joins a room of that type afresh, one joined by id
 * that room again. Never after a final close (see `noReconnectCodes`) or
 * close().
 */
export interface ReconnectOptions {
  /** First retry delay, ms. Default 100. */
  initialDelayMs?: number;
  /** Delay cap, ms. Default 2000. */
  maxDelayMs?: number;
  /** Multiplier per failed attempt. Default 2. */
  factor?: number;
  /** The delay is spread uniformly by ± this fraction of itself. Default 0.5. */
  jitter?: number;
  /** Give up after this many attempts in a row; 0 (default) retries forever. */
  maxAttempts?: number;
}

export interface ClientOptions {
  /** WebSocket URL. Default: ws(s)://<page host>/ws. */
  url?: string;
  /** Credentials for the server's auth hook (Hello.token). */
  token?: string;
  /** Display name suggestion (Hello.name). */
  name?: string;
  /** Client identification (Hello.client). Default "tickwire-web/0.1". */
  clientName?: string;
  /** Reconnect and resume after an unexpected close. Default on; false turns it off. */
  reconnect?: ReconnectOptions | false;
  /**
   * Close codes after which the client does not reconnect: reconnecting
   * would fail again or must not happen. Default {@link FINAL_CLOSE_CODES}:
   * 1000, 1002, 1003, 1007, 1008, 1009, 4000 (unsupported version), 4002
   * (too many bad messages), 4003 (rate limited), 4004 (unauthorized), 4006
   * (kicked, or replaced by this player's own newer connection), 4007 (room
   * closed) and the reservation codes 4010-4012.
   */
  noReconnectCodes?: readonly number[];
  /**
   * A client in a room that receives no frame for this long (states come
   * every send tick) takes its connection for lost, a silent drop with no
   * FIN or RST, and reconnects. Default 3000 ms; 0 turns it off.
   */
  silenceTimeoutMs?: number;
  /**
   * A connection attempt whose handshake (WebSocket open, then Welcome) has
   * not completed after this long is abandoned and counts as failed (a
   * half-open network can hold it forever). Default 5000 ms; 0 turns it off.
   */
  connectTimeoutMs?: number;
  /** Ping period once warmed up, ms. Default 1000. */
  pingIntervalMs?: number;
  /** States kept for patch baselines. Default 64. */
  stateRingSize?: number;
  /** Interpolation delay reported to the server in Ping (lag compensation). Default 100. */
  interpDelayMs?: number;
  /** WebSocket factory. Default: the global WebSocket. */
  webSocket?: (url: string) => WebSocketLike;
  /** Monotonic clock, ms. Default performance.now. */
  now?: () => number;
  /**
   * Where the client logs dropped frames and listener errors (warn), closes
   * (info) and ignored room messages of types without a handler (debug).
   * Default console.
   */
  logger?: Logger;
  /**
   * Development checks. Default false. When true, every state handed out
   * (StateEvent.state, client.state) is deep-frozen with Object.freeze, so
   * code that mutates a state throws a TypeError at the mutation (ES modules
   * are strict mode) instead of silently corrupting the states later patches
   * are applied to. Freezing walks only what changed since the previous state
   * (shared parts are already frozen); production builds leave it off and
   * pay nothing. Example: `dev: location.hostname === "localhost"`.
   */
  dev?: boolean;
}

/** The logging the client does; `debug` is optional. */
export type Logger = Pick<Console, "warn" | "info"> & Partial<Pick<Console, "debug">>;

/**
 * A game message listener: the decoded message and the room player id of the
 * sender (0: the room itself, i.e. the game's server code).
 */
export type MessageListener<M> = (msg: M, from: number) => void;

/** A state frame applied to the client's copy of the room state. */
export interface StateEvent<S> {
  tick: number;
  /** The room state at `tick`. Read-only: it shares structure with the patch baselines. */
  state: DeepReadonly<S>;
  /** The highest input seq from this client the room has processed. */
  lastInputSeq: number;
  /** True when the frame carried a full state rather than a patch. */
  full: boolean;
  /** Frame size in bytes (the whole envelope). */
  bytes: number;
  /** Local time (options.now) the frame arrived. */
  receivedAt: number;
}

export interface CloseInfo {
  code: number;
  reason: string;
  /** A human-readable explanation of the code. */
  message: string;
  willReconnect: boolean;
}

export interface ReconnectingInfo {
  attempt: number;
  delayMs: number;
  lastClose: CloseInfo;
  /** A seat is kept for this client and the attempt will resume it. */
  resuming: boolean;
}

/** An open connection was lost (emitted once per outage). */
export interface DisconnectedInfo extends CloseInfo {
  /** The client was in a room. */
  inRoom: boolean;
  /**
   * How long the server keeps the seat (the room's reconnection grace), ms;
   * 0 when there is no seat to resume (not in a room, room lost, grace off).
   */
  graceMs: number;
}

/** The client is back in a room after an outage. */
export interface ReconnectedInfo {
  joined: Joined;
  /** True: the same seat (same player id, room, score). False: a room joined afresh. */
  resumed: boolean;
  /** From the loss of the connection to the Joined, ms (options.now). */
  downtimeMs: number;
}

/** The seat could not be resumed. */
export interface ResumeFailedInfo {
  /**
   * Why: the server's refusal ("invalid", "expired", "used", "seat gone"),
   * "room not found", "room lost" (CLOSE_CODE_ROOM_LOST: the room died with
   * its node) or "grace over" (no connection came back within the grace).
   */
  reason: string;
  /** The refusal, when the server sent one. */
  error?: ServerError;
  /** The client joins a room afresh (it joined by type or by id). */
  willRejoin: boolean;
}

/** The room will close (its node is shutting down). */
export interface RoomClosingInfo {
  roomId: string;
  /** When, server wall clock (ms since the epoch). */
  closeAtMs: number;
  /** Estimated ms from now (clock-synced when pongs arrived; never negative). */
  closesInMs: number;
  /** Local time (options.now) the notice arrived. */
  receivedAt: number;
  reason: string;
}

export interface ClientEvents<S> {
  /** A connection completed its handshake (first connect and every reconnect). */
  open: Welcome;
  joined: Joined;
  left: Left;
  state: StateEvent<S>;
  playerJoined: PlayerInfo;
  playerLeft: PlayerLeft;
  /** Error frames without a pending request, and dropped frames (DecodeError, PatchError). */
  error: ServerError | DecodeError | PatchError;
  close: CloseInfo;
  /** An open connection was lost; `willReconnect` says whether the client comes back by itself. */
  disconnected: DisconnectedInfo;
  /** A reconnection attempt is scheduled. */
  reconnecting: ReconnectingInfo;
  /** Back in a room after an outage: the seat resumed, or a room joined afresh. Follows "joined". */
  reconnected: ReconnectedInfo;
  /** The seat could not be resumed (a fresh join follows when willRejoin). */
  resumeFailed: ResumeFailedInfo;
  /** The room will close at a given time (node draining): tell the player. */
  roomClosing: RoomClosingInfo;
  /**
   * Another player's connection was lost (connected false: their seat is
   * kept for the grace; draw them greyed out) or is back. See
   * `client.disconnectedPlayers`.
   */
  playerConnection: PlayerConnection;
  /**
   * A Pong updated the clock estimates (rttMs: the filtered RTT after the
   * sample). Not emitted for a Pong that is not a usable sample (no hold_ms,
   * or an invalid one; see pongSentMs).
   */
  pong: { rttMs: number; tick: number };
  /**
   * A ticket of this client formed a match (see matchmakerAdd): join it with
   * `joinWithReservation(m.reservation)`.
   */
  matchmakerMatched: MatchmakerMatched;
  /**
   * How a queued ticket stands while it waits. `status` is a
   * MatchmakerTicketStatus: WAITING_FOR_CAPACITY means the match is formed
   * but every server is full (show "waiting for a free server…"; repeated
   * at most every few seconds, with `queuedForMs` and the queue's
   * `timeoutMs`); QUEUED means it is back to waiting for players; REQUEUED
   * that the server queued it again after losing it (same id and age). A
   * ticket that finds no match in time ends with an "error" event: a
   * ServerError of code MATCHMAKING_TIMEOUT whose `ticketId` names it.
   */
  matchmakerStatus: MatchmakerStatus;
}

export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

/** Byte and frame counters since the client was made. */
export interface Counters {
  bytesIn: number;
  bytesOut: number;
  framesIn: number;
  framesOut: number;
  /** Frames that did not decode (logged, ignored). */
  decodeErrors: number;
  /** Patches refused or without a baseline (a full state was requested). */
  patchErrors: number;
  missingBaselines: number;
  /**
   * Room messages ignored because no onMessage listener handles their type
   * name (logged at debug level).
   */
  unknownMessages: number;
}

/**
 * Close codes after which the client never reconnects (the default of
 * ClientOptions.noReconnectCodes): a normal or protocol-level close, and
 * the server's verdicts that reconnecting would not change (or, for 4006,
 * must not undo: a person replaced by their own new connection must not
 * take the seat back).
 */
export const FINAL_CLOSE_CODES: readonly number[] = [
  1000,
  1002,
  1003,
  1007,
  1008,
  1009,
  CloseCode.UNSUPPORTED_VERSION,
  CloseCode.TOO_MANY_ERRORS,
  CloseCode.RATE_LIMITED,
  CloseCode.UNAUTHORIZED,
  CloseCode.KICKED,
  CloseCode.ROOM_CLOSED,
  CloseCode.RESERVATION_INVALID,
  CloseCode.RESERVATION_EXPIRED,
  CloseCode.RESERVATION_USED,
];

/**
 * The delay before reconnection attempt n (1, 2, ...): initial × factor^(n−1)
 * capped at max, spread uniformly by ±jitter. `random` is in [0, 1).
 */
export function backoffDelayMs(attempt: number, o: ReconnectOptions = {}, random: number = Math.random()): number {
  const base = Math.min(o.maxDelayMs ?? 2000, (o.initialDelayMs ?? 100) * Math.pow(o.factor ?? 2, Math.max(0, attempt - 1)));
  const j = Math.min(1, Math.max(0, o.jitter ?? 0.5));
  return Math.round(base * (1 - j + 2 * j * random));
}

/** A human-readable explanation of a WebSocket close code. */
export function describeClose(code: number, reason = ""): string {
  const known: Record<number, string> = {
    1000: "connection closed",
    1001: "server is going away (restarting or draining)",
    1003: "server refused a text frame",
    1005: "connection closed",
    1006: "connection lost (server down or network error)",
    1008: "policy violation",
    1009: "message too big",
    1011: "server error",
    [CloseCode.UNSUPPORTED_VERSION]: "this client's protocol version is not supported; reload the page",
    [CloseCode.HANDSHAKE_TIMEOUT]: "handshake timed out",
    [CloseCode.TOO_MANY_ERRORS]: "disconnected after too many bad messages",
    [CloseCode.RATE_LIMITED]: "disconnected for sending too fast",
    [CloseCode.UNAUTHORIZED]: "not authorized",
    [CloseCode.SLOW_CONSUMER]: "connection too slow to keep up",
    [CloseCode.KICKED]: "kicked from the room",
    [CloseCode.ROOM_CLOSED]: "the room closed",
    [CloseCode.IDLE_TIMEOUT]: "connection idle for too long",
    [CloseCode.RESERVATION_INVALID]: "seat reservation invalid",
    [CloseCode.RESERVATION_EXPIRED]: "seat reservation expired",
    [CloseCode.RESERVATION_USED]: "seat reservation already used",
    [CloseCode.ROOM_NOT_FOUND]: "room not found",
    [CloseCode.UPSTREAM_UNAVAILABLE]: "the room's server is unreachable",
    [CloseCode.ROOM_LOST]: "the room was lost with its server",
    [CloseCode.RECONNECT]: "the server is going away: reconnecting elsewhere",
  };
  const base = known[code] ?? `connection closed (code ${code})`;
  return reason ? `${base}: ${reason}` : base;
}

function errorCodeName(code: number): string {
  return ErrorCode[code] ?? `ERROR_${code}`;
}

function defaultUrl(): string {
  const loc = (globalThis as { location?: Location }).location;
  if (!loc) return "ws://127.0.0.1:8080/ws";
  return `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}/ws`;
}

interface MessageRoute {
  schema: DescMessage;
  listeners: MessageListener<never>[];
}

interface Pending {
  resolve: (m: ServerMessage) => void;
  reject: (e: Error) => void;
}

/** The last successful join, replayed after a reconnect when the seat is gone. */
interface JoinIntent {
  join: ClientMessageInit["kind"] & { case: "join" };
  roomId: string;
}

/** A seat kept for this client while its connection is down. */
interface Seat {
  token: string;
  roomId: string;
  /** options.now time the grace ends. */
  expiresAt: number;
}

/** The current outage of a client that was in a room. */
interface Outage {
  since: number;
  /** The seat to resume, undefined when it is gone (a fresh join is next). */
  seat: Seat | undefined;
  /** The room itself is gone (CLOSE_CODE_ROOM_LOST): do not try it by id. */
  lost?: boolean;
}

export class TickwireClient<Desc extends DescMessage> {
  private readonly emitter: Emitter<ClientEvents<MessageShape<Desc>>>;
  private readonly opts: Required<Pick<ClientOptions, "pingIntervalMs" | "interpDelayMs" | "clientName">> & ClientOptions;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly dev: boolean;
  private readonly routes = new Map<string, MessageRoute>();
  private ws: WebSocketLike | undefined;
  private connState: ConnectionState = "idle";
  private nextRequestId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly ring: StateRing<DeepReadonly<MessageShape<Desc>>>;
  private timers: ReturnType<typeof setTimeout>[] = [];
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private silenceTimer: ReturnType<typeof setInterval> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private lastFrameAt = 0;
  private lastSilenceCheck = 0;
  private attempt = 0;
  private intent: JoinIntent | undefined;
  /** Set while a client that was in a room is disconnected; cleared when it is back in one. */
  private outage: Outage | undefined;
  /** The current room's reconnection grace, ms. */
  private graceMs = 0;
  private lastResyncRequest = -Infinity;
  private welcomeWaiters: Pending[] = [];

  /** Counters since creation. */
  readonly counters: Counters = {
    bytesIn: 0,
    bytesOut: 0,
    framesIn: 0,
    framesOut: 0,
    decodeErrors: 0,
    patchErrors: 0,
    missingBaselines: 0,
    unknownMessages: 0,
  };
  /** RTT and server wall clock, from Ping/Pong (net of the server's hold, Pong.hold_ms). */
  readonly clock = new ClockSync();
  /** The tick timeline of received states (for interpolation). */
  readonly ticks = new TickClock(50);
  /**
   * The current seat's resume token (the last Joined's; single-use, each
   * resume brings a new one), "" when not in a room. The SDK resumes by
   * itself; this is for {@link resume} by hand with `reconnect: false`.
   */
  resumeToken = "";
  /** Players of the current room whose connection is lost (seat kept for the grace). */
  readonly disconnectedPlayers = new Set<number>();

  /** The session's Welcome, undefined until connected. */
  welcome: Welcome | undefined;
  /** The current room, undefined when not in one. */
  room: Joined | undefined;
  /** The newest applied state (read-only) and its tick. */
  state: DeepReadonly<MessageShape<Desc>> | undefined;
  stateTick = 0;
  /** The last input seq sent in this room. */
  inputSeq = 0;
  /** The highest input seq the room reported processed. */
  lastInputSeq = 0;

  constructor(
    /** The game's state message (the State payload schema). */
    readonly stateSchema: Desc,
    options: ClientOptions = {},
  ) {
    this.opts = { pingIntervalMs: 1000, interpDelayMs: 100, clientName: "tickwire-web/0.1", ...options };
    this.now = options.now ?? (() => performance.now());
    this.log = options.logger ?? console;
    this.dev = options.dev ?? false;
    this.ring = new StateRing(options.stateRingSize ?? 64);
    this.emitter = new Emitter((err) => this.log.warn("tickwire: listener threw", err));
  }

  /** Adds an event listener; returns a function that removes it. */
  on<K extends keyof ClientEvents<MessageShape<Desc>>>(
    type: K,
    fn: (ev: ClientEvents<MessageShape<Desc>>[K]) => void,
  ): () => void {
    return this.emitter.on(type, fn);
  }

  /**
   * Listens for game messages of one type from the room: `schema` is the
   * message's generated schema (e.g. `ChatSchema`); the listener gets the
   * decoded message and the sender's player id (0: the room). Messages are
   * matched by full protobuf type name (RoomMessage.type_name); messages of
   * a type nobody listens for are ignored, logged at debug level and counted
   * in `counters.unknownMessages`. Returns a function that removes the
   * listener.
   */
  onMessage<D extends DescMessage>(schema: D, fn: MessageListener<MessageShape<D>>): () => void {
    let route = this.routes.get(schema.typeName);
    if (!route) {
      route = { schema, listeners: [] };
      this.routes.set(schema.typeName, route);
    }
    const r = route;
    const l = fn as MessageListener<never>;
    r.listeners.push(l);
    return () => {
      const i = r.listeners.indexOf(l);
      if (i >= 0) r.listeners.splice(i, 1);
      if (r.listeners.length === 0 && this.routes.get(schema.typeName) === r) this.routes.delete(schema.typeName);
    };
  }

  get connectionState(): ConnectionState {
    return this.connState;
  }

  /**
   * Opens the connection and resolves with the Welcome. With reconnect on
   * (the default) a failed attempt is retried with backoff and the promise
   * waits; it rejects only when the client is closed or a close code rules
   * out reconnecting.
   */
  connect(): Promise<Welcome> {
    if (this.connState === "open" && this.welcome) return Promise.resolve(this.welcome);
    const p = new Promise<Welcome>((resolve, reject) => {
      this.welcomeWaiters.push({ resolve: (m) => resolve(m.kind.value as Welcome), reject });
    });
    if (this.connState === "idle" || this.connState === "closed") this.open();
    return p;
  }

  /** Joins a room of `roomType` with a free seat, or creates one. */
  joinOrCreate(
    roomType: string,
    opts: { options?: Uint8Array; filter?: Record<string, string>; create?: boolean; private?: boolean } = {},
  ): Promise<Joined> {
    return this.join({ roomType, options: opts.options, filter: opts.filter, create: opts.create, private: opts.private });
  }

  /** Joins the room with this id. */
  joinById(roomId: string, opts: { options?: Uint8Array } = {}): Promise<Joined> {
    return this.join({ roomId, options: opts.options });
  }

  private async join(j: {
    roomId?: string;
    roomType?: string;
    options?: Uint8Array;
    filter?: Record<string, string>;
    create?: boolean;
    private?: boolean;
  }): Promise<Joined> {
    const value = create(JoinSchema, {
      roomId: j.roomId ?? "",
      roomType: j.roomType ?? "",
      options: j.options ?? new Uint8Array(),
      filter: j.filter ?? {},
      create: j.create ?? false,
      private: j.private ?? false,
    });
    const kind = { case: "join" as const, value };
    const reply = await this.request(kind);
    const joined = reply.kind.value as Joined;
    this.intent = { join: kind, roomId: joined.roomId };
    return joined;
  }

  /**
   * Puts a matchmaking ticket into `queue` (the server's QueueConfig name)
   * and resolves with its id once the server acknowledged it. The match
   * arrives later as a "matchmakerMatched" event; while the ticket waits,
   * "matchmakerStatus" events say how it stands (WAITING_FOR_CAPACITY while
   * every server is full); a ticket that times out ends with an "error"
   * event of code MATCHMAKING_TIMEOUT. `party`: session ids (Welcome
   * sessionId) of other clients, on any node, matched together with this one.
   */
  async matchmakerAdd(
    queue: string,
    opts: { stringProperties?: Record<string, string>; numericProperties?: Record<string, number>; party?: string[] } = {},
  ): Promise<string> {
    const value = create(MatchmakerAddSchema, {
      queue,
      stringProperties: opts.stringProperties ?? {},
      numericProperties: opts.numericProperties ?? {},
      party: opts.party ?? [],
    });
    const reply = await this.request({ case: "matchmakerAdd", value });
    return (reply.kind.value as MatchmakerMatched).ticketId;
  }

  /** Withdraws a ticket of this client (a ServerError if it already matched or timed out). */
  async matchmakerCancel(ticketId: string): Promise<void> {
    await this.request({ case: "matchmakerCancel", value: { ticketId } });
  }

  /** Joins the room of a match: `reservation` from a "matchmakerMatched" event. */
  async joinWithReservation(reservation: string, opts: { options?: Uint8Array } = {}): Promise<Joined> {
    const reply = await this.request({ case: "join", value: create(JoinSchema, { reservation, options: opts.options ?? new Uint8Array() }) });
    const joined = reply.kind.value as Joined;
    // A reservation is single-use: after a lost room, rejoin it by id.
    this.intent = { join: { case: "join", value: create(JoinSchema, { roomId: joined.roomId, options: opts.options ?? new Uint8Array() }) }, roomId: joined.roomId };
    return joined;
  }

  /**
   * Takes back a seat lost with a connection: `token` is the seat's last
   * resume token (default: this client's). The reply is a Joined with
   * `resumed` set (same player id) and a new token; the next state is full
   * and input seqs continue after Joined.last_input_seq. A refusal rejects
   * with a ServerError of code RESUME_REFUSED ("invalid", "expired", "used",
   * "seat gone"). The SDK does this by itself after a reconnect; call it
   * only with `reconnect: false`.
   */
  async resume(token = this.resumeToken): Promise<Joined> {
    const reply = await this.request({ case: "join", value: create(JoinSchema, { resumeToken: token }) });
    return reply.kind.value as Joined;
  }

  /** Leaves the current room; resolves with the server's Left. */
  async leave(): Promise<Left> {
    this.intent = undefined;
    this.outage = undefined;
    const reply = await this.request({ case: "leave", value: {} });
    return reply.kind.value as Left;
  }

  /**
   * Sends one game input; the SDK assigns seq (1, 2, 3, ... per room) and
   * ack_tick (the newest applied tick). Returns the seq, or 0 when not in a
   * room (the input is dropped).
   */
  sendInput(payload: Uint8Array): number {
    if (!this.room || this.connState !== "open") return 0;
    const seq = ++this.inputSeq;
    this.write({ kind: { case: "input", value: { seq, ackTick: this.stateTick, payload } } });
    return seq;
  }

  /**
   * Sends a game message to the room: `message` (a message or its init
   * shape) is encoded with `schema` and named by `schema.typeName`, which
   * the server's handler for that type decodes. Returns false when not in a
   * room (nothing is sent).
   *
   * @example client.send(ChatSchema, { text: "gg" })
   */
  send<D extends DescMessage>(schema: D, message: MessageInitShape<D>): boolean {
    if (!this.room || this.connState !== "open") return false;
    const payload = toBinary(schema, create(schema, message));
    this.write({ kind: { case: "message", value: { typeName: schema.typeName, payload } } });
    return true;
  }

  /** Closes the connection for good (no reconnect). */
  close(): void {
    this.intent = undefined;
    this.outage = undefined;
    this.setState("closed");
    this.stopTimers();
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      this.detach(ws);
      try {
        ws.close(1000, "client closed");
      } catch {
        /* already closed */
      }
    }
    const err = new ConnectionClosedError(1000, "client closed");
    this.failPending(err);
    for (const w of this.welcomeWaiters.splice(0)) w.reject(err);
  }

  /**
   * Asks the server for a full state in the next frame (Ack{tick: 0}), at
   * most once per 250 ms. Done automatically when a baseline is missing.
   */
  requestFullState(): void {
    const t = this.now();
    if (t - this.lastResyncRequest < 250) return;
    this.lastResyncRequest = t;
    this.write({ kind: { case: "ack", value: { tick: 0 } } });
  }

  // ---- internals ----

  private setState(s: ConnectionState): void {
    this.connState = s;
  }

  private open(): void {
    this.setState(this.attempt > 0 ? "reconnecting" : "connecting");
    const url = this.opts.url ?? defaultUrl();
    let ws: WebSocketLike;
    try {
      ws = this.opts.webSocket ? this.opts.webSocket(url) : (new WebSocket(url) as unknown as WebSocketLike);
    } catch (e) {
      this.log.warn("tickwire: cannot open WebSocket", e);
      this.handleClose(1006, String(e));
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    const timeout = this.opts.connectTimeoutMs ?? 5000;
    if (timeout > 0) {
      this.connectTimer = setTimeout(() => {
        this.connectTimer = undefined;
        if (this.ws === ws && this.connState !== "open") this.dropConnection(1006, `no handshake within ${timeout} ms`);
      }, timeout);
    }
    ws.onopen = () => this.onOpen();
    ws.onmessage = (ev) => this.onFrame(ev.data);
    ws.onerror = () => {
      /* followed by onclose */
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.detach(ws);
      this.handleClose(ev.code, ev.reason);
    };
  }

  private detach(ws: WebSocketLike): void {
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
  }

  private onOpen(): void {
    const id = this.nextRequestId++;
    this.pending.set(id, {
      resolve: (m) => this.onWelcome(m.kind.value as Welcome),
      reject: (e) => this.log.warn("tickwire: handshake refused", e),
    });
    this.write({
      requestId: id,
      kind: {
        case: "hello",
        value: {
          protocolVersion: ProtocolVersion.PROTOCOL_VERSION_1,
          token: this.opts.token ?? "",
          name: this.opts.name ?? "",
          client: this.opts.clientName,
        },
      },
    });
  }

  private onWelcome(w: Welcome): void {
    this.welcome = w;
    this.attempt = 0;
    this.setState("open");
    this.startPings();
    this.emitter.emit("open", w);
    for (const waiter of this.welcomeWaiters.splice(0)) {
      waiter.resolve({ kind: { case: "welcome", value: w } } as ServerMessage);
    }
    if (this.outage) void this.comeBack(this.outage);
  }

  /**
   * Brings a client that lost its connection in a room back into one: the
   * seat resumed while the grace runs, else (or when the resume is refused)
   * a fresh join of the last join request (by id: that room; by type: the
   * same room by id first, unless it was lost, then join-or-create).
   */
  private async comeBack(outage: Outage): Promise<void> {
    const seat = outage.seat;
    if (seat && this.now() < seat.expiresAt) {
      try {
        const j = await this.resume(seat.token);
        this.backInRoom(outage, j, true);
        return;
      } catch (e) {
        if (e instanceof ConnectionClosedError) return; // the next attempt tries again
        if (!(e instanceof ServerError) || (e.code !== ErrorCode.RESUME_REFUSED && e.code !== ErrorCode.ROOM_NOT_FOUND)) {
          // e.g. DRAINING: this node cannot take us; another may (the
          // load balancer), while the grace runs.
          this.log.warn("tickwire: resume failed, reconnecting", e);
          this.dropConnection(1013, `resume failed: ${String(e)}`);
          return;
        }
        outage.seat = undefined;
        const why = e.message.startsWith(`${e.codeName}: `) ? e.message.slice(e.codeName.length + 2) : e.message;
        this.resumeFailed(e.code === ErrorCode.ROOM_NOT_FOUND ? "room not found" : why, e);
      }
    } else if (seat) {
      outage.seat = undefined;
      this.resumeFailed("grace over");
    }
    const intent = this.intent;
    if (!intent) {
      this.outage = undefined; // nothing to come back to
      return;
    }
    const orig = intent.join.value;
    const lost = !!outage.lost;
    // The original request stays the intent (a rejoin by id must not replace a join by type).
    const back = (j: Joined) => {
      this.intent = { join: intent.join, roomId: j.roomId };
      this.backInRoom(outage, j, false);
    };
    try {
      if (!lost || !orig.roomType) {
        try {
          back(await this.join({ roomId: intent.roomId, options: orig.options }));
          return;
        } catch (e) {
          if (!(e instanceof ServerError) || !orig.roomType) throw e;
        }
      }
      back(
        await this.join({
          roomType: orig.roomType,
          options: orig.options,
          filter: orig.filter,
          create: orig.create,
          private: orig.private,
        }),
      );
    } catch (e) {
      if (e instanceof ConnectionClosedError) return;
      this.outage = undefined;
      this.log.warn("tickwire: rejoin failed", e);
      if (e instanceof ServerError) this.emitter.emit("error", e);
    }
  }

  private backInRoom(outage: Outage, joined: Joined, resumed: boolean): void {
    if (this.outage === outage) this.outage = undefined;
    this.emitter.emit("reconnected", { joined, resumed, downtimeMs: this.now() - outage.since });
  }

  private resumeFailed(reason: string, error?: ServerError): void {
    const willRejoin = !!this.intent;
    this.log.info(`tickwire: seat not resumed (${reason})${willRejoin ? ", joining afresh" : ""}`);
    this.emitter.emit("resumeFailed", error ? { reason, error, willRejoin } : { reason, willRejoin });
  }

  private startPings(): void {
    this.stopTimers();
    // A few quick samples first, then one per interval.
    for (const d of [0, 150, 300, 450]) this.timers.push(setTimeout(() => this.ping(), d));
    this.pingTimer = setInterval(() => this.ping(), this.opts.pingIntervalMs);
    const silence = this.opts.silenceTimeoutMs ?? 3000;
    if (silence > 0) {
      this.lastFrameAt = this.lastSilenceCheck = this.now();
      this.silenceTimer = setInterval(() => this.checkSilence(silence), Math.max(50, Math.min(500, silence / 4)));
    }
  }

  private stopTimers(): void {
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
    if (this.silenceTimer !== undefined) clearInterval(this.silenceTimer);
    this.silenceTimer = undefined;
  }

  /** In a room, no frame for `silence` ms: a silent drop; reconnect. */
  private checkSilence(silence: number): void {
    const now = this.now();
    const sinceCheck = now - this.lastSilenceCheck;
    this.lastSilenceCheck = now;
    if (!this.room || this.connState !== "open") return;
    if (sinceCheck > silence / 2) {
      // This timer itself was stalled (a frozen or suspended page, a hidden
      // tab's throttling): frames queued meanwhile have not been read yet.
      // Not evidence of a dead connection; start the window again.
      this.lastFrameAt = now;
      return;
    }
    const quiet = now - this.lastFrameAt;
    if (quiet > silence) this.dropConnection(1006, `no frame for ${Math.round(quiet)} ms (silent drop)`);
  }

  /** Abandons the current connection as if it closed with `code`. */
  private dropConnection(code: number, reason: string): void {
    const ws = this.ws;
    if (!ws) return;
    this.ws = undefined;
    this.detach(ws);
    try {
      ws.close(4000, reason.slice(0, 100));
    } catch {
      /* already closed */
    }
    this.handleClose(code, reason);
  }

  private ping(): void {
    if (this.connState !== "open") return;
    this.write({
      kind: {
        case: "ping",
        value: { clientTimeMs: this.now(), rttMs: this.clock.rttMs, interpDelayMs: this.opts.interpDelayMs },
      },
    });
  }

  private request(kind: ClientMessageInit["kind"]): Promise<ServerMessage> {
    if (this.connState !== "open" || !this.ws) {
      return Promise.reject(new ConnectionClosedError(1006, "not connected"));
    }
    const requestId = this.nextRequestId++;
    return new Promise<ServerMessage>((resolve, reject) => {
      this.pending.set(requestId, { resolve, reject });
      this.write({ requestId, kind });
    });
  }

  private write(msg: ClientMessageInit): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return;
    const bytes = encodeClient(msg);
    this.counters.bytesOut += bytes.length;
    this.counters.framesOut++;
    try {
      ws.send(bytes);
    } catch (e) {
      this.log.warn("tickwire: send failed", e);
    }
  }

  private onFrame(data: unknown): void {
    if (!(data instanceof ArrayBuffer)) {
      this.counters.decodeErrors++;
      this.log.warn("tickwire: ignored a non-binary frame");
      return;
    }
    const bytes = new Uint8Array(data);
    this.lastFrameAt = this.now();
    this.counters.bytesIn += bytes.length;
    this.counters.framesIn++;
    let msg: ServerMessage;
    try {
      msg = decodeServer(bytes);
    } catch (e) {
      this.counters.decodeErrors++;
      this.log.warn("tickwire: ignored a frame that does not decode", e);
      if (e instanceof DecodeError) this.emitter.emit("error", e);
      return;
    }
    this.dispatch(msg, bytes.length);
  }

  /** Handles one decoded server message (exposed to tests through onFrame). */
  private dispatch(msg: ServerMessage, size: number): void {
    const k = msg.kind;
    switch (k.case) {
      case "state":
        this.onState(k.value.tick, k.value.baselineTick, k.value.lastInputSeq, k.value.payload, size);
        return;
      case "pong": {
        const recv = this.now();
        // The server may hold a Ping up to a tick before answering; hold_ms
        // says how long, and the Ping counts as sent that much later (RTT =
        // round trip − hold). A Pong without a usable hold_ms (absent: the
        // server could not tell it exactly; or negative, NaN, absurd) is not
        // a sample, and no "pong" event is emitted for it: the event means
        // "a Pong updated the clock estimates", and clock.rttMs/offsetMs are
        // unchanged. Consumers that poll the clock (the arena HUD reads
        // clock.sampleCount and clock.rttMs) keep the previous estimate.
        const sent = pongSentMs(k.value.clientTimeMs, k.value.holdMs, recv);
        if (sent !== undefined && this.clock.addSample(sent, recv, k.value.serverTimeMs)) {
          this.emitter.emit("pong", { rttMs: this.clock.rttMs, tick: k.value.tick });
        }
        return;
      }
      case "message":
        this.onRoomMessage(k.value);
        return;
      case "playerJoined":
        if (k.value.player) {
          this.room?.players.push(k.value.player);
          this.emitter.emit("playerJoined", k.value.player);
        }
        return;
      case "playerLeft":
        if (this.room) this.room.players = this.room.players.filter((p) => p.playerId !== k.value.playerId);
        this.disconnectedPlayers.delete(k.value.playerId);
        this.emitter.emit("playerLeft", k.value);
        return;
      case "playerConnection":
        if (k.value.connected) this.disconnectedPlayers.delete(k.value.playerId);
        else this.disconnectedPlayers.add(k.value.playerId);
        this.emitter.emit("playerConnection", k.value);
        return;
      case "roomClosing":
        this.onRoomClosing(k.value);
        return;
      case "matchmakerStatus":
        this.emitter.emit("matchmakerStatus", k.value);
        return;
      case "matchmakerMatched":
        // With a request id: the acknowledgement of matchmakerAdd/Cancel.
        if (msg.requestId && this.pending.has(msg.requestId)) this.onReply(msg);
        else this.emitter.emit("matchmakerMatched", k.value);
        return;
      case "welcome":
      case "joined":
      case "left":
      case "error":
        this.onReply(msg);
        return;
    }
  }

  private onRoomClosing(m: RoomClosing): void {
    const receivedAt = this.now();
    const serverNow = this.clock.sampleCount > 0 ? this.clock.serverTime(receivedAt) : Date.now();
    this.emitter.emit("roomClosing", {
      roomId: m.roomId,
      closeAtMs: m.closeAtMs,
      closesInMs: Math.max(0, m.closeAtMs - serverNow),
      receivedAt,
      reason: m.reason,
    });
  }

  private onRoomMessage(m: RoomMessage): void {
    const route = this.routes.get(m.typeName);
    if (!route) {
      this.counters.unknownMessages++;
      this.log.debug?.(`tickwire: ignored a room message of type "${m.typeName}" (no onMessage listener)`);
      return;
    }
    let msg: MessageShape<DescMessage>;
    try {
      msg = fromBinary(route.schema, m.payload);
    } catch (e) {
      this.counters.decodeErrors++;
      const err = new DecodeError(`room message ${m.typeName} does not decode: ${String(e)}`);
      this.log.warn("tickwire: ignored a room message", err);
      this.emitter.emit("error", err);
      return;
    }
    for (const fn of [...route.listeners]) {
      try {
        (fn as MessageListener<MessageShape<DescMessage>>)(msg, m.fromPlayer);
      } catch (err) {
        this.log.warn("tickwire: listener threw", err);
      }
    }
  }

  private onReply(msg: ServerMessage): void {
    const k = msg.kind;
    if (k.case === "joined") this.enterRoom(k.value);
    if (k.case === "left") this.exitRoom(k.value);
    const p = msg.requestId ? this.pending.get(msg.requestId) : undefined;
    if (p) this.pending.delete(msg.requestId);
    if (k.case === "error") {
      const err = new ServerError(k.value.code, errorCodeName(k.value.code), k.value.message, msg.requestId, k.value.ticketId);
      if (p) p.reject(err);
      else this.emitter.emit("error", err);
      return;
    }
    p?.resolve(msg);
  }

  private enterRoom(j: Joined): void {
    this.room = j;
    this.ring.clear(); // a resume too: the next state is full
    this.state = undefined;
    this.stateTick = 0;
    this.lastFrameAt = this.now();
    this.resumeToken = j.resumeToken;
    this.graceMs = j.reconnectGraceMs;
    this.disconnectedPlayers.clear();
    if (j.resumed) {
      // Input seqs continue right after what the room processed: inputs
      // sent after it on the lost connection never arrived, and a client
      // that kept sending into a silently dropped connection (up to the
      // silence timeout of them) must not come back that far ahead: the
      // room refuses a seq more than 64 past the newest it has seen.
      this.inputSeq = j.lastInputSeq;
      this.lastInputSeq = j.lastInputSeq;
    } else {
      this.inputSeq = 0;
      this.lastInputSeq = 0;
    }
    // Ticks are numbered at the tick rate whatever the send rate is.
    this.ticks.tickMs = 1000 / (j.tickRate || 20);
    this.ticks.reset();
    this.emitter.emit("joined", j);
  }

  private exitRoom(l: Left): void {
    this.room = undefined;
    this.ring.clear();
    this.state = undefined;
    this.stateTick = 0;
    this.intent = undefined; // left, kicked or room closed: do not rejoin
    this.outage = undefined;
    this.resumeToken = "";
    this.disconnectedPlayers.clear();
    this.emitter.emit("left", l);
  }

  private onState(tick: number, baselineTick: number, lastInputSeq: number, payload: Uint8Array, size: number): void {
    if (!this.room) return;
    let next: DeepReadonly<MessageShape<Desc>>;
    const full = baselineTick === 0;
    try {
      if (full) {
        next = decodeState(this.stateSchema, payload) as DeepReadonly<MessageShape<Desc>>;
      } else {
        const base = this.ring.get(baselineTick);
        if (base === undefined) {
          this.counters.missingBaselines++;
          this.requestFullState();
          return;
        }
        next = applyPatch(this.stateSchema, base, payload) as DeepReadonly<MessageShape<Desc>>;
      }
    } catch (e) {
      this.counters.patchErrors++;
      this.log.warn(`tickwire: dropped state ${tick} (baseline ${baselineTick})`, e);
      if (e instanceof PatchError) this.emitter.emit("error", e);
      this.requestFullState();
      return;
    }
    if (this.dev) deepFreeze(next);
    this.ring.put(tick, next);
    if (tick < this.stateTick) return; // older than what we show: kept only as a baseline
    const receivedAt = this.now();
    this.state = next;
    this.stateTick = tick;
    this.lastInputSeq = lastInputSeq;
    this.ticks.observe(tick, receivedAt);
    this.emitter.emit("state", { tick, state: next, lastInputSeq, full, bytes: size, receivedAt });
  }

  private failPending(err: Error): void {
    const p = [...this.pending.values()];
    this.pending.clear();
    for (const x of p) x.reject(err);
  }

  private handleClose(code: number, reason: string): void {
    this.stopTimers();
    const wasOpen = this.connState === "open";
    const now = this.now();
    this.failPending(new ConnectionClosedError(code, reason));
    const rc = this.opts.reconnect;
    const noRetry = (this.opts.noReconnectCodes ?? FINAL_CLOSE_CODES).includes(code);
    const maxAttempts = rc ? (rc.maxAttempts ?? 0) : 0;
    const willReconnect =
      rc !== false && this.connState !== "closed" && !noRetry && (maxAttempts === 0 || this.attempt < maxAttempts);
    const info: CloseInfo = { code, reason, message: describeClose(code, reason), willReconnect };
    const room = this.room;
    if (room) {
      this.room = undefined;
      this.ring.clear();
      this.disconnectedPlayers.clear();
      const seat =
        this.resumeToken && this.graceMs > 0 && code !== CloseCode.ROOM_LOST
          ? { token: this.resumeToken, roomId: room.roomId, expiresAt: now + this.graceMs }
          : undefined;
      this.outage = willReconnect ? { since: now, seat, lost: code === CloseCode.ROOM_LOST } : undefined;
    }
    if (wasOpen || this.attempt === 0) this.log.info(`tickwire: ${info.message}`);
    this.emitter.emit("close", info);
    if (wasOpen) {
      const graceMs = this.outage?.seat ? this.graceMs : 0;
      this.emitter.emit("disconnected", { ...info, inRoom: !!room, graceMs });
    }
    if (room && code === CloseCode.ROOM_LOST) this.resumeFailed("room lost");
    if (!willReconnect) {
      this.outage = undefined;
      this.setState("closed");
      const err = new ConnectionClosedError(code, reason);
      for (const w of this.welcomeWaiters.splice(0)) w.reject(err);
      return;
    }
    this.attempt++;
    let delayMs = code === CloseCode.RECONNECT && this.attempt === 1 ? 0 : backoffDelayMs(this.attempt, rc || {});
    const seat = this.outage?.seat;
    // Bounded by the grace: the attempt starts while the seat is still kept.
    // Once the grace is (nearly) over there is nothing to hurry for: the
    // plain backoff applies, not a redial at once after every failure.
    const seatLeftMs = seat ? seat.expiresAt - now - 100 : 0;
    if (seatLeftMs > 0) delayMs = Math.min(delayMs, seatLeftMs);
    this.setState("reconnecting");
    this.emitter.emit("reconnecting", { attempt: this.attempt, delayMs, lastClose: info, resuming: seatLeftMs > 0 });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.connState === "reconnecting") this.open();
    }, delayMs);
  }
}

function decodeState<Desc extends DescMessage>(schema: Desc, payload: Uint8Array): MessageShape<Desc> {
  try {
    return fromBinary(schema, payload);
  } catch (e) {
    throw new PatchError("bad-value", `full state does not decode: ${String(e)}`);
  }
}

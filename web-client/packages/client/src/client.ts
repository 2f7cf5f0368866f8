/**
 * TickwireClient: one browser connection to a Tickwire node.
 *
 * Flow: WebSocket (binary frames) → Hello → Welcome → Join → Joined → State
 * frames and room events. The client keeps a ring of recent states so patches
 * against an older baseline apply, assigns input sequence numbers, pings for
 * RTT and clock offset, counts bytes, and reconnects with backoff, rejoining
 * the room it was in.
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
  ProtocolVersion,
  type Joined,
  type Left,
  type PlayerInfo,
  type PlayerLeft,
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

export interface ReconnectOptions {
  /** First retry delay, ms. Default 250. */
  initialDelayMs?: number;
  /** Delay cap, ms. Default 5000. */
  maxDelayMs?: number;
  /** Multiplier per failed attempt. Default 2. */
  factor?: number;
  /** Random extra delay, as a fraction of the delay. Default 0.2. */
  jitter?: number;
  /** Give up after this many attempts; 0 (default) retries forever. */
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
  /** Reconnect with backoff after an unexpected close. Default on; false turns it off. */
  reconnect?: ReconnectOptions | false;
  /**
   * Close codes after which the client does not reconnect. Default: 4000
   * (unsupported version), 4004 (unauthorized), 4006 (kicked) and the
   * reservation codes 4010-4012, which would fail again.
   */
  noReconnectCodes?: readonly number[];
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
  reconnecting: ReconnectingInfo;
  /**
   * A Pong updated the clock estimates (rttMs: the filtered RTT after the
   * sample). Not emitted for a Pong that is not a usable sample (no hold_ms,
   * or an invalid one; see pongSentMs).
   */
  pong: { rttMs: number; tick: number };
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

const DEFAULT_NO_RECONNECT: readonly number[] = [
  CloseCode.UNSUPPORTED_VERSION,
  CloseCode.UNAUTHORIZED,
  CloseCode.KICKED,
  CloseCode.RESERVATION_INVALID,
  CloseCode.RESERVATION_EXPIRED,
  CloseCode.RESERVATION_USED,
];

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

/** The last successful join, replayed after a reconnect. */
interface JoinIntent {
  join: ClientMessageInit["kind"] & { case: "join" };
  roomId: string;
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
  private attempt = 0;
  private intent: JoinIntent | undefined;
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
  /** Sent in Hello.resume_token when set (seat resume, a later server feature). */
  resumeToken = "";

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

  /** Leaves the current room; resolves with the server's Left. */
  async leave(): Promise<Left> {
    this.intent = undefined;
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
          resumeToken: this.resumeToken,
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
    if (this.intent) void this.rejoin(this.intent);
  }

  /**
   * Rejoins after a reconnect: the same room by id first; if it is gone,
   * full or refuses, the original request again (join-or-create by type).
   */
  private async rejoin(intent: JoinIntent): Promise<void> {
    const orig = intent.join.value;
    try {
      await this.join({ roomId: intent.roomId, options: orig.options });
      return;
    } catch (e) {
      if (!(e instanceof ServerError) || !orig.roomType) {
        this.log.warn("tickwire: rejoin failed", e);
        return;
      }
    }
    try {
      await this.join({
        roomType: orig.roomType,
        options: orig.options,
        filter: orig.filter,
        create: orig.create,
        private: orig.private,
      });
    } catch (e) {
      this.log.warn("tickwire: rejoin failed", e);
    }
  }

  private startPings(): void {
    this.stopTimers();
    // A few quick samples first, then one per interval.
    for (const d of [0, 150, 300, 450]) this.timers.push(setTimeout(() => this.ping(), d));
    this.pingTimer = setInterval(() => this.ping(), this.opts.pingIntervalMs);
  }

  private stopTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
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
        this.emitter.emit("playerLeft", k.value);
        return;
      case "welcome":
      case "joined":
      case "left":
      case "error":
      case "matchmakerMatched":
        this.onReply(msg);
        return;
    }
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
      const err = new ServerError(k.value.code, errorCodeName(k.value.code), k.value.message, msg.requestId);
      if (p) p.reject(err);
      else this.emitter.emit("error", err);
      return;
    }
    p?.resolve(msg);
  }

  private enterRoom(j: Joined): void {
    this.room = j;
    this.ring.clear();
    this.state = undefined;
    this.stateTick = 0;
    this.inputSeq = 0;
    this.lastInputSeq = 0;
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
    this.failPending(new ConnectionClosedError(code, reason));
    if (this.room) {
      this.room = undefined;
      this.ring.clear();
    }
    const rc = this.opts.reconnect;
    const noRetry = (this.opts.noReconnectCodes ?? DEFAULT_NO_RECONNECT).includes(code);
    const maxAttempts = rc ? (rc.maxAttempts ?? 0) : 0;
    const willReconnect =
      rc !== false && this.connState !== "closed" && !noRetry && (maxAttempts === 0 || this.attempt < maxAttempts);
    const info: CloseInfo = { code, reason, message: describeClose(code, reason), willReconnect };
    if (wasOpen || this.attempt === 0) this.log.info(`tickwire: ${info.message}`);
    this.emitter.emit("close", info);
    if (!willReconnect) {
      this.setState("closed");
      const err = new ConnectionClosedError(code, reason);
      for (const w of this.welcomeWaiters.splice(0)) w.reject(err);
      return;
    }
    const o = rc || {};
    const base = Math.min(o.maxDelayMs ?? 5000, (o.initialDelayMs ?? 250) * Math.pow(o.factor ?? 2, this.attempt));
    const delayMs = Math.round(base * (1 + (o.jitter ?? 0.2) * Math.random()));
    this.attempt++;
    this.setState("reconnecting");
    this.emitter.emit("reconnecting", { attempt: this.attempt, delayMs, lastClose: info });
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

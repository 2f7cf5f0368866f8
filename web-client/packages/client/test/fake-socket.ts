/** The in-memory WebSocket of the client tests (not part of the package's API). */
import { StateSchema } from "../../../src/gen/arena/v1/arena_pb.js";
import type { ClientMessage } from "../src/gen/tickwire/v1/tickwire_pb.js";
import { TickwireClient, type ClientOptions, type WebSocketLike } from "../src/index.js";
import { decodeClient, encodeServer } from "./wire-helpers.js";

/** An in-memory WebSocket; the test plays the server. */
export class FakeSocket implements WebSocketLike {
  binaryType = "";
  readyState = 0;
  sent: ClientMessage[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  send(data: Uint8Array): void {
    this.sent.push(decodeClient(data));
  }
  /** The code the client closed with (undefined: not closed by the client). */
  closedWith: number | undefined;
  close(code?: number): void {
    this.readyState = 3;
    this.closedWith = code ?? 1005;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  deliver(frame: Uint8Array): void {
    const ab = frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength);
    this.onmessage?.({ data: ab });
  }
  drop(code: number): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }
  last(): ClientMessage {
    return this.sent[this.sent.length - 1]!;
  }
}


/** A logger that says nothing. */
export const quiet = { warn: () => {}, info: () => {} };

/**
 * A client of the arena's state whose every socket is a FakeSocket, pushed
 * on sockets as the client opens it. Pings are rare (60 s) unless opts say
 * otherwise.
 */
export function fakeClient(opts: Partial<ClientOptions> = {}): {
  c: TickwireClient<typeof StateSchema>;
  sockets: FakeSocket[];
} {
  const sockets: FakeSocket[] = [];
  const c = new TickwireClient(StateSchema, {
    url: "ws://test/ws",
    webSocket: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s;
    },
    logger: quiet,
    pingIntervalMs: 60_000,
    ...opts,
  });
  return { c, sockets };
}

/** Connects c: opens its newest socket and answers the Hello with a Welcome. */
export async function welcome(c: TickwireClient<typeof StateSchema>, sockets: FakeSocket[]): Promise<FakeSocket> {
  const connected = c.connect();
  const ws = sockets[sockets.length - 1]!;
  ws.open();
  const hello = ws.sent[0]!;
  if (hello.kind.case !== "hello") throw new Error(`the client's first message is ${hello.kind.case}, want hello`);
  ws.deliver(encodeServer({ requestId: hello.requestId, kind: { case: "welcome", value: { sessionId: "s1", protocolVersion: 1 } } }));
  await connected;
  return ws;
}

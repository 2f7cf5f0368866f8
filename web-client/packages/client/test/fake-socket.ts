/** The in-memory WebSocket of the client tests (not part of the package's API). */
import type { ClientMessage } from "../src/gen/tickwire/v1/tickwire_pb.js";
import type { WebSocketLike } from "../src/index.js";
import { decodeClient } from "./wire-helpers.js";

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


/**
 * The arena's connection UI, driven by the SDK's reconnection events: a
 * "reconnecting…" veil over the game while the SDK brings the seat back,
 * a notice with a countdown when the room will close (its server is
 * shutting down), and which other players are offline (drawn greyed out
 * while their seat waits for them).
 */
import type { ReconnectingInfo, TickwireClient } from "@tickwire/client";
import type { DescMessage } from "@bufbuild/protobuf";

/** The status line while reconnecting. */
export function reconnectingText(r: ReconnectingInfo, graceMs: number): string {
  const secs = (r.delayMs / 1000).toFixed(1);
  if (r.resuming) {
    const keep = graceMs > 0 ? ` Your seat is kept for ${Math.round(graceMs / 1000)} s.` : "";
    return `Connection lost: reconnecting… (attempt ${r.attempt}, in ${secs} s).${keep}`;
  }
  const down = r.lastClose.code === 1006 || r.lastClose.code === 1001;
  return `${down ? "Server unavailable" : r.lastClose.message}: reconnecting… (attempt ${r.attempt}, in ${secs} s)`;
}

/** "closes in 12 s" text of a room-closing notice, given the ms left. */
export function closingText(msLeft: number): string {
  const s = Math.max(0, Math.ceil(msLeft / 1000));
  return s > 0 ? `The server is restarting: this room closes in ${s} s` : "The server is restarting: this room is closing";
}

export class ConnectionView<D extends DescMessage> {
  /** The veil is shown: the SDK is reconnecting after a lost connection. */
  reconnecting = false;
  /** The last time the seat was resumed or the room rejoined: "resumed" or "rejoined". */
  lastComeback: "" | "resumed" | "rejoined" = "";
  private graceMs = 0;
  private closeAt = 0; // local time (performance.now) the room closes, 0: no notice
  private noticeTimer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly client: TickwireClient<D>,
    private readonly veil: HTMLElement,
    private readonly notice: HTMLElement,
    private readonly now: () => number = () => performance.now(),
  ) {
    client.on("disconnected", (d) => {
      this.graceMs = d.graceMs;
      this.setVeil(d.willReconnect);
    });
    client.on("reconnected", (r) => {
      this.lastComeback = r.resumed ? "resumed" : "rejoined";
      this.setVeil(false);
    });
    client.on("close", (c) => {
      if (c.willReconnect) return;
      this.setVeil(false);
      this.showClosing(0);
    });
    client.on("joined", () => this.setVeil(false));
    client.on("left", () => this.showClosing(0));
    client.on("roomClosing", (rc) => this.showClosing(rc.receivedAt + rc.closesInMs));
  }

  /** The seat grace of the current outage, ms (0: none). */
  get seatGraceMs(): number {
    return this.graceMs;
  }

  /** Whether player `id` of the room is offline (their seat kept for them). */
  offline(id: number): boolean {
    return this.client.disconnectedPlayers.has(id);
  }

  /** The notice text ("" when none). */
  get noticeText(): string {
    return this.notice.hidden ? "" : (this.notice.textContent ?? "");
  }

  private setVeil(on: boolean): void {
    this.reconnecting = on;
    this.veil.hidden = !on;
    if (on) this.showClosing(0); // a room we are not connected to cannot warn us
  }

  private showClosing(at: number): void {
    this.closeAt = at;
    if (this.noticeTimer !== undefined) clearInterval(this.noticeTimer);
    this.noticeTimer = undefined;
    this.notice.hidden = at === 0;
    if (at === 0) return;
    const tick = () => {
      this.notice.textContent = closingText(this.closeAt - this.now());
    };
    tick();
    this.noticeTimer = setInterval(tick, 250);
  }
}

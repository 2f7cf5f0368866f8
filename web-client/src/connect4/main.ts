/**
 * Connect four with a friend: the browser client of examples/connect4, on
 * the Tickwire SDK. "Create a game" creates a private room; its id is the
 * game's code, and the page's link (/connect4/#CODE) joins it. Moves and
 * rematches are typed messages (Drop, Rematch); the board is the state.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { TickwireClient, type DeepReadonly } from "@tickwire/client";
import {
  Board,
  DropSchema,
  End,
  GameOverSchema,
  JoinOptionsSchema,
  MoveRefusedSchema,
  RematchSchema,
  StateSchema,
  Status,
  type State,
} from "../gen/connect4/v1/connect4_pb.js";

const ROWS = Board.ROWS;
const COLUMNS = Board.COLUMNS;
const NAME_KEY = "tickwire.arena.name"; // shared with the arena page
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const lobby = $("lobby");
const play = $("play");
const nameInput = $<HTMLInputElement>("name");
const codeInput = $<HTMLInputElement>("code");
const lobbyError = $("lobby-error");
const share = $("share");
const linkInput = $<HTMLInputElement>("link");
const boardEl = $("board");
const msgEl = $("msg");
const clockEl = $("clock");
const rematchBtn = $<HTMLButtonElement>("rematch");
const redEl = $("p-red");
const yellowEl = $("p-yellow");

function loadName(): string {
  try {
    return localStorage.getItem(NAME_KEY) ?? "";
  } catch {
    return "";
  }
}
nameInput.value = loadName() || `player-${Math.floor(Math.random() * 9000 + 1000)}`;

const client = new TickwireClient(StateSchema, { name: nameInput.value });
let state: DeepReadonly<State> | undefined;
let myId = 0;
let note = "";

// The board: COLUMNS x ROWS buttons, top row first; a click drops in its column.
const cells: HTMLElement[] = [];
for (let r = ROWS - 1; r >= 0; r--) {
  for (let c = 0; c < COLUMNS; c++) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "cell";
    b.dataset.col = String(c);
    b.dataset.cell = String(r * COLUMNS + c);
    b.setAttribute("aria-label", `column ${c + 1}`);
    b.addEventListener("click", () => {
      note = "";
      client.send(DropSchema, { column: c });
    });
    cells[r * COLUMNS + c] = b;
    boardEl.append(b);
  }
}

function mySeat(s: DeepReadonly<State>): number {
  return s.red === myId ? 1 : s.yellow === myId ? 2 : 0;
}

function nameOf(s: DeepReadonly<State>, seat: number): string {
  return seat === 1 ? s.redName : s.yellowName;
}

function render(): void {
  const s = state;
  if (!s) return;
  const seat = mySeat(s);
  share.hidden = s.status !== Status.WAITING;
  for (let i = 0; i < cells.length; i++) {
    const v = s.cells[i] ?? 0;
    cells[i]!.className = `cell${v === 1 ? " red" : v === 2 ? " yellow" : ""}${s.lastCell === i + 1 ? " last" : ""}${s.winningCells.includes(i) ? " win" : ""}`;
  }
  const label = (n: string, wins: number) => (n ? `${n} · ${wins}` : "waiting…"); // the own name is teal (.me)
  redEl.firstElementChild!.textContent = label(s.redName, s.redWins);
  yellowEl.firstElementChild!.textContent = label(s.yellowName, s.yellowWins);
  redEl.classList.toggle("turn", s.turn === 1);
  yellowEl.classList.toggle("turn", s.turn === 2);
  redEl.classList.toggle("me", seat === 1);
  yellowEl.classList.toggle("me", seat === 2);
  boardEl.classList.toggle("mine", s.status === Status.PLAYING && s.turn === seat);
  let text = note;
  if (!text) {
    if (s.status === Status.WAITING) text = s.end === End.LEFT ? "Your friend left. Waiting for a player…" : "Waiting for your friend…";
    else if (s.status === Status.PLAYING) text = s.turn === seat ? "Your turn" : `${nameOf(s, s.turn)}'s turn`;
    else if (s.winner === 0) text = "Draw!";
    else {
      const why = s.end === End.TIMEOUT ? " (out of time)" : s.end === End.LEFT ? " (the other player left)" : "";
      text = (s.winner === seat ? "You win!" : `${nameOf(s, s.winner)} wins!`) + why;
    }
  }
  msgEl.textContent = text;
  const asked = seat > 0 && (s.rematch & (1 << (seat - 1))) !== 0;
  rematchBtn.hidden = s.status !== Status.OVER;
  rematchBtn.disabled = asked;
  rematchBtn.textContent = asked ? "Waiting for the other player…" : s.rematch ? "Accept the rematch" : "Rematch";
  renderClock();
}

function renderClock(): void {
  const s = state;
  if (!s || s.status !== Status.PLAYING) {
    clockEl.textContent = "";
    return;
  }
  const secs = Math.max(0, Math.ceil((s.turnEndsTick - client.stateTick) / (client.room?.tickRate || 10)));
  clockEl.textContent = `0:${String(secs).padStart(2, "0")}`.replace(/^0:(\d{3,})$/, "$1s");
  clockEl.classList.toggle("low", secs <= 5);
}
setInterval(renderClock, 250);

client.on("state", (ev) => {
  state = ev.state;
  render();
});
client.onMessage(MoveRefusedSchema, (m) => {
  note = m.reason.charAt(0).toUpperCase() + m.reason.slice(1);
  render();
  setTimeout(() => {
    note = "";
    render();
  }, 1500);
});
client.onMessage(GameOverSchema, () => {
  note = "";
  render();
});
rematchBtn.addEventListener("click", () => client.send(RematchSchema, {}));

function joinOptions(): Uint8Array {
  return toBinary(JoinOptionsSchema, create(JoinOptionsSchema, { name: nameInput.value.trim().slice(0, 16) }));
}

function rememberName(): void {
  try {
    localStorage.setItem(NAME_KEY, nameInput.value.trim());
  } catch {
    /* storage disabled */
  }
}

async function enter(join: () => Promise<{ playerId: number; roomId: string }>): Promise<void> {
  lobbyError.textContent = "";
  rememberName();
  try {
    await client.connect();
    const j = await join();
    myId = j.playerId;
    history.replaceState(null, "", `#${j.roomId}`);
    linkInput.value = location.href;
    $("code-show").textContent = j.roomId;
    lobby.hidden = true;
    play.hidden = false;
  } catch (e) {
    lobbyError.textContent = `Could not join: ${(e as Error).message}`;
  }
}

$("create").addEventListener("click", () => {
  void enter(() => client.joinOrCreate("connect4", { create: true, private: true, options: joinOptions() }));
});
$("join-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const code = codeInput.value.trim();
  if (code) void enter(() => client.joinById(code, { options: joinOptions() }));
});
$("copy").addEventListener("click", () => {
  linkInput.select();
  void navigator.clipboard?.writeText(linkInput.value).catch(() => undefined);
});
client.on("joined", (j) => (myId = j.playerId));

// A shared link: join its game at once.
const fromLink = location.hash.slice(1);
if (fromLink) {
  codeInput.value = fromLink;
  void enter(() => client.joinById(fromLink, { options: joinOptions() }));
}

/** Test and debugging hook (read-only). */
declare global {
  interface Window {
    __c4: unknown;
  }
}
window.__c4 = {
  get playerId() {
    return myId;
  },
  get roomId() {
    return client.room?.roomId ?? "";
  },
  get seat() {
    return state ? mySeat(state) : 0;
  },
  get status() {
    return state?.status ?? 0;
  },
  get turn() {
    return state?.turn ?? 0;
  },
  get winner() {
    return state?.winner ?? 0;
  },
  get game() {
    return state?.game ?? 0;
  },
  get message() {
    return msgEl.textContent ?? "";
  },
};

import { TickwireClient } from "@tickwire/client";
import { create, toBinary } from "@bufbuild/protobuf";
import { InputSchema, StateSchema, WaveSchema, WavedSchema } from "./gen/starter/v1/starter_pb.js";

const canvas = document.getElementById("world") as HTMLCanvasElement;
const ctx = canvas.getContext("2d")!;
const status = document.getElementById("status")!;
const client = new TickwireClient(StateSchema, { name: `dot-${Math.floor(Math.random() * 1000)}` });

// Draw every state: one dot per player, yours white.
client.on("state", ({ state }) => {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  for (const [id, dot] of Object.entries(state.dots)) {
    ctx.fillStyle = Number(id) === client.room?.playerId ? "#fff" : "#5cf2c8";
    ctx.beginPath();
    ctx.arc(dot.x, dot.y, 6, 0, 2 * Math.PI);
    ctx.fill();
    ctx.fillText(dot.name, dot.x + 9, dot.y + 4);
  }
});
client.onMessage(WavedSchema, (m) => (status.textContent = `${m.name} waves!`));

// Held arrow keys become one input per tick.
const held = new Set<string>();
addEventListener("keydown", (e) => held.add(e.key));
addEventListener("keyup", (e) => held.delete(e.key));
setInterval(() => {
  if (!client.room) return;
  const dx = (held.has("ArrowRight") ? 1 : 0) - (held.has("ArrowLeft") ? 1 : 0);
  const dy = (held.has("ArrowDown") ? 1 : 0) - (held.has("ArrowUp") ? 1 : 0);
  if (dx || dy) client.sendInput(toBinary(InputSchema, create(InputSchema, { dx, dy })));
}, 50);
document.getElementById("wave")!.addEventListener("click", () => client.send(WaveSchema, {}));

async function main(): Promise<void> {
  await client.connect();
  const joined = await client.joinOrCreate("dots");
  status.textContent = `Joined as player ${joined.playerId}`;
}
main().catch((e: Error) => (status.textContent = `Cannot join: ${e.message}`));

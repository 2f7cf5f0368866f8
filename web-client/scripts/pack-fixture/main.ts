// A tiny game client, built the way a team outside this repository builds
// one: @tickwire/client from its packed tarball, a default `tsc --init`
// configuration, esbuild. Used by scripts/check-pack.sh, not shipped.
import { create, toBinary } from "@bufbuild/protobuf";
import { DurationSchema, StructSchema, TimestampSchema, type Struct } from "@bufbuild/protobuf/wkt";
import { ErrorCode, ServerError, TickwireClient, type DeepReadonly, type ReconnectedInfo, type StateEvent } from "@tickwire/client";

// The "game": state is a Struct, inputs are Durations, messages Timestamps.
const client = new TickwireClient(StructSchema, { name: "ada", dev: true });

client.on("state", (ev: StateEvent<Struct>) => {
  const state: DeepReadonly<Struct> = ev.state;
  // @ts-expect-error states are read-only
  state.fields = {};
  console.log(`tick ${ev.tick}: ${Object.keys(state.fields).length} fields`);
});
// Reconnection is on by default: show it, and the seat kept or lost.
client.on("disconnected", (d) => console.log(`lost (${d.message}); seat kept ${d.graceMs} ms`));
client.on("reconnected", (r: ReconnectedInfo) => console.log(r.resumed ? `resumed as ${r.joined.playerId}` : "new room"));
client.on("resumeFailed", (f) => console.log(`seat gone: ${f.reason}`));
client.on("roomClosing", (c) => console.log(`room closes in ${Math.round(c.closesInMs / 1000)} s`));
client.on("playerConnection", (p) => console.log(`player ${p.playerId} ${p.connected ? "back" : "offline"}`));
client.onMessage(TimestampSchema, (t, from) => console.log(`player ${from} says ${t.nanos}`));

async function main(): Promise<void> {
  try {
    await client.connect();
    await client.joinOrCreate("demo");
    client.sendInput(toBinary(DurationSchema, create(DurationSchema, { nanos: 5 })));
    client.send(TimestampSchema, { nanos: 1 });
  } catch (e) {
    if (e instanceof ServerError && e.code === ErrorCode.ROOM_FULL) console.log("full");
    else throw e;
  }
}
void main();

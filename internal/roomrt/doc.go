// Package roomrt is Tickwire's room actor runtime (package room is its author-facing API): one goroutine owns a room's state,
// inputs queue into its mailbox, and a fixed-timestep loop calls the game's
// Handler every tick.
//
// # Threading
//
// Every Handler method and every Context method runs on the room goroutine,
// one at a time, so a handler needs no locks for its own state. The exported
// methods of Room and Registry are safe for concurrent use; they talk to the
// room goroutine through its mailbox. A big room (Config.ParallelIOPlayers)
// hands its socket calls, and only those (Poller.Poll at the start of a
// tick, Conn.SendState and Batcher.Release at its end), to its registry's
// helper goroutines as well, and waits for them before the tick goes on
// (parallel.go).
//
// # Mailbox and overflow policy
//
// A room has two queues:
//
//   - the input queue (inputs and room messages from clients) is bounded by
//     Config.MailboxSize. When it is full, a new input is refused with
//     ErrMailboxFull (the engine answers the client ERROR_CODE_ROOM_BUSY and
//     counts it). Inputs are processed at the start of the next tick, so
//     posting one costs no wake-up.
//   - the control queue (joins, leaves, disconnects, internal calls) is
//     processed as soon as it is posted. Leaves and disconnects are never
//     dropped: at most one is queued per player, so the queue is bounded by
//     the number of players. Joins are bounded by the seats of the room
//     (a join first reserves a seat).
//
// # Tick loop
//
// The loop runs at Config.TickRate on an absolute schedule (tick n is due at
// anchor + n*interval), so it does not drift. The registry spreads its rooms'
// anchors over the tick period (phases weighted by the rooms' seats), so
// rooms created together do not all tick at the same instant. A tick that
// starts late is measured (Observer.ObserveTick lateness). A room that falls
// behind runs its late ticks in order, back to back, while it is at most
// Config.MaxCatchUp ticks behind: in batches of up to four ticks, each of
// which reads its players' sockets once before its first tick and writes
// each player once after its last, with all its states, so a room that is
// behind costs less per tick, not more (the inputs a batch read are spread
// over its ticks, not used up by the first). Further behind, its schedule
// shifts forward by whole ticks (its phase kept) and the shifted ticks are
// reported to Observer.TicksSkipped: never skipped silently. So an
// overloaded node runs every room's ticks late by a bounded amount, evenly,
// rather than letting a room that got the CPU catch up while others queue.
// The tick rate can be changed at run time with Context.SetTickRate (the
// new schedule starts one new interval after the call). State is sent
// every TickRate/SendRate ticks.
//
// Timers (Context.After, Context.Every) run on the room goroutine, before the
// handler's Tick, at the first tick at or after their due time; they die with
// the room.
//
// # State replication
//
// The room's state is a protobuf message owned by the room goroutine
// (Context.State). After each send tick the room commits a snapshot to a
// netcode.Replicator and gives every player the state as a patch against
// that player's baseline (the last state frame its connection wrote), encoded
// once per distinct baseline and shared between players.
package roomrt

// Package room is what a game author writes against: a room type's rules
// (Handler), its typed state, inputs and messages, and the Context a
// handler uses to run its room.
//
//	// state and input are messages of the game's own .proto.
//	type game struct {
//		room.Base[*gamev1.State, *gamev1.Input]
//	}
//
//	func (g *game) Init(c *room.Context[*gamev1.State], _ []byte) error {
//		room.OnMessage(c, func(p *room.Player, m *gamev1.Chat) {
//			c.Broadcast(&gamev1.Said{From: p.ID(), Text: m.Text})
//		})
//		return nil
//	}
//
//	func (g *game) Tick(c *room.Context[*gamev1.State], inputs []room.Input[*gamev1.Input]) {
//		for _, in := range inputs {
//			c.State.Players[in.Player.ID()].X += in.Msg.Dx
//		}
//	}
//
//	// In main: e.RegisterRoom("game", room.Define(room.Config{TickRate: 30},
//	//	func() room.Handler[*gamev1.State, *gamev1.Input] { return &game{} }))
//
// # What the framework does for the handler
//
// Every Handler method, message handler and timer runs on the room's own
// goroutine, one at a time: a handler needs no locks. Each input arrives
// decoded, once, as the room type's input message; one that does not decode
// is answered ERROR_CODE_INVALID_INPUT, counted, and never reaches Tick.
// Game messages travel keyed by their protobuf full name (see
// proto/tickwire/v1/tickwire.proto, RoomMessage): OnMessage registers a
// typed handler, Context.Send and Context.Broadcast send typed messages,
// and the SDKs' onMessage(Schema, …) and send(msg) are the other end. A
// message of a type the room did not register is answered
// ERROR_CODE_UNKNOWN_MESSAGE and counted.
//
// After each send tick the room snapshots Context.State and sends every
// player a patch against what that player last received. Messages sent
// during a tick (Send, Broadcast) go out before that tick's state.
//
// # Players and names
//
// A Player is read-only to the handler. Its name travels this way: the
// client sends a name in Hello; without an engine Authenticate hook that
// name is Player.Name; with one, the hook's Identity.Name replaces it (and
// Identity.UserID is Player.UserID). JoinAttempt may still set the display
// name for the room from the join options (Context.SetPlayerName), before
// the other players hear of the join.
//
// # Testing a handler
//
// Package tickwiretest runs one room on a manual clock (tickwiretest.NewRoom):
// join players, send typed inputs and messages, run exact ticks, read the
// state. It also starts a whole node on a loopback port for integration
// tests (tickwiretest.StartNode).
package room

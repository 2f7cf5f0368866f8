// Package game is the starter game's rules: every player is a dot that
// moves one step per input; a Wave message is told to everyone.
package game

import (
	starterv1 "github.com/tickwire/tickwire/examples/starter/gen/starter/v1"
	"github.com/tickwire/tickwire/room"
)

// Size is the world's width and height.
const Size = 400

// Game is the room handler: one per room.
type Game struct {
	room.Base[*starterv1.State, *starterv1.Input]
}

// Define returns the room type, for engine.RegisterRoom.
func Define() *room.Definition {
	return room.Define(room.Config{TickRate: 20, MaxPlayers: 8},
		func() room.Handler[*starterv1.State, *starterv1.Input] { return &Game{} })
}

// Init prepares the state and registers the typed message handlers.
func (g *Game) Init(c *room.Context[*starterv1.State], _ []byte) error {
	c.State.Dots = map[uint32]*starterv1.Dot{}
	room.OnMessage(c, func(p *room.Player, _ *starterv1.Wave) {
		c.Broadcast(&starterv1.Waved{From: p.ID(), Name: p.Name()})
	})
	return nil
}

// Join puts the player's dot in the middle.
func (g *Game) Join(c *room.Context[*starterv1.State], p *room.Player) {
	c.State.Dots[p.ID()] = &starterv1.Dot{X: Size / 2, Y: Size / 2, Name: p.Name()}
}

// Leave removes it.
func (g *Game) Leave(c *room.Context[*starterv1.State], p *room.Player, _ room.LeaveReason) {
	delete(c.State.Dots, p.ID())
}

// Tick applies the inputs: one step each, inside the world.
func (g *Game) Tick(c *room.Context[*starterv1.State], inputs []room.Input[*starterv1.Input]) {
	for _, in := range inputs {
		d := c.State.Dots[in.Player.ID()]
		if d == nil {
			continue
		}
		d.X = min(max(d.X+sign(in.Msg.Dx), 0), Size)
		d.Y = min(max(d.Y+sign(in.Msg.Dy), 0), Size)
	}
}

func sign(v int32) int32 { return min(max(v, -1), 1) }

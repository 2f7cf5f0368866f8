package game_test

import (
	"testing"

	"github.com/tickwire/tickwire/examples/starter/game"
	starterv1 "github.com/tickwire/tickwire/examples/starter/gen/starter/v1"
	"github.com/tickwire/tickwire/tickwiretest"
)

func TestDotsMoveAndWave(t *testing.T) {
	h := tickwiretest.NewRoom[*starterv1.State, *starterv1.Input](t, game.Define(), tickwiretest.RoomOptions{})
	ada := h.Join("ada", nil)
	bob := h.Join("bob", nil)

	h.Input(ada, &starterv1.Input{Dx: 1})
	h.Input(ada, &starterv1.Input{Dx: 5, Dy: -1}) // a step is at most 1
	h.Tick(1)
	if d := h.State().Dots[ada.ID]; d.X != game.Size/2+2 || d.Y != game.Size/2-1 {
		t.Fatalf("ada's dot at %d,%d", d.X, d.Y)
	}

	h.Send(bob, &starterv1.Wave{})
	h.Tick(1)
	waved := tickwiretest.Messages[*starterv1.Waved](ada)
	if len(waved) != 1 || waved[0].From != bob.ID || waved[0].Name != "bob" {
		t.Fatalf("ada heard %v", waved)
	}
}

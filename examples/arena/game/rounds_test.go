package game

import (
	"math"
	"testing"
	"time"

	arenav1 "github.com/tickwire/tickwire/examples/arena/proto/arena/v1"
	"github.com/tickwire/tickwire/room"
	"github.com/tickwire/tickwire/tickwiretest"
)

// roundsRoom is a standard arena room at 20 Hz with rounds r, players
// spawned in a row 30 units apart (within tag range of each other).
func roundsRoom(t *testing.T, r Rounds) *tickwiretest.Room[*arenav1.State, *arenav1.Input] {
	t.Helper()
	def := room.Define(room.Config{TickRate: 20}, func() room.Handler[*arenav1.State, *arenav1.Input] {
		a := NewRounds(Standard, r)
		a.Spawn = func(id uint32) (int32, int32) { return q(200 + 30*int32(id)), q(200) }
		return a
	})
	return tickwiretest.NewRoom[*arenav1.State, *arenav1.Input](t, def, tickwiretest.RoomOptions{})
}

func TestRoundEndsWithWinnerThenScoresReset(t *testing.T) {
	h := roundsRoom(t, Rounds{Play: 2 * time.Second, Break: time.Second})
	ada, bob := h.Join("ada", nil), h.Join("bob", nil)
	h.Tick(2) // some lag history
	s := h.State()
	if s.Round != 1 || s.Phase != arenav1.RoundPhase_ROUND_PHASE_PLAYING || s.PhaseEndsTick != 40 {
		t.Fatalf("round %d phase %v ends %d, want round 1 playing until tick 40", s.Round, s.Phase, s.PhaseEndsTick)
	}
	h.Input(ada, &arenav1.Input{Tag: true})
	h.Tick(1)
	s = h.State()
	if s.It != bob.ID || s.Players[ada.ID].GetScore() < 5 {
		t.Fatalf("after ada's tag: it %d, ada's score %d", s.It, s.Players[ada.ID].GetScore())
	}
	// Play on to the round's last tick, then one more.
	h.Tick(int(s.PhaseEndsTick - h.CurrentTick() - 1))
	last := h.State()
	if last.Phase != arenav1.RoundPhase_ROUND_PHASE_PLAYING {
		t.Fatalf("round over before its end tick (tick %d)", h.CurrentTick())
	}
	h.Tick(1)
	s = h.State()
	if s.Phase != arenav1.RoundPhase_ROUND_PHASE_OVER || s.Winner != ada.ID || s.WinnerName != "ada" ||
		s.WinnerScore != last.Players[ada.ID].GetScore() || s.It != 0 {
		t.Fatalf("at the end: phase %v winner %d %q score %d it %d; ada had %d", s.Phase, s.Winner, s.WinnerName, s.WinnerScore, s.It, last.Players[ada.ID].GetScore())
	}
	for _, p := range []*tickwiretest.Player{ada, bob} {
		msgs := tickwiretest.Messages[*arenav1.RoundOver](p)
		if len(msgs) != 1 || msgs[0].Winner != ada.ID || msgs[0].Round != 1 || msgs[0].Name != "ada" {
			t.Fatalf("%d got RoundOver %v, want one naming ada", p.ID, msgs)
		}
	}
	// In the break tags do not score.
	h.Input(bob, &arenav1.Input{Tag: true})
	h.Tick(1)
	if s := h.State(); s.Players[bob.ID].GetScore() != 0 || s.It != 0 {
		t.Fatalf("a tag scored in the break: bob %d, it %d", s.Players[bob.ID].GetScore(), s.It)
	}
	h.Tick(int(s.PhaseEndsTick - h.CurrentTick()))
	s = h.State()
	if s.Round != 2 || s.Phase != arenav1.RoundPhase_ROUND_PHASE_PLAYING || s.Winner != 0 || s.PhaseEndsTick != h.CurrentTick()+40 {
		t.Fatalf("next round: %d phase %v winner %d ends %d (now %d)", s.Round, s.Phase, s.Winner, s.PhaseEndsTick, h.CurrentTick())
	}
	for id, p := range s.Players {
		if p.GetScore() != 0 {
			t.Errorf("player %d starts round 2 with %d points", id, p.GetScore())
		}
	}
}

func TestNobodyWinsARoundWithoutPoints(t *testing.T) {
	h := roundsRoom(t, Rounds{Play: time.Second, Break: time.Second})
	p := h.Join("ada", nil)
	h.Tick(20)
	s := h.State()
	if s.Phase != arenav1.RoundPhase_ROUND_PHASE_OVER || s.Winner != 0 {
		t.Fatalf("phase %v winner %d, want over with no winner", s.Phase, s.Winner)
	}
	if m := tickwiretest.Messages[*arenav1.RoundOver](p); len(m) != 1 || m[0].Winner != 0 {
		t.Fatalf("RoundOver %v", m)
	}
}

func TestItLosesPointsWhileIt(t *testing.T) {
	h := roundsRoom(t, Rounds{})
	ada, bob := h.Join("ada", nil), h.Join("bob", nil)
	h.Tick(2)
	h.Input(ada, &arenav1.Input{Tag: true}) // ada 5, bob is it
	h.Tick(1)
	h.Input(bob, &arenav1.Input{Tag: true}) // bob 5, ada is it
	h.Tick(1)
	s := h.State()
	if s.It != ada.ID {
		t.Fatalf("it = %d, want ada (%d)", s.It, ada.ID)
	}
	adaScore, bobScore := s.Players[ada.ID].GetScore(), s.Players[bob.ID].GetScore()
	h.Tick(60) // 3 s
	s = h.State()
	if got := s.Players[ada.ID].GetScore(); got != adaScore-3 {
		t.Errorf("ada, it for 3 s: %d points, want %d", got, adaScore-3)
	}
	if got := s.Players[bob.ID].GetScore(); got != bobScore {
		t.Errorf("bob, not it: %d points, want %d", got, bobScore)
	}
	h.Tick(200) // never below 0
	if got := h.State().Players[ada.ID].GetScore(); got != 0 {
		t.Errorf("ada after 13 s: %d points, want 0", got)
	}
}

// On the large map a newcomer spawns near someone already there, in view.
func TestLargeMapSpawnsNearOthers(t *testing.T) {
	h := tickwiretest.NewRoom[*arenav1.State, *arenav1.Input](t, RoomTypes()["arena-large"], tickwiretest.RoomOptions{})
	h.Join("p0", nil)
	for i := 1; i < 20; i++ {
		before := h.State().Players
		p := h.Join("p", nil)
		h.Tick(1)
		me := h.State().Players[p.ID]
		nearest := math.Inf(1)
		for _, o := range before {
			nearest = min(nearest, math.Hypot(float64(o.X-me.X), float64(o.Y-me.Y))/float64(Quantum))
		}
		if nearest > spawnNearMax+1 || nearest > Large.ViewRadius {
			t.Fatalf("player %d spawned %.0f units from the nearest other player", p.ID, nearest)
		}
	}
}

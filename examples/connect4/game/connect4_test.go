package game

import (
	"slices"
	"testing"
	"time"

	c4v1 "github.com/tickwire/tickwire/examples/connect4/proto/connect4/v1"
	"github.com/tickwire/tickwire/tickwiretest"
)

func TestFourAt(t *testing.T) {
	// board builds cells from rows written top (row 5) to bottom (row 0).
	board := func(rows ...string) []byte {
		cells := make([]byte, Rows*Columns)
		for i, line := range rows {
			r := Rows - 1 - i
			for c, ch := range line {
				if ch == 'R' || ch == 'Y' {
					cells[r*Columns+c] = map[rune]byte{'R': Red, 'Y': Yellow}[ch]
				}
			}
		}
		return cells
	}
	tests := []struct {
		name     string
		cells    []byte
		row, col int
		want     []uint32
	}{
		{"across", board(".......", ".......", ".......", ".......", ".......", "RRRR..."), 0, 1, []uint32{0, 1, 2, 3}},
		{"up", board(".......", ".......", "Y......", "Y......", "Y......", "Y......"), 3, 0, []uint32{0, 7, 14, 21}},
		{"diagonal", board(".......", ".......", "...R...", "..RY...", ".RYY...", "RYYY..."), 3, 3, []uint32{0, 8, 16, 24}},
		{"other diagonal", board(".......", ".......", "Y......", "RY.....", "RRY....", "RRRY..."), 0, 3, []uint32{3, 9, 15, 21}},
		{"three is not four", board(".......", ".......", ".......", ".......", ".......", "RRR.RRR"), 0, 2, nil},
		{"empty cell", board(".......", ".......", ".......", ".......", ".......", "RRRR..."), 1, 1, nil},
		{"a line of five", board(".......", ".......", ".......", ".......", ".......", "YYYYY.."), 0, 4, []uint32{0, 1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FourAt(tt.cells, tt.row, tt.col)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("FourAt = %v, want %v", got, tt.want)
			}
		})
	}
}

type harness = tickwiretest.Room[*c4v1.State, *c4v1.Input]

func newGame(t *testing.T, turn time.Duration) (*harness, *tickwiretest.Player, *tickwiretest.Player) {
	t.Helper()
	h := tickwiretest.NewRoom[*c4v1.State, *c4v1.Input](t, Define(Options{TurnTime: turn}), tickwiretest.RoomOptions{})
	ada := h.Join("ada", nil)
	h.Tick(1)
	if s := h.State(); s.Status != c4v1.Status_STATUS_WAITING || s.Red != ada.ID {
		t.Fatalf("one player: status %v, red %d", s.Status, s.Red)
	}
	bob := h.Join("bob", nil)
	h.Tick(1)
	if s := h.State(); s.Status != c4v1.Status_STATUS_PLAYING || s.Yellow != bob.ID || s.Turn != Red || s.Game != 1 {
		t.Fatalf("two players: status %v, yellow %d, turn %d, game %d", s.Status, s.Yellow, s.Turn, s.Game)
	}
	return h, ada, bob
}

func drop(h *harness, p *tickwiretest.Player, col uint32) {
	h.Send(p, &c4v1.Drop{Column: col})
	h.Tick(1)
}

func TestAGameToAWinAndARematch(t *testing.T) {
	h, ada, bob := newGame(t, 0)
	// Ada (red) builds column 0, Bob (yellow) column 1: red has four up first.
	for range 3 {
		drop(h, ada, 0)
		drop(h, bob, 1)
	}
	drop(h, ada, 0)
	s := h.State()
	if s.Status != c4v1.Status_STATUS_OVER || s.Winner != Red || s.End != c4v1.End_END_FOUR_IN_A_ROW || s.RedWins != 1 {
		t.Fatalf("after red's fourth: status %v winner %d end %v red wins %d", s.Status, s.Winner, s.End, s.RedWins)
	}
	if w := slices.Sorted(slices.Values(s.WinningCells)); !slices.Equal(w, []uint32{0, 7, 14, 21}) {
		t.Fatalf("winning cells %v", w)
	}
	for _, p := range []*tickwiretest.Player{ada, bob} {
		if m := tickwiretest.Messages[*c4v1.GameOver](p); len(m) != 1 || m[0].Winner != Red || m[0].WinnerName != "ada" {
			t.Fatalf("player %d: GameOver %v", p.ID, m)
		}
	}
	// No moves after the end.
	drop(h, bob, 2)
	if m := tickwiretest.Messages[*c4v1.MoveRefused](bob); len(m) != 1 {
		t.Fatalf("a move after the end: MoveRefused %v", m)
	}
	// Rematch: one asks, nothing yet; both asked, colours swap, bob starts.
	h.Send(ada, &c4v1.Rematch{})
	h.Tick(1)
	if s := h.State(); s.Status != c4v1.Status_STATUS_OVER || s.Rematch != 1 {
		t.Fatalf("after ada's rematch: status %v rematch %b", s.Status, s.Rematch)
	}
	h.Send(bob, &c4v1.Rematch{})
	h.Tick(1)
	s = h.State()
	if s.Status != c4v1.Status_STATUS_PLAYING || s.Red != bob.ID || s.Yellow != ada.ID || s.Turn != Red || s.Game != 2 ||
		s.YellowWins != 1 || s.RedWins != 0 || s.Winner != 0 || s.Rematch != 0 || slices.ContainsFunc(s.Cells, func(b byte) bool { return b != 0 }) {
		t.Fatalf("rematch: %v", s)
	}
}

func TestRefusedMoves(t *testing.T) {
	h, ada, bob := newGame(t, 0)
	tests := []struct {
		name string
		p    *tickwiretest.Player
		col  uint32
	}{
		{"out of turn", bob, 3},
		{"outside the board", ada, 7},
	}
	for i, tt := range tests {
		drop(h, tt.p, tt.col)
		if m := tickwiretest.Messages[*c4v1.MoveRefused](tt.p); len(m) == 0 || h.State().LastCell != 0 {
			t.Fatalf("%d %s: refused %v, last cell %d", i, tt.name, m, h.State().LastCell)
		}
	}
	// A full column.
	for range 3 {
		drop(h, ada, 4)
		drop(h, bob, 4)
	}
	drop(h, ada, 4)
	if m := tickwiretest.Messages[*c4v1.MoveRefused](ada); len(m) != 2 || m[1].Reason != "that column is full" || h.State().Turn != Red {
		t.Fatalf("full column: refused %v, turn %d", m, h.State().Turn)
	}
}

func TestTurnTimerAndLeaving(t *testing.T) {
	h, ada, bob := newGame(t, 3*time.Second) // 30 ticks at 10 Hz
	drop(h, ada, 3)
	h.Tick(28)
	if s := h.State(); s.Status != c4v1.Status_STATUS_PLAYING {
		t.Fatalf("game over before bob's time ran out: %v", s.End)
	}
	h.Tick(2)
	s := h.State()
	if s.Status != c4v1.Status_STATUS_OVER || s.Winner != Red || s.End != c4v1.End_END_TIMEOUT {
		t.Fatalf("bob ran out of time: status %v winner %d end %v", s.Status, s.Winner, s.End)
	}
	// A new game, then bob leaves: ada wins, the seat opens for a friend.
	h.Send(ada, &c4v1.Rematch{})
	h.Send(bob, &c4v1.Rematch{})
	h.Tick(1)
	h.Leave(bob)
	h.Tick(1)
	s = h.State()
	if s.Status != c4v1.Status_STATUS_WAITING || s.Winner != Yellow || s.End != c4v1.End_END_LEFT || s.Red != 0 || s.Yellow != ada.ID {
		t.Fatalf("after bob left: status %v winner %d end %v red %d yellow %d", s.Status, s.Winner, s.End, s.Red, s.Yellow)
	}
	cy := h.Join("cy", nil)
	h.Tick(1)
	if s := h.State(); s.Status != c4v1.Status_STATUS_PLAYING || s.Red != cy.ID || s.Game != 3 {
		t.Fatalf("cy joins: status %v red %d game %d", s.Status, s.Red, s.Game)
	}
}

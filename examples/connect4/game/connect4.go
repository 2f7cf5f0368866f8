// Package game is the connect four example's server rules: a turn-based
// two-player game in private rooms, moved by typed room messages (Drop,
// Rematch) with a turn timer, a winner and rematches. The rules are
// documented in examples/connect4/proto/connect4/v1/connect4.proto.
package game

import (
	"time"

	"google.golang.org/protobuf/proto"

	c4v1 "github.com/tickwire/tickwire/examples/connect4/proto/connect4/v1"
	"github.com/tickwire/tickwire/room"
)

// Board size.
const (
	Rows    = int(c4v1.Board_ROWS)
	Columns = int(c4v1.Board_COLUMNS)
)

// Seats.
const (
	Red    = 1
	Yellow = 2
)

// Options configure the game. The zero value gives 30 s turns.
type Options struct {
	// TurnTime is how long a player has for a move. Default 30 s.
	TurnTime time.Duration
}

// RoomTypes returns the room type "connect4": rooms of two at 10 Hz (a
// turn-based game needs few ticks: they only run the turn timer).
func RoomTypes(o Options) map[string]*room.Definition {
	return map[string]*room.Definition{"connect4": Define(o)}
}

// Define returns the connect four room type.
func Define(o Options) *room.Definition {
	if o.TurnTime <= 0 {
		o.TurnTime = 30 * time.Second
	}
	return room.Define(room.Config{TickRate: 10, MaxPlayers: 2},
		func() room.Handler[*c4v1.State, *c4v1.Input] { return &Game{turnTime: o.TurnTime} })
}

// Game is the room handler.
type Game struct {
	room.Base[*c4v1.State, *c4v1.Input]
	turnTime time.Duration
}

// Init hides the room from matchmaking (friends join it by id) and
// registers the move messages.
func (g *Game) Init(c *room.Context[*c4v1.State], _ []byte) error {
	c.SetPrivate(true)
	c.State.Cells = make([]byte, Rows*Columns)
	c.State.Status = c4v1.Status_STATUS_WAITING
	room.OnMessage(c, func(p *room.Player, m *c4v1.Drop) { g.drop(c, p, m) })
	room.OnMessage(c, func(p *room.Player, _ *c4v1.Rematch) { g.rematch(c, p) })
	return nil
}

// JoinAttempt takes the player's name from the join options.
func (g *Game) JoinAttempt(c *room.Context[*c4v1.State], p *room.Player, opts []byte) error {
	var jo c4v1.JoinOptions
	if err := proto.Unmarshal(opts, &jo); err != nil {
		return room.Reject("join options do not decode")
	}
	name := []rune(jo.Name)
	if len(name) > 16 {
		name = name[:16]
	}
	if len(name) > 0 {
		c.SetPlayerName(p, string(name))
	}
	if p.Name() == "" {
		c.SetPlayerName(p, "player")
	}
	return nil
}

// Join seats the player; the second one starts the game.
func (g *Game) Join(c *room.Context[*c4v1.State], p *room.Player) {
	s := c.State
	switch {
	case s.Red == 0:
		s.Red, s.RedName = p.ID(), p.Name()
	case s.Yellow == 0:
		s.Yellow, s.YellowName = p.ID(), p.Name()
	}
	if s.Red != 0 && s.Yellow != 0 {
		g.newGame(c)
	}
}

// Leave frees the seat; a player who leaves a game loses it.
func (g *Game) Leave(c *room.Context[*c4v1.State], p *room.Player, _ room.LeaveReason) {
	s := c.State
	seat := seatOf(s, p.ID())
	if seat == 0 {
		return
	}
	if s.Status == c4v1.Status_STATUS_PLAYING {
		g.over(c, 3-seat, c4v1.End_END_LEFT)
	}
	if seat == Red {
		s.Red, s.RedName, s.RedWins = 0, "", 0
	} else {
		s.Yellow, s.YellowName, s.YellowWins = 0, "", 0
	}
	s.Status, s.Rematch = c4v1.Status_STATUS_WAITING, 0
}

// Tick runs the turn timer.
func (g *Game) Tick(c *room.Context[*c4v1.State], _ []room.Input[*c4v1.Input]) {
	s := c.State
	if s.Status == c4v1.Status_STATUS_PLAYING && c.Tick() >= s.TurnEndsTick {
		g.over(c, 3-s.Turn, c4v1.End_END_TIMEOUT)
	}
}

func seatOf(s *c4v1.State, id uint32) uint32 {
	switch id {
	case 0:
		return 0
	case s.Red:
		return Red
	case s.Yellow:
		return Yellow
	}
	return 0
}

func (g *Game) turnTicks(c *room.Context[*c4v1.State]) uint32 {
	return uint32(max(1, g.turnTime*time.Duration(c.TickRate())/time.Second))
}

// newGame clears the board; red moves first.
func (g *Game) newGame(c *room.Context[*c4v1.State]) {
	s := c.State
	clear(s.Cells)
	s.Game++
	s.Status, s.Turn, s.TurnEndsTick = c4v1.Status_STATUS_PLAYING, Red, c.Tick()+g.turnTicks(c)
	s.Winner, s.End, s.WinningCells, s.LastCell, s.Rematch = 0, c4v1.End_END_UNSPECIFIED, nil, 0, 0
}

func (g *Game) over(c *room.Context[*c4v1.State], winner uint32, end c4v1.End) {
	s := c.State
	s.Status, s.Turn, s.TurnEndsTick, s.Winner, s.End = c4v1.Status_STATUS_OVER, 0, 0, winner, end
	name := ""
	switch winner {
	case Red:
		s.RedWins++
		name = s.RedName
	case Yellow:
		s.YellowWins++
		name = s.YellowName
	}
	c.Broadcast(&c4v1.GameOver{Winner: winner, WinnerName: name, End: end})
}

func (g *Game) drop(c *room.Context[*c4v1.State], p *room.Player, m *c4v1.Drop) {
	s := c.State
	seat := seatOf(s, p.ID())
	refuse := func(reason string) { c.Send(p, &c4v1.MoveRefused{Reason: reason}) }
	switch {
	case s.Status != c4v1.Status_STATUS_PLAYING:
		refuse("the game is not on")
		return
	case seat != s.Turn:
		refuse("not your turn")
		return
	case m.Column >= uint32(Columns):
		refuse("no such column")
		return
	}
	col := int(m.Column)
	row := 0
	for row < Rows && s.Cells[row*Columns+col] != 0 {
		row++
	}
	if row == Rows {
		refuse("that column is full")
		return
	}
	cell := row*Columns + col
	s.Cells[cell] = byte(seat)
	s.LastCell = uint32(cell + 1)
	if four := FourAt(s.Cells, row, col); four != nil {
		s.WinningCells = four
		g.over(c, seat, c4v1.End_END_FOUR_IN_A_ROW)
		return
	}
	full := true
	for col := range Columns {
		if s.Cells[(Rows-1)*Columns+col] == 0 {
			full = false
		}
	}
	if full {
		g.over(c, 0, c4v1.End_END_DRAW)
		return
	}
	s.Turn, s.TurnEndsTick = 3-seat, c.Tick()+g.turnTicks(c)
}

// rematch records p's wish; when both players asked, the colours swap and
// a new game starts.
func (g *Game) rematch(c *room.Context[*c4v1.State], p *room.Player) {
	s := c.State
	seat := seatOf(s, p.ID())
	if s.Status != c4v1.Status_STATUS_OVER || seat == 0 || s.Red == 0 || s.Yellow == 0 {
		c.Send(p, &c4v1.MoveRefused{Reason: "no rematch now"})
		return
	}
	s.Rematch |= 1 << (seat - 1)
	if s.Rematch != 3 {
		return
	}
	s.Red, s.Yellow = s.Yellow, s.Red
	s.RedName, s.YellowName = s.YellowName, s.RedName
	s.RedWins, s.YellowWins = s.YellowWins, s.RedWins
	g.newGame(c)
}

// FourAt returns the cells of a line of four or more of the disc at (row,
// col), or nil.
func FourAt(cells []byte, row, col int) []uint32 {
	seat := cells[row*Columns+col]
	if seat == 0 {
		return nil
	}
	for _, d := range [][2]int{{0, 1}, {1, 0}, {1, 1}, {1, -1}} {
		line := []uint32{uint32(row*Columns + col)}
		for _, sign := range []int{1, -1} {
			r, c := row+sign*d[0], col+sign*d[1]
			for r >= 0 && r < Rows && c >= 0 && c < Columns && cells[r*Columns+c] == seat {
				line = append(line, uint32(r*Columns+c))
				r, c = r+sign*d[0], c+sign*d[1]
			}
		}
		if len(line) >= 4 {
			return line
		}
	}
	return nil
}

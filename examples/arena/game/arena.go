// Package game is the arena sample game's server rules: players move on a
// bounded 2D plane from direction inputs (speed clamped by the server),
// collect pickups and tag each other. The rules are documented in
// examples/arena/proto/arena/v1/arena.proto; the browser client predicts
// the local player with the same Step.
package game

import (
	"math"
	"math/rand/v2"
	"time"

	"google.golang.org/protobuf/proto"

	arenav1 "github.com/tickwire/tickwire/examples/arena/proto/arena/v1"
	"github.com/tickwire/tickwire/netcode"
	"github.com/tickwire/tickwire/room"
)

// Game constants in quarter units (see arena.proto).
const (
	Quantum      = int32(arenav1.Constants_QUANTUM)
	WorldW       = int32(arenav1.Constants_WORLD_WIDTH) * Quantum
	WorldH       = int32(arenav1.Constants_WORLD_HEIGHT) * Quantum
	SpeedQ       = float64(arenav1.Constants_SPEED_Q)
	PlayerRadius = int32(arenav1.Constants_PLAYER_RADIUS) * Quantum
	PickupRadius = int32(arenav1.Constants_PICKUP_RADIUS) * Quantum
	TagRange     = int32(arenav1.Constants_TAG_RANGE) * Quantum
	// Pickups is how many pickups a room keeps on the field.
	Pickups = 12
)

// Step applies one input to a position on the standard map, exactly as
// arena.proto specifies (float64 arithmetic in the documented order,
// truncation toward zero).
func Step(x, y int32, moveX, moveY int32) (int32, int32) {
	return StepIn(x, y, moveX, moveY, WorldW, WorldH)
}

// StepIn is Step on a world of w x h quarter units.
func StepIn(x, y int32, moveX, moveY int32, w, h int32) (int32, int32) {
	mx := float64(min(max(moveX, -127), 127))
	my := float64(min(max(moveY, -127), 127))
	l := math.Sqrt(mx*mx + my*my)
	if l > 127 {
		mx = mx * 127 / l
		my = my * 127 / l
	}
	dx := int32(math.Trunc(mx * SpeedQ / 127))
	dy := int32(math.Trunc(my * SpeedQ / 127))
	return clamp(x+dx, PlayerRadius, w-PlayerRadius), clamp(y+dy, PlayerRadius, h-PlayerRadius)
}

func clamp(v, lo, hi int32) int32 { return min(max(v, lo), hi) }

// Map describes an arena map.
type Map struct {
	// Width and Height in world units.
	Width, Height int32
	// Pickups kept on the field.
	Pickups int
	// ViewRadius, in world units, turns on interest management: each player
	// only receives the players within it. 0 sends everyone.
	ViewRadius float64
	// ViewMax, with ViewRadius, bounds the players a player receives to
	// the ViewMax nearest within the radius (itself included): in a crowd
	// a player sees its neighbours, and what it is sent stays bounded
	// however many gather. 0 is no bound.
	ViewMax int
}

// Standard is the 1600 x 900 map everyone sees whole.
var Standard = Map{Width: int32(arenav1.Constants_WORLD_WIDTH), Height: int32(arenav1.Constants_WORLD_HEIGHT), Pickups: Pickups}

// Large is an 8000 x 8000 map for big rooms, with interest management: a
// player receives the players within 1200 units, the 16 nearest at most.
var Large = Map{Width: 8000, Height: 8000, Pickups: 200, ViewRadius: 1200, ViewMax: 16}

// Rounds are the arena's timed rounds. The zero value plays 90 s rounds
// with an 8 s break showing the winner.
type Rounds struct {
	// Play is how long a round is played. Default 90 s.
	Play time.Duration
	// Break is how long the winner is shown before the next round. Default 8 s.
	Break time.Duration
}

func (r Rounds) withDefaults() Rounds {
	if r.Play <= 0 {
		r.Play = 90 * time.Second
	}
	if r.Break <= 0 {
		r.Break = 8 * time.Second
	}
	return r
}

// Spawn distances from another player on maps with a view radius, world
// units: near enough to be seen at once, not on top of each other.
const (
	spawnNearMin = 150
	spawnNearMax = 450
)

// Arena is the room handler.
type Arena struct {
	room.Base[*arenav1.State, *arenav1.Input]
	m          Map
	w, h       int32 // quarter units
	rng        *rand.Rand
	nextPickup uint32
	lastTag    map[uint32]uint32 // player id -> tick of its last tag
	lag        *netcode.LagHistory
	positions  []netcode.EntityPos
	rewound    []netcode.EntityPos
	grid       *netcode.Grid
	// pickups mirrors pickupsOf.Pickups in a slice with the positions
	// inline: collect runs for every input, and walking the map (and
	// chasing each pickup's pointer) cost more than the rest of the rules.
	pickups   []pickupPos
	pickupsOf *arenav1.State
	rounds    Rounds
	// Spawn, when set, places joining players (quarter units); tests use it.
	Spawn func(id uint32) (x, y int32)
}

// RoomTypes returns the arena's room types: "arena" (standard map, rooms of
// 10) and "arena-large" (large map, rooms of 100, interest management),
// with the default rounds.
func RoomTypes() map[string]*room.Definition { return RoomTypesWith(Rounds{}) }

// RoomTypesWith is RoomTypes with rounds r.
func RoomTypesWith(r Rounds) map[string]*room.Definition { return RoomTypesOf(Options{Rounds: r}) }

// Options configure the arena's room types. The zero value is RoomTypes.
type Options struct {
	Rounds Rounds
	// LargePlayers is the seats of an "arena-large" room. Default 100.
	LargePlayers int
	// LargeNoInterest turns interest management off in "arena-large"
	// rooms: every player gets the whole state (for comparison runs).
	LargeNoInterest bool
}

// RoomTypesOf returns the arena's room types configured by o.
func RoomTypesOf(o Options) map[string]*room.Definition {
	r := o.Rounds
	large := room.Config{TickRate: 20, MaxPlayers: 100, InterestField: "players"}
	if o.LargePlayers > 0 {
		large.MaxPlayers = o.LargePlayers
	}
	if o.LargeNoInterest {
		large.InterestField = ""
	}
	return map[string]*room.Definition{
		"arena": room.Define(room.Config{TickRate: 20, MaxPlayers: 10},
			func() room.Handler[*arenav1.State, *arenav1.Input] { return NewRounds(Standard, r) }),
		"arena-large": room.Define(large,
			func() room.Handler[*arenav1.State, *arenav1.Input] { return NewRounds(Large, r) }),
	}
}

// New returns a handler for one standard arena room.
func New() room.Handler[*arenav1.State, *arenav1.Input] { return NewMap(Standard) }

// NewMap returns a handler for one room on map m, with the default rounds.
func NewMap(m Map) *Arena { return NewRounds(m, Rounds{}) }

// NewRounds returns a handler for one room on map m with rounds r.
func NewRounds(m Map, r Rounds) *Arena {
	a := &Arena{
		m: m, w: m.Width * Quantum, h: m.Height * Quantum,
		rng:     rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		lastTag: map[uint32]uint32{},
		rounds:  r.withDefaults(),
	}
	if m.ViewRadius > 0 {
		a.grid = netcode.NewGrid(m.ViewRadius / 2)
	}
	return a
}

// Init places the pickups and starts round 1.
func (a *Arena) Init(c *room.Context[*arenav1.State], _ []byte) error {
	c.State.Players = map[uint32]*arenav1.Player{}
	c.State.Pickups = map[uint32]*arenav1.Pickup{}
	if a.m != Standard {
		c.State.WorldWidth, c.State.WorldHeight = uint32(a.m.Width), uint32(a.m.Height)
	}
	a.pickupsOf, a.pickups = c.State, a.pickups[:0]
	for range a.m.Pickups {
		a.spawnPickup(c.State)
	}
	a.lag = netcode.NewLagHistory(netcode.LagHistoryConfig{TickRate: c.TickRate()})
	a.startRound(c)
	return nil
}

type pickupPos struct {
	id, value uint32
	x, y      int32
}

func (a *Arena) spawnPickup(s *arenav1.State) {
	a.nextPickup++
	pk := &arenav1.Pickup{
		X:     PlayerRadius + a.rng.Int32N(a.w-2*PlayerRadius),
		Y:     PlayerRadius + a.rng.Int32N(a.h-2*PlayerRadius),
		Value: 1 + uint32(a.rng.IntN(3)),
	}
	s.Pickups[a.nextPickup] = pk
	if a.pickupsOf == s {
		a.pickups = append(a.pickups, pickupPos{id: a.nextPickup, value: pk.Value, x: pk.X, y: pk.Y})
	}
}

// indexPickups builds the pickup slice of s (the arena changes pickups only
// through spawnPickup and collect, which keep it in step).
func (a *Arena) indexPickups(s *arenav1.State) {
	a.pickupsOf, a.pickups = s, a.pickups[:0]
	for id, pk := range s.Pickups {
		a.pickups = append(a.pickups, pickupPos{id: id, value: pk.Value, x: pk.X, y: pk.Y})
	}
}

// JoinAttempt takes the player's name from the join options.
func (a *Arena) JoinAttempt(c *room.Context[*arenav1.State], p *room.Player, opts []byte) error {
	var jo arenav1.JoinOptions
	if err := proto.Unmarshal(opts, &jo); err != nil {
		return room.Reject("join options do not decode")
	}
	if name := sanitizeName(jo.Name); name != "" {
		c.SetPlayerName(p, name)
	}
	if p.Name() == "" {
		c.SetPlayerName(p, "player")
	}
	return nil
}

func sanitizeName(s string) string {
	out := make([]rune, 0, 16)
	for _, r := range s {
		if len(out) == 16 {
			break
		}
		if r >= 32 && r != 127 {
			out = append(out, r)
		}
	}
	return string(out)
}

// Join spawns the player at a random spot; on a map with a view radius,
// near a random other player (so that a newcomer sees someone at once).
func (a *Arena) Join(c *room.Context[*arenav1.State], p *room.Player) {
	x, y := PlayerRadius+a.rng.Int32N(a.w-2*PlayerRadius), PlayerRadius+a.rng.Int32N(a.h-2*PlayerRadius)
	if a.m.ViewRadius > 0 {
		if near := a.randomPlayer(c.State); near != nil {
			x, y = a.spawnNear(near)
		}
	}
	if a.Spawn != nil {
		x, y = a.Spawn(p.ID())
	}
	c.State.Players[p.ID()] = &arenav1.Player{X: x, Y: y, Name: p.Name(), Score: proto.Uint32(0), Hue: uint32(a.rng.IntN(360))}
	if a.grid != nil {
		q := 1.0 / float64(Quantum)
		a.grid.Update(p.ID(), netcode.Dequantize(x, q), netcode.Dequantize(y, q))
	}
}

// randomPlayer returns a uniformly chosen player of s, or nil.
func (a *Arena) randomPlayer(s *arenav1.State) *arenav1.Player {
	if len(s.Players) == 0 {
		return nil
	}
	k := a.rng.IntN(len(s.Players))
	for _, pl := range s.Players {
		if k == 0 {
			return pl
		}
		k--
	}
	return nil
}

// spawnNear returns a spot spawnNearMin..spawnNearMax world units from pl
// in a random direction, inside the world.
func (a *Arena) spawnNear(pl *arenav1.Player) (x, y int32) {
	ang := a.rng.Float64() * 2 * math.Pi
	d := float64(spawnNearMin+a.rng.IntN(spawnNearMax-spawnNearMin)) * float64(Quantum)
	x = clamp(pl.X+int32(d*math.Cos(ang)), PlayerRadius, a.w-PlayerRadius)
	y = clamp(pl.Y+int32(d*math.Sin(ang)), PlayerRadius, a.h-PlayerRadius)
	return x, y
}

// Leave removes the player from the state.
func (a *Arena) Leave(c *room.Context[*arenav1.State], p *room.Player, _ room.LeaveReason) {
	delete(c.State.Players, p.ID())
	delete(a.lastTag, p.ID())
	if a.grid != nil {
		a.grid.Remove(p.ID())
	}
	if c.State.It == p.ID() {
		c.State.It = 0
	}
}

// Tick applies the inputs: movement, pickups, tags; then it records the
// positions for lag compensation and the view grid.
func (a *Arena) Tick(c *room.Context[*arenav1.State], inputs []room.Input[*arenav1.Input]) {
	s := c.State
	a.advanceRound(c)
	playing := s.Phase == arenav1.RoundPhase_ROUND_PHASE_PLAYING
	for _, in := range inputs {
		pl := s.Players[in.Player.ID()]
		if pl == nil {
			continue
		}
		pl.X, pl.Y = StepIn(pl.X, pl.Y, in.Msg.MoveX, in.Msg.MoveY, a.w, a.h)
		if !playing {
			continue
		}
		a.collect(s, pl)
		if in.Msg.Tag {
			a.tag(c, in.Player, pl)
		}
	}
	a.positions = a.positions[:0]
	for id, pl := range s.Players {
		pos := netcode.Vec2{X: netcode.Dequantize(pl.X, 1.0/float64(Quantum)), Y: netcode.Dequantize(pl.Y, 1.0/float64(Quantum))}
		a.positions = append(a.positions, netcode.EntityPos{ID: id, Pos: pos})
		if a.grid != nil {
			a.grid.Update(id, pos.X, pos.Y)
		}
	}
	a.lag.Record(c.Tick(), a.positions)
}

// ticks converts a duration to room ticks (at least 1).
func ticks(c *room.Context[*arenav1.State], d time.Duration) uint32 {
	return uint32(max(1, (d*time.Duration(c.TickRate())+time.Second-1)/time.Second))
}

// startRound starts the next round: scores back to 0, nobody "it".
func (a *Arena) startRound(c *room.Context[*arenav1.State]) {
	s := c.State
	s.Round++
	s.Phase = arenav1.RoundPhase_ROUND_PHASE_PLAYING
	s.PhaseEndsTick = c.Tick() + ticks(c, a.rounds.Play)
	s.Winner, s.WinnerName, s.WinnerScore = 0, "", 0
	s.It = 0
	clear(a.lastTag)
	for _, pl := range s.Players {
		pl.Score = proto.Uint32(0)
	}
}

// advanceRound moves the round on at the end of its phase, and drains the
// score of "it" (1 point a second) while the round is played.
func (a *Arena) advanceRound(c *room.Context[*arenav1.State]) {
	s := c.State
	if c.Tick() >= s.PhaseEndsTick {
		if s.Phase == arenav1.RoundPhase_ROUND_PHASE_PLAYING {
			a.endRound(c)
		} else {
			a.startRound(c)
		}
		return
	}
	if s.Phase != arenav1.RoundPhase_ROUND_PHASE_PLAYING || s.It == 0 || c.Tick()%uint32(c.TickRate()) != 0 {
		return
	}
	if it := s.Players[s.It]; it != nil && it.GetScore() > 0 {
		it.Score = proto.Uint32(it.GetScore() - 1)
	}
}

// endRound ends the round: the highest score wins (ties: the lower id;
// nobody when all are 0), shown for the break.
func (a *Arena) endRound(c *room.Context[*arenav1.State]) {
	s := c.State
	var win uint32
	var best uint32
	for id, pl := range s.Players {
		if sc := pl.GetScore(); sc > best || (sc == best && sc > 0 && id < win) {
			win, best = id, sc
		}
	}
	s.Phase = arenav1.RoundPhase_ROUND_PHASE_OVER
	s.PhaseEndsTick = c.Tick() + ticks(c, a.rounds.Break)
	s.Winner, s.WinnerScore, s.WinnerName = win, best, ""
	if win != 0 {
		s.WinnerName = s.Players[win].GetName()
	}
	s.It = 0
	c.Broadcast(&arenav1.RoundOver{Round: s.Round, Winner: win, Name: s.WinnerName, Score: best})
}

// InView implements room.Interest for maps with a view radius: the players
// within ViewRadius of p (p included), the ViewMax nearest when more are.
func (a *Arena) InView(c *room.Context[*arenav1.State], p *room.Player, dst []uint32) []uint32 {
	pl := c.State.Players[p.ID()]
	if pl == nil || a.grid == nil {
		return dst
	}
	return a.inView(c.State, pl, dst)
}

func (a *Arena) inView(_ *arenav1.State, pl *arenav1.Player, dst []uint32) []uint32 {
	q := 1.0 / float64(Quantum)
	return a.grid.QueryNearest(netcode.Dequantize(pl.X, q), netcode.Dequantize(pl.Y, q), a.m.ViewRadius, a.m.ViewMax, dst)
}

func (a *Arena) collect(s *arenav1.State, pl *arenav1.Player) {
	if a.pickupsOf != s {
		a.indexPickups(s)
	}
	reach := int64(PlayerRadius + PickupRadius)
	for i := 0; i < len(a.pickups); {
		p := a.pickups[i]
		dx, dy := int64(p.x-pl.X), int64(p.y-pl.Y)
		if dx*dx+dy*dy >= reach*reach {
			i++
			continue
		}
		pl.Score = proto.Uint32(pl.GetScore() + p.value)
		delete(s.Pickups, p.id)
		last := len(a.pickups) - 1
		a.pickups[i] = a.pickups[last] // i is looked at again
		a.pickups = a.pickups[:last]
		a.spawnPickup(s)
	}
}

// tag tags the nearest other player within TagRange of the tagger, with
// the others where the tagger saw them: rewound to the command tick (server
// tick minus the tagger's RTT and interpolation delay). The rewind covers
// at most the lag history (1 s).
func (a *Arena) tag(c *room.Context[*arenav1.State], p *room.Player, pl *arenav1.Player) {
	if last, ok := a.lastTag[p.ID()]; ok && c.Tick()-last < uint32(c.TickRate()) {
		return
	}
	a.lastTag[p.ID()] = c.Tick()
	at := netcode.CommandTick(c.Tick(), c.TickRate(), p.RTT(), p.InterpDelay())
	a.rewound = a.lag.Rewind(at, a.rewound[:0])
	q := 1.0 / float64(Quantum)
	me := netcode.Vec2{X: netcode.Dequantize(pl.X, q), Y: netcode.Dequantize(pl.Y, q)}
	best, bestD := uint32(0), float64(arenav1.Constants_TAG_RANGE)*float64(arenav1.Constants_TAG_RANGE)
	for _, e := range a.rewound { // sorted by id: ties go to the lowest id
		if e.ID == p.ID() || c.State.Players[e.ID] == nil {
			continue
		}
		dx, dy := e.Pos.X-me.X, e.Pos.Y-me.Y
		if d := dx*dx + dy*dy; d < bestD || (d == bestD && best == 0) {
			best, bestD = e.ID, d
		}
	}
	if best == 0 {
		return
	}
	pl.Score = proto.Uint32(pl.GetScore() + 5)
	c.State.It = best
	c.Broadcast(&arenav1.Tagged{Tagger: p.ID(), Target: best, Tick: c.Tick()})
}

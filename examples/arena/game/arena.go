// Package game is the arena sample game's server rules: players move on a
// bounded 2D plane from direction inputs (speed clamped by the server),
// collect pickups and tag each other. The rules are documented in
// examples/arena/proto/arena/v1/arena.proto; the browser client predicts
// the local player with the same Step.
package game

import (
	"math"
	"math/rand/v2"

	"google.golang.org/protobuf/proto"

	arenav1 "github.com/tickwire/tickwire/examples/arena/proto/arena/v1"
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
	// TagCooldownTicks is how long a player must wait between tags.
	TagCooldownTicks = 20
)

// Step applies one input to a position, exactly as arena.proto specifies
// (float64 arithmetic in the documented order, truncation toward zero).
func Step(x, y int32, moveX, moveY int32) (int32, int32) {
	mx := float64(min(max(moveX, -127), 127))
	my := float64(min(max(moveY, -127), 127))
	l := math.Sqrt(mx*mx + my*my)
	if l > 127 {
		mx = mx * 127 / l
		my = my * 127 / l
	}
	dx := int32(math.Trunc(mx * SpeedQ / 127))
	dy := int32(math.Trunc(my * SpeedQ / 127))
	return clamp(x+dx, PlayerRadius, WorldW-PlayerRadius), clamp(y+dy, PlayerRadius, WorldH-PlayerRadius)
}

func clamp(v, lo, hi int32) int32 { return min(max(v, lo), hi) }

// Arena is the room handler.
type Arena struct {
	room.Base[*arenav1.State]
	rng        *rand.Rand
	nextPickup uint32
	lastTag    map[uint32]uint32 // player id -> tick of its last tag
	in         arenav1.Input
	// BadInputs counts inputs whose payload did not decode.
	BadInputs int
}

// New returns a handler for one arena room.
func New() room.Handler[*arenav1.State] {
	return &Arena{rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), lastTag: map[uint32]uint32{}}
}

// Init places the pickups.
func (a *Arena) Init(c *room.Context[*arenav1.State], _ []byte) error {
	c.State.Players = map[uint32]*arenav1.Player{}
	c.State.Pickups = map[uint32]*arenav1.Pickup{}
	for range Pickups {
		a.spawnPickup(c.State)
	}
	return nil
}

func (a *Arena) spawnPickup(s *arenav1.State) {
	a.nextPickup++
	s.Pickups[a.nextPickup] = &arenav1.Pickup{
		X:     PlayerRadius + a.rng.Int32N(WorldW-2*PlayerRadius),
		Y:     PlayerRadius + a.rng.Int32N(WorldH-2*PlayerRadius),
		Value: 1 + uint32(a.rng.IntN(3)),
	}
}

// JoinAttempt takes the player's name from the join options.
func (a *Arena) JoinAttempt(_ *room.Context[*arenav1.State], p *room.Player, opts []byte) error {
	var jo arenav1.JoinOptions
	if err := proto.Unmarshal(opts, &jo); err != nil {
		return room.Reject("join options do not decode")
	}
	if name := sanitizeName(jo.Name); name != "" {
		p.Name = name
	}
	if p.Name == "" {
		p.Name = "player"
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

// Join spawns the player at a random spot.
func (a *Arena) Join(c *room.Context[*arenav1.State], p *room.Player) {
	c.State.Players[p.ID] = &arenav1.Player{
		X:     PlayerRadius + a.rng.Int32N(WorldW-2*PlayerRadius),
		Y:     PlayerRadius + a.rng.Int32N(WorldH-2*PlayerRadius),
		Name:  p.Name,
		Score: proto.Uint32(0),
		Hue:   uint32(a.rng.IntN(360)),
	}
}

// Leave removes the player from the state.
func (a *Arena) Leave(c *room.Context[*arenav1.State], p *room.Player, _ room.LeaveReason) {
	delete(c.State.Players, p.ID)
	delete(a.lastTag, p.ID)
	if c.State.It == p.ID {
		c.State.It = 0
	}
}

// Tick applies the inputs: movement, pickups, tags.
func (a *Arena) Tick(c *room.Context[*arenav1.State], inputs []room.Input) {
	s := c.State
	for _, in := range inputs {
		pl := s.Players[in.Player.ID]
		if pl == nil {
			continue
		}
		a.in.Reset()
		if err := proto.Unmarshal(in.Payload, &a.in); err != nil {
			a.BadInputs++
			continue
		}
		pl.X, pl.Y = Step(pl.X, pl.Y, a.in.MoveX, a.in.MoveY)
		a.collect(s, pl)
		if a.in.Tag {
			a.tag(c, in.Player.ID, pl)
		}
	}
}

func (a *Arena) collect(s *arenav1.State, pl *arenav1.Player) {
	reach := int64(PlayerRadius + PickupRadius)
	for id, pk := range s.Pickups {
		dx, dy := int64(pk.X-pl.X), int64(pk.Y-pl.Y)
		if dx*dx+dy*dy < reach*reach {
			pl.Score = proto.Uint32(pl.GetScore() + pk.Value)
			delete(s.Pickups, id)
			a.spawnPickup(s)
		}
	}
}

// tag tags the nearest other player within TagRange.
func (a *Arena) tag(c *room.Context[*arenav1.State], id uint32, pl *arenav1.Player) {
	if last, ok := a.lastTag[id]; ok && c.Tick()-last < TagCooldownTicks {
		return
	}
	a.lastTag[id] = c.Tick()
	best, bestD := uint32(0), int64(TagRange)*int64(TagRange)
	for oid, o := range c.State.Players {
		if oid == id {
			continue
		}
		dx, dy := int64(o.X-pl.X), int64(o.Y-pl.Y)
		if d := dx*dx + dy*dy; d <= bestD && (best == 0 || d < bestD || oid < best) {
			best, bestD = oid, d
		}
	}
	if best == 0 {
		return
	}
	pl.Score = proto.Uint32(pl.GetScore() + 5)
	c.State.It = best
	ev, _ := proto.Marshal(&arenav1.Tagged{Tagger: id, Target: best, Tick: c.Tick()})
	c.Broadcast(uint32(arenav1.MessageType_MESSAGE_TYPE_TAGGED), ev)
}

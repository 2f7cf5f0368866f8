package game

import (
	"testing"

	"google.golang.org/protobuf/proto"

	arenav1 "github.com/tickwire/tickwire/examples/arena/proto/arena/v1"
	"github.com/tickwire/tickwire/netcode"
)

func TestStep(t *testing.T) {
	tests := []struct {
		name         string
		x, y, mx, my int32
		wx, wy       int32
	}{
		{"still", 1000, 1000, 0, 0, 1000, 1000},
		{"right full", 1000, 1000, 127, 0, 1048, 1000},
		{"left full", 1000, 1000, -127, 0, 952, 1000},
		{"diagonal is clamped to unit length", 1000, 1000, 127, 127, 1033, 1033},
		{"half speed truncates toward zero", 1000, 1000, 64, -64, 1024, 976},
		{"out of range input clamped", 1000, 1000, 100000, 0, 1048, 1000},
		{"wall", PlayerRadius + 10, 1000, -127, 0, PlayerRadius, 1000},
		{"far wall", WorldW - PlayerRadius - 1, WorldH - PlayerRadius - 1, 127, 127, WorldW - PlayerRadius, WorldH - PlayerRadius},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, y := Step(tt.x, tt.y, tt.mx, tt.my)
			if x != tt.wx || y != tt.wy {
				t.Fatalf("Step = (%d,%d), want (%d,%d)", x, y, tt.wx, tt.wy)
			}
		})
	}
}

// arenaState is a room with n players and the usual pickups.
func arenaState(n int) *arenav1.State {
	s := &arenav1.State{Players: map[uint32]*arenav1.Player{}, Pickups: map[uint32]*arenav1.Pickup{}}
	for i := 1; i <= n; i++ {
		s.Players[uint32(i)] = &arenav1.Player{X: int32(1000 + 40*i), Y: int32(800 + 30*i), Name: "bot", Score: proto.Uint32(0), Hue: uint32(i * 30)}
	}
	for i := 1; i <= Pickups; i++ {
		s.Pickups[uint32(i)] = &arenav1.Pickup{X: int32(300 * i), Y: int32(200 * i), Value: 1}
	}
	return s
}

// TestDeltaSizeArena10 checks the bandwidth budget of a 10-player tick where
// every player moves (issue target: state message <= 72 bytes and <= 35% of
// a full snapshot).
func TestDeltaSizeArena10(t *testing.T) {
	base := arenaState(10)
	cur := proto.Clone(base).(*arenav1.State)
	for id, p := range cur.Players {
		p.X, p.Y = Step(p.X, p.Y, int32(id%3)*64-64, 127-int32(id%2)*254)
	}
	patch, err := netcode.Diff(base, cur)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := proto.Marshal(cur)
	// Envelope: ServerMessage.state tag+len, tick, baseline, last seq (3-byte
	// varints as after ~2 hours at 20 Hz) and the payload tag+len.
	frame := 2 + 4 + 4 + 3 + 2 + len(patch)
	t.Logf("patch %d bytes, frame ~%d bytes, full state %d bytes", len(patch), frame, len(full))
	if frame > 72 {
		t.Errorf("state frame ~%d bytes, budget 72", frame)
	}
	if float64(len(patch)) > 0.35*float64(len(full)) {
		t.Errorf("patch %d bytes is more than 35%% of the full %d", len(patch), len(full))
	}
}

// BenchmarkArenaTick measures one arena-10 server tick the way a room runs
// it: 10 inputs decoded (as package room's adapter does, into a reused
// message) and applied, a snapshot committed, one shared patch encoded.
func BenchmarkArenaTick(b *testing.B) {
	a := New().(*Arena)
	state := arenaState(10)
	repl := netcode.NewReplicator(netcode.ReplicatorConfig{})
	in, _ := proto.Marshal(&arenav1.Input{MoveX: 90, MoveY: -90})
	b.ReportAllocs()
	tick := uint32(0)
	var msg arenav1.Input
	for b.Loop() {
		tick++
		for id, p := range state.Players {
			_ = proto.Unmarshal(in, &msg)
			p.X, p.Y = Step(p.X, p.Y, msg.MoveX*int32(1-2*int(id%2)), msg.MoveY)
			a.collect(state, p)
		}
		repl.Commit(tick, state)
		if _, _, err := repl.Encode(tick - 1); err != nil {
			b.Fatal(err)
		}
	}
}

// collect keeps its pickup slice in step with the state's map: whatever a
// player walks over is scored once, removed and replaced.
func TestCollectKeepsPickupsInStep(t *testing.T) {
	a := New().(*Arena)
	s := arenaState(10)
	a.nextPickup = Pickups // arenaState numbered its pickups 1..Pickups
	total := func() (n uint32) {
		for _, p := range s.Players {
			n += p.GetScore()
		}
		return n
	}
	// A player right on pickup 3 collects it on its first step.
	pl := s.Players[1]
	pl.X, pl.Y = s.Pickups[3].X, s.Pickups[3].Y
	want := s.Pickups[3].Value
	a.collect(s, pl)
	if _, ok := s.Pickups[3]; ok || pl.GetScore() < want || len(s.Pickups) != Pickups {
		t.Fatalf("after collecting pickup 3: score %d (want >= %d), pickups %d, 3 still there: %v", pl.GetScore(), want, len(s.Pickups), ok)
	}
	// Walk everyone around for a while: the slice always mirrors the map.
	scored := total()
	for step := range 4000 {
		for id, p := range s.Players {
			p.X, p.Y = Step(p.X, p.Y, int32(id%5)*60-120, 127-int32((step/50+int(id))%3)*127)
			a.collect(s, p)
			if len(s.Pickups) != Pickups {
				t.Fatalf("step %d: %d pickups, want %d", step, len(s.Pickups), Pickups)
			}
		}
		if len(a.pickups) != len(s.Pickups) {
			t.Fatalf("step %d: slice has %d pickups, map %d", step, len(a.pickups), len(s.Pickups))
		}
		for _, p := range a.pickups {
			pk := s.Pickups[p.id]
			if pk == nil || pk.X != p.x || pk.Y != p.y || pk.Value != p.value {
				t.Fatalf("step %d: slice entry %+v does not match map entry %v", step, p, pk)
			}
		}
	}
	if total() <= scored {
		t.Errorf("nobody collected anything in 4000 steps (score %d)", total())
	}
}

package game

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"

	arenav1 "github.com/tickwire/tickwire/examples/arena/proto/arena/v1"
	"github.com/tickwire/tickwire/netcode"
)

// largeRoom is a 200-player room on the large map as the load test plays
// it: players spawn near one another (spawnNear) and walk in a direction
// that changes about once a second.
type largeRoom struct {
	a     *Arena
	s     *arenav1.State
	rng   *rand.Rand
	dir   map[uint32][2]int32
	repl  *netcode.Replicator
	vf    *netcode.ViewFilter
	views map[uint32]*netcode.ViewEncoder
	cache netcode.DiffCache
	tick  uint32
	ids   []uint32
	buf   []byte // the tick's payloads (step empties it)
}

func newLargeRoom(tb testing.TB, n int) *largeRoom {
	a := NewMap(Large)
	s := &arenav1.State{Players: map[uint32]*arenav1.Player{}, Pickups: map[uint32]*arenav1.Pickup{}, WorldWidth: uint32(Large.Width), WorldHeight: uint32(Large.Height)}
	a.pickupsOf = s
	for range Large.Pickups {
		a.spawnPickup(s)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	lr := &largeRoom{a: a, s: s, rng: rng, dir: map[uint32][2]int32{}, repl: netcode.NewReplicator(netcode.ReplicatorConfig{}), views: map[uint32]*netcode.ViewEncoder{}}
	for id := uint32(1); id <= uint32(n); id++ {
		x, y := PlayerRadius+rng.Int32N(a.w-2*PlayerRadius), PlayerRadius+rng.Int32N(a.h-2*PlayerRadius)
		if near := a.randomPlayer(s); near != nil {
			x, y = a.spawnNear(near)
		}
		s.Players[id] = &arenav1.Player{X: x, Y: y, Name: "bot", Score: proto.Uint32(0), Hue: uint32(rng.IntN(360))}
	}
	vf, err := netcode.NewViewFilter(s.ProtoReflect().Descriptor(), "players")
	if err != nil {
		tb.Fatal(err)
	}
	lr.vf = vf
	for id := range lr.s.Players {
		lr.views[id] = netcode.NewViewEncoder(vf, netcode.ViewEncoderConfig{})
		lr.views[id].SetCache(&lr.cache)
	}
	return lr
}

// step moves everyone one tick and commits the state.
func (lr *largeRoom) step() {
	lr.tick++
	q := 1.0 / float64(Quantum)
	for id, p := range lr.s.Players {
		d, ok := lr.dir[id]
		if !ok || lr.rng.IntN(20) == 0 {
			d = [2]int32{lr.rng.Int32N(255) - 127, lr.rng.Int32N(255) - 127}
			lr.dir[id] = d
		}
		p.X, p.Y = StepIn(p.X, p.Y, d[0], d[1], lr.a.w, lr.a.h)
		lr.a.collect(lr.s, p)
		lr.a.grid.Update(id, netcode.Dequantize(p.X, q), netcode.Dequantize(p.Y, q))
	}
	lr.repl.Commit(lr.tick, lr.s)
	lr.cache.Reset()
	lr.buf = lr.buf[:0]
}

// encode builds and encodes player id's view against its previous tick.
func (lr *largeRoom) encode(tb testing.TB, id uint32) (inView, bytes int) {
	p := lr.s.Players[id]
	lr.ids = lr.a.inView(lr.s, p, lr.ids[:0])
	_, snap := lr.repl.Latest()
	start := len(lr.buf)
	var err error
	lr.buf, _, err = lr.views[id].AppendEncode(lr.buf, lr.tick, snap, lr.ids, 0, lr.tick-1)
	if err != nil {
		tb.Fatal(err)
	}
	return len(lr.ids), len(lr.buf) - start
}

// TestLargeRoomStateBytes: in a 200-player room on the large map, where
// players spawn near one another and crowd, a player is sent its 16
// nearest and its states stay within the big-room budget (2 KB/s at 20 Hz,
// envelope included: 100 bytes of patch a state at most). It logs the
// figures over the first 20 s of play.
func TestLargeRoomStateBytes(t *testing.T) {
	lr := newLargeRoom(t, 200)
	for sec := 1; sec <= 20; sec++ {
		var inView, bytes, n int
		for range 20 {
			lr.step()
			for id := range lr.s.Players {
				v, b := lr.encode(t, id)
				inView, bytes, n = inView+v, bytes+b, n+1
			}
		}
		perState := float64(bytes) / float64(n)
		if sec%5 == 0 || sec == 1 {
			t.Logf("%2ds: %.1f players in view, %.0f patch bytes per state (%.0f B/s at 20 Hz)", sec, float64(inView)/float64(n), perState, 20*perState)
		}
		if float64(inView)/float64(n) > float64(Large.ViewMax) {
			t.Fatalf("%.1f players in view, more than ViewMax %d", float64(inView)/float64(n), Large.ViewMax)
		}
		if sec >= 5 && perState > 100 {
			t.Fatalf("%ds: %.0f patch bytes per state, budget 100", sec, perState)
		}
	}
}

// BenchmarkLargeRoomView measures the per-player work of a send tick in a
// 200-player room on the large map: the player's view (grid query, the 16
// nearest) and its patch against the player's view of the previous tick.
func BenchmarkLargeRoomView(b *testing.B) {
	lr := newLargeRoom(b, 200)
	for range 200 { // 10 s of play: the crowd has spread a little
		lr.step()
	}
	ids := make([]uint32, 0, len(lr.s.Players))
	for id := range lr.s.Players {
		ids = append(ids, id)
	}
	for range 64 { // a history of views: the encoders' rings have grown
		lr.step()
		for _, id := range ids {
			lr.encode(b, id)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%len(ids) == 0 {
			b.StopTimer()
			lr.step()
			b.StartTimer()
		}
		lr.encode(b, ids[i%len(ids)])
		i++
	}
}

// The room's DiffCache changes no byte: every player's patch is the one an
// encoder without it makes, and the Diff of the two views, tick after
// tick, joins and pickups included.
func TestDiffCacheSamePatches(t *testing.T) {
	lr := newLargeRoom(t, 60)
	plain := map[uint32]*netcode.ViewEncoder{}
	prev := map[uint32][]uint32{}
	for id := range lr.s.Players {
		plain[id] = netcode.NewViewEncoder(lr.vf, netcode.ViewEncoderConfig{})
	}
	var prevSnap proto.Message
	for range 100 {
		lr.step()
		_, snap := lr.repl.Latest()
		cur := map[uint32][]uint32{}
		for id, p := range lr.s.Players {
			ids := lr.a.inView(lr.s, p, nil)
			cur[id] = ids
			got, _, err := lr.views[id].AppendEncode(nil, lr.tick, snap, ids, 0, lr.tick-1)
			if err != nil {
				t.Fatal(err)
			}
			want, _, err := plain[id].Encode(lr.tick, snap, ids, lr.tick-1)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("tick %d player %d: patch with the cache %x, without %x", lr.tick, id, got, want)
			}
			if prevSnap != nil {
				bv, _ := lr.vf.View(prevSnap, prev[id])
				cv, _ := lr.vf.View(snap, ids)
				diff, err := netcode.Diff(bv, cv)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, diff) {
					t.Fatalf("tick %d player %d: patch %x, Diff of the views %x", lr.tick, id, got, diff)
				}
			}
		}
		prev, prevSnap = cur, snap
	}
}

package netcode

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/tickwire/tickwire/netcode/internal/randmsg"
	"github.com/tickwire/tickwire/netcode/internal/testpb"
)

// TestViewEncoderMatchesDiff: a ViewEncoder's patch (built from two
// snapshots and their ids, with and without a DiffCache shared by several
// clients) is byte for byte Diff of the two views ViewFilter.View builds,
// for random states and views: ids absent from the map, repeated or
// unsorted, views that empty or fill, entities added and removed, keys of
// each integer type, and messages that are not generated structs.
func TestViewEncoderMatchesDiff(t *testing.T) {
	dyn := func(m proto.Message) proto.Message {
		d := dynamicpb.NewMessage(m.ProtoReflect().Descriptor())
		proto.Merge(d, m)
		return d
	}
	cases := []struct {
		name  string
		field protoreflect.Name
		new   func(g *randmsg.Gen) proto.Message
	}{
		{"uint32 keys", "entities", func(g *randmsg.Gen) proto.Message {
			w := benchWorld(40)
			for id := uint32(1); id <= 40; id++ {
				if g.R.IntN(4) == 0 {
					delete(w.Entities, id)
				}
			}
			return w
		}},
		{"int32 keys", "m_i32_inner", func(g *randmsg.Gen) proto.Message {
			s := &testpb.TestState{}
			g.Fill(s.ProtoReflect())
			return s
		}},
		{"sint32 keys", "m_s32_leaf", func(g *randmsg.Gen) proto.Message {
			s := &testpb.TestState{}
			g.Fill(s.ProtoReflect())
			return s
		}},
		{"dynamicpb", "entities", func(g *randmsg.Gen) proto.Message { return dyn(benchWorld(30)) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := randmsg.New(7)
			state := tc.new(g)
			vf, err := NewViewFilter(state.ProtoReflect().Descriptor(), tc.field)
			if err != nil {
				t.Fatal(err)
			}
			fd := state.ProtoReflect().Descriptor().Fields().ByName(tc.field)
			const clients = 4
			var cache DiffCache
			var layouts Layouts
			shared := make([]*ViewEncoder, clients) // through the cache and one Layouts
			plain := make([]*ViewEncoder, clients)
			for i := range clients {
				shared[i], plain[i] = NewViewEncoder(vf, ViewEncoderConfig{History: 8, Layouts: &layouts}), NewViewEncoder(vf, ViewEncoderConfig{History: 8})
				shared[i].SetCache(&cache)
			}
			snaps := map[uint32]proto.Message{}
			ids := map[[2]uint32][]uint32{} // (client, tick) -> ids
			rng := rand.New(rand.NewPCG(1, 2))
			var buf []byte
			for tick := uint32(1); tick <= 60; tick++ {
				g.Mutate(state.ProtoReflect())
				snap := proto.Clone(state)
				snaps[tick] = snap
				// The ids of the map, as uint32 (View converts back).
				var keys []uint32
				snap.ProtoReflect().Get(fd).Map().Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
					switch v := k.Interface().(type) {
					case int32:
						keys = append(keys, uint32(v))
					case uint32:
						keys = append(keys, v)
					}
					return true
				})
				cache.Reset()
				for c := range clients {
					var vids []uint32
					if len(keys) > 0 && rng.IntN(8) != 0 {
						for range rng.IntN(12) {
							vids = append(vids, keys[rng.IntN(len(keys))]) // repeats, any order
						}
					}
					vids = append(vids, uint32(rng.IntN(1000))) // likely absent
					ids[[2]uint32{uint32(c), tick}] = vids
					baseline := tick - 1 - uint32(rng.IntN(3))
					if rng.IntN(10) == 0 {
						baseline = 0
					}
					start := len(buf)
					buf, _, err = shared[c].AppendEncode(buf, tick, snap, vids, 0, baseline)
					if err != nil {
						t.Fatal(err)
					}
					got := buf[start:]
					got2, used, err := plain[c].Encode(tick, snap, vids, baseline)
					if err != nil {
						t.Fatal(err)
					}
					cur, err := vf.View(snap, vids)
					if err != nil {
						t.Fatal(err)
					}
					var want []byte
					if used == 0 {
						want, _ = proto.MarshalOptions{Deterministic: true}.Marshal(cur)
					} else {
						base, err := vf.View(snaps[used], ids[[2]uint32{uint32(c), used}])
						if err != nil {
							t.Fatal(err)
						}
						if want, err = Diff(base, cur); err != nil {
							t.Fatal(err)
						}
					}
					if !bytes.Equal(got, want) || !bytes.Equal(got2, want) {
						t.Fatalf("tick %d client %d baseline %d (used %d): with the cache %x, without %x, Diff of the views %x", tick, c, baseline, used, got, got2, want)
					}
				}
			}
		})
	}
}

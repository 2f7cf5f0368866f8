package netcode

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/tickwire/tickwire/netcode/internal/randmsg"
	"github.com/tickwire/tickwire/netcode/internal/testpb"
)

// FuzzApply applies arbitrary bytes to a random baseline: Apply must return
// an error wrapping a sentinel or leave a valid (marshalable) message.
func FuzzApply(f *testing.F) {
	g := randmsg.New(7)
	for i := 0; i < 16; i++ {
		base := &testpb.TestState{}
		g.Fill(base.ProtoReflect())
		cur := proto.Clone(base).(*testpb.TestState)
		g.Mutate(cur.ProtoReflect())
		p, err := Diff(base, cur)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint64(i), p)
	}
	f.Add(uint64(0), []byte{0x80, 0x80, 0xff, 0xff, 0x7f})
	var ap Applier
	f.Fuzz(func(t *testing.T, seed uint64, patch []byte) {
		base := &testpb.TestState{}
		randmsg.New(seed % 64).Fill(base.ProtoReflect())
		// The Applier (Go struct fast path) must agree with the
		// protoreflect-only path.
		fast := proto.Clone(base).(*testpb.TestState)
		ferr := ap.Apply(fast, patch)
		err := applyWith(nil, base, patch)
		if (err == nil) != (ferr == nil) {
			t.Fatalf("protoreflect Apply error %v, Applier error %v", err, ferr)
		}
		if err == nil && !proto.Equal(base, fast) {
			t.Fatalf("Apply and Applier disagree:\n%v\n%v", base, fast)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformedPatch) && !errors.Is(err, ErrTooDeep) {
				t.Fatalf("error without sentinel: %v", err)
			}
			return
		}
		if _, err := proto.Marshal(base); err != nil {
			t.Fatalf("Apply accepted a patch that leaves an invalid message: %v", err)
		}
	})
}

// FuzzDiffApply builds two TestStates from fuzz bytes (protobuf encodings)
// and checks the round-trip property.
func FuzzDiffApply(f *testing.F) {
	g := randmsg.New(8)
	for i := 0; i < 16; i++ {
		a, b := &testpb.TestState{}, &testpb.TestState{}
		g.Fill(a.ProtoReflect())
		if i%2 == 0 {
			b = proto.Clone(a).(*testpb.TestState)
			g.Mutate(b.ProtoReflect())
		} else {
			g.Fill(b.ProtoReflect())
		}
		ab, _ := proto.Marshal(a)
		bb, _ := proto.Marshal(b)
		f.Add(ab, bb)
	}
	var ap Applier
	var cp copier
	md := (&testpb.TestState{}).ProtoReflect().Descriptor()
	f.Fuzz(func(t *testing.T, ab, bb []byte) {
		opts := proto.UnmarshalOptions{DiscardUnknown: true}
		base, cur, got := &testpb.TestState{}, &testpb.TestState{}, &testpb.TestState{}
		if opts.Unmarshal(ab, base) != nil || opts.Unmarshal(bb, cur) != nil || opts.Unmarshal(ab, got) != nil {
			return
		}
		if !proto.Equal(cur, cur) { // NaN never equals itself
			return
		}
		patch, err := Diff(base, cur)
		if err != nil {
			t.Fatalf("Diff: %v", err)
		}
		if err := applyWith(nil, got, patch); err != nil {
			t.Fatalf("Apply: %v (patch %x)", err, patch)
		}
		if !proto.Equal(got, cur) {
			t.Fatalf("round trip mismatch\nbase=%v\ncur=%v\ngot=%v", base, cur, got)
		}
		// The Go struct fast paths agree with the protoreflect paths.
		dbase, dcur := dynamicpb.NewMessage(md), dynamicpb.NewMessage(md)
		if opts.Unmarshal(ab, dbase) != nil || opts.Unmarshal(bb, dcur) != nil {
			t.Fatal("dynamicpb rejects what testpb accepts")
		}
		if slow, err := Diff(dbase, dcur); err != nil || !bytes.Equal(slow, patch) {
			t.Fatalf("protoreflect Diff %x (%v), fast Diff %x", slow, err, patch)
		}
		got2 := proto.Clone(base)
		if err := ap.Apply(got2, patch); err != nil || !proto.Equal(got2, cur) {
			t.Fatalf("Applier: %v", err)
		}
		// Copy into a recycled message holding base.
		if !cp.copyInto(got2, base) || !proto.Equal(got2, base) {
			t.Fatal("copyInto over cur does not give base")
		}
	})
}

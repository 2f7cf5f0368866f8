package netcode

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/tickwire/tickwire/netcode/internal/randmsg"
	"github.com/tickwire/tickwire/netcode/internal/testpb"
)

func checkRoundTrip(t testing.TB, base, cur proto.Message) []byte {
	t.Helper()
	patch, err := Diff(base, cur)
	if err != nil {
		t.Fatalf("Diff: %v", err)
	}
	again, err := AppendDiff([]byte("prefix"), base, cur)
	if err != nil || !bytes.Equal(again[6:], patch) || string(again[:6]) != "prefix" {
		t.Fatalf("AppendDiff not deterministic or clobbered prefix: %x vs %x (%v)", again, patch, err)
	}
	got := proto.Clone(base)
	if err := Apply(got, patch); err != nil {
		t.Fatalf("Apply: %v\nbase=%v\ncur=%v\npatch=%x", err, base, cur, patch)
	}
	if !proto.Equal(got, cur) {
		t.Fatalf("round trip mismatch\nbase=%v\ncur=%v\ngot=%v\npatch=%x", base, cur, got, patch)
	}
	return patch
}

func TestDiffApplyRandom(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	g := randmsg.New(1)
	for i := 0; i < n; i++ {
		base := &testpb.TestState{}
		g.Fill(base.ProtoReflect())
		var cur *testpb.TestState
		if i%3 == 0 {
			cur = &testpb.TestState{}
			g.Fill(cur.ProtoReflect())
		} else {
			cur = proto.Clone(base).(*testpb.TestState)
			g.Mutate(cur.ProtoReflect())
		}
		checkRoundTrip(t, base, cur)
		if p := checkRoundTrip(t, cur, cur); !bytes.Equal(p, []byte{0}) {
			t.Fatalf("Diff(x, x) = %x, want 00", p)
		}
	}
}

func TestDiffOps(t *testing.T) {
	u := func(v uint32) *uint32 { return &v }
	i32 := func(v int32) *int32 { return &v }
	tests := []struct {
		name      string
		base, cur *testpb.TestState
		want      []byte
	}{
		{"empty", &testpb.TestState{}, &testpb.TestState{}, []byte{0x00}},
		// i32 is field 0: SET 5 -> mask 0x01, value 0x05.
		{"set implicit", &testpb.TestState{}, &testpb.TestState{I32: 5}, []byte{0x01, 0x05}},
		// 100 -> 101: PATCH (zigzag 1 = 0x02) beats SET (1 byte 0x65)? equal size, so SET.
		{"small change is set when not smaller", &testpb.TestState{I32: 100}, &testpb.TestState{I32: 101}, []byte{0x01, 0x65}},
		// 1000 -> 1001: value is 2 bytes, delta 1 byte -> PATCH.
		{"patch int", &testpb.TestState{I32: 1000}, &testpb.TestState{I32: 1001}, []byte{0x03, 0x02}},
		{"clear implicit to zero", &testpb.TestState{I32: 7}, &testpb.TestState{}, []byte{0x02}},
		// opt_i32 is field index 16: bits 32,33 -> byte 4 (bits 28..34), positions 4,5.
		{"set optional zero", &testpb.TestState{}, &testpb.TestState{OptI32: i32(0)}, []byte{0x80, 0x80, 0x80, 0x80, 0x10, 0x00}},
		{"clear optional", &testpb.TestState{OptI32: i32(0)}, &testpb.TestState{}, []byte{0x80, 0x80, 0x80, 0x80, 0x20}},
		{"nested patch", &testpb.TestState{Inner: &testpb.Inner{Score: u(1)}}, &testpb.TestState{Inner: &testpb.Inner{Score: u(1), X: 3}},
			// inner is index 25: bits 50,51 -> byte 7 bits 1,2 = PATCH 0b110; nested mask x SET -> 0x01, zigzag(3)=6.
			[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x06, 0x01, 0x06}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := checkRoundTrip(t, tc.base, tc.cur)
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("Diff = %x, want %x", got, tc.want)
			}
		})
	}
}

func TestDiffArenaMove(t *testing.T) {
	base := &testpb.World{Entities: map[uint32]*testpb.Entity{7: {X: 400, Y: 400, Name: "a", Hue: 10}}}
	cur := proto.Clone(base).(*testpb.World)
	cur.Entities[7].X += 3
	cur.Entities[7].Y -= 2
	// Map PATCH (field 0 op 3): 0 removed, 0 set, 1 patched: key 7, mask x,y PATCH (0x0f), deltas 6, 3.
	want := []byte{0x03, 0x00, 0x00, 0x01, 0x07, 0x0f, 0x06, 0x03}
	if got := checkRoundTrip(t, base, cur); !bytes.Equal(got, want) {
		t.Fatalf("Diff = %x, want %x", got, want)
	}
}

func TestDiffTypeMismatch(t *testing.T) {
	if _, err := Diff(&testpb.TestState{}, &testpb.Inner{}); !errors.Is(err, ErrTypeMismatch) {
		t.Fatalf("err = %v, want ErrTypeMismatch", err)
	}
	if _, err := Diff(nil, &testpb.Inner{}); !errors.Is(err, ErrTypeMismatch) {
		t.Fatalf("err = %v, want ErrTypeMismatch", err)
	}
	// A nil pointer base is the empty message.
	patch, err := Diff((*testpb.Inner)(nil), &testpb.Inner{X: 1})
	if err != nil || !bytes.Equal(patch, []byte{0x01, 0x02}) {
		t.Fatalf("Diff from nil = %x, %v", patch, err)
	}
}

func deepValue(levels int) *structpb.Value {
	v := structpb.NewNumberValue(1)
	for i := 0; i < levels; i++ {
		v = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"a": v}})
	}
	return v
}

func TestDepthLimit(t *testing.T) {
	if _, err := Diff(deepValue(30), deepValue(30)); err != nil {
		t.Fatalf("depth 61 message: %v", err)
	}
	if _, err := Diff(deepValue(100), deepValue(100)); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("Diff err = %v, want ErrTooDeep", err)
	}
	// A patch nesting Value.struct_value PATCH -> Struct.fields PATCH -> "a" 100 times.
	var patch []byte
	for i := 0; i < 100; i++ {
		patch = append(patch, 0x80, 0x06, 0x03, 0, 0, 1, 1, 'a')
	}
	patch = append(patch, 0x00)
	if err := Apply(deepValue(100), patch); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("Apply err = %v, want ErrTooDeep", err)
	}
}

func TestApplyRejects(t *testing.T) {
	base := func() *testpb.TestState {
		return &testpb.TestState{I32: 1000, B: true, Str: "s", RI32: []int32{1},
			MStrI32: map[string]int32{"k": 1}, MBoolStr: map[bool]string{true: "x"}}
	}
	tests := []struct {
		name  string
		patch []byte
	}{
		{"empty input", nil},
		{"truncated mask", []byte{0x80}},
		{"trailing bytes", []byte{0x00, 0x00}},
		{"truncated value", []byte{0x01}},
		{"truncated varint", []byte{0x01, 0x80}},
		// b is index 12: bits 24,25 -> byte 3 bits 3,4.
		{"patch on bool", []byte{0x80, 0x80, 0x80, 0x18, 0x00}},
		// i64 (index 1) is unset in base.
		{"patch missing field", []byte{0x0c, 0x02}},
		{"op past fields", append(bytes.Repeat([]byte{0x80}, 20), 0x01)},
		// r_i32 index 36: bits 72,73 -> byte 10 bits 2,3.
		{"patch on repeated", append(bytes.Repeat([]byte{0x80}, 10), 0x0c)},
		{"huge repeated count", append(append(bytes.Repeat([]byte{0x80}, 10), 0x04), 0xff, 0xff, 0xff, 0xff, 0x0f)},
		// m_str_i32 index 27: bits 54,55 -> byte 7 bits 5,6. Patched entry "zz" missing.
		{"patch missing map entry", append(bytes.Repeat([]byte{0x80}, 7), 0x60, 0, 0, 1, 2, 'z', 'z', 2)},
		// m_bool_str index 29: bits 58,59 -> byte 8 bits 2,3: patching a string value.
		{"patch string map value", append(bytes.Repeat([]byte{0x80}, 8), 0x0c, 0, 0, 1, 1, 0)},
		// str index 14: bits 28,29 -> byte 4 bits 0,1: SET invalid UTF-8.
		{"invalid utf8", []byte{0x80, 0x80, 0x80, 0x80, 0x01, 0x01, 0xff}},
		// inner index 25 SET with a bad message encoding.
		{"bad message value", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02, 0x02, 0xff, 0xff}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := Apply(base(), tc.patch); !errors.Is(err, ErrMalformedPatch) {
				t.Fatalf("Apply(%x) = %v, want ErrMalformedPatch", tc.patch, err)
			}
		})
	}
	if err := Apply(nil, []byte{0}); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("nil state: %v", err)
	}
	if err := Apply((*testpb.TestState)(nil), []byte{0}); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("nil pointer state: %v", err)
	}
}

func TestApplyAcceptsLongZeroMask(t *testing.T) {
	s := &testpb.Inner{X: 1}
	if err := Apply(s, []byte{0x80, 0x80, 0x00}); err != nil {
		t.Fatal(err)
	}
	if s.X != 1 {
		t.Fatal("state changed")
	}
}

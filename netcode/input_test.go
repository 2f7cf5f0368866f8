package netcode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

func TestInputBuffer(t *testing.T) {
	for _, copyPayloads := range []bool{false, true} {
		t.Run(fmt.Sprintf("copy=%v", copyPayloads), func(t *testing.T) { testInputBuffer(t, copyPayloads) })
	}
}

func testInputBuffer(t *testing.T, copyPayloads bool) {
	b := NewInputBuffer(InputBufferConfig{Capacity: 3, MaxAhead: 10, CopyPayloads: copyPayloads})
	steps := []struct {
		seq  uint32
		want error
	}{
		{0, ErrStaleInput},
		{2, nil},
		{1, nil},
		{2, ErrDuplicateInput},
		{10, nil},
		{21, ErrInputTooFarAhead}, // more than 10 past the newest (10)
		{5, ErrInputOverflow},     // full: seq 1 is dropped to make room
		{4, ErrInputOverflow},     // full again: seq 2 is dropped
		{3, ErrInputBufferFull},   // older than every pending input of a full buffer
	}
	for _, s := range steps {
		if err := b.Push(s.seq, []byte{byte(s.seq)}); !errors.Is(err, s.want) {
			t.Fatalf("Push(%d) = %v, want %v", s.seq, err, s.want)
		}
	}
	// Pending: 4, 5, 10; the dropped inputs 1 and 2 count as processed.
	if b.LastProcessed() != 2 {
		t.Fatalf("LastProcessed after overflows = %d, want 2", b.LastProcessed())
	}
	got := b.Take(2, nil)
	if len(got) != 2 || got[0].Seq != 4 || got[1].Seq != 5 || got[1].Payload[0] != 5 || b.LastProcessed() != 5 || b.Pending() != 1 {
		t.Fatalf("Take = %+v, last %d, pending %d", got, b.LastProcessed(), b.Pending())
	}
	if err := b.Push(2, nil); !errors.Is(err, ErrStaleInput) {
		t.Fatalf("re-push of processed seq: %v", err)
	}
	if err := b.Push(12, nil); err != nil { // MaxAhead counts from the newest (10)
		t.Fatal(err)
	}
	got = b.Take(0, got[:0])
	if len(got) != 2 || got[0].Seq != 10 || got[1].Seq != 12 || b.LastProcessed() != 12 {
		t.Fatalf("Take all = %+v", got)
	}
	if err := b.Push(5, nil); !errors.Is(err, ErrStaleInput) {
		t.Fatalf("gap filled late: %v", err)
	}
	if got = b.Take(5, got[:0]); len(got) != 0 {
		t.Fatal("Take on empty buffer returned inputs")
	}
}

// With CopyPayloads the buffer copies what Push is given (the caller may
// reuse it at once) into storage it reuses: a steady stream of pushes and
// takes allocates nothing.
func TestInputBufferCopyPayloads(t *testing.T) {
	b := NewInputBuffer(InputBufferConfig{CopyPayloads: true})
	scratch := []byte{0, 0}
	seq := uint32(0)
	var out []Input
	step := func() {
		for range 2 {
			seq++
			scratch[0], scratch[1] = byte(seq), byte(seq>>8)
			if err := b.Push(seq, scratch); err != nil {
				t.Fatal(err)
			}
			scratch[0], scratch[1] = 0xee, 0xee
		}
		out = b.Take(0, out[:0])
		for _, in := range out {
			if in.Payload[0] != byte(in.Seq) || in.Payload[1] != byte(in.Seq>>8) {
				t.Fatalf("seq %d: payload %x", in.Seq, in.Payload)
			}
		}
	}
	step()
	if n := testing.AllocsPerRun(100, step); n != 0 {
		t.Fatalf("%.1f allocations per push+take, want 0", n)
	}
	// A large payload is copied but not kept for reuse.
	seq++
	if err := b.Push(seq, make([]byte, 4*maxKeptPayload)); err != nil {
		t.Fatal(err)
	}
	if out = b.Take(0, out[:0]); len(out) != 1 || len(out[0].Payload) != 4*maxKeptPayload {
		t.Fatalf("large input: %+v", out)
	}
	for _, f := range b.free {
		if cap(f) > maxKeptPayload {
			t.Fatalf("kept a %d-byte buffer", cap(f))
		}
	}
}

// FuzzInputBuffer drives an InputBuffer with arbitrary operations and checks
// its invariants: bounded pending, strictly increasing processed seqs.
func FuzzInputBuffer(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 2, 0, 0, 0, 0xff, 0, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		copyPayloads := len(ops)%2 == 1
		b := NewInputBuffer(InputBufferConfig{Capacity: 4, MaxAhead: 8, CopyPayloads: copyPayloads})
		scratch := make([]byte, 4)
		var out []Input
		last, newest := uint32(0), uint32(0)
		for len(ops) >= 4 {
			v := binary.LittleEndian.Uint32(ops)
			ops = ops[4:]
			if v&0xff == 0xff {
				out = b.Take(int(v>>8)%5, out[:0])
				for _, in := range out {
					if in.Seq <= last {
						t.Fatalf("Take returned seq %d after %d", in.Seq, last)
					}
					if len(in.Payload) != 4 || binary.LittleEndian.Uint32(in.Payload) != in.Seq {
						t.Fatalf("Take returned seq %d with payload %x", in.Seq, in.Payload)
					}
					last = in.Seq
				}
				if b.LastProcessed() != last {
					t.Fatalf("LastProcessed %d, want %d", b.LastProcessed(), last)
				}
				continue
			}
			seq := v % 32
			payload := scratch
			if !copyPayloads {
				payload = make([]byte, 4) // kept by the buffer
			}
			binary.LittleEndian.PutUint32(payload, seq)
			err := b.Push(seq, payload)
			clear(scratch) // the caller reuses its buffer: a copy must not see it
			switch {
			case err == nil, errors.Is(err, ErrInputOverflow):
				if seq <= b.LastProcessed() || seq > newest+8 && seq > last+8 {
					t.Fatalf("accepted seq %d with last %d, newest %d", seq, last, newest)
				}
				newest = max(newest, seq)
				last = b.LastProcessed() // an overflow drops (processes) the oldest
			case errors.Is(err, ErrStaleInput), errors.Is(err, ErrDuplicateInput),
				errors.Is(err, ErrInputTooFarAhead), errors.Is(err, ErrInputBufferFull):
			default:
				t.Fatalf("unexpected error %v", err)
			}
			if b.Pending() > 4 {
				t.Fatalf("pending %d over capacity", b.Pending())
			}
		}
	})
}

func TestPredictor(t *testing.T) {
	p := NewPredictor(func(s int, in int) int { return s + in }, 4)
	for seq := uint32(1); seq <= 5; seq++ {
		p.Push(seq, int(seq)*10)
	}
	if p.Pending() != 4 { // seq 1 dropped: bounded
		t.Fatalf("Pending = %d", p.Pending())
	}
	tests := []struct {
		auth, last, want, pending int
	}{
		{100, 3, 100 + 40 + 50, 2},
		{100, 3, 190, 2}, // idempotent
		{7, 5, 7, 0},
		{7, 9, 7, 0},
	}
	for _, tc := range tests {
		if got := p.Reconcile(tc.auth, uint32(tc.last)); got != tc.want || p.Pending() != tc.pending {
			t.Fatalf("Reconcile(%d, %d) = %d pending %d, want %d pending %d", tc.auth, tc.last, got, p.Pending(), tc.want, tc.pending)
		}
	}
}

package netcode

import (
	"errors"
	"slices"
)

// Input path sentinel errors (InputBuffer.Push). Callers count them.
var (
	ErrDuplicateInput   = errors.New("netcode: duplicate input")
	ErrStaleInput       = errors.New("netcode: stale input")
	ErrInputTooFarAhead = errors.New("netcode: input sequence too far ahead")
	ErrInputBufferFull  = errors.New("netcode: input buffer full")
	// ErrInputOverflow: the input was accepted, and the oldest pending input
	// was dropped to make room for it (the player's inputs arrive faster
	// than the room applies them; count it, it is not the client's fault).
	ErrInputOverflow = errors.New("netcode: input buffer overflow: oldest pending input dropped")
)

// Input is one pending client input.
type Input struct {
	Seq     uint32
	Payload []byte
}

// InputBufferConfig configures an InputBuffer. The zero value is usable.
type InputBufferConfig struct {
	// Capacity bounds the pending inputs (default 16).
	Capacity int
	// MaxAhead refuses a seq more than MaxAhead past the newest seq seen
	// (pending or processed), default 64: a client numbers its inputs
	// 1, 2, 3, ..., so a jump means a broken or hostile client. It is
	// measured from the newest seq, not the last processed one, so a room
	// that falls behind never makes an honest client look hostile.
	MaxAhead uint32
	// CopyPayloads makes Push copy each payload into storage the buffer
	// reuses, so a steady stream of inputs allocates nothing and the
	// caller may reuse its payload at once. The payloads Take returns are
	// then valid only until the next Push: decode them (or copy them)
	// before pushing again. Without it Push keeps the caller's slice.
	CopyPayloads bool
}

// InputBuffer orders one player's inputs by sequence number. Sequence
// numbers start at 1 (0 means none) and are compared as plain integers (a
// uint32 does not wrap in a room's lifetime).
//
// Take does not wait for gaps: a missing seq (dropped upstream) is skipped
// and arrives later as stale. Over TCP inputs arrive in order, so gaps only
// come from drops.
//
// Not safe for concurrent use (room goroutine only).
type InputBuffer struct {
	newest  uint32 // highest seq accepted
	cfg     InputBufferConfig
	pending []Input // sorted by Seq
	last    uint32
	// free holds the payload storage of inputs already taken or dropped,
	// for Push to reuse (CopyPayloads only).
	free [][]byte
}

// NewInputBuffer returns an InputBuffer with cfg's defaults applied.
func NewInputBuffer(cfg InputBufferConfig) *InputBuffer {
	if cfg.Capacity <= 0 {
		cfg.Capacity = 16
	}
	if cfg.MaxAhead == 0 {
		cfg.MaxAhead = 64
	}
	// Pending usually holds one or two inputs; the slice grows up to
	// Capacity only for a player whose inputs bunch up.
	return &InputBuffer{cfg: cfg, pending: make([]Input, 0, min(cfg.Capacity, 4))}
}

// Push adds an input. It keeps payload (no copy) and the caller must not
// reuse it, unless the buffer was made with CopyPayloads. Errors: ErrStaleInput (seq <= LastProcessed, including 0),
// ErrDuplicateInput (already pending), ErrInputTooFarAhead (seq more than
// MaxAhead past the newest seq seen). When the buffer is full the input is
// still accepted if it is newer than the oldest pending one, which is
// dropped instead (LastProcessed moves past it) and ErrInputOverflow is
// returned: the newest inputs matter most, and a player's input lag stays
// bounded by Capacity ticks. An input older than every pending one in a full
// buffer is refused with ErrInputBufferFull.
func (b *InputBuffer) Push(seq uint32, payload []byte) error {
	if seq <= b.last {
		return ErrStaleInput
	}
	if uint64(seq) > uint64(max(b.last, b.newest))+uint64(b.cfg.MaxAhead) {
		return ErrInputTooFarAhead
	}
	i, found := slices.BinarySearchFunc(b.pending, seq, func(in Input, s uint32) int {
		return int(int64(in.Seq) - int64(s))
	})
	if found {
		return ErrDuplicateInput
	}
	var err error
	if len(b.pending) >= b.cfg.Capacity {
		if i == 0 {
			return ErrInputBufferFull
		}
		b.last = b.pending[0].Seq
		b.recycle(b.pending[0].Payload)
		b.pending = slices.Delete(b.pending, 0, 1)
		i--
		err = ErrInputOverflow
	}
	if b.cfg.CopyPayloads {
		payload = b.copyPayload(payload)
	}
	b.pending = slices.Insert(b.pending, i, Input{Seq: seq, Payload: payload})
	b.newest = max(b.newest, seq)
	return err
}

// Take appends up to max pending inputs (all when max <= 0) in seq order to
// dst, removes them, and advances LastProcessed to the last one taken.
func (b *InputBuffer) Take(max int, dst []Input) []Input {
	n := len(b.pending)
	if max > 0 && max < n {
		n = max
	}
	if n == 0 {
		return dst
	}
	dst = append(dst, b.pending[:n]...)
	if b.cfg.CopyPayloads {
		for _, in := range b.pending[:n] {
			b.recycle(in.Payload)
		}
	}
	b.last = b.pending[n-1].Seq
	rest := copy(b.pending, b.pending[n:])
	clear(b.pending[rest:])
	b.pending = b.pending[:rest]
	return dst
}

// maxFreePayloads bounds the spare payload buffers a CopyPayloads buffer
// keeps: its capacity plus the inputs of one Take.
func (b *InputBuffer) maxFreePayloads() int { return 2 * b.cfg.Capacity }

// maxKeptPayload is the largest payload storage kept for reuse; a bigger
// one (a rare large input) is left to the GC.
const maxKeptPayload = 256

// copyPayload copies p into reused storage (CopyPayloads).
func (b *InputBuffer) copyPayload(p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	var buf []byte
	if n := len(b.free); n > 0 {
		buf = b.free[n-1]
		b.free[n-1] = nil
		b.free = b.free[:n-1]
	}
	if cap(buf) < len(p) {
		buf = make([]byte, 0, max(len(p), 16))
	}
	return append(buf[:0], p...)
}

// recycle keeps p's storage for a later copyPayload (CopyPayloads only). A
// payload handed out by Take stays intact until that later Push.
func (b *InputBuffer) recycle(p []byte) {
	if !b.cfg.CopyPayloads || cap(p) == 0 || cap(p) > maxKeptPayload || len(b.free) >= b.maxFreePayloads() {
		return
	}
	b.free = append(b.free, p[:0])
}

// LastProcessed returns the highest seq taken (0 before any).
func (b *InputBuffer) LastProcessed() uint32 { return b.last }

// Pending returns the number of inputs waiting.
func (b *InputBuffer) Pending() int { return len(b.pending) }

// Predictor is the client half of prediction and reconciliation: it keeps
// the inputs the server has not yet processed and replays them on top of
// each authoritative state. Not safe for concurrent use.
type Predictor[S any, I any] struct {
	step    func(S, I) S
	max     int
	pending []predInput[I]
}

type predInput[I any] struct {
	seq uint32
	in  I
}

// NewPredictor returns a Predictor using step (the game's simulation of one
// input; the same rules as the server) keeping at most max unacknowledged
// inputs (default 128 when max <= 0; the oldest is dropped when full).
// If S is a pointer type, step may mutate and return its argument:
// Reconcile then mutates the authoritative state passed in.
func NewPredictor[S any, I any](step func(S, I) S, max int) *Predictor[S, I] {
	if max <= 0 {
		max = 128
	}
	return &Predictor[S, I]{step: step, max: max}
}

// Push records an input sent with seq (increasing).
func (p *Predictor[S, I]) Push(seq uint32, in I) {
	if len(p.pending) >= p.max {
		copy(p.pending, p.pending[1:])
		p.pending = p.pending[:len(p.pending)-1]
	}
	p.pending = append(p.pending, predInput[I]{seq: seq, in: in})
}

// Reconcile drops inputs with seq <= lastProcessed (the server has applied
// them) and returns authoritative with the remaining inputs re-applied in
// order: the predicted present state.
func (p *Predictor[S, I]) Reconcile(authoritative S, lastProcessed uint32) S {
	i := 0
	for i < len(p.pending) && p.pending[i].seq <= lastProcessed {
		i++
	}
	if i > 0 {
		n := copy(p.pending, p.pending[i:])
		clear(p.pending[n:])
		p.pending = p.pending[:n]
	}
	s := authoritative
	for _, e := range p.pending {
		s = p.step(s, e.in)
	}
	return s
}

// Pending returns the number of unacknowledged inputs.
func (p *Predictor[S, I]) Pending() int { return len(p.pending) }

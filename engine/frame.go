package engine

import (
	"github.com/tickwire/tickwire/internal/roomrt"
	"github.com/tickwire/tickwire/proto/wire"
)

// appendStateFrame appends the State envelope of f to dst: byte-for-byte
// what proto.Marshal produces, without building the message (the state
// frame is written once per client per send tick, so it must not allocate).
func appendStateFrame(dst []byte, f roomrt.StateFrame) []byte {
	return wire.AppendState(dst, wire.State{Tick: f.Tick, Baseline: f.Baseline, LastInputSeq: f.LastSeq, Payload: f.Payload})
}

package engine

import (
	"github.com/tickwire/tickwire/proto/wire"
	"github.com/tickwire/tickwire/room"
)

// appendStateFrame appends the State envelope of f to dst: byte-for-byte
// what proto.Marshal produces, without building the message (the state
// frame is written once per client per send tick, so it must not allocate).
func appendStateFrame(dst []byte, f room.StateFrame) []byte {
	return wire.AppendState(dst, wire.State{Tick: f.Tick, Baseline: f.Baseline, LastInputSeq: f.LastSeq, Payload: f.Payload})
}

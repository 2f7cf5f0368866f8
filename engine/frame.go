package engine

import (
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tickwire/tickwire/room"
)

// appendStateFrame appends the encoding of
// ServerMessage{state: State{tick, baseline_tick, last_input_seq, payload}}
// to dst. It is byte-for-byte what proto.Marshal produces (fields in number
// order, zero values omitted) without building the message: the state frame
// is written once per client per send tick, so it must not allocate.
func appendStateFrame(dst []byte, f room.StateFrame) []byte {
	inner := 0
	if f.Tick != 0 {
		inner += 1 + protowire.SizeVarint(uint64(f.Tick))
	}
	if f.Baseline != 0 {
		inner += 1 + protowire.SizeVarint(uint64(f.Baseline))
	}
	if f.LastSeq != 0 {
		inner += 1 + protowire.SizeVarint(uint64(f.LastSeq))
	}
	if len(f.Payload) != 0 {
		inner += 1 + protowire.SizeBytes(len(f.Payload))
	}
	dst = protowire.AppendTag(dst, 1, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(inner))
	if f.Tick != 0 {
		dst = protowire.AppendTag(dst, 1, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(f.Tick))
	}
	if f.Baseline != 0 {
		dst = protowire.AppendTag(dst, 2, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(f.Baseline))
	}
	if f.LastSeq != 0 {
		dst = protowire.AppendTag(dst, 3, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(f.LastSeq))
	}
	if len(f.Payload) != 0 {
		dst = protowire.AppendTag(dst, 4, protowire.BytesType)
		dst = protowire.AppendBytes(dst, f.Payload)
	}
	return dst
}

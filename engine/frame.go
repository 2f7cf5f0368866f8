package engine

import (
	"unicode/utf8"

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

// decodeInputFrame decodes a ClientMessage that holds only an Input (the
// frame every player sends every tick) without building the message. It
// returns ok == false for anything else (other messages, a request id,
// unknown fields, non-canonical encodings it does not handle), and the
// caller falls back to proto.Unmarshal, so the result is always what the
// full decoder gives. payload and roomID alias data.
func decodeInputFrame(data []byte) (seq, ack uint32, payload, roomID []byte, ok bool) {
	num, typ, n := protowire.ConsumeTag(data)
	if n < 0 || num != 5 || typ != protowire.BytesType {
		return 0, 0, nil, nil, false
	}
	inner, m := protowire.ConsumeBytes(data[n:])
	if m < 0 || n+m != len(data) {
		return 0, 0, nil, nil, false
	}
	for len(inner) > 0 {
		num, typ, n := protowire.ConsumeTag(inner)
		if n < 0 {
			return 0, 0, nil, nil, false
		}
		inner = inner[n:]
		switch {
		case (num == 1 || num == 2) && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(inner)
			if m < 0 {
				return 0, 0, nil, nil, false
			}
			inner = inner[m:]
			if num == 1 {
				seq = uint32(v)
			} else {
				ack = uint32(v)
			}
		case (num == 3 || num == 4) && typ == protowire.BytesType:
			b, m := protowire.ConsumeBytes(inner)
			if m < 0 {
				return 0, 0, nil, nil, false
			}
			inner = inner[m:]
			if num == 3 {
				payload = b
			} else if utf8.Valid(b) { // proto3 strings must be UTF-8
				roomID = b
			} else {
				return 0, 0, nil, nil, false
			}
		default:
			return 0, 0, nil, nil, false
		}
	}
	return seq, ack, payload, roomID, true
}

// Package wire encodes and decodes the two envelopes that cross the wire
// every tick, without building protobuf messages: the state frame
// (ServerMessage{state: State}) that a node sends each client each send
// tick, and the input frame (ClientMessage{input: Input}) that each client
// sends each tick.
//
// The encoders produce exactly the bytes proto.Marshal produces for the same
// message (fields in number order, proto3 zero values omitted), and the
// decoders accept only frames in that canonical shape. Anything else (other
// messages, a request id, unknown or repeated fields) is refused with
// ok == false, and the caller falls back to proto.Unmarshal, so using the
// fast path never changes what a frame means. Tests compare both directions
// with the generated code; the decoders are fuzzed against proto.Unmarshal.
//
// The engine and the Go client use this package; game code has no need to.
// All functions are safe for concurrent use: they keep no state.
package wire

import (
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers in tickwire/v1/tickwire.proto.
const (
	serverState  = 1 // ServerMessage.state
	clientInput  = 5 // ClientMessage.input
	stateTick    = 1 // State.tick
	stateBase    = 2 // State.baseline_tick
	stateLastSeq = 3 // State.last_input_seq
	statePayload = 4 // State.payload
	inputSeq     = 1 // Input.seq
	inputAck     = 2 // Input.ack_tick
	inputPayload = 3 // Input.payload
	inputRoomID  = 4 // Input.room_id
)

// State holds the fields of tickwire.v1.State.
type State struct {
	Tick, Baseline, LastInputSeq uint32
	Payload                      []byte
}

// Input holds the fields of tickwire.v1.Input. RoomID is the UTF-8 bytes
// of the room_id string.
type Input struct {
	Seq, AckTick uint32
	Payload      []byte
	RoomID       []byte
}

func sizeUint(v uint32) int {
	if v == 0 {
		return 0
	}
	return 1 + protowire.SizeVarint(uint64(v))
}

func appendUint(dst []byte, num protowire.Number, v uint32) []byte {
	if v == 0 {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.VarintType)
	return protowire.AppendVarint(dst, uint64(v))
}

func sizeBytes(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	return 1 + protowire.SizeBytes(len(b))
}

func appendBytes(dst []byte, num protowire.Number, b []byte) []byte {
	if len(b) == 0 {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendBytes(dst, b)
}

func (s State) innerSize() int {
	return sizeUint(s.Tick) + sizeUint(s.Baseline) + sizeUint(s.LastInputSeq) + sizeBytes(s.Payload)
}

// SizeState returns the length of AppendState's encoding of s.
func SizeState(s State) int { return 1 + protowire.SizeBytes(s.innerSize()) }

// AppendState appends the encoding of ServerMessage{state: s} to dst.
func AppendState(dst []byte, s State) []byte {
	inner := s.innerSize()
	dst = protowire.AppendTag(dst, serverState, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(inner))
	dst = appendUint(dst, stateTick, s.Tick)
	dst = appendUint(dst, stateBase, s.Baseline)
	dst = appendUint(dst, stateLastSeq, s.LastInputSeq)
	return appendBytes(dst, statePayload, s.Payload)
}

// AppendInput appends the encoding of ClientMessage{input: in} to dst.
func AppendInput(dst []byte, in Input) []byte {
	inner := sizeUint(in.Seq) + sizeUint(in.AckTick) + sizeBytes(in.Payload) + sizeBytes(in.RoomID)
	dst = protowire.AppendTag(dst, clientInput, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(inner))
	dst = appendUint(dst, inputSeq, in.Seq)
	dst = appendUint(dst, inputAck, in.AckTick)
	dst = appendBytes(dst, inputPayload, in.Payload)
	return appendBytes(dst, inputRoomID, in.RoomID)
}

// fields walks the canonical encoding of a message that is the only field
// of its envelope: data must be exactly one length-delimited field number
// outer. Each field of the inner message must have a number above the
// previous one (canonical order, no repeats); varint fields must fit in 32
// bits. It calls scalar or bytes for each, and returns false at the first
// thing it does not accept.
func fields(data []byte, outer protowire.Number, scalar func(protowire.Number, uint32) bool, bytesField func(protowire.Number, []byte) bool) bool {
	num, typ, n := protowire.ConsumeTag(data)
	if n < 0 || num != outer || typ != protowire.BytesType {
		return false
	}
	inner, m := protowire.ConsumeBytes(data[n:])
	if m < 0 || n+m != len(data) {
		return false
	}
	last := protowire.Number(0)
	for len(inner) > 0 {
		num, typ, n := protowire.ConsumeTag(inner)
		if n < 0 || num <= last {
			return false
		}
		last = num
		inner = inner[n:]
		switch typ {
		case protowire.VarintType:
			v, m := protowire.ConsumeVarint(inner)
			if m < 0 || !scalar(num, uint32(v)) {
				return false
			}
			inner = inner[m:]
		case protowire.BytesType:
			b, m := protowire.ConsumeBytes(inner)
			if m < 0 || !bytesField(num, b) {
				return false
			}
			inner = inner[m:]
		default:
			return false
		}
	}
	return true
}

// DecodeState decodes a ServerMessage that holds only a State. Payload
// aliases data. ok is false for anything else; decode those with
// proto.Unmarshal.
func DecodeState(data []byte) (s State, ok bool) {
	ok = fields(data, serverState, func(num protowire.Number, v uint32) bool {
		switch num {
		case stateTick:
			s.Tick = v
		case stateBase:
			s.Baseline = v
		case stateLastSeq:
			s.LastInputSeq = v
		default:
			return false
		}
		return true
	}, func(num protowire.Number, b []byte) bool {
		if num != statePayload {
			return false
		}
		s.Payload = b
		return true
	})
	if !ok {
		return State{}, false
	}
	return s, true
}

// DecodeInput decodes a ClientMessage that holds only an Input. Payload
// and RoomID alias data. ok is false for anything else (including a
// room_id that is not UTF-8, which proto.Unmarshal refuses); decode those
// with proto.Unmarshal.
func DecodeInput(data []byte) (in Input, ok bool) {
	ok = fields(data, clientInput, func(num protowire.Number, v uint32) bool {
		switch num {
		case inputSeq:
			in.Seq = v
		case inputAck:
			in.AckTick = v
		default:
			return false
		}
		return true
	}, func(num protowire.Number, b []byte) bool {
		switch num {
		case inputPayload:
			in.Payload = b
		case inputRoomID:
			if !utf8.Valid(b) {
				return false
			}
			in.RoomID = b
		default:
			return false
		}
		return true
	})
	if !ok {
		return Input{}, false
	}
	return in, true
}

// Package wsframe reads and writes WebSocket frames (RFC 6455) for
// Tickwire's own processes: the engine's reader of client frames, and the
// client connection used by the Go client SDK and by the cluster relay.
//
// Its parser never trusts a length, an opcode or a fragment sequence from
// the peer: every violation is a *CloseError with the close code to answer,
// never a panic, and no buffer grows past the message limit (plus a frame
// header). It supports no extensions (permessage-deflate is never offered).
package wsframe

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Opcode is a frame's opcode (RFC 6455 section 5.2).
type Opcode byte

// Opcodes.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xa
)

// Close codes (RFC 6455 section 7.4.1).
const (
	CloseNormal      = 1000
	CloseGoingAway   = 1001
	CloseProtocol    = 1002
	CloseUnsupported = 1003
	CloseNoStatus    = 1005
	CloseAbnormal    = 1006
	CloseInvalidData = 1007
	ClosePolicy      = 1008
	CloseTooLarge    = 1009
)

// CloseError is a protocol violation in the peer's byte stream: the
// connection must be closed with Code.
type CloseError struct {
	Code   uint16
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("websocket: %s (close %d)", e.Reason, e.Code)
}

// Parser cuts frames out of a byte stream: control frames between the
// fragments of a message, fragmented messages reassembled up to MaxMessage,
// no extensions. A Parser is used by one goroutine at a time.
type Parser struct {
	// MaxMessage bounds a message's payload (a frame's, or a fragmented
	// message's reassembled total). Bigger ones are CloseTooLarge.
	MaxMessage int
	// Masked says frames must be masked (a server reading its clients);
	// otherwise they must not be (a client reading its server).
	Masked bool

	frag     []byte
	fragOp   Opcode
	fragging bool
}

// maxHeader is the longest frame header: 2 bytes, 8 of length, 4 of mask.
const maxHeader = 14

// Next parses the frame at the start of data. It returns the number of
// bytes the frame took, 0 when data does not hold a whole frame yet. When
// the frame completes a message or is a control frame, msg is true and op
// and payload describe it; payload is unmasked in place in data (or, for a
// reassembled message, held by the parser) and is valid until the next
// call. A protocol violation returns a *CloseError; the stream is unusable
// after it.
func (p *Parser) Next(data []byte) (n int, op Opcode, payload []byte, msg bool, err error) {
	if !p.fragging && cap(p.frag) > 4<<10 {
		p.frag = nil // a big fragmented message passed; don't keep its buffer
	}
	if len(data) < 2 {
		return 0, 0, nil, false, nil
	}
	b0, b1 := data[0], data[1]
	fin := b0&0x80 != 0
	op = Opcode(b0 & 0x0f)
	if b0&0x70 != 0 {
		return 0, 0, nil, false, &CloseError{CloseProtocol, "reserved bits set without an extension"}
	}
	masked := b1&0x80 != 0
	if masked != p.Masked {
		if p.Masked {
			return 0, 0, nil, false, &CloseError{CloseProtocol, "client frame not masked"}
		}
		return 0, 0, nil, false, &CloseError{CloseProtocol, "server frame masked"}
	}
	hdr := 2
	size := uint64(b1 & 0x7f)
	if op&0x8 != 0 && size > 125 {
		// A control frame's length fits the 7-bit field; an extended one
		// is refused from its first two bytes.
		return 0, 0, nil, false, &CloseError{CloseProtocol, "control frame over 125 bytes"}
	}
	switch size {
	case 126:
		if len(data) < 4 {
			return 0, 0, nil, false, nil
		}
		size, hdr = uint64(binary.BigEndian.Uint16(data[2:])), 4
	case 127:
		if len(data) < 10 {
			return 0, 0, nil, false, nil
		}
		size, hdr = binary.BigEndian.Uint64(data[2:]), 10
		if size>>63 != 0 {
			return 0, 0, nil, false, &CloseError{CloseProtocol, "frame length has its top bit set"}
		}
	}
	control := op&0x8 != 0
	switch {
	case control && (op != OpClose && op != OpPing && op != OpPong):
		return 0, 0, nil, false, &CloseError{CloseProtocol, "reserved control opcode"}
	case control && !fin:
		return 0, 0, nil, false, &CloseError{CloseProtocol, "fragmented control frame"}
	case control && size > 125:
		return 0, 0, nil, false, &CloseError{CloseProtocol, "control frame over 125 bytes"}
	case !control && op > OpBinary:
		return 0, 0, nil, false, &CloseError{CloseProtocol, "reserved data opcode"}
	case op == OpContinuation && !p.fragging:
		return 0, 0, nil, false, &CloseError{CloseProtocol, "continuation frame without a message"}
	case !control && op != OpContinuation && p.fragging:
		return 0, 0, nil, false, &CloseError{CloseProtocol, "new message inside a fragmented one"}
	}
	limit := uint64(max(p.MaxMessage, 0))
	if op == OpContinuation {
		limit -= min(limit, uint64(len(p.frag)))
	}
	if !control && size > limit {
		return 0, 0, nil, false, &CloseError{CloseTooLarge, "message too large"}
	}
	if masked {
		hdr += 4
	}
	if len(data) < hdr || uint64(len(data)-hdr) < size {
		return 0, 0, nil, false, nil
	}
	n = hdr + int(size)
	payload = data[hdr:n]
	if masked {
		Unmask(payload, data[hdr-4:hdr])
	}
	switch {
	case control:
		return n, op, payload, true, nil
	case op == OpContinuation:
		p.frag = append(p.frag, payload...)
		if !fin {
			return n, OpContinuation, nil, false, nil
		}
		p.fragging = false
		return n, p.fragOp, p.frag, true, nil
	case !fin:
		p.fragging, p.fragOp = true, op
		p.frag = append(p.frag[:0], payload...)
		return n, op, nil, false, nil
	}
	return n, op, payload, true, nil
}

// Unmask XORs b with the 4-byte masking key, 8 bytes at a time.
func Unmask(b, key []byte) {
	k32 := binary.LittleEndian.Uint32(key)
	k64 := uint64(k32) | uint64(k32)<<32
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= key[i&3]
	}
}

// ValidCloseCode says whether a peer may send code in a close frame
// (RFC 6455 section 7.4: 1000-1003, 1007-1014 and 3000-4999).
func ValidCloseCode(code uint16) bool {
	switch {
	case code < 1000, code >= 5000, code == 1004, code == 1005, code == 1006, code == 1015,
		code >= 1016 && code < 3000:
		return false
	}
	return true
}

// ParseClose checks a close frame's payload (RFC 6455 section 5.5.1). It
// returns the peer's code (CloseNoStatus when the payload is empty) and
// reason, and the code to answer with: the peer's own code echoed when it
// is one a peer may send, CloseNormal for an empty payload, CloseProtocol
// for a malformed one (one byte, or a code no peer may send) and
// CloseInvalidData for a reason that is not UTF-8. ok is false when the
// payload is malformed (a protocol error).
func ParseClose(payload []byte) (code uint16, reason string, reply uint16, ok bool) {
	switch len(payload) {
	case 0:
		return CloseNoStatus, "", CloseNormal, true
	case 1:
		return 0, "", CloseProtocol, false
	}
	code = binary.BigEndian.Uint16(payload)
	if !ValidCloseCode(code) {
		return code, "", CloseProtocol, false
	}
	if !utf8.Valid(payload[2:]) {
		return code, "", CloseInvalidData, false
	}
	return code, string(payload[2:]), code, true
}

// AppendFrame appends one unfragmented frame to dst. key, when not nil,
// masks the payload (client frames).
func AppendFrame(dst []byte, op Opcode, payload []byte, key []byte) []byte {
	n := len(payload)
	maskBit := byte(0)
	if key != nil {
		maskBit = 0x80
	}
	dst = append(dst, 0x80|byte(op))
	switch {
	case n < 126:
		dst = append(dst, maskBit|byte(n))
	case n < 1<<16:
		dst = append(dst, maskBit|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, maskBit|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if key == nil {
		return append(dst, payload...)
	}
	dst = append(dst, key[:4]...)
	start := len(dst)
	dst = append(dst, payload...)
	Unmask(dst[start:], key)
	return dst
}

// ClosePayload is the payload of a close frame with code and reason
// (reason cut to fit a control frame).
func ClosePayload(code uint16, reason string) []byte {
	if code == 0 {
		return nil
	}
	if len(reason) > 123 {
		reason = reason[:123]
		for len(reason) > 0 && !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), code)
	return append(b, reason...)
}

package engine

import (
	"encoding/binary"
	"fmt"

	"github.com/lxzan/gws"
)

// WebSocket close codes the frame reader answers protocol violations with
// (RFC 6455 section 7.4.1).
const (
	closeNormal      = 1000
	closeProtocol    = 1002
	closeUnsupported = 1003
	closeTooLarge    = 1009
)

// wsCloseError is a protocol violation in the client's byte stream: the
// connection is closed with code.
type wsCloseError struct {
	code   uint16
	reason string
}

func (e *wsCloseError) Error() string {
	return fmt.Sprintf("websocket: %s (close %d)", e.reason, e.code)
}

// wsParser cuts client-to-server WebSocket frames (RFC 6455 section 5) out
// of a byte stream: masked frames, control frames between the fragments of
// a message, fragmented messages reassembled up to a size limit, no
// extensions. The engine reads client frames with it instead of gws's read
// loop, so that whoever owns a connection's reading (a goroutine while the
// client is outside a room, the room goroutine while it is in one) can cut
// frames from what one read(2) returned.
//
// A wsParser is used by one goroutine at a time (the connection's current
// reader).
type wsParser struct {
	// maxMsg bounds a message's payload (a frame's, or a fragmented
	// message's reassembled total).
	maxMsg int
	// frag holds a fragmented message being reassembled.
	frag     []byte
	fragOp   gws.Opcode
	fragging bool
}

// next parses the frame at the start of data. It returns the number of
// bytes the frame took, 0 when data does not hold a whole frame yet. When
// the frame completes a message or is a control frame, msg is true and op
// and payload describe it; payload is unmasked in place in data (or, for a
// reassembled message, held by the parser) and is valid until the next call.
// A protocol violation returns a *wsCloseError; the stream is unusable
// after it.
func (p *wsParser) next(data []byte) (n int, op gws.Opcode, payload []byte, msg bool, err error) {
	if !p.fragging && cap(p.frag) > 4<<10 {
		p.frag = nil // a big fragmented message passed; don't keep its buffer
	}
	if len(data) < 2 {
		return 0, 0, nil, false, nil
	}
	b0, b1 := data[0], data[1]
	fin := b0&0x80 != 0
	op = gws.Opcode(b0 & 0x0f)
	if b0&0x70 != 0 {
		return 0, 0, nil, false, &wsCloseError{closeProtocol, "reserved bits set without an extension"}
	}
	if b1&0x80 == 0 {
		return 0, 0, nil, false, &wsCloseError{closeProtocol, "client frame not masked"}
	}
	hdr := 2
	size := uint64(b1 & 0x7f)
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
			return 0, 0, nil, false, &wsCloseError{closeProtocol, "frame length has its top bit set"}
		}
	}
	control := op&0x8 != 0
	switch {
	case control && (op != gws.OpcodeCloseConnection && op != gws.OpcodePing && op != gws.OpcodePong):
		return 0, 0, nil, false, &wsCloseError{closeProtocol, "reserved control opcode"}
	case control && !fin:
		return 0, 0, nil, false, &wsCloseError{closeProtocol, "fragmented control frame"}
	case control && size > 125:
		return 0, 0, nil, false, &wsCloseError{closeProtocol, "control frame over 125 bytes"}
	case !control && op > gws.OpcodeBinary:
		return 0, 0, nil, false, &wsCloseError{closeProtocol, "reserved data opcode"}
	case op == gws.OpcodeContinuation && !p.fragging:
		return 0, 0, nil, false, &wsCloseError{closeProtocol, "continuation frame without a message"}
	case !control && op != gws.OpcodeContinuation && p.fragging:
		return 0, 0, nil, false, &wsCloseError{closeProtocol, "new message inside a fragmented one"}
	}
	limit := uint64(p.maxMsg)
	if op == gws.OpcodeContinuation {
		limit -= min(limit, uint64(len(p.frag)))
	}
	if !control && size > limit {
		return 0, 0, nil, false, &wsCloseError{closeTooLarge, "message too large"}
	}
	hdr += 4 // masking key
	if len(data) < hdr || uint64(len(data)-hdr) < size {
		return 0, 0, nil, false, nil
	}
	n = hdr + int(size)
	payload = data[hdr:n]
	unmask(payload, data[hdr-4:hdr])
	switch {
	case control:
		return n, op, payload, true, nil
	case op == gws.OpcodeContinuation:
		p.frag = append(p.frag, payload...)
		if !fin {
			return n, 0, nil, false, nil
		}
		p.fragging = false
		return n, p.fragOp, p.frag, true, nil
	case !fin:
		p.fragging, p.fragOp = true, op
		p.frag = append(p.frag[:0], payload...)
		return n, 0, nil, false, nil
	}
	return n, op, payload, true, nil
}

// unmask XORs b with the 4-byte masking key, 8 bytes at a time.
func unmask(b, key []byte) {
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

// closeReply returns the code to answer a client's close frame with
// (RFC 6455 section 5.5.1 and 7.4): the client's own code when it is one a
// peer may send, 1002 when the close payload is malformed, and 1000 for an
// empty one.
func closeReply(payload []byte) uint16 {
	switch len(payload) {
	case 0:
		return closeNormal
	case 1:
		return closeProtocol
	}
	code := binary.BigEndian.Uint16(payload)
	switch {
	case code < 1000, code >= 5000, code == 1004, code == 1005, code == 1006, code == 1015,
		code >= 1016 && code < 3000:
		return closeProtocol
	}
	return closeNormal
}

package engine

import (
	"errors"
	"fmt"

	"github.com/lxzan/gws"

	"github.com/tickwire/tickwire/internal/wsframe"
)

// WebSocket close codes the frame reader answers protocol violations with
// (RFC 6455 section 7.4.1).
const (
	closeNormal      = wsframe.CloseNormal
	closeProtocol    = wsframe.CloseProtocol
	closeUnsupported = wsframe.CloseUnsupported
	closeTooLarge    = wsframe.CloseTooLarge
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
// of a byte stream with wsframe.Parser: masked frames, control frames
// between the fragments of a message, fragmented messages reassembled up
// to a size limit, no extensions. The engine reads client frames with it
// instead of gws's read loop, so that whoever owns a connection's reading
// (a goroutine while the client is outside a room, the room goroutine
// while it is in one) can cut frames from what one read(2) returned. The
// Go client and the relay read their servers with the same parser.
//
// A wsParser is used by one goroutine at a time (the connection's current
// reader).
type wsParser struct {
	// maxMsg bounds a message's payload (a frame's, or a fragmented
	// message's reassembled total).
	maxMsg int
	p      wsframe.Parser
}

// next parses the frame at the start of data. It returns the number of
// bytes the frame took, 0 when data does not hold a whole frame yet. When
// the frame completes a message or is a control frame, msg is true and op
// and payload describe it; payload is unmasked in place in data (or, for a
// reassembled message, held by the parser) and is valid until the next call.
// A protocol violation returns a *wsCloseError; the stream is unusable
// after it.
func (p *wsParser) next(data []byte) (n int, op gws.Opcode, payload []byte, msg bool, err error) {
	p.p.MaxMessage, p.p.Masked = p.maxMsg, true
	n, fop, payload, msg, err := p.p.Next(data)
	if err != nil {
		var ce *wsframe.CloseError
		if errors.As(err, &ce) {
			return 0, 0, nil, false, &wsCloseError{ce.Code, ce.Reason}
		}
		return 0, 0, nil, false, &wsCloseError{closeProtocol, err.Error()}
	}
	return n, gws.Opcode(fop), payload, msg, nil
}

// closeReply returns the code to answer a client's close frame with
// (RFC 6455 sections 5.5.1, 7.4 and 8.1): the client's own code echoed
// when it is one a peer may send, 1000 for an empty payload, 1002 for a
// malformed one (one byte, or a code no peer may send) and 1007 for a
// reason that is not UTF-8. malformed reports a protocol error.
func closeReply(payload []byte) (reply uint16, malformed bool) {
	_, _, reply, ok := wsframe.ParseClose(payload)
	return reply, !ok
}

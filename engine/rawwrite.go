package engine

import (
	"errors"
	"syscall"

	"github.com/tickwire/tickwire/internal/roomrt"
)

// rawWriter writes to a connection's socket without ever blocking: it is
// how the room goroutine hands a state frame straight to the kernel.
//
// The common case of the state path is "the connection's writer is idle and
// its socket has room": then the room goroutine frames the state itself and
// makes one non-blocking write(2), instead of starting a writer goroutine per
// client per tick (goroutine start, scheduling and exit cost more than the
// write). If the socket would block or takes only part of the frame, the
// rest is handed to the connection's writer goroutine, so the room still
// never waits on a socket. All writes of a connection, raw or through gws,
// happen while holding the connection's single writer role (session.writing),
// so frames never interleave.
type rawWriter struct {
	rc syscall.RawConn
	// The write in progress: fields instead of closure captures so that a
	// write does not allocate (only the writer-role holder calls tryWrite).
	b       []byte
	written int
	err     error
	fn      func(fd uintptr)
}

var errWouldBlock = errors.New("engine: write would block")

// newRawWriter returns nil when c does not expose its file descriptor (then
// every write goes through the writer goroutine).
func newRawWriter(c any) *rawWriter {
	rc := rawConnOf(c)
	if rc == nil {
		return nil
	}
	w := &rawWriter{rc: rc}
	w.fn = w.writeFD
	return w
}

// rawConnOf returns c's file descriptor access, nil if it has none.
func rawConnOf(c any) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// tryWrite writes as much of b as the socket takes now. It returns the
// number of bytes written and errWouldBlock when that is less than len(b)
// because the socket is full.
//
// It goes through RawConn.Control, not RawConn.Write: the fd stays valid
// for the call either way (a concurrent Close waits for it), and a write
// that never waits has no use for Write's netpoller preparation and write
// lock (two more cold cache lines per call on a loaded server). Writes of
// a connection are serialized by its writer role, not by the fd's lock.
func (w *rawWriter) tryWrite(b []byte) (int, error) {
	w.b, w.written, w.err = b, 0, nil
	err := w.rc.Control(w.fn)
	n, werr := w.written, w.err
	w.b, w.err = nil, nil
	if err != nil {
		return n, err
	}
	return n, werr
}

// appendWSFrame appends an unmasked, unfragmented binary WebSocket frame
// (RFC 6455 section 5.2, server to client, no extensions) holding the State
// envelope of f.
func appendWSFrame(dst []byte, f roomrt.StateFrame) []byte {
	start := len(dst)
	dst = append(dst, 0x82, 0) // FIN + binary; length patched below
	dst = appendStateFrame(dst, f)
	n := len(dst) - start - 2
	switch {
	case n < 126:
		dst[start+1] = byte(n)
	case n < 1<<16:
		dst = append(dst, 0, 0)
		copy(dst[start+4:], dst[start+2:start+2+n])
		dst[start+1] = 126
		dst[start+2], dst[start+3] = byte(n>>8), byte(n)
	default:
		dst = append(dst, make([]byte, 8)...)
		copy(dst[start+10:], dst[start+2:start+2+n])
		dst[start+1] = 127
		for i := range 8 {
			dst[start+2+i] = byte(uint64(n) >> (56 - 8*i))
		}
	}
	return dst
}

// appendDataFrame appends an unmasked, unfragmented WebSocket frame of
// opcode op (server to client, no extensions) holding payload.
func appendDataFrame(dst []byte, op byte, payload []byte) []byte {
	n := len(payload)
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		dst = append(dst, byte(n))
	case n < 1<<16:
		dst = append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127)
		for i := range 8 {
			dst = append(dst, byte(uint64(n)>>(56-8*i)))
		}
	}
	return append(dst, payload...)
}

// wsHeaderLen returns the header length of a frame appendWSFrame made,
// given the frame's total length.
func wsHeaderLen(total int) int {
	switch {
	case total-2 < 126:
		return 2
	case total-4 < 1<<16:
		return 4
	}
	return 10
}

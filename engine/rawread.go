package engine

import (
	"net"

	"github.com/tickwire/tickwire/internal/rawsock"
)

// rawReader reads a connection's socket without blocking and with the
// kernel's receive timestamps: it is how a room goroutine reads its
// players' frames once per tick (see session.Poll), and how the
// connection's read goroutine waits for data otherwise.
type rawReader struct{ r *rawsock.Reader }

// newRawReader returns nil when c is not a socket whose receive timestamps
// can be turned on; such a connection is never read on the tick.
func newRawReader(c net.Conn) *rawReader {
	r := rawsock.NewReader(c)
	if r == nil {
		return nil
	}
	return &rawReader{r}
}

// read reads what the socket holds without waiting (errWouldBlock when
// nothing); arrival is the kernel's receive time of the last data returned
// (Unix nanoseconds, 0 unknown).
func (r *rawReader) read(b []byte) (n int, arrival int64, err error) { return r.r.Read(b) }

// readWait is read that waits (in the netpoller) until there is data.
func (r *rawReader) readWait(b []byte) (n int, arrival int64, err error) { return r.r.ReadWait(b) }

// pollLowat is the socket's receive low-water mark while a room reads it on
// the tick. The room reads it without waiting, so the kernel need not
// signal new data: below this many bytes queued it does not. Otherwise
// every input would wake the Go netpoller's epoll_wait for a socket nobody
// waits on. A client never sends this much in a tick; if it does, or the
// receive window runs low, the kernel signals as usual.
const pollLowat = 16 << 10

// setPolled sets the low-water mark for reads on the tick (polled) or for a
// read goroutine that waits for data (not polled).
func (r *rawReader) setPolled(polled bool) {
	v := 1
	if polled {
		v = pollLowat
	}
	r.r.SetLowat(v)
}

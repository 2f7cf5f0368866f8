//go:build linux && (amd64 || arm64)

package engine

import (
	"encoding/binary"
	"net"
	"syscall"
)

// rawReader reads a connection's socket without ever blocking, and with the
// kernel's receive timestamp of the data it returns: it is how a room
// goroutine reads its players' frames once per tick (see session.Poll).
type rawReader struct {
	rc syscall.RawConn
	// The read in progress: fields instead of closure captures so that a
	// read does not allocate (only the connection's reader calls read).
	b, oob  []byte
	n, oobn int
	err     error
	fn      func(fd uintptr)      // recv through Control, never waits
	fnWait  func(fd uintptr) bool // recv through Read, waits for data
}

// newRawReader returns nil when c is not a socket whose receive timestamps
// can be turned on; such a connection keeps a read goroutine.
func newRawReader(c net.Conn) *rawReader {
	rc := rawConnOf(c)
	if rc == nil {
		return nil
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return nil
	}
	r := &rawReader{rc: rc, oob: make([]byte, 64)}
	r.fn = func(fd uintptr) { r.recv(fd) }
	r.fnWait = r.recvWait
	return r
}

// read reads what the socket holds into b without waiting. It returns
// errWouldBlock when there is nothing to read, and io.EOF-like (0, nil) at
// the end of the stream. arrival is the kernel's receive time (Unix
// nanoseconds) of the last data returned, 0 if unknown.
//
// It goes through RawConn.Control, not RawConn.Read: the fd stays valid for
// the call either way (a concurrent Close waits for it), and a read that
// never waits has no use for Read's netpoller preparation and read lock
// (two more cold cache lines per call on a loaded server). Reads of a
// connection are serialized by who reads it (the room or its read
// goroutine, see session.Poll), not by the fd's lock.
func (r *rawReader) read(b []byte) (n int, arrival int64, err error) {
	r.b, r.n, r.oobn, r.err = b, 0, 0, nil
	return r.done(r.rc.Control(r.fn))
}

// readWait is read that waits (in the netpoller) until there is data.
func (r *rawReader) readWait(b []byte) (n int, arrival int64, err error) {
	r.b, r.n, r.oobn, r.err = b, 0, 0, nil
	return r.done(r.rc.Read(r.fnWait))
}

// done ends a read: rcErr is the RawConn call's own error.
func (r *rawReader) done(rcErr error) (n int, arrival int64, err error) {
	r.b = nil
	if rcErr != nil {
		return 0, 0, rcErr
	}
	if r.err != nil {
		return 0, 0, r.err
	}
	return r.n, r.timestamp(), nil
}

// recv reads once without waiting (the body of read's Control call).
func (r *rawReader) recv(fd uintptr) bool {
	for {
		n, oobn, _, _, err := syscall.Recvmsg(int(fd), r.b, r.oob, syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			r.err = errWouldBlock
		case err != nil:
			r.err = err
		}
		r.n, r.oobn = max(n, 0), oobn
		return true
	}
}

// recvWait is the RawConn callback of readWait: it asks to wait for
// readability when the socket is empty.
func (r *rawReader) recvWait(fd uintptr) bool {
	r.recv(fd)
	if r.err == errWouldBlock {
		r.err = nil
		return false
	}
	return true
}

// timestamp finds the SCM_TIMESTAMPNS control message of the last read.
func (r *rawReader) timestamp() int64 {
	oob := r.oob[:r.oobn]
	for len(oob) >= syscall.SizeofCmsghdr {
		// struct cmsghdr on 64-bit Linux: len uint64, level int32, type int32.
		l := int(binary.NativeEndian.Uint64(oob))
		level := int32(binary.NativeEndian.Uint32(oob[8:]))
		typ := int32(binary.NativeEndian.Uint32(oob[12:]))
		if l < syscall.SizeofCmsghdr || l > len(oob) {
			return 0
		}
		if level == syscall.SOL_SOCKET && typ == syscall.SCM_TIMESTAMPNS && l >= syscall.CmsgLen(16) {
			d := oob[syscall.CmsgLen(0):]
			sec := int64(binary.NativeEndian.Uint64(d))
			nsec := int64(binary.NativeEndian.Uint64(d[8:]))
			return sec*1e9 + nsec
		}
		oob = oob[min(len(oob), syscall.CmsgSpace(l-syscall.SizeofCmsghdr)):]
	}
	return 0
}

// pollLowat is the socket's receive low-water mark while a room reads it on
// the tick. The room reads it without waiting, so the kernel need not
// signal new data: below this many bytes queued it does not (tcp_data_ready
// and tcp_poll honour SO_RCVLOWAT). Otherwise every input would wake the
// Go netpoller's epoll_wait for a socket nobody waits on. A client never
// sends this much in a tick; if it does, or the receive window runs low,
// the kernel signals as usual. Non-blocking reads still return what is
// there.
const pollLowat = 16 << 10

// setPolled sets the low-water mark for reads on the tick (polled) or for a
// read goroutine that waits for data (not polled).
func (r *rawReader) setPolled(polled bool) {
	v := 1
	if polled {
		v = pollLowat
	}
	_ = r.rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, v)
	})
}

//go:build linux && (amd64 || arm64)

package rawsock

import (
	"encoding/binary"
	"net"
	"syscall"
)

// Reader reads a connection's socket without ever blocking, and with the
// kernel's receive timestamp of the data it returns. The engine's room
// goroutines read their players' frames with it once per tick; the
// load-test tool reads its bots' sockets with it from a few pollers.
//
// A Reader is used by one goroutine at a time (the connection's current
// reader); SetLowat may be called from any goroutine.
type Reader struct {
	rc syscall.RawConn
	// The read in progress: fields instead of closure captures so that a
	// read does not allocate (only the connection's reader calls read).
	b, oob  []byte
	n, oobn int
	err     error
	fn      func(fd uintptr)      // recv through Control, never waits
	fnWait  func(fd uintptr) bool // recv through Read, waits for data
}

// NewReader returns nil when c is not a socket whose receive timestamps
// can be turned on.
func NewReader(c net.Conn) *Reader {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return nil
	}
	r := &Reader{rc: rc, oob: make([]byte, 64)}
	r.fn = func(fd uintptr) { r.recv(fd) }
	r.fnWait = r.recvWait
	return r
}

// Read reads what the socket holds into b without waiting. It returns
// ErrWouldBlock when there is nothing to read, and io.EOF-like (0, nil) at
// the end of the stream. arrival is the kernel's receive time (Unix
// nanoseconds) of the last data returned, 0 if unknown.
//
// It goes through RawConn.Control, not RawConn.Read: the fd stays valid for
// the call either way (a concurrent Close waits for it), and a read that
// never waits has no use for Read's netpoller preparation and read lock
// (two more cold cache lines per call on a loaded server). The caller
// serializes a connection's reads (one reader at a time), not the fd's
// lock.
func (r *Reader) Read(b []byte) (n int, arrival int64, err error) {
	r.b, r.n, r.oobn, r.err = b, 0, 0, nil
	return r.done(r.rc.Control(r.fn))
}

// ReadWait is Read that waits (in the netpoller) until there is data.
func (r *Reader) ReadWait(b []byte) (n int, arrival int64, err error) {
	r.b, r.n, r.oobn, r.err = b, 0, 0, nil
	return r.done(r.rc.Read(r.fnWait))
}

// done ends a read: rcErr is the RawConn call's own error.
func (r *Reader) done(rcErr error) (n int, arrival int64, err error) {
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
func (r *Reader) recv(fd uintptr) bool {
	for {
		n, oobn, _, _, err := syscall.Recvmsg(int(fd), r.b, r.oob, syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			r.err = ErrWouldBlock
		case err != nil:
			r.err = err
		}
		r.n, r.oobn = max(n, 0), oobn
		return true
	}
}

// recvWait is the RawConn callback of ReadWait: it asks to wait for
// readability when the socket is empty.
func (r *Reader) recvWait(fd uintptr) bool {
	r.recv(fd)
	if r.err == ErrWouldBlock {
		r.err = nil
		return false
	}
	return true
}

// timestamp finds the SCM_TIMESTAMPNS control message of the last read.
func (r *Reader) timestamp() int64 {
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

// SetLowat sets the socket's receive low-water mark (SO_RCVLOWAT): below n
// bytes queued, the kernel does not signal the socket readable (tcp_data_ready
// and tcp_poll honour it), so data arriving on a socket that is read
// without waiting wakes nobody. Non-blocking reads still return what is
// there.
func (r *Reader) SetLowat(n int) {
	_ = r.rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, n)
	})
}

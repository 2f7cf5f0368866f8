//go:build linux

package engine

import (
	"net"
	"syscall"
)

// drainBeforeClose reads and drops what the peer sent that nobody read
// yet, without blocking, just before the connection is closed. Linux
// answers close() on a socket with unread data with a reset instead of a
// FIN, and the reset can overtake the close frame written just before it:
// the browser then reports 1006 instead of the code the node sent (a
// kicked player reconnects instead of reading why). A room reads its
// players' sockets only on the tick, so some input is usually unread.
// Bounded: at most closeDrainMax bytes, read into buf (the caller's, so
// that a thousand connections closing at once, a drain, allocate
// nothing); it never waits. Unread data beyond that (a peer that floods)
// may still end in a reset.
func drainBeforeClose(c net.Conn, buf []byte) {
	sc, ok := c.(syscall.Conn)
	if !ok || len(buf) == 0 {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	// Control, not Read: a read goroutine blocked in Read holds the read
	// lock, and this must not wait for it (the caller may be a room).
	_ = rc.Control(func(fd uintptr) {
		for total := 0; total < closeDrainMax; {
			n, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT)
			if n <= 0 || err != nil {
				return
			}
			total += n
		}
	})
}

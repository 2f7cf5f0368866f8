package engine

import (
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// What the peer sent and nobody read is drained, up to the bound, into the
// caller's buffer, with no allocation of its own.
func TestDrainBeforeClose(t *testing.T) {
	const maxDrain = 64 << 10
	tests := []struct {
		name     string
		unread   int // bytes waiting in the socket when the drain starts
		wantLeft int // bytes still unread after it
	}{
		{"nothing unread", 0, 0},
		{"a few inputs", 300, 0},
		{"more than one buffer", 20 << 10, 0},
		{"a flood past the bound", maxDrain + 1000, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client, server := tcpPair(t)
			if tc.unread > 0 {
				_ = client.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := client.Write(make([]byte, tc.unread)); err != nil {
					t.Fatal(err)
				}
				for deadline := time.Now().Add(5 * time.Second); unread(t, server) < tc.unread; time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("%d of the peer's %d bytes arrived", unread(t, server), tc.unread)
					}
				}
			}
			buf := make([]byte, readChunk)
			if tc.unread == 0 {
				// AllocsPerRun drains more than once: only where there is
				// nothing to drain.
				if a := testing.AllocsPerRun(10, func() { drainBeforeClose(server, buf) }); a > 2 {
					t.Fatalf("%v allocations a drain, want at most 2 (the raw conn and the closure; no buffer)", a)
				}
			}
			drainBeforeClose(server, buf)
			if left := unread(t, server); left != tc.wantLeft {
				t.Fatalf("%d bytes left unread, want %d", left, tc.wantLeft)
			}
		})
	}
}

// unread returns how many bytes wait to be read in c's socket.
func unread(t *testing.T, c net.Conn) int {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ierr error
	if err := rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }); err != nil {
		t.Fatal(err)
	}
	if ierr != nil {
		t.Fatal(ierr)
	}
	return n
}

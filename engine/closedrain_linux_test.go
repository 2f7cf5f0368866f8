package engine

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// What the peer sent and nobody read is drained, up to the bound, into the
// caller's buffer, with no allocation of its own.
func TestDrainBeforeClose(t *testing.T) {
	tests := []struct {
		name     string
		unread   int
		wantLeft bool // bytes still unread after the drain
	}{
		{"nothing unread", 0, false},
		{"a few inputs", 300, false},
		{"more than one buffer", 20 << 10, false},
		{"a flood past the bound", 400 << 10, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client, server := tcpPair(t)
			if tc.unread > 0 {
				done := make(chan struct{})
				go func() {
					defer close(done)
					_ = client.SetWriteDeadline(time.Now().Add(5 * time.Second))
					_, _ = client.Write(make([]byte, tc.unread))
				}()
				if tc.unread <= 64<<10 {
					<-done // all of it is in the server's socket
				}
				waitUnread(t, server)
				defer func() { _ = client.Close(); <-done }()
			}
			buf := make([]byte, readChunk)
			allocs := testing.AllocsPerRun(1, func() { drainBeforeClose(server, buf) })
			if allocs > 2 {
				t.Fatalf("%v allocations a drain, want at most 2 (the raw conn and the closure; no buffer)", allocs)
			}
			if left := unread(t, server); left != tc.wantLeft {
				t.Fatalf("bytes left unread: %v, want %v", left, tc.wantLeft)
			}
		})
	}
}

// unread reports whether c has bytes to read now, without taking them.
func unread(t *testing.T, c net.Conn) bool {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var b [1]byte
	if err := rc.Control(func(fd uintptr) {
		n, _, _ = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	}); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// waitUnread waits until c has bytes to read.
func waitUnread(t *testing.T, c net.Conn) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !unread(t, c); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the peer's bytes never arrived")
		}
	}
}

package engine

import (
	"testing"
	"time"
)

// What the peer sent and nobody read is drained, up to the bound, into the
// caller's buffer, with no allocation of its own.
func TestDrainBeforeClose(t *testing.T) {
	tests := []struct {
		name     string
		unread   int // bytes waiting in the socket when the drain starts
		wantLeft int // bytes still unread after it
	}{
		{"nothing unread", 0, 0},
		{"a few inputs", 300, 0},
		{"more than one buffer", 20 << 10, 0},
		{"a flood past the bound", closeDrainMax + 1000, 1000},
	}
	peek := make([]byte, 2*closeDrainMax) // more than any case leaves
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client, server := tcpPair(t)
			if tc.unread > 0 {
				_ = client.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := client.Write(make([]byte, tc.unread)); err != nil {
					t.Fatal(err)
				}
				for deadline := time.Now().Add(5 * time.Second); peekBytes(t, server, peek) < tc.unread; time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("%d of the peer's %d bytes arrived", peekBytes(t, server, peek), tc.unread)
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
			if left := peekBytes(t, server, peek); left != tc.wantLeft {
				t.Fatalf("%d bytes left unread, want %d", left, tc.wantLeft)
			}
		})
	}
}

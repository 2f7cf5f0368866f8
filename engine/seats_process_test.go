package engine_test

import (
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickwire/tickwire/client"
)

// balancer is a TCP load balancer for a test: round robin over backends,
// skipping one that refuses the connection (as nginx does with a dead
// upstream).
type balancer struct {
	ln       net.Listener
	backends []string
	mu       sync.Mutex
	next     int
	conns    []net.Conn
	wg       sync.WaitGroup
}

func newBalancer(t *testing.T, backends []string) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{ln: ln, backends: backends}
	b.wg.Go(b.serve)
	t.Cleanup(func() {
		_ = ln.Close()
		b.mu.Lock()
		for _, c := range b.conns {
			_ = c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

func (b *balancer) serve() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		var up net.Conn
		for range b.backends {
			b.mu.Lock()
			addr := b.backends[b.next%len(b.backends)]
			b.next++
			b.mu.Unlock()
			if up, err = net.DialTimeout("tcp", addr, time.Second); err == nil {
				break
			}
		}
		if up == nil {
			_ = c.Close()
			continue
		}
		b.mu.Lock()
		b.conns = append(b.conns, c, up)
		b.mu.Unlock()
		b.wg.Go(func() { _, _ = io.Copy(up, c); _ = up.Close() })
		b.wg.Go(func() { _, _ = io.Copy(c, up); _ = c.Close() })
	}
}

// TestArenaSignals: the first SIGINT drains (logged with the rooms,
// players and timeout); a second one exits at once, with a failure status.
func TestArenaSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a node process")
	}
	bin := buildArena(t)
	addr := freeAddr(t)
	cmd := exec.Command(bin, "-addr", addr, "-admin-addr", "", "-drain-timeout", "30s")
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var c *client.Client
	eventually(t, "the node accepts", func() bool {
		var err error
		c, err = client.Dial(ctx5(t), "ws://"+addr+"/ws", client.Options{NoReconnect: true})
		return err == nil
	})
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.JoinOrCreate(ctx5(t), "arena", client.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	eventually(t, "the drain logged", func() bool {
		s := logs.String()
		return strings.Contains(s, "tickwire node draining") && strings.Contains(s, "players=1") && strings.Contains(s, "timeout=30s")
	})
	second := time.Now()
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-exited:
		if err == nil {
			t.Fatal("the second signal exited with status 0")
		}
		if d := time.Since(second); d > 5*time.Second {
			t.Fatalf("exited %v after the second signal", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a second signal did not end the draining process")
	}
}

// syncBuffer is a bytes.Buffer safe for a process's writer and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

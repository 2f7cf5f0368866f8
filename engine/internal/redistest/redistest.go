// Package redistest starts a throwaway redis-server on a free loopback port
// for tests. Without redis-server on PATH a test is skipped, unless the
// environment variable CI is set, in which case it fails.
package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Server is a running redis-server (or redis-sentinel) owned by one test.
type Server struct {
	t    testing.TB
	bin  string
	port int
	dir  string
	// extra arguments after the defaults (replicaof), or for a Sentinel
	// its configuration file's contents.
	extra    []string
	sentinel string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start starts redis-server on 127.0.0.1 and kills it on test cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	s := newServer(t, "redis-server")
	s.start()
	t.Cleanup(s.Stop)
	return s
}

// StartPersistent starts a redis-server that writes every write to its
// append-only file before answering (appendfsync always), as a production
// Redis with persistence: after Stop (a kill), Start brings it back with its
// data.
func StartPersistent(t testing.TB) *Server {
	t.Helper()
	s := newServer(t, "redis-server")
	s.extra = []string{"--appendonly", "yes", "--appendfsync", "always"}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

// StartReplica starts a redis-server replicating primary.
func StartReplica(t testing.TB, primary *Server) *Server {
	t.Helper()
	s := newServer(t, "redis-server")
	s.extra = []string{"--replicaof", "127.0.0.1", strconv.Itoa(primary.port)}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

// StartSentinels starts n redis-sentinel processes monitoring primary as
// master with the given quorum; a primary unreachable for downAfter is
// failed over.
func StartSentinels(t testing.TB, master string, primary *Server, n, quorum int, downAfter time.Duration) []*Server {
	t.Helper()
	out := make([]*Server, n)
	for i := range out {
		s := newServer(t, "redis-sentinel")
		s.sentinel = fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n"+
			"sentinel monitor %s 127.0.0.1 %d %d\n"+
			"sentinel down-after-milliseconds %s %d\n"+
			"sentinel failover-timeout %s 10000\n"+
			"sentinel parallel-syncs %s 1\n",
			s.port, s.dir, master, primary.port, quorum, master, downAfter.Milliseconds(), master, master)
		s.start()
		t.Cleanup(s.Stop)
		out[i] = s
	}
	return out
}

func newServer(t testing.TB, name string) *Server {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed (CI is set, so this is a failure): %v", name, err)
		}
		t.Skipf("%s not installed; install it (apt-get install %s) to run this test: %v", name, name, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return &Server{t: t, bin: bin, port: port, dir: t.TempDir()}
}

// Port is the server's port.
func (s *Server) Port() int { return s.port }

// Addr is host:port of the server.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

func (s *Server) start() {
	s.t.Helper()
	var cmd *exec.Cmd
	if s.sentinel != "" {
		// A Sentinel rewrites its configuration file: one per start.
		conf := filepath.Join(s.dir, "sentinel.conf")
		if err := os.WriteFile(conf, []byte(s.sentinel), 0o600); err != nil {
			s.t.Fatal(err)
		}
		cmd = exec.Command(s.bin, conf, "--loglevel", "warning")
	} else {
		args := append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", s.dir, "--loglevel", "warning"}, s.extra...)
		cmd = exec.Command(s.bin, args...)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	// Bounded wait for the port to answer PING.
	for i := 0; i < 200; i++ {
		if ping(s.Addr()) == nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	s.t.Fatalf("redis-server on %s did not come up", s.Addr())
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 7)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if string(buf[:n]) != "+PONG\r\n" {
		return fmt.Errorf("unexpected reply %q", buf[:n])
	}
	return nil
}

// Stop kills the server (SIGKILL, no save) and waits for it. Idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// Start starts a stopped server again on the same port: empty, or with its
// data when it is persistent (StartPersistent).
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if !running {
		s.start()
	}
}

// Restart kills the server and starts it again on the same port: empty,
// or with its data when it is persistent (StartPersistent).
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

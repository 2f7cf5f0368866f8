package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine/cluster"
	"github.com/tickwire/tickwire/engine/internal/redistest"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// arenaProc is one examples/arena node process.
type arenaProc struct {
	id, addr, admin, url string
	cmd                  *exec.Cmd
	logs                 *syncBuffer // its stderr
}

// buildArena builds examples/arena into a temporary directory.
func buildArena(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "arena")
	build := exec.Command("go", "build", "-o", bin, "../examples/arena")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build arena: %v\n%s", err, out)
	}
	return bin
}

// startArena starts n arena node processes (ids p1..pn) on 127.0.0.1 with
// the given cluster flags and waits until each serves its public and admin
// ports; they are killed on cleanup, and their stderr is logged if the
// test failed. A port found free can be taken before the node binds it
// (by another test process's connection): such a node exits, and it is
// started again on new ports, up to three attempts.
func startArena(t *testing.T, bin, secret string, n int, flags ...string) []*arenaProc {
	t.Helper()
	out := make([]*arenaProc, n)
	addrs := freeAddrs(t, 2*n)
	for i := range out {
		out[i] = spawnArena(t, bin, fmt.Sprintf("p%d", i+1), addrs[2*i], addrs[2*i+1], secret, flags)
	}
	for i, p := range out {
		for attempt := 2; !serving(p.addr, p.admin); attempt++ {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
			if attempt > 3 {
				t.Fatalf("node %s did not serve in 3 attempts; its stderr:\n%s", p.id, p.logs.String())
			}
			t.Logf("node %s did not serve on %s (admin %s); starting it again on new ports", p.id, p.addr, p.admin)
			a := freeAddrs(t, 2)
			p = spawnArena(t, bin, p.id, a[0], a[1], secret, flags)
			out[i] = p
		}
	}
	return out
}

// spawnArena starts one node process on addr and admin.
func spawnArena(t *testing.T, bin, id, addr, admin, secret string, flags []string) *arenaProc {
	t.Helper()
	p := &arenaProc{id: id, addr: addr, admin: admin, url: "ws://" + addr + "/ws", logs: &syncBuffer{}}
	args := append([]string{"-addr", addr, "-admin-addr", admin, "-node-id", id, "-advertise", addr, "-secret", secret,
		"-drain-timeout", "1s"}, flags...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = os.Environ()
	p.cmd.Stderr = p.logs
	if testing.Verbose() {
		p.cmd.Stderr = io.MultiWriter(p.logs, os.Stderr)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		if t.Failed() {
			t.Logf("node %s (%s) stderr:\n%s", id, addr, p.logs.String())
		}
	})
	return p
}

// serving waits up to 10 s until a node accepts connections on addr and
// answers /healthz on admin; false if it does not (it exited).
func serving(addr, admin string) bool {
	hc := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			continue
		}
		_ = c.Close()
		resp, err := hc.Get("http://" + admin + "/healthz")
		if err != nil {
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return true
		}
	}
	return false
}

// watchCluster opens the cluster's Redis as a backend of the test's (closed
// on cleanup) and waits until n nodes registered in it.
func watchCluster(t *testing.T, redisAddr, secret string, n int) *cluster.Redis {
	t.Helper()
	b, err := cluster.NewRedis(cluster.RedisConfig{Config: cluster.Config{Secret: []byte(secret)}, Addr: redisAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	eventually(t, fmt.Sprintf("%d nodes registered", n), func() bool {
		ns, err := b.Nodes(context.Background())
		return err == nil && len(ns) == n
	})
	return b
}

// TestKillNineNoDeadEnds: after kill -9 of a node, joins never land on it.
// Join-or-create with a filter that matches only the dead node's room
// succeeds at once (the owner is marked suspect and the seat placed
// elsewhere), and join by id through a node that cached the dead owner
// answers a retryable ROOM_NOT_FOUND instead of closing with 4014.
func TestKillNineNoDeadEnds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs node processes")
	}
	rs := redistest.Start(t)
	bin := buildArena(t)
	const secret = "kill nine test secret"
	ps := startArena(t, bin, secret, 3, "-redis", rs.Addr(), "-capacity", "100")
	b := watchCluster(t, rs.Addr(), secret, len(ps))
	filter := map[string]string{"mode": "kill"}
	dial := func(p *arenaProc, name string) *client.Client {
		t.Helper()
		rec := &recorder{}
		c, err := client.Dial(ctx5(t), p.url, rec.options(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	// The dead node's player, in the only room matching the filter.
	victim := dial(ps[2], "victim")
	j, err := victim.Create(ctx5(t), "arena", client.JoinOptions{Filter: filter})
	if err != nil {
		t.Fatal(err)
	}
	deadRoom := j.RoomId
	// p1 learns (and caches) the owner by relaying a join by id.
	c1 := dial(ps[0], "c1")
	if _, err := c1.JoinByID(ctx5(t), deadRoom, client.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Leave(ctx5(t)); err != nil {
		t.Fatal(err)
	}

	if err := ps[2].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	_ = ps[2].cmd.Wait()

	// The victim reconnects through p1 and joins-or-creates with its filter.
	back := dial(ps[0], "victim-again")
	j2, err := back.JoinOrCreate(ctx5(t), "arena", client.JoinOptions{Filter: filter})
	if err != nil {
		t.Fatalf("join-or-create right after kill -9: %v", err)
	}
	firstJoin := time.Since(killed)
	if j2.RoomId == deadRoom {
		t.Fatal("joined the dead node's room")
	}
	t.Logf("kill -9 to the dead node's player's first successful join: %v", firstJoin)

	// Join by id through the node that cached the dead owner: a retryable
	// not-found, and the connection stays open.
	_, err = c1.JoinByID(ctx5(t), deadRoom, client.JoinOptions{})
	var se *client.ServerError
	if !errors.As(err, &se) || se.Code != tickwirev1.ErrorCode_ERROR_CODE_ROOM_NOT_FOUND {
		t.Fatalf("join by id of the dead node's room: %v; want ROOM_NOT_FOUND", err)
	}
	if _, err := c1.Ping(ctx5(t)); err != nil && !errors.Is(err, client.ErrNoClockSample) {
		t.Fatalf("connection after not-found: %v", err)
	}
	// 8 more join-or-creates with the filter through both live nodes, all
	// while the dead node is still within its TTL: none fails.
	for i := range 8 {
		c := dial(ps[i%2], fmt.Sprint("j", i))
		j, err := c.JoinOrCreate(ctx5(t), "arena", client.JoinOptions{Filter: filter})
		if err != nil {
			t.Fatalf("join-or-create %d via %s after kill: %v", i, ps[i%2].id, err)
		}
		if j.RoomId == deadRoom {
			t.Fatalf("join-or-create %d got the dead node's room", i)
		}
	}
	t.Logf("10 joins done %v after kill -9 (node TTL 5 s)", time.Since(killed))
	// The dead node leaves the directory with its room.
	eventually(t, "dead node swept", func() bool {
		_, err := b.LookupRoom(context.Background(), deadRoom)
		return errors.Is(err, cluster.ErrRoomNotFound)
	})
}

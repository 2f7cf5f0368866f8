package deploy

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Exit codes of scripts/cluster.sh (documented in the script).
const (
	clusterExitMissingTool  = 2
	clusterExitNoClusterFlg = 3
)

// freePort returns a port that was free a moment ago, with the next few
// ports free too (cluster.sh gives node2 and node3 the ports after node1's,
// and moves on to the next free one if one has been taken since). It picks
// below the kernel's ephemeral range when it can: other tests running in
// parallel get their outgoing and :0 ports from that range, and one of them
// taking node2's port between cluster.sh's check and node2's bind made
// this test flaky.
func freePort(t *testing.T) int {
	t.Helper()
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				lo = v
			}
		}
	}
	free := func(p int) bool {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		l.Close()
		return true
	}
	if lo > 12000 {
		for range 100 {
			p := 10000 + rand.IntN(lo-12000)
			if free(p) && free(p+1) && free(p+2) && free(p+3) {
				return p
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestClusterScript runs `scripts/cluster.sh --check`: a real redis-server,
// three arena nodes in cluster mode and (when installed) nginx, all on
// 127.0.0.1; it checks health, /rooms on each node, that the nodes
// registered in Redis, and a WebSocket upgrade through nginx, then stops
// everything. Skipped with -short or when redis-server, redis-cli or curl is
// missing (.ci/run installs redis-server).
func TestClusterScript(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the local cluster (builds the arena server, starts 4-5 processes)")
	}
	for _, tool := range []string{"redis-server", "redis-cli", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: skipping scripts/cluster.sh --check", tool)
		}
	}
	root := repoRoot(t)
	tmp := t.TempDir()

	// The bound stops a wedged cluster from hanging the test run; on expiry
	// the script gets SIGTERM so its trap stops what it started.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "cluster.sh"), "--check")
	cmd.Dir = root
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute
	cmd.Env = append(cmd.Environ(),
		"TICKWIRE_CLUSTER_DIR="+filepath.Join(tmp, "cluster"),
		"TICKWIRE_CLUSTER_BIN="+filepath.Join(tmp, "arena"),
		"TICKWIRE_CLUSTER_REDIS_PORT="+strconv.Itoa(freePort(t)),
		"TICKWIRE_CLUSTER_BASE_PORT="+strconv.Itoa(freePort(t)),
		"TICKWIRE_CLUSTER_LB_PORT="+strconv.Itoa(freePort(t)),
	)
	out, err := cmd.CombinedOutput()
	t.Logf("scripts/cluster.sh --check:\n%s", out)
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() == clusterExitMissingTool:
		t.Skip("scripts/cluster.sh: a required tool is missing (see output)")
	case errors.As(err, &exit) && exit.ExitCode() == clusterExitNoClusterFlg:
		// The flags landed with cluster mode (examples/arena/main.go);
		// losing them breaks `make cluster` and docker-compose.yml.
		t.Fatalf("examples/arena lacks its cluster flags (-redis, -node-id, -advertise, -secret, -capacity): %v", err)
	default:
		t.Fatalf("scripts/cluster.sh --check: %v", err)
	}
}

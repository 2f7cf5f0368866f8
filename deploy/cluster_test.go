package deploy

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Exit codes of scripts/cluster.sh (documented in the script).
const (
	clusterExitMissingTool  = 2
	clusterExitNoClusterFlg = 3
)

// freePort returns a port that was free a moment ago; cluster.sh moves on to
// the next free port if it has been taken since.
func freePort(t *testing.T) int {
	t.Helper()
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

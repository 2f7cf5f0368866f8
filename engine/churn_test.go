package engine_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine/internal/redistest"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// churnCycles sets the cycles of TestRelayChurn (and turns TestDirectChurn
// on): the short default runs in
// make test; the long run is e.g. go test -run TestRelayChurn -churn 100000 ./engine/
var churnCycles = flag.Int("churn", 0, "TestRelayChurn: join/leave cycles (default 1,200)")

// TestRelayChurn: clients on one node join a room of another node by id
// (through a relay) and leave it, again and again, as fast as the replies
// come. Every request must be answered: a reply that never comes is a hang
// (its goroutines are written to a file named in the log).
func TestRelayChurn(t *testing.T) {
	cycles := *churnCycles
	if cycles <= 0 {
		cycles = 1000
	}
	churn(t, 0, 8, cycles)
}

// TestDirectChurn is the same churn with one client connected to the
// room's own node (no relay), faster than the rate limit (its requests
// must be answered RATE_LIMITED, not dropped without a reply).
func TestDirectChurn(t *testing.T) {
	cycles := *churnCycles
	if cycles <= 0 {
		cycles = 400
	}
	churn(t, 1, 1, cycles)
}

// churn runs workers clients on nodes[entry] (the room lives on nodes[1]),
// cycles join/leave cycles in all. The room is large: the directory's seat
// count trails leaves (ReleaseSeat is queued), and a nearly full room
// would answer ROOM_FULL to a player who just left and joins again.
func churn(t *testing.T, entry, workers, cycles int) {
	rs := redistest.Start(t)
	nodes := startCluster(t, rs.Addr(), 2, room.Config{TickRate: 100, MaxPlayers: 1000})
	holder := dial(t, nodes[1], nil)
	j, err := holder.Create(ctx5(t), "sum", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var done, hangs, retries, limited atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	started := time.Now()
	for w := range workers {
		c := dial(t, nodes[entry], nil)
		wg.Go(func() {
			for i := w; i < cycles; i += workers {
				for step, op := range []func(context.Context) error{
					func(ctx context.Context) error { _, err := c.JoinByID(ctx, j.RoomId, client.JoinOptions{}); return err },
					func(ctx context.Context) error { _, err := c.Leave(ctx); return err },
				} {
					var err error
				retry:
					for try := 0; try < 20; try++ {
						ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
						err = op(ctx)
						cancel()
						var se *client.ServerError
						if !errors.As(err, &se) {
							break
						}
						switch se.Code {
						case tickwirev1.ErrorCode_ERROR_CODE_MATCHMAKING_UNAVAILABLE:
							// A Redis call timed out on a loaded machine.
							retries.Add(1)
						case tickwirev1.ErrorCode_ERROR_CODE_RATE_LIMITED:
							// Faster than Config.RateLimit: the request was
							// dropped, and answered.
							limited.Add(1)
						default:
							break retry
						}
						// Answered, not lost: back off and retry, as a client would.
						time.Sleep(20 * time.Millisecond)
					}
					if err == context.DeadlineExceeded {
						if hangs.Add(1) == 1 {
							dumpGoroutines(t)
						}
						errs <- fmt.Errorf("worker %d cycle %d step %d: no reply within 5 s", w, i, step)
						return
					}
					if err != nil {
						errs <- fmt.Errorf("worker %d cycle %d step %d: %w", w, i, step, err)
						return
					}
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	el := time.Since(started)
	t.Logf("%d join/leave cycles (entry node %d, room on node 1) in %v (%.0f/s), %d hangs; retried %d unavailable and %d rate-limited answers", done.Load(), entry, el.Round(time.Millisecond),
		float64(done.Load())/el.Seconds(), hangs.Load(), retries.Load(), limited.Load())
}

// dumpGoroutines writes every goroutine's stack (the test's nodes run in
// this process) to a file in the system's temporary directory, kept after
// the test, and logs its name.
func dumpGoroutines(t *testing.T) {
	f, err := os.CreateTemp("", "churn-goroutines-*.txt")
	if err != nil {
		return
	}
	defer f.Close()
	_ = pprof.Lookup("goroutine").WriteTo(f, 2)
	t.Logf("goroutines at the first hang: %s", f.Name())
}

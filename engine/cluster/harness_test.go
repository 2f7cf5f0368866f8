package cluster

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickwire/tickwire/engine/internal/redistest"
)

// fakeClock is a settable clock shared by every backend of a test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now().Truncate(time.Millisecond)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var testSecret = []byte("test-cluster-secret-0123456789ab")

// impl builds n coordinators sharing one cluster state.
type impl struct {
	name string
	new  func(t testing.TB, cfg Config, n int) []Backend
}

var prefixSeq atomic.Int64

func memoryImpl() impl {
	return impl{"memory", func(t testing.TB, cfg Config, n int) []Backend {
		cfg.Secret = testSecret
		m := NewMemory(cfg)
		t.Cleanup(func() { _ = m.Close() })
		out := make([]Backend, n)
		for i := range out {
			out[i] = m
		}
		return out
	}}
}

func redisImplOn(srv *redistest.Server) impl {
	return impl{"redis", func(t testing.TB, cfg Config, n int) []Backend {
		cfg.Secret = testSecret
		prefix := fmt.Sprintf("t%d:", prefixSeq.Add(1))
		out := make([]Backend, n)
		for i := range out {
			r, err := NewRedis(RedisConfig{Config: cfg, Addr: srv.Addr(), Prefix: prefix, OpTimeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Close() })
			out[i] = r
		}
		return out
	}}
}

// impls returns both implementations; the Redis one on a fresh server.
func impls(t *testing.T) []impl {
	t.Helper()
	return []impl{memoryImpl(), redisImplOn(redistest.Start(t))}
}

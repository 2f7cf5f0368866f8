package engine_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/internal/wsframe"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// bigState is a test game whose ~5 KB state changes every tick.
type bigState struct {
	room.Base[*structpb.Struct, *wrapperspb.BytesValue]
	n int
}

func (b *bigState) Init(c *room.Context[*structpb.Struct], _ []byte) error {
	c.State.Fields = map[string]*structpb.Value{}
	return nil
}

func (b *bigState) Tick(c *room.Context[*structpb.Struct], _ []room.Input[*wrapperspb.BytesValue]) {
	b.n++
	c.State.Fields["blob"] = structpb.NewStringValue(strings.Repeat(fmt.Sprintf("%08d", b.n), 640))
}

// stateCounter records the ticks of the states a client received.
type stateCounter struct {
	mu    sync.Mutex
	ticks map[uint32]bool
}

func (sc *stateCounter) add(t uint32) {
	sc.mu.Lock()
	sc.ticks[t] = true
	sc.mu.Unlock()
}

// since returns how many of the ticks after from were received, and the
// range they span.
func (sc *stateCounter) since(from uint32) (got, span int) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	lo, hi := uint32(0), uint32(0)
	for t := range sc.ticks {
		if t <= from {
			continue
		}
		got++
		if lo == 0 || t < lo {
			lo = t
		}
		hi = max(hi, t)
	}
	if got == 0 {
		return 0, 0
	}
	return got, int(hi-lo) + 1
}

func (sc *stateCounter) last() uint32 {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	var hi uint32
	for t := range sc.ticks {
		hi = max(hi, t)
	}
	return hi
}

// TestNeverReadingClientClosed: a client that joins a room whose states are
// ~5 KB and then never reads is closed as a slow consumer (4005) within
// 10 s (it used to keep its seat for 240 s while its kernel buffers
// filled); the server's heap stays flat and the room's other player keeps
// every state.
func TestNeverReadingClientClosed(t *testing.T) {
	s := start(t, engine.Config{Limits: engine.Limits{SlowConsumerTimeout: 3 * time.Second}}, room.Config{TickRate: 20})
	if err := s.e.RegisterRoom("big", room.Define(room.Config{TickRate: 20}, func() room.Handler[*structpb.Struct, *wrapperspb.BytesValue] { return &bigState{} })); err != nil {
		t.Fatal(err)
	}
	sc := &stateCounter{ticks: map[uint32]bool{}}
	good, err := client.Dial(ctx5(t), s.url, client.Options{OnState: func(st *tickwirev1.State) { sc.add(st.Tick) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = good.Close() })
	j, err := good.Create(ctx5(t), "big", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "first states", func() bool { return sc.last() > 5 })

	// The abuser: a real handshake, Hello and Join, then no read ever.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	bad, err := wsframe.Dial(ctx, s.url, wsframe.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	hello, _ := proto.Marshal(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Hello{Hello: &tickwirev1.Hello{ProtocolVersion: 1}}})
	join, _ := proto.Marshal(&tickwirev1.ClientMessage{RequestId: 1, Kind: &tickwirev1.ClientMessage_Join{Join: &tickwirev1.Join{RoomId: j.RoomId}}})
	if bad.WriteMessage(wsframe.OpBinary, hello) != nil || bad.WriteMessage(wsframe.OpBinary, join) != nil {
		t.Fatal("abuser write failed")
	}
	eventually(t, "abuser in the room", func() bool { return metricValue(t, s, "tickwire_players") == 2 })
	from := sc.last()
	joinedAt := time.Now()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	eventually(t, "abuser closed with 4005", func() bool { return s.e.Metrics().CloseCount(4005) >= 1 })
	took := time.Since(joinedAt)
	eventually(t, "abuser's connection gone", func() bool { return metricValue(t, s, "tickwire_connections") == 1 })
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	got, span := sc.since(from)
	rate := float64(got) / took.Seconds()
	t.Logf("closed after %v; other player got %d of %d ticks (%.1f states/s); heap %d -> %d KB",
		took.Round(time.Millisecond), got, span, rate, before.HeapAlloc>>10, after.HeapAlloc>>10)
	if took > 10*time.Second {
		t.Fatalf("closed after %v, want within 10 s", took)
	}
	if got*1000 < span*975 {
		t.Fatalf("the other player got %d of %d ticks while the abuser was in the room", got, span)
	}
	if grow := int64(after.HeapAlloc) - int64(before.HeapAlloc); grow > 32<<20 {
		t.Fatalf("heap grew %d MB", grow>>20)
	}
	var m strings.Builder
	s.e.Metrics().WritePrometheus(&m)
	if !strings.Contains(m.String(), `tickwire_limit_refusals_total{limit="slow_consumer"} 1`) {
		t.Fatal("slow consumer not counted")
	}
}

package engine_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// The Go client brings its seat back by itself: the same player, its inputs
// in sequence, and never two copies of it in the room.
func TestClientReconnectsAndResumes(t *testing.T) {
	for _, tt := range []struct {
		name string
		drop func(p *faultProxy)
	}{
		{"reset", (*faultProxy).Reset},
		{"silent drop", (*faultProxy).Blackhole},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, engine.Config{}, room.Config{TickRate: 50})
			proxy := newFaultProxy(t, hostOf(t, s.url))
			ctx := ctx5(t)
			var mu sync.Mutex
			var events []string
			note := func(e string) { mu.Lock(); events = append(events, e); mu.Unlock() }
			back := make(chan *tickwirev1.Joined, 1)
			a, err := client.Dial(ctx, proxy.URL(), client.Options{
				Name: "ada", SilenceTimeout: 300 * time.Millisecond,
				OnReconnecting: func(n int, _ error) { note("reconnecting") },
				OnReconnected:  func(j *tickwirev1.Joined) { back <- j },
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = a.Close() })
			ra, err := client.JoinOrCreate[*structpb.Struct](ctx, a, "sum", client.JoinOptions{})
			if err != nil {
				t.Fatal(err)
			}
			id := ra.PlayerID()
			b := dial(t, s, nil)
			if _, err := b.JoinByID(ctx, ra.ID(), client.JoinOptions{}); err != nil {
				t.Fatal(err)
			}
			// Watch the room: it must never hold three players.
			var most atomic.Int32
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				for {
					if n := int32(playersIn(s, ra.ID())); n > most.Load() {
						most.Store(n)
					}
					select {
					case <-stop:
						return
					case <-time.After(time.Millisecond):
					}
				}
			})
			defer func() { close(stop); wg.Wait() }()

			if _, err := ra.SendInput(wrapperspb.Bytes([]byte("ab"))); err != nil {
				t.Fatal(err)
			}
			tt.drop(proxy)
			// A game keeps sending inputs until the client notices: into
			// the dead connection, or none while it is down. More than the
			// 64 the room accepts past the newest seq it has seen. It goes
			// on while the client reconnects: none of those may reach the
			// new connection before its resume is answered (the server
			// would count them as bad messages, NOT_IN_ROOM).
			for range 100 {
				_, _ = ra.SendInput(wrapperspb.Bytes([]byte("x")))
			}
			var j *tickwirev1.Joined
			var refused int
			var firstBack uint32 // the first input sent after the resume
			timeout := time.After(10 * time.Second)
		wait:
			for {
				select {
				case j = <-back:
					break wait
				case <-timeout:
					t.Fatalf("no reconnection; events %v, err %v", events, a.Err())
				case <-time.After(200 * time.Microsecond):
					seq, err := ra.SendInput(wrapperspb.Bytes([]byte("y")))
					switch {
					case errors.Is(err, client.ErrNotInRoom):
						refused++
					case err == nil && refused > 0 && firstBack == 0:
						firstBack = seq
					}
				}
			}
			if refused == 0 {
				t.Error("SendInput never refused an input while the client reconnected")
			}
			if n := s.e.Metrics().ErrorCount(tickwirev1.ErrorCode_ERROR_CODE_NOT_IN_ROOM); n != 0 {
				t.Errorf("the server answered %d inputs with NOT_IN_ROOM (sent by the reconnecting client before its resume)", n)
			}
			if !j.Resumed || j.PlayerId != id || ra.PlayerID() != id {
				t.Fatalf("came back as %+v, want player %d resumed", j, id)
			}
			seq, err := ra.SendInput(wrapperspb.Bytes([]byte("cde")))
			if err != nil {
				t.Fatal(err)
			}
			if firstBack == 0 {
				firstBack = seq
			}
			if firstBack != j.LastInputSeq+1 {
				t.Fatalf("first input after the resume has seq %d, want %d (Joined.last_input_seq + 1)", firstBack, j.LastInputSeq+1)
			}
			eventually(t, "the input after the resume applied", func() bool {
				_, _, last, ok := ra.State()
				return ok && last >= seq
			})
			if n := most.Load(); n != 2 {
				t.Fatalf("the room held %d players at once: one person was two", n)
			}
		})
	}
}

func TestClientNoReconnect(t *testing.T) {
	s := start(t, engine.Config{}, room.Config{TickRate: 50})
	proxy := newFaultProxy(t, hostOf(t, s.url))
	ctx := ctx5(t)
	a, err := client.Dial(ctx, proxy.URL(), client.Options{NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.JoinOrCreate(ctx, "sum", client.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	proxy.Reset()
	select {
	case <-a.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a client without reconnection did not end")
	}
}

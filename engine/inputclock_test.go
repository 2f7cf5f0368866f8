package engine_test

import (
	"sync"
	"testing"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// Inputs sent at Client.NextInputAt reach the room just before its tick:
// each is acknowledged by the next state, about lead after it was sent,
// instead of anywhere up to a tick later.
func TestNextInputAtSendsJustBeforeTheTick(t *testing.T) {
	s := start(t, engine.Config{}, room.Config{TickRate: 10})
	type arrival struct {
		at  time.Time
		ack uint32
	}
	var mu sync.Mutex
	var arrivals []arrival
	c, err := client.Dial(ctx5(t), s.url, client.Options{OnState: func(st *tickwirev1.State) {
		mu.Lock()
		arrivals = append(arrivals, arrival{time.Now(), st.LastInputSeq})
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, ok := c.NextInputAt(0); ok {
		t.Fatal("NextInputAt ready before joining")
	}
	if _, err := c.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "five states", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(arrivals) >= 5
	})

	const lead, inputs = 20 * time.Millisecond, 20
	sent := map[uint32]time.Time{}
	for range inputs {
		at, ok := c.NextInputAt(lead)
		if !ok {
			t.Fatal("NextInputAt not ready after states arrived")
		}
		if d := time.Until(at); d <= -5*time.Millisecond || d > 100*time.Millisecond {
			t.Fatalf("NextInputAt is %v from now, want within the next tick (100 ms)", d)
		}
		time.Sleep(time.Until(at))
		seq, err := c.SendInput(payload("x"))
		if err != nil {
			t.Fatal(err)
		}
		sent[seq] = time.Now()
	}
	eventually(t, "the last input acknowledged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return arrivals[len(arrivals)-1].ack >= inputs
	})

	// With sends on a random phase, an input waits 0-100 ms for the tick
	// (under 50 ms in half the cases); on the tick timeline, about lead.
	mu.Lock()
	defer mu.Unlock()
	quick := 0
	var waits []time.Duration
	for seq, at := range sent {
		for _, a := range arrivals {
			if a.ack >= seq && a.at.After(at) {
				w := a.at.Sub(at)
				waits = append(waits, w)
				if w < lead+30*time.Millisecond {
					quick++
				}
				break
			}
		}
	}
	if quick < inputs*3/4 {
		t.Fatalf("%d of %d inputs acknowledged within %v of sending; waits %v", quick, inputs, lead+30*time.Millisecond, waits)
	}
}

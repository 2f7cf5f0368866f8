package engine_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// BenchmarkResume measures a seat's resume on loopback the way a player
// lives it: from the new TCP connection to the first state after the
// resume (the room sends the newest snapshot with the resumed Joined). It
// reports the p50 and p99 in ms.
func BenchmarkResume(b *testing.B) {
	s := start(b, engine.Config{}, room.Config{TickRate: 20})
	ctx := b.Context()
	first, err := client.Dial(ctx, s.url, client.Options{NoReconnect: true})
	if err != nil {
		b.Fatal(err)
	}
	j, err := first.JoinOrCreate(ctx, "sum", client.JoinOptions{})
	if err != nil {
		b.Fatal(err)
	}
	token := j.ResumeToken
	_ = first.Close()
	var took []time.Duration
	for b.Loop() {
		// Players come back at any moment of the tick, not in step with it.
		b.StopTimer()
		time.Sleep(time.Duration(rand.Int64N(int64(50 * time.Millisecond))))
		b.StartTimer()
		got := make(chan struct{}, 1)
		start := time.Now()
		c, err := client.Dial(ctx, s.url, client.Options{NoReconnect: true, OnState: func(*tickwirev1.State) {
			select {
			case got <- struct{}{}:
			default:
			}
		}})
		if err != nil {
			b.Fatal(err)
		}
		j, err := c.Resume(ctx, token)
		if err != nil {
			b.Fatal(err)
		}
		<-got
		took = append(took, time.Since(start))
		token = j.ResumeToken
		_ = c.Close()
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}

package engine

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// masked builds a masked client frame (FIN set) with opcode op.
func masked(op byte, payload []byte) []byte {
	return clientFrame(0x80|op, payload, testKey)
}

// TestFloodDisconnectedWhateverShare: a client that sends over the rate for
// FloodTimeout is closed with CLOSE_CODE_RATE_LIMITED, whether it sends 16
// times the rate or a tenth over it, and whatever kind of frame it sends;
// frames are counted before decoding. The old strike counter reset on every
// allowed frame, so a flood under ~20x the rate was never closed.
func TestFloodDisconnectedWhateverShare(t *testing.T) {
	ping, _ := proto.Marshal(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Ping{Ping: &tickwirev1.Ping{}}})
	frames := map[string][]byte{
		"ping envelope":      masked(0x2, ping),
		"garbage envelope":   masked(0x2, []byte{0xff, 0xff, 0xff}),
		"control ping":       masked(0x9, nil),
		"unsolicited pong":   masked(0xa, nil),
		"empty continuation": clientFrame(0x00, nil, testKey), // non-final, after a non-final binary frame
	}
	for name, frame := range frames {
		for _, factor := range []float64{16, 1.1} {
			t.Run(name, func(t *testing.T) {
				e := testEngine(t)
				e.cfg.RateLimit, e.cfg.RateBurst = 100, 20
				e.cfg.Limits.FloodTimeout = 2 * time.Second
				e.cfg.MaxOffenses = 1 << 30
				e.cfg.OutboundQueue = 1 << 20 // the fake socket is written asynchronously
				s, ws := testSession(e)
				s.parser.maxMsg = 1024
				s.hello.Store(true)
				start := time.Unix(1000, 0)
				if name == "empty continuation" {
					s.consume(clientFrame(0x02, nil, testKey), start, false, 0, true)
				}
				step := time.Duration(float64(time.Second) / (e.cfg.RateLimit * factor))
				var closedAt time.Duration
				for i := 0; i < 100_000 && closedAt == 0; i++ {
					at := time.Duration(i) * step
					data := append([]byte(nil), frame...)
					s.consume(data, start.Add(at), false, 0, true)
					if s.readBroken {
						closedAt = at
					}
				}
				if closedAt == 0 {
					t.Fatalf("%.1fx flood never closed", factor)
				}
				// The burst of 20 lasts 20/(rate*(factor-1)); the flood is
				// then refused continuously for FloodTimeout.
				burst := time.Duration(float64(e.cfg.RateBurst) / (e.cfg.RateLimit * (factor - 1)) * float64(time.Second))
				if closedAt > burst+e.cfg.Limits.FloodTimeout+100*time.Millisecond {
					t.Fatalf("%.1fx flood closed after %v, want within %v", factor, closedAt, burst+e.cfg.Limits.FloodTimeout)
				}
				eventuallyClosed(t, ws, uint16(tickwirev1.CloseCode_CLOSE_CODE_RATE_LIMITED))
			})
		}
	}
}

// TestWithinRateNeverClosed: a client at the rate (bursts included) is
// never refused.
func TestWithinRateNeverClosed(t *testing.T) {
	e := testEngine(t)
	e.cfg.RateLimit, e.cfg.RateBurst = 100, 20
	s, ws := testSession(e)
	s.parser.maxMsg = 1024
	s.hello.Store(true)
	start := time.Unix(1000, 0)
	for i := range 2000 {
		// 20 frames at once every 200 ms: 100/s on average.
		at := time.Duration(i/20) * 200 * time.Millisecond
		s.consume(masked(0xa, nil), start.Add(at), false, 0, true)
	}
	if s.readBroken {
		t.Fatal("a client within the rate was closed")
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.closed != 0 {
		t.Fatalf("closed with %d", ws.closed)
	}
}

func eventuallyClosed(t *testing.T, ws *fakeWS, code uint16) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		ws.mu.Lock()
		got := ws.closed
		ws.mu.Unlock()
		if got == code {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("closed with %d, want %d", got, code)
		}
	}
}

package engine_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/internal/wsframe"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// abuser is a raw client after a real handshake and Hello; closed reports
// the code the node closed it with.
type abuser struct {
	ws     *wsframe.Conn
	closed chan uint16
	joined atomic.Int64 // Joined replies
}

func dialAbuser(t *testing.T, s *server) *abuser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, err := wsframe.Dial(ctx, s.url, wsframe.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := &abuser{ws: ws, closed: make(chan uint16, 1)}
	go func() {
		for {
			_, data, err := ws.ReadMessage()
			var m tickwirev1.ServerMessage
			if err == nil && proto.Unmarshal(data, &m) == nil && m.GetJoined() != nil {
				a.joined.Add(1)
			}
			if err != nil {
				var pc *wsframe.PeerCloseError
				if errors.As(err, &pc) {
					a.closed <- pc.Code
				} else {
					a.closed <- 0
				}
				return
			}
		}
	}()
	t.Cleanup(func() { _ = ws.Close() })
	hello, _ := proto.Marshal(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Hello{Hello: &tickwirev1.Hello{ProtocolVersion: 1}}})
	_ = ws.WriteMessage(wsframe.OpBinary, hello)
	return a
}

// flood writes frame perSecond times a second until the node closes the
// abuser or limit passes; it returns the close code and how long it took.
func (a *abuser) flood(frame []byte, perSecond int, limit time.Duration) (uint16, time.Duration) {
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	per := max(1, perSecond/100)
	for time.Since(start) < limit {
		select {
		case code := <-a.closed:
			return code, time.Since(start)
		case <-tick.C:
			for range per {
				if _, err := a.ws.NetConn().Write(frame); err != nil {
					break
				}
			}
		}
	}
	return 0, time.Since(start)
}

// TestAbuseMatrix runs each abuse against a node while a player plays in a
// 20 Hz room, and logs the matrix: close code, what was counted, and the
// player's states/s meanwhile. It checks the codes and counts; the states/s
// are logged, not asserted (the machine may be shared).
func TestAbuseMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every abuse for seconds")
	}
	s := start(t, engine.Config{Limits: engine.Limits{FloodTimeout: 2 * time.Second}}, room.Config{TickRate: 20})
	var states atomic.Int64
	good, err := client.Dial(ctx5(t), s.url, client.Options{OnState: func(*tickwirev1.State) { states.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = good.Close() })
	if _, err := good.Create(ctx5(t), "sum", client.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "states", func() bool { return states.Load() > 5 })
	window := func(name string, run func() (code uint16, counted string)) {
		t.Helper()
		n0, t0 := states.Load(), time.Now()
		code, counted := run()
		if d := time.Second - time.Since(t0); d > 0 {
			<-time.After(d) // measure the player over a second at least
		}
		rate := float64(states.Load()-n0) / time.Since(t0).Seconds()
		t.Logf("| %s | %d | %s | %.1f |", name, code, counted, rate)
		if rate < 15 {
			t.Errorf("%s: the player got %.1f states/s", name, rate)
		}
	}
	ping, _ := proto.Marshal(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Ping{Ping: &tickwirev1.Ping{}}})
	for _, f := range []struct {
		name  string
		frame []byte
	}{
		{"16x flood of Ping envelopes", frame(0x82, ping)},
		{"16x flood of unsolicited pongs", frame(0x8a, nil)},
		{"16x flood of control pings", frame(0x89, nil)},
	} {
		window(f.name, func() (uint16, string) {
			a := dialAbuser(t, s)
			before := limitCount(t, s, "frames_per_second")
			code, took := a.flood(f.frame, 16*120, 10*time.Second)
			if code != 4003 {
				t.Errorf("%s: closed with %d, want 4003", f.name, code)
			}
			return code, "frames_per_second +" + num(limitCount(t, s, "frames_per_second")-before) + ", closed after " + took.Round(100*time.Millisecond).String()
		})
	}
	window("empty non-final continuations, 16x", func() (uint16, string) {
		a := dialAbuser(t, s)
		_, _ = a.ws.NetConn().Write(frame(0x02, nil))
		code, took := a.flood(frame(0x00, nil), 16*120, 10*time.Second)
		if code != 4003 {
			t.Errorf("continuations: closed with %d, want 4003", code)
		}
		return code, "frames_per_second, closed after " + took.Round(100*time.Millisecond).String()
	})
	window("10 connections pipelining Create+Leave for 3 s", func() (uint16, string) {
		create, _ := proto.Marshal(&tickwirev1.ClientMessage{RequestId: 1, Kind: &tickwirev1.ClientMessage_Join{Join: &tickwirev1.Join{RoomType: "sum", Create: true}}})
		leave, _ := proto.Marshal(&tickwirev1.ClientMessage{RequestId: 2, Kind: &tickwirev1.ClientMessage_Leave{Leave: &tickwirev1.Leave{}}})
		var wg sync.WaitGroup
		abusers := make([]*abuser, 10)
		for i := range abusers {
			a := dialAbuser(t, s)
			abusers[i] = a
			wg.Go(func() {
				// 50 Create+Leave pairs a second for 3 s (under the frame rate).
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for range 150 {
					<-tick.C
					_ = a.ws.WriteMessage(wsframe.OpBinary, create)
					_ = a.ws.WriteMessage(wsframe.OpBinary, leave)
				}
			})
		}
		wg.Wait()
		var made int64
		for _, a := range abusers {
			made += a.joined.Load()
		}
		if made > 10*10 {
			t.Errorf("%d rooms created by 10 connections, want at most 100", made)
		}
		return 0, "ERROR_CODE_RATE_LIMITED; rooms_per_connection " + num(limitCount(t, s, "rooms_per_connection")) + ", rooms created " + num(int(made)) + ""
	})
	window("70 connections from one address", func() (uint16, string) {
		refused := 0
		for range 70 {
			if _, err := dialFrom(t, s, "192.0.2.9", nil); err != nil && strings.Contains(err.Error(), "429") {
				refused++
			}
		}
		if refused != 6 {
			t.Errorf("%d of 70 refused, want 6", refused)
		}
		return 0, "HTTP 429 x" + num(refused) + ", connections_per_ip " + num(limitCount(t, s, "connections_per_ip"))
	})
	window("cross-site Origin", func() (uint16, string) {
		h := http.Header{}
		h.Set("Origin", "https://evil.example")
		if _, err := dialFrom(t, s, "", h); err == nil {
			t.Error("cross-site origin accepted")
		}
		return 0, "HTTP 403, origin " + num(limitCount(t, s, "origin"))
	})
	window("15 KB join filter", func() (uint16, string) {
		c := dial(t, s, nil)
		_, err := c.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{Filter: map[string]string{"k": strings.Repeat("x", 15<<10)}})
		wantServerError(t, err, tickwirev1.ErrorCode_ERROR_CODE_BAD_REQUEST)
		return 0, "BAD_REQUEST, filter " + num(limitCount(t, s, "filter"))
	})
	window("the 14-byte frame that crashes gws, to the node", func() (uint16, string) {
		a := dialAbuser(t, s)
		before := metricValue(t, s, "tickwire_websocket_protocol_errors_total")
		_, _ = a.ws.NetConn().Write([]byte{0x81, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4})
		code := <-a.closed
		if code != 1002 {
			t.Errorf("closed with %d, want 1002", code)
		}
		return code, "websocket_protocol_errors +" + num(int(metricValue(t, s, "tickwire_websocket_protocol_errors_total")-before))
	})
	window("close reason not UTF-8", func() (uint16, string) {
		a := dialAbuser(t, s)
		_, _ = a.ws.NetConn().Write(closeFrame(1000, "\xff\xfe"))
		code := <-a.closed
		if code != 1007 {
			t.Errorf("closed with %d, want 1007", code)
		}
		return code, "websocket_protocol_errors"
	})
	window("close code 4321", func() (uint16, string) {
		a := dialAbuser(t, s)
		_, _ = a.ws.NetConn().Write(closeFrame(4321, "bye"))
		code := <-a.closed
		if code != 4321 {
			t.Errorf("closed with %d, want 4321 echoed", code)
		}
		return code, "closes_total{code=4321}"
	})
}

func num(n int) string { return strconv.Itoa(n) }

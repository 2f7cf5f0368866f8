package engine_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/tickwire/tickwire/tickwiretest"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

const readOnTick = "tickwire_connections_read_on_tick"

// The room goroutine reads its players' connections on the tick; leaving
// the room hands reading back to a read goroutine, and everything a client
// does keeps working across the hand-overs.
func TestRoomReadsItsPlayersOnTick(t *testing.T) {
	s := start(t, engine.Config{}, room.Config{TickRate: 50})
	ra, rb := &recorder{}, &recorder{}
	a, b := dial(t, s, ra), dial(t, s, rb)
	for _, c := range []*client.Client{a, b} {
		if _, err := c.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "both connections read on the tick", func() bool { return metricValue(t, s, readOnTick) == 2 })

	// Inputs, room messages and Pings go through the room goroutine's reads.
	for _, p := range []string{"abc", "de"} {
		if _, err := a.SendInput(payload(p)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "B sees A's inputs", func() bool {
		st, _, _, ok := rb.states.Latest()
		return ok && st.Fields["n"].GetNumberValue() == 5
	})
	if err := a.SendMessage(wrapperspb.String("echo")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "broadcast", func() bool {
		return rb.find(func(m *tickwirev1.ServerMessage) bool { return msgText(m) == "echo" }) != nil
	})
	if _, err := a.Ping(ctx5(t)); err != nil && !errors.Is(err, client.ErrNoClockSample) {
		t.Fatal(err)
	}

	// Leave hands reading back; a new join hands it to the room again.
	if _, err := b.Leave(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B read by a goroutine", func() bool { return metricValue(t, s, readOnTick) == 1 })
	if _, err := b.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B read on the tick again", func() bool { return metricValue(t, s, readOnTick) == 2 })
	if _, err := b.SendInput(payload("x")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "A sees B's input", func() bool {
		st, _, _, ok := ra.states.Latest()
		return ok && st.Fields["n"].GetNumberValue() == 6
	})
	// A message bigger than one read arrives over several reads.
	if _, err := b.SendInput(payload(strings.Repeat("y", 5000))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "A sees B's big input", func() bool {
		st, _, _, ok := ra.states.Latest()
		return ok && st.Fields["n"].GetNumberValue() == 5006
	})

	// A client that goes away while read on the tick is cleaned up; its
	// player keeps the seat for the reconnection grace.
	_ = b.Close()
	eventually(t, "B's connection gone", func() bool {
		return metricValue(t, s, "tickwire_connections") == 1 && metricValue(t, s, readOnTick) == 1 &&
			metricValue(t, s, "tickwire_players") == 2 && metricValue(t, s, "tickwire_players_in_grace") == 1
	})
	// A kick closes the connection the room was reading.
	if err := a.SendMessage(wrapperspb.String("kick")); err != nil {
		t.Fatal(err)
	}
	wantClose(t, a, uint16(tickwirev1.CloseCode_CLOSE_CODE_KICKED))
	eventually(t, "no connection left", func() bool {
		return metricValue(t, s, "tickwire_connections") == 0 && metricValue(t, s, readOnTick) == 0
	})
}

// A Ping read on the tick waited in the socket; the Pong says how long, and
// the client takes it off the round trip.
func TestPingHeldUntilTheTickReportsTheHold(t *testing.T) {
	clock := tickwiretest.NewClock(time.Unix(0, 0))
	s := start(t, engine.Config{Clock: clock}, room.Config{TickRate: 10})
	c := dial(t, s, nil)
	if _, err := c.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "read on the tick", func() bool { return metricValue(t, s, readOnTick) == 1 })
	// The kernel turns receive timestamps on lazily (a workqueue, when the
	// first socket of the machine asks), so a read may come without one: then
	// the Pong has no hold and the client says so. Try a few times.
	for attempt := 1; ; attempt++ {
		rtt, elapsed, err := heldPing(c, clock)
		if errors.Is(err, client.ErrNoClockSample) && attempt < 5 {
			continue
		}
		if err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if elapsed < 150*time.Millisecond || rtt > elapsed-100*time.Millisecond {
			t.Fatalf("round trip %v of %v elapsed: the hold was not taken off", rtt, elapsed)
		}
		return
	}
}

// heldPing sends a Ping, lets it wait 150 ms in the socket, then ticks.
func heldPing(c *client.Client, clock *tickwiretest.Clock) (rtt, elapsed time.Duration, err error) {
	type result struct {
		rtt time.Duration
		err error
	}
	done := make(chan result, 1)
	sent := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rtt, err := c.Ping(ctx)
		done <- result{rtt, err}
	}()
	time.Sleep(150 * time.Millisecond) // the Ping waits for the next tick
	for {
		clock.Advance(100 * time.Millisecond)
		select {
		case res := <-done:
			return res.rtt, time.Since(sent), res.err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// A Ping that shares a read with a frame that arrived after it gets no
// hold_ms (its arrival time is unknown); one read alone does.
func TestPingHoldOnlyWhenExact(t *testing.T) {
	clock := tickwiretest.NewClock(time.Unix(0, 0))
	s := start(t, engine.Config{Clock: clock}, room.Config{TickRate: 10})
	r := dialRaw(t, s)
	r.hello(t)
	r.send(t, &tickwirev1.ClientMessage{RequestId: 1, Kind: &tickwirev1.ClientMessage_Join{Join: &tickwirev1.Join{RoomType: "sum"}}})
	for r.next(t).GetJoined() == nil {
	}
	eventually(t, "read on the tick", func() bool { return metricValue(t, s, readOnTick) == 1 })
	ping := func(id uint32) *tickwirev1.ClientMessage {
		return &tickwirev1.ClientMessage{RequestId: id, Kind: &tickwirev1.ClientMessage_Ping{Ping: &tickwirev1.Ping{ClientTimeMs: 1}}}
	}
	pong := func(id uint32) *tickwirev1.Pong {
		t.Helper()
		time.Sleep(50 * time.Millisecond) // both frames are in the socket
		clock.Advance(100 * time.Millisecond)
		for {
			m := r.next(t)
			if m.RequestId == id && m.GetPong() != nil {
				return m.GetPong()
			}
		}
	}
	r.send(t, ping(5))
	r.send(t, input(""))
	if p := pong(5); p.HoldMs != nil {
		t.Fatalf("Ping followed by an input in the same read: hold_ms = %v, want none", *p.HoldMs)
	}
	// Alone in its read it gets one (a few tries: the kernel may not have
	// turned receive timestamps on yet, see above).
	var p *tickwirev1.Pong
	for id := uint32(6); id < 11 && (p == nil || p.HoldMs == nil); id++ {
		r.send(t, ping(id))
		p = pong(id)
	}
	if p.HoldMs == nil || *p.HoldMs < 40 || *p.HoldMs > 10_000 {
		t.Fatalf("Ping alone: hold_ms = %v, want the ~50 ms it waited", p.HoldMs)
	}
}

// clientFrame builds a masked client frame with first byte b0.
func clientFrame(b0 byte, payload []byte) []byte {
	key := []byte{9, 8, 7, 6}
	f := []byte{b0}
	if len(payload) < 126 {
		f = append(f, 0x80|byte(len(payload)))
	} else {
		f = append(f, 0x80|126, byte(len(payload)>>8), byte(len(payload)))
	}
	f = append(f, key...)
	for i, c := range payload {
		f = append(f, c^key[i%4])
	}
	return f
}

// Raw frames, whoever reads the connection: fragmented messages and
// control frames work, protocol violations close with their code and are
// counted.
func TestWebSocketFramesInLobbyAndRoom(t *testing.T) {
	echo, _ := proto.Marshal(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Message{Message: &tickwirev1.RoomMessage{TypeName: "google.protobuf.StringValue", Payload: payloadOf(wrapperspb.String("echo"))}}})
	tests := []struct {
		name   string
		inRoom bool
		bytes  []byte
		close  uint16 // 0: the room message is echoed
	}{
		{"fragmented message with a ping inside, in a room", true,
			append(append(clientFrame(0x02, echo[:3]), clientFrame(0x89, []byte("hi"))...), clientFrame(0x80, echo[3:])...), 0},
		{"unmasked frame in the lobby", false, []byte{0x82, 0x01, 0x00}, 1002},
		{"unmasked frame in a room", true, []byte{0x82, 0x01, 0x00}, 1002},
		{"reserved bit in a room", true, clientFrame(0xc2, []byte{0}), 1002},
		{"oversize frame in a room", true, clientFrame(0x82, make([]byte, 600)), 1009},
		{"text frame in a room", true, clientFrame(0x81, []byte("hi")), 1003},
		{"close frame in a room", true, clientFrame(0x88, []byte{0x0f, 0xa0}), 4000}, // the client's code, echoed (RFC 6455 5.5.1)
	}
	s := start(t, engine.Config{MaxMessageSize: 512}, room.Config{TickRate: 50})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := metricValue(t, s, "tickwire_websocket_protocol_errors_total")
			r := dialRaw(t, s)
			r.hello(t)
			if tt.inRoom {
				r.send(t, &tickwirev1.ClientMessage{RequestId: 1, Kind: &tickwirev1.ClientMessage_Join{Join: &tickwirev1.Join{RoomType: "sum", Create: true}}})
				for r.next(t).GetJoined() == nil {
				}
				eventually(t, "read on the tick", func() bool { return metricValue(t, s, readOnTick) >= 1 })
			}
			if _, err := r.ws.NetConn().Write(tt.bytes); err != nil {
				t.Fatal(err)
			}
			if tt.close == 0 {
				for msgText(r.next(t)) != "echo" {
				}
				return
			}
			r.wantClose(t, tt.close)
			if tt.close == 1002 || tt.close == 1009 {
				eventually(t, "protocol error counted", func() bool {
					return metricValue(t, s, "tickwire_websocket_protocol_errors_total") == before+1
				})
			}
		})
	}
}

// A client that sent more than one read's worth since the last tick is read
// to the end in that tick: its backlog cannot grow tick after tick.
func TestPollDrainsTheSocketEachTick(t *testing.T) {
	clock := tickwiretest.NewClock(time.Unix(0, 0))
	s := start(t, engine.Config{Clock: clock, RateLimit: 10_000, RateBurst: 10_000, OutboundQueue: 4096}, room.Config{TickRate: 10})
	r := dialRaw(t, s)
	r.hello(t)
	r.send(t, &tickwirev1.ClientMessage{RequestId: 1, Kind: &tickwirev1.ClientMessage_Join{Join: &tickwirev1.Join{RoomType: "sum"}}})
	for r.next(t).GetJoined() == nil {
	}
	eventually(t, "read on the tick", func() bool { return metricValue(t, s, readOnTick) == 1 })
	const n = 300 // ~14 bytes each: several reads' worth
	echo := &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Message{Message: &tickwirev1.RoomMessage{TypeName: "google.protobuf.StringValue", Payload: payloadOf(wrapperspb.String("echo"))}}}
	for range n {
		r.send(t, echo)
	}
	time.Sleep(50 * time.Millisecond) // all of it is in the socket
	clock.Advance(100 * time.Millisecond)
	for got := 0; got < n; {
		if msgText(r.next(t)) == "echo" {
			got++
		}
	}
}

// Connections that end without a close frame while their room reads them,
// or that the server closes (idle timeout), are cleaned up: the player
// leaves the room and the connection is gone.
func TestRoomPlayersGoneWithoutCloseFrameAreCleanedUp(t *testing.T) {
	s := start(t, engine.Config{IdleTimeout: 300 * time.Millisecond, PingInterval: time.Minute, HandshakeTimeout: 400 * time.Millisecond},
		room.Config{TickRate: 50, DisposeAfter: time.Minute, ReconnectGrace: 200 * time.Millisecond})
	join := func() *raw {
		r := dialRaw(t, s)
		r.hello(t)
		r.send(t, &tickwirev1.ClientMessage{RequestId: 1, Kind: &tickwirev1.ClientMessage_Join{Join: &tickwirev1.Join{RoomType: "sum"}}})
		for r.next(t).GetJoined() == nil {
		}
		return r
	}
	dropped, idle := join(), join()
	eventually(t, "both read on the tick", func() bool { return metricValue(t, s, readOnTick) == 2 })
	_ = dropped.ws.NetConn().Close() // no close frame: the TCP connection just ends
	eventually(t, "dropped player cleaned up", func() bool {
		return metricValue(t, s, "tickwire_players") == 1 && metricValue(t, s, "tickwire_connections") == 1
	})
	idle.wantClose(t, uint16(tickwirev1.CloseCode_CLOSE_CODE_IDLE_TIMEOUT))
	eventually(t, "idle player cleaned up", func() bool {
		return metricValue(t, s, "tickwire_players") == 0 && metricValue(t, s, "tickwire_connections") == 0 && metricValue(t, s, readOnTick) == 0
	})
}

// A panic in user code on the read path (the auth hook) closes that
// connection; the node keeps serving.
func TestPanicOnTheReadPathClosesOnlyThatConnection(t *testing.T) {
	s := start(t, engine.Config{Authenticate: func(_ context.Context, _ *http.Request, h *tickwirev1.Hello) (engine.Identity, error) {
		if h.Name == "boom" {
			panic("auth hook bug")
		}
		return engine.Identity{UserID: h.Name, Name: h.Name}, nil
	}}, room.Config{})
	for range 2 {
		_, err := client.Dial(ctx5(t), s.url, client.Options{Name: "boom"})
		if err == nil {
			t.Fatal("dial with a panicking auth hook succeeded")
		}
	}
	c, err := client.Dial(ctx5(t), s.url, client.Options{Name: "ok"})
	if err != nil {
		t.Fatalf("node stopped serving after a panic: %v", err)
	}
	defer c.Close()
	eventually(t, "panicked connections gone", func() bool { return metricValue(t, s, "tickwire_connections") == 1 })
}

// A big room (room.Config.ParallelIOPlayers) reads its players' sockets
// and writes their states on the node's helper goroutines too: every
// client's inputs, messages and states still go through.
func TestBigRoomSpreadsItsSocketWork(t *testing.T) {
	s := start(t, engine.Config{}, room.Config{TickRate: 50, ParallelIOPlayers: 2})
	const n = 6
	recs := make([]*recorder, n)
	clients := make([]*client.Client, n)
	for i := range clients {
		recs[i] = &recorder{}
		clients[i] = dial(t, s, recs[i])
		if _, err := clients[i].JoinOrCreate(ctx5(t), "sum", client.JoinOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "every connection read on the tick", func() bool { return metricValue(t, s, readOnTick) == n })
	for round := 1; round <= 3; round++ {
		for _, c := range clients {
			if _, err := c.SendInput(payload("ab")); err != nil {
				t.Fatal(err)
			}
		}
		want := float64(2 * n * round)
		for i, r := range recs {
			eventually(t, fmt.Sprintf("client %d sees every input of round %d", i+1, round), func() bool {
				st, _, _, ok := r.states.Latest()
				return ok && st.Fields["n"].GetNumberValue() == want
			})
		}
	}
	if err := clients[0].SendMessage(wrapperspb.String("echo")); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		eventually(t, fmt.Sprintf("client %d hears the broadcast", i+1), func() bool {
			return r.find(func(m *tickwirev1.ServerMessage) bool { return msgText(m) == "echo" }) != nil
		})
	}
}

package engine_test

import (
	"context"
	"errors"
	"github.com/tickwire/tickwire/tickwiretest"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

// sum is a test game: every input (a BytesValue) adds its length to field
// "n" and records the last one under "last"; the StringValue messages
// "lock", "kick" and "echo" do that.
type sum struct {
	room.Base[*structpb.Struct, *wrapperspb.BytesValue]
}

func (sum) Init(c *room.Context[*structpb.Struct], _ []byte) error {
	c.State.Fields = map[string]*structpb.Value{"n": structpb.NewNumberValue(0)}
	room.OnMessage(c, func(p *room.Player, m *wrapperspb.StringValue) {
		switch m.Value {
		case "lock":
			c.Lock()
		case "kick":
			c.Kick(p, "asked for it")
		case "echo":
			c.Broadcast(wrapperspb.String("echo"))
		case "stall":
			time.Sleep(350 * time.Millisecond) // a slow handler: the room falls behind
		}
	})
	return nil
}

func (sum) Tick(c *room.Context[*structpb.Struct], in []room.Input[*wrapperspb.BytesValue]) {
	for _, i := range in {
		c.State.Fields["n"] = structpb.NewNumberValue(c.State.Fields["n"].GetNumberValue() + float64(len(i.Msg.Value)))
		c.State.Fields["last"] = structpb.NewStringValue(string(i.Msg.Value))
	}
}

// payload encodes s as the sum game's input.
func payload(s string) []byte { return payloadOf(wrapperspb.Bytes([]byte(s))) }

func payloadOf(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// msgText returns the text of a StringValue room message ("" for others).
func msgText(m *tickwirev1.ServerMessage) string {
	rm := m.GetMessage()
	if rm.GetTypeName() != "google.protobuf.StringValue" {
		return ""
	}
	var v wrapperspb.StringValue
	if proto.Unmarshal(rm.Payload, &v) != nil {
		return ""
	}
	return v.Value
}

type server struct {
	e      *engine.Engine
	url    string
	cancel context.CancelFunc
	done   chan error
}

func start(t testing.TB, cfg engine.Config, roomCfg room.Config) *server {
	t.Helper()
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.RegisterRoom("sum", room.Define(roomCfg, func() room.Handler[*structpb.Struct, *wrapperspb.BytesValue] { return sum{} })); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{e: e, url: "ws://" + ln.Addr().String() + "/ws", cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- e.Serve(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return s
}

type recorder struct {
	mu     sync.Mutex
	events []*tickwirev1.ServerMessage
	states *client.StateTracker[*structpb.Struct]
	errs   []error
}

func (r *recorder) options(name string) client.Options {
	r.states = client.NewStateTracker[*structpb.Struct]()
	return client.Options{
		Name: name,
		OnState: func(st *tickwirev1.State) {
			if _, err := r.states.Apply(st); err != nil {
				r.mu.Lock()
				r.errs = append(r.errs, err)
				r.mu.Unlock()
			}
		},
		OnEvent: func(m *tickwirev1.ServerMessage) {
			r.mu.Lock()
			r.events = append(r.events, m)
			r.mu.Unlock()
		},
	}
}

func (r *recorder) find(pred func(*tickwirev1.ServerMessage) bool) *tickwirev1.ServerMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.events {
		if pred(m) {
			return m
		}
	}
	return nil
}

func dial(t *testing.T, s *server, rec *recorder) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	opts := client.Options{}
	if rec != nil {
		opts = rec.options(t.Name())
	}
	c, err := client.Dial(ctx, s.url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestTwoClientsShareState(t *testing.T) {
	s := start(t, engine.Config{}, room.Config{TickRate: 50})
	ra, rb := &recorder{}, &recorder{}
	a, b := dial(t, s, ra), dial(t, s, rb)
	ja, err := a.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jb, err := b.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ja.RoomId != jb.RoomId {
		t.Fatalf("clients in different rooms: %s %s", ja.RoomId, jb.RoomId)
	}
	if len(jb.Players) != 2 || ja.TickRate != 50 {
		t.Fatalf("joined = %v", jb)
	}
	// A sees B join.
	eventually(t, "A sees B join", func() bool {
		return ra.find(func(m *tickwirev1.ServerMessage) bool {
			return m.GetPlayerJoined().GetPlayer().GetPlayerId() == jb.PlayerId
		}) != nil
	})
	for _, p := range []string{"abc", "de"} {
		if _, err := a.SendInput(payload(p)); err != nil {
			t.Fatal(err)
		}
	}
	for name, rec := range map[string]*recorder{"A": ra, "B": rb} {
		eventually(t, name+" sees A's inputs in the state", func() bool {
			st, _, _, ok := rec.states.Latest()
			return ok && st.Fields["n"].GetNumberValue() == 5 && st.Fields["last"].GetStringValue() == "de"
		})
	}
	_, _, lastSeq, _ := ra.states.Latest()
	if lastSeq != 2 {
		t.Fatalf("A's last processed input = %d, want 2", lastSeq)
	}
	if len(ra.errs)+len(rb.errs) != 0 {
		t.Fatalf("state apply errors: %v %v", ra.errs, rb.errs)
	}
	// B leaves: A gets PlayerLeft, B gets Left.
	left, err := b.Leave(ctx5(t))
	if err != nil || left.Reason != tickwirev1.LeaveReason_LEAVE_REASON_LEFT {
		t.Fatalf("leave: %v %v", left, err)
	}
	eventually(t, "A sees B leave", func() bool {
		return ra.find(func(m *tickwirev1.ServerMessage) bool { return m.GetPlayerLeft().GetPlayerId() == jb.PlayerId }) != nil
	})
	// Room messages reach everyone.
	if err := a.SendMessage(wrapperspb.String("echo")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "broadcast", func() bool {
		return ra.find(func(m *tickwirev1.ServerMessage) bool { return msgText(m) == "echo" }) != nil
	})
}

func TestMaxPlayersLockAndKick(t *testing.T) {
	s := start(t, engine.Config{}, room.Config{MaxPlayers: 2})
	a, b, c := dial(t, s, nil), dial(t, s, nil), dial(t, s, nil)
	ja, err := a.Create(ctx5(t), "sum", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.JoinByID(ctx5(t), ja.RoomId, client.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = c.JoinByID(ctx5(t), ja.RoomId, client.JoinOptions{})
	wantServerError(t, err, tickwirev1.ErrorCode_ERROR_CODE_ROOM_FULL)

	// B leaves, A locks: C is refused with ROOM_LOCKED.
	if _, err := b.Leave(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	if err := a.SendMessage(wrapperspb.String("lock")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "room locked", func() bool {
		for _, in := range s.e.Rooms() {
			if in.ID == ja.RoomId {
				return in.Locked
			}
		}
		return false
	})
	_, err = c.JoinByID(ctx5(t), ja.RoomId, client.JoinOptions{})
	wantServerError(t, err, tickwirev1.ErrorCode_ERROR_CODE_ROOM_LOCKED)

	// A asks to be kicked: Left(KICKED) then close 4006.
	if err := a.SendMessage(wrapperspb.String("kick")); err != nil {
		t.Fatal(err)
	}
	wantClose(t, a, uint16(tickwirev1.CloseCode_CLOSE_CODE_KICKED))
}

func TestAutoDisposeOverEngine(t *testing.T) {
	s := start(t, engine.Config{}, room.Config{TickRate: 50, DisposeAfter: 100 * time.Millisecond})
	a := dial(t, s, nil)
	j, err := a.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Leave(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "empty room disposed", func() bool { _, ok := s.e.Room(j.RoomId); return !ok })
	_, err = a.JoinByID(ctx5(t), j.RoomId, client.JoinOptions{})
	wantServerError(t, err, tickwirev1.ErrorCode_ERROR_CODE_ROOM_NOT_FOUND)
}

func TestTickRateDrivenByTestClock(t *testing.T) {
	clock := tickwiretest.NewClock(time.Unix(0, 0))
	s := start(t, engine.Config{Clock: clock}, room.Config{TickRate: 10})
	rec := &recorder{}
	a := dial(t, s, rec)
	if _, err := a.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SendInput(payload("x")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // real time passes: no tick without the clock
	if _, _, _, ok := rec.states.Latest(); ok {
		t.Fatal("a state arrived before the test clock moved")
	}
	for i := 1; i <= 3; i++ {
		clock.Advance(100 * time.Millisecond)
		eventually(t, "state of the next tick", func() bool {
			_, tick, _, ok := rec.states.Latest()
			return ok && tick == uint32(i)
		})
	}
	st, _, _, _ := rec.states.Latest()
	if st.Fields["n"].GetNumberValue() != 1 {
		t.Fatalf("state = %v", st)
	}
}

func wantServerError(t *testing.T, err error, code tickwirev1.ErrorCode) {
	t.Helper()
	var se *client.ServerError
	if !errors.As(err, &se) || se.Code != code {
		t.Fatalf("err = %v, want server error %s", err, code)
	}
}

func wantClose(t *testing.T, c *client.Client, code uint16) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("connection not closed (want %d)", code)
	}
	var ce *client.CloseError
	if err := c.Err(); !errors.As(err, &ce) || ce.Code != code {
		t.Fatalf("close = %v, want code %d", err, code)
	}
}

func TestHTTPEndpoints(t *testing.T) {
	s := start(t, engine.Config{}, room.Config{})
	a := dial(t, s, nil)
	if _, err := a.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	game := "http://" + strings.TrimSuffix(strings.TrimPrefix(s.url, "ws://"), "/ws")
	admin := httptest.NewServer(s.e.AdminHandler())
	defer admin.Close()
	// The game port serves the WebSocket only: admin data never leaks there.
	for _, path := range []string{"/healthz", "/rooms", "/metrics", "/debug/pprof/"} {
		resp, err := http.Get(game + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("game port %s: status %d, want 404", path, resp.StatusCode)
		}
	}
	for path, want := range map[string]string{
		"/healthz":      `"ok"`,
		"/rooms":        `"type":"sum"`,
		"/metrics":      "tickwire_players 1",
		"/debug/pprof/": "goroutine",
	} {
		resp, err := http.Get(admin.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		buf := make([]byte, 64<<10)
		for {
			n, err := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		if !strings.Contains(sb.String(), want) {
			t.Errorf("%s: %q does not contain %q", path, sb.String(), want)
		}
	}
}

// metricValue returns the value of an unlabeled sample in the node's
// Prometheus output.
func metricValue(t *testing.T, s *server, name string) float64 {
	t.Helper()
	var b strings.Builder
	s.e.Metrics().WritePrometheus(&b)
	for line := range strings.Lines(b.String()) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("no sample %s in\n%s", name, b.String())
	return 0
}

// Messages and bytes are counted per connection; a closed connection's
// counts stay in the totals.
func TestIOCountersCountOpenAndClosedConnections(t *testing.T) {
	s := start(t, engine.Config{}, room.Config{})
	a := dial(t, s, nil)
	if _, err := a.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	const inputs = 5
	for range inputs {
		if _, err := a.SendInput(payload(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	// hello + join + the inputs
	eventually(t, "inputs counted", func() bool { return metricValue(t, s, "tickwire_messages_in_total") >= 2+inputs })
	eventually(t, "states counted", func() bool { return metricValue(t, s, "tickwire_messages_out_total") >= 3 })
	in, out := metricValue(t, s, "tickwire_messages_in_total"), metricValue(t, s, "tickwire_messages_out_total")
	bytesIn := metricValue(t, s, "tickwire_bytes_in_total")
	if bytesIn < float64(inputs*4) {
		t.Errorf("bytes in = %v for %d inputs", bytesIn, inputs)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "connection closed", func() bool { return metricValue(t, s, "tickwire_connections") == 0 })
	if got := metricValue(t, s, "tickwire_messages_in_total"); got < in {
		t.Errorf("messages in went from %v to %v after the close", in, got)
	}
	if got := metricValue(t, s, "tickwire_messages_out_total"); got < out {
		t.Errorf("messages out went from %v to %v after the close", out, got)
	}
	if got := metricValue(t, s, "tickwire_bytes_in_total"); got < bytesIn {
		t.Errorf("bytes in went from %v to %v after the close", bytesIn, got)
	}
}

// Command floor is the cost floor of the arena-10 workload: a hand-written
// gws server with no framework, no game rules and no protobuf runtime, that
// the load-test tool can drive exactly like the arena server. The engine's
// performance targets are stated against such a server (issue 2), and
// measuring both on the same day, with the same tool, takes the machine's
// mood out of the comparison (docs/performance.md).
//
// It speaks just enough of the tickwire.v1 envelope, encoded by hand:
// Hello, Join and Input in; Welcome, Joined and State out. Input and State
// go through proto/wire, the engine's own hand-written codec for them. Joins
// fill rooms of 10 in order. Each room ticks on a time.Ticker at 20 Hz and
// writes one State frame per player per tick (its last input sequence and a
// fixed 32-byte payload); gws reads each connection in a goroutine of its
// own. It keeps no other state, sends no events and answers nothing else.
//
// A room's ticker starts when the room opens, so the rooms of a run whose
// ramp opens one room a tick period (the load tool's default: 200 joins a
// second, rooms of 10, 20 Hz) tick close together (docs/performance.md,
// "CPU at 1,000 clients"). -phases N spreads them over N phases of the period instead, as
// the engine's registry does (room k at phase bitreverse(k mod N)/N), to
// measure what the engine's pacing costs a server that does nothing else.
//
//	go build -o /tmp/floor ./examples/loadtest/floor
//	go run ./examples/loadtest -spawn -server-bin /tmp/floor -metrics none -rooms none -bots 1000
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lxzan/gws"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tickwire/tickwire/proto/wire"
)

// Envelope field numbers (proto/tickwire/v1/tickwire.proto).
const (
	cmRequestID = 1 // ClientMessage.request_id
	cmHello     = 2
	cmJoin      = 3
	cmInput     = 5
	cmLastKind  = 10 // the oneof's fields are 2 to 10

	smWelcome   = 6
	smJoined    = 7
	smRequestID = 15
)

const (
	roomSize = 10
	tickRate = 20
)

// message is what the floor reads of a ClientMessage that is not an
// Input (Inputs go through wire.DecodeInput, as in the engine).
type message struct {
	requestID uint32
	kind      protowire.Number // the oneof's field number, 0 if none
}

// errBadMessage is returned by parse for bytes that are not a well-formed
// protobuf message.
var errBadMessage = errors.New("floor: malformed message")

// parse reads the request id and the oneof kind.
func parse(b []byte) (message, error) {
	var m message
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return m, errBadMessage
		}
		b = b[n:]
		if num == cmRequestID && typ == protowire.VarintType {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return m, errBadMessage
			}
			m.requestID, b = uint32(v), b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return m, errBadMessage
		}
		if typ == protowire.BytesType && num >= cmHello && num <= cmLastKind {
			m.kind = num
		}
		b = b[n:]
	}
	return m, nil
}

type player struct {
	id      uint32
	conn    *gws.Conn
	lastSeq atomic.Uint32
	gone    atomic.Bool
	started bool   // a first (full) state was sent; owned by the room
	buf     []byte // the frame being built; owned by the room
}

type room struct {
	id      string
	mu      sync.Mutex
	players []*player
}

// server places players in rooms and runs the rooms.
type server struct {
	payload []byte
	// phases > 0 starts each room's ticker at its phase of the period,
	// counted from epoch (startOf); 0 at once.
	phases int
	epoch  time.Time
	mu     sync.Mutex
	open   *room
	rooms  int
	wg     sync.WaitGroup
	done   chan struct{}
}

func newServer() *server {
	return &server{payload: make([]byte, 32), done: make(chan struct{})}
}

// join puts p in the open room, opening one when it is full.
func (s *server) join(p *player) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open == nil || len(s.open.players) >= roomSize {
		s.rooms++
		s.open = &room{id: "r" + strconv.Itoa(s.rooms)}
		s.wg.Add(1)
		go s.run(s.open, s.startOf(s.rooms-1, time.Now()))
	}
	r := s.open
	r.mu.Lock()
	p.id = uint32(len(r.players) + 1)
	r.players = append(r.players, p)
	r.mu.Unlock()
	return r
}

// startOf is how long room k, opened at now, waits before its ticker
// starts (phases).
func (s *server) startOf(k int, now time.Time) time.Duration {
	if s.phases <= 0 {
		return 0
	}
	period := time.Second / tickRate
	phase := period * time.Duration(bitReverse(k%s.phases, s.phases)) / time.Duration(s.phases)
	return (phase - now.Sub(s.epoch)%period + period) % period
}

// bitReverse reverses the bits of k below the bits of n (a power of two;
// otherwise k itself): 0, n/2, n/4, 3n/4, ... for k = 0, 1, 2, 3, ...
func bitReverse(k, n int) int {
	if n&(n-1) != 0 {
		return k
	}
	r := 0
	for b := 1; b < n; b <<= 1 {
		r <<= 1
		if k&b != 0 {
			r |= 1
		}
	}
	return r
}

// run ticks r until the server closes, from wait on: one State frame per
// player per tick.
func (s *server) run(r *room, wait time.Duration) {
	defer s.wg.Done()
	if wait > 0 {
		w := time.NewTimer(wait)
		select {
		case <-s.done:
			w.Stop()
			return
		case <-w.C:
		}
	}
	t := time.NewTicker(time.Second / tickRate)
	defer t.Stop()
	var tick uint32
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		tick++
		r.mu.Lock()
		for _, p := range r.players {
			if p.gone.Load() {
				continue
			}
			st := wire.State{Tick: tick, LastInputSeq: p.lastSeq.Load(), Payload: s.payload}
			if p.started {
				st.Baseline = tick - 1 // a patch on the previous tick
			}
			p.buf = wire.AppendState(p.buf[:0], st)
			p.started = true
			_ = p.conn.WriteMessage(gws.OpcodeBinary, p.buf)
		}
		r.mu.Unlock()
	}
}

// reply wraps body as ServerMessage field with the request id.
func reply(field protowire.Number, body []byte, requestID uint32) []byte {
	m := protowire.AppendTag(nil, field, protowire.BytesType)
	m = protowire.AppendBytes(m, body)
	m = protowire.AppendTag(m, smRequestID, protowire.VarintType)
	return protowire.AppendVarint(m, uint64(requestID))
}

type handler struct {
	gws.BuiltinEventHandler
	s *server
}

func (h *handler) OnMessage(c *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	if msg.Opcode != gws.OpcodeBinary {
		c.WriteClose(1003, nil)
		return
	}
	v, _ := c.Session().Load("p")
	p, _ := v.(*player)
	if in, ok := wire.DecodeInput(msg.Bytes()); ok {
		if p != nil {
			p.lastSeq.Store(in.Seq)
		}
		return
	}
	m, err := parse(msg.Bytes())
	if err != nil {
		c.WriteClose(1007, nil)
		return
	}
	switch m.kind {
	case cmHello: // Welcome{protocol_version: 1, session_id}
		w := protowire.AppendTag(nil, 1, protowire.VarintType)
		w = protowire.AppendVarint(w, 1)
		w = protowire.AppendTag(w, 2, protowire.BytesType)
		w = protowire.AppendString(w, "floor")
		_ = c.WriteMessage(gws.OpcodeBinary, reply(smWelcome, w, m.requestID))
	case cmJoin: // Joined{room_id, room_type, player_id, tick_rate, send_rate}
		if p != nil {
			return
		}
		p = &player{conn: c}
		c.Session().Store("p", p)
		r := h.s.join(p)
		j := protowire.AppendTag(nil, 1, protowire.BytesType)
		j = protowire.AppendString(j, r.id)
		j = protowire.AppendTag(j, 2, protowire.BytesType)
		j = protowire.AppendString(j, "arena")
		j = protowire.AppendTag(j, 3, protowire.VarintType)
		j = protowire.AppendVarint(j, uint64(p.id))
		j = protowire.AppendTag(j, 5, protowire.VarintType)
		j = protowire.AppendVarint(j, tickRate)
		j = protowire.AppendTag(j, 6, protowire.VarintType)
		j = protowire.AppendVarint(j, tickRate)
		_ = c.WriteMessage(gws.OpcodeBinary, reply(smJoined, j, m.requestID))
	}
}

func (h *handler) OnClose(c *gws.Conn, _ error) {
	if v, ok := c.Session().Load("p"); ok {
		v.(*player).gone.Store(true)
	}
}

// mux serves the WebSocket on /ws and an always-healthy /healthz.
func (s *server) mux() *http.ServeMux {
	up := gws.NewUpgrader(&handler{s: s}, &gws.ServerOption{
		ReadMaxPayloadSize: 1 << 16,
		PermessageDeflate:  gws.PermessageDeflate{Enabled: false},
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		go c.ReadLoop()
	})
	mux.HandleFunc("/healthz", func(http.ResponseWriter, *http.Request) {})
	return mux
}

// close stops every room.
func (s *server) close() {
	close(s.done)
	s.wg.Wait()
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address")
	phases := flag.Int("phases", 0, "spread the rooms' ticks over this many phases of the period (0: each room ticks from when it opens)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("listen", "err", err)
		os.Exit(1)
	}
	s := newServer()
	s.phases, s.epoch = *phases, time.Now()
	hs := &http.Server{Handler: s.mux(), ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); _ = hs.Close() }()
	log.Info("floor server listening", "addr", ln.Addr().String())
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("serve", "err", err)
	}
	s.close()
}

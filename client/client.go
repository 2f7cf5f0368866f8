// Package client is Tickwire's Go client SDK: dial a node, handshake, join
// rooms, send inputs (sequence numbers assigned for you), receive state and
// events, measure RTT and the server clock. Bots, the load-test tool,
// integration tests and Go game clients use it.
//
//	c, err := client.Dial(ctx, "ws://127.0.0.1:8080/ws", client.Options{Name: "ada"})
//	r, err := client.JoinOrCreate[*gamev1.State](ctx, c, "game", client.JoinOptions{})
//	client.OnMessage(r, func(from uint32, m *gamev1.Said) { fmt.Println(m.Text) })
//	r.OnState(func(s *gamev1.State, tick uint32) { draw(s) }) // a copy: keep it
//	_, err = r.SendInput(&gamev1.Input{Dx: 1})
//	_ = r.Send(&gamev1.Chat{Text: "hi"})
//
// A typed Room applies the server's patches and asks for a full state by
// itself when a patch's baseline is unknown. The Client's own methods
// (SendInput with bytes, Options.OnState with raw frames) are the layer
// beneath, for bots and tools that count bytes.
//
// A Client is safe for concurrent use. Callbacks in Options run on the
// client's read goroutine, one at a time, and must not block.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/internal/wsframe"
	"github.com/tickwire/tickwire/netcode"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/proto/wire"
)

// Options configure a Client. The zero value works.
type Options struct {
	// Name is the display name sent in Hello.
	Name string
	// Token is sent in Hello for the server's authentication hook.
	Token string
	// Header is added to the WebSocket upgrade request.
	Header http.Header
	// TLSConfig is used for wss:// URLs (nil: the system's roots).
	TLSConfig *tls.Config
	// MaxMessageSize is the largest message accepted from the server; a
	// bigger one closes the connection with 1009. Default 1 MiB.
	MaxMessageSize int
	// OnState receives every State frame (raw; see StateTracker to apply them).
	OnState func(st *tickwirev1.State)
	// OnEvent receives every other server message that is not the reply to
	// a request: PlayerJoined, PlayerLeft, RoomMessage, MatchmakerMatched,
	// and Left or Error frames the server sent on its own.
	OnEvent func(m *tickwirev1.ServerMessage)
	// OnMatchmakerStatus, when set, receives the MatchmakerStatus frames of
	// this client's matchmaking tickets (instead of OnEvent): a status
	// WAITING_FOR_CAPACITY means a match is formed but every server is
	// full (show "waiting for a free server…"); it is repeated at most
	// every few seconds while it lasts, with queued_for_ms and timeout_ms.
	OnMatchmakerStatus func(s *tickwirev1.MatchmakerStatus)
	// OnClose is called once when the client is done: closed by Close, or
	// its connection ended and could not be brought back.
	OnClose func(err error)

	// NoReconnect turns automatic reconnection off. By default, when the
	// connection of a client in a room is lost (reset, timeout, the node
	// going away), the client redials the same URL (a load balancer picks
	// a node) with exponential backoff and jitter for as long as the
	// room's reconnection grace, and resumes its seat with the resume
	// token: same player, the next state a full snapshot. When the room
	// itself is gone (CLOSE_CODE_ROOM_LOST, or the seat cannot be
	// resumed), a client that joined by room type joins a room of that
	// type afresh. A client in no room, kicked, refused or closed by Close
	// does not reconnect.
	NoReconnect bool
	// OnReconnecting is called before each reconnection attempt, with why
	// the connection was lost.
	OnReconnecting func(attempt int, cause error)
	// OnReconnected is called once the client is back: j.Resumed says
	// whether it kept its seat (else it joined a new room, j.RoomId).
	OnReconnected func(j *tickwirev1.Joined)
	// SilenceTimeout: a client in a room that hears nothing from the server
	// for this long (states arrive every send tick) takes its connection
	// for lost (a silent drop) and reconnects. Bytes that arrived but were
	// not read in time (this process was starved of CPU) do not count as
	// silence: the client looks once more, for a quarter of the timeout,
	// before it gives the connection up. Default 3 s; negative turns it
	// off.
	SilenceTimeout time.Duration
}

// Sentinel errors.
var (
	ErrClosed = errors.New("client: connection closed")
	// ErrConnectionLost: the connection a request went out on was lost
	// before the reply (the client may be reconnecting).
	ErrConnectionLost = errors.New("client: connection lost")
	ErrNotInRoom      = errors.New("client: not in a room")
)

// ServerError is an Error frame received in reply to a request.
type ServerError struct {
	Code    tickwirev1.ErrorCode
	Message string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("tickwire: %s: %s", e.Code, e.Message)
}

// CloseError is how the server closed the connection.
type CloseError struct {
	Code   uint16
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("client: closed by server: %d %s", e.Code, e.Reason)
}

// ProtocolError is a server that broke the WebSocket protocol (a malformed
// frame, a length or opcode no server may send): the client closed the
// connection with Code (1002, 1007 or 1009). Such a server never crashes
// the client.
type ProtocolError struct {
	Code   uint16
	Reason string
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("client: server broke the protocol: %s (closed with %d)", e.Reason, e.Code)
}

// Client is a connection to a Tickwire node; it reconnects by itself
// (Options.NoReconnect).
type Client struct {
	opts    Options
	url     string
	wsp     atomic.Pointer[wsframe.Conn] // the current connection
	welcome *tickwirev1.Welcome
	start   time.Time
	stop    chan struct{} // closed by Close: no more reconnecting
	wg      sync.WaitGroup

	reqID   atomic.Uint32
	seq     atomic.Uint32
	ackTick atomic.Uint32

	mu      sync.Mutex
	pending map[uint32]chan *tickwirev1.ServerMessage
	roomID  string
	player  uint32
	clock   *netcode.ClockSync
	ticks   *netcode.TickClock
	closed  bool
	err     error
	done    chan struct{}
	// hook routes states and events to the typed Room joined last.
	hook   atomic.Pointer[roomHook]
	inRoom atomic.Bool // arms the silence timeout
	// reconnecting is set while the reconnection loop runs (changed with
	// mu held, read without it by SendInput): inputs are not sent then, the
	// new connection being in no room until its resume or join is
	// answered (the server would count them as bad messages).
	reconnecting atomic.Bool
	// for reconnecting, guarded by mu: the last join by room type (to join
	// afresh when the room is lost), the seat's resume token and grace
	joinReq     *tickwirev1.Join
	resumeToken string
	grace       time.Duration
	stopping    bool
	lost        error // why the last connection ended
}

// Dial connects to url (ws://host:port/ws) and completes the handshake.
func Dial(ctx context.Context, url string, opts Options) (*Client, error) {
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = 1 << 20
	}
	if opts.SilenceTimeout == 0 {
		opts.SilenceTimeout = 3 * time.Second
	}
	c := &Client{
		opts: opts, url: url, start: time.Now(),
		pending: map[uint32]chan *tickwirev1.ServerMessage{},
		clock:   netcode.NewClockSync(netcode.ClockSyncConfig{}),
		ticks:   netcode.NewTickClock(50*time.Millisecond, netcode.TickClockConfig{}),
		done:    make(chan struct{}),
		stop:    make(chan struct{}),
	}
	welcome, err := c.connect(ctx)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	c.welcome = welcome
	return c, nil
}

// connect dials c.url, makes the new connection current and completes the
// handshake on it.
func (c *Client) connect(ctx context.Context) (*tickwirev1.Welcome, error) {
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	ws, err := wsframe.Dial(dctx, c.url, wsframe.DialOptions{Header: c.opts.Header, TLSConfig: c.opts.TLSConfig, MaxMessage: c.opts.MaxMessageSize})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", c.url, err)
	}
	c.wsp.Store(ws)
	go c.readLoop(ws)
	rep, err := c.request(ctx, &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Hello{Hello: &tickwirev1.Hello{
		ProtocolVersion: tickwirev1.ProtocolVersion_PROTOCOL_VERSION_1,
		Token:           c.opts.Token, Name: c.opts.Name, Client: "tickwire-go/0.1",
	}}})
	if err != nil {
		return nil, err
	}
	return rep.GetWelcome(), nil
}

// Welcome returns the server's handshake reply.
func (c *Client) Welcome() *tickwirev1.Welcome { return c.welcome }

// JoinOptions select and configure a room.
type JoinOptions struct {
	// Filter: join-or-create only picks rooms whose metadata has these
	// entries; a room created by the join starts with them.
	Filter map[string]string
	// Options are the game-defined join options.
	Options []byte
	// Private creates a private room (with Create).
	Private bool
	// Reservation is a signed seat reservation from the matchmaker.
	Reservation string
}

// JoinOrCreate joins a room of roomType with a free seat, or creates one.
func (c *Client) JoinOrCreate(ctx context.Context, roomType string, o JoinOptions) (*tickwirev1.Joined, error) {
	return c.join(ctx, &tickwirev1.Join{RoomType: roomType, Filter: o.Filter, Options: o.Options, Reservation: o.Reservation})
}

// Create creates a new room of roomType and joins it.
func (c *Client) Create(ctx context.Context, roomType string, o JoinOptions) (*tickwirev1.Joined, error) {
	return c.join(ctx, &tickwirev1.Join{RoomType: roomType, Create: true, Private: o.Private, Filter: o.Filter, Options: o.Options})
}

// JoinByID joins the room with id.
func (c *Client) JoinByID(ctx context.Context, roomID string, o JoinOptions) (*tickwirev1.Joined, error) {
	return c.join(ctx, &tickwirev1.Join{RoomId: roomID, Options: o.Options, Reservation: o.Reservation})
}

// JoinWithReservation joins the room named by a matchmaker reservation.
func (c *Client) JoinWithReservation(ctx context.Context, reservation string) (*tickwirev1.Joined, error) {
	return c.join(ctx, &tickwirev1.Join{Reservation: reservation})
}

// Resume takes back a seat this player lost with its connection: token is
// the resume token of the seat's last Joined (Room resumes by itself; this
// is the layer beneath). The reply is a Joined with resumed set and a new
// token; input sequence numbers continue after Joined.last_input_seq.
func (c *Client) Resume(ctx context.Context, token string) (*tickwirev1.Joined, error) {
	return c.join(ctx, &tickwirev1.Join{ResumeToken: token})
}

func (c *Client) join(ctx context.Context, j *tickwirev1.Join) (*tickwirev1.Joined, error) {
	if j.ResumeToken == "" {
		c.seq.Store(0)
	}
	c.ackTick.Store(0)
	rep, err := c.request(ctx, &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Join{Join: j}})
	if err != nil {
		return nil, err
	}
	joined := rep.GetJoined()
	if joined == nil {
		return nil, fmt.Errorf("client: unexpected reply to Join: %v", rep)
	}
	if joined.Resumed {
		// Continue right after what the room processed, even when this
		// client numbered more inputs meanwhile: those went into the lost
		// connection (or were not sent at all while it was down), and the
		// room refuses a seq more than 64 past the newest it has seen.
		c.seq.Store(joined.LastInputSeq)
	}
	c.mu.Lock()
	c.roomID, c.player = joined.RoomId, joined.PlayerId
	if j.RoomType != "" && j.ResumeToken == "" && j.Reservation == "" {
		c.joinReq = &tickwirev1.Join{RoomType: j.RoomType, Filter: j.Filter, Options: j.Options}
	} else if j.ResumeToken == "" {
		c.joinReq = nil // a room by id or reservation cannot be joined afresh
	}
	c.resumeToken = joined.ResumeToken
	c.grace = time.Duration(joined.ReconnectGraceMs) * time.Millisecond
	c.inRoom.Store(true)
	if ws := c.wsp.Load(); ws != nil && c.opts.SilenceTimeout > 0 {
		// Armed now, not only at the room's first frame: a link that dies
		// before any frame of the room arrives is noticed too.
		_ = ws.SetReadDeadline(time.Now().Add(c.opts.SilenceTimeout))
	}
	iv := time.Duration(0)
	if joined.TickRate > 0 {
		iv = time.Second / time.Duration(joined.TickRate)
	}
	c.ticks.Reset(iv)
	c.mu.Unlock()
	return joined, nil
}

// Leave leaves the current room.
func (c *Client) Leave(ctx context.Context) (*tickwirev1.Left, error) {
	rep, err := c.request(ctx, &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Leave{Leave: &tickwirev1.Leave{}}})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.ticks.Reset(0)
	c.resumeToken, c.joinReq = "", nil
	c.inRoom.Store(false)
	c.mu.Unlock()
	if ws := c.wsp.Load(); ws != nil {
		_ = ws.SetReadDeadline(time.Time{})
	}
	return rep.GetLeft(), nil
}

// Room returns the current room id and player id ("" when not in a room).
func (c *Client) Room() (string, uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.roomID, c.player
}

// SendInput sends one input with the next sequence number and the newest
// state tick received as ack. It returns the sequence number. Outside a
// room, and while the client reconnects, the input is not sent and it
// returns ErrNotInRoom.
func (c *Client) SendInput(payload []byte) (uint32, error) {
	if !c.inRoom.Load() || c.reconnecting.Load() {
		return 0, ErrNotInRoom
	}
	seq := c.seq.Add(1)
	// The per-tick frame is encoded without building the message (the
	// bytes are those proto.Marshal would produce); the writer copies them into
	// its own frame before WriteMessage returns.
	var buf [128]byte
	return seq, c.write(wire.AppendInput(buf[:0], wire.Input{Seq: seq, AckTick: c.ackTick.Load(), Payload: payload}))
}

// SendMessage sends a game message to the current room: the room's
// handler registered with room.OnMessage for msg's type receives it.
func (c *Client) SendMessage(msg proto.Message) error {
	b, err := proto.Marshal(msg)
	if err != nil {
		return fmt.Errorf("client: encode message: %w", err)
	}
	return c.send(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Message{Message: &tickwirev1.RoomMessage{
		TypeName: string(msg.ProtoReflect().Descriptor().FullName()), Payload: b,
	}}})
}

// SendRaw sends a ClientMessage as is (tests of bad input use it).
func (c *Client) SendRaw(m *tickwirev1.ClientMessage) error { return c.send(m) }

// SendBytes sends an arbitrary binary frame (tests of bad input use it).
func (c *Client) SendBytes(b []byte) error { return c.writeOp(wsframe.OpBinary, b) }

// SendText sends a text frame (which the server refuses).
func (c *Client) SendText(s string) error { return c.writeOp(wsframe.OpText, []byte(s)) }

// RequestFullState asks the server for a full state in the next frame.
func (c *Client) RequestFullState() error {
	return c.send(&tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Ack{Ack: &tickwirev1.Ack{}}})
}

// ErrNoClockSample is returned by Ping when the server could not tell how
// long it held the Ping (it arrived together with later frames, see
// Pong.hold_ms): the round trip is still returned, but it includes that
// unknown hold and was not used as a clock sample.
var ErrNoClockSample = errors.New("client: pong without hold time; not a clock sample")

// Ping measures one round trip and feeds the clock estimator. The server
// reads the sockets of players in a room once per tick, so it may hold a
// Ping for up to a tick; the round trip returned has that hold (Pong's
// hold_ms) taken off. When the server could not tell the hold, Ping returns
// the raw round trip with ErrNoClockSample and the estimator is left alone.
func (c *Client) Ping(ctx context.Context) (time.Duration, error) {
	sent := time.Since(c.start)
	c.mu.Lock()
	rtt := c.clock.RTT()
	c.mu.Unlock()
	rep, err := c.request(ctx, &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_Ping{Ping: &tickwirev1.Ping{
		ClientTimeMs: float64(sent) / float64(time.Millisecond),
		RttMs:        float32(rtt) / float32(time.Millisecond),
	}}})
	if err != nil {
		return 0, err
	}
	recv := time.Since(c.start)
	pong := rep.GetPong()
	if pong == nil {
		return 0, fmt.Errorf("client: unexpected reply to Ping: %v", rep)
	}
	if pong.HoldMs == nil || !(*pong.HoldMs >= 0 && *pong.HoldMs < 60_000) {
		return recv - sent, ErrNoClockSample
	}
	// Treat the Ping as sent when the server started answering it: the
	// round trip loses the hold, and the offset stays right.
	hold := min(time.Duration(*pong.HoldMs*float64(time.Millisecond)), recv-sent)
	serverTime := time.UnixMicro(int64(pong.ServerTimeMs * 1000))
	c.mu.Lock()
	c.clock.AddSample(sent+hold, recv, serverTime)
	c.mu.Unlock()
	return recv - sent - hold, nil
}

// RTT returns the filtered round-trip estimate (0 before the first Ping).
func (c *Client) RTT() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clock.RTT()
}

// ServerNow estimates the server's wall clock now.
func (c *Client) ServerNow() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clock.ServerNow(time.Since(c.start))
}

// NextInputAt returns when to send the next input so that it reaches the
// server lead before one of the room's ticks, and false before the first
// state of the current room has arrived. The room reads its players'
// sockets at the start of each tick, so an input sent on this timeline
// waits about lead there instead of half a tick on average, and TCP
// acknowledges each side's frames on the other side's next frame. The
// timeline comes from the arrival times of state frames (see
// netcode.TickClock) and the RTT from Ping (0 before the first Ping).
// Use a lead that covers the jitter of the path: 20 ms is a good start.
func (c *Client) NextInputAt(lead time.Duration) (time.Time, bool) {
	now := time.Since(c.start)
	c.mu.Lock()
	t, ok := c.ticks.NextSend(now, c.clock.RTT(), lead)
	c.mu.Unlock()
	if !ok {
		return time.Time{}, false
	}
	return c.start.Add(t), true
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended (a *CloseError when the server closed
// it), or nil while it is open.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection with 1000 and stops any reconnection. It
// returns within about 3 s even when the server stopped reading.
func (c *Client) Close() error {
	c.mu.Lock()
	closed, first := c.closed, !c.stopping
	c.stopping = true
	reconnecting := c.reconnecting.Load()
	c.mu.Unlock()
	if first {
		close(c.stop)
	}
	if closed {
		return nil
	}
	if reconnecting {
		c.wg.Wait() // the loop sees stop and finishes the client
		<-c.done
		return nil
	}
	ws := c.wsp.Load()
	if ws == nil { // Dial failed before a connection existed
		c.finish(ErrClosed)
		return nil
	}
	// The server answers the close frame and closes; the deadlines keep a
	// peer that stopped reading or answering from blocking Close.
	_ = ws.SetWriteDeadline(time.Now().Add(3 * time.Second))
	err := ws.WriteClose(1000, "")
	_ = ws.SetReadDeadline(time.Now().Add(3 * time.Second))
	<-c.done
	c.wg.Wait()
	if err != nil && !errors.Is(err, wsframe.ErrClosed) {
		return err
	}
	return nil
}

func (c *Client) send(m *tickwirev1.ClientMessage) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("client: marshal: %w", err)
	}
	return c.write(b)
}

// write sends one encoded ClientMessage.
func (c *Client) write(frame []byte) error { return c.writeOp(wsframe.OpBinary, frame) }

// writeOp writes one frame on the current connection; while the client
// reconnects there is none and it fails with ErrClosed.
func (c *Client) writeOp(op wsframe.Opcode, frame []byte) error {
	ws := c.wsp.Load()
	if ws == nil {
		return ErrClosed
	}
	if err := ws.WriteMessage(op, frame); err != nil {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return nil
}

func (c *Client) request(ctx context.Context, m *tickwirev1.ClientMessage) (*tickwirev1.ServerMessage, error) {
	id := c.reqID.Add(1)
	if id == 0 {
		id = c.reqID.Add(1)
	}
	m.RequestId = id
	ch := make(chan *tickwirev1.ServerMessage, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, c.closedErr()
	}
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	if err := c.send(m); err != nil {
		return nil, err
	}
	select {
	case rep := <-ch:
		if rep == nil { // the connection it went out on was lost
			c.mu.Lock()
			cause := c.lost
			c.mu.Unlock()
			return nil, fmt.Errorf("%w: %w", ErrConnectionLost, cause)
		}
		if e := rep.GetError(); e != nil {
			return nil, &ServerError{Code: e.Code, Message: e.Message}
		}
		return rep, nil
	case <-c.done:
		return nil, c.closedErr()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Client) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return fmt.Errorf("%w: %w", ErrClosed, c.err)
	}
	return ErrClosed
}

// readLoop is one connection's read goroutine: it hands each server
// message to onMessage until the connection ends. Any byte sequence from the
// server ends in a message, a close or a protocol error, never a panic.
func (c *Client) readLoop(ws *wsframe.Conn) {
	for {
		op, data, err := ws.ReadMessage()
		if err != nil {
			c.connEnded(ws, err)
			return
		}
		if op == wsframe.OpBinary {
			c.onMessage(ws, data)
		}
	}
}

// connEnded runs once a connection has ended: the client reconnects or is
// done.
func (c *Client) connEnded(ws *wsframe.Conn, err error) {
	_ = ws.Close()
	var pc *wsframe.PeerCloseError
	var ce *wsframe.CloseError
	switch {
	case errors.As(err, &pc):
		err = &CloseError{Code: pc.Code, Reason: pc.Reason}
	case errors.As(err, &ce):
		err = &ProtocolError{Code: ce.Code, Reason: ce.Reason}
	}
	if err == nil {
		err = ErrClosed
	}
	if c.wsp.Load() != ws {
		return // an older connection, replaced already
	}
	c.failPending(err)
	if c.startReconnect(err) {
		return
	}
	c.finish(err)
}

// failPending answers every request waiting on the current connection:
// it is gone, and so are their replies.
func (c *Client) failPending(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lost = cause
	for id, ch := range c.pending {
		select {
		case ch <- nil:
		default:
		}
		delete(c.pending, id)
	}
}

// finish ends the client: Done closes, OnClose runs, once.
func (c *Client) finish(err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.err = err
	c.mu.Unlock()
	close(c.done)
	if c.opts.OnClose != nil {
		c.opts.OnClose(err)
	}
}

// onMessage handles one binary server message of connection ws (data is
// valid until its next read).
func (c *Client) onMessage(ws *wsframe.Conn, data []byte) {
	if c.opts.SilenceTimeout > 0 && c.inRoom.Load() {
		_ = ws.SetReadDeadline(time.Now().Add(c.opts.SilenceTimeout))
	}
	if f, ok := wire.DecodeState(data); ok {
		// Fast path for the per-tick state frame; the payload is copied
		// because the read buffer is reused.
		c.onState(&tickwirev1.State{Tick: f.Tick, BaselineTick: f.Baseline, LastInputSeq: f.LastInputSeq, Payload: bytes.Clone(f.Payload)})
		return
	}
	m := &tickwirev1.ServerMessage{}
	if err := proto.Unmarshal(data, m); err != nil {
		return // a frame we cannot decode is ignored
	}
	if st := m.GetState(); st != nil {
		c.onState(st)
		return
	}
	if left := m.GetLeft(); left != nil {
		c.mu.Lock()
		if c.roomID == left.RoomId {
			c.roomID, c.player = "", 0
			c.resumeToken, c.joinReq = "", nil
			c.inRoom.Store(false)
			_ = ws.SetReadDeadline(time.Time{})
			c.hook.Store(nil)
		}
		c.mu.Unlock()
	}
	if m.RequestId != 0 {
		c.mu.Lock()
		ch := c.pending[m.RequestId]
		c.mu.Unlock()
		if ch != nil {
			select {
			case ch <- m:
			default: // a second reply to one request: a misbehaving server
			}
			return
		}
	}
	if h := c.hook.Load(); h != nil && h.event(m) {
		return
	}
	if st := m.GetMatchmakerStatus(); st != nil && c.opts.OnMatchmakerStatus != nil {
		c.opts.OnMatchmakerStatus(st)
		return
	}
	if c.opts.OnEvent != nil {
		c.opts.OnEvent(m)
	}
}

func (c *Client) onState(st *tickwirev1.State) {
	if st.Tick > c.ackTick.Load() {
		c.ackTick.Store(st.Tick)
	}
	at := time.Since(c.start)
	c.mu.Lock()
	c.ticks.Observe(st.Tick, at)
	c.mu.Unlock()
	if c.opts.OnState != nil {
		c.opts.OnState(st)
	}
	if h := c.hook.Load(); h != nil {
		h.state(st)
	}
}

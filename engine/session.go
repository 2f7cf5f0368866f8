package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/engine/cluster"
	"github.com/tickwire/tickwire/internal/roomrt"
	"github.com/tickwire/tickwire/internal/wsframe"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/proto/wire"
)

// wsConn is the part of *gws.Conn a session writes to (an interface so the
// message path can be fuzzed and benchmarked without a socket).
type wsConn interface {
	WriteMessage(op gws.Opcode, payload []byte) error
	WriteClose(code uint16, reason []byte) error
	NetConn() net.Conn
}

// outFrame is one queued outbound WebSocket frame.
type outFrame struct {
	op   gws.Opcode
	data []byte
	// close, when non-zero, writes a close frame with this code (and data as
	// the reason) and ends the connection.
	close uint16
}

// session is one client connection. Its reader (a read goroutine, or the
// room while the session is in a room; see sessionread.go) owns the fields
// marked "reader only". Outbound frames go through a bounded queue drained
// by at most one writer goroutine at a time, so the room never blocks on a
// socket. What the room calls (roomrt.Conn, Poller, Batcher) may run on the
// room goroutine or, in a big room, on one of the registry's helpers, one
// call of the session at a time: it is guarded by mu and omu, never by
// being on the room goroutine.
type session struct {
	e       *Engine
	id      string
	ws      wsConn
	req     *http.Request
	created time.Time
	ip      string // counted against Limits.MaxConnsPerIP; guarded by e.mu

	// reader only (the read goroutine, or the room goroutine while the
	// session is in a room that reads it on the tick; see sessionread.go)
	identity  Identity
	in        tickwirev1.ClientMessage
	inDecoded bool // in holds the message being handled
	// inFast holds the Input being handled, decoded by pollable (its
	// payload points into the read buffer), when inFastOK.
	inFast     wire.Input
	inFastOK   bool
	rr         *rawReader
	parser     wsParser
	rest       []byte        // a frame not complete yet
	pending    *pendingFrame // left by the room goroutine
	readBroken bool          // protocol error or close: read only until the end
	peerClosed bool          // the client's close frame arrived
	// closeDropped counts the bytes of the frames dropped since the node
	// decided to close (closeDropMax). Next to the two bools, it keeps the
	// session in its size class (TestSessionFitsItsSizeClass).
	closeDropped int32
	lim          *rate.Limiter // frames per second, of every kind
	flood        *floodState   // from the first frame refused (allowFrame)
	roomsMade    minuteCount   // rooms this connection created this minute

	// cluster (reader unless noted)
	relayed    bool                     // this is the owner side of a relay
	pendingRes *cluster.Claims          // reservation consumed at upgrade
	up         atomic.Pointer[upstream] // set once the session relays
	tickets    map[string]ticketInfo    // guarded by mu
	// matched holds the last tickets this session was told matched, so a
	// notice that arrives twice (on the bus and again from the backend's
	// kept notices) is answered once. Guarded by mu.
	matched  [4]string
	matchedN int

	// pollRoom is the room whose goroutine reads the connection, nil while
	// a read goroutine does; changed under mu.
	pollRoom atomic.Pointer[roomrt.Room]
	// lobbyKey is the session's key in the lobby reader while it reads the
	// connection, 0 otherwise; guarded by the lobby reader's mutex.
	lobbyKey uint64

	hello    atomic.Bool
	lastSeen atomic.Int64 // unix nanos of the last frame from the client
	// Slow-consumer probe (sweep): the payload (unix nanos) of the ping
	// sent to a client in a room that is not answered yet (0: none), when
	// the last one was sent, and when the client was found slow.
	probe     atomic.Int64
	probeSent atomic.Int64
	slowAt    atomic.Int64
	// closeSent is when the writer began to send the node's close frame
	// (unix nanos, set just before the write, so a reader that finds the
	// client's answer always finds it set too; the sweep closes the
	// socket once Config.CloseTimeout has passed), closeQueued from
	// closeWith until then, 0 before. The readers drop the client's data
	// frames once it is not 0: only its close matters.
	closeSent atomic.Int64
	closeCut  atomic.Bool // cutClose counted the session
	offenses  atomic.Int32
	offStart  atomic.Int64 // unix nanos when the offense window started

	// room membership, guarded by mu (reader and room goroutine)
	mu        sync.Mutex
	room      *roomrt.Room
	playerID  uint32
	leaveReq  uint32
	closeCode uint16
	// the membership most recently ended by the room, so that a join whose
	// player was removed before onJoin recorded it is not recorded at all
	removedRoom string
	removedPID  uint32
	// seatRoom is the room whose directory seat this session holds
	seatRoom string
	// transitRoom is seatRoom while its player, admitted by a Consume, is
	// not in the room yet: counted in the seat ledger's transit.
	transitRoom string
	// drainTold: the player heard RoomClosing for the drain of this node
	// (from tellDrain, or from the join or resume that recorded its room
	// after tellDrain looked).
	drainTold bool

	// outbound, guarded by omu
	omu      sync.Mutex
	queue    []outFrame
	spare    []outFrame
	state    roomrt.StateFrame // its Payload is stateBuf
	stateBuf []byte
	writeBuf []byte // writer role only
	raw      *rawWriter
	// held: the room goroutine holds what it sends the connection
	// (roomrt.Batcher) until Release: frames wait in queue, and from the
	// first state frame on everything is framed, in order, in heldWire
	// (a room that runs several late ticks in one go holds their states
	// for one write). heldState: heldWire holds a state frame, the last
	// of tick heldTick in baseline generation heldGen. heldWire is only
	// appended to while no writer runs, so the writer that takes it may
	// write it outside omu.
	heldWire []byte
	// partial is the unwritten tail of a frame written directly (a state
	// frame by the room goroutine, or another frame by enqueue's caller;
	// writer role only; finished by flush). partialState: it is a state,
	// of partialTick in generation partialGen.
	partial      []byte
	drops        int
	hasState     bool
	held         bool
	heldState    bool
	writing      bool
	closing      bool
	partialState bool
	heldTick     uint32
	heldGen      uint32
	stateGen     uint32 // bumped when the room membership changes or on resync
	offerGen     uint32 // stateGen when the pending state was offered
	partialTick  uint32
	partialGen   uint32
	baseline     atomic.Uint32
	closeOnce    sync.Once
	io           ioCounters
}

func (s *session) helloDone() bool { return s.hello.Load() }

// --- roomrt.Conn ---

// maxKeptStateBuf bounds the copy buffer of pending state frames a
// session keeps between frames.
const maxKeptStateBuf = 4 << 10

// SendState implements roomrt.Conn.
func (s *session) SendState(f roomrt.StateFrame) {
	s.omu.Lock()
	if s.closing {
		s.omu.Unlock()
		return
	}
	if s.hasState {
		s.drops++
		s.e.metrics.stateDropped.Add(1)
		if s.drops > s.e.cfg.SlowConsumerFrames {
			s.omu.Unlock()
			s.closeWith(uint16(tickwirev1.CloseCode_CLOSE_CODE_SLOW_CONSUMER), "slow consumer")
			return
		}
	}
	if !s.writing && !s.hasState {
		if s.held {
			// The room holds the connection (Hold): the state waits for
			// Release with the rest of the tick's (or batch's) frames.
			s.holdStateLocked(f)
			s.omu.Unlock()
			return
		}
		if s.raw != nil {
			// Fast path: take the writer role and write from this
			// goroutine without blocking (see rawWriter), the frames
			// queued for the tick (enqueueForTick) first, in the same
			// write.
			s.writing = true
			gen := s.stateGen
			frames := s.takeQueueLocked()
			s.omu.Unlock()
			s.writeDirect(frames, &f, gen)
			return
		}
	}
	// The payload is the room's only during the call: keep a copy (in a
	// buffer only touched under omu; flush builds the frame from it
	// before letting go of the lock).
	s.stateBuf = append(s.stateBuf[:0], f.Payload...)
	f.Payload = s.stateBuf
	s.state, s.hasState, s.offerGen = f, true, s.stateGen
	start := s.startWriterLocked()
	s.omu.Unlock()
	if start {
		go s.flush()
	}
}

// stateWrittenLocked records that the state of tick, offered in baseline
// generation gen, is now on the socket: it becomes the baseline unless the
// baseline was reset since (new room, resync). Call with omu held.
func (s *session) stateWrittenLocked(tick, gen uint32) {
	if gen == s.stateGen {
		s.baseline.Store(tick)
	}
	s.drops = 0
}

// resetBaseline forgets the baseline (the next state is full); a write in
// flight no longer sets it. dropPending also discards an unsent state.
func (s *session) resetBaseline(dropPending bool) {
	s.omu.Lock()
	if dropPending {
		s.hasState = false
	}
	s.stateGen++
	s.baseline.Store(0)
	s.omu.Unlock()
}

// holdStateLocked adds state f to what the room holds for the connection
// (Hold): the frames queued before it, then the state, framed in heldWire
// for Release's write. The state is in the connection's ordered output
// from now on (written before anything sent later, or the connection
// aborts), so it is the baseline of the next encode: a room running late
// ticks back to back patches each state on the one before. Call with omu
// held, no writer running and no state pending.
func (s *session) holdStateLocked(f roomrt.StateFrame) {
	frames := s.takeQueueLocked()
	s.heldWire = s.appendFrames(s.heldWire, frames)
	s.recycleLocked(frames)
	s.heldWire = s.appendState(s.heldWire, f)
	s.heldState, s.heldTick, s.heldGen = true, f.Tick, s.stateGen
	s.baseline.Store(f.Tick)
}

// appendFrames frames frames onto dst and counts the messages.
func (s *session) appendFrames(dst []byte, frames []outFrame) []byte {
	for i := range frames {
		dst = appendDataFrame(dst, byte(frames[i].op), frames[i].data)
		if frames[i].op == gws.OpcodeBinary {
			s.io.msgsOut.Add(1)
			s.io.bytesOut.Add(uint64(len(frames[i].data)))
		}
	}
	return dst
}

// appendState frames state f onto dst and counts it.
func (s *session) appendState(dst []byte, f roomrt.StateFrame) []byte {
	start := len(dst)
	dst = appendWSFrame(dst, f)
	s.io.msgsOut.Add(1)
	s.io.bytesOut.Add(uint64(len(dst) - start - wsHeaderLen(len(dst)-start)))
	return dst
}

// maxKeptHeldWire bounds the buffer a session keeps for held frames
// between ticks (a rare big one, full states of a big room, is dropped).
const maxKeptHeldWire = 16 << 10

// takeHeldLocked takes what the room held (heldWire) for the writer role
// the caller holds: the bytes stay valid until the writer gives up the
// role, since nothing is held while a writer runs.
func (s *session) takeHeldLocked() (wire []byte, state bool, tick, gen uint32) {
	wire, state, tick, gen = s.heldWire, s.heldState, s.heldTick, s.heldGen
	s.heldState = false
	if cap(wire) > maxKeptHeldWire {
		s.heldWire = nil
	} else {
		s.heldWire = wire[:0]
	}
	return wire, state, tick, gen
}

// takeQueueLocked takes the queued frames for a writer (the caller holds
// the writer role and gives them back with recycleLocked).
func (s *session) takeQueueLocked() []outFrame {
	if len(s.queue) == 0 {
		return nil
	}
	frames := s.queue
	s.queue, s.spare = s.spare[:0], nil
	return frames
}

// recycleLocked keeps the slice of frames taken by takeQueueLocked for the
// next queue.
func (s *session) recycleLocked(frames []outFrame) {
	if frames != nil {
		clear(frames)
		s.spare = frames[:0]
	}
}

// writeDirect writes frames and then state f (if not nil) in one write
// while holding the writer role, never blocking: what the socket does not
// take now is left in s.partial for the writer goroutine.
func (s *session) writeDirect(frames []outFrame, f *roomrt.StateFrame, gen uint32) {
	buf := s.appendFrames(s.writeBuf[:0], frames)
	var tick uint32
	if f != nil {
		buf = s.appendState(buf, *f)
		tick = f.Tick
	}
	s.writeOwned(buf, frames, f != nil, tick, gen)
}

// writeOwned writes buf, built in s.writeBuf by the writer role's holder,
// without blocking, and gives frames (taken from the queue for it) back;
// state: buf ends with a state frame of tick in baseline generation gen.
// What the socket does not take now is left in s.partial for the writer
// goroutine.
func (s *session) writeOwned(buf []byte, frames []outFrame, state bool, tick, gen uint32) {
	s.writeBuf = buf
	n, err := s.raw.tryWrite(buf)
	if err != nil && !errors.Is(err, errWouldBlock) {
		s.abort()
		return
	}
	s.omu.Lock()
	s.recycleLocked(frames)
	if n < len(buf) {
		s.partial, s.partialState = buf[n:], state
		s.partialTick, s.partialGen = tick, gen
		s.omu.Unlock()
		go s.flush()
		return
	}
	if state {
		s.stateWrittenLocked(tick, gen)
	}
	if cap(buf) > maxKeptHeldWire {
		s.writeBuf = nil // a rare big write (full states of a big room)
	}
	if len(s.queue) > 0 || s.hasState {
		s.omu.Unlock()
		go s.flush()
		return
	}
	s.writing = false
	s.omu.Unlock()
}

// Hold implements roomrt.Batcher: the frames and state frames sent from
// now on wait for Release, and go out in one write.
func (s *session) Hold() {
	s.omu.Lock()
	s.held = true
	s.omu.Unlock()
}

// Release implements roomrt.Batcher: it ends Hold and writes what is
// held, in order, in one write.
func (s *session) Release() {
	s.omu.Lock()
	s.held = false
	if s.closing || s.writing || (len(s.queue) == 0 && len(s.heldWire) == 0) {
		// A writer that runs takes heldWire first (flush).
		s.omu.Unlock()
		return
	}
	s.writing = true
	if s.raw == nil || s.hasState {
		s.omu.Unlock()
		go s.flush()
		return
	}
	frames := s.takeQueueLocked()
	wire, state, tick, gen := s.takeHeldLocked()
	s.omu.Unlock()
	// The held bytes are the write buffer now (one buffer per session,
	// not two): heldWire and writeBuf share their array from here on,
	// which is safe as the one is only appended to while no writer runs
	// and the other is only used by the writer.
	s.writeOwned(s.appendFrames(wire, frames), frames, state, tick, gen)
}

// SendFrame implements roomrt.Conn.
func (s *session) SendFrame(frame []byte) { s.enqueue(outFrame{op: gws.OpcodeBinary, data: frame}) }

// Baseline implements roomrt.Conn.
func (s *session) Baseline() uint32 { return s.baseline.Load() }

// Reject implements roomrt.Conn: the room refused one of our messages.
func (s *session) Reject(code tickwirev1.ErrorCode, msg string) { s.fail(0, code, msg, true) }

// Removed implements roomrt.Conn.
func (s *session) Removed(roomID string, playerID uint32, reason roomrt.LeaveReason, msg string) {
	s.mu.Lock()
	if s.room != nil && (s.room.ID() != roomID || s.playerID != playerID) {
		// A room the session is no longer in (a join that timed out went
		// through late, and the client is in another room since): the
		// membership, the baseline and the reader of the current room stay.
		s.removedRoom, s.removedPID = roomID, playerID
		release := s.seatRoom == roomID
		if release {
			s.seatRoom = ""
		}
		fromTransit := s.takeTransitLocked(roomID)
		s.mu.Unlock()
		if release {
			s.e.releaseSeat(roomID, fromTransit)
		}
		s.send(&tickwirev1.ServerMessage{Kind: &tickwirev1.ServerMessage_Left{Left: &tickwirev1.Left{RoomId: roomID, Reason: reason, Message: msg}}})
		return
	}
	reqID := s.leaveReq
	s.room, s.playerID, s.leaveReq = nil, 0, 0
	s.removedRoom, s.removedPID = roomID, playerID
	release := s.seatRoom == roomID
	if release {
		s.seatRoom = ""
	}
	fromTransit := s.takeTransitLocked(roomID)
	// The room no longer reads the connection: a read goroutine takes over
	// (this runs on the room goroutine, so the room is not polling now).
	read := s.stopPollingLocked()
	s.mu.Unlock()
	if read {
		go s.readLoop()
	} else {
		s.wakeReader() // it may hand reading to the lobby now
	}
	if release {
		s.e.releaseSeat(roomID, fromTransit)
	}
	s.resetBaseline(true)
	s.send(&tickwirev1.ServerMessage{RequestId: reqID, Kind: &tickwirev1.ServerMessage_Left{Left: &tickwirev1.Left{RoomId: roomID, Reason: reason, Message: msg}}})
	if reason == roomrt.LeaveKicked {
		s.closeWith(uint16(tickwirev1.CloseCode_CLOSE_CODE_KICKED), "kicked: "+msg)
	}
}

// --- outbound ---

func (s *session) send(m *tickwirev1.ServerMessage) {
	b, err := proto.Marshal(m)
	if err != nil {
		s.e.log.Error("marshal server message", "err", err)
		return
	}
	s.enqueue(outFrame{op: gws.OpcodeBinary, data: b})
}

func (s *session) enqueue(f outFrame) { s.queueFrame(f, false) }

// queueFrame queues f and starts its write, unless the room holds the
// connection's frames for its tick (Hold) or forTick asks to leave f for
// the next tick's write (see enqueueForTick).
func (s *session) queueFrame(f outFrame, forTick bool) {
	s.omu.Lock()
	if s.closing {
		s.omu.Unlock()
		return
	}
	if f.close != 0 {
		s.closing = true
	} else if len(s.queue) >= s.e.cfg.OutboundQueue {
		s.omu.Unlock()
		s.closeWith(uint16(tickwirev1.CloseCode_CLOSE_CODE_SLOW_CONSUMER), "outbound queue full")
		return
	}
	if f.close == 0 && (s.held || forTick) {
		// The room holds the connection's frames for its tick's write
		// (Hold), or f waits for the next one: the writer is not
		// started, the state frame or Release writes them.
		s.queue = append(s.queue, f)
		s.omu.Unlock()
		return
	}
	if f.close == 0 && s.raw != nil && !s.writing && !s.hasState && len(s.queue) == 0 {
		// Fast path, as SendState's: take the writer role and write from
		// this goroutine without blocking, instead of starting a writer
		// goroutine for one small frame (the sweep's probe pings go to
		// every client in a room each second: a thousand goroutines, and
		// their stacks, at once).
		s.writing = true
		s.queue = append(s.queue, f)
		frames := s.takeQueueLocked()
		s.omu.Unlock()
		s.writeDirect(frames, nil, 0)
		return
	}
	s.queue = append(s.queue, f)
	start := s.startWriterLocked()
	s.omu.Unlock()
	if start {
		go s.flush()
	}
}

func (s *session) startWriterLocked() bool {
	if s.writing {
		return false
	}
	s.writing = true
	return true
}

// flush is the connection's only writer. It runs until the queue is empty.
func (s *session) flush() {
	for {
		s.omu.Lock()
		rest, state, tick, gen := s.partial, s.partialState, s.partialTick, s.partialGen
		s.partial = nil
		if len(rest) == 0 && len(s.heldWire) > 0 {
			// What a room held when something else started the writer
			// (a close frame): it goes before anything queued after it.
			rest, state, tick, gen = s.takeHeldLocked()
		}
		if len(rest) > 0 {
			// The tail of a frame written directly, or the frames a room
			// held: finish them first (blocking is fine here).
			s.omu.Unlock()
			s.writeDeadline()
			if _, err := s.ws.NetConn().Write(rest); err != nil {
				s.writeFailed(err)
				return
			}
			s.omu.Lock()
			if state {
				s.stateWrittenLocked(tick, gen)
			}
		}
		if len(s.queue) == 0 && !s.hasState && len(s.heldWire) == 0 {
			s.writing = false
			s.omu.Unlock()
			return
		}
		frames := s.queue
		s.queue = s.spare[:0]
		st, has, gen := s.state, s.hasState, s.offerGen
		if has {
			// st.Payload is s.stateBuf, which the next SendState
			// overwrites once the lock is released.
			s.writeBuf = appendStateFrame(s.writeBuf[:0], st)
			if cap(s.stateBuf) > maxKeptStateBuf {
				s.stateBuf = nil // a rare big state (a full snapshot)
			}
		}
		s.hasState = false
		s.omu.Unlock()
		s.writeDeadline()

		for i := range frames {
			f := &frames[i]
			if f.close != 0 {
				s.sendClose(f.close, f.data)
				s.e.metrics.closed(f.close)
				s.omu.Lock()
				s.writing = false
				s.omu.Unlock()
				return
			}
			if err := s.ws.WriteMessage(f.op, f.data); err != nil {
				s.writeFailed(err)
				return
			}
			if f.op == gws.OpcodeBinary {
				s.io.msgsOut.Add(1)
				s.io.bytesOut.Add(uint64(len(f.data)))
			}
		}
		clear(frames)
		if has {
			if err := s.ws.WriteMessage(gws.OpcodeBinary, s.writeBuf); err != nil {
				s.writeFailed(err)
				return
			}
			s.io.msgsOut.Add(1)
			s.io.bytesOut.Add(uint64(len(s.writeBuf)))
			s.omu.Lock()
			s.stateWrittenLocked(st.Tick, gen)
			s.spare = frames[:0]
			s.omu.Unlock()
		} else {
			s.omu.Lock()
			s.spare = frames[:0]
			s.omu.Unlock()
		}
	}
}

// sendClose starts the closing handshake (RFC 6455, 7.1): it writes the
// close frame and shuts the sending side of the TCP connection (a FIN
// after the frame) but leaves the socket open. Whoever reads the
// connection goes on reading, drops the data frames still coming
// (closeSent), and ends the session, which closes the socket (ended), at
// the client's close frame or end of stream; the sweep closes it once
// Config.CloseTimeout has passed. Closing at once would answer the
// client's input still in flight with a reset, and a reset can discard
// the close frame before the client has read it: a kicked player would
// see 1006 and reconnect instead of reading why. The writer goroutine
// calls it (it may block, up to the write deadline). Where the connection
// cannot half-close, or the write failed, the socket is closed at once,
// after dropping what is unread (drainBeforeClose).
func (s *session) sendClose(code uint16, reason []byte) {
	conn := s.ws.NetConn()
	// Set before the write: the client may answer, and the reader see the
	// answer, before this goroutine runs again.
	s.closeSent.Store(time.Now().UnixNano())
	halfClosable, ok := halfCloseWith(conn, code, string(reason))
	if ok {
		return
	}
	lent := s.e.readBufs.get()
	drainBeforeClose(conn, (*lent)[:cap(*lent)])
	s.e.readBufs.put(lent)
	if halfClosable {
		_ = conn.Close() // the frame or the FIN failed
	} else {
		_ = s.ws.WriteClose(code, reason) // closes the socket
	}
	s.socketClosed()
}

// halfCloseWith writes the close frame of code and reason to conn and
// shuts conn's sending side (a FIN after the frame), leaving the socket
// open for what the client still sends. ok is false if conn cannot
// half-close (halfClosable false: nothing was written) or a write failed.
func halfCloseWith(conn net.Conn, code uint16, reason string) (halfClosable, ok bool) {
	hc, halfClosable := conn.(interface{ CloseWrite() error })
	if !halfClosable {
		return false, false
	}
	frame := appendDataFrame(nil, byte(gws.OpcodeCloseConnection), wsframe.ClosePayload(code, reason))
	if _, err := conn.Write(frame); err != nil {
		return true, false
	}
	return true, hc.CloseWrite() == nil
}

// closeDrainMax bounds what a closing connection reads and drops
// (drainBeforeClose, lingerClose, closeDropMax).
const closeDrainMax = 64 << 10

// closeDropMax is how many bytes of frames a session reads and drops
// after the node decided to close it, waiting for the client's close
// frame, before it cuts the handshake (cutClose): closeDrainMax, or one
// message of Config.MaxMessageSize if that is more, so that a client
// whose biggest message was in flight still gets its close read.
func (s *session) closeDropMax() int { return max(closeDrainMax, s.e.cfg.MaxMessageSize+16) }

// lingerClose runs the closing handshake on a connection no session
// reads, on the caller's goroutine: the close frame, the end of the
// sending side, then it reads and drops what the client sends (at most
// closeDrainMax bytes) until the client's end of stream or timeout, and
// closes (see sendClose for why not at once). It reports whether the
// handshake was cut short: the client neither ended its stream within
// timeout nor stayed within closeDrainMax.
func lingerClose(conn net.Conn, code uint16, reason string, timeout time.Duration) (cut bool) {
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, ok := halfCloseWith(conn, code, reason); ok {
		n, err := io.Copy(io.Discard, io.LimitReader(conn, closeDrainMax))
		cut = err != nil || n == closeDrainMax
	}
	_ = conn.Close()
	return cut
}

// closeQueued is closeSent's value between closeWith and the close
// frame's write.
const closeQueued = -1

// closeExpired closes the socket of a session whose close frame went out
// more than timeout before now and whose client has not ended the
// connection since (the sweep calls it). It reports whether the session
// is in its closing handshake: nothing else is to be done with it.
func (s *session) closeExpired(now time.Time, timeout time.Duration) bool {
	at := s.closeSent.Load()
	if at <= 0 {
		return false
	}
	if now.UnixNano()-at > int64(timeout) {
		s.cutClose()
	}
	return true
}

// cutClose closes the socket of a session whose client did not answer its
// close frame in time, or sent too much before it (closeDropMax). A
// session in its closing handshake (closeSent set) is counted once
// (tickwire_close_handshakes_cut_total); one that was not is only closed.
func (s *session) cutClose() {
	if s.closeSent.Load() != 0 && s.closeCut.CompareAndSwap(false, true) {
		s.e.metrics.closesCut.Add(1)
	}
	s.abort()
}

// writeDeadline bounds the writer's next blocking writes: a socket that
// accepts no byte for Limits.SlowConsumerTimeout fails them, so no
// goroutine blocks on a socket forever.
func (s *session) writeDeadline() {
	_ = s.ws.NetConn().SetWriteDeadline(time.Now().Add(s.e.cfg.Limits.SlowConsumerTimeout))
}

// writeFailed ends the connection after a failed write; a write that
// timed out is a slow consumer (counted as closed with 4005: the close
// frame itself cannot be written).
func (s *session) writeFailed(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		s.e.metrics.limited("slow_consumer")
		s.e.metrics.closed(uint16(tickwirev1.CloseCode_CLOSE_CODE_SLOW_CONSUMER))
		s.mu.Lock()
		s.closeCode = uint16(tickwirev1.CloseCode_CLOSE_CODE_SLOW_CONSUMER)
		s.mu.Unlock()
	}
	s.abort()
}

// abort stops writing after a socket error; the read loop sees the error
// too and OnClose cleans up.
func (s *session) abort() {
	s.omu.Lock()
	s.closing = true
	s.writing = false
	s.queue = nil
	s.hasState = false
	s.heldWire, s.heldState = nil, false
	s.omu.Unlock()
	_ = s.ws.NetConn().Close()
	s.socketClosed()
}

// closeWith flushes what is queued, then closes with code.
func (s *session) closeWith(code uint16, reason string) {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closeCode = code
		s.mu.Unlock()
		if len(reason) > 120 {
			reason = reason[:120]
		}
		s.closeSent.CompareAndSwap(0, closeQueued)
		s.enqueue(outFrame{close: code, data: []byte(reason)})
	})
}

// fail sends an Error frame and counts it; offenses count toward
// disconnection.
func (s *session) fail(reqID uint32, code tickwirev1.ErrorCode, msg string, offense bool) {
	s.e.metrics.errorSent(code)
	s.send(&tickwirev1.ServerMessage{RequestId: reqID, Kind: &tickwirev1.ServerMessage_Error{Error: &tickwirev1.Error{Code: code, Message: msg}}})
	if !offense {
		return
	}
	now := time.Now().UnixNano()
	if start := s.offStart.Load(); now-start > int64(time.Minute) {
		s.offStart.Store(now)
		s.offenses.Store(0)
	}
	if int(s.offenses.Add(1)) > s.e.cfg.MaxOffenses {
		s.closeWith(uint16(tickwirev1.CloseCode_CLOSE_CODE_TOO_MANY_ERRORS), "too many bad messages")
	}
}

// --- end of the connection ---

// ended cleans up after the connection ended (the read goroutine, once the
// stream has ended; err says how, and is not used).
func (s *session) ended(error) {
	s.omu.Lock()
	s.closing = true
	s.queue = nil
	s.hasState = false
	s.omu.Unlock()
	s.mu.Lock()
	r, pid := s.room, s.playerID
	seat := ""
	if r == nil {
		seat, s.seatRoom = s.seatRoom, "" // consumed but never joined
	}
	fromTransit := s.takeTransitLocked(seat)
	stray := s.transitRoom // a consumed seat no longer this session's seatRoom
	s.transitRoom = ""
	tickets := s.tickets
	s.tickets = nil
	s.mu.Unlock()
	if r != nil {
		// Not a Leave: the seat waits for a resume (the room's grace).
		r.Disconnect(pid, s)
	}
	if seat != "" {
		s.e.releaseSeat(seat, fromTransit)
	}
	if stray != "" {
		s.e.cl.ledger.failed(stray)
	}
	if u := s.up.Load(); u != nil {
		u.close()
	}
	s.cancelTickets(tickets)
	_ = s.ws.NetConn().Close()
	s.e.removeSession(s)
}

// handle processes one client data frame that arrived now (tests and
// fuzzing call it directly).
func (s *session) handle(op gws.Opcode, data []byte) {
	now := time.Now()
	s.handleMessage(op, data, now, now.UnixNano())
}

// handleMessage processes one client message on the connection's reader
// (the read goroutine, or the room goroutine for the frames pollable
// allows). arrival is when it arrived on the socket (Unix nanoseconds, 0
// when unknown).
func (s *session) handleMessage(op gws.Opcode, data []byte, now time.Time, arrival int64) {
	decoded := s.inDecoded
	s.inDecoded = false
	fast, fastOK := s.inFast, s.inFastOK
	s.inFast, s.inFastOK = wire.Input{}, false
	s.lastSeen.Store(now.UnixNano())
	s.io.msgsIn.Add(1)
	s.io.bytesIn.Add(uint64(len(data)))
	if op != gws.OpcodeBinary {
		s.readBroken = true
		s.closeWith(closeUnsupported, "binary frames only")
		return
	}
	if u := s.up.Load(); u != nil {
		u.forward(data) // relayed: frames go to the owner undecoded
		return
	}
	if !fastOK {
		fast, fastOK = wire.DecodeInput(data)
	}
	if fastOK && s.hello.Load() {
		// Fast path for the per-tick Input frame: no message is built and
		// nothing is allocated (the room copies the payload).
		s.onInputFields(0, fast.Seq, fast.AckTick, fast.Payload, fast.RoomID)
		return
	}
	in := &s.in
	if !decoded {
		in.Reset()
		if err := proto.Unmarshal(data, in); err != nil {
			in.Kind = nil
		}
	}
	if in.Kind == nil {
		s.fail(in.GetRequestId(), tickwirev1.ErrorCode_ERROR_CODE_BAD_MESSAGE, "frame is not a ClientMessage", true)
		return
	}
	reqID := in.RequestId
	if hello := in.GetHello(); hello != nil {
		s.onHello(reqID, hello)
		return
	}
	if !s.hello.Load() {
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_HANDSHAKE_REQUIRED, "send Hello first", true)
		return
	}
	switch k := in.Kind.(type) {
	case *tickwirev1.ClientMessage_Input:
		s.onInput(reqID, k.Input)
	case *tickwirev1.ClientMessage_Ping:
		s.onPing(reqID, k.Ping, arrival)
	case *tickwirev1.ClientMessage_Join:
		s.onJoin(reqID, k.Join)
	case *tickwirev1.ClientMessage_Leave:
		s.onLeave(reqID)
	case *tickwirev1.ClientMessage_Message:
		s.onRoomMessage(reqID, k.Message)
	case *tickwirev1.ClientMessage_Ack:
		if k.Ack.Tick == 0 {
			s.resetBaseline(false)
		}
	case *tickwirev1.ClientMessage_MatchmakerAdd:
		s.onMatchmakerAdd(reqID, k.MatchmakerAdd)
	case *tickwirev1.ClientMessage_MatchmakerCancel:
		s.onMatchmakerCancel(reqID, k.MatchmakerCancel)
	default:
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_BAD_MESSAGE, "unknown message", true)
	}
}

// floodState is a session's record of refused frames (allowFrame), kept
// apart because few clients ever exceed the rate: it keeps the session in
// a smaller allocation size class.
type floodState struct {
	start       time.Time // first refusal of the current flood
	lastRefused time.Time
	lastRateErr time.Time // the last Error frame sent for it
}

// floodPause is how long a client must stay within the rate for a flood
// to be over (Limits.FloodTimeout starts again at the next refusal).
const floodPause = time.Second

// allowFrame applies the token bucket (Config.RateLimit, RateBurst) to one
// frame of any kind, before it is decoded. Over the limit the frame is
// dropped (with an Error frame at most once a second); a client whose
// frames keep being refused for Limits.FloodTimeout is closed with
// CLOSE_CODE_RATE_LIMITED, however many of its frames pass meanwhile.
func (s *session) allowFrame(now time.Time) bool {
	cfg := &s.e.cfg
	if s.lim == nil {
		s.lim = rate.NewLimiter(rate.Limit(cfg.RateLimit), cfg.RateBurst)
	}
	if s.lim.AllowN(now, 1) {
		return true
	}
	s.e.metrics.limited("frames_per_second")
	f := s.flood
	if f == nil {
		f = &floodState{start: now}
		s.flood = f
	} else if now.Sub(f.lastRefused) > floodPause {
		f.start = now
	}
	f.lastRefused = now
	if now.Sub(f.start) >= cfg.Limits.FloodTimeout {
		s.readBroken = true
		s.closeWith(uint16(tickwirev1.CloseCode_CLOSE_CODE_RATE_LIMITED), "rate limit exceeded")
		return false
	}
	if now.Sub(f.lastRateErr) >= time.Second {
		f.lastRateErr = now
		s.e.metrics.errorSent(tickwirev1.ErrorCode_ERROR_CODE_RATE_LIMITED)
		s.send(&tickwirev1.ServerMessage{Kind: &tickwirev1.ServerMessage_Error{Error: &tickwirev1.Error{Code: tickwirev1.ErrorCode_ERROR_CODE_RATE_LIMITED, Message: "rate limit exceeded; frames dropped"}}})
	}
	return false
}

func (s *session) onHello(reqID uint32, h *tickwirev1.Hello) {
	if s.hello.Load() {
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_BAD_REQUEST, "duplicate Hello", true)
		return
	}
	if h.ProtocolVersion != tickwirev1.ProtocolVersion_PROTOCOL_VERSION_1 {
		s.closeWith(uint16(tickwirev1.CloseCode_CLOSE_CODE_UNSUPPORTED_VERSION), "unsupported protocol version")
		return
	}
	id := Identity{UserID: "u-" + randomToken(8), Name: h.Name}
	if s.relayed {
		id = s.identity // authenticated by the entry node
	} else if auth := s.e.cfg.Authenticate; auth != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.e.cfg.JoinTimeout)
		got, err := auth(ctx, s.req, h)
		cancel()
		if err != nil {
			s.e.log.Info("authentication refused", "session", s.id, "err", err)
			s.closeWith(uint16(tickwirev1.CloseCode_CLOSE_CODE_UNAUTHORIZED), "unauthorized")
			return
		}
		if got.Name == "" {
			got.Name = h.Name
		}
		id = got
	}
	s.req = nil // only the auth hook needed the upgrade request; don't keep its headers
	if len(id.Name) > 32 {
		id.Name = id.Name[:32]
	}
	s.identity = id
	s.hello.Store(true)
	s.send(&tickwirev1.ServerMessage{RequestId: reqID, Kind: &tickwirev1.ServerMessage_Welcome{Welcome: &tickwirev1.Welcome{
		ProtocolVersion: tickwirev1.ProtocolVersion_PROTOCOL_VERSION_1,
		SessionId:       s.id,
		ServerTimeMs:    float64(time.Now().UnixNano()) / 1e6,
		NodeId:          s.e.cfg.NodeID,
		UserId:          id.UserID,
	}}})
}

func (s *session) current() (*roomrt.Room, uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.room, s.playerID
}

func (s *session) onInput(reqID uint32, in *tickwirev1.Input) {
	s.onInputFields(reqID, in.Seq, in.AckTick, in.Payload, []byte(in.RoomId))
}

func (s *session) onInputFields(reqID, seq, ack uint32, payload, roomID []byte) {
	r, pid := s.current()
	if r == nil {
		s.notInRoom(reqID, "input while not in a room")
		return
	}
	if len(roomID) != 0 && string(roomID) != r.ID() {
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_WRONG_ROOM, "input for a room this connection is not in", true)
		return
	}
	if err := r.PostInput(pid, seq, ack, payload); err != nil {
		s.roomPostFailed(reqID, err)
	}
}

func (s *session) onRoomMessage(reqID uint32, m *tickwirev1.RoomMessage) {
	r, pid := s.current()
	if r == nil {
		s.notInRoom(reqID, "message while not in a room")
		return
	}
	if m.RoomId != "" && m.RoomId != r.ID() {
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_WRONG_ROOM, "message for a room this connection is not in", true)
		return
	}
	if err := r.PostMessage(pid, m.TypeName, m.Payload); err != nil {
		s.roomPostFailed(reqID, err)
	}
}

// notInRoom answers an input or message for no room. One that follows the
// session's last room (it was in flight when the Left went out) is dropped
// and counted, not an offense; any other is an offense.
func (s *session) notInRoom(reqID uint32, msg string) {
	s.mu.Lock()
	after := s.removedRoom != ""
	s.mu.Unlock()
	if after {
		s.e.metrics.InputDropped("", "after_left")
		return
	}
	s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_NOT_IN_ROOM, msg, true)
}

func (s *session) roomPostFailed(reqID uint32, err error) {
	if errors.Is(err, roomrt.ErrMailboxFull) {
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_ROOM_BUSY, "room is busy; input dropped", false)
		return
	}
	// The room closed between the lookup and the post; Removed follows.
}

// onPing answers a Ping. arrival is when it arrived on the socket (Unix
// nanoseconds); 0 means unknown, and the Pong then has no hold_ms.
func (s *session) onPing(reqID uint32, p *tickwirev1.Ping, arrival int64) {
	r, pid := s.current()
	var tick uint32
	if r != nil {
		tick = r.Tick()
		if p.RttMs > 0 || p.InterpDelayMs > 0 {
			r.ReportLatency(pid, msDuration(p.RttMs), msDuration(p.InterpDelayMs))
		}
	}
	now := time.Now().UnixNano()
	pong := &tickwirev1.Pong{
		ClientTimeMs: p.ClientTimeMs,
		ServerTimeMs: float64(now) / 1e6,
		Tick:         tick,
	}
	if arrival != 0 {
		hold := float64(max(0, now-arrival)) / 1e6
		pong.HoldMs = &hold
	}
	s.send(&tickwirev1.ServerMessage{RequestId: reqID, Kind: &tickwirev1.ServerMessage_Pong{Pong: pong}})
}

func msDuration(ms float32) time.Duration {
	if ms < 0 || ms > 60_000 {
		return 0
	}
	return time.Duration(float64(ms) * float64(time.Millisecond))
}

func (s *session) onLeave(reqID uint32) {
	s.mu.Lock()
	r, pid := s.room, s.playerID
	if r != nil {
		s.leaveReq = reqID
	}
	s.mu.Unlock()
	if r == nil {
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_NOT_IN_ROOM, "leave while not in a room", true)
		return
	}
	r.Leave(pid, roomrt.LeaveLeft)
}

func (s *session) onJoin(reqID uint32, j *tickwirev1.Join) {
	if r, _ := s.current(); r != nil {
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_ALREADY_IN_ROOM, "already in room "+r.ID()+"; leave first", false)
		return
	}
	start := time.Now()
	code, msg, mayCreate, ok := s.joinLimits(j, start)
	if !ok {
		s.fail(reqID, code, msg, code == tickwirev1.ErrorCode_ERROR_CODE_BAD_REQUEST)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.e.cfg.JoinTimeout)
	defer cancel()
	req := roomrt.JoinRequest{
		UserID: s.identity.UserID, Name: s.identity.Name, SessionID: s.id,
		Conn: s, Options: j.Options, RequestID: reqID,
	}
	// A new room starts from a full state: no baseline carries over.
	s.resetBaseline(false)
	if j.ResumeToken != "" {
		s.onResume(ctx, reqID, j, start)
		return
	}
	if j.Reservation != "" {
		s.joinReservation(ctx, reqID, j)
		return
	}
	if s.e.cl.shared {
		s.joinClustered(ctx, reqID, j, start)
		return
	}
	r, res, err := s.e.join(ctx, j, req)
	if err != nil {
		code, msg, offense := joinErrorCode(err)
		s.fail(reqID, code, msg, offense)
		return
	}
	if mayCreate && createdSince(r, start) {
		s.roomCreated(start)
	}
	s.joined(r, res, start)
}

// joined records a successful join.
func (s *session) joined(r *roomrt.Room, res roomrt.JoinResult, start time.Time) {
	s.mu.Lock()
	if s.removedRoom != r.ID() || s.removedPID != res.PlayerID {
		s.room, s.playerID = r, res.PlayerID
	}
	closing := s.drainNewsLocked()
	s.mu.Unlock()
	s.sendRoomClosing(closing)
	s.e.metrics.joinLatency.observe(time.Since(start).Seconds())
}

func joinErrorCode(err error) (tickwirev1.ErrorCode, string, bool) {
	var rej *roomrt.RejectError
	switch {
	case errors.As(err, &rej):
		return tickwirev1.ErrorCode_ERROR_CODE_JOIN_REJECTED, rej.Reason, false
	case errors.Is(err, errBadJoin):
		return tickwirev1.ErrorCode_ERROR_CODE_BAD_REQUEST, err.Error(), true
	case errors.Is(err, roomrt.ErrUnknownType):
		return tickwirev1.ErrorCode_ERROR_CODE_UNKNOWN_ROOM_TYPE, err.Error(), true
	case errors.Is(err, roomrt.ErrNotFound), errors.Is(err, roomrt.ErrClosed):
		return tickwirev1.ErrorCode_ERROR_CODE_ROOM_NOT_FOUND, "room not found", true
	case errors.Is(err, roomrt.ErrFull):
		return tickwirev1.ErrorCode_ERROR_CODE_ROOM_FULL, "room is full", false
	case errors.Is(err, roomrt.ErrLocked):
		return tickwirev1.ErrorCode_ERROR_CODE_ROOM_LOCKED, "room is locked", false
	case errors.Is(err, roomrt.ErrDraining):
		return tickwirev1.ErrorCode_ERROR_CODE_DRAINING, "node is draining; try another node", false
	case errors.Is(err, context.DeadlineExceeded):
		return tickwirev1.ErrorCode_ERROR_CODE_ROOM_BUSY, "join timed out", false
	}
	return tickwirev1.ErrorCode_ERROR_CODE_INTERNAL, "join failed", false
}

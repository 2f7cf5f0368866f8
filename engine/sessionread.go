package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/lxzan/gws"
	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/internal/roomrt"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/proto/wire"
)

// Reading a connection.
//
// gws does the upgrade handshake and the writes; the engine reads client
// frames itself (wsParser), because who reads changes with the client's
// place:
//
//   - In no room (handshake, lobby, waiting for a match) the engine's lobby
//     reader (lobby_linux.go) reads the socket: one goroutine for all such
//     connections, woken by epoll when one is readable, reads it without
//     blocking and handles the frames whose handlers never block (control
//     pings and pongs, Pings, Acks, and the errors answering inputs or room
//     messages sent outside a room). An idle connection so costs no
//     goroutine and no read buffer. On other platforms, and for TLS
//     connections, a read goroutine does this.
//   - A read goroutine (readLoop) handles what may block (the auth hook on
//     Hello, joins, Leave, matchmaking, Redis, close) and reads relayed
//     sessions. It blocks on the socket only when nobody else can read it;
//     once the socket is empty it hands reading to the session's room or to
//     the lobby reader (handOff) and ends.
//   - In a room the room goroutine reads the socket itself at the start of
//     every tick, without blocking (Poll, through roomrt.Poller), as it already
//     writes state frames (rawWriter). A player in a room so costs no
//     goroutine, no stack and no wake-up per input: one recvmsg(2) per tick
//     instead of a netpoll wake-up, a read, a read that would block, a park
//     and a reschedule per frame. Inputs are only used at the next tick
//     anyway. The socket's receive low-water mark is raised meanwhile
//     (SO_RCVLOWAT), so new data does not wake the netpoller either. A big
//     room (room.Config.ParallelIOPlayers) spreads these Polls over its
//     goroutine and the registry's helper goroutines: each session is
//     still polled by one goroutine at a time, and the tick waits for all.
//
// Frames that need a blocking handler (Join, Leave, matchmaking, close,
// anything unexpected) hand reading back from the room or the lobby to a
// new read goroutine, which handles that frame first (s.pending); so does
// the end of the stream.
//
// Exactly one of them owns the reader fields (marked "reader only" on session)
// at any time, so frames are handled once each and in order across the
// moves. Ownership moves under session.mu and the lobby reader's mutex: the
// read goroutine hands reading to the room (pollRoom set) only while the
// session is in that room, else to the lobby (lobbyKey set); the room
// goroutine hands it back (pollRoom cleared, new read goroutine) from Poll
// or when the player leaves the room (Removed), the lobby goroutine from
// its reads or when the engine closed the socket (socketClosed).
//
// Pings. A frame read on the tick has waited up to one tick in the socket.
// Pong therefore carries hold_ms, the time from the Ping's arrival (the
// kernel's receive timestamp, SO_TIMESTAMPNS) to the Pong, and clients take
// it off the round trip. The timestamp of a read is that of its last data,
// so the hold is exact only when the Ping is the last frame of the read;
// otherwise hold_ms is left out and clients skip that sample.

// readChunk is how much a read asks for: client frames are small (an input
// is ~30 bytes); bigger ones are assembled over several reads.
const readChunk = 1024

// pendingFrame is a frame the room goroutine read but left to the read
// goroutine (its handler may block).
type pendingFrame struct {
	op   gws.Opcode
	data []byte
}

// readBufs lends read buffers for the duration of one read.
type readBufs struct{ pool sync.Pool }

func (b *readBufs) get() *[]byte {
	if p, ok := b.pool.Get().(*[]byte); ok {
		return p
	}
	buf := make([]byte, 0, readChunk)
	return &buf
}

func (b *readBufs) put(p *[]byte) { b.pool.Put(p) }

// readSpace returns the bytes carried over from the last read (at the start
// of the returned slice) and room after them for the next read: the carried
// bytes' own buffer, grown, when there are any, else the lent buffer.
func (s *session) readSpace(lent *[]byte) (data, space []byte) {
	if len(s.rest) > 0 {
		s.rest = slices.Grow(s.rest, readChunk)
		return s.rest, s.rest[len(s.rest):cap(s.rest)]
	}
	buf := (*lent)[:0]
	return buf, buf[:cap(buf)]
}

// keepRest keeps data[off:] (a frame not complete yet) for the next read.
func (s *session) keepRest(data []byte, off int) {
	tail := data[off:]
	switch {
	case len(tail) == 0:
		if cap(s.rest) > 4*readChunk {
			s.rest = nil // a big message passed; don't keep its buffer
		} else {
			s.rest = s.rest[:0]
		}
	default:
		// tail may lie in s.rest's own array, past its length (readSpace
		// reads into its spare capacity): append moves it to the front.
		s.rest = append(s.rest[:0], tail...)
	}
}

// readLoop is the connection's read goroutine. It handles a frame the room
// goroutine left to it and the complete frames carried over, then reads
// until the stream ends (then cleans the session up) or the session is in a
// room that reads it on the tick (then it returns).
func (s *session) readLoop() {
	defer s.recoverReader(nil)
	if p := s.pending; p != nil {
		s.pending = nil
		now := time.Now()
		s.handleAt(p.op, p.data, now, 0)
	}
	if len(s.rest) > 0 && !s.readBroken {
		now := time.Now()
		off, _ := s.consume(s.rest, now, false, 0, false)
		s.keepRest(s.rest, off)
	}
	if s.handOff() {
		return
	}
	conn := s.ws.NetConn()
	lent := s.e.readBufs.get()
	defer s.e.readBufs.put(lent)
	for {
		if s.peerClosed && s.closeSent.Load() > 0 {
			// Both close frames are through: the server closes the TCP
			// connection first (RFC 6455, 7.1.1).
			s.ended(nil)
			return
		}
		data, space := s.readSpace(lent)
		var n int
		var arrival int64
		var err error
		if s.rr != nil {
			// With the receive timestamp: data may have waited in the
			// socket while this goroutine was busy (a join, the auth hook)
			// or before it started (a hand-back).
			n, arrival, err = s.rr.readWait(space)
			if n == 0 && err == nil {
				err = io.EOF
			}
		} else {
			n, err = conn.Read(space)
			arrival = time.Now().UnixNano()
		}
		if n > 0 && !s.readBroken {
			data = data[:len(data)+n]
			off, _ := s.consume(data, time.Now(), false, arrival, n < len(space))
			s.keepRest(data, off)
		}
		if err != nil && n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			// Woken (wakeReader): the session may have left its room.
			_ = conn.SetReadDeadline(time.Time{})
			err = nil
		}
		if err != nil {
			s.ended(err)
			return
		}
		if s.handOff() {
			return
		}
	}
}

// wakeReader makes a read goroutine blocked on the socket return and try
// handOff again: the session left its room (Removed) while that goroutine
// read it (a Leave it handled), and the lobby reader can take over. No
// read of the client's socket has a deadline otherwise.
func (s *session) wakeReader() {
	if s.e.lobby.Load() != nil && s.rr != nil {
		_ = s.ws.NetConn().SetReadDeadline(time.Now())
	}
}

// readPanicked logs and counts a panic on the read path and aborts the
// connection; the caller hands reading on so the session is cleaned up.
func (s *session) readPanicked(v any) {
	s.e.log.Error("panic while reading a connection; closing it", "session", s.id, "panic", v, "stack", string(debug.Stack()))
	s.e.metrics.errorSent(tickwirev1.ErrorCode_ERROR_CODE_INTERNAL)
	s.readBroken = true
	s.abort()
}

// recoverReader turns a panic on the connection's read path (the auth hook
// is user code) into a closed connection instead of a crashed node. r is
// the room reading on the tick, nil on the read goroutine.
func (s *session) recoverReader(r *roomrt.Room) {
	v := recover()
	if v == nil {
		return
	}
	s.readPanicked(v)
	if r != nil {
		s.handBack(r) // the read goroutine sees the closed socket and cleans up
		return
	}
	s.ended(fmt.Errorf("engine: panic while reading: %v", v))
}

// handOff gives reading to the room the session is in, if it reads on the
// tick, or to the engine's lobby reader when the session is in no room.
// The read goroutine calls it between reads; true means it must return
// without touching the reader fields again.
func (s *session) handOff() bool {
	if s.rr == nil || s.readBroken || s.pending != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leaveReq != 0 || s.up.Load() != nil {
		return false
	}
	if s.room == nil {
		l := s.e.lobby.Load()
		return l != nil && l.add(s)
	}
	s.rr.setPolled(true)
	s.pollRoom.Store(s.room)
	s.e.metrics.readOnTick.Add(1)
	return true
}

// socketClosed tells the lobby reader that the engine closed the socket
// (a closed socket wakes no epoll instance); call it after every close
// that is not the reader's own.
func (s *session) socketClosed() {
	if l := s.e.lobby.Load(); l != nil {
		l.socketClosed(s)
	}
}

// handBack gives reading back to a new read goroutine. The room r calls
// it from Poll (on its goroutine or a helper's).
func (s *session) handBack(r *roomrt.Room) {
	s.mu.Lock()
	own := s.pollRoom.Load() == r && s.stopPollingLocked()
	s.mu.Unlock()
	if own {
		go s.readLoop()
	}
}

// stopPollingLocked ends reading on the tick, if it was on, and reports
// whether it was: the caller (the polling room's goroutine) then starts a
// read goroutine. Call with mu held.
func (s *session) stopPollingLocked() bool {
	if s.pollRoom.Load() == nil {
		return false
	}
	s.pollRoom.Store(nil)
	s.e.metrics.readOnTick.Add(-1)
	s.rr.setPolled(false) // the read goroutine waits for any data
	return true
}

// Poll implements roomrt.Poller: the room r reads the client's frames once
// per tick without blocking, on its goroutine or (a big room) a helper's.
// It does nothing unless r is the room reading the connection (a room the
// session left late, after a join timed out, may still poll it once).
func (s *session) Poll(r *roomrt.Room) {
	if s.pollRoom.Load() != r {
		return
	}
	defer s.recoverReader(r)
	lent := s.e.readBufs.get()
	back := s.pollSocket(lent)
	s.e.readBufs.put(lent)
	if back {
		s.handBack(r)
	}
}

// pollSocket reads what the socket holds without blocking and handles the
// frames the room goroutine or the lobby reader may handle (pollable). It
// reports whether reading must go to a read goroutine: a frame left in
// s.pending, a protocol error or close (readBroken), the end of the stream
// or a socket error (the read goroutine sees it again and cleans up, which
// may block).
//
// Usually one read takes all a client sent. A client that sent more (a big
// message, a low tick rate) is read until the socket is empty, up to
// pollReads reads a call, so its backlog cannot grow.
func (s *session) pollSocket(lent *[]byte) (back bool) {
	for range pollReads {
		data, space := s.readSpace(lent)
		n, arrival, err := s.rr.read(space)
		if errors.Is(err, errWouldBlock) {
			return false
		}
		if err != nil || n == 0 {
			s.readBroken = true
			return true
		}
		data = data[:len(data)+n]
		drained := n < len(space)
		off, back := s.consume(data, time.Now(), true, arrival, drained)
		s.keepRest(data, off)
		if back || s.readBroken {
			return true
		}
		if drained {
			return false
		}
	}
	return false
}

// pollReads bounds the reads of one connection in one tick, or in one
// wake-up of the lobby reader (of readChunk bytes or more each).
const pollReads = 16

// consume cuts the complete frames out of data and handles them. On the
// room goroutine (polled) it stops at the first frame that needs the read
// goroutine, keeps it in s.pending and reports handBack. arrival is when
// the last of data arrived (Unix nanoseconds, 0 unknown); drained says the
// read emptied the socket: only a message that ends data then gets arrival
// as its own (Pong.hold_ms). It returns how many bytes it used.
func (s *session) consume(data []byte, now time.Time, polled bool, arrival int64, drained bool) (off int, handBack bool) {
	for off < len(data) {
		n, op, payload, msg, err := s.parser.next(data[off:])
		if err != nil {
			var ce *wsCloseError
			if !errors.As(err, &ce) {
				ce = &wsCloseError{closeProtocol, err.Error()}
			}
			s.e.metrics.protocolErrors.Add(1)
			s.readBroken = true
			s.closeWith(ce.code, ce.reason)
			return len(data), false
		}
		if n == 0 {
			break
		}
		off += n
		if s.closeSent.Load() != 0 && !(msg && op == gws.OpcodeCloseConnection) {
			// The node is closing the connection: only the client's close
			// matters now. What it sends first is bounded by count too
			// (closeDropMax), not only by Config.CloseTimeout.
			if s.closeDropped += int32(n); int(s.closeDropped) > s.closeDropMax() {
				s.readBroken = true
				s.cutClose()
				return len(data), false
			}
			continue
		}
		// Every frame counts against the rate, before anything decodes it.
		// A close frame always passes: it ends the connection anyway.
		if !(msg && op == gws.OpcodeCloseConnection) && !s.allowFrame(now) {
			if s.readBroken {
				return len(data), false
			}
			if msg && op == gws.OpcodeBinary {
				s.answerDropped(payload) // a request still gets its reply: droppedreply.go
			}
			continue // dropped (a refused final fragment drops its message)
		}
		if !msg {
			continue
		}
		at := arrival
		if off != len(data) || !drained {
			// Later data arrived after this frame; the read's timestamp is
			// theirs.
			at = 0
		}
		if polled {
			if !s.pollable(op, payload) {
				s.pending = &pendingFrame{op: op, data: bytes.Clone(payload)}
				return off, true
			}
			s.handleAt(op, payload, now, at)
			continue
		}
		s.handleAt(op, payload, now, at)
		if s.readBroken {
			return len(data), false
		}
	}
	return off, false
}

// pollable says whether the room goroutine may handle a frame itself: the
// handlers of control pings and pongs, inputs, room messages, acks and
// Pings never block. It leaves a decoded envelope in s.in.
func (s *session) pollable(op gws.Opcode, payload []byte) bool {
	switch op {
	case gws.OpcodePing, gws.OpcodePong:
		return true
	case gws.OpcodeBinary:
	default:
		return false // text and close frames: the read goroutine closes
	}
	if !s.hello.Load() || s.up.Load() != nil {
		return false
	}
	if in, ok := wire.DecodeInput(payload); ok {
		s.inFast, s.inFastOK = in, true // handleMessage uses it as is
		return true
	}
	s.in.Reset()
	if proto.Unmarshal(payload, &s.in) != nil {
		return true // answered with an error frame
	}
	s.inDecoded = true // handleMessage uses s.in as is
	switch s.in.Kind.(type) {
	case *tickwirev1.ClientMessage_Input, *tickwirev1.ClientMessage_Ping,
		*tickwirev1.ClientMessage_Message, *tickwirev1.ClientMessage_Ack, nil:
		return true
	}
	return false
}

// handleAt handles one client frame (message or control frame) at now;
// arrival is when it arrived on the socket (Unix nanoseconds, 0 unknown).
func (s *session) handleAt(op gws.Opcode, data []byte, now time.Time, arrival int64) {
	switch op {
	case gws.OpcodePing:
		s.lastSeen.Store(now.UnixNano())
		s.enqueue(outFrame{op: gws.OpcodePong, data: bytes.Clone(data)})
		return
	case gws.OpcodePong:
		s.lastSeen.Store(now.UnixNano())
		s.probeAnswered(data)
		return
	case gws.OpcodeCloseConnection:
		// Answer and stop reading: the writer sends the answer, and the
		// client ends the stream once it has read it. When the node's own
		// close went first, the handshake is over and the read loop
		// closes.
		s.lastSeen.Store(now.UnixNano())
		s.readBroken, s.peerClosed = true, true
		code, malformed := closeReply(data)
		if malformed {
			s.e.metrics.protocolErrors.Add(1)
		}
		s.closeWith(code, "")
		return
	}
	s.handleMessage(op, data, now, arrival)
}

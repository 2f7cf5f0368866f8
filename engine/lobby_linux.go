//go:build linux && (amd64 || arm64)

package engine

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// lobbyReader reads every connection that is in no room (the handshake,
// the lobby, waiting for a match) from one goroutine: an epoll(7) instance
// of its own wakes it when any of them is readable, and it reads that
// socket without blocking, as a room does on the tick (session.pollSocket).
// A connection in the lobby so costs no goroutine and no stack.
//
// Frames whose handler may block (Hello with an auth hook, Join, Leave,
// matchmaking, close) and the end of the stream are handed to a new read
// goroutine, with the frame in session.pending, exactly as a room hands
// them back; that goroutine hands reading to the room it joined, or back
// to the lobby, once the socket is empty (session.handOff).
//
// Threading: add is called by the session's read goroutine (which owns
// the reader fields until add returns true, and never touches them after);
// socketClosed by whoever closed the session's socket; stop once, by the
// engine. Everything else runs on the lobby's goroutine, which owns the
// reader fields of the sessions registered with it.
type lobbyReader struct {
	e    *Engine
	epfd int
	wake int // eventfd: stop, and sockets the engine closed (key 0)
	done chan struct{}

	mu       sync.Mutex
	conns    map[uint64]*session // registered sessions by epoll key
	next     uint64              // last key given
	closed   []*session          // sockets closed while registered
	stopping bool
}

// lobbyEvents is how many readiness events one epoll_wait(2) returns.
const lobbyEvents = 256

// newLobbyReader starts the lobby reader; stop ends it.
func newLobbyReader(e *Engine) (*lobbyReader, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("engine: lobby reader: epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("engine: lobby reader: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wake)
		return nil, fmt.Errorf("engine: lobby reader: epoll_ctl: %w", err)
	}
	l := &lobbyReader{e: e, epfd: epfd, wake: wake, done: make(chan struct{}), conns: map[uint64]*session{}}
	go l.run()
	return l, nil
}

// add registers s, whose read goroutine calls it once the socket is empty
// and s is in no room: from then on the lobby reads s. It reports false
// (the read goroutine keeps reading) when the lobby is stopping or the
// socket is closed.
func (l *lobbyReader) add(s *session) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopping {
		return false
	}
	l.next++
	key := l.next
	// Level-triggered: a socket with data left (a read bounded by
	// pollReads) is reported again. Adding a socket that is readable
	// already reports it at once, so no data that came before is missed.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(key), Pad: int32(key >> 32)}
	var cerr error
	// Through Control: the fd is this connection's for the call (a socket
	// closed meanwhile fails here instead of naming another's fd).
	if err := s.rr.rc.Control(func(fd uintptr) { cerr = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev) }); err != nil || cerr != nil {
		return false
	}
	l.conns[key] = s
	s.lobbyKey = key
	if cap(s.rest) > 0 && len(s.rest) == 0 {
		s.rest = nil // an idle connection keeps no read buffer
	}
	l.e.metrics.readInLobby.Add(1)
	return true
}

// remove unregisters s; it reports whether s was registered (the caller
// then owns reading it). Call with l.mu held.
func (l *lobbyReader) removeLocked(s *session) bool {
	if s.lobbyKey == 0 || l.conns[s.lobbyKey] != s {
		return false
	}
	delete(l.conns, s.lobbyKey)
	s.lobbyKey = 0
	// A closed socket has left the epoll set by itself (and Control fails).
	_ = s.rr.rc.Control(func(fd uintptr) { _ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
	l.e.metrics.readInLobby.Add(-1)
	return true
}

// socketClosed tells the lobby that the engine closed s's socket. A closed
// socket leaves the epoll set without an event, so a registered session
// is handed to a read goroutine, which sees the end of the stream and
// cleans the session up.
func (l *lobbyReader) socketClosed(s *session) {
	l.mu.Lock()
	if s.lobbyKey == 0 || l.stopping {
		l.mu.Unlock()
		return
	}
	l.closed = append(l.closed, s)
	l.mu.Unlock()
	l.signal()
}

func (l *lobbyReader) signal() {
	var one = [8]byte{1}
	_, _ = unix.Write(l.wake, one[:])
}

// stop hands every registered session to a read goroutine and waits for
// the lobby's goroutine to end.
func (l *lobbyReader) stop() {
	l.mu.Lock()
	l.stopping = true
	l.mu.Unlock()
	l.signal()
	<-l.done
}

// run is the lobby's goroutine.
func (l *lobbyReader) run() {
	defer close(l.done)
	defer func() {
		_ = unix.Close(l.epfd)
		_ = unix.Close(l.wake)
	}()
	events := make([]unix.EpollEvent, lobbyEvents)
	for {
		n, err := unix.EpollWait(l.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			l.e.log.Error("lobby reader stopped; connections in no room get read goroutines", "err", err)
			l.releaseAll()
			return
		}
		for i := range events[:n] {
			key := uint64(uint32(events[i].Fd)) | uint64(uint32(events[i].Pad))<<32
			if key == 0 {
				if l.woken() {
					return
				}
				continue
			}
			l.mu.Lock()
			s := l.conns[key]
			l.mu.Unlock()
			if s != nil {
				l.read(s)
			}
		}
	}
}

// woken handles the eventfd: sockets closed by the engine, and stop. It
// reports whether the lobby stops.
func (l *lobbyReader) woken() bool {
	var b [8]byte
	_, _ = unix.Read(l.wake, b[:])
	l.mu.Lock()
	closed := l.closed
	l.closed = nil
	stopping := l.stopping
	l.mu.Unlock()
	for _, s := range closed {
		l.release(s)
	}
	if stopping {
		l.releaseAll()
		return true
	}
	return false
}

// releaseAll hands every registered session to a read goroutine.
func (l *lobbyReader) releaseAll() {
	l.mu.Lock()
	l.stopping = true
	list := make([]*session, 0, len(l.conns))
	for _, s := range l.conns {
		list = append(list, s)
	}
	l.mu.Unlock()
	for _, s := range list {
		l.release(s)
	}
}

// release hands s, if still registered, to a new read goroutine.
func (l *lobbyReader) release(s *session) {
	l.mu.Lock()
	own := l.removeLocked(s)
	l.mu.Unlock()
	if own {
		go s.readLoop()
	}
}

// read reads s's socket without blocking and handles its frames; a frame
// that needs a read goroutine, the end of the stream or an error hands s
// to one.
func (l *lobbyReader) read(s *session) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		s.readPanicked(v)
		l.release(s) // the read goroutine sees the closed socket and cleans up
	}()
	lent := l.e.readBufs.get()
	back := s.pollSocket(lent)
	l.e.readBufs.put(lent)
	if back {
		l.release(s)
	}
}

package cluster

import (
	"cmp"
	"container/heap"
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// Memory is the in-process [Backend]: the embedded default for a node that
// runs alone. Several logical nodes may share one Memory (tests). All methods
// are safe for concurrent use; one mutex guards the state, and no method
// blocks while holding it.
type Memory struct {
	cfg    Config
	signer *Signer

	mu     sync.Mutex
	closed bool
	nodes  map[string]*memNode
	rooms  map[string]*memRoom
	used   map[string]time.Time // reservation id -> when the mark may go
	queues map[string]*memQueue
	subs   map[string]map[chan []byte]struct{}
	kept   map[string]keptNotices // by ticket id (KeepNotices)
	// open indexes the public unlocked rooms with a free seat (counting
	// reservations), by type and by type plus one metadata pair
	// (join-or-create candidates).
	open map[string]*openIndex
	// recheck orders rooms by reservation expiry: when one passes, the
	// room is re-indexed, or removed if it is pending and nobody took it.
	recheck recheckHeap
	done    chan struct{} // closed by Close
}

type memNode struct {
	info    NodeInfo
	exp     time.Time
	suspect time.Time // no placements before this
	rooms   map[string]struct{}
	resv    *resvSet
}

type memRoom struct {
	rec  RoomRecord
	resv *resvSet
	// idx is where the room is filed in Memory.open (nil keys: not filed).
	idxKeys []string
	idxUsed int
	// sseq is the sequence number of the last SyncSeats applied; ops holds
	// the seat changes of the sequenced operations applied since, by
	// sequence number (+1, -1, or 0 for a release that found no seat).
	sseq uint64
	ops  map[uint64]int
}

// seatOp applies a seat change d (+1 or -1, floor 0) of the operation
// numbered seq to r and reports whether Seats changed. A sequenced
// operation not newer than the last sync, or seen before, changes nothing.
func (r *memRoom) seatOp(seq uint64, d int) bool {
	if seq != 0 {
		if seq <= r.sseq {
			return false
		}
		if _, dup := r.ops[seq]; dup {
			return false
		}
	}
	if d < 0 && r.rec.Seats == 0 {
		d = 0
	}
	r.rec.Seats += d
	if seq != 0 {
		if r.ops == nil {
			r.ops = map[uint64]int{}
		}
		r.ops[seq] = d
	}
	return d != 0
}

type keptNotices struct {
	ns  []Notice
	exp time.Time
}

type memQueue struct {
	tickets  map[string]Ticket
	holder   string
	leaseExp time.Time
	fence    int64
}

var _ Backend = (*Memory)(nil)

// NewMemory returns an in-memory backend. An empty cfg.Secret gets a random one.
func NewMemory(cfg Config) *Memory {
	cfg = cfg.withDefaults()
	if len(cfg.Secret) == 0 {
		cfg.Secret = make([]byte, 32)
		_, _ = rand.Read(cfg.Secret)
	}
	return &Memory{
		cfg:    cfg,
		signer: NewSigner(cfg.Secret, cfg.Now),
		nodes:  map[string]*memNode{},
		rooms:  map[string]*memRoom{},
		used:   map[string]time.Time{},
		queues: map[string]*memQueue{},
		subs:   map[string]map[chan []byte]struct{}{},
		kept:   map[string]keptNotices{},
		open:   map[string]*openIndex{},
		done:   make(chan struct{}),
	}
}

// lock takes the mutex, failing when closed, and sweeps expired state.
func (m *Memory) lock() (time.Time, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return time.Time{}, ErrClosed
	}
	now := m.cfg.Now()
	for id, n := range m.nodes {
		if !now.Before(n.exp) {
			m.dropNode(id)
		}
	}
	for len(m.recheck) > 0 && !now.Before(m.recheck[0].at) {
		e := heap.Pop(&m.recheck).(recheckEntry)
		r := m.rooms[e.room]
		if r == nil {
			continue
		}
		pruneTimes(r.resv, now)
		if r.rec.State == RoomPending && r.rec.Seats == 0 && len(r.resv.m) == 0 {
			m.removeRoom(r.rec.ID)
			continue
		}
		m.updateOpen(r, true)
	}
	return now, nil
}

func typeKey(typ string) string       { return typ }
func pairKey(typ, k, v string) string { return typ + "\x00" + k + "\x00" + v }

// updateOpen files r in the join-or-create index with its current use
// (or takes it out: present false, locked, private or full). Caller holds
// mu and pruned r's reservations.
func (m *Memory) updateOpen(r *memRoom, present bool) {
	for _, k := range r.idxKeys {
		m.open[k].remove(r)
		if m.open[k].n == 0 {
			delete(m.open, k)
		}
	}
	r.idxKeys = r.idxKeys[:0]
	rec := &r.rec
	used := rec.Seats + len(r.resv.m)
	if !present || rec.Locked || rec.Private || used >= rec.MaxSeats {
		return
	}
	r.idxUsed = used
	r.idxKeys = append(r.idxKeys, typeKey(rec.Type))
	for k, v := range rec.Metadata {
		r.idxKeys = append(r.idxKeys, pairKey(rec.Type, k, v))
	}
	for _, k := range r.idxKeys {
		o := m.open[k]
		if o == nil {
			o = &openIndex{byUsed: map[int]map[string]*memRoom{}}
			m.open[k] = o
		}
		o.add(r)
	}
}

// openIndex holds rooms by use (seats + reservations), so the fullest are
// found without looking at the others.
type openIndex struct {
	byUsed map[int]map[string]*memRoom
	top    int // no room has a larger use
	n      int
}

func (o *openIndex) add(r *memRoom) {
	b := o.byUsed[r.idxUsed]
	if b == nil {
		b = map[string]*memRoom{}
		o.byUsed[r.idxUsed] = b
	}
	b[r.rec.ID] = r
	o.top = max(o.top, r.idxUsed)
	o.n++
}

func (o *openIndex) remove(r *memRoom) {
	b := o.byUsed[r.idxUsed]
	if _, ok := b[r.rec.ID]; !ok {
		return
	}
	delete(b, r.rec.ID)
	if len(b) == 0 {
		delete(o.byUsed, r.idxUsed)
	}
	o.n--
	for o.top > 0 && o.byUsed[o.top] == nil {
		o.top--
	}
}

// recheckEntry asks for room to be looked at again at at.
type recheckEntry struct {
	at   time.Time
	room string
}

type recheckHeap []recheckEntry

func (h recheckHeap) Len() int           { return len(h) }
func (h recheckHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h recheckHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *recheckHeap) Push(x any)        { *h = append(*h, x.(recheckEntry)) }
func (h *recheckHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func (m *Memory) dropNode(id string) {
	n := m.nodes[id]
	if n == nil {
		return
	}
	for id := range n.rooms {
		if r := m.rooms[id]; r != nil {
			m.updateOpen(r, false)
		}
		delete(m.rooms, id)
	}
	delete(m.nodes, id)
}

// resvSet holds reservation expiries; next is a lower bound of the
// earliest expiry, so pruning is O(1) until something may have expired.
type resvSet struct {
	m    map[string]time.Time
	next time.Time
}

func newResvSet() *resvSet { return &resvSet{m: map[string]time.Time{}} }

func (s *resvSet) add(id string, exp time.Time) {
	if len(s.m) == 0 || exp.Before(s.next) {
		s.next = exp
	}
	s.m[id] = exp
}

func pruneTimes(s *resvSet, now time.Time) {
	if len(s.m) == 0 || now.Before(s.next) {
		return
	}
	var next time.Time
	for k, exp := range s.m {
		if !now.Before(exp) {
			delete(s.m, k)
		} else if next.IsZero() || exp.Before(next) {
			next = exp
		}
	}
	s.next = next
}

func (m *Memory) roomView(r *memRoom, now time.Time) RoomRecord {
	pruneTimes(r.resv, now)
	rec := r.rec
	rec.Metadata = maps.Clone(r.rec.Metadata)
	rec.Reserved = len(r.resv.m)
	if n := m.nodes[rec.NodeID]; n != nil {
		rec.NodeAddress = n.info.Address
	}
	return rec
}

func (m *Memory) nodeView(n *memNode, now time.Time) NodeInfo {
	pruneTimes(n.resv, now)
	info := n.info
	info.Reserved = len(n.resv.m)
	return info
}

// Heartbeat implements [Registry].
func (m *Memory) Heartbeat(_ context.Context, n NodeInfo) (bool, error) {
	if n.ID == "" {
		return false, fmt.Errorf("%w: node id", ErrInvalidArgument)
	}
	now, err := m.lock()
	if err != nil {
		return false, err
	}
	defer m.mu.Unlock()
	for k, exp := range m.used {
		if !now.Before(exp) {
			delete(m.used, k)
		}
	}
	n.UpdatedAt = now
	n.Reserved = 0
	cur := m.nodes[n.ID]
	created := cur == nil
	if created {
		cur = &memNode{rooms: map[string]struct{}{}, resv: newResvSet()}
		m.nodes[n.ID] = cur
	}
	cur.info = n
	cur.exp = now.Add(m.cfg.NodeTTL)
	return created, nil
}

// Deregister implements [Registry].
func (m *Memory) Deregister(_ context.Context, nodeID string) error {
	if _, err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.dropNode(nodeID)
	return nil
}

// Nodes implements [Registry].
func (m *Memory) Nodes(context.Context) ([]NodeInfo, error) {
	now, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	out := make([]NodeInfo, 0, len(m.nodes))
	for _, n := range m.nodes {
		out = append(out, m.nodeView(n, now))
	}
	slices.SortFunc(out, func(a, b NodeInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// PutRoom implements [Directory].
func (m *Memory) PutRoom(_ context.Context, rec RoomRecord) error {
	if rec.ID == "" || rec.Type == "" || rec.NodeID == "" || rec.MaxSeats <= 0 {
		return fmt.Errorf("%w: room needs id, type, node and max seats", ErrInvalidArgument)
	}
	if _, err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	n := m.nodes[rec.NodeID]
	if n == nil {
		return fmt.Errorf("put room %q: %w", rec.ID, ErrNodeNotFound)
	}
	if rec.State == "" {
		rec.State = RoomRunning
	}
	rec.Metadata = maps.Clone(rec.Metadata)
	rec.Reserved, rec.NodeAddress = 0, ""
	r := m.rooms[rec.ID]
	if r != nil && r.rec.NodeID != rec.NodeID {
		// Moved: reservations belong to the old owner.
		m.removeRoom(rec.ID)
		r = nil
	}
	if r == nil {
		r = &memRoom{rec: rec, resv: newResvSet()}
		m.rooms[rec.ID] = r
		n.rooms[rec.ID] = struct{}{}
		m.updateOpen(r, true)
		return nil
	}
	m.updateOpen(r, false) // the type may change
	rec.Seats = r.rec.Seats
	r.rec = rec
	m.updateOpen(r, true)
	return nil
}

func (m *Memory) removeRoom(id string) {
	r := m.rooms[id]
	if r == nil {
		return
	}
	if n := m.nodes[r.rec.NodeID]; n != nil {
		delete(n.rooms, id)
		for k := range r.resv.m {
			delete(n.resv.m, k)
		}
	}
	m.updateOpen(r, false)
	delete(m.rooms, id)
}

// RemoveRoom implements [Directory].
func (m *Memory) RemoveRoom(_ context.Context, roomID string) error {
	if _, err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.removeRoom(roomID)
	return nil
}

// LookupRoom implements [Directory].
func (m *Memory) LookupRoom(_ context.Context, roomID string) (RoomRecord, error) {
	now, err := m.lock()
	if err != nil {
		return RoomRecord{}, err
	}
	defer m.mu.Unlock()
	r := m.rooms[roomID]
	if r == nil {
		return RoomRecord{}, fmt.Errorf("room %q: %w", roomID, ErrRoomNotFound)
	}
	return m.roomView(r, now), nil
}

// ListRooms implements [Directory].
func (m *Memory) ListRooms(_ context.Context, roomType string) ([]RoomRecord, error) {
	now, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []RoomRecord
	for _, r := range m.rooms {
		if roomType == "" || r.rec.Type == roomType {
			out = append(out, m.roomView(r, now))
		}
	}
	slices.SortFunc(out, func(a, b RoomRecord) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// ReleaseSeat implements [Directory].
func (m *Memory) ReleaseSeat(_ context.Context, roomID string, seq uint64) error {
	now, err := m.lock()
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	r := m.rooms[roomID]
	if r == nil {
		return fmt.Errorf("room %q: %w", roomID, ErrRoomNotFound)
	}
	if !r.seatOp(seq, -1) {
		return nil
	}
	if n := m.nodes[r.rec.NodeID]; n != nil && n.info.Players > 0 {
		n.info.Players--
	}
	pruneTimes(r.resv, now)
	if r.rec.State == RoomPending && r.rec.Seats == 0 && len(r.resv.m) == 0 {
		// Placed, never materialised, and its only player is gone.
		m.removeRoom(roomID)
		return nil
	}
	m.updateOpen(r, true)
	return nil
}

// SyncSeats implements [Directory].
func (m *Memory) SyncSeats(_ context.Context, nodeID string, seq uint64, rooms []RoomSeats) error {
	if nodeID == "" || seq == 0 {
		return fmt.Errorf("%w: seat sync needs node id and sequence number", ErrInvalidArgument)
	}
	now, err := m.lock()
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	for _, rs := range rooms {
		r := m.rooms[rs.ID]
		if r == nil || r.rec.NodeID != nodeID || seq <= r.sseq {
			continue
		}
		seats := rs.Seats
		for s, d := range r.ops {
			if s > seq {
				seats += d
			} else {
				delete(r.ops, s)
			}
		}
		r.sseq = seq
		if seats = max(seats, 0); seats != r.rec.Seats {
			r.rec.Seats = seats
			pruneTimes(r.resv, now)
			m.updateOpen(r, true)
		}
	}
	return nil
}

func (m *Memory) nodeHasRoom(n *memNode, now time.Time, seats int) bool {
	pruneTimes(n.resv, now)
	return n.info.Capacity <= 0 || n.info.Players+len(n.resv.m)+seats <= n.info.Capacity
}

// place picks the least-loaded live non-draining node with room for seats
// more players and creates a pending room on it. Caller holds mu.
func (m *Memory) place(now time.Time, roomType string, maxSeats int, meta map[string]string, seats int) (*memRoom, error) {
	var best *memNode
	var bestLoad float64
	for _, n := range m.nodes {
		if n.info.Draining || now.Before(n.suspect) || !m.nodeHasRoom(n, now, seats) {
			continue
		}
		l := loadOf(n.info.Players, len(n.resv.m), n.info.Capacity)
		if best == nil || l < bestLoad || (l == bestLoad && n.info.ID < best.info.ID) {
			best, bestLoad = n, l
		}
	}
	if best == nil {
		if len(m.nodes) == 0 {
			return nil, fmt.Errorf("%w: no live node registered", ErrUnavailable)
		}
		return nil, ErrNoCapacity
	}
	rec := RoomRecord{ID: newID(), Type: roomType, NodeID: best.info.ID, MaxSeats: maxSeats,
		State: RoomPending, Metadata: maps.Clone(meta)}
	r := &memRoom{rec: rec, resv: newResvSet()}
	m.rooms[rec.ID] = r
	best.rooms[rec.ID] = struct{}{}
	return r, nil
}

// reserve adds a reservation to r. Caller holds mu and checked the seat.
func (m *Memory) reserve(r *memRoom, now time.Time, userID string, created bool) Reservation {
	n := m.nodes[r.rec.NodeID]
	c := Claims{ReservationID: newID(), RoomID: r.rec.ID, RoomType: r.rec.Type, NodeID: r.rec.NodeID,
		UserID: userID, ExpiresAt: now.Add(m.cfg.ReservationTTL).Truncate(time.Millisecond)}
	r.resv.add(c.ReservationID, c.ExpiresAt)
	n.resv.add(c.ReservationID, c.ExpiresAt)
	heap.Push(&m.recheck, recheckEntry{at: c.ExpiresAt, room: r.rec.ID})
	m.updateOpen(r, true)
	return Reservation{Claims: c, Token: m.signer.Sign(c), NodeAddress: n.info.Address, Created: created}
}

// JoinOrCreate implements [Seats].
func (m *Memory) JoinOrCreate(_ context.Context, req JoinRequest) (Reservation, error) {
	if err := validJoin(req); err != nil {
		return Reservation{}, err
	}
	now, err := m.lock()
	if err != nil {
		return Reservation{}, err
	}
	defer m.mu.Unlock()
	best := m.findOpen(now, req)
	created := false
	if best == nil {
		if best, err = m.place(now, req.RoomType, req.MaxSeats, mergeMeta(req.Metadata, req.Filter), 1); err != nil {
			return Reservation{}, fmt.Errorf("join or create %q: %w", req.RoomType, err)
		}
		created = true
	}
	return m.reserve(best, now, req.UserID, created), nil
}

// findOpen returns the fullest joinable room for req (ties in any order),
// examining at most joinScanLimit candidates from the smallest index that
// covers the request. Caller holds mu.
func (m *Memory) findOpen(now time.Time, req JoinRequest) *memRoom {
	key := typeKey(req.RoomType)
	if len(req.Filter) > 0 {
		k := slices.Min(slices.Collect(maps.Keys(req.Filter)))
		key = pairKey(req.RoomType, k, req.Filter[k])
	}
	o := m.open[key]
	if o == nil {
		return nil
	}
	var best *memRoom
	bestUsed, scanned := -1, 0
	var stale []*memRoom
	defer func() {
		for _, r := range stale {
			m.updateOpen(r, true)
		}
	}()
	for u := o.top; u >= 0 && u > bestUsed && scanned < joinScanLimit; u-- {
		for _, r := range o.byUsed[u] {
			if scanned++; scanned > joinScanLimit {
				break
			}
			rec := &r.rec
			n := m.nodes[rec.NodeID]
			if n == nil || n.info.Draining || now.Before(n.suspect) || !m.nodeHasRoom(n, now, 1) {
				continue
			}
			pruneTimes(r.resv, now)
			used := rec.Seats + len(r.resv.m)
			if used != r.idxUsed {
				stale = append(stale, r)
			}
			if used >= rec.MaxSeats || used <= bestUsed || !metaMatches(rec.Metadata, req.Filter) {
				continue
			}
			best, bestUsed = r, used
			if used == u {
				break
			}
		}
	}
	return best
}

func metaMatches(meta, filter map[string]string) bool {
	for k, v := range filter {
		if mv, ok := meta[k]; !ok || mv != v {
			return false
		}
	}
	return true
}

// Reserve implements [Seats].
func (m *Memory) Reserve(_ context.Context, roomID, userID string) (Reservation, error) {
	if roomID == "" || userID == "" {
		return Reservation{}, fmt.Errorf("%w: room id and user id", ErrInvalidArgument)
	}
	now, err := m.lock()
	if err != nil {
		return Reservation{}, err
	}
	defer m.mu.Unlock()
	r := m.rooms[roomID]
	if r == nil {
		return Reservation{}, fmt.Errorf("room %q: %w", roomID, ErrRoomNotFound)
	}
	pruneTimes(r.resv, now)
	if r.rec.Locked || r.rec.Seats+len(r.resv.m) >= r.rec.MaxSeats {
		return Reservation{}, fmt.Errorf("room %q: %w", roomID, ErrRoomFull)
	}
	return m.reserve(r, now, userID, false), nil
}

// SuspectNode implements [Registry].
func (m *Memory) SuspectNode(_ context.Context, nodeID string, d time.Duration) error {
	if nodeID == "" || d <= 0 {
		return fmt.Errorf("%w: suspect needs node id and duration", ErrInvalidArgument)
	}
	now, err := m.lock()
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	if n := m.nodes[nodeID]; n != nil {
		n.suspect = now.Add(d)
	}
	return nil
}

// Verify implements [Seats].
func (m *Memory) Verify(token string) (Claims, error) { return m.signer.Verify(token) }

// Consume implements [Seats].
func (m *Memory) Consume(_ context.Context, c Claims, seq uint64) error {
	now, err := m.lock()
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.used[c.ReservationID]; ok {
		return fmt.Errorf("reservation %s: %w", c.ReservationID, ErrTokenUsed)
	}
	r := m.rooms[c.RoomID]
	if r == nil || r.rec.NodeID != c.NodeID {
		return fmt.Errorf("reservation %s room %q: %w", c.ReservationID, c.RoomID, ErrRoomNotFound)
	}
	exp, ok := r.resv.m[c.ReservationID]
	if !ok || !now.Before(exp) {
		delete(r.resv.m, c.ReservationID)
		return fmt.Errorf("reservation %s: %w", c.ReservationID, ErrTokenExpired)
	}
	delete(r.resv.m, c.ReservationID)
	n := m.nodes[c.NodeID]
	delete(n.resv.m, c.ReservationID)
	if r.seatOp(seq, 1) {
		n.info.Players++
	}
	m.updateOpen(r, true)
	m.used[c.ReservationID] = exp.Add(time.Minute)
	return nil
}

// Publish implements [Bus].
func (m *Memory) Publish(_ context.Context, nodeID string, payload []byte) error {
	if _, err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	for ch := range m.subs[nodeID] {
		select {
		case ch <- slices.Clone(payload):
		default: // slow subscriber loses the message
		}
	}
	return nil
}

// Subscribe implements [Bus].
func (m *Memory) Subscribe(ctx context.Context, nodeID string) (<-chan []byte, error) {
	if _, err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	ch := make(chan []byte, m.cfg.BusBuffer)
	s := m.subs[nodeID]
	if s == nil {
		s = map[chan []byte]struct{}{}
		m.subs[nodeID] = s
	}
	s[ch] = struct{}{}
	go func() {
		select {
		case <-ctx.Done():
		case <-m.done:
		}
		m.mu.Lock()
		if _, ok := m.subs[nodeID][ch]; ok {
			delete(m.subs[nodeID], ch)
			close(ch)
		}
		m.mu.Unlock()
	}()
	return ch, nil
}

// KeepNotices implements [Queue].
func (m *Memory) KeepNotices(_ context.Context, ns []Notice) error {
	now, err := m.lock()
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	for id, k := range m.kept {
		if !now.Before(k.exp) {
			delete(m.kept, id)
		}
	}
	byTicket, _ := groupNotices(ns)
	for id, g := range byTicket {
		m.kept[id] = keptNotices{ns: g, exp: noticesExpiry(g, now, m.cfg.ReservationTTL)}
	}
	return nil
}

// TicketNotices implements [Queue].
func (m *Memory) TicketNotices(_ context.Context, ticketIDs []string) ([]Notice, error) {
	now, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []Notice
	for _, id := range ticketIDs {
		if k, ok := m.kept[id]; ok && now.Before(k.exp) {
			out = append(out, k.ns...)
		}
	}
	return out, nil
}

func (m *Memory) queue(name string) *memQueue {
	q := m.queues[name]
	if q == nil {
		q = &memQueue{tickets: map[string]Ticket{}}
		m.queues[name] = q
	}
	return q
}

// AddTicket implements [Queue].
func (m *Memory) AddTicket(_ context.Context, t Ticket) error {
	if t.ID == "" {
		t.ID = newID()
	}
	if err := t.validate(); err != nil {
		return err
	}
	now, err := m.lock()
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now
	}
	q := m.queue(t.Queue)
	if _, dup := q.tickets[t.ID]; dup {
		return fmt.Errorf("ticket %s: %w", t.ID, ErrDuplicateTicket)
	}
	q.tickets[t.ID] = cloneTicket(t)
	return nil
}

func cloneTicket(t Ticket) Ticket {
	t.Party = slices.Clone(t.Party)
	t.StringProps = maps.Clone(t.StringProps)
	t.NumericProps = maps.Clone(t.NumericProps)
	t.CreatedAt = t.CreatedAt.Truncate(time.Millisecond)
	return t
}

// CancelTicket implements [Queue].
func (m *Memory) CancelTicket(_ context.Context, queue, ticketID string) error {
	if _, err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	q := m.queue(queue)
	if _, ok := q.tickets[ticketID]; !ok {
		return fmt.Errorf("ticket %s: %w", ticketID, ErrTicketNotFound)
	}
	delete(q.tickets, ticketID)
	return nil
}

// AcquireLease implements [Queue].
func (m *Memory) AcquireLease(_ context.Context, queue, holder string, ttl time.Duration) (Lease, error) {
	if queue == "" || holder == "" || ttl <= 0 {
		return Lease{}, fmt.Errorf("%w: lease needs queue, holder, ttl", ErrInvalidArgument)
	}
	now, err := m.lock()
	if err != nil {
		return Lease{}, err
	}
	defer m.mu.Unlock()
	q := m.queue(queue)
	live := now.Before(q.leaseExp)
	if live && q.holder != holder {
		return Lease{}, fmt.Errorf("queue %q held by %q: %w", queue, q.holder, ErrLeaseLost)
	}
	if !live || q.holder != holder {
		q.fence++
		q.holder = holder
	}
	q.leaseExp = now.Add(ttl)
	return Lease{Queue: queue, Holder: holder, Fence: q.fence, Expires: q.leaseExp}, nil
}

func (q *memQueue) holds(l Lease, now time.Time) bool {
	return q.holder == l.Holder && q.fence == l.Fence && now.Before(q.leaseExp)
}

// ReleaseLease implements [Queue].
func (m *Memory) ReleaseLease(_ context.Context, l Lease) error {
	now, err := m.lock()
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	if q := m.queue(l.Queue); q.holds(l, now) {
		q.leaseExp = time.Time{}
	}
	return nil
}

// Tickets implements [Queue].
func (m *Memory) Tickets(_ context.Context, queue string) ([]Ticket, error) {
	if _, err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	q := m.queue(queue)
	out := make([]Ticket, 0, len(q.tickets))
	for _, t := range q.tickets {
		out = append(out, cloneTicket(t))
	}
	return out, nil
}

// CommitMatches implements [Queue].
func (m *Memory) CommitMatches(_ context.Context, l Lease, plans []MatchPlan) ([]MatchResult, error) {
	now, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	q := m.queue(l.Queue)
	res := make([]MatchResult, len(plans))
	var lost error
	for i, p := range plans {
		if !q.holds(l, now) {
			lost = fmt.Errorf("queue %q fence %d: %w", l.Queue, l.Fence, ErrLeaseLost)
			res[i].Err = lost
			continue
		}
		seats := 0
		for _, t := range p.Tickets {
			if _, ok := q.tickets[t.ID]; !ok {
				res[i].Err = fmt.Errorf("ticket %s: %w", t.ID, ErrTicketNotFound)
				break
			}
			seats += len(t.Party)
		}
		if res[i].Err != nil {
			continue
		}
		if seats == 0 || seats > p.MaxSeats || p.RoomType == "" {
			res[i].Err = fmt.Errorf("%w: plan seats %d of %d", ErrInvalidArgument, seats, p.MaxSeats)
			continue
		}
		r, err := m.place(now, p.RoomType, p.MaxSeats, p.Metadata, seats)
		if err != nil {
			res[i].Err = err
			continue
		}
		res[i].RoomID, res[i].NodeID = r.rec.ID, r.rec.NodeID
		res[i].NodeAddress = m.nodes[r.rec.NodeID].info.Address
		for _, t := range p.Tickets {
			for _, pm := range t.Party {
				res[i].Reservations = append(res[i].Reservations, m.reserve(r, now, pm.UserID, true))
			}
			delete(q.tickets, t.ID)
		}
	}
	return res, lost
}

// RemoveTickets implements [Queue].
func (m *Memory) RemoveTickets(_ context.Context, l Lease, ids []string) error {
	now, err := m.lock()
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	q := m.queue(l.Queue)
	if !q.holds(l, now) {
		return fmt.Errorf("queue %q fence %d: %w", l.Queue, l.Fence, ErrLeaseLost)
	}
	for _, id := range ids {
		delete(q.tickets, id)
	}
	return nil
}

// Close implements [Backend]: subscriptions end, later calls fail with ErrClosed.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	close(m.done)
	for _, s := range m.subs {
		for ch := range s {
			close(ch)
		}
	}
	m.subs = nil
	return nil
}

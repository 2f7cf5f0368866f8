package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/tickwire/tickwire/engine/cluster"
	"github.com/tickwire/tickwire/internal/roomrt"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// reservationCloseCode maps a reservation error to its close code.
func reservationCloseCode(err error) (uint16, string) {
	switch {
	case errors.Is(err, cluster.ErrTokenInvalid):
		return uint16(tickwirev1.CloseCode_CLOSE_CODE_RESERVATION_INVALID), "reservation invalid"
	case errors.Is(err, cluster.ErrTokenExpired):
		return uint16(tickwirev1.CloseCode_CLOSE_CODE_RESERVATION_EXPIRED), "reservation expired"
	case errors.Is(err, cluster.ErrTokenUsed):
		return uint16(tickwirev1.CloseCode_CLOSE_CODE_RESERVATION_USED), "reservation already used"
	case errors.Is(err, cluster.ErrRoomNotFound), errors.Is(err, cluster.ErrNodeNotFound):
		return uint16(tickwirev1.CloseCode_CLOSE_CODE_ROOM_NOT_FOUND), "room not found"
	}
	return uint16(tickwirev1.CloseCode_CLOSE_CODE_UPSTREAM_UNAVAILABLE), "cluster store unavailable"
}

func (s *session) closingNow() bool {
	s.omu.Lock()
	defer s.omu.Unlock()
	return s.closing
}

// clusterFail answers a failed backend call.
func (s *session) clusterFail(reqID uint32, err error) {
	s.e.clusterErr("join", err)
	switch {
	case errors.Is(err, cluster.ErrRoomNotFound):
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_ROOM_NOT_FOUND, "room not found", true)
	case errors.Is(err, cluster.ErrRoomFull):
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_ROOM_FULL, "room is full", false)
	case errors.Is(err, cluster.ErrNoCapacity):
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_ROOM_FULL, "no node has capacity for another player", false)
	case errors.Is(err, cluster.ErrInvalidArgument):
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_BAD_REQUEST, err.Error(), true)
	case errors.Is(err, context.DeadlineExceeded):
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_ROOM_BUSY, "join timed out", false)
	default: // ErrUnavailable and anything else from the store
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_MATCHMAKING_UNAVAILABLE, "cluster store unavailable; try again", false)
	}
}

// joinReservation handles Join{reservation}: verify (forged 4010, expired
// 4011), then consume here (reused 4012) if this node owns the room, or
// relay to the owner, which consumes it.
func (s *session) joinReservation(ctx context.Context, reqID uint32, j *tickwirev1.Join) {
	e := s.e
	start := time.Now()
	c, err := e.cl.b.Verify(j.Reservation)
	if err != nil {
		s.closeWith(reservationCloseCode(err))
		return
	}
	if p := s.pendingRes; p != nil && p.ReservationID == c.ReservationID {
		// Consumed at upgrade (?reservation=); this Join completes it.
		s.pendingRes = nil
		s.joinLocalSeat(ctx, reqID, c, j.Options, start)
		return
	}
	if c.NodeID != e.cfg.NodeID {
		addr, err := e.nodeAddr(ctx, c.NodeID)
		if err != nil {
			s.closeWith(reservationCloseCode(err))
			return
		}
		e.cl.owners.Add(c.RoomID, c.NodeID)
		switch s.relay(ctx, reqID, addr, &tickwirev1.Join{Reservation: j.Reservation, Options: j.Options}, false) {
		case relayJoined:
			e.metrics.joinLatency.observe(time.Since(start).Seconds())
		case relayUnreachable:
			e.ownerUnreachable(ctx, c.RoomID, c.NodeID)
			s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_ROOM_NOT_FOUND, "the room's node is unreachable; find a new room", false)
		}
		return
	}
	if err := s.consumeSeat(ctx, c); err != nil {
		s.closeWith(reservationCloseCode(err))
		return
	}
	s.joinLocalSeat(ctx, reqID, c, j.Options, start)
}

// joinLocalSeat joins the local room of a consumed reservation, creating
// it if it was placed here and does not run yet. The directory seat is
// released if the join fails.
func (s *session) joinLocalSeat(ctx context.Context, reqID uint32, c cluster.Claims, opts []byte, start time.Time) {
	e := s.e
	s.mu.Lock()
	s.seatRoom = c.RoomID
	s.mu.Unlock()
	r, err := e.materialize(ctx, c, opts)
	var res roomrt.JoinResult
	if err == nil {
		res, err = r.Join(ctx, roomrt.JoinRequest{
			UserID: s.identity.UserID, Name: s.identity.Name, SessionID: s.id,
			Conn: s, Options: opts, RequestID: reqID,
		})
	}
	s.mu.Lock()
	release := err != nil && s.seatRoom == c.RoomID
	if release {
		s.seatRoom = ""
	}
	// Joined: the room counts the player now. Failed: it never will.
	fromTransit := s.takeTransitLocked(c.RoomID)
	s.mu.Unlock()
	switch {
	case release:
		e.releaseSeat(c.RoomID, fromTransit)
	case fromTransit && err == nil:
		e.cl.ledger.arrived(c.RoomID)
	case fromTransit:
		e.cl.ledger.failed(c.RoomID) // no longer this session's seat: abandoned
	}
	if err != nil {
		code, msg, offense := joinErrorCode(err)
		s.fail(reqID, code, msg, offense)
		return
	}
	s.joined(r, res, start)
}

// joinClustered handles Join in cluster mode: join-or-create through the
// directory (placement on the least-loaded node), by id through the owner,
// and create/private on this node.
func (s *session) joinClustered(ctx context.Context, reqID uint32, j *tickwirev1.Join, start time.Time) {
	e := s.e
	switch {
	case j.RoomId != "" && j.RoomType != "":
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_BAD_REQUEST, "give a room id or a room type, not both", true)
	case j.RoomId != "":
		s.joinByIDClustered(ctx, reqID, j, start)
	case j.RoomType == "":
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_BAD_REQUEST, "no room id or room type", true)
	case e.isDraining():
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_DRAINING, "node is draining; try another node", false)
	case j.Create || j.Private:
		r, err := e.rooms.Create(ctx, j.RoomType, roomrt.CreateOptions{Private: j.Private, Metadata: j.Filter, Options: j.Options})
		if err != nil {
			code, msg, offense := joinErrorCode(err)
			s.fail(reqID, code, msg, offense)
			return
		}
		// Publish synchronously so the seat can be reserved at once.
		if err := e.cl.b.PutRoom(ctx, e.recordOf(r)); err != nil {
			s.clusterFail(reqID, err)
			return
		}
		s.admitLocal(ctx, reqID, r.ID(), j.Options, start)
	default:
		def, ok := e.rooms.Definition(j.RoomType)
		if !ok {
			s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_UNKNOWN_ROOM_TYPE, fmt.Sprintf("unknown room type %q", j.RoomType), true)
			return
		}
		s.joinOrCreateClustered(ctx, reqID, j, max(1, def.Config().MaxPlayers), start)
	}
}

// joinOrCreateAttempts bounds the placements of one join-or-create when the
// chosen owners turn out to be unreachable.
const joinOrCreateAttempts = 3

// joinOrCreateClustered reserves a seat through the directory and joins it,
// here or through the owner. An owner that cannot be reached is marked
// suspect (the directory then skips its rooms) and the seat is placed again.
func (s *session) joinOrCreateClustered(ctx context.Context, reqID uint32, j *tickwirev1.Join, maxSeats int, start time.Time) {
	e := s.e
	for attempt := 1; ; attempt++ {
		res, err := e.cl.b.JoinOrCreate(ctx, cluster.JoinRequest{
			RoomType: j.RoomType, UserID: s.identity.UserID, Filter: j.Filter, MaxSeats: maxSeats,
		})
		if err != nil {
			s.clusterFail(reqID, err)
			return
		}
		e.cl.owners.Add(res.RoomID, res.NodeID)
		e.rememberNode(res.NodeID, res.NodeAddress)
		if res.NodeID == e.cfg.NodeID {
			if err := s.consumeSeat(ctx, res.Claims); err != nil {
				s.clusterFail(reqID, err)
				return
			}
			s.joinLocalSeat(ctx, reqID, res.Claims, j.Options, start)
			return
		}
		switch s.relay(ctx, reqID, res.NodeAddress, &tickwirev1.Join{Reservation: res.Token, Options: j.Options}, false) {
		case relayJoined:
			e.metrics.joinLatency.observe(time.Since(start).Seconds())
		case relayUnreachable:
			e.ownerUnreachable(ctx, res.RoomID, res.NodeID)
			if attempt < joinOrCreateAttempts && ctx.Err() == nil {
				continue
			}
			s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_MATCHMAKING_UNAVAILABLE, "no reachable node for the room; try again", false)
		}
		return
	}
}

// admitLocal reserves and consumes a directory seat in a room of this node
// and joins it.
func (s *session) admitLocal(ctx context.Context, reqID uint32, roomID string, opts []byte, start time.Time) {
	e := s.e
	res, err := e.cl.b.Reserve(ctx, roomID, s.identity.UserID)
	if err == nil {
		err = s.consumeSeat(ctx, res.Claims)
	}
	if err != nil {
		s.clusterFail(reqID, err)
		return
	}
	s.joinLocalSeat(ctx, reqID, res.Claims, opts, start)
}

// joinByIDClustered joins a room by id: locally if this node owns it, else
// relayed to the owner. A cached owner that answers room-not-found is
// dropped and looked up again, once.
func (s *session) joinByIDClustered(ctx context.Context, reqID uint32, j *tickwirev1.Join, start time.Time) {
	e := s.e
	for attempt := 0; attempt < 2; attempt++ {
		owner, err := e.ownerOf(ctx, j.RoomId, attempt > 0)
		if err != nil {
			s.clusterFail(reqID, err)
			return
		}
		if owner == e.cfg.NodeID {
			if _, ok := e.rooms.Get(j.RoomId); !ok && attempt == 0 {
				e.cl.owners.Remove(j.RoomId)
				e.metrics.ownerStale.Add(1)
				continue
			}
			if j.ResumeToken != "" {
				c, _ := e.tokens.verify(j.ResumeToken, time.Now()) // verified by onResume
				s.resumeLocal(ctx, reqID, c, start)
				return
			}
			s.admitLocal(ctx, reqID, j.RoomId, j.Options, start)
			return
		}
		addr, err := e.nodeAddr(ctx, owner)
		if err != nil {
			e.cl.owners.Remove(j.RoomId)
			if attempt == 0 {
				e.metrics.ownerStale.Add(1)
				continue
			}
			s.clusterFail(reqID, cluster.ErrRoomNotFound)
			return
		}
		switch s.relay(ctx, reqID, addr, &tickwirev1.Join{RoomId: j.RoomId, Options: j.Options, ResumeToken: j.ResumeToken}, attempt == 0) {
		case relayNotFound:
			e.cl.owners.Remove(j.RoomId)
			e.metrics.ownerStale.Add(1)
			continue
		case relayJoined:
			e.metrics.joinLatency.observe(time.Since(start).Seconds())
		case relayUnreachable:
			// The owner is likely dead: its rooms are gone with it. Answer
			// a retryable not-found at once rather than waiting for the
			// directory to notice (NodeTTL).
			e.ownerUnreachable(ctx, j.RoomId, owner)
			s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_ROOM_NOT_FOUND, "room not found: its node is unreachable", false)
		}
		return
	}
	s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_ROOM_NOT_FOUND, "room not found", true)
}

// --- ticket matchmaking ---

// ticketInfo is a ticket this session queued.
type ticketInfo struct {
	queue string
	added time.Time
	// t is the ticket as queued, to queue it again if the backend lost it.
	t cluster.Ticket
}

// maxParty bounds MatchmakerAdd.party.
const maxParty = 16

func (q QueueConfig) ticketTimeout() time.Duration {
	if q.TicketTimeout > 0 {
		return q.TicketTimeout
	}
	return time.Minute // the matcher's default
}

func (e *Engine) queueConfig(name string) (QueueConfig, bool) {
	for _, q := range e.cfg.Cluster.Queues {
		if q.Name == name {
			return q, true
		}
	}
	return QueueConfig{}, false
}

// onMatchmakerAdd queues a ticket for this session and its party (session
// ids, possibly on other nodes). The reply is a MatchmakerMatched carrying
// only the ticket id (the acknowledgement); the match itself arrives later
// as a MatchmakerMatched with room, reservation and node address.
func (s *session) onMatchmakerAdd(reqID uint32, m *tickwirev1.MatchmakerAdd) {
	e := s.e
	if _, ok := e.queueConfig(m.Queue); !ok {
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_BAD_REQUEST, fmt.Sprintf("unknown matchmaking queue %q", m.Queue), true)
		return
	}
	if len(m.Party) > maxParty {
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_BAD_REQUEST, "party too large", true)
		return
	}
	if e.isDraining() {
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_DRAINING, "node is draining; try another node", false)
		return
	}
	t := cluster.Ticket{
		ID: randomToken(16), Queue: m.Queue, NodeID: e.cfg.NodeID, CreatedAt: time.Now(),
		Party:       []cluster.PartyMember{{UserID: s.id, NodeID: e.cfg.NodeID}},
		StringProps: m.StringProperties, NumericProps: m.NumericProperties,
	}
	for _, sid := range m.Party {
		node := nodeOfSession(sid)
		if node == "" || sid == s.id {
			s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_BAD_REQUEST, "party member is not a session id", true)
			return
		}
		t.Party = append(t.Party, cluster.PartyMember{UserID: sid, NodeID: node})
	}
	// Record the ticket first: its notice may arrive before AddTicket returns.
	s.mu.Lock()
	if over(len(s.tickets)+1, e.cfg.Limits.MaxTicketsPerSession) {
		s.mu.Unlock()
		e.metrics.limited("tickets")
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_RATE_LIMITED, "too many open matchmaking tickets; cancel one first", false)
		return
	}
	if s.tickets == nil {
		s.tickets = map[string]ticketInfo{}
	}
	s.tickets[t.ID] = ticketInfo{queue: m.Queue, added: t.CreatedAt, t: t}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.JoinTimeout)
	defer cancel()
	if err := e.cl.b.AddTicket(ctx, t); err != nil {
		s.mu.Lock()
		delete(s.tickets, t.ID)
		s.mu.Unlock()
		e.clusterErr("add ticket", err)
		if errors.Is(err, cluster.ErrInvalidArgument) {
			s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_BAD_REQUEST, err.Error(), true)
			return
		}
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_MATCHMAKING_UNAVAILABLE, "matchmaking unavailable; try again", false)
		return
	}
	s.send(&tickwirev1.ServerMessage{RequestId: reqID, Kind: &tickwirev1.ServerMessage_MatchmakerMatched{MatchmakerMatched: &tickwirev1.MatchmakerMatched{TicketId: t.ID}}})
}

// onMatchmakerCancel withdraws a ticket this session queued; the reply is
// a MatchmakerMatched with only the ticket id.
func (s *session) onMatchmakerCancel(reqID uint32, m *tickwirev1.MatchmakerCancel) {
	s.mu.Lock()
	ti, ok := s.tickets[m.TicketId]
	s.mu.Unlock()
	if !ok {
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_BAD_REQUEST, "no such ticket", true)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.e.cfg.JoinTimeout)
	defer cancel()
	if err := s.e.cl.b.CancelTicket(ctx, ti.queue, m.TicketId); err != nil {
		s.e.clusterErr("cancel ticket", err)
		if errors.Is(err, cluster.ErrTicketNotFound) {
			s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_BAD_REQUEST, "ticket already matched or timed out", false)
			return
		}
		s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_MATCHMAKING_UNAVAILABLE, "matchmaking unavailable; try again", false)
		return
	}
	s.mu.Lock()
	delete(s.tickets, m.TicketId)
	s.mu.Unlock()
	s.send(&tickwirev1.ServerMessage{RequestId: reqID, Kind: &tickwirev1.ServerMessage_MatchmakerMatched{MatchmakerMatched: &tickwirev1.MatchmakerMatched{TicketId: m.TicketId}}})
}

// onNotice delivers a matchmaker notice (bus or ticket watchdog
// goroutine). A match notice for a ticket the session was already told of
// is dropped; it reports whether the notice was delivered.
func (s *session) onNotice(n *cluster.Notice) bool {
	if n.Kind == cluster.NoticeStatus {
		s.ticketStatus(n.TicketID, n.Queue, ticketStatusOf(n.Status), n.CreatedAt)
		return true
	}
	s.mu.Lock()
	ti, mine := s.tickets[n.TicketID]
	delete(s.tickets, n.TicketID)
	if n.Kind == cluster.NoticeMatched {
		if slices.Contains(s.matched[:], n.TicketID) {
			s.mu.Unlock()
			return false // told already
		}
		s.matched[s.matchedN%len(s.matched)] = n.TicketID
		s.matchedN++
	}
	s.mu.Unlock()
	switch n.Kind {
	case cluster.NoticeMatched:
		if mine {
			s.e.metrics.mmLatency.observe(time.Since(ti.added).Seconds())
		}
		s.send(&tickwirev1.ServerMessage{Kind: &tickwirev1.ServerMessage_MatchmakerMatched{MatchmakerMatched: &tickwirev1.MatchmakerMatched{
			TicketId: n.TicketID, RoomId: n.RoomID, Reservation: n.Token, NodeAddress: n.NodeAddress,
		}}})
	case cluster.NoticeTimeout:
		s.ticketTimedOut(n.TicketID, n.Queue)
	}
	return true
}

func ticketStatusOf(st cluster.TicketStatus) tickwirev1.MatchmakerTicketStatus {
	switch st {
	case cluster.StatusQueued:
		return tickwirev1.MatchmakerTicketStatus_MATCHMAKER_TICKET_STATUS_QUEUED
	case cluster.StatusWaitingForCapacity:
		return tickwirev1.MatchmakerTicketStatus_MATCHMAKER_TICKET_STATUS_WAITING_FOR_CAPACITY
	}
	return tickwirev1.MatchmakerTicketStatus_MATCHMAKER_TICKET_STATUS_UNSPECIFIED
}

// ticketStatus sends a MatchmakerStatus for a ticket queued at created
// (the matcher rate-limits them per ticket).
func (s *session) ticketStatus(id, queue string, st tickwirev1.MatchmakerTicketStatus, created time.Time) {
	m := &tickwirev1.MatchmakerStatus{TicketId: id, Status: st, Queue: queue}
	if !created.IsZero() {
		m.QueuedForMs = uint32(min(max(time.Since(created).Milliseconds(), 0), math.MaxUint32))
	}
	if q, ok := s.e.queueConfig(queue); ok {
		m.TimeoutMs = uint32(min(q.ticketTimeout().Milliseconds(), math.MaxUint32))
	}
	s.e.metrics.ticketStatuses.Add(1)
	s.send(&tickwirev1.ServerMessage{Kind: &tickwirev1.ServerMessage_MatchmakerStatus{MatchmakerStatus: m}})
}

// ticketTimedOut answers a ticket that found no match in time (the
// matcher's timeout notice, or this node's watchdog).
func (s *session) ticketTimedOut(id, queue string) {
	msg := "matchmaking timed out"
	if q, ok := s.e.queueConfig(queue); ok {
		msg = fmt.Sprintf("matchmaking timed out after %s", strconv.FormatFloat(q.ticketTimeout().Seconds(), 'f', -1, 64)+" s")
	}
	code := tickwirev1.ErrorCode_ERROR_CODE_MATCHMAKING_TIMEOUT
	s.e.metrics.errorSent(code)
	s.send(&tickwirev1.ServerMessage{Kind: &tickwirev1.ServerMessage_Error{Error: &tickwirev1.Error{
		Code: code, Message: msg + " (ticket " + id + ")", TicketId: id,
	}}})
}

// requeueTickets queues again every ticket this node's sessions hold, with
// its id and creation time (so its timeout is unchanged). It runs after the
// node (re-)registered: when Redis restarted without its data, the queue
// is empty and these tickets would otherwise never match nor time out.
// Tickets still queued are left alone (ErrDuplicateTicket).
func (e *Engine) requeueTickets(ctx context.Context) {
	var ts []cluster.Ticket
	for _, s := range e.sessionList() {
		s.mu.Lock()
		for _, ti := range s.tickets {
			ts = append(ts, ti.t)
		}
		s.mu.Unlock()
	}
	n := 0
	for _, t := range ts {
		err := e.cl.b.AddTicket(ctx, t)
		switch {
		case err == nil:
			n++
			if s := e.sessionByID(t.Party[0].UserID); s != nil {
				s.ticketStatus(t.ID, t.Queue, tickwirev1.MatchmakerTicketStatus_MATCHMAKER_TICKET_STATUS_REQUEUED, t.CreatedAt)
			}
		case errors.Is(err, cluster.ErrDuplicateTicket):
		default:
			// The watchdog (expireTickets) answers it if it never matches.
			e.clusterErr("requeue ticket", err)
		}
	}
	if n > 0 {
		e.metrics.ticketsRequeued.Add(uint64(n))
		e.log.Info("matchmaking tickets re-queued after the node re-registered", "tickets", n)
	}
}

// ticketGrace is how long past its queue's TicketTimeout a ticket may go
// without a notice before its session answers the timeout itself.
const ticketGrace = 2 * time.Second

// expireTickets answers tickets whose timeout notice never came (the
// backend lost them and could not take them back, or the notice was lost
// on the bus): each gets the timeout error at TicketTimeout + ticketGrace.
// It runs every second on the engine's cluster goroutines.
func (e *Engine) expireTickets(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		var waiting []string
		for _, s := range e.sessionList() {
			var late []string
			queues := map[string]string{}
			s.mu.Lock()
			for id, ti := range s.tickets {
				q, _ := e.queueConfig(ti.queue)
				switch age := now.Sub(ti.added); {
				case age >= q.ticketTimeout()+ticketGrace:
					late = append(late, id)
					queues[id] = ti.queue
					delete(s.tickets, id)
				case age >= noticeCheckAge:
					waiting = append(waiting, id)
				}
			}
			s.mu.Unlock()
			for _, id := range late {
				e.metrics.ticketsExpiredLocally.Add(1)
				s.ticketTimedOut(id, queues[id])
			}
		}
		e.recoverNotices(ctx, waiting)
	}
}

// noticeCheckAge is how old a waiting ticket is before its node asks the
// backend, once a second, whether it matched without the notice arriving.
const noticeCheckAge = 500 * time.Millisecond

// recoverNotices fetches the kept match notices of tickets this node's
// sessions still wait on: the bus delivers at most once, and a
// subscription that was reconnecting (a Redis failover or restart) misses
// what was published meanwhile. Notices for party members on other nodes
// are published to them again; sessions answer a ticket once.
func (e *Engine) recoverNotices(ctx context.Context, ticketIDs []string) {
	if len(ticketIDs) == 0 {
		return
	}
	ns, err := e.cl.b.TicketNotices(ctx, ticketIDs)
	if err != nil {
		e.clusterErr("ticket notices", err)
	}
	var remote []cluster.Notice
	for i := range ns {
		n := &ns[i]
		if n.Node != "" && n.Node != e.cfg.NodeID {
			remote = append(remote, *n)
			continue
		}
		if s := e.sessionByID(n.UserID); s != nil && s.onNotice(n) {
			e.metrics.noticesRecovered.Add(1)
		}
	}
	e.clusterErr("publish recovered notices", cluster.PublishNotices(ctx, e.cl.b, remote))
}

// cancelTickets withdraws a closed session's tickets (best effort, one
// bounded goroutine).
func (s *session) cancelTickets(ts map[string]ticketInfo) {
	if len(ts) == 0 {
		return
	}
	b := s.e.cl.b
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for id, ti := range ts {
			_ = b.CancelTicket(ctx, ti.queue, id)
		}
	}()
}

package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig configures [NewRedis]. The zero value talks to 127.0.0.1:6379.
type RedisConfig struct {
	Config
	// Addr is host:port of the Redis server (default 127.0.0.1:6379).
	// Ignored when SentinelMaster is set.
	Addr     string
	Username string
	Password string
	DB       int
	// Prefix namespaces every key and channel (default "tw:").
	Prefix string
	// OpTimeout bounds every call, dial included (default 500ms), so a
	// Redis outage fails calls fast with ErrUnavailable.
	OpTimeout time.Duration
	// PoolSize is the connection pool size (default go-redis's 10 per CPU).
	PoolSize int
	// SentinelMaster names the primary monitored by Redis Sentinel; with
	// it the backend asks the Sentinels at SentinelAddrs (host:port each)
	// for the current primary and follows failovers (go-redis's failover
	// client). SentinelPassword authenticates to the Sentinels.
	SentinelMaster   string
	SentinelAddrs    []string
	SentinelPassword string
}

// ParseSentinel parses "master@host:port,host:port" (the nodes'
// -redis-sentinel flag) into a master name and Sentinel addresses.
func ParseSentinel(s string) (master string, addrs []string, err error) {
	master, list, ok := strings.Cut(s, "@")
	if !ok || master == "" || list == "" {
		return "", nil, fmt.Errorf("%w: sentinel %q: want master@host:port[,host:port...]", ErrInvalidArgument, s)
	}
	for _, a := range strings.Split(list, ",") {
		a = strings.TrimSpace(a)
		if _, _, err := net.SplitHostPort(a); err != nil {
			return "", nil, fmt.Errorf("%w: sentinel address %q: %w", ErrInvalidArgument, a, err)
		}
		addrs = append(addrs, a)
	}
	return master, addrs, nil
}

// Redis is the cluster [Backend] on one Redis server. Safe for concurrent use.
//
// Calls are single attempts (no client retries, so a script never runs
// twice); every failure to reach Redis returns an error wrapping
// ErrUnavailable within OpTimeout. Subscriptions reconnect on their own.
type Redis struct {
	cfg    RedisConfig
	rdb    *redis.Client
	signer *Signer

	mu     sync.Mutex
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup // subscription goroutines
}

var _ Backend = (*Redis)(nil)

// NewRedis connects lazily (no I/O here); cfg.Secret is required.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	cfg.Config = cfg.Config.withDefaults()
	if len(cfg.Secret) == 0 {
		return nil, fmt.Errorf("%w: cluster secret required", ErrInvalidArgument)
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:6379"
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "tw:"
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = 500 * time.Millisecond
	}
	var rdb *redis.Client
	if cfg.SentinelMaster != "" {
		if len(cfg.SentinelAddrs) == 0 {
			return nil, fmt.Errorf("%w: sentinel master %q without sentinel addresses", ErrInvalidArgument, cfg.SentinelMaster)
		}
		rdb = redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: cfg.SentinelMaster, SentinelAddrs: cfg.SentinelAddrs, SentinelPassword: cfg.SentinelPassword,
			Username: cfg.Username, Password: cfg.Password, DB: cfg.DB,
			DialTimeout: cfg.OpTimeout, ReadTimeout: cfg.OpTimeout, WriteTimeout: cfg.OpTimeout,
			PoolTimeout: cfg.OpTimeout, ContextTimeoutEnabled: true, MaxRetries: -1,
			PoolSize: cfg.PoolSize, DisableIdentity: true,
		})
	} else {
		rdb = redis.NewClient(&redis.Options{
			Addr: cfg.Addr, Username: cfg.Username, Password: cfg.Password, DB: cfg.DB,
			DialTimeout: cfg.OpTimeout, ReadTimeout: cfg.OpTimeout, WriteTimeout: cfg.OpTimeout,
			PoolTimeout: cfg.OpTimeout, ContextTimeoutEnabled: true, MaxRetries: -1,
			PoolSize: cfg.PoolSize, DisableIdentity: true,
		})
	}
	return &Redis{cfg: cfg, rdb: rdb, signer: NewSigner(cfg.Secret, cfg.Now), done: make(chan struct{})}, nil
}

// Client returns the underlying go-redis client (for health checks).
func (r *Redis) Client() *redis.Client { return r.rdb }

func (r *Redis) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.cfg.OpTimeout)
}

func (r *Redis) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
}

func (r *Redis) now() time.Time { return r.cfg.Now() }

// run evaluates s with ARGV = prefix, now, args...
func (r *Redis) run(ctx context.Context, op string, s *redis.Script, args ...any) (any, error) {
	ctx, cancel := r.op(ctx)
	defer cancel()
	full := make([]any, 0, len(args)+2)
	full = append(full, r.cfg.Prefix, r.now().UnixMilli())
	full = append(full, args...)
	v, err := s.Run(ctx, r.rdb, nil, full...).Result()
	if err != nil {
		return nil, r.wrap(op, err)
	}
	return v, nil
}

func b01(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func atoi(s any) int {
	str, _ := s.(string)
	n, _ := strconv.Atoi(str)
	return n
}

func flatPairs(v any) map[string]string {
	l, _ := v.([]any)
	m := make(map[string]string, len(l)/2)
	for i := 0; i+1 < len(l); i += 2 {
		k, _ := l[i].(string)
		val, _ := l[i+1].(string)
		m[k] = val
	}
	return m
}

// Heartbeat implements [Registry].
func (r *Redis) Heartbeat(ctx context.Context, n NodeInfo) (bool, error) {
	if n.ID == "" {
		return false, fmt.Errorf("%w: node id", ErrInvalidArgument)
	}
	v, err := r.run(ctx, "heartbeat", scriptHeartbeat, n.ID, n.Address, n.Rooms, n.Players, n.Capacity,
		b01(n.Draining), r.cfg.NodeTTL.Milliseconds())
	if err != nil {
		return false, err
	}
	return v == int64(1), nil
}

// Deregister implements [Registry].
func (r *Redis) Deregister(ctx context.Context, nodeID string) error {
	_, err := r.run(ctx, "deregister", scriptDeregister, nodeID)
	return err
}

// SuspectNode implements [Registry].
func (r *Redis) SuspectNode(ctx context.Context, nodeID string, d time.Duration) error {
	if nodeID == "" || d <= 0 {
		return fmt.Errorf("%w: suspect needs node id and duration", ErrInvalidArgument)
	}
	_, err := r.run(ctx, "suspect node", scriptSuspect, nodeID, r.now().Add(d).UnixMilli())
	return err
}

// Nodes implements [Registry].
func (r *Redis) Nodes(ctx context.Context) ([]NodeInfo, error) {
	v, err := r.run(ctx, "nodes", scriptNodes)
	if err != nil {
		return nil, err
	}
	l, _ := v.([]any)
	out := make([]NodeInfo, 0, len(l))
	for _, e := range l {
		h := flatPairs(e)
		out = append(out, NodeInfo{
			ID: h["id"], Address: h["addr"], Rooms: atoi(h["rooms"]), Players: atoi(h["players"]),
			Capacity: atoi(h["cap"]), Draining: h["draining"] == "1", Reserved: atoi(h["reserved"]),
			UpdatedAt: time.UnixMilli(int64(atoi(h["updated"]))),
		})
	}
	slices.SortFunc(out, func(a, b NodeInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func metaArgs(args []any, meta map[string]string) []any {
	keys := slices.Sorted(maps.Keys(meta))
	for _, k := range keys {
		args = append(args, k, meta[k])
	}
	return args
}

// PutRoom implements [Directory].
func (r *Redis) PutRoom(ctx context.Context, rec RoomRecord) error {
	if rec.ID == "" || rec.Type == "" || rec.NodeID == "" || rec.MaxSeats <= 0 {
		return fmt.Errorf("%w: room needs id, type, node and max seats", ErrInvalidArgument)
	}
	if rec.State == "" {
		rec.State = RoomRunning
	}
	args := metaArgs([]any{rec.ID, rec.Type, rec.NodeID, rec.Seats, rec.MaxSeats, b01(rec.Locked),
		b01(rec.Private), string(rec.State)}, rec.Metadata)
	v, err := r.run(ctx, "put room", scriptPutRoom, args...)
	if err != nil {
		return err
	}
	if v == "NONODE" {
		return fmt.Errorf("put room %q: %w", rec.ID, ErrNodeNotFound)
	}
	return nil
}

// RemoveRoom implements [Directory].
func (r *Redis) RemoveRoom(ctx context.Context, roomID string) error {
	_, err := r.run(ctx, "remove room", scriptRemoveRoom, roomID)
	return err
}

func roomFrom(v any) RoomRecord {
	h := flatPairs(v)
	rec := RoomRecord{
		ID: h["id"], Type: h["type"], NodeID: h["node"], Seats: atoi(h["seats"]), MaxSeats: atoi(h["max"]),
		Locked: h["locked"] == "1", Private: h["private"] == "1", State: RoomState(h["state"]),
		Reserved: atoi(h["reserved"]), NodeAddress: h["addr"],
	}
	for k, val := range h {
		if mk, ok := strings.CutPrefix(k, "m:"); ok {
			if rec.Metadata == nil {
				rec.Metadata = map[string]string{}
			}
			rec.Metadata[mk] = val
		}
	}
	return rec
}

// LookupRoom implements [Directory].
func (r *Redis) LookupRoom(ctx context.Context, roomID string) (RoomRecord, error) {
	v, err := r.run(ctx, "lookup room", scriptLookup, roomID)
	if err != nil {
		return RoomRecord{}, err
	}
	if v == "NOTFOUND" {
		return RoomRecord{}, fmt.Errorf("room %q: %w", roomID, ErrRoomNotFound)
	}
	return roomFrom(v), nil
}

// ListRooms implements [Directory].
func (r *Redis) ListRooms(ctx context.Context, roomType string) ([]RoomRecord, error) {
	v, err := r.run(ctx, "list rooms", scriptList, roomType)
	if err != nil {
		return nil, err
	}
	l, _ := v.([]any)
	out := make([]RoomRecord, 0, len(l))
	for _, e := range l {
		out = append(out, roomFrom(e))
	}
	slices.SortFunc(out, func(a, b RoomRecord) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// ReleaseSeat implements [Directory].
func (r *Redis) ReleaseSeat(ctx context.Context, roomID string, seq uint64) error {
	v, err := r.run(ctx, "release seat", scriptReleaseSeat, roomID, seq)
	if err != nil {
		return err
	}
	if v == "NOTFOUND" {
		return fmt.Errorf("room %q: %w", roomID, ErrRoomNotFound)
	}
	return nil
}

// syncBatch bounds the rooms of one seat sync script call, so that no
// call holds Redis for long (each room costs a few commands).
const syncBatch = 256

// SyncSeats implements [Directory]: one script call per syncBatch rooms.
func (r *Redis) SyncSeats(ctx context.Context, nodeID string, seq uint64, rooms []RoomSeats) error {
	if nodeID == "" || seq == 0 {
		return fmt.Errorf("%w: seat sync needs node id and sequence number", ErrInvalidArgument)
	}
	for len(rooms) > 0 {
		batch := rooms[:min(len(rooms), syncBatch)]
		rooms = rooms[len(batch):]
		args := make([]any, 0, 2+2*len(batch))
		args = append(args, nodeID, seq)
		for _, rs := range batch {
			args = append(args, rs.ID, rs.Seats)
		}
		if _, err := r.run(ctx, "sync seats", scriptSyncSeats, args...); err != nil {
			return err
		}
	}
	return nil
}

func (r *Redis) claims(now time.Time, roomID, roomType, nodeID, userID string) Claims {
	return Claims{ReservationID: newID(), RoomID: roomID, RoomType: roomType, NodeID: nodeID, UserID: userID,
		ExpiresAt: now.Add(r.cfg.ReservationTTL).Truncate(time.Millisecond)}
}

// JoinOrCreate implements [Seats].
func (r *Redis) JoinOrCreate(ctx context.Context, req JoinRequest) (Reservation, error) {
	if err := validJoin(req); err != nil {
		return Reservation{}, err
	}
	c := r.claims(r.now(), "", req.RoomType, "", req.UserID)
	newRoom := newID()
	args := []any{req.RoomType, c.ReservationID, c.ExpiresAt.UnixMilli(), newRoom, req.MaxSeats, joinScanLimit, len(req.Filter)}
	args = metaArgs(args, req.Filter)
	meta := mergeMeta(req.Metadata, req.Filter)
	args = metaArgs(append(args, len(meta)), meta)
	v, err := r.run(ctx, "join or create", scriptJoinOrCreate, args...)
	if err != nil {
		return Reservation{}, err
	}
	switch v {
	case "NOCAP":
		return Reservation{}, fmt.Errorf("join or create %q: %w", req.RoomType, ErrNoCapacity)
	case "NONODES":
		return Reservation{}, fmt.Errorf("join or create %q: %w: no live node registered", req.RoomType, ErrUnavailable)
	}
	l, _ := v.([]any)
	if len(l) != 4 {
		return Reservation{}, fmt.Errorf("join or create: %w: unexpected reply %v", ErrUnavailable, v)
	}
	c.RoomID, _ = l[0].(string)
	c.NodeID, _ = l[1].(string)
	addr, _ := l[2].(string)
	return Reservation{Claims: c, Token: r.signer.Sign(c), NodeAddress: addr, Created: l[3] == int64(1)}, nil
}

// Reserve implements [Seats].
func (r *Redis) Reserve(ctx context.Context, roomID, userID string) (Reservation, error) {
	if roomID == "" || userID == "" {
		return Reservation{}, fmt.Errorf("%w: room id and user id", ErrInvalidArgument)
	}
	c := r.claims(r.now(), roomID, "", "", userID)
	v, err := r.run(ctx, "reserve", scriptReserve, roomID, c.ReservationID, c.ExpiresAt.UnixMilli())
	if err != nil {
		return Reservation{}, err
	}
	switch v {
	case "NOTFOUND":
		return Reservation{}, fmt.Errorf("room %q: %w", roomID, ErrRoomNotFound)
	case "FULL":
		return Reservation{}, fmt.Errorf("room %q: %w", roomID, ErrRoomFull)
	}
	l, _ := v.([]any)
	if len(l) != 3 {
		return Reservation{}, fmt.Errorf("reserve: %w: unexpected reply %v", ErrUnavailable, v)
	}
	c.NodeID, _ = l[0].(string)
	c.RoomType, _ = l[1].(string)
	addr, _ := l[2].(string)
	return Reservation{Claims: c, Token: r.signer.Sign(c), NodeAddress: addr}, nil
}

// Verify implements [Seats].
func (r *Redis) Verify(token string) (Claims, error) { return r.signer.Verify(token) }

// Consume implements [Seats].
func (r *Redis) Consume(ctx context.Context, c Claims, seq uint64) error {
	ttl := max(c.ExpiresAt.Add(time.Minute).Sub(r.now()).Milliseconds(), 1000)
	v, err := r.run(ctx, "consume", scriptConsume, c.RoomID, c.NodeID, c.ReservationID, ttl, seq)
	if err != nil {
		return err
	}
	switch v {
	case "OK":
		return nil
	case "USED":
		return fmt.Errorf("reservation %s: %w", c.ReservationID, ErrTokenUsed)
	case "EXPIRED":
		return fmt.Errorf("reservation %s: %w", c.ReservationID, ErrTokenExpired)
	default:
		return fmt.Errorf("reservation %s room %q: %w", c.ReservationID, c.RoomID, ErrRoomNotFound)
	}
}

func (r *Redis) channel(nodeID string) string { return r.cfg.Prefix + "bus:" + nodeID }

// Publish implements [Bus].
func (r *Redis) Publish(ctx context.Context, nodeID string, payload []byte) error {
	ctx, cancel := r.op(ctx)
	defer cancel()
	return r.wrap("publish", r.rdb.Publish(ctx, r.channel(nodeID), payload).Err())
}

// Subscribe implements [Bus]. It returns once Redis confirmed the
// subscription; afterwards go-redis reconnects and resubscribes by itself
// (messages published while disconnected are lost: match notices are
// also kept, see [Redis.KeepNotices]).
func (r *Redis) Subscribe(ctx context.Context, nodeID string) (<-chan []byte, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	r.wg.Add(1)
	r.mu.Unlock()
	ps := r.rdb.Subscribe(ctx, r.channel(nodeID))
	octx, cancel := r.op(ctx)
	_, err := ps.Receive(octx)
	cancel()
	if err != nil {
		_ = ps.Close()
		r.wg.Done()
		return nil, r.wrap("subscribe", err)
	}
	out := make(chan []byte, r.cfg.BusBuffer)
	in := ps.Channel(redis.WithChannelSize(r.cfg.BusBuffer))
	go func() {
		defer r.wg.Done()
		defer close(out)
		defer ps.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case <-r.done:
				return
			case msg, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- []byte(msg.Payload):
				default: // slow subscriber loses the message
				}
			}
		}
	}()
	return out, nil
}

func (r *Redis) noticeKey(ticketID string) string { return r.cfg.Prefix + "mm:notice:" + ticketID }

// noticeBatch bounds the keys of one MGET in TicketNotices.
const noticeBatch = 512

// KeepNotices implements [Queue]: one key per ticket, expiring with the
// last of its reservations.
func (r *Redis) KeepNotices(ctx context.Context, ns []Notice) error {
	byTicket, order := groupNotices(ns)
	if len(order) == 0 {
		return nil
	}
	now := r.now()
	ctx, cancel := r.op(ctx)
	defer cancel()
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range order {
			g := byTicket[id]
			exp := noticesExpiry(g, now, r.cfg.ReservationTTL)
			p.SetArgs(ctx, r.noticeKey(id), EncodeNotices(g), redis.SetArgs{ExpireAt: exp})
		}
		return nil
	})
	return r.wrap("keep notices", err)
}

// TicketNotices implements [Queue].
func (r *Redis) TicketNotices(ctx context.Context, ticketIDs []string) ([]Notice, error) {
	var out []Notice
	for len(ticketIDs) > 0 {
		batch := ticketIDs[:min(len(ticketIDs), noticeBatch)]
		ticketIDs = ticketIDs[len(batch):]
		keys := make([]string, len(batch))
		for i, id := range batch {
			keys[i] = r.noticeKey(id)
		}
		octx, cancel := r.op(ctx)
		vals, err := r.rdb.MGet(octx, keys...).Result()
		cancel()
		if err != nil {
			return out, r.wrap("ticket notices", err)
		}
		for _, v := range vals {
			s, ok := v.(string)
			if !ok {
				continue
			}
			ns, err := DecodeNotices([]byte(s))
			if err != nil {
				r.cfg.Logger.Warn("cluster: skipping a kept notice that does not decode", "err", err)
				continue
			}
			out = append(out, ns...)
		}
	}
	return out, nil
}

func (r *Redis) ticketsKey(queue string) string { return r.cfg.Prefix + "mm:" + queue + ":tickets" }

// AddTicket implements [Queue].
func (r *Redis) AddTicket(ctx context.Context, t Ticket) error {
	if t.ID == "" {
		t.ID = newID()
	}
	if err := t.validate(); err != nil {
		return err
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = r.now()
	}
	b, err := json.Marshal(cloneTicket(t))
	if err != nil {
		return fmt.Errorf("%w: ticket: %w", ErrInvalidArgument, err)
	}
	ctx, cancel := r.op(ctx)
	defer cancel()
	ok, err := r.rdb.HSetNX(ctx, r.ticketsKey(t.Queue), t.ID, b).Result()
	if err != nil {
		return r.wrap("add ticket", err)
	}
	if !ok {
		return fmt.Errorf("ticket %s: %w", t.ID, ErrDuplicateTicket)
	}
	return nil
}

// CancelTicket implements [Queue].
func (r *Redis) CancelTicket(ctx context.Context, queue, ticketID string) error {
	ctx, cancel := r.op(ctx)
	defer cancel()
	n, err := r.rdb.HDel(ctx, r.ticketsKey(queue), ticketID).Result()
	if err != nil {
		return r.wrap("cancel ticket", err)
	}
	if n == 0 {
		return fmt.Errorf("ticket %s: %w", ticketID, ErrTicketNotFound)
	}
	return nil
}

// AcquireLease implements [Queue].
func (r *Redis) AcquireLease(ctx context.Context, queue, holder string, ttl time.Duration) (Lease, error) {
	if queue == "" || holder == "" || ttl <= 0 {
		return Lease{}, fmt.Errorf("%w: lease needs queue, holder, ttl", ErrInvalidArgument)
	}
	v, err := r.run(ctx, "acquire lease", scriptAcquire, queue, holder, max(ttl.Milliseconds(), 1))
	if err != nil {
		return Lease{}, err
	}
	if v == "LOST" {
		return Lease{}, fmt.Errorf("queue %q: %w", queue, ErrLeaseLost)
	}
	l, _ := v.([]any)
	if len(l) != 2 {
		return Lease{}, fmt.Errorf("acquire lease: %w: unexpected reply %v", ErrUnavailable, v)
	}
	fence, _ := l[0].(int64)
	exp, _ := l[1].(int64)
	return Lease{Queue: queue, Holder: holder, Fence: fence, Expires: time.UnixMilli(exp)}, nil
}

// ReleaseLease implements [Queue].
func (r *Redis) ReleaseLease(ctx context.Context, l Lease) error {
	_, err := r.run(ctx, "release lease", scriptRelease, l.Queue, l.Holder, l.Fence)
	return err
}

// Tickets implements [Queue]. Undecodable entries are skipped.
func (r *Redis) Tickets(ctx context.Context, queue string) ([]Ticket, error) {
	ctx, cancel := r.op(ctx)
	defer cancel()
	h, err := r.rdb.HGetAll(ctx, r.ticketsKey(queue)).Result()
	if err != nil {
		return nil, r.wrap("tickets", err)
	}
	out := make([]Ticket, 0, len(h))
	for _, s := range h {
		var t Ticket
		if json.Unmarshal([]byte(s), &t) != nil || t.validate() != nil {
			continue
		}
		out = append(out, t)
	}
	return out, nil
}

// RemoveTickets implements [Queue].
func (r *Redis) RemoveTickets(ctx context.Context, l Lease, ids []string) error {
	args := []any{l.Queue, l.Holder, l.Fence}
	for _, id := range ids {
		args = append(args, id)
	}
	v, err := r.run(ctx, "remove tickets", scriptRemoveTickets, args...)
	if err != nil {
		return err
	}
	if v == "LOST" {
		return fmt.Errorf("queue %q fence %d: %w", l.Queue, l.Fence, ErrLeaseLost)
	}
	return nil
}

// CommitMatches implements [Queue]. Plans are sent as one pipeline of
// script calls; each is atomic on its own.
func (r *Redis) CommitMatches(ctx context.Context, l Lease, plans []MatchPlan) ([]MatchResult, error) {
	res := make([]MatchResult, len(plans))
	claims := make([][]Claims, len(plans))
	now := r.now()
	ctx, cancel := r.op(ctx)
	defer cancel()
	pipe := r.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(plans))
	for i, p := range plans {
		seats := 0
		for _, t := range p.Tickets {
			seats += len(t.Party)
		}
		if seats == 0 || seats > p.MaxSeats || p.RoomType == "" {
			res[i].Err = fmt.Errorf("%w: plan seats %d of %d", ErrInvalidArgument, seats, p.MaxSeats)
			continue
		}
		roomID := newID()
		args := []any{r.cfg.Prefix, now.UnixMilli(), l.Queue, l.Holder, l.Fence, roomID, p.RoomType, p.MaxSeats, seats, len(p.Metadata)}
		args = metaArgs(args, p.Metadata)
		args = append(args, len(p.Tickets))
		for _, t := range p.Tickets {
			args = append(args, t.ID)
		}
		exp := now.Add(r.cfg.ReservationTTL).Truncate(time.Millisecond)
		args = append(args, exp.UnixMilli())
		for _, t := range p.Tickets {
			for _, pm := range t.Party {
				c := Claims{ReservationID: newID(), RoomID: roomID, RoomType: p.RoomType, UserID: pm.UserID, ExpiresAt: exp}
				claims[i] = append(claims[i], c)
				args = append(args, c.ReservationID)
			}
		}
		cmds[i] = scriptCommit.EvalSha(ctx, pipe, nil, args...)
	}
	if _, err := pipe.Exec(ctx); err != nil && !isNoScript(err) && !isScriptReply(cmds) {
		return nil, r.wrap("commit matches", err)
	}
	var lost error
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		v, err := cmd.Result()
		if isNoScript(err) { // script cache empty (Redis restarted): run it alone
			v, err = scriptCommit.Run(ctx, r.rdb, nil, cmd.Args()[3:]...).Result()
		}
		if err != nil {
			res[i].Err = r.wrap("commit match", err)
			continue
		}
		switch v := v.(type) {
		case string:
			switch v {
			case "LOST":
				lost = fmt.Errorf("queue %q fence %d: %w", l.Queue, l.Fence, ErrLeaseLost)
				res[i].Err = lost
			case "NONODES":
				res[i].Err = fmt.Errorf("match: %w: no live node registered", ErrUnavailable)
			default:
				res[i].Err = fmt.Errorf("match: %w", ErrNoCapacity)
			}
		case []any:
			if len(v) == 2 {
				res[i].Err = fmt.Errorf("ticket %v: %w", v[1], ErrTicketNotFound)
				continue
			}
			if len(v) != 3 {
				res[i].Err = fmt.Errorf("commit match: %w: unexpected reply %v", ErrUnavailable, v)
				continue
			}
			res[i].NodeID, _ = v[1].(string)
			res[i].NodeAddress, _ = v[2].(string)
			res[i].RoomID = claims[i][0].RoomID
			for _, c := range claims[i] {
				c.NodeID = res[i].NodeID
				res[i].Reservations = append(res[i].Reservations,
					Reservation{Claims: c, Token: r.signer.Sign(c), NodeAddress: res[i].NodeAddress, Created: true})
			}
		}
	}
	return res, lost
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// isScriptReply reports whether every failed command failed with a server
// reply (e.g. NOSCRIPT) rather than a connection error.
func isScriptReply(cmds []*redis.Cmd) bool {
	for _, c := range cmds {
		if c == nil {
			continue
		}
		if err := c.Err(); err != nil && !isNoScript(err) {
			var re redis.Error
			if !errors.As(err, &re) {
				return false
			}
		}
	}
	return true
}

// Close implements [Backend]; it ends subscriptions and waits for their goroutines.
func (r *Redis) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.done)
	r.mu.Unlock()
	r.wg.Wait()
	return r.rdb.Close()
}

func jsonTicket(t Ticket) ([]byte, error) { return json.Marshal(cloneTicket(t)) }

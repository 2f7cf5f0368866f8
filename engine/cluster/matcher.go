package cluster

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"
)

// MatcherConfig configures [NewMatcher]. Queue and Holder are required.
type MatcherConfig struct {
	Queue string
	// Holder names this matcher in the lease (e.g. the node id); unique per process.
	Holder string
	// MatchSize is the number of players per match (default 2).
	MatchSize int
	// RoomType of the placed room (default Queue) and its metadata (the
	// match's StringProps are added).
	RoomType     string
	RoomMetadata map[string]string
	// RatingKey names the rating in NumericProps (default "rating"; a
	// missing rating counts as 0).
	RatingKey string
	// A ticket that has waited w accepts a match whose rating spread (max -
	// min) is at most min(BaseWindow + WidenPerSecond*w, MaxWindow).
	// Defaults 100, 50, 1000.
	BaseWindow, WidenPerSecond, MaxWindow float64
	// Interval between rounds (default 250ms); LeaseTTL (default 3s).
	Interval, LeaseTTL time.Duration
	// TicketTimeout: older tickets are removed and their players told
	// (default 60s).
	TicketTimeout time.Duration
	// ScanLimit bounds the candidates examined per anchor ticket (default 64).
	ScanLimit int
	// BatchSize is the number of matches committed per round trip (default 256).
	BatchSize int
	// StatusInterval is the least time between two status notices of one
	// ticket while its status stays the same (default 5s); a change of
	// status is told at the next round.
	StatusInterval time.Duration
	// Now is the clock (default time.Now); Logger (default slog.Default()).
	Now    func() time.Time
	Logger *slog.Logger
}

// Matcher works one queue: while it holds the queue's lease it forms matches,
// commits them (placement + reservations, fenced) and notifies players. Run
// it on one goroutine per node; the lease makes one active cluster-wide.
// Run and RunOnce must not be called concurrently on one Matcher.
type Matcher struct {
	b     Backend
	cfg   MatcherConfig
	lease Lease
	// told is the last status notice sent per waiting ticket (only tickets
	// that were ever WAITING_FOR_CAPACITY; pruned every round).
	told map[string]toldStatus
}

type toldStatus struct {
	status TicketStatus
	at     time.Time
}

// NewMatcher returns a matcher for cfg.Queue.
func NewMatcher(b Backend, cfg MatcherConfig) *Matcher {
	if cfg.MatchSize <= 0 {
		cfg.MatchSize = 2
	}
	if cfg.RoomType == "" {
		cfg.RoomType = cfg.Queue
	}
	if cfg.RatingKey == "" {
		cfg.RatingKey = "rating"
	}
	if cfg.BaseWindow <= 0 {
		cfg.BaseWindow = 100
	}
	if cfg.WidenPerSecond < 0 {
		cfg.WidenPerSecond = 0
	} else if cfg.WidenPerSecond == 0 {
		cfg.WidenPerSecond = 50
	}
	if cfg.MaxWindow <= 0 {
		cfg.MaxWindow = 1000
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 250 * time.Millisecond
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 3 * time.Second
	}
	if cfg.TicketTimeout <= 0 {
		cfg.TicketTimeout = time.Minute
	}
	if cfg.ScanLimit <= 0 {
		cfg.ScanLimit = 64
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 256
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Matcher{b: b, cfg: cfg, told: map[string]toldStatus{}}
}

// Window returns the rating window of a ticket that has waited w.
func (m *Matcher) Window(w time.Duration) float64 {
	return min(m.cfg.BaseWindow+m.cfg.WidenPerSecond*max(w.Seconds(), 0), m.cfg.MaxWindow)
}

// Match is one committed match, as reported by RunOnce.
type Match struct {
	MatchResult
	Tickets []Ticket
	// Spread is max-min rating; Window the smallest window of its tickets.
	Spread, Window float64
}

// Round reports one RunOnce.
type Round struct {
	Leader   bool // this matcher held the lease
	Queued   int  // tickets read
	Matches  []Match
	TimedOut []Ticket
	// Failed counts planned matches that did not commit (tickets gone, no capacity).
	Failed int
	// Waiting lists tickets of matches that could not be placed for lack
	// of capacity (ErrNoCapacity); they stay queued.
	Waiting []Ticket
}

// Run does a round every Interval until ctx ends; then it releases the lease
// (so another node takes over at once) and returns ctx.Err(). Errors are
// logged; a matcher that is not the leader stays on standby.
func (m *Matcher) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := m.RunOnce(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, ErrLeaseLost) {
			m.cfg.Logger.Warn("matchmaker round failed", "queue", m.cfg.Queue, "err", err)
		}
		select {
		case <-ctx.Done():
			if m.lease.Fence != 0 {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
				_ = m.b.ReleaseLease(rctx, m.lease)
				cancel()
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}

// RunOnce acquires or renews the lease and, if it holds it, does one round:
// time out old tickets, form matches, commit them, notify players.
// ErrLeaseLost (wrapped) means another matcher is the leader.
func (m *Matcher) RunOnce(ctx context.Context) (Round, error) {
	var rd Round
	l, err := m.b.AcquireLease(ctx, m.cfg.Queue, m.cfg.Holder, m.cfg.LeaseTTL)
	if err != nil {
		m.lease = Lease{}
		return rd, err
	}
	m.lease, rd.Leader = l, true
	ts, err := m.b.Tickets(ctx, m.cfg.Queue)
	if err != nil {
		return rd, err
	}
	rd.Queued = len(ts)
	now := m.cfg.Now()
	live := ts[:0]
	var expired []string
	for _, t := range ts {
		if now.Sub(t.CreatedAt) >= m.cfg.TicketTimeout {
			rd.TimedOut = append(rd.TimedOut, t)
			expired = append(expired, t.ID)
		} else {
			live = append(live, t)
		}
	}
	var notices []Notice
	if len(expired) > 0 {
		if err := m.b.RemoveTickets(context.WithoutCancel(ctx), l, expired); err != nil {
			return rd, err
		}
		for _, t := range rd.TimedOut {
			for i, p := range t.Party {
				notices = append(notices, Notice{Kind: NoticeTimeout, Queue: t.Queue, TicketID: t.ID,
					UserID: p.UserID, Node: t.memberNode(i)})
			}
		}
	}
	plans, meta := m.Form(live, now)
	// Once a round commits, it finishes (commit, notify) even if ctx ends:
	// cancelling must not strand committed matches without notices.
	// Every backend call stays bounded by the backend's own timeout.
	ctx = context.WithoutCancel(ctx)
	var errLost error
	for i := 0; i < len(plans) && errLost == nil; i += m.cfg.BatchSize {
		j := min(i+m.cfg.BatchSize, len(plans))
		res, err := m.b.CommitMatches(ctx, l, plans[i:j])
		if err != nil && !errors.Is(err, ErrLeaseLost) {
			m.publish(ctx, notices)
			return rd, err
		}
		errLost = err
		for k, r := range res {
			if r.Err != nil {
				rd.Failed++
				if errors.Is(r.Err, ErrNoCapacity) {
					rd.Waiting = append(rd.Waiting, plans[i+k].Tickets...)
				}
				continue
			}
			p := plans[i+k]
			rd.Matches = append(rd.Matches, Match{MatchResult: r, Tickets: p.Tickets,
				Spread: meta[i+k][0], Window: meta[i+k][1]})
			n := 0
			for _, t := range p.Tickets {
				for pi, pm := range t.Party {
					rv := r.Reservations[n]
					n++
					notices = append(notices, Notice{Kind: NoticeMatched, Queue: t.Queue, TicketID: t.ID,
						UserID: pm.UserID, RoomID: rv.RoomID, RoomType: rv.RoomType, NodeID: rv.NodeID,
						NodeAddress: rv.NodeAddress, Token: rv.Token, ExpiresAt: rv.ExpiresAt, Node: t.memberNode(pi)})
				}
			}
		}
	}
	m.publish(ctx, notices)
	if errLost == nil {
		// Their own batch: a node that does not know status notices yet
		// (rolling upgrade) refuses the batch, not the matches.
		m.publish(ctx, m.statusNotices(live, rd, now))
	}
	return rd, errLost
}

// statusNotices returns the status notices of a round: a ticket whose
// match could not be placed (no capacity) is told WAITING_FOR_CAPACITY at
// once and again every StatusInterval while it lasts; a waiting ticket
// that is queued again without a match (its match fell apart) is told
// QUEUED, once. A ticket gets at most one status notice per
// StatusInterval (a change is told when the interval has passed, if it
// still holds). Tickets that never waited get nothing.
func (m *Matcher) statusNotices(live []Ticket, rd Round, now time.Time) []Notice {
	waiting := make(map[string]bool, len(rd.Waiting))
	for _, t := range rd.Waiting {
		waiting[t.ID] = true
	}
	gone := map[string]bool{}
	for _, mt := range rd.Matches {
		for _, t := range mt.Tickets {
			gone[t.ID] = true
		}
	}
	var out []Notice
	seen := make(map[string]bool, len(m.told))
	for _, t := range live {
		if gone[t.ID] {
			continue
		}
		prev, told := m.told[t.ID]
		st := StatusQueued
		if waiting[t.ID] {
			st = StatusWaitingForCapacity
		} else if !told {
			continue
		}
		seen[t.ID] = true
		if told && (now.Sub(prev.at) < m.cfg.StatusInterval || prev.status == st && st == StatusQueued) {
			continue // at most one notice per StatusInterval; QUEUED once
		}
		m.told[t.ID] = toldStatus{status: st, at: now}
		for i, p := range t.Party {
			out = append(out, Notice{Kind: NoticeStatus, Queue: t.Queue, TicketID: t.ID, UserID: p.UserID,
				Status: st, CreatedAt: t.CreatedAt, Node: t.memberNode(i)})
		}
	}
	for id := range m.told {
		if !seen[id] {
			delete(m.told, id) // matched, timed out or cancelled
		}
	}
	return out
}

func (m *Matcher) publish(ctx context.Context, notices []Notice) {
	// Matches are kept before they are published: the bus delivers at most
	// once, and a node that missed them (its subscription was reconnecting
	// through a failover) fetches them with TicketNotices.
	var matched []Notice
	for _, n := range notices {
		if n.Kind == NoticeMatched {
			matched = append(matched, n)
		}
	}
	if len(matched) > 0 {
		if err := m.b.KeepNotices(ctx, matched); err != nil {
			m.cfg.Logger.Warn("matchmaker could not keep notices", "notices", len(matched), "err", err)
		}
	}
	if err := PublishNotices(ctx, m.b, notices); err != nil {
		m.cfg.Logger.Warn("matchmaker notify failed", "notices", len(notices), "err", err)
	}
}

// PublishNotices publishes notices on b, one batch per destination node
// (Notice.Node; notices without one are skipped). It tries every node and
// returns their errors joined.
func PublishNotices(ctx context.Context, b Bus, ns []Notice) error {
	byNode := map[string][]Notice{}
	for _, n := range ns {
		if n.Node != "" {
			byNode[n.Node] = append(byNode[n.Node], n)
		}
	}
	var errs []error
	for node, batch := range byNode {
		if err := b.Publish(ctx, node, EncodeNotices(batch)); err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", node, err))
		}
	}
	return errors.Join(errs...)
}

func (m *Matcher) rating(t *Ticket) float64 { return t.NumericProps[m.cfg.RatingKey] }

func propsKey(p map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(p)) {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(p[k])
		b.WriteByte(0)
	}
	return b.String()
}

// Form groups tickets into match plans (pure, no I/O): tickets match only
// with equal StringProps; parties stay whole; each group has exactly
// MatchSize players and a rating spread within every member's window.
// Oldest tickets anchor first; candidates are taken nearest in rating first.
// meta[i] is {spread, window} of plans[i].
func (m *Matcher) Form(ts []Ticket, now time.Time) (plans []MatchPlan, meta [][2]float64) {
	groups := map[string][]int{}
	for i := range ts {
		k := propsKey(ts[i].StringProps)
		groups[k] = append(groups[k], i)
	}
	N := m.cfg.MatchSize
	used := make([]bool, len(ts))
	win := make([]float64, len(ts))
	for i := range ts {
		win[i] = m.Window(now.Sub(ts[i].CreatedAt))
	}
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		idx := groups[g]
		// byRating: positions sorted by rating; pos[ticket] = index in byRating.
		byRating := slices.Clone(idx)
		slices.SortFunc(byRating, func(a, b int) int {
			return cmp.Or(cmp.Compare(m.rating(&ts[a]), m.rating(&ts[b])), cmp.Compare(ts[a].ID, ts[b].ID))
		})
		pos := make(map[int]int, len(byRating))
		for p, i := range byRating {
			pos[i] = p
		}
		anchors := slices.Clone(idx)
		slices.SortFunc(anchors, func(a, b int) int {
			return cmp.Or(ts[a].CreatedAt.Compare(ts[b].CreatedAt), cmp.Compare(ts[a].ID, ts[b].ID))
		})
		pick := make([]int, 0, N)
		for _, a := range anchors {
			if used[a] || len(ts[a].Party) > N {
				continue
			}
			pick = append(pick[:0], a)
			need := N - len(ts[a].Party)
			lo, hi := m.rating(&ts[a]), m.rating(&ts[a])
			w := win[a]
			l, r := pos[a]-1, pos[a]+1
			for scanned := 0; need > 0 && scanned < m.cfg.ScanLimit && (l >= 0 || r < len(byRating)); scanned++ {
				// Take the nearer neighbour in rating.
				var c int
				ra := m.rating(&ts[a])
				if r >= len(byRating) || (l >= 0 && ra-m.rating(&ts[byRating[l]]) <= m.rating(&ts[byRating[r]])-ra) {
					c = byRating[l]
					l--
				} else {
					c = byRating[r]
					r++
				}
				rc := m.rating(&ts[c])
				if rc-ra > w || ra-rc > w {
					// Beyond the anchor's window on this side: stop that side.
					if rc < ra {
						l = -1
					} else {
						r = len(byRating)
					}
					continue
				}
				if used[c] || len(ts[c].Party) > need {
					continue
				}
				nlo, nhi, nw := min(lo, rc), max(hi, rc), min(w, win[c])
				if nhi-nlo > nw {
					continue
				}
				pick = append(pick, c)
				lo, hi, w = nlo, nhi, nw
				need -= len(ts[c].Party)
			}
			if need != 0 {
				continue
			}
			p := MatchPlan{RoomType: m.cfg.RoomType, MaxSeats: N,
				Metadata: mergeMeta(m.cfg.RoomMetadata, ts[a].StringProps)}
			for _, i := range pick {
				used[i] = true
				p.Tickets = append(p.Tickets, ts[i])
			}
			plans = append(plans, p)
			meta = append(meta, [2]float64{hi - lo, w})
		}
	}
	return plans, meta
}

// Notice kinds.
const (
	NoticeMatched = "matched"
	NoticeTimeout = "timeout"
	// NoticeStatus: the ticket is still queued; Status says how it stands.
	NoticeStatus = "status"
)

// TicketStatus is where a queued ticket stands (a status notice).
type TicketStatus string

// Ticket statuses.
const (
	// StatusQueued: waiting for players (told only after a wait for capacity).
	StatusQueued TicketStatus = "queued"
	// StatusWaitingForCapacity: a match is formed but no node has room for
	// it; the matcher tries again every round.
	StatusWaitingForCapacity TicketStatus = "waiting_for_capacity"
)

// Notice tells the node holding a player's connection that its ticket
// matched (with the reservation to send in Join.reservation), timed out, or
// (a status notice) still waits and why.
type Notice struct {
	Kind        string    `json:"kind"`
	Queue       string    `json:"queue"`
	TicketID    string    `json:"ticket"`
	UserID      string    `json:"user"`
	RoomID      string    `json:"room,omitempty"`
	RoomType    string    `json:"type,omitempty"`
	NodeID      string    `json:"node,omitempty"`
	NodeAddress string    `json:"addr,omitempty"`
	Token       string    `json:"token,omitempty"`
	ExpiresAt   time.Time `json:"exp,omitzero"`
	// Status and the ticket's CreatedAt, of a status notice.
	Status    TicketStatus `json:"status,omitempty"`
	CreatedAt time.Time    `json:"created,omitzero"`
	// Node is the node holding UserID's connection (the destination).
	Node string `json:"dest,omitempty"`
}

// groupNotices groups notices by ticket, keeping the tickets' first-seen order.
func groupNotices(ns []Notice) (map[string][]Notice, []string) {
	by := map[string][]Notice{}
	var order []string
	for _, n := range ns {
		if _, ok := by[n.TicketID]; !ok {
			order = append(order, n.TicketID)
		}
		by[n.TicketID] = append(by[n.TicketID], n)
	}
	return by, order
}

// noticesExpiry is when a group of kept notices may go: the latest
// reservation expiry among them, or now+ttl when none has one.
func noticesExpiry(ns []Notice, now time.Time, ttl time.Duration) time.Time {
	var t time.Time
	for _, n := range ns {
		if n.ExpiresAt.After(t) {
			t = n.ExpiresAt
		}
	}
	if t.IsZero() {
		t = now.Add(ttl)
	}
	return t
}

// noticeMagic starts every bus payload carrying notices, so the engine can
// share the bus with its own messages.
var noticeMagic = []byte("twmm1")

// ErrBadNotice: a bus payload is not a notice batch.
var ErrBadNotice = errors.New("cluster: payload is not a matchmaker notice batch")

// EncodeNotices encodes a batch of notices as one bus payload.
func EncodeNotices(ns []Notice) []byte {
	b, _ := json.Marshal(ns) // cannot fail: plain strings and times
	return append(slices.Clip(noticeMagic), b...)
}

// IsNotices reports whether a bus payload is a notice batch.
func IsNotices(payload []byte) bool { return bytes.HasPrefix(payload, noticeMagic) }

// DecodeNotices decodes a payload from EncodeNotices; ErrBadNotice otherwise.
func DecodeNotices(payload []byte) ([]Notice, error) {
	rest, ok := bytes.CutPrefix(payload, noticeMagic)
	if !ok {
		return nil, ErrBadNotice
	}
	var ns []Notice
	if err := json.Unmarshal(rest, &ns); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadNotice, err)
	}
	for _, n := range ns {
		if n.Kind != NoticeMatched && n.Kind != NoticeTimeout && n.Kind != NoticeStatus {
			return nil, fmt.Errorf("%w: kind %q", ErrBadNotice, n.Kind)
		}
	}
	return ns, nil
}

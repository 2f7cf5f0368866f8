package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestMatcherWaitsForCapacity: with room for one match of two, the second
// match stays queued and its players are told WAITING_FOR_CAPACITY (in a
// batch of their own); once the first match's reservations lapse, the
// second is placed and matched.
func TestMatcherWaitsForCapacity(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newFakeClock()
			b := im.new(t, Config{Now: clk.Now, NodeTTL: time.Hour, ReservationTTL: 10 * time.Second}, 1)[0]
			beat(t, b, NodeInfo{ID: "n", Capacity: 2})
			sub, err := b.Subscribe(ctx, "n")
			if err != nil {
				t.Fatal(err)
			}
			for i := range 4 {
				if err := b.AddTicket(ctx, Ticket{ID: fmt.Sprint("t", i), Queue: "q", NodeID: "n",
					CreatedAt: clk.Now().Add(time.Duration(i-10) * time.Second),
					Party:     []PartyMember{{UserID: fmt.Sprint("u", i)}}}); err != nil {
					t.Fatal(err)
				}
			}
			m := NewMatcher(b, MatcherConfig{Queue: "q", Holder: "h", MatchSize: 2, Now: clk.Now})
			rd, err := m.RunOnce(ctx)
			if err != nil || len(rd.Matches) != 1 || rd.Failed != 1 || len(rd.Waiting) != 2 {
				t.Fatalf("round: %+v %v", rd, err)
			}
			want := map[string]kindStatus{"u0": {NoticeMatched, ""}, "u1": {NoticeMatched, ""},
				"u2": {NoticeStatus, StatusWaitingForCapacity}, "u3": {NoticeStatus, StatusWaitingForCapacity}}
			for range 2 { // the matches' batch, then the statuses' batch
				ns, err := DecodeNotices(<-sub)
				if err != nil {
					t.Fatal(err)
				}
				kinds := map[string]bool{}
				for _, n := range ns {
					kinds[n.Kind] = true
					if w := want[n.UserID]; w.Kind != n.Kind || w.Status != n.Status {
						t.Fatalf("notice %+v, want %+v", n, w)
					}
					if n.Kind == NoticeStatus && n.CreatedAt.IsZero() {
						t.Fatalf("status notice without the ticket's age: %+v", n)
					}
					delete(want, n.UserID)
				}
				if len(kinds) != 1 {
					t.Fatalf("status and match notices share a batch: %+v", ns)
				}
			}
			clk.Advance(11 * time.Second) // the first match's reservations lapse
			rd, err = m.RunOnce(ctx)
			if err != nil || len(rd.Matches) != 1 || len(rd.Waiting) != 0 {
				t.Fatalf("round after capacity freed: %+v %v", rd, err)
			}
			ns, err := DecodeNotices(<-sub)
			if err != nil || len(ns) != 2 || ns[0].Kind != NoticeMatched || ns[0].TicketID != "t2" && ns[0].TicketID != "t3" {
				t.Fatalf("notices once capacity freed: %+v %v", ns, err)
			}
			if len(m.told) != 0 {
				t.Fatalf("status memory of matched tickets kept: %v", m.told)
			}
		})
	}
}

type kindStatus struct {
	Kind   string
	Status TicketStatus
}

// TestStatusNoticesRateLimit: one status notice per ticket per
// StatusInterval; a change of status waits for the interval; QUEUED is told
// once; tickets that never waited are told nothing.
func TestStatusNoticesRateLimit(t *testing.T) {
	m := NewMatcher(nil, MatcherConfig{Queue: "q", Holder: "h", StatusInterval: 5 * time.Second})
	t0 := time.Unix(1000, 0)
	tk := func(id string) Ticket {
		return Ticket{ID: id, Queue: "q", NodeID: "n", Party: []PartyMember{{UserID: "u" + id}, {UserID: "v" + id, NodeID: "m"}}}
	}
	a, b := tk("a"), tk("b")
	live := []Ticket{a, b}
	wait := func(ts ...Ticket) Round { return Round{Waiting: ts} }
	for _, tt := range []struct {
		at   time.Duration
		live []Ticket
		rd   Round
		want []TicketStatus // per party member of a, in order; b never waits
	}{
		{0, live, Round{}, nil},
		{time.Second, live, wait(a), []TicketStatus{StatusWaitingForCapacity, StatusWaitingForCapacity}},
		{2 * time.Second, live, wait(a), nil}, // within the interval
		{3 * time.Second, live, Round{}, nil}, // changed, but within the interval
		{6 * time.Second, live, Round{}, []TicketStatus{StatusQueued, StatusQueued}},
		{20 * time.Second, live, Round{}, nil}, // QUEUED once
		{21 * time.Second, live, wait(a), []TicketStatus{StatusWaitingForCapacity, StatusWaitingForCapacity}},
		{22 * time.Second, live, Round{}, nil},
		{24 * time.Second, live, wait(a), nil},
		{26 * time.Second, live, wait(a), []TicketStatus{StatusWaitingForCapacity, StatusWaitingForCapacity}},
		{27 * time.Second, []Ticket{b}, Round{}, nil}, // a matched elsewhere or cancelled: forgotten
	} {
		ns := m.statusNotices(tt.live, tt.rd, t0.Add(tt.at))
		if len(ns) != len(tt.want) {
			t.Fatalf("at %v: notices %+v, want %v", tt.at, ns, tt.want)
		}
		for i, n := range ns {
			if n.TicketID != "a" || n.Kind != NoticeStatus || n.Status != tt.want[i] {
				t.Fatalf("at %v: notice %+v, want %v", tt.at, n, tt.want[i])
			}
		}
		if len(ns) == 2 && (ns[0].Node != "n" || ns[1].Node != "m") {
			t.Fatalf("at %v: notices go to %q and %q, want the party members' nodes", tt.at, ns[0].Node, ns[1].Node)
		}
	}
	if len(m.told) != 0 {
		t.Fatalf("told %v after the ticket left the queue", m.told)
	}
}

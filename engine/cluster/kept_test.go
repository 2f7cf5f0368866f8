package cluster

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestKeptNotices: match notices kept by ticket are fetched by another
// client of the backend, grouped by ticket in the order asked, and go
// with their reservations' expiry.
func TestKeptNotices(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			bs := im.new(t, Config{}, 2)
			now := time.Now()
			live, gone := now.Add(time.Hour), now.Add(-time.Second)
			ns := []Notice{
				{Kind: NoticeMatched, TicketID: "t1", UserID: "u1", RoomID: "r1", Token: "k1", ExpiresAt: live, Node: "n1"},
				{Kind: NoticeMatched, TicketID: "t2", UserID: "u2", RoomID: "r1", Token: "k2", ExpiresAt: live, Node: "n2"},
				{Kind: NoticeMatched, TicketID: "t2", UserID: "u3", RoomID: "r1", Token: "k3", ExpiresAt: live, Node: "n1"},
				{Kind: NoticeMatched, TicketID: "t3", UserID: "u4", RoomID: "r2", Token: "k4", ExpiresAt: gone, Node: "n1"},
			}
			if err := bs[0].KeepNotices(ctx, ns); err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				name  string
				ask   []string
				users []string
			}{
				{"one ticket", []string{"t1"}, []string{"u1"}},
				{"party ticket keeps each member and its node", []string{"t2"}, []string{"u2", "u3"}},
				{"order of the question", []string{"t2", "t1"}, []string{"u2", "u3", "u1"}},
				{"expired and unknown tickets are skipped", []string{"t3", "nope", "t1"}, []string{"u1"}},
				{"nothing asked", nil, nil},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					got, err := bs[1].TicketNotices(ctx, tc.ask)
					if err != nil {
						t.Fatal(err)
					}
					var users []string
					for _, n := range got {
						users = append(users, n.UserID)
						want := ns[slices.IndexFunc(ns, func(m Notice) bool { return m.UserID == n.UserID })]
						if n.Token != want.Token || n.Node != want.Node || n.RoomID != want.RoomID || !n.ExpiresAt.Equal(want.ExpiresAt) {
							t.Errorf("notice %+v, want %+v", n, want)
						}
					}
					if !slices.Equal(users, tc.users) {
						t.Errorf("users %v, want %v", users, tc.users)
					}
				})
			}
		})
	}
}

// TestKeptNoticesBatches: more tickets than one MGET takes are all answered.
func TestKeptNoticesBatches(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			b := im.new(t, Config{}, 1)[0]
			exp := time.Now().Add(time.Hour)
			var ns []Notice
			var ids []string
			for i := range noticeBatch*2 + 3 {
				id := newID()
				ids = append(ids, id)
				if i%2 == 0 {
					ns = append(ns, Notice{Kind: NoticeMatched, TicketID: id, UserID: id, ExpiresAt: exp})
				}
			}
			if err := b.KeepNotices(ctx, ns); err != nil {
				t.Fatal(err)
			}
			got, err := b.TicketNotices(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(ns) {
				t.Fatalf("got %d notices, want %d", len(got), len(ns))
			}
		})
	}
}

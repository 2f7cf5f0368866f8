package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestJoinOrCreateScansPastFirstPage: the twelve fullest open rooms are on a
// suspect node, so the first candidates read do not decide; the join still
// finds the open room of the healthy node further down the index instead of
// placing a new room.
func TestJoinOrCreateScansPastFirstPage(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			b := im.new(t, Config{NodeTTL: time.Hour}, 1)[0]
			beat(t, b, NodeInfo{ID: "a"})
			beat(t, b, NodeInfo{ID: "b"})
			for i := range 12 {
				if err := b.PutRoom(ctx, RoomRecord{ID: fmt.Sprintf("a%02d", i), Type: "t", NodeID: "a", Seats: 5, MaxSeats: 8}); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.PutRoom(ctx, RoomRecord{ID: "b00", Type: "t", NodeID: "b", Seats: 1, MaxSeats: 8}); err != nil {
				t.Fatal(err)
			}
			if err := b.SuspectNode(ctx, "a", time.Minute); err != nil {
				t.Fatal(err)
			}
			res, err := b.JoinOrCreate(ctx, JoinRequest{RoomType: "t", UserID: "u", MaxSeats: 8})
			if err != nil {
				t.Fatal(err)
			}
			if res.RoomID != "b00" || res.Created {
				t.Fatalf("joined %s (created %v), want the open room b00 past the suspect node's rooms", res.RoomID, res.Created)
			}
		})
	}
}

//go:build unix

package engine

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/internal/roomrt"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/proto/wire"
)

// The room answers a join (Joined goes out) before the session records its
// room, so a drain can look at the session in between. Whichever of the
// two comes second, the player hears RoomClosing, and only once.
func TestDrainNewsReachesEveryPlayerOnce(t *testing.T) {
	for _, tc := range []struct {
		name       string
		drainFirst bool
	}{
		{"join recorded before the drain looked", false},
		{"join recorded after the drain looked", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rd := rawTestSession(t)
			e := s.e
			e.mu.Lock()
			e.sessions[s] = struct{}{}
			e.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r, err := e.rooms.Create(ctx, "r", roomrt.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := r.Join(ctx, roomrt.JoinRequest{UserID: "u", SessionID: s.id, Conn: s})
			if err != nil {
				t.Fatal(err)
			}
			closeAt := time.Now().Add(3 * time.Second)
			if tc.drainFirst {
				e.tellDrain(closeAt)
				s.joined(r, res, time.Now())
			} else {
				s.joined(r, res, time.Now())
				e.tellDrain(closeAt)
			}
			e.tellDrain(closeAt) // a second look tells nobody twice
			const marker = 77
			s.send(&tickwirev1.ServerMessage{RequestId: marker, Kind: &tickwirev1.ServerMessage_Pong{Pong: &tickwirev1.Pong{}}})

			var told []*tickwirev1.RoomClosing
			for {
				_, p, err := readWSFrame(rd)
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := wire.DecodeState(p); ok {
					continue
				}
				m := &tickwirev1.ServerMessage{}
				if err := proto.Unmarshal(p, m); err != nil {
					t.Fatal(err)
				}
				if rc := m.GetRoomClosing(); rc != nil {
					told = append(told, rc)
				}
				if m.RequestId == marker {
					break
				}
			}
			if len(told) != 1 {
				t.Fatalf("the player heard RoomClosing %d times, want once", len(told))
			}
			if told[0].RoomId != r.ID() || int64(told[0].CloseAtMs) != closeAt.UnixMilli() {
				t.Fatalf("RoomClosing %v, want room %s closing at %d", told[0], r.ID(), closeAt.UnixMilli())
			}
		})
	}
}

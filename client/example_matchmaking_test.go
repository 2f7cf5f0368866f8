package client_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// Two players queue a ticket each in a matchmaking queue of two; each
// gets its match through OnEvent and joins it with the reservation. While
// a ticket waits, OnMatchmakerStatus tells how it stands (e.g.
// WAITING_FOR_CAPACITY when every server is full); a ticket that times out
// arrives as an Error event with code ERROR_CODE_MATCHMAKING_TIMEOUT.
func Example_matchmaking() {
	// A node with a matchmaking queue of two.
	url, stop := startArena(engine.QueueConfig{Name: "arena", MatchSize: 2, Interval: 50 * time.Millisecond})
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var players []*client.Client
	var matches []chan *tickwirev1.MatchmakerMatched
	for _, name := range []string{"ada", "bob"} {
		matched := make(chan *tickwirev1.MatchmakerMatched, 1)
		c, err := client.Dial(ctx, url, client.Options{
			Name: name,
			OnEvent: func(m *tickwirev1.ServerMessage) {
				if mm := m.GetMatchmakerMatched(); mm.GetRoomId() != "" {
					matched <- mm
				}
				if er := m.GetError(); er.GetCode() == tickwirev1.ErrorCode_ERROR_CODE_MATCHMAKING_TIMEOUT {
					fmt.Println("no match for ticket", er.TicketId, "("+er.Message+")")
				}
			},
			OnMatchmakerStatus: func(s *tickwirev1.MatchmakerStatus) {
				if s.Status == tickwirev1.MatchmakerTicketStatus_MATCHMAKER_TICKET_STATUS_WAITING_FOR_CAPACITY {
					fmt.Printf("waiting for a free server… (%d s)\n", s.QueuedForMs/1000)
				}
			},
		})
		if err != nil {
			panic(err)
		}
		defer c.Close()
		if _, err := c.MatchmakerAdd(ctx, &tickwirev1.MatchmakerAdd{Queue: "arena"}); err != nil {
			panic(err)
		}
		players = append(players, c)
		matches = append(matches, matched)
	}
	rooms := map[string]bool{}
	for i, c := range players {
		select {
		case m := <-matches[i]:
			j, err := c.JoinWithReservation(ctx, m.Reservation)
			if err != nil {
				panic(err)
			}
			rooms[j.RoomId] = true
		case <-ctx.Done():
			panic("no match")
		}
	}
	fmt.Println("both players in one room:", len(rooms) == 1)
	// Output:
	// both players in one room: true
}

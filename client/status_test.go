package client

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickwire/tickwire/internal/wsframe"
	"github.com/tickwire/tickwire/internal/wsframe/wstest"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// TestOnMatchmakerStatus: MatchmakerStatus frames go to OnMatchmakerStatus
// when it is set, to OnEvent otherwise; other events stay on OnEvent.
func TestOnMatchmakerStatus(t *testing.T) {
	frames := []*tickwirev1.ServerMessage{
		{Kind: &tickwirev1.ServerMessage_MatchmakerStatus{MatchmakerStatus: &tickwirev1.MatchmakerStatus{
			TicketId: "t1", Status: tickwirev1.MatchmakerTicketStatus_MATCHMAKER_TICKET_STATUS_WAITING_FOR_CAPACITY,
			Queue: "q", QueuedForMs: 1500, TimeoutMs: 60000}}},
		{Kind: &tickwirev1.ServerMessage_MatchmakerMatched{MatchmakerMatched: &tickwirev1.MatchmakerMatched{TicketId: "t1", RoomId: "r"}}},
	}
	srv, err := wstest.NewServer(func(c *wstest.ServerConn) {
		op, hello, err := c.ReadFrame()
		if err != nil || op != wsframe.OpBinary {
			return
		}
		var m tickwirev1.ClientMessage
		_ = proto.Unmarshal(hello, &m)
		w, _ := proto.Marshal(&tickwirev1.ServerMessage{RequestId: m.RequestId, Kind: &tickwirev1.ServerMessage_Welcome{Welcome: &tickwirev1.Welcome{SessionId: "s"}}})
		_ = c.WriteMessage(wsframe.OpBinary, w)
		for _, f := range frames {
			b, _ := proto.Marshal(f)
			_ = c.WriteMessage(wsframe.OpBinary, b)
		}
		_, _, _ = c.ReadFrame() // until the client closes
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, typed := range []bool{true, false} {
		statuses := make(chan *tickwirev1.MatchmakerStatus, 2)
		events := make(chan *tickwirev1.ServerMessage, 4)
		opts := Options{OnEvent: func(m *tickwirev1.ServerMessage) { events <- m }}
		if typed {
			opts.OnMatchmakerStatus = func(s *tickwirev1.MatchmakerStatus) { statuses <- s }
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := Dial(ctx, srv.URL(), opts)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		var st *tickwirev1.MatchmakerStatus
		if typed {
			select {
			case st = <-statuses:
			case <-ctx.Done():
				t.Fatal("no status")
			}
		}
		for st == nil || len(events) == 0 {
			select {
			case m := <-events:
				if s := m.GetMatchmakerStatus(); s != nil {
					if typed {
						t.Fatal("status delivered to OnEvent too")
					}
					st = s
					continue
				}
				if m.GetMatchmakerMatched().GetRoomId() != "r" {
					t.Fatalf("event %v", m)
				}
				events <- m
			case <-ctx.Done():
				t.Fatal("events missing")
			}
		}
		if st.TicketId != "t1" || st.Status != tickwirev1.MatchmakerTicketStatus_MATCHMAKER_TICKET_STATUS_WAITING_FOR_CAPACITY || st.QueuedForMs != 1500 {
			t.Fatalf("status %v", st)
		}
		_ = c.Close()
		cancel()
	}
}

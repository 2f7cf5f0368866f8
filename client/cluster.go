package client

import (
	"context"
	"fmt"

	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// MatchmakerAdd queues a matchmaking ticket for this session and its party
// (session ids of other clients, from their Welcome.SessionId, on any node)
// and returns the ticket id once the server acknowledged it. The match
// arrives later through Options.OnEvent as a ServerMessage whose
// MatchmakerMatched has a room id and a reservation to pass to
// JoinWithReservation; a ticket that times out arrives as an Error event.
func (c *Client) MatchmakerAdd(ctx context.Context, m *tickwirev1.MatchmakerAdd) (string, error) {
	rep, err := c.request(ctx, &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_MatchmakerAdd{MatchmakerAdd: m}})
	if err != nil {
		return "", err
	}
	mm := rep.GetMatchmakerMatched()
	if mm == nil {
		return "", fmt.Errorf("client: unexpected reply to MatchmakerAdd: %v", rep)
	}
	return mm.TicketId, nil
}

// MatchmakerCancel withdraws a ticket queued by this session.
func (c *Client) MatchmakerCancel(ctx context.Context, ticketID string) error {
	_, err := c.request(ctx, &tickwirev1.ClientMessage{Kind: &tickwirev1.ClientMessage_MatchmakerCancel{MatchmakerCancel: &tickwirev1.MatchmakerCancel{TicketId: ticketID}}})
	return err
}

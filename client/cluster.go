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
// JoinWithReservation. While the ticket waits, MatchmakerStatus frames say
// how it stands (Options.OnMatchmakerStatus, else OnEvent): status
// WAITING_FOR_CAPACITY when its match is formed but no server has a free
// seat yet. A ticket that finds no match in its queue's timeout arrives as
// an Error event with code ERROR_CODE_MATCHMAKING_TIMEOUT and its ticket
// id in Error.TicketId (the ticket is gone; add a new one to go on).
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

package cluster

import (
	"fmt"
	"time"
)

// PartyMember is one player of a ticket's party.
type PartyMember struct {
	UserID string
	// NodeID holds the player's connection; "" means the ticket's NodeID.
	NodeID string
}

// Ticket is a matchmaking request for a party that stays together.
type Ticket struct {
	ID    string // set by AddTicket when empty
	Queue string
	// NodeID is the node that holds the party's connections; match and
	// timeout notices are published to it (and to members' own NodeIDs).
	NodeID string
	// Party has 1..k members (including the one who queued).
	Party []PartyMember
	// StringProps (e.g. mode, region) must be equal across a match.
	StringProps map[string]string
	// NumericProps holds the rating (MatcherConfig.RatingKey).
	NumericProps map[string]float64
	CreatedAt    time.Time // set by AddTicket when zero
}

func (t Ticket) memberNode(i int) string {
	if n := t.Party[i].NodeID; n != "" {
		return n
	}
	return t.NodeID
}

func (t Ticket) validate() error {
	if t.Queue == "" || t.ID == "" || len(t.Party) == 0 {
		return fmt.Errorf("%w: ticket needs queue, id and 1..k party members", ErrInvalidArgument)
	}
	for _, p := range t.Party {
		if p.UserID == "" {
			return fmt.Errorf("%w: party member without user id", ErrInvalidArgument)
		}
	}
	return nil
}

// Lease is a matcher's hold on a queue. Fence grows with every new holder;
// commits with an older fence are refused.
type Lease struct {
	Queue, Holder string
	Fence         int64
	// Expires is when the lease lapses unless renewed (holder's clock).
	Expires time.Time
}

// MatchPlan is a match the matcher wants to commit.
type MatchPlan struct {
	RoomType string
	MaxSeats int
	Metadata map[string]string
	Tickets  []Ticket
}

// MatchResult is the outcome of one committed plan.
type MatchResult struct {
	RoomID, NodeID, NodeAddress string
	// Reservations, one per party member, in ticket then party order.
	Reservations []Reservation
	// Err: ErrLeaseLost, ErrTicketNotFound (some ticket was cancelled or
	// matched), ErrNoCapacity, or ErrUnavailable. Nothing was committed.
	Err error
}

func validJoin(req JoinRequest) error {
	if req.RoomType == "" || req.UserID == "" || req.MaxSeats <= 0 {
		return fmt.Errorf("%w: join needs room type, user id and max seats > 0", ErrInvalidArgument)
	}
	return nil
}

// loadOf is the placement score: lower is less loaded.
func loadOf(players, reserved, capacity int) float64 {
	if capacity <= 0 {
		return float64(players+reserved) / 1e9
	}
	return float64(players+reserved) / float64(capacity)
}

func mergeMeta(a, b map[string]string) map[string]string {
	if len(a)+len(b) == 0 {
		return nil
	}
	m := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

package engine

// OwedRemovals returns the directory room removals this node still owes
// the backend (tests).
func OwedRemovals(e *Engine) int { return e.cl.removals.count() }

// SeatsInTransit returns the players admitted by a Consume and not yet in
// their room (tests).
func SeatsInTransit(e *Engine) int { return e.cl.ledger.inTransit() }

// Sessions returns the node's open sessions (tests).
func Sessions(e *Engine) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.sessions)
}

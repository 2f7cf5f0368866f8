package room

import "github.com/tickwire/tickwire/internal/roomrt"

// Clock is the time source of rooms' tick loops: the system clock in
// servers, a manual one in tests (tickwiretest.NewClock), where ticks run
// only when the test advances it.
type Clock = roomrt.Clock

// Timer is a Clock's timer.
type Timer = roomrt.Timer

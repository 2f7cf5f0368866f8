package tickwiretest

import (
	"time"

	"github.com/tickwire/tickwire/internal/roomrt"
	"github.com/tickwire/tickwire/room"
)

// Clock is a room.Clock that moves only when Advance is called: give it to
// engine.Config.Clock and rooms tick only when the test advances it. It is
// safe for concurrent use.
type Clock struct{ m *roomrt.ManualClock }

// NewClock returns a Clock set to start.
func NewClock(start time.Time) *Clock { return &Clock{m: roomrt.NewManualClock(start)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return c.m.Now() }

// NewTimer returns a timer that fires when the clock reaches Now()+d.
func (c *Clock) NewTimer(d time.Duration) room.Timer { return c.m.NewTimer(d) }

// Advance moves the clock forward by d and fires every timer that is due.
func (c *Clock) Advance(d time.Duration) { c.m.Advance(d) }

// Timers returns how many timers are armed: a room's tick loop arms one
// once it runs, so a test waits for it before advancing.
func (c *Clock) Timers() int { return c.m.Timers() }

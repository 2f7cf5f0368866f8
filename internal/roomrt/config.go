package roomrt

import "time"

// Config is package room's Config (converted field by field in
// room.Define, so the two cannot drift apart); its documentation is there.
type Config struct {
	TickRate         int
	SendRate         int
	MaxPlayers       int
	DisposeAfter     time.Duration
	MailboxSize      int
	MaxInputsPerTick int
	InputBuffer      int
	History          int
	MaxCatchUp       int
	ReconnectGrace   time.Duration
	NoState          bool
	InterestField    string
	// ParallelIOPlayers: 0 is defaultParallelIOPlayers, negative is off.
	ParallelIOPlayers int
}

func (c Config) withDefaults() Config {
	if c.TickRate <= 0 {
		c.TickRate = 20
	}
	if c.TickRate > 1000 {
		c.TickRate = 1000
	}
	if c.SendRate <= 0 || c.SendRate > c.TickRate {
		c.SendRate = c.TickRate
	}
	if c.MaxPlayers <= 0 {
		c.MaxPlayers = 16
	}
	if c.DisposeAfter == 0 {
		c.DisposeAfter = 30 * time.Second
	}
	if c.MailboxSize <= 0 {
		c.MailboxSize = 64 * c.MaxPlayers
	}
	if c.MaxInputsPerTick <= 0 {
		c.MaxInputsPerTick = 3
	}
	if c.InputBuffer <= 0 {
		c.InputBuffer = 16
	}
	if c.History <= 0 {
		c.History = defaultHistorySends * max(1, c.TickRate/c.SendRate)
	}
	if c.ReconnectGrace == 0 {
		c.ReconnectGrace = 10 * time.Second
	}
	if c.MaxCatchUp <= 0 {
		c.MaxCatchUp = 10
	}
	if c.ParallelIOPlayers == 0 {
		c.ParallelIOPlayers = defaultParallelIOPlayers
	}
	return c
}

// defaultHistorySends is Config.History's default in send intervals.
const defaultHistorySends = 4

func interval(rate int) time.Duration { return time.Second / time.Duration(rate) }

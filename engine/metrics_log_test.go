package engine_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/room"
)

// A drain logs one INFO line when it starts and one when it ends, with
// what it had to drain; joins and leaves stay below INFO.
func TestDrainLogsAtInfoWithCounts(t *testing.T) {
	var out syncBuffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := start(t, engine.Config{Logger: log, DrainTimeout: 50 * time.Millisecond}, room.Config{})
	a := dial(t, s, nil)
	if _, err := a.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	s.cancel()
	eventually(t, "node stopped", func() bool { return strings.Contains(out.String(), `msg="tickwire node stopped"`) })
	lines := out.String()
	for msg, attrs := range map[string][]string{
		"tickwire node draining": {"rooms=1", "players=1", "connections=1", "timeout=50ms"},
		"tickwire node stopped":  {"rooms=1", "connections_closed=1", "took="},
	} {
		var line string
		for l := range strings.Lines(lines) {
			if strings.Contains(l, `level=INFO msg="`+msg+`"`) {
				line = l
			}
		}
		for _, a := range attrs {
			if !strings.Contains(line, " "+a) {
				t.Errorf("%s: no %s in %q", msg, a, line)
			}
		}
	}
	if strings.Contains(lines, "player joined") || strings.Contains(lines, "player left") {
		t.Errorf("joins or leaves logged at INFO:\n%s", lines)
	}
}

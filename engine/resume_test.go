package engine_test

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/engine/internal/redistest"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
	"github.com/tickwire/tickwire/room"
)

func hostOf(t *testing.T, wsURL string) string {
	u, err := url.Parse(wsURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// playersIn counts the players (connected or in grace) of the node's room.
func playersIn(s *server, roomID string) int {
	in, _ := s.e.Room(roomID)
	return in.Players
}

func TestResumeAfterConnectionLoss(t *testing.T) {
	for _, tt := range []struct {
		name string
		drop func(p *faultProxy, c *client.Client)
	}{
		{"reset", func(p *faultProxy, _ *client.Client) { p.Reset() }},
		{"close frame without Leave", func(_ *faultProxy, c *client.Client) { _ = c.Close() }},
		// A silent drop: the server still holds the old connection (a
		// ghost) when the new one resumes.
		{"silent drop", func(p *faultProxy, _ *client.Client) { p.Blackhole() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, engine.Config{}, room.Config{TickRate: 50})
			proxy := newFaultProxy(t, hostOf(t, s.url))
			rb := &recorder{}
			b := dial(t, s, rb)
			ctx := ctx5(t)
			a, err := client.Dial(ctx, proxy.URL(), client.Options{Name: "ada"})
			if err != nil {
				t.Fatal(err)
			}
			ja, err := a.JoinOrCreate(ctx, "sum", client.JoinOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if ja.ResumeToken == "" || ja.ReconnectGraceMs != 10_000 {
				t.Fatalf("Joined without resume token or with grace %d ms", ja.ReconnectGraceMs)
			}
			if _, err := b.JoinByID(ctx, ja.RoomId, client.JoinOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{"ab", "cde"} {
				if _, err := a.SendInput(payload(p)); err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, "inputs applied", func() bool {
				st, _, last, ok := rb.states.Latest()
				return ok && last == 0 && st.Fields["n"].GetNumberValue() == 5
			})

			tt.drop(proxy, a)
			if tt.name != "silent drop" {
				eventually(t, "B hears A's connection is gone", func() bool {
					return rb.find(func(m *tickwirev1.ServerMessage) bool {
						pc := m.GetPlayerConnection()
						return pc != nil && pc.PlayerId == ja.PlayerId && !pc.Connected
					}) != nil
				})
			}
			if n := playersIn(s, ja.RoomId); n != 2 {
				t.Fatalf("%d players in the room during the grace, want 2 (the seat is kept)", n)
			}

			// A new connection resumes the seat.
			rc := &recorder{}
			c := dial(t, s, rc)
			j, err := c.Resume(ctx, ja.ResumeToken)
			if err != nil {
				t.Fatal(err)
			}
			if !j.Resumed || j.PlayerId != ja.PlayerId || j.LastInputSeq != 2 || j.ResumeToken == "" || j.ResumeToken == ja.ResumeToken {
				t.Fatalf("resume reply %+v", j)
			}
			if n := playersIn(s, ja.RoomId); n != 2 {
				t.Fatalf("%d players after the resume, want 2: one person is never two players", n)
			}
			// Inputs continue the sequence; the first state is a full one
			// with the last processed input.
			if _, err := c.SendInput(payload("f")); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the resumed input applied", func() bool {
				st, _, last, ok := rc.states.Latest()
				return ok && last == 3 && st.Fields["n"].GetNumberValue() == 6
			})
			if errs := rc.errs; len(errs) != 0 {
				t.Fatalf("state errors after the resume: %v (the first state must be a full snapshot)", errs)
			}
			// The old token is spent.
			d := dial(t, s, nil)
			if _, err := d.Resume(ctx, ja.ResumeToken); !isResumeRefused(err, "used") {
				t.Fatalf("reused token: %v, want RESUME_REFUSED used", err)
			}
			if got := metricValue(t, s, "tickwire_resumes_total"); got != 1 {
				t.Fatalf("tickwire_resumes_total = %v", got)
			}
		})
	}
}

func isResumeRefused(err error, reason string) bool {
	var se *client.ServerError
	return errors.As(err, &se) && se.Code == tickwirev1.ErrorCode_ERROR_CODE_RESUME_REFUSED && se.Message == reason
}

func TestResumeTokenRefusals(t *testing.T) {
	s := start(t, engine.Config{}, room.Config{TickRate: 50, ReconnectGrace: 200 * time.Millisecond})
	ctx := ctx5(t)
	a := dial(t, s, nil)
	ja, err := a.JoinOrCreate(ctx, "sum", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok := ja.ResumeToken
	i := strings.LastIndexByte(tok, '.')
	for _, tt := range []struct{ name, token, reason string }{
		{"forged signature", tok[:i+1] + "AAAAAAAAAAAAAAAAAAAAAA", "invalid"},
		{"tampered player", strings.Replace(tok, "."+itoa(ja.PlayerId)+".", ".99.", 1), "invalid"},
		{"garbage", "not a token", "invalid"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, s, nil)
			if _, err := c.Resume(ctx, tt.token); !isResumeRefused(err, tt.reason) {
				t.Fatalf("Resume = %v, want RESUME_REFUSED %s", err, tt.reason)
			}
		})
	}
	// The grace ends: the seat is gone, the player left as disconnected.
	rb := &recorder{}
	b := dial(t, s, rb)
	if _, err := b.JoinByID(ctx, ja.RoomId, client.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
	eventually(t, "A left when its grace ended", func() bool {
		return rb.find(func(m *tickwirev1.ServerMessage) bool {
			pl := m.GetPlayerLeft()
			return pl != nil && pl.PlayerId == ja.PlayerId && pl.Reason == tickwirev1.LeaveReason_LEAVE_REASON_DISCONNECTED
		}) != nil
	})
	c := dial(t, s, nil)
	if _, err := c.Resume(ctx, tok); !isResumeRefused(err, "seat gone") {
		t.Fatalf("resume after the grace: %v, want RESUME_REFUSED seat gone", err)
	}
	if got := metricValue(t, s, `tickwire_resume_failures_total{reason="invalid"}`); got != 3 {
		t.Fatalf("invalid resumes counted %v, want 3", got)
	}
}

func TestResumeTokenExpires(t *testing.T) {
	s := start(t, engine.Config{ResumeTokenTTL: time.Nanosecond}, room.Config{TickRate: 50})
	ctx := ctx5(t)
	a := dial(t, s, nil)
	ja, err := a.JoinOrCreate(ctx, "sum", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
	c := dial(t, s, nil)
	if _, err := c.Resume(ctx, ja.ResumeToken); !isResumeRefused(err, "expired") {
		t.Fatalf("expired token: %v", err)
	}
}

func TestNoGraceLeavesAtOnce(t *testing.T) {
	s := start(t, engine.Config{}, room.Config{TickRate: 50, ReconnectGrace: -1})
	ctx := ctx5(t)
	a := dial(t, s, nil)
	ja, err := a.JoinOrCreate(ctx, "sum", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ja.ResumeToken != "" || ja.ReconnectGraceMs != 0 {
		t.Fatalf("a room without grace issued token %q, grace %d", ja.ResumeToken, ja.ReconnectGraceMs)
	}
	_ = a.Close()
	eventually(t, "A gone", func() bool { return playersIn(s, ja.RoomId) == 0 })
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// A resume that reaches a node that does not own the room is relayed to
// the owner, and a token spent through one node is spent on every node.
func TestResumeThroughAnotherNode(t *testing.T) {
	rs := redistest.Start(t)
	nodes := startCluster(t, rs.Addr(), 2, room.Config{TickRate: 50})
	ctx := ctx5(t)
	owner := dial(t, nodes[1], nil)
	jo, err := owner.Create(ctx, "sum", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Ada enters through node 1 (a proxy the test controls) and is relayed
	// to node 2, which owns the room.
	proxy := newFaultProxy(t, hostOf(t, nodes[0].url))
	back := make(chan *tickwirev1.Joined, 1)
	a, err := client.Dial(ctx, proxy.URL(), client.Options{OnReconnected: func(j *tickwirev1.Joined) { back <- j }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	ja, err := a.JoinByID(ctx, jo.RoomId, client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	proxy.Reset()
	var j *tickwirev1.Joined
	select {
	case j = <-back:
	case <-time.After(10 * time.Second):
		t.Fatalf("no resume through node 1 (err %v)", a.Err())
	}
	if !j.Resumed || j.PlayerId != ja.PlayerId {
		t.Fatalf("resumed as %+v, want player %d", j, ja.PlayerId)
	}
	if n := playersIn(nodes[1], jo.RoomId); n != 2 {
		t.Fatalf("%d players in the room, want 2", n)
	}
	// The first token was spent through node 1: node 2 refuses it, and so
	// does node 1 again.
	for i, n := range nodes {
		c := dial(t, n, nil)
		if _, err := c.Resume(ctx, ja.ResumeToken); !isResumeRefused(err, "used") {
			t.Fatalf("the spent token on node %d: %v, want RESUME_REFUSED used", i+1, err)
		}
	}
}

package engine

import (
	"net/http"
	"testing"
	"time"
)

// rates turns a room's byte totals into per-second rates against a sample
// one to two seconds old, and survives totals that drop (a player left).
func TestMonitorRates(t *testing.T) {
	m := newMonitor()
	t0 := time.Unix(1000, 0)
	for i, step := range []struct {
		at      time.Duration
		out, in uint64
		wantOut float64
		wantIn  float64
	}{
		{0, 1000, 100, 0, 0},                            // first sight: no rate yet
		{100 * time.Millisecond, 1100, 110, 0, 0},       // too soon to tell
		{time.Second, 3000, 300, 2000, 200},             // against t0
		{1500 * time.Millisecond, 4000, 400, 2000, 200}, // against t0 (1.5 s)
		{2 * time.Second, 5000, 500, 2000, 200},         // sample moves on: against 1 s
		{2500 * time.Millisecond, 1000, 50, 2000, 200},  // a player left: last rates
		{3500 * time.Millisecond, 2000, 150, 1000, 100}, // from the drop on
	} {
		out, in := m.rates("r", t0.Add(step.at), step.out, step.in)
		if out != step.wantOut || in != step.wantIn {
			t.Errorf("step %d: rates %g, %g; want %g, %g", i, out, in, step.wantOut, step.wantIn)
		}
	}
	m.prune(t0.Add(2 * time.Minute))
	if len(m.samples) != 0 {
		t.Error("prune kept a room not seen for a minute")
	}
}

// Bus messages: signed with the cluster secret, expiring, a request or a
// reply; anything else is refused.
func TestAdminBusCodec(t *testing.T) {
	e := &Engine{cl: &clusterLink{secret: []byte("k")}}
	other := &Engine{cl: &clusterLink{secret: []byte("other")}}
	now := time.Unix(1000, 0)
	req := adminBusMsg{ID: "1", From: "n1", Exp: now.Add(time.Second).UnixMilli(), Op: &adminOp{Op: opKick, Room: "r", Player: 2}}
	p, err := e.encodeAdmin(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.decodeAdmin(p, now)
	if err != nil || got.Op == nil || got.Op.Player != 2 || got.Op.Room != "r" {
		t.Fatalf("decode: %+v, %v", got, err)
	}
	if _, err := other.decodeAdmin(p, now); err == nil {
		t.Error("a message signed with another secret was accepted")
	}
	if _, err := e.decodeAdmin(p, now.Add(2*time.Second)); err == nil {
		t.Error("an expired message was accepted")
	}
	tampered := append([]byte(nil), p...)
	tampered[len(tampered)-3] ^= 1
	if _, err := e.decodeAdmin(tampered, now); err == nil {
		t.Error("a tampered message was accepted")
	}
	both, _ := e.encodeAdmin(adminBusMsg{ID: "1", From: "n1", Exp: req.Exp, Op: req.Op, Res: &adminResult{Status: http.StatusOK}})
	for name, p := range map[string][]byte{"short": []byte("twadm1x"), "empty": nil, "request and reply": both} {
		if _, err := e.decodeAdmin(p, now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzAdminBusDecode feeds decodeAdmin arbitrary payloads, and arbitrary
// bodies correctly signed (what a node of the cluster could send).
func FuzzAdminBusDecode(f *testing.F) {
	e := &Engine{cl: &clusterLink{secret: []byte("k")}}
	f.Add([]byte(`{"id":"1","from":"n1","exp":1125899906842624,"op":{"op":"stats","rooms":["a"]}}`))
	f.Add([]byte(`{"id":"1","from":"n1","exp":1125899906842624,"res":{"status":200,"body":{"ok":true}}}`))
	f.Add([]byte("twadm1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = e.decodeAdmin(b, time.Unix(0, 0))
		signed := append(append(append([]byte(nil), adminBusMagic...), e.adminMAC(b)...), b...)
		msg, err := e.decodeAdmin(signed, time.Unix(0, 0))
		if err == nil && (msg.Op == nil) == (msg.Res == nil) {
			t.Fatalf("accepted a message that is not exactly one of request and reply: %s", b)
		}
	})
}

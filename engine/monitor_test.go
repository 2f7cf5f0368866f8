package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
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

const adminToken = "s3cret-admin-token"

// adminCall sends a monitor API request to h and returns the status and
// the body.
func adminCall(t *testing.T, h http.Handler, method, path, token, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rw := httptest.NewRecorder()
	h.ServeHTTP(rw, req)
	return rw.Code, rw.Body.String()
}

// adminGet decodes a 200 answer of GET path into v.
func adminGet(t *testing.T, h http.Handler, path string, v any) {
	t.Helper()
	code, body := adminCall(t, h, "GET", path, adminToken, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

func adminPost(t *testing.T, h http.Handler, path, body string) {
	t.Helper()
	if code, out := adminCall(t, h, "POST", path, adminToken, body); code != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, code, out)
	}
}

type monRoom struct {
	ID, Type, Node      string
	Players, MaxPlayers int
	Locked, Private     bool
	Live                bool
	TickRate            int
	TickLateMaxMs       float64
	BytesOutPerSec      float64
	PlayerList          []struct {
		ID          uint32
		Name        string
		Connected   bool
		GraceLeftMs int64
		BytesOut    uint64
	}
}

type monList struct {
	Node        string
	Clustered   bool
	Rooms       []monRoom
	Total       int
	Unreachable []string
}

func metricLine(t *testing.T, e *engine.Engine, prefix string) string {
	t.Helper()
	var b bytes.Buffer
	if err := e.Metrics().WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// The monitor's API answers only with the admin token: off (403) without
// one configured, 401 (counted) for a missing or wrong one. The page's
// static files need no token; the operators' other endpoints never do.
func TestMonitorAuth(t *testing.T) {
	off := start(t, engine.Config{}, room.Config{}).e.AdminHandler()
	on := start(t, engine.Config{AdminToken: adminToken}, room.Config{})
	h := on.e.AdminHandler()
	for _, tc := range []struct {
		name, method, path, token string
		h                         http.Handler
		want                      int
	}{
		{"no token configured: API", "GET", "/monitor/api/rooms", adminToken, off, http.StatusForbidden},
		{"no token configured: action", "POST", "/monitor/api/rooms/x/dispose", adminToken, off, http.StatusForbidden},
		{"no token configured: page", "GET", "/monitor/", "", off, http.StatusForbidden},
		{"missing", "GET", "/monitor/api/rooms", "", h, http.StatusUnauthorized},
		{"missing, action", "POST", "/monitor/api/rooms/x/lock", "", h, http.StatusUnauthorized},
		{"wrong", "GET", "/monitor/api/rooms", "not-the-token", h, http.StatusUnauthorized},
		{"wrong prefix", "GET", "/monitor/api/rooms", adminToken + "x", h, http.StatusUnauthorized},
		{"right", "GET", "/monitor/api/rooms", adminToken, h, http.StatusOK},
		{"page (static, no data)", "GET", "/monitor/", "", h, http.StatusOK},
		{"script", "GET", "/monitor/monitor.js", "", h, http.StatusOK},
		{"metrics stay open", "GET", "/metrics", "", h, http.StatusOK},
		{"rooms stay open", "GET", "/rooms", "", h, http.StatusOK},
		{"cluster rooms stay open", "GET", "/cluster/rooms", "", h, http.StatusOK},
		{"healthz stays open", "GET", "/healthz", "", h, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := adminCall(t, tc.h, tc.method, tc.path, tc.token, "")
			if code != tc.want {
				t.Fatalf("%s %s: %d, want %d: %s", tc.method, tc.path, code, tc.want, body)
			}
			if code == http.StatusForbidden && !strings.Contains(body, "AdminToken") {
				t.Errorf("403 does not say how to turn the monitor on: %s", body)
			}
		})
	}
	// A Basic or other scheme is not a bearer token.
	req := httptest.NewRequest("GET", "/monitor/api/rooms", nil)
	req.Header.Set("Authorization", "Basic "+adminToken)
	rw := httptest.NewRecorder()
	h.ServeHTTP(rw, req)
	if rw.Code != http.StatusUnauthorized {
		t.Errorf("Basic scheme: %d, want 401", rw.Code)
	}
	if got, want := metricLine(t, on.e, "tickwire_admin_auth_failures_total"), "tickwire_admin_auth_failures_total 5"; got != want {
		t.Errorf("metric %q, want %q", got, want)
	}
}

// Every action on one node: the room and its players are listed, a kick
// tells the player why and closes it with 4006, a locked room is skipped by
// join-or-create, dispose closes the room with its players told; each
// action is logged at info and counted.
func TestMonitorActions(t *testing.T) {
	logs := &syncBuffer{}
	s := start(t, engine.Config{AdminToken: adminToken, Logger: slog.New(slog.NewTextHandler(logs, nil))}, room.Config{TickRate: 20, MaxPlayers: 4})
	h := s.e.AdminHandler()
	ra, rb := &recorder{}, &recorder{}
	a, b := dial(t, s, ra), dial(t, s, rb)
	ja, err := a.Create(ctx5(t), "sum", client.JoinOptions{Filter: map[string]string{"mode": "duel"}})
	if err != nil {
		t.Fatal(err)
	}
	id := ja.RoomId
	if _, err := b.JoinByID(ctx5(t), id, client.JoinOptions{}); err != nil {
		t.Fatal(err)
	}

	var list monList
	adminGet(t, h, "/monitor/api/rooms", &list)
	if list.Clustered || list.Node != s.e.NodeID() || len(list.Rooms) != 1 {
		t.Fatalf("list: %+v", list)
	}
	if r := list.Rooms[0]; r.ID != id || r.Type != "sum" || r.Players != 2 || r.MaxPlayers != 4 || !r.Live || r.TickRate != 20 || r.Node != s.e.NodeID() {
		t.Fatalf("room: %+v", r)
	}
	var d monRoom
	adminGet(t, h, "/monitor/api/rooms/"+id, &d)
	if len(d.PlayerList) != 2 || d.PlayerList[0].ID != ja.PlayerId || !d.PlayerList[0].Connected {
		t.Fatalf("players: %+v", d.PlayerList)
	}
	eventually(t, "bytes sent to the players counted", func() bool {
		adminGet(t, h, "/monitor/api/rooms/"+id, &d)
		return d.PlayerList[0].BytesOut > 0
	})

	// Kick A: Left(KICKED) with the reason, then close 4006.
	adminPost(t, h, "/monitor/api/rooms/"+id+"/players/"+strconv.Itoa(int(ja.PlayerId))+"/kick", `{"reason":"be nice"}`)
	wantClose(t, a, uint16(tickwirev1.CloseCode_CLOSE_CODE_KICKED))
	left := ra.find(func(m *tickwirev1.ServerMessage) bool { return m.GetLeft() != nil })
	if left.GetLeft().GetReason() != tickwirev1.LeaveReason_LEAVE_REASON_KICKED || left.GetLeft().GetMessage() != "be nice" {
		t.Fatalf("A got %v, want Left KICKED \"be nice\"", left)
	}
	adminGet(t, h, "/monitor/api/rooms/"+id, &d)
	if len(d.PlayerList) != 1 {
		t.Fatalf("players after the kick: %+v", d.PlayerList)
	}

	// A player whose connection ends without a Leave is shown in grace.
	g := dial(t, s, nil)
	jg, err := g.JoinByID(ctx5(t), id, client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = g.Close()
	eventually(t, "the dropped player shown in grace", func() bool {
		adminGet(t, h, "/monitor/api/rooms/"+id, &d)
		for _, p := range d.PlayerList {
			if p.ID == jg.PlayerId {
				return !p.Connected && p.GraceLeftMs > 0 && p.GraceLeftMs <= 10_000
			}
		}
		return false
	})
	adminPost(t, h, "/monitor/api/rooms/"+id+"/players/"+strconv.Itoa(int(jg.PlayerId))+"/kick", "") // a seat in grace can be kicked too

	// Lock: join-or-create with the room's metadata makes another room;
	// joining it by id is refused. Unlock: it is joinable again.
	adminPost(t, h, "/monitor/api/rooms/"+id+"/lock", "")
	c := dial(t, s, nil)
	jc, err := c.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{Filter: map[string]string{"mode": "duel"}})
	if err != nil {
		t.Fatal(err)
	}
	if jc.RoomId == id {
		t.Fatal("join-or-create joined the locked room")
	}
	d2 := dial(t, s, nil)
	_, err = d2.JoinByID(ctx5(t), id, client.JoinOptions{})
	wantServerError(t, err, tickwirev1.ErrorCode_ERROR_CODE_ROOM_LOCKED)
	adminGet(t, h, "/monitor/api/rooms/"+id, &d)
	if !d.Locked {
		t.Fatal("room not shown locked")
	}
	adminPost(t, h, "/monitor/api/rooms/"+id+"/unlock", "")
	if _, err := d2.JoinByID(ctx5(t), id, client.JoinOptions{}); err != nil {
		t.Fatalf("join after unlock: %v", err)
	}

	// Dispose: B is told the room closed; the room is gone.
	adminPost(t, h, "/monitor/api/rooms/"+id+"/dispose", "")
	eventually(t, "B told the room closed", func() bool {
		return rb.find(func(m *tickwirev1.ServerMessage) bool {
			return m.GetLeft().GetReason() == tickwirev1.LeaveReason_LEAVE_REASON_ROOM_CLOSED
		}) != nil
	})
	if _, ok := s.e.Room(id); ok {
		t.Fatal("room still open after dispose")
	}
	if code, body := adminCall(t, h, "GET", "/monitor/api/rooms/"+id, adminToken, ""); code != http.StatusNotFound {
		t.Fatalf("disposed room: %d %s", code, body)
	}

	for _, want := range []string{
		`tickwire_admin_actions_total{action="kick"} 2`, `tickwire_admin_actions_total{action="lock"} 1`,
		`tickwire_admin_actions_total{action="unlock"} 1`, `tickwire_admin_actions_total{action="dispose"} 1`,
	} {
		if got := metricLine(t, s.e, want[:strings.Index(want, "} ")+1]); got != want {
			t.Errorf("metric %q, want %q", got, want)
		}
	}
	out := logs.String()
	for _, want := range []string{"level=INFO msg=\"admin action\" node=" + s.e.NodeID() + " action=kick room=" + id, "action=lock", "action=dispose", "reason=\"be nice\"", `by="192.0.2.1:1234 via ` + s.e.NodeID() + `"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// Bad requests get a clear 4xx JSON error and change nothing.
func TestMonitorBadInput(t *testing.T) {
	s := start(t, engine.Config{AdminToken: adminToken}, room.Config{})
	h := s.e.AdminHandler()
	a := dial(t, s, nil)
	j, err := a.Create(ctx5(t), "sum", client.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kick := "/monitor/api/rooms/" + j.RoomId + "/players/" + strconv.Itoa(int(j.PlayerId)) + "/kick"
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"unknown room", "GET", "/monitor/api/rooms/nope", "", http.StatusNotFound},
		{"unknown room action", "POST", "/monitor/api/rooms/nope/dispose", "", http.StatusNotFound},
		{"room id too long", "GET", "/monitor/api/rooms/" + strings.Repeat("x", 200), "", http.StatusBadRequest},
		{"unknown player", "POST", "/monitor/api/rooms/" + j.RoomId + "/players/999/kick", "", http.StatusNotFound},
		{"player id not a number", "POST", "/monitor/api/rooms/" + j.RoomId + "/players/abc/kick", "", http.StatusBadRequest},
		{"player id zero", "POST", "/monitor/api/rooms/" + j.RoomId + "/players/0/kick", "", http.StatusBadRequest},
		{"bad JSON", "POST", kick, "{reason:", http.StatusBadRequest},
		{"unknown field", "POST", kick, `{"why":"x"}`, http.StatusBadRequest},
		{"reason too long", "POST", kick, `{"reason":"` + strings.Repeat("x", 101) + `"}`, http.StatusBadRequest},
		{"huge body", "POST", kick, `{"reason":"` + strings.Repeat("x", 1<<20) + `"}`, http.StatusRequestEntityTooLarge},
		{"unknown endpoint", "GET", "/monitor/api/nodes", "", http.StatusNotFound},
		{"kick with GET", "GET", kick, "", http.StatusNotFound},
		{"bad limit", "GET", "/monitor/api/rooms?limit=-1", "", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := adminCall(t, h, tc.method, tc.path, adminToken, tc.body)
			if code != tc.want {
				t.Fatalf("%d, want %d: %s", code, tc.want, body)
			}
			var e struct{ Error string }
			if json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
				t.Errorf("not a JSON error: %s", body)
			}
		})
	}
	var d monRoom
	adminGet(t, h, "/monitor/api/rooms/"+j.RoomId, &d)
	if len(d.PlayerList) != 1 {
		t.Fatalf("the bad requests changed the room: %+v", d)
	}
}

// In cluster mode the monitor of any node lists every room, with the live
// stats of its owner, and its details and actions work for rooms of
// another node (forwarded over the Redis bus). Forged bus messages are
// ignored and counted.
func TestMonitorCrossNode(t *testing.T) {
	rs := redistest.Start(t)
	nodes := make([]*server, 2)
	for i := range nodes {
		nodes[i] = start(t, engine.Config{
			NodeID: fmt.Sprintf("n%d", i+1), AdminToken: adminToken,
			Cluster: engine.ClusterConfig{
				RedisAddr: rs.Addr(), Secret: testSecret,
				HeartbeatInterval: 200 * time.Millisecond, NodeTTL: 2 * time.Second,
			},
		}, room.Config{TickRate: 20, MaxPlayers: 4})
	}
	eventually(t, "nodes registered", func() bool {
		ns, err := nodes[0].e.Backend().Nodes(context.Background())
		return err == nil && len(ns) == 2
	})
	// A player creates a room; whichever node it landed on, the other one
	// is the monitor's entry.
	ra := &recorder{}
	a := dial(t, nodes[0], ra)
	ja, err := a.Create(ctx5(t), "sum", client.JoinOptions{Filter: map[string]string{"mode": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	id := ja.RoomId
	b := dial(t, nodes[1], nil)
	if _, err := b.JoinByID(ctx5(t), id, client.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	owner, entry := nodes[0], nodes[1]
	if _, ok := nodes[1].e.Room(id); ok {
		owner, entry = nodes[1], nodes[0]
	}
	h := entry.e.AdminHandler()

	var list monList
	eventually(t, "the room listed with its owner's stats", func() bool {
		adminGet(t, h, "/monitor/api/rooms", &list)
		return len(list.Rooms) == 1 && list.Rooms[0].Live && list.Rooms[0].Players == 2
	})
	if r := list.Rooms[0]; !list.Clustered || r.ID != id || r.Node != owner.e.NodeID() || r.TickRate != 20 {
		t.Fatalf("list %+v", list)
	}
	var d monRoom
	adminGet(t, h, "/monitor/api/rooms/"+id, &d)
	if d.Node != owner.e.NodeID() || len(d.PlayerList) != 2 {
		t.Fatalf("details through %s: %+v", entry.e.NodeID(), d)
	}

	// Kick A through the other node.
	adminPost(t, h, "/monitor/api/rooms/"+id+"/players/"+strconv.Itoa(int(ja.PlayerId))+"/kick", "")
	wantClose(t, a, uint16(tickwirev1.CloseCode_CLOSE_CODE_KICKED))
	if m := ra.find(func(m *tickwirev1.ServerMessage) bool { return m.GetLeft() != nil }); m.GetLeft().GetReason() != tickwirev1.LeaveReason_LEAVE_REASON_KICKED {
		t.Fatalf("A got %v, want Left KICKED", m)
	}
	if code, body := adminCall(t, h, "POST", "/monitor/api/rooms/"+id+"/players/"+strconv.Itoa(int(ja.PlayerId))+"/kick", adminToken, ""); code != http.StatusNotFound {
		t.Fatalf("second kick: %d %s", code, body)
	}

	// Lock: the directory record says so, and join-or-create through
	// either node skips the room.
	adminPost(t, h, "/monitor/api/rooms/"+id+"/lock", "")
	eventually(t, "directory record locked", func() bool {
		rec, err := entry.e.Backend().LookupRoom(context.Background(), id)
		return err == nil && rec.Locked
	})
	for _, n := range nodes {
		c := dial(t, n, nil)
		j, err := c.JoinOrCreate(ctx5(t), "sum", client.JoinOptions{Filter: map[string]string{"mode": "x"}})
		if err != nil {
			t.Fatal(err)
		}
		if j.RoomId == id {
			t.Fatalf("join-or-create through %s joined the locked room", n.e.NodeID())
		}
		_ = c.Close()
	}
	adminPost(t, h, "/monitor/api/rooms/"+id+"/unlock", "")
	eventually(t, "directory record unlocked", func() bool {
		rec, err := entry.e.Backend().LookupRoom(context.Background(), id)
		return err == nil && !rec.Locked
	})

	// Dispose through the other node.
	adminPost(t, h, "/monitor/api/rooms/"+id+"/dispose", "")
	if _, ok := owner.e.Room(id); ok {
		t.Fatal("room still open after dispose")
	}
	if got := metricLine(t, owner.e, `tickwire_admin_actions_total{action="dispose"}`); got != `tickwire_admin_actions_total{action="dispose"} 1` {
		t.Errorf("owner's metric: %q", got)
	}

	// A message with the monitor's prefix but no valid signature does
	// nothing and is counted.
	if err := owner.e.Backend().Publish(ctx5(t), owner.e.NodeID(), []byte("twadm1"+strings.Repeat("x", 40)+`{"id":"1","from":"n9","exp":99999999999999,"op":{"op":"dispose","room":"r"}}`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "forged message counted", func() bool {
		return metricLine(t, owner.e, "tickwire_admin_bus_rejected_total") == "tickwire_admin_bus_rejected_total 1"
	})
}

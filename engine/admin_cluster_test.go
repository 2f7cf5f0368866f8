package engine_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine/internal/redistest"
	"github.com/tickwire/tickwire/room"
)

func getJSON(t *testing.T, h http.Handler, path string, v any) int {
	t.Helper()
	rw := httptest.NewRecorder()
	h.ServeHTTP(rw, httptest.NewRequest("GET", path, nil))
	if v != nil && rw.Code == http.StatusOK {
		if err := json.Unmarshal(rw.Body.Bytes(), v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, rw.Body)
		}
	}
	return rw.Code
}

// TestReadinessAndClusterRooms: /readyz follows the coordination backend
// while /healthz (liveness) stays up; /cluster/rooms pages through every
// room of the cluster, private ones included, from any node.
func TestReadinessAndClusterRooms(t *testing.T) {
	rs := redistest.Start(t)
	nodes := startCluster(t, rs.Addr(), 2, room.Config{TickRate: 20, MaxPlayers: 4})
	for _, n := range nodes {
		eventually(t, "ready", func() bool { return getJSON(t, n.e.AdminHandler(), "/readyz", nil) == http.StatusOK })
	}
	var want []string
	for i := range 5 {
		c := dial(t, nodes[i%2], nil)
		j, err := c.Create(ctx5(t), "sum", client.JoinOptions{Private: i == 0})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, j.RoomId)
	}
	slices.Sort(want)
	type page struct {
		Rooms []struct {
			ID, Node string
			Private  bool
			Seats    int
		}
		Total int
		Next  string
	}
	var got []string
	path := "/cluster/rooms?limit=2"
	for range 10 {
		var p page
		if code := getJSON(t, nodes[0].e.AdminHandler(), path, &p); code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, code)
		}
		if p.Total != 5 {
			t.Fatalf("total %d, want 5", p.Total)
		}
		for _, r := range p.Rooms {
			got = append(got, r.ID)
		}
		if p.Next == "" {
			break
		}
		path = "/cluster/rooms?limit=2&after=" + p.Next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("cluster rooms %v, want %v", got, want)
	}
	if code := getJSON(t, nodes[0].e.AdminHandler(), "/cluster/rooms?limit=x", nil); code != http.StatusBadRequest {
		t.Fatalf("bad limit: %d", code)
	}

	rs.Stop()
	eventually(t, "not ready without Redis", func() bool {
		return getJSON(t, nodes[1].e.AdminHandler(), "/readyz", nil) == http.StatusServiceUnavailable
	})
	var live struct{ Status string }
	if code := getJSON(t, nodes[1].e.AdminHandler(), "/healthz", &live); code != http.StatusOK || live.Status != "ok" {
		t.Fatalf("liveness without Redis: %d %+v", code, live)
	}
	if code := getJSON(t, nodes[1].e.AdminHandler(), "/cluster/rooms", nil); code != http.StatusServiceUnavailable {
		t.Fatalf("cluster rooms without Redis: %d", code)
	}
	rs.Restart()
	eventually(t, "ready again", func() bool { return getJSON(t, nodes[1].e.AdminHandler(), "/readyz", nil) == http.StatusOK })
}

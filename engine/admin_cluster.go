package engine

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tickwire/tickwire/engine/cluster"
)

// Admin handlers for operators and load balancers: readiness and the
// cluster-wide room list (mounted on AdminHandler).

// ready reports whether the node can take new players and place new
// rooms, and if not, why.
func (e *Engine) ready() (bool, string) {
	if e.isDraining() {
		return false, "draining"
	}
	if !e.cl.shared {
		return true, ""
	}
	if e.cl.err != nil {
		return false, "cluster misconfigured"
	}
	e.cl.bgMu.Lock()
	n := e.cl.node
	e.cl.bgMu.Unlock()
	if n == nil {
		return false, "cluster not started"
	}
	if !n.Healthy() {
		return false, "coordination backend unreachable"
	}
	return true, ""
}

// serveReady is readiness (GET /readyz), for the load balancer: 200 when
// the node takes new players (not draining and, in cluster mode, its last
// heartbeat reached the coordination backend), else 503 with the reason.
func (e *Engine) serveReady(w http.ResponseWriter, _ *http.Request) {
	ok, reason := e.ready()
	w.Header().Set("Content-Type", "application/json")
	body := map[string]string{"status": "ready", "node": e.cfg.NodeID}
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		body["status"], body["reason"] = "not ready", reason
	}
	_ = json.NewEncoder(w).Encode(body)
}

// clusterRoomsMax bounds one page of the cluster room list.
const clusterRoomsMax = 1000

// clusterRoom is one entry of the cluster room list.
type clusterRoom struct {
	ID          string            `json:"id"`
	Type        string            `json:"type"`
	Node        string            `json:"node"`
	NodeAddress string            `json:"nodeAddress,omitempty"`
	State       cluster.RoomState `json:"state"`
	Seats       int               `json:"seats"`
	Reserved    int               `json:"reserved"`
	MaxSeats    int               `json:"maxSeats"`
	Locked      bool              `json:"locked"`
	Private     bool              `json:"private"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// serveClusterRooms lists the rooms of every live node from the directory
// (GET /cluster/rooms), private ones included, sorted by id and paginated:
// ?type= filters by room type, ?limit= (default 100, at most 1000) sizes a
// page, and ?after= takes the "next" value of the previous page. In
// embedded mode it lists this node's rooms the same way.
func (e *Engine) serveClusterRooms(w http.ResponseWriter, r *http.Request) {
	pg, status, msg := e.roomPage(r.Context(), r.URL.Query())
	if status != http.StatusOK {
		http.Error(w, msg, status)
		return
	}
	out := make([]clusterRoom, len(pg.recs))
	for k, rec := range pg.recs {
		out[k] = clusterRoom{ID: rec.ID, Type: rec.Type, Node: rec.NodeID, NodeAddress: rec.NodeAddress, State: rec.State,
			Seats: rec.Seats, Reserved: rec.Reserved, MaxSeats: rec.MaxSeats, Locked: rec.Locked, Private: rec.Private,
			Metadata: rec.Metadata}
	}
	body := map[string]any{"rooms": out, "total": pg.total}
	if pg.next != "" {
		body["next"] = pg.next
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// roomPage is one page of the cluster room list (see serveClusterRooms).
type roomPage struct {
	recs  []cluster.RoomRecord
	total int
	next  string // the id to pass as ?after= for the next page; "" on the last
}

// roomPage reads one page of the room list: the directory in cluster mode,
// this node's rooms when embedded. ?type=, ?limit=, ?after= as
// serveClusterRooms documents. A status other than 200 comes with a
// message for the client.
func (e *Engine) roomPage(ctx context.Context, q url.Values) (roomPage, int, string) {
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return roomPage{}, http.StatusBadRequest, "limit: want a positive integer"
		}
		limit = min(n, clusterRoomsMax)
	}
	var recs []cluster.RoomRecord
	if e.cl.shared {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var err error
		if recs, err = e.cl.b.ListRooms(ctx, q.Get("type")); err != nil {
			e.clusterErr("list rooms", err)
			return roomPage{}, http.StatusServiceUnavailable, "coordination backend unavailable"
		}
	} else {
		for _, in := range e.rooms.List(true) {
			if t := q.Get("type"); t != "" && in.Type != t {
				continue
			}
			if rm, ok := e.rooms.Get(in.ID); ok {
				recs = append(recs, e.recordOf(rm))
			}
		}
		slices.SortFunc(recs, func(a, b cluster.RoomRecord) int { return strings.Compare(a.ID, b.ID) })
	}
	after := q.Get("after")
	i, _ := slices.BinarySearchFunc(recs, after, func(rec cluster.RoomRecord, id string) int { return strings.Compare(rec.ID, id) })
	if i < len(recs) && after != "" && recs[i].ID == after {
		i++
	}
	pg := roomPage{recs: recs[i:min(i+limit, len(recs))], total: len(recs)}
	if i+limit < len(recs) && len(pg.recs) > 0 {
		pg.next = pg.recs[len(pg.recs)-1].ID
	}
	return pg, http.StatusOK, ""
}

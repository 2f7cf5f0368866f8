package engine

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Monitor requests for rooms of other nodes travel over the cluster bus
// (cluster.Bus, one channel per node), beside the matchmaker's notices: a
// request names the asking node, the owner serves it as it would its own
// and publishes the reply to the asking node's channel with the same id.
// The asker waits adminWait at most. Both are signed with the cluster
// secret (HMAC-SHA256), so only nodes of the cluster can ask a node to
// kick a player or close a room.
//
// Payload: adminBusMagic, 32 bytes of HMAC, then the JSON adminBusMsg.

// adminBusMagic starts every monitor bus payload (cluster.IsNotices tells
// the matchmaker's apart by theirs).
var adminBusMagic = []byte("twadm1")

var errBadAdminMsg = errors.New("engine: bad admin bus message")

// adminBusMsg is a monitor request (Op set) or its reply (Res set).
type adminBusMsg struct {
	ID   string       `json:"id"`
	From string       `json:"from"`
	Exp  int64        `json:"exp"` // unix ms after which the message is ignored
	Op   *adminOp     `json:"op,omitempty"`
	Res  *adminResult `json:"res,omitempty"`
}

func (e *Engine) adminMAC(body []byte) []byte {
	m := hmac.New(sha256.New, e.cl.secret)
	m.Write([]byte("tickwire admin bus v1\n"))
	m.Write(body)
	return m.Sum(nil)
}

func (e *Engine) encodeAdmin(msg adminBusMsg) ([]byte, error) {
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode admin message: %w", err)
	}
	out := make([]byte, 0, len(adminBusMagic)+sha256.Size+len(body))
	out = append(out, adminBusMagic...)
	out = append(out, e.adminMAC(body)...)
	return append(out, body...), nil
}

func (e *Engine) decodeAdmin(p []byte, now time.Time) (adminBusMsg, error) {
	rest, ok := bytes.CutPrefix(p, adminBusMagic)
	if !ok || len(rest) < sha256.Size {
		return adminBusMsg{}, errBadAdminMsg
	}
	mac, body := rest[:sha256.Size], rest[sha256.Size:]
	if !hmac.Equal(mac, e.adminMAC(body)) {
		return adminBusMsg{}, fmt.Errorf("%w: bad signature", errBadAdminMsg)
	}
	var msg adminBusMsg
	if err := json.Unmarshal(body, &msg); err != nil {
		return adminBusMsg{}, fmt.Errorf("%w: %w", errBadAdminMsg, err)
	}
	if (msg.Op == nil) == (msg.Res == nil) || msg.ID == "" || msg.From == "" {
		return adminBusMsg{}, fmt.Errorf("%w: want a request or a reply", errBadAdminMsg)
	}
	if now.UnixMilli() > msg.Exp {
		return adminBusMsg{}, fmt.Errorf("%w: expired", errBadAdminMsg)
	}
	return msg, nil
}

// adminRemote asks node to serve o and waits for its answer (adminWait at
// most: 504 when none came, 503 when the bus is down).
func (e *Engine) adminRemote(ctx context.Context, node string, o adminOp) adminResult {
	id := randomToken(12)
	reply := make(chan adminResult, 1)
	e.mon.mu.Lock()
	e.mon.pending[id] = reply
	e.mon.mu.Unlock()
	defer func() {
		e.mon.mu.Lock()
		delete(e.mon.pending, id)
		e.mon.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, adminWait)
	defer cancel()
	p, err := e.encodeAdmin(adminBusMsg{ID: id, From: e.cfg.NodeID, Exp: time.Now().Add(adminWait).UnixMilli(), Op: &o})
	if err != nil {
		return adminError(http.StatusInternalServerError, err.Error())
	}
	if err := e.cl.b.Publish(ctx, node, p); err != nil {
		e.clusterErr("publish admin request", err)
		return adminError(http.StatusServiceUnavailable, "coordination backend unavailable")
	}
	select {
	case res := <-reply:
		return res
	case <-ctx.Done():
		return adminError(http.StatusGatewayTimeout, fmt.Sprintf("node %q did not answer within %s", node, adminWait))
	}
}

// onAdminBus handles a monitor bus payload: a reply goes to its waiting
// request; a request is served on a goroutine of the subscriber's (ctx
// ends it; at most cap(serving) at once, beyond that the asker gets 503).
func (e *Engine) onAdminBus(ctx context.Context, p []byte) {
	msg, err := e.decodeAdmin(p, time.Now())
	if err != nil {
		e.metrics.adminBusRejected.Add(1)
		e.log.Debug("admin bus message ignored", "err", err)
		return
	}
	if msg.Res != nil {
		e.mon.mu.Lock()
		ch := e.mon.pending[msg.ID]
		e.mon.mu.Unlock()
		if ch != nil {
			select {
			case ch <- *msg.Res:
			default:
			}
		}
		return
	}
	select {
	case e.mon.serving <- struct{}{}:
	default:
		e.replyAdmin(ctx, msg, adminError(http.StatusServiceUnavailable, "node busy with other monitor requests"))
		return
	}
	e.cl.bgWG.Add(1)
	go func() {
		defer e.cl.bgWG.Done()
		defer func() { <-e.mon.serving }()
		octx, cancel := context.WithTimeout(ctx, adminWait)
		defer cancel()
		e.replyAdmin(ctx, msg, e.adminLocal(octx, *msg.Op))
	}()
}

func (e *Engine) replyAdmin(ctx context.Context, req adminBusMsg, res adminResult) {
	p, err := e.encodeAdmin(adminBusMsg{ID: req.ID, From: e.cfg.NodeID, Exp: time.Now().Add(adminWait).UnixMilli(), Res: &res})
	if err != nil {
		e.log.Error("admin reply", "err", err)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, adminWait)
	defer cancel()
	e.clusterErr("publish admin reply", e.cl.b.Publish(pctx, req.From, p))
}

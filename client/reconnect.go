package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// Reconnection: see Options.NoReconnect.

// rejoinFor is how long a client whose room was lost keeps trying to join
// a new room of the same type.
const rejoinFor = 30 * time.Second

// finalCloses are the close codes after which reconnecting would not help
// or must not happen (a person replaced by their own new connection must
// not take the seat back).
var finalCloses = map[uint16]bool{
	1000: true, // normal closure
	1002: true, 1003: true, 1007: true, 1008: true, 1009: true,
	uint16(tickwirev1.CloseCode_CLOSE_CODE_UNSUPPORTED_VERSION): true,
	uint16(tickwirev1.CloseCode_CLOSE_CODE_TOO_MANY_ERRORS):     true,
	uint16(tickwirev1.CloseCode_CLOSE_CODE_RATE_LIMITED):        true,
	uint16(tickwirev1.CloseCode_CLOSE_CODE_UNAUTHORIZED):        true,
	uint16(tickwirev1.CloseCode_CLOSE_CODE_KICKED):              true,
	uint16(tickwirev1.CloseCode_CLOSE_CODE_ROOM_CLOSED):         true,
}

// backoff is the wait before reconnection attempt n (1, 2, ...): 100 ms
// doubling up to 2 s, with ±50% jitter so that the players of a dead node
// do not all come back in the same millisecond.
func backoff(n int) time.Duration {
	d := 100 * time.Millisecond << min(n-1, 5)
	d = min(d, 2*time.Second)
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

// startReconnect decides whether a lost connection is brought back, and if
// so starts the loop that does it.
func (c *Client) startReconnect(cause error) bool {
	var ce *CloseError
	code := uint16(0)
	if errors.As(cause, &ce) {
		code = ce.Code
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	lost := code == uint16(tickwirev1.CloseCode_CLOSE_CODE_ROOM_LOST)
	switch {
	case c.reconnecting.Load():
		return true // a connection of the loop's own died: it tries again
	case c.opts.NoReconnect, c.stopping, c.closed, finalCloses[code]:
		return false
	case c.resumeToken == "" && !(lost && c.joinReq != nil):
		return false // in no room, or nothing to come back to
	}
	c.reconnecting.Store(true)
	c.wg.Add(1)
	go c.reconnect(cause, lost)
	return true
}

// reconnect redials until the seat is resumed (or, with the room lost, a
// new room of the same type joined), the grace runs out, or Close.
func (c *Client) reconnect(cause error, lost bool) {
	defer c.wg.Done()
	c.mu.Lock()
	token, join, grace := c.resumeToken, c.joinReq, c.grace
	c.mu.Unlock()
	deadline := time.Now().Add(grace)
	if lost || token == "" {
		deadline = time.Now().Add(rejoinFor)
	}
	var last error = cause
	for attempt := 1; time.Now().Before(deadline); attempt++ {
		if c.opts.OnReconnecting != nil {
			c.opts.OnReconnecting(attempt, cause)
		}
		select {
		case <-c.stop:
			c.endReconnect(ErrClosed)
			return
		case <-time.After(backoff(attempt)):
		}
		until := time.Now().Add(5 * time.Second)
		if deadline.Before(until) {
			until = deadline
		}
		ctx, cancel := context.WithDeadline(context.Background(), until)
		j, err := c.comeBack(ctx, &token, &lost, join)
		cancel()
		if err == nil {
			c.mu.Lock()
			c.reconnecting.Store(false)
			stopping := c.stopping
			c.mu.Unlock()
			if h := c.hook.Load(); h != nil {
				h.rejoined(j)
			}
			if c.opts.OnReconnected != nil {
				c.opts.OnReconnected(j)
			}
			if stopping { // Close ran meanwhile: it waits for us, then closes
				c.endReconnect(ErrClosed)
			}
			return
		}
		last = err
		if errors.Is(err, errNoWayBack) {
			break
		}
	}
	c.endReconnect(last)
}

var errNoWayBack = errors.New("client: the seat is gone and the room cannot be joined afresh")

// comeBack makes one attempt: a new connection, then a resume (or a fresh
// join when the room is lost). A refused resume turns it into a fresh join
// for the next attempts when that is possible.
func (c *Client) comeBack(ctx context.Context, token *string, lost *bool, join *tickwirev1.Join) (*tickwirev1.Joined, error) {
	_ = c.closeCurrent() // the lost one, or the last attempt's
	if _, err := c.connect(ctx); err != nil {
		return nil, err
	}
	if !*lost && *token != "" {
		j, err := c.join(ctx, &tickwirev1.Join{ResumeToken: *token})
		var se *ServerError
		if errors.As(err, &se) && (se.Code == tickwirev1.ErrorCode_ERROR_CODE_RESUME_REFUSED || se.Code == tickwirev1.ErrorCode_ERROR_CODE_ROOM_NOT_FOUND) {
			*lost = true // the seat is gone: join afresh
		} else {
			return j, err
		}
	}
	if join == nil {
		_ = c.closeCurrent()
		return nil, errNoWayBack
	}
	return c.join(ctx, join)
}

// endReconnect gives up: the client is done.
func (c *Client) endReconnect(err error) {
	_ = c.closeCurrent()
	c.mu.Lock()
	c.reconnecting.Store(false)
	c.mu.Unlock()
	c.finish(err)
}

// closeCurrent closes the current connection without reconnecting.
func (c *Client) closeCurrent() error {
	ws := c.wsp.Load()
	if ws == nil {
		return nil
	}
	c.wsp.Store(nil)
	return ws.NetConn().Close()
}

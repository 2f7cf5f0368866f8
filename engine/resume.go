package engine

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/tickwire/tickwire/internal/roomrt"
	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// Resume tokens.
//
// A token is "v1.<room>.<player>.<gen>.<expiry>.<mac>": the room id
// (base64url), the player id, the seat's token generation, the expiry (Unix
// seconds), and an HMAC-SHA256 (truncated to 16 bytes, base64url) of the
// rest under the cluster secret, so any node verifies it and only the room's
// node, which knows the generation, accepts it. Single use: every Joined
// (first join and each resume) issues the next generation, and the room
// accepts only the newest one.
var (
	errResumeInvalid = errors.New("engine: resume token invalid")
	errResumeExpired = errors.New("engine: resume token expired")
)

type resumeClaims struct {
	room     string
	player   uint32
	gen      uint32
	expireAt time.Time
}

// resumeTokens implements roomrt.TokenIssuer.
type resumeTokens struct {
	secret []byte
	ttl    time.Duration
}

func (t resumeTokens) mac(body string) string {
	m := hmac.New(sha256.New, t.secret)
	m.Write([]byte("tickwire resume\x00"))
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// Issue implements roomrt.TokenIssuer.
func (t resumeTokens) Issue(roomID string, playerID, gen uint32) string {
	body := fmt.Sprintf("v1.%s.%d.%d.%d", base64.RawURLEncoding.EncodeToString([]byte(roomID)), playerID, gen, time.Now().Add(t.ttl).Unix())
	return body + "." + t.mac(body)
}

func (t resumeTokens) verify(tok string, now time.Time) (resumeClaims, error) {
	if len(tok) > 512 {
		return resumeClaims{}, errResumeInvalid
	}
	i := strings.LastIndexByte(tok, '.')
	if i < 0 {
		return resumeClaims{}, errResumeInvalid
	}
	body, mac := tok[:i], tok[i+1:]
	if !hmac.Equal([]byte(mac), []byte(t.mac(body))) {
		return resumeClaims{}, errResumeInvalid
	}
	f := strings.Split(body, ".")
	if len(f) != 5 || f[0] != "v1" {
		return resumeClaims{}, errResumeInvalid
	}
	room, err1 := base64.RawURLEncoding.DecodeString(f[1])
	pid, err2 := strconv.ParseUint(f[2], 10, 32)
	gen, err3 := strconv.ParseUint(f[3], 10, 32)
	exp, err4 := strconv.ParseInt(f[4], 10, 64)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return resumeClaims{}, errResumeInvalid
	}
	c := resumeClaims{room: string(room), player: uint32(pid), gen: uint32(gen), expireAt: time.Unix(exp, 0)}
	if !now.Before(c.expireAt) {
		return c, errResumeExpired
	}
	return c, nil
}

// resumeRefused answers a refused resume and counts it by reason.
func (s *session) resumeRefused(reqID uint32, reason string, offense bool) {
	s.e.metrics.labeled(s.e.metrics.resumeFails, reason).Add(1)
	s.fail(reqID, tickwirev1.ErrorCode_ERROR_CODE_RESUME_REFUSED, reason, offense)
}

// onResume handles Join{resume_token}: verify the token (any node can),
// then resume on this node if it owns the room, or relay the Join to the
// owner like a join by id.
func (s *session) onResume(ctx context.Context, reqID uint32, j *tickwirev1.Join, start time.Time) {
	c, err := s.e.tokens.verify(j.ResumeToken, time.Now())
	switch {
	case errors.Is(err, errResumeExpired):
		s.resumeRefused(reqID, "expired", false)
		return
	case err != nil:
		s.resumeRefused(reqID, "invalid", true)
		return
	}
	if _, ok := s.e.rooms.Get(c.room); ok || !s.e.cl.shared {
		s.resumeLocal(ctx, reqID, c, start)
		return
	}
	s.joinByIDClustered(ctx, reqID, &tickwirev1.Join{RoomId: c.room, ResumeToken: j.ResumeToken}, start)
}

// resumeLocal resumes a seat in one of this node's rooms.
func (s *session) resumeLocal(ctx context.Context, reqID uint32, c resumeClaims, start time.Time) {
	r, ok := s.e.rooms.Get(c.room)
	if !ok {
		s.resumeRefused(reqID, "seat gone", false)
		return
	}
	res, err := r.Resume(ctx, roomrt.ResumeRequest{PlayerID: c.player, Gen: c.gen, Conn: s, RequestID: reqID})
	switch {
	case errors.Is(err, roomrt.ErrTokenUsed):
		s.resumeRefused(reqID, "used", false)
		return
	case errors.Is(err, roomrt.ErrNotInRoom), errors.Is(err, roomrt.ErrClosed):
		s.resumeRefused(reqID, "seat gone", false)
		return
	case err != nil:
		code, msg, offense := joinErrorCode(err)
		s.fail(reqID, code, msg, offense)
		return
	}
	s.mu.Lock()
	if s.removedRoom != r.ID() || s.removedPID != res.PlayerID {
		s.room, s.playerID = r, res.PlayerID
		if s.e.cl.shared {
			// The seat in the directory moves with the player: this
			// session releases it when the player finally leaves.
			s.seatRoom = r.ID()
		}
	}
	closing := s.drainNewsLocked()
	s.mu.Unlock()
	s.sendRoomClosing(closing)
	s.e.metrics.resumes.Add(1)
	s.e.metrics.resumeLatency.observe(time.Since(start).Seconds())
}

// Superseded implements roomrt.Conn: another connection resumed this
// session's seat. The session leaves the room without a Left (the player
// did not leave) and without releasing the directory seat (the new
// connection holds it), and closes.
func (s *session) Superseded(roomID string, playerID uint32) {
	s.mu.Lock()
	if s.room == nil || s.room.ID() != roomID || s.playerID != playerID {
		s.mu.Unlock()
		return
	}
	s.room, s.playerID, s.leaveReq = nil, 0, 0
	s.removedRoom, s.removedPID = roomID, playerID
	if s.seatRoom == roomID {
		s.seatRoom = ""
	}
	s.stopPollingLocked() // this runs on the room goroutine: no poll is under way
	s.mu.Unlock()
	s.resetBaseline(true)
	s.closeWith(uint16(tickwirev1.CloseCode_CLOSE_CODE_KICKED), "replaced by a new connection")
}

// upstreamLostCode is the close code for a client whose relay to the room's
// node broke: ROOM_LOST when that node no longer accepts connections (it
// died with its rooms), else RECONNECT (resume through any node).
func upstreamLostCode(addr string) uint16 {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return uint16(tickwirev1.CloseCode_CLOSE_CODE_ROOM_LOST)
	}
	_ = c.Close()
	return uint16(tickwirev1.CloseCode_CLOSE_CODE_RECONNECT)
}

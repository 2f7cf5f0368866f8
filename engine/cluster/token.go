package cluster

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// tokenVersion is the first byte of every token payload.
const tokenVersion = 1

// maxTokenLen bounds the input Verify looks at (a real token is ~200 bytes).
const maxTokenLen = 2048

// Signer signs and verifies reservation tokens with HMAC-SHA256.
//
// Token format (decided here): base64url(payload) "." base64url(mac), no
// padding, where payload = version byte 1, then ReservationID, RoomID,
// RoomType, NodeID, UserID each as uvarint length + bytes, then ExpiresAt as
// uvarint Unix milliseconds; mac = HMAC-SHA256(secret, payload). The
// signature is checked before the payload is parsed. A Signer is immutable
// and safe for concurrent use.
type Signer struct {
	secret []byte
	now    func() time.Time
}

// NewSigner returns a Signer; now may be nil (time.Now).
func NewSigner(secret []byte, now func() time.Time) *Signer {
	if now == nil {
		now = time.Now
	}
	return &Signer{secret: append([]byte(nil), secret...), now: now}
}

// Sign returns the token for c.
func (s *Signer) Sign(c Claims) string {
	p := make([]byte, 0, 1+5*24+10)
	p = append(p, tokenVersion)
	for _, f := range [...]string{c.ReservationID, c.RoomID, c.RoomType, c.NodeID, c.UserID} {
		p = binary.AppendUvarint(p, uint64(len(f)))
		p = append(p, f...)
	}
	p = binary.AppendUvarint(p, uint64(max(c.ExpiresAt.UnixMilli(), 0)))
	m := hmac.New(sha256.New, s.secret)
	m.Write(p)
	enc := base64.RawURLEncoding
	out := make([]byte, 0, enc.EncodedLen(len(p))+1+enc.EncodedLen(sha256.Size))
	out = enc.AppendEncode(out, p)
	out = append(out, '.')
	out = enc.AppendEncode(out, m.Sum(nil))
	return string(out)
}

// Verify checks the signature, then parses and checks expiry. It returns
// ErrTokenInvalid (malformed or forged) or ErrTokenExpired.
func (s *Signer) Verify(token string) (Claims, error) {
	if len(token) > maxTokenLen {
		return Claims{}, fmt.Errorf("%w: too long", ErrTokenInvalid)
	}
	ps, ms, ok := strings.Cut(token, ".")
	if !ok {
		return Claims{}, fmt.Errorf("%w: no signature", ErrTokenInvalid)
	}
	enc := base64.RawURLEncoding.Strict() // one encoding per token
	p, err := enc.DecodeString(ps)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: payload: %w", ErrTokenInvalid, err)
	}
	mac, err := enc.DecodeString(ms)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: signature: %w", ErrTokenInvalid, err)
	}
	m := hmac.New(sha256.New, s.secret)
	m.Write(p)
	if !hmac.Equal(mac, m.Sum(nil)) {
		return Claims{}, fmt.Errorf("%w: bad signature", ErrTokenInvalid)
	}
	c, err := parseClaims(p)
	if err != nil {
		return Claims{}, err
	}
	if !s.now().Before(c.ExpiresAt) {
		return c, fmt.Errorf("%w: at %s", ErrTokenExpired, c.ExpiresAt.UTC().Format(time.RFC3339Nano))
	}
	return c, nil
}

func parseClaims(p []byte) (Claims, error) {
	if len(p) == 0 || p[0] != tokenVersion {
		return Claims{}, fmt.Errorf("%w: unknown version", ErrTokenInvalid)
	}
	p = p[1:]
	var f [5]string
	for i := range f {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return Claims{}, fmt.Errorf("%w: truncated field %d", ErrTokenInvalid, i)
		}
		f[i] = string(p[k : k+int(n)])
		p = p[k+int(n):]
	}
	exp, k := binary.Uvarint(p)
	if k <= 0 || k != len(p) || exp > 1<<53 {
		return Claims{}, fmt.Errorf("%w: bad expiry", ErrTokenInvalid)
	}
	return Claims{
		ReservationID: f[0], RoomID: f[1], RoomType: f[2], NodeID: f[3], UserID: f[4],
		ExpiresAt: time.UnixMilli(int64(exp)),
	}, nil
}

// newID returns 16 random bytes in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

package cluster

import (
	"errors"
	"testing"
	"time"
)

func TestSignerRoundTrip(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	s := NewSigner(testSecret, func() time.Time { return now })
	for _, c := range []Claims{
		{ReservationID: "r", RoomID: "room", RoomType: "arena", NodeID: "n", UserID: "u", ExpiresAt: now.Add(time.Second)},
		{ReservationID: "", RoomID: "ünï.cødé", UserID: "a.b", ExpiresAt: now.Add(time.Millisecond)},
	} {
		got, err := s.Verify(s.Sign(c))
		if err != nil || got != c {
			t.Fatalf("round trip %+v: %+v %v", c, got, err)
		}
	}
	if _, err := s.Verify(s.Sign(Claims{ExpiresAt: now})); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expiry at now: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	s := NewSigner(testSecret, func() time.Time { return time.UnixMilli(0) })
	f.Add(s.Sign(Claims{RoomID: "r", UserID: "u", ExpiresAt: time.UnixMilli(10)}))
	f.Add("AQ.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := s.Verify(tok)
		if err != nil {
			if !errors.Is(err, ErrTokenInvalid) && !errors.Is(err, ErrTokenExpired) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if s.Sign(c) != tok {
			t.Fatalf("accepted non-canonical token %q", tok)
		}
	})
}

func FuzzParseClaims(f *testing.F) {
	f.Add([]byte{1, 1, 'a', 0, 0, 0, 0, 5})
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, p []byte) {
		if _, err := parseClaims(p); err != nil && !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("unexpected error class: %v", err)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	s := NewSigner(testSecret, nil)
	tok := s.Sign(Claims{ReservationID: newID(), RoomID: newID(), RoomType: "arena", NodeID: "node-1", UserID: "user-123", ExpiresAt: time.Now().Add(time.Hour)})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

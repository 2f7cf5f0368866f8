package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/lxzan/gws"

	"github.com/tickwire/tickwire/internal/wsframe"
)

// clientFrame builds a masked client-to-server frame (RFC 6455 section 5.2)
// with the given first byte (FIN, RSV and opcode) and payload.
func clientFrame(b0 byte, payload []byte, key [4]byte) []byte {
	f := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n < 1<<16:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	f = append(f, key[:]...)
	for i, c := range payload {
		f = append(f, c^key[i&3])
	}
	return f
}

var testKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

type parsed struct {
	op      gws.Opcode
	payload string
}

// parseAll feeds stream to a parser in chunks of the given sizes (the last
// size repeats) and returns the messages, or the close code of the first
// protocol error.
func parseAll(t testing.TB, maxMsg int, stream []byte, chunks ...int) ([]parsed, uint16) {
	t.Helper()
	p := wsParser{maxMsg: maxMsg}
	var out []parsed
	var buf []byte
	for i := 0; len(stream) > 0 || len(buf) > 0; i++ {
		k := chunks[min(i, len(chunks)-1)]
		k = min(k, len(stream))
		buf = append(buf, stream[:k]...)
		stream = stream[k:]
		for {
			n, op, payload, msg, err := p.next(buf)
			if err != nil {
				var ce *wsCloseError
				if !errors.As(err, &ce) {
					t.Fatalf("error %v is not a wsCloseError", err)
				}
				return out, ce.code
			}
			if n == 0 {
				break
			}
			if n > len(buf) {
				t.Fatalf("consumed %d of %d bytes", n, len(buf))
			}
			if msg {
				out = append(out, parsed{op, string(payload)})
			}
			buf = buf[n:]
		}
		if k == 0 && len(buf) > 0 {
			return out, 0 // incomplete at the end of the stream
		}
	}
	return out, 0
}

func TestWSParser(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 300)
	huge := bytes.Repeat([]byte("y"), 70_000)
	cat := func(fs ...[]byte) []byte { return bytes.Join(fs, nil) }
	tests := []struct {
		name   string
		maxMsg int
		stream []byte
		want   []parsed
		code   uint16
	}{
		{"binary", 1 << 10, clientFrame(0x82, []byte("hello"), testKey), []parsed{{gws.OpcodeBinary, "hello"}}, 0},
		{"empty binary", 1 << 10, clientFrame(0x82, nil, testKey), []parsed{{gws.OpcodeBinary, ""}}, 0},
		{"16-bit length", 1 << 10, clientFrame(0x82, big, testKey), []parsed{{gws.OpcodeBinary, string(big)}}, 0},
		{"64-bit length", 1 << 17, clientFrame(0x82, huge, testKey), []parsed{{gws.OpcodeBinary, string(huge)}}, 0},
		{"text is returned for the session to refuse", 1 << 10, clientFrame(0x81, []byte("hi"), testKey), []parsed{{gws.OpcodeText, "hi"}}, 0},
		{"several frames", 1 << 10, cat(clientFrame(0x82, []byte("a"), testKey), clientFrame(0x89, []byte("p"), testKey), clientFrame(0x82, []byte("b"), testKey)),
			[]parsed{{gws.OpcodeBinary, "a"}, {gws.OpcodePing, "p"}, {gws.OpcodeBinary, "b"}}, 0},
		{"fragmented with a ping between", 1 << 10, cat(clientFrame(0x02, []byte("ab"), testKey), clientFrame(0x89, nil, testKey), clientFrame(0x00, []byte("cd"), testKey), clientFrame(0x80, []byte("e"), testKey)),
			[]parsed{{gws.OpcodePing, ""}, {gws.OpcodeBinary, "abcde"}}, 0},
		{"close", 1 << 10, clientFrame(0x88, []byte{0x03, 0xe8}, testKey), []parsed{{gws.OpcodeCloseConnection, "\x03\xe8"}}, 0},
		{"unmasked", 1 << 10, []byte{0x82, 0x01, 'x'}, nil, closeProtocol},
		{"reserved bit", 1 << 10, clientFrame(0xc2, []byte("x"), testKey), nil, closeProtocol},
		{"reserved data opcode", 1 << 10, clientFrame(0x83, nil, testKey), nil, closeProtocol},
		{"reserved control opcode", 1 << 10, clientFrame(0x8b, nil, testKey), nil, closeProtocol},
		{"fragmented control", 1 << 10, clientFrame(0x09, nil, testKey), nil, closeProtocol},
		{"long control", 1 << 10, clientFrame(0x89, big[:126], testKey), nil, closeProtocol},
		{"continuation first", 1 << 10, clientFrame(0x80, []byte("x"), testKey), nil, closeProtocol},
		{"message inside a fragmented one", 1 << 10, cat(clientFrame(0x02, []byte("a"), testKey), clientFrame(0x82, []byte("b"), testKey)), nil, closeProtocol},
		{"top length bit", 1 << 10, []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0}, nil, closeProtocol},
		{"frame over the limit", 100, clientFrame(0x82, big, testKey), nil, closeTooLarge},
		{"fragments over the limit", 500, cat(clientFrame(0x02, big, testKey), clientFrame(0x80, big, testKey)), nil, closeTooLarge},
		{"messages before an error", 1 << 10, cat(clientFrame(0x82, []byte("ok"), testKey), []byte{0x82, 0x00}), []parsed{{gws.OpcodeBinary, "ok"}}, closeProtocol},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1 << 20, 1, 3, 7} {
			got, code := parseAll(t, tt.maxMsg, tt.stream, chunk)
			if code != tt.code || !equalParsed(got, tt.want) {
				t.Errorf("%s (chunks of %d): got %d messages, close %d; want %d, close %d", tt.name, chunk, len(got), code, len(tt.want), tt.code)
			}
		}
	}
}

func equalParsed(a, b []parsed) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestUnmask(t *testing.T) {
	key := []byte{1, 2, 3, 4}
	for n := range 40 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7)
		}
		want := bytes.Clone(b)
		for i := range want {
			want[i] ^= key[i%4]
		}
		wsframe.Unmask(b, key)
		if !bytes.Equal(b, want) {
			t.Fatalf("unmask of %d bytes: %x, want %x", n, b, want)
		}
	}
}

// TestCloseReply: RFC 6455 section 5.5.1 says an endpoint echoes the
// status code it received; section 7.4 lists the codes a peer may send, and
// section 8.1 wants a close reason that is not UTF-8 failed with 1007. The
// engine used to answer 1000 to every valid code and to a reason that is
// not UTF-8, and did not count malformed close frames.
func TestCloseReply(t *testing.T) {
	tests := []struct {
		payload   []byte
		want      uint16
		malformed bool
	}{
		{nil, closeNormal, false},
		{[]byte{3}, closeProtocol, true},
		{[]byte{0x03, 0xe8}, 1000, false},
		{[]byte{0x03, 0xe9, 'b', 'y'}, 1001, false}, // echoed, with a reason
		{[]byte{0x03, 0xea}, 1002, false},
		{[]byte{0x03, 0xec}, closeProtocol, true}, // 1004 is reserved
		{[]byte{0x03, 0xed}, closeProtocol, true}, // 1005 may not be sent
		{[]byte{0x03, 0xee}, closeProtocol, true}, // 1006 may not be sent
		{[]byte{0x03, 0xef}, 1007, false},
		{[]byte{0x03, 0xf6}, 1014, false},
		{[]byte{0x03, 0xf7}, closeProtocol, true}, // 1015 may not be sent
		{[]byte{0x03, 0xf8}, closeProtocol, true}, // 1016, unassigned
		{[]byte{0x0b, 0xb8}, 3000, false},
		{[]byte{0x0f, 0xa0}, 4000, false}, // application code, echoed
		{[]byte{0x13, 0x87}, 4999, false},
		{[]byte{0x13, 0x88}, closeProtocol, true},                // 5000
		{[]byte{0x00, 0x10}, closeProtocol, true},                // 16
		{[]byte{0x03, 0xe8, 0xff, 0xfe}, 1007, true},             // reason not UTF-8
		{[]byte{0x03, 0xe8, 0xce, 0xba, 0xe1, 0xbd}, 1007, true}, // truncated sequence
		{[]byte{0x03, 0xe8, 0xce, 0xba}, 1000, false},            // valid 2-byte UTF-8
	}
	for _, tt := range tests {
		got, malformed := closeReply(tt.payload)
		if got != tt.want || malformed != tt.malformed {
			t.Errorf("closeReply(%x) = %d, %v; want %d, %v", tt.payload, got, malformed, tt.want, tt.malformed)
		}
	}
}

// FuzzWSParser feeds arbitrary bytes, split at an arbitrary point, to the
// frame parser: it must never panic or consume more than it was given, and
// a stream of well-formed frames built from the same input must come back
// whole, however it is split.
func FuzzWSParser(f *testing.F) {
	f.Add(clientFrame(0x82, []byte("hello"), testKey), uint16(1))
	f.Add(append(clientFrame(0x02, []byte("ab"), testKey), clientFrame(0x80, []byte("c"), testKey)...), uint16(3))
	f.Add([]byte{0x82, 0xfe, 0xff, 0xff, 1, 2, 3, 4}, uint16(5))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		chunk := int(split%64) + 1
		parseAll(t, 1<<12, bytes.Clone(data), chunk)

		// Well-formed frames built from the input: each byte-run of the
		// input becomes a binary message, fragmented when it is long.
		rng := rand.New(rand.NewPCG(uint64(len(data)), uint64(split)))
		var stream []byte
		var want []parsed
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(200))
			msg := rest[:n]
			rest = rest[n:]
			var key [4]byte
			binary.LittleEndian.PutUint32(key[:], rng.Uint32())
			if n > 50 {
				stream = append(stream, clientFrame(0x02, msg[:n/2], key)...)
				stream = append(stream, clientFrame(0x89, msg[:1], key)...)
				want = append(want, parsed{gws.OpcodePing, string(msg[:1])})
				stream = append(stream, clientFrame(0x80, msg[n/2:], key)...)
			} else {
				stream = append(stream, clientFrame(0x82, msg, key)...)
			}
			want = append(want, parsed{gws.OpcodeBinary, string(msg)})
		}
		got, code := parseAll(t, 1<<12, stream, chunk)
		if code != 0 || !equalParsed(got, want) {
			t.Fatalf("well-formed stream: %d messages, close %d; want %d", len(got), code, len(want))
		}
	})
}

func BenchmarkWSParserInput(b *testing.B) {
	frame := clientFrame(0x82, bytes.Repeat([]byte{7}, 30), testKey)
	buf := make([]byte, len(frame))
	p := wsParser{maxMsg: 1 << 14}
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, frame)
		if n, _, _, msg, err := p.next(buf); n != len(frame) || !msg || err != nil {
			b.Fatal("parse failed")
		}
	}
}

package engine

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// The differential check of the engine's frame reader: the same client byte
// stream goes to wsParser and to gws v1.8.9's own server-side reader (the
// reader the engine replaced), and both must see the same messages and
// make the same close decision. Deliberate divergences, each tested in
// TestDifferentialDivergences:
//
//   - D1: a 64-bit length with its top bit set crashes gws (reader.go:104
//     allocates a negative size; the panic is recovered here); the engine
//     closes with 1002.
//   - D2: the engine refuses some frames from their header (continuation
//     without a message, a new message inside a fragmented one, the total
//     of a fragmented message over the limit), gws only once their payload
//     has arrived: on a stream that ends inside such a frame, gws sees the
//     end of the stream and the engine a protocol error.
//   - D3: text messages: the engine closes them with 1003 (its protocol is
//     binary), so the comparison stops at the first one.

const diffLimit = 4096

// diffResult is what a reader made of a stream: its messages ("ping:hex",
// "pong:hex", "binary:hex", "text:hex") and how it ended: "eof" (the stream
// ended, possibly inside a frame), "close:<code>" (a close frame; code as
// gws reports it: 0 without payload, the single byte, or the code) or
// "error" (a protocol violation), or "panic".
type diffResult struct {
	msgs []string
	end  string
	// text is set when a text message was seen (D3: stop comparing there).
	text bool
	// earlyErr: the engine's error was on a frame whose payload had not
	// all arrived (D2).
	earlyErr bool
}

func engineRead(data []byte) diffResult {
	data = bytes.Clone(data)
	p := wsParser{maxMsg: diffLimit}
	var r diffResult
	for off := 0; ; {
		n, op, payload, msg, err := p.next(data[off:])
		if err != nil {
			r.end = "error"
			r.earlyErr = !frameComplete(data[off:])
			return r
		}
		if n == 0 {
			r.end = "eof"
			return r
		}
		off += n
		if !msg {
			continue
		}
		switch op {
		case gws.OpcodePing:
			r.msgs = append(r.msgs, fmt.Sprintf("ping:%x", payload))
		case gws.OpcodePong:
			r.msgs = append(r.msgs, fmt.Sprintf("pong:%x", payload))
		case gws.OpcodeBinary:
			r.msgs = append(r.msgs, fmt.Sprintf("binary:%x", payload))
		case gws.OpcodeText:
			r.text = true
			return r
		case gws.OpcodeCloseConnection:
			var code uint16
			switch len(payload) {
			case 0:
			case 1:
				code = uint16(payload[0])
			default:
				code = binary.BigEndian.Uint16(payload)
			}
			r.end = fmt.Sprintf("close:%d", code)
			return r
		}
	}
}

// frameComplete says whether b holds the whole frame at its start (as its
// header announces it).
func frameComplete(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	hdr, size := 2, uint64(b[1]&0x7f)
	switch size {
	case 126:
		if len(b) < 4 {
			return false
		}
		hdr, size = 4, uint64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		if len(b) < 10 {
			return false
		}
		hdr, size = 10, binary.BigEndian.Uint64(b[2:])
	}
	if b[1]&0x80 != 0 {
		hdr += 4
	}
	return uint64(len(b)-min(len(b), hdr)) >= size && len(b) >= hdr
}

// gwsRecorder is the gws event handler: it records, and never writes.
type gwsRecorder struct {
	r    diffResult
	done chan struct{}
}

func (g *gwsRecorder) OnOpen(*gws.Conn) {}
func (g *gwsRecorder) OnPing(_ *gws.Conn, p []byte) {
	g.r.msgs = append(g.r.msgs, fmt.Sprintf("ping:%x", p))
}
func (g *gwsRecorder) OnPong(_ *gws.Conn, p []byte) {
	g.r.msgs = append(g.r.msgs, fmt.Sprintf("pong:%x", p))
}
func (g *gwsRecorder) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	switch m.Opcode {
	case gws.OpcodeBinary:
		g.r.msgs = append(g.r.msgs, fmt.Sprintf("binary:%x", m.Bytes()))
	case gws.OpcodeText:
		g.r.msgs = append(g.r.msgs, fmt.Sprintf("text:%x", m.Bytes()))
		g.r.text = true
	}
}
func (g *gwsRecorder) OnClose(_ *gws.Conn, err error) {
	var ce *gws.CloseError
	switch {
	case errors.As(err, &ce):
		g.r.end = fmt.Sprintf("close:%d", ce.Code)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.ErrClosedPipe),
		errors.Is(err, os.ErrDeadlineExceeded): // the end of the test's stream
		g.r.end = "eof"
	default:
		g.r.end = "error"
	}
}

// gwsRead feeds data to a gws server connection upgraded over a pipe.
func gwsRead(t testing.TB, data []byte) diffResult {
	sc, cc := net.Pipe()
	defer cc.Close()
	go func() { _, _ = io.Copy(io.Discard, cc) }()
	g := &gwsRecorder{done: make(chan struct{})}
	up := gws.NewUpgrader(g, &gws.ServerOption{ReadMaxPayloadSize: diffLimit, CheckUtf8Enabled: true})
	req, _ := http.NewRequest(http.MethodGet, "/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	ws, err := up.UpgradeFromConn(sc, bufio.NewReader(sc), req)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(g.done)
		defer func() {
			if v := recover(); v != nil {
				g.r.end = "panic"
			}
		}()
		ws.ReadLoop()
	}()
	// The pipe's reader (gws) consumes everything before the close.
	w := make(chan struct{})
	go func() {
		defer close(w)
		// A pipe write returns once gws read it all, or fails when gws
		// stopped reading (it closed the connection).
		_, _ = cc.(io.Writer).Write(data)
		_ = sc.SetReadDeadline(time.Now().Add(-1)) // wake a reader waiting for more: the end of the stream
	}()
	select {
	case <-g.done:
	case <-time.After(5 * time.Second):
		t.Fatal("gws did not finish")
	}
	_ = cc.Close()
	<-w
	return g.r
}

// compareDiff checks the two results, allowing the documented divergences.
func compareDiff(t testing.TB, full []byte) (eng, ref diffResult) {
	eng, ref = engineRead(full), gwsRead(t, full)
	data := full[:min(len(full), 48)] // for messages
	if ref.end == "panic" {
		if eng.end != "error" && !eng.text { // the engine stops at a text message (D3)
			t.Fatalf("gws panicked on %x; the engine ended %q, want an error (D1)", data, eng.end)
		}
		return
	}
	if eng.text { // D3
		if len(ref.msgs) < len(eng.msgs) || fmt.Sprint(ref.msgs[:len(eng.msgs)]) != fmt.Sprint(eng.msgs) {
			t.Fatalf("%x: messages before the first text differ:\nengine %v\ngws    %v", data, eng.msgs, ref.msgs)
		}
		return
	}
	if ref.text {
		// gws delivered a text message the engine did not see: the engine
		// must have failed on that frame's stream before it.
		if eng.end != "error" {
			t.Fatalf("%x: gws saw text, the engine ended %q", data, eng.end)
		}
		return
	}
	if fmt.Sprint(eng.msgs) != fmt.Sprint(ref.msgs) {
		t.Fatalf("%x: messages differ:\nengine %.200v (%s)\ngws    %.200v (%s)", data, eng.msgs, eng.end, ref.msgs, ref.end)
	}
	if eng.end != ref.end && !(eng.end == "error" && eng.earlyErr && ref.end == "eof") { // D2
		t.Fatalf("%x: engine ended %q, gws %q", data, eng.end, ref.end)
	}
	return
}

func diffFrame(b0 byte, payload []byte) []byte { return clientFrame(b0, payload, testKey) }

// diffSeeds are streams of every kind of frame, well-formed and not.
func diffSeeds() [][]byte {
	cat := func(fs ...[]byte) []byte { return bytes.Join(fs, nil) }
	return [][]byte{
		diffFrame(0x82, []byte("hello")),
		cat(diffFrame(0x89, []byte("p")), diffFrame(0x8a, nil), diffFrame(0x82, bytes.Repeat([]byte{1}, 300))),
		cat(diffFrame(0x02, []byte("ab")), diffFrame(0x89, nil), diffFrame(0x80, []byte("c"))),
		cat(diffFrame(0x02, nil), diffFrame(0x00, nil), diffFrame(0x80, nil)),
		diffFrame(0x82, make([]byte, diffLimit)),
		diffFrame(0x82, make([]byte, diffLimit+1)),
		cat(diffFrame(0x02, make([]byte, diffLimit)), diffFrame(0x80, []byte{1})),
		diffFrame(0xc2, []byte("rsv1")),
		diffFrame(0x83, nil),
		diffFrame(0x8b, nil),
		diffFrame(0x09, nil),
		diffFrame(0x89, make([]byte, 126)),
		diffFrame(0x80, []byte("lone")),
		cat(diffFrame(0x02, []byte("a")), diffFrame(0x82, []byte("b"))),
		diffFrame(0x88, nil),
		diffFrame(0x88, []byte{3}),
		diffFrame(0x88, []byte{0x03, 0xe8, 'o', 'k'}),
		diffFrame(0x88, []byte{0x0f, 0xa0}),
		{0x82, 0x05, 'h', 'e', 'l', 'l', 'o'}, // unmasked
		diffFrame(0x82, []byte("x"))[:4],      // truncated
	}
}

// TestDifferentialSeeds runs the seeds through both readers.
func TestDifferentialSeeds(t *testing.T) {
	for _, s := range diffSeeds() {
		compareDiff(t, s)
	}
}

// TestDifferentialDivergences: each listed divergence, shown.
func TestDifferentialDivergences(t *testing.T) {
	// D1: gws crashes on the 64-bit length with its top bit set.
	topBit := []byte{0x82, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}
	if eng, ref := engineRead(topBit), gwsRead(t, topBit); ref.end != "panic" || eng.end != "error" {
		t.Fatalf("D1: gws %q, engine %q; want panic and error", ref.end, eng.end)
	}
	// D2: a continuation without a message, its payload not arrived.
	lone := diffFrame(0x80, []byte("payload"))[:8]
	if eng, ref := engineRead(lone), gwsRead(t, lone); ref.end != "eof" || eng.end != "error" || !eng.earlyErr {
		t.Fatalf("D2: gws %q, engine %q (early %v); want eof and an early error", ref.end, eng.end, eng.earlyErr)
	}
	// D3: text.
	text := diffFrame(0x81, []byte("hi"))
	if eng, ref := engineRead(text), gwsRead(t, text); !eng.text || !ref.text {
		t.Fatalf("D3: engine text %v, gws text %v", eng.text, ref.text)
	}
}

// FuzzDifferential feeds the same arbitrary client byte stream to the
// engine's reader and to gws's: same messages, same close decision, except
// the listed divergences.
func FuzzDifferential(f *testing.F) {
	for _, s := range diffSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		compareDiff(t, data)
	})
}

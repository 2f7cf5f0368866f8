//go:build linux && (amd64 || arm64)

package rawsock

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-acc
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestReader(t *testing.T) {
	c, s := tcpPair(t)
	r := NewReader(s)
	if r == nil {
		t.Fatal("NewReader = nil on a TCP socket")
	}
	buf := make([]byte, 64)
	if _, _, err := r.Read(buf); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("empty socket: err = %v, want ErrWouldBlock", err)
	}
	before := time.Now().UnixNano()
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	// ReadWait parks until the data is there.
	n, arrival, err := r.ReadWait(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("ReadWait = %q, %v", buf[:n], err)
	}
	// The kernel enables timestamps lazily: the very first packets on a
	// machine may have none (0). A timestamp, when there is one, is the
	// arrival time.
	if arrival != 0 && (arrival < before-int64(time.Second) || arrival > time.Now().UnixNano()) {
		t.Fatalf("arrival %d outside [%d, now]", arrival, before)
	}
	if _, err := c.Write([]byte("world")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, _, err = r.Read(buf)
		if !errors.Is(err, ErrWouldBlock) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil || string(buf[:n]) != "world" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	c.Close()
	for {
		n, _, err = r.Read(buf)
		if !errors.Is(err, ErrWouldBlock) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if n != 0 || err != nil {
		t.Fatalf("after the peer closed: n=%d err=%v, want 0, nil (end of stream)", n, err)
	}
	s.Close()
	if _, _, err := r.Read(buf); err == nil || errors.Is(err, ErrWouldBlock) {
		t.Fatalf("read of a closed conn: err = %v", err)
	}
}

func TestSetLowat(t *testing.T) {
	_, s := tcpPair(t)
	r := NewReader(s)
	get := func() int {
		var v int
		rc, _ := s.(syscall.Conn).SyscallConn()
		_ = rc.Control(func(fd uintptr) { v, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT) })
		return v
	}
	for _, want := range []int{16 << 10, 1} {
		r.SetLowat(want)
		if got := get(); got != want {
			t.Fatalf("SO_RCVLOWAT = %d, want %d", got, want)
		}
	}
}

func TestNewReaderNotASocket(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if r := NewReader(a); r != nil {
		t.Fatal("NewReader of a net.Pipe end is not nil")
	}
}

//go:build !(linux && (amd64 || arm64))

package rawsock

import "net"

// Reader is only implemented on 64-bit Linux (it needs the socket's receive
// timestamps); elsewhere NewReader returns nil and callers keep a read
// goroutine per connection.
type Reader struct{}

// NewReader returns nil on this platform.
func NewReader(net.Conn) *Reader { return nil }

// Read is never called on this platform (NewReader returns nil).
func (*Reader) Read([]byte) (int, int64, error) { return 0, 0, ErrWouldBlock }

// ReadWait is never called on this platform (NewReader returns nil).
func (*Reader) ReadWait([]byte) (int, int64, error) { return 0, 0, ErrWouldBlock }

// SetLowat does nothing on this platform.
func (*Reader) SetLowat(int) {}

//go:build !(linux && (amd64 || arm64))

package engine

import "net"

// rawReader is only implemented on 64-bit Linux (it needs the socket's
// receive timestamps); elsewhere every connection keeps a read goroutine.
type rawReader struct{}

func newRawReader(net.Conn) *rawReader { return nil }

func (*rawReader) read([]byte) (int, int64, error) { return 0, 0, errWouldBlock }

func (*rawReader) readWait([]byte) (int, int64, error) { return 0, 0, errWouldBlock }

func (*rawReader) setPolled(bool) {}

// pollLowat is the receive low-water mark while read on the tick (unused
// on this platform).
const pollLowat = 16 << 10

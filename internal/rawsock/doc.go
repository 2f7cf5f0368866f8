// Package rawsock reads a TCP socket without blocking and with the kernel's
// receive timestamp (SO_TIMESTAMPNS) of the data each read returns, so that
// one goroutine can read many sockets on its own schedule and still know
// when each message arrived. Implemented on 64-bit Linux only.
package rawsock

import "errors"

// ErrWouldBlock is returned by Reader.Read when the socket holds no data.
var ErrWouldBlock = errors.New("rawsock: would block")

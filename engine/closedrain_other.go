//go:build !linux

package engine

import "net"

// drainBeforeClose is a no-op where unread data does not turn close()
// into a reset the way Linux does.
func drainBeforeClose(net.Conn, []byte) {}

//go:build !unix

package engine

// writeFD is the RawConn.Control callback. Where a socket's descriptor is
// not a Unix file descriptor (Windows), nothing is written here: the
// connection's writer goroutine writes every frame.
func (w *rawWriter) writeFD(uintptr) { w.err = errWouldBlock }

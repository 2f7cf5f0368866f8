//go:build unix

package engine

import "syscall"

// writeFD is the RawConn.Control callback: it never waits for writability.
func (w *rawWriter) writeFD(fd uintptr) {
	for w.written < len(w.b) {
		n, err := syscall.Write(int(fd), w.b[w.written:])
		if n > 0 {
			w.written += n
		}
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN || err == nil && n == 0:
			w.err = errWouldBlock // the writer goroutine finishes the rest
			return
		case err != nil:
			w.err = err
			return
		}
	}
}

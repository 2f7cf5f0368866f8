//go:build !(linux && (amd64 || arm64))

package engine

// lobbyReader is only implemented on 64-bit Linux (epoll, and the
// non-blocking reads of rawReader); elsewhere a connection in no room
// keeps a read goroutine.
type lobbyReader struct{}

func newLobbyReader(*Engine) (*lobbyReader, error) { return nil, nil }

func (*lobbyReader) add(*session) bool { return false }

func (*lobbyReader) socketClosed(*session) {}

func (*lobbyReader) stop() {}

// Package netcode holds Tickwire's transport-free netcode algorithms.
//
//go:generate go run ./internal/goldengen -out testdata/golden
package netcode

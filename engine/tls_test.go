package engine_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/engine"
	"github.com/tickwire/tickwire/room"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// into dir and returns their paths and a pool trusting the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tickwire test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestPlayOverTLS: with certificate files the engine serves wss://; the Go
// client plays over it, and a plain ws:// dial is refused.
func TestPlayOverTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	e, err := engine.New(engine.Config{
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		TLSCertFile: certFile, TLSKeyFile: keyFile, DrainTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.RegisterRoom("sum", room.Define(room.Config{TickRate: 50}, func() room.Handler[*structpb.Struct, *wrapperspb.BytesValue] { return sum{} })); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, ln, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	addr := ln.Addr().String()

	rec := &recorder{}
	opts := rec.options("tls")
	opts.TLSConfig = &tls.Config{RootCAs: pool}
	c, err := client.Dial(ctx5(t), "wss://"+addr+"/ws", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Create(ctx5(t), "sum", client.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendInput(payload("over tls")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "input applied over wss", func() bool {
		st, _, _, ok := rec.states.Latest()
		return ok && st.Fields["last"].GetStringValue() == "over tls"
	})
	if _, err := c.Ping(ctx5(t)); err != nil && err != client.ErrNoClockSample {
		t.Fatal(err)
	}
	// An untrusted certificate and plain ws:// both fail.
	if _, err := client.Dial(ctx5(t), "wss://"+addr+"/ws", client.Options{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("dial with the system roots: %v, want a certificate error", err)
	}
	if _, err := client.Dial(ctx5(t), "ws://"+addr+"/ws", client.Options{}); err == nil {
		t.Fatal("plain ws:// to a TLS node succeeded")
	}
}

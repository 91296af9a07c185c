package tlsfiles

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/tlsfiles/tlstest"
)

// writePair writes cert.pem, key.pem and ca.pem (the certificate, its own
// CA) into dir, and returns the certificate's PEM.
func writePair(t *testing.T, dir string, serial int64) []byte {
	t.Helper()
	certPEM := tlstest.WritePair(t, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), serial)
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certPEM
}

func TestReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	writePair(t, dir, 1)
	p, err := Load(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	// As tokend serve does: the pair's Config on a plain listener (httptest's
	// StartTLS would add a certificate of its own, which wins).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }),
		TLSConfig: p.Config(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	defer srv.Close()
	addr := ln.Addr().String()
	url := "https://" + addr
	if got := tlstest.ServedSerial(t, addr); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}

	// TLS 1.1 is refused.
	if c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil { //nolint:gosec // checking the server's floor
		_ = c.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}

	// A broken renewal keeps the pair in use.
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), []byte("half-written"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(); err == nil {
		t.Fatal("reload of a broken pair succeeded")
	}
	if got := tlstest.ServedSerial(t, addr); got != 1 {
		t.Fatalf("after a failed reload: serial %d, want 1", got)
	}

	// A renewed pair and SIGHUP: the next handshake presents it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.ReloadOnSIGHUP(ctx, slog.New(slog.DiscardHandler))
	caPEM := writePair(t, dir, 2)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for tlstest.ServedSerial(t, addr) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload the pair")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A client that trusts the CA file verifies the new certificate.
	c, err := ClientWithCA(filepath.Join(dir, "ca.pem"), &http.Client{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("client with the CA file: %v (CA %d bytes)", err, len(caPEM))
	}
	resp.Body.Close()
	if _, err := http.Get(url); err == nil {
		t.Fatal("a client without the CA file trusted the test certificate")
	}
	if _, err := ClientWithCA(filepath.Join(dir, "key.pem"), nil); err == nil {
		t.Fatal("a CA file without certificates was accepted")
	}
}

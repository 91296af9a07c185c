// Package tlsfiles serves TLS from a certificate and key on disk that an
// operator can replace without a restart (SIGHUP, as certificate renewal
// tools expect), and trusts a CA file on the client side.
package tlsfiles

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// Pair is a certificate and key loaded from files, reloaded on demand.
// Handshakes read the current pair (GetCertificate), so a reload takes
// effect on the next connection; connections already open keep theirs.
type Pair struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
}

// Load reads the pair once; a pair that does not load is an error at
// start, not on the first handshake.
func Load(certFile, keyFile string) (*Pair, error) {
	p := &Pair{certFile: certFile, keyFile: keyFile}
	if err := p.Reload(); err != nil {
		return nil, err
	}
	return p, nil
}

// Reload reads the files again. On failure (a half-written renewal, say)
// the pair in use stays and the error says why.
func (p *Pair) Reload() error {
	c, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s and key %s: %w", p.certFile, p.keyFile, err)
	}
	p.current.Store(&c)
	return nil
}

// Config is the server's TLS configuration: TLS 1.2 or later, the current
// pair on every handshake.
func (p *Pair) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return p.current.Load(), nil
		},
	}
}

// ReloadOnSIGHUP reloads the pair on every SIGHUP until ctx ends, logging
// the outcome. It returns once the signal is being watched, so that a
// SIGHUP sent afterwards cannot kill the process.
func (p *Pair) ReloadOnSIGHUP(ctx context.Context, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := p.Reload(); err != nil {
					log.Error("TLS certificate reload failed; still serving the previous one", "error", err)
					continue
				}
				log.Info("TLS certificate reloaded", "cert_file", p.certFile)
			}
		}
	}()
}

// ClientWithCA returns an HTTP client that trusts the CAs in caFile besides
// the system's ("": the system's alone), for a tokend whose certificate a
// private CA signed. base, if not nil, supplies the timeout.
func ClientWithCA(caFile string, base *http.Client) (*http.Client, error) {
	c := &http.Client{}
	if base != nil {
		*c = *base
	}
	if caFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("CA file " + caFile + " holds no PEM certificate")
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	c.Transport = t
	return c, nil
}

// Package connect builds the generated tokend client the examples share:
// the server from TOKEND_URL (default http://127.0.0.1:8080), the caller's
// token from TOKEND_TOKEN, sent as X-WallarmApi-Token, and for an https
// server signed by a private CA, that CA from TOKEND_CA_FILE (PEM).
package connect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/tokend/tokend/gen/client"
)

// FromEnv returns a client authenticated with TOKEND_TOKEN.
func FromEnv() (*client.ClientWithResponses, error) {
	token := os.Getenv("TOKEND_TOKEN")
	if token == "" {
		return nil, errors.New("set TOKEND_TOKEN to an API token")
	}
	url := os.Getenv("TOKEND_URL")
	if url == "" {
		url = "http://127.0.0.1:8080"
	}
	hc, err := HTTPClient(os.Getenv("TOKEND_CA_FILE"))
	if err != nil {
		return nil, err
	}
	return client.NewClientWithResponses(url, client.WithHTTPClient(hc), client.WithRequestEditorFn(
		func(_ context.Context, req *http.Request) error {
			req.Header.Set("X-WallarmApi-Token", token)
			return nil
		}))
}

// HTTPClient trusts the PEM certificates in caFile besides the system's
// ("": the system's alone), TLS 1.2 or later.
func HTTPClient(caFile string) (*http.Client, error) {
	hc := &http.Client{Timeout: 30 * time.Second}
	if caFile == "" {
		return hc, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("TOKEND_CA_FILE holds no PEM certificate")
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	hc.Transport = t
	return hc, nil
}

// Package connect builds the generated tokend client the examples share:
// the server from TOKEND_URL (default http://127.0.0.1:8080) and the
// caller's token from TOKEND_TOKEN, sent as X-WallarmApi-Token.
package connect

import (
	"context"
	"errors"
	"net/http"
	"os"

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
	return client.NewClientWithResponses(url, client.WithRequestEditorFn(
		func(_ context.Context, req *http.Request) error {
			req.Header.Set("X-WallarmApi-Token", token)
			return nil
		}))
}

package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/server"
	"github.com/tokend/tokend/store"
)

// The hot path in process, without a network: what one request costs the
// handler chain (go test -bench Hot -cpuprofile …). make bench measures the
// same routes over HTTP against a separate server; these are for profiles.
func hotServer(b *testing.B, backend string, configure func(*server.Config)) (*echo.Echo, string) {
	b.Helper()
	var be testenv.Backend
	for _, x := range testenv.Backends(b) {
		if x.Name == backend {
			be = x
		}
	}
	if be.Name == "" {
		b.Skipf("no %s backend", backend)
	}
	st, err := store.Open(context.Background(), be.DatabaseURL(b))
	testenv.Must(b, err)
	b.Cleanup(func() { st.Close() })
	_, err = st.Migrate(context.Background())
	testenv.Must(b, err)
	key, err := secret.GenerateKey("k1")
	testenv.Must(b, err)
	keys, err := secret.NewKeyring(key)
	testenv.Must(b, err)
	cfg := server.Config{Keys: keys, SecretRetrieval: true, PasswordParams: &testenv.TestPasswordParams}
	if configure != nil {
		configure(&cfg)
	}
	admin, err := server.Bootstrap(context.Background(), st, cfg, false)
	testenv.Must(b, err)
	e, err := server.New(cfg, st)
	testenv.Must(b, err)
	return e, admin.Token
}

func serveHot(b *testing.B, e *echo.Echo, method, path, token, body string) {
	b.Helper()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var r *http.Request
			if body != "" {
				r = httptest.NewRequest(method, path, strings.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
			} else {
				r = httptest.NewRequest(method, path, nil)
			}
			if token != "" {
				r.Header.Set("X-WallarmApi-Token", token)
			}
			w := httptest.NewRecorder()
			e.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
			}
		}
	})
}

func BenchmarkHotHealthz(b *testing.B) {
	e, _ := hotServer(b, "sqlite", nil)
	serveHot(b, e, http.MethodGet, "/healthz", "", "")
}

func BenchmarkHotWallarmUser(b *testing.B) {
	e, tok := hotServer(b, "sqlite", nil)
	serveHot(b, e, http.MethodGet, "/v1/user", tok, "")
}

func BenchmarkHotVerify(b *testing.B) {
	e, tok := hotServer(b, "sqlite", nil)
	serveHot(b, e, http.MethodPost, "/v2/api_tokens/verify", tok, `{"token":"`+tok+`","permission":"api_tokens:view"}`)
}

func BenchmarkHotVerifyUncachedPG(b *testing.B) {
	e, tok := hotServer(b, "postgres", func(c *server.Config) { c.CacheSize = -1 })
	serveHot(b, e, http.MethodPost, "/v2/api_tokens/verify", tok, `{"token":"`+tok+`","permission":"api_tokens:view"}`)
}

func BenchmarkHotListTokens(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			e, tok := hotServer(b, backend, nil)
			for i := range 250 {
				r := httptest.NewRequest(http.MethodPost, "/v2/api_tokens", strings.NewReader(`{"realname":"bench `+strconv.Itoa(i)+`","permissions":["attacks:view"]}`))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("X-WallarmApi-Token", tok)
				w := httptest.NewRecorder()
				e.ServeHTTP(w, r)
				if w.Code != http.StatusCreated && w.Code != http.StatusOK {
					b.Fatalf("create: %d %s", w.Code, w.Body)
				}
			}
			b.ResetTimer()
			serveHot(b, e, http.MethodGet, "/v2/api_tokens?limit=100", tok, "")
		})
	}
}

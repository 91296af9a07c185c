package testenv

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/tokend/tokend/gen/api"
)

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

func contractRouter() (routers.Router, error) {
	specOnce.Do(func() {
		var spec *openapi3.T
		spec, specErr = api.GetSpec()
		if specErr != nil {
			return
		}
		spec.Servers = nil
		specRouter, specErr = gorillamux.NewRouter(spec)
	})
	return specRouter, specErr
}

// validateResponses checks every response the tests receive against the
// spec (kin-openapi response validation), so that the server cannot drift
// from the contract: a response the spec does not allow fails the test.
func validateResponses(t testing.TB, next http.Handler) http.Handler {
	router, err := contractRouter()
	if err != nil {
		t.Fatalf("load spec for response validation: %v", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, params, err := router.FindRoute(r)
		if err != nil {
			// Outside the spec (docs, assets, /metrics, unknown routes).
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{
				Request: r, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
			},
			Status: rec.Code,
			Header: rec.Header(),
			Body:   io.NopCloser(bytes.NewReader(body)),
			Options: &openapi3filter.Options{
				IncludeResponseStatus: true,
				MultiError:            true,
			},
		}
		if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
			t.Errorf("response breaks the contract: %s %s → %d %s\n%s\nbody: %.500s",
				r.Method, r.URL.Path, rec.Code, rec.Header().Get("Content-Type"), oneLine(err), body)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

func oneLine(err error) string {
	s := err.Error()
	if len(s) > 800 {
		s = s[:800] + "…"
	}
	return strings.ReplaceAll(s, "\n", " | ")
}

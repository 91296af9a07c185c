package server_test

import (
	"io"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/testenv"
)

// /metrics speaks Prometheus: request durations per operation id and
// status, verification outcomes by reason, cache hits and misses, and the
// database pool; and no label carries a token.
func TestMetrics(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, testenv.Backends(t)[0])
	tok := env.Admin.Token
	for range 3 {
		status(t, env, tok, "GET", "/v2/user", "")
	}
	status(t, env, "garbage", "GET", "/v2/user", "")
	status(t, env, unknownToken(t), "GET", "/v2/user", "")
	status(t, env, flipLast(tok), "GET", "/v2/user", "")

	resp := env.Do("GET", "/metrics", "", nil)
	body, _ := io.ReadAll(resp.Body)
	text := string(body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`tokend_http_request_duration_seconds_count{operation="getCurrentUser",status="200"} 3`,
		`tokend_http_request_duration_seconds_count{operation="getCurrentUser",status="401"} 3`,
		`tokend_verifications_total{outcome="ok"} 3`,
		`tokend_verifications_total{outcome="malformed"} 2`,
		`tokend_verifications_total{outcome="unknown"} 1`,
		`tokend_verification_cache_requests_total{result="hit"} 2`,
		`tokend_verification_cache_requests_total{result="miss"} 2`,
		`go_sql_max_open_connections{db_name="tokend"}`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(text, tok) || strings.Contains(text, tok[4:12]) {
		t.Error("/metrics contains a token")
	}
}

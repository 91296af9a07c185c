package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/testenv"
)

// /metrics speaks Prometheus: request durations per operation id and
// status, verification outcomes by reason, cache hits and misses, and the
// database pool; and no label carries a token.
func TestMetrics(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, testenv.Backends(t)[0])
	tok := env.Admin.Token
	waitCurrent(t, env)
	for range 3 {
		status(t, env, tok, "GET", "/v1/user", "")
	}
	status(t, env, "garbage", "GET", "/v1/user", "")
	status(t, env, unknownToken(t), "GET", "/v1/user", "")
	status(t, env, flipLast(tok), "GET", "/v1/user", "")

	// Not on the API listener: strangers do not read them.
	if resp := env.Do("GET", "/metrics", "", nil); resp.StatusCode != 404 {
		t.Fatalf("/metrics on the API listener: %d, want 404", resp.StatusCode)
	}
	text := env.Metrics()
	for _, bad := range []string{`outcome="unknown"`, `outcome="disabled"`, `outcome="expired"`} {
		if strings.Contains(text, bad) {
			t.Errorf("the metrics tell failures apart (%s): a counter would undo the one 401", bad)
		}
	}
	for _, want := range []string{
		`tokend_http_request_duration_seconds_count{operation="getCurrentUser",status="200"} 3`,
		`tokend_http_request_duration_seconds_count{operation="getCurrentUser",status="401"} 3`,
		`tokend_verifications_total{outcome="ok"} 3`,
		`tokend_verifications_total{outcome="malformed"} 2`,
		`tokend_verifications_total{outcome="rejected"} 1`,
		`tokend_change_feed_applied_sequence`,
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

// waitCurrent waits until the server's change feed proved itself current
// (right after start it has not polled yet, and serves no cached answer).
func waitCurrent(t *testing.T, env *testenv.Env) {
	t.Helper()
	for range 200 {
		if strings.Contains(env.Metrics(), "tokend_change_feed_lag_seconds 0.") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the change feed never became current")
}

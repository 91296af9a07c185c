package server_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/server"
)

// TOKEND_ACCESS_LOG: errors (the default) logs failures at a bounded rate
// and no success; all logs every request; off logs none.
func TestAccessLogModes(t *testing.T) {
	t.Parallel()
	b := testenv.Backends(t)[0]
	run := func(t *testing.T, mode server.AccessLog) (lines []string) {
		var buf lockedBuffer
		env := testenv.New(t, b, testenv.Options{Configure: func(c *server.Config) {
			c.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
			c.AccessLog = mode
		}})
		for range 3 {
			r := env.Do(http.MethodGet, "/v2/user", "", map[string]string{"X-WallarmApi-Token": env.Admin.Token})
			testenv.Must(t, r.Body.Close())
		}
		// 100 refused credentials, as an attack would send them (under
		// the per-address failure budget's 429s from the 31st on).
		for range 100 {
			r := env.Do(http.MethodGet, "/v2/user", "", map[string]string{"X-WallarmApi-Token": "tkd_" + strings.Repeat("A", 43)})
			testenv.Must(t, r.Body.Close())
		}
		for _, l := range strings.Split(buf.String(), "\n") {
			if strings.Contains(l, `"msg":"request"`) {
				lines = append(lines, l)
			}
		}
		return lines
	}
	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		lines := run(t, server.AccessLogErrors)
		// The budget runs on the server's clock, which stands still in
		// the test: exactly the burst of 40 is written.
		if len(lines) != 40 {
			t.Fatalf("%d request lines for 100 failures, want the burst of 40", len(lines))
		}
		joined := strings.Join(lines, "\n")
		if strings.Contains(joined, `"status":200`) {
			t.Errorf("a success was logged:\n%s", joined)
		}
		if !strings.Contains(joined, `"status":401`) {
			t.Errorf("no 401 logged:\n%s", joined)
		}
	})
	t.Run("all", func(t *testing.T) {
		t.Parallel()
		if lines := run(t, server.AccessLogAll); len(lines) != 103 {
			t.Fatalf("%d request lines for 103 requests", len(lines))
		}
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		if lines := run(t, server.AccessLogOff); len(lines) != 0 {
			t.Fatalf("%d request lines with the access log off:\n%s", len(lines), strings.Join(lines, "\n"))
		}
	})
}

package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/server"
)

// TestDatabaseOutage stops the PostgreSQL server under load and starts it
// again. It stops the machine's shared server, so it runs only with
// TOKEND_TEST_OUTAGE=1 (.ci/run runs it as its own step); it always starts
// the server again.
//
// During the outage tokend answers 503 problem+json within the request
// timeout (never 500, never a hang) and /readyz fails; after the database
// returns it serves again within 5 s without a restart; every token whose
// creation was answered 201 exists afterwards.
func TestDatabaseOutage(t *testing.T) {
	if os.Getenv("TOKEND_TEST_OUTAGE") != "1" {
		t.Skip("stops the shared PostgreSQL server: set TOKEND_TEST_OUTAGE=1 to run it")
	}
	var pg *testenv.Backend
	for _, b := range testenv.Backends(t) {
		if b.Name == "postgres" {
			pg = &b
		}
	}
	if pg == nil {
		t.Fatal("TOKEND_TEST_OUTAGE=1 needs PostgreSQL")
	}
	versions, err := os.ReadDir("/etc/postgresql")
	if err != nil || len(versions) == 0 {
		t.Fatalf("no PostgreSQL cluster under /etc/postgresql: %v", err)
	}
	cluster := func(action string, extra ...string) {
		args := append([]string{"--skip-systemctl-redirect", versions[0].Name(), "main", action}, extra...)
		if out, err := exec.Command("pg_ctlcluster", args...).CombinedOutput(); err != nil {
			t.Logf("pg_ctlcluster %s: %v %s", action, err, out)
		}
	}
	t.Cleanup(func() { cluster("start") }) // whatever happens below

	const timeout = 2 * time.Second
	env := testenv.New(t, *pg, testenv.Options{Configure: func(c *server.Config) { c.RequestTimeout = timeout }})
	admin := env.Admin.Token
	check := personalToken(t, env, admin, "api_tokens:view")

	type answer struct {
		op      string
		status  int
		latency time.Duration
		problem bool
		id      int64
		// retryAfter is the Retry-After header of the answer.
		retryAfter string
	}
	var mu sync.Mutex
	var answers []answer
	httpc := &http.Client{Timeout: 30 * time.Second}
	call := func(op, method, path, body string) answer {
		req, _ := http.NewRequest(method, env.URL+path, strings.NewReader(body))
		req.Header.Set("X-WallarmApi-Token", admin)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		start := time.Now()
		resp, err := httpc.Do(req)
		a := answer{op: op, latency: time.Since(start)}
		if err != nil {
			a.status = -1
			return a
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a.status = resp.StatusCode
		a.problem = strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json")
		a.retryAfter = resp.Header.Get("Retry-After")
		if a.status == 201 {
			var created struct{ Id int64 }
			_ = json.Unmarshal(raw, &created)
			a.id = created.Id
		}
		return a
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var a answer
				switch i % 3 {
				case 0:
					a = call("create", "POST", "/v2/api_tokens", fmt.Sprintf(`{"realname":"outage %d-%d","permissions":["api_tokens:view"]}`, w, i))
				case 1:
					a = call("whoami", "GET", "/v1/user", "")
				default:
					a = call("verify", "POST", "/v2/api_tokens/verify", fmt.Sprintf(`{"token":%q}`, check.Secret))
				}
				mu.Lock()
				answers = append(answers, a)
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}

	time.Sleep(time.Second)
	cluster("stop", "-m", "fast")
	stoppedAt := time.Now()
	readyFailed := false
	for time.Since(stoppedAt) < 3*time.Second {
		if r := call("readyz", "GET", "/readyz", ""); r.status != 200 {
			readyFailed = true
		}
		time.Sleep(200 * time.Millisecond)
	}
	cluster("start")
	backAt := time.Now()
	var recovered time.Duration
	for time.Since(backAt) < 30*time.Second {
		if a := call("create", "POST", "/v2/api_tokens", `{"realname":"after the outage","permissions":["api_tokens:view"]}`); a.status == 201 {
			recovered = time.Since(backAt)
			mu.Lock()
			answers = append(answers, a)
			mu.Unlock()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	if !readyFailed {
		t.Error("/readyz kept answering 200 while the database was down")
	}
	if recovered == 0 || recovered > 5*time.Second {
		t.Errorf("serving again took %v after the database returned; want ≤ 5 s", recovered)
	}
	counts := map[string]map[int]int{}
	var created []int64
	for _, a := range answers {
		if counts[a.op] == nil {
			counts[a.op] = map[int]int{}
		}
		counts[a.op][a.status]++
		switch {
		case a.status == -1:
			t.Errorf("%s: no answer within 30 s", a.op)
		case a.status >= 500 && a.status != 503:
			t.Errorf("%s: %d during the outage; want 503", a.op, a.status)
		case a.status == 503 && (!a.problem || a.retryAfter == ""):
			t.Errorf("%s: 503 without problem+json or Retry-After", a.op)
		}
		if a.latency > timeout+2*time.Second {
			t.Errorf("%s: answered after %v; the request timeout is %v", a.op, a.latency, timeout)
		}
		if a.status == 201 {
			created = append(created, a.id)
		}
	}
	c := env.Client(admin)
	for _, id := range created {
		r, err := c.GetTokenWithResponse(context.Background(), id)
		testenv.Must(t, err)
		if r.StatusCode() != 200 {
			t.Errorf("token %d was answered 201 but is gone: %d", id, r.StatusCode())
		}
	}
	t.Logf("answers by status: %v; %d creates answered 201, all present; serving again %v after the database returned",
		counts, len(created), recovered.Round(time.Millisecond))
	if counts["create"][503] == 0 {
		t.Error("no create was answered 503: the outage was not observed")
	}
}

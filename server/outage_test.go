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
		name    string // a create's realname, unique
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
					name := fmt.Sprintf("outage %d-%d", w, i)
					a = call("create", "POST", "/v2/api_tokens", fmt.Sprintf(`{"realname":%q,"permissions":["api_tokens:view"]}`, name))
					a.name = name
				case 1:
					a = call("whoami", "GET", "/v2/user", "")
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
	readyFailed, readySlowest := false, time.Duration(0)
	for time.Since(stoppedAt) < 3*time.Second {
		r := call("readyz", "GET", "/readyz", "")
		if r.status != 200 {
			readyFailed = true
		}
		readySlowest = max(readySlowest, r.latency)
		if r.latency > timeout+2*time.Second {
			t.Errorf("/readyz answered after %v while the database was down", r.latency)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cluster("start")
	backAt := time.Now()
	var recovered time.Duration
	for try := 0; time.Since(backAt) < 30*time.Second; try++ {
		name := fmt.Sprintf("outage recovery %d", try)
		a := call("create", "POST", "/v2/api_tokens", fmt.Sprintf(`{"realname":%q,"permissions":["api_tokens:view"]}`, name))
		a.name = name
		mu.Lock()
		answers = append(answers, a)
		mu.Unlock()
		if a.status == 201 {
			recovered = time.Since(backAt)
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
	counts, slowest := map[string]map[int]int{}, map[string]time.Duration{}
	var created []int64
	for _, a := range answers {
		if counts[a.op] == nil {
			counts[a.op] = map[int]int{}
		}
		counts[a.op][a.status]++
		slowest[a.op] = max(slowest[a.op], a.latency)
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
	// The other way round: every token the test's creates left behind was
	// answered 201, or its answer was a failure that could not say whether
	// the commit happened (503, no answer); never a 4xx or another 2xx.
	byName := map[string]answer{}
	for _, a := range answers {
		if a.name != "" {
			byName[a.name] = a
		}
	}
	var stored []struct {
		ID       int64
		Realname string
	}
	testenv.Must(t, env.Store.DB().Raw(`SELECT id, realname FROM tokens WHERE realname LIKE 'outage %' ORDER BY id`).Scan(&stored).Error)
	seen, ambiguous := map[string]bool{}, 0
	for _, row := range stored {
		a, ok := byName[row.Realname]
		switch {
		case seen[row.Realname]:
			t.Errorf("token %q stored twice", row.Realname)
		case !ok:
			t.Errorf("token %d %q exists but no create asked for it", row.ID, row.Realname)
		case a.status == 201 && a.id != row.ID:
			t.Errorf("token %q: answered 201 with id %d, stored as %d", row.Realname, a.id, row.ID)
		case a.status == 201:
		case a.status == -1 || a.status >= 500:
			ambiguous++ // committed, but the answer was a failure: allowed, the client retries
		default:
			t.Errorf("token %d %q exists but its create was answered %d", row.ID, row.Realname, a.status)
		}
		seen[row.Realname] = true
	}
	t.Logf("answers by status: %v; %d creates answered 201, all present; %d tokens stored, %d of them from a create answered with a failure; serving again %v after the database returned; slowest answers %v, /readyz %v",
		counts, len(created), len(stored), ambiguous, recovered.Round(time.Millisecond), slowest, readySlowest.Round(time.Millisecond))
	if counts["create"][503] == 0 {
		t.Error("no create was answered 503: the outage was not observed")
	}
}

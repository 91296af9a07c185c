package faults

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// harness is what every scenario shares: the tokend binary, the cluster,
// the key, the HTTP client and the results table.
type harness struct {
	t     *testing.T
	dir   string
	bin   string
	pg    *cluster
	key   string
	http  *http.Client
	bound time.Duration

	mu      sync.Mutex
	results []resultRow
	began   map[string]time.Time
}

// deployment is one database with its Global Administrator.
type deployment struct {
	h        *harness
	db       string
	admin    string
	clientID int64
	userID   int64
}

// buildTokend builds the binary the replicas run, once.
func buildTokend(t *testing.T, dir string) string {
	bin := filepath.Join(dir, "tokend")
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/tokend")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func newKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "k1:" + base64.StdEncoding.EncodeToString(b)
}

// cleanEnv is this process's environment without tokend's own settings,
// so that nothing of the caller's leaks into a replica.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TOKEND_") {
			env = append(env, kv)
		}
	}
	return env
}

// newDeployment creates database db on the cluster and bootstraps it with
// `tokend bootstrap -o json`.
func (h *harness) newDeployment(db string) *deployment {
	h.t.Helper()
	if _, err := h.pg.query("postgres", "CREATE DATABASE "+db); err != nil {
		h.t.Fatalf("create database %s: %v", db, err)
	}
	cmd := exec.Command(h.bin, "bootstrap", "-o", "json")
	cmd.Env = append(cleanEnv(), "TOKEND_DATABASE_URL="+h.pg.url(db), "TOKEND_SECRET_KEY="+h.key)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		h.t.Fatalf("tokend bootstrap: %v\n%s", err, stderr.String())
	}
	var res struct {
		ClientID int64  `json:"client_id"`
		UserID   int64  `json:"user_id"`
		Token    string `json:"token"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.Token == "" {
		h.t.Fatalf("tokend bootstrap printed %q: %v", out, err)
	}
	return &deployment{h: h, db: db, admin: res.Token, clientID: res.ClientID, userID: res.UserID}
}

// replica is one `tokend serve` process.
type replica struct {
	h       *harness
	name    string
	base    string // http://127.0.0.1:port
	metrics string // the metrics listener's base URL (TOKEND_METRICS_LISTEN)
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

// start runs `tokend serve` for d with the extra environment, and waits
// until it answers /healthz (and /readyz, unless ready is false).
func (d *deployment) start(name string, extra map[string]string, ready bool) (*replica, error) {
	h := d.h
	env := map[string]string{
		"TOKEND_DATABASE_URL": h.pg.url(d.db),
		"TOKEND_SECRET_KEY":   h.key,
		// The probes answer thousands of 401s from one address: R23's
		// limit on failed authentications is not what is tested here.
		"TOKEND_AUTH_FAILURE_LIMIT": "100000000",
	}
	for k, v := range extra {
		env[k] = v
	}
	port, metricsPort := anyPort(), anyPort()
	env["TOKEND_METRICS_LISTEN"] = fmt.Sprintf("127.0.0.1:%d", metricsPort)
	r := &replica{h: h, name: name, base: fmt.Sprintf("http://127.0.0.1:%d", port),
		metrics: fmt.Sprintf("http://127.0.0.1:%d", metricsPort),
		logPath: filepath.Join(h.dir, name+".log"), done: make(chan struct{})}
	logf, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	r.cmd = exec.Command(h.bin, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	r.cmd.Env = cleanEnv()
	for k, v := range env {
		r.cmd.Env = append(r.cmd.Env, k+"="+v)
	}
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { _ = r.cmd.Wait(); logf.Close(); close(r.done) }()
	h.t.Cleanup(r.stop)
	path := "/readyz"
	if !ready {
		path = "/healthz"
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-r.done:
			return r, fmt.Errorf("replica %s exited during start:\n%s", name, r.logTail(20, false))
		default:
		}
		if a := h.do(r.base, http.MethodGet, path, "", nil); a.code == http.StatusOK {
			return r, nil
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("replica %s not ready after 30 s:\n%s", name, r.logTail(20, false))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mustStart is start that fails the test.
func (d *deployment) mustStart(t *testing.T, name string, extra map[string]string) *replica {
	t.Helper()
	r, err := d.start(name, extra, true)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// stop ends the process with SIGTERM (then SIGKILL) and waits for it.
func (r *replica) stop() {
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(25 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// kill9 ends the process with SIGKILL, as a crash would.
func (r *replica) kill9() {
	_ = r.cmd.Process.Kill()
	<-r.done
}

func (r *replica) pid() int { return r.cmd.Process.Pid }

// metric reads one sample of /metrics (a metric without labels).
func (r *replica) metric(name string) (float64, error) {
	a := r.h.do(r.metrics, http.MethodGet, "/metrics", "", nil)
	if a.err != nil || a.code != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %d %v", a.code, a.err)
	}
	sc := bufio.NewScanner(bytes.NewReader(a.body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no %s in /metrics", name)
}

const metricListener = "tokend_change_feed_listener_state"

// waitListener waits until the replica's listener is in state want.
func (r *replica) waitListener(want float64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		v, err := r.metric(metricListener)
		if err == nil && v == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: listener state %v (err %v), want %v after %s", r.name, v, err, want, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const metricApplied = "tokend_change_feed_applied_sequence"

// waitApplied waits until every replica applied the change log of db as
// far as it goes now.
func (h *harness) waitApplied(db string, rs ...*replica) error {
	rows, err := h.pg.query(db, "SELECT coalesce(max(seq), 0) FROM change_log")
	if err != nil || len(rows) == 0 {
		return fmt.Errorf("read the change log: %v", err)
	}
	last, _ := strconv.ParseFloat(rows[0], 64)
	deadline := time.Now().Add(5 * time.Second)
	for _, r := range rs {
		for {
			v, err := r.metric(metricApplied)
			if err == nil && v >= last {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s applied the change log up to %v, not %v, after 5 s (%v)", r.name, v, last, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

// logLines are the replica's log lines; without requests, the access log
// ("msg":"request") is left out.
func (r *replica) logLines(requests bool) []string {
	data, _ := os.ReadFile(r.logPath)
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l == "" || (!requests && strings.Contains(l, `"msg":"request"`)) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// logTail is the last n lines of the log (access log left out unless requests).
func (r *replica) logTail(n int, requests bool) string {
	lines := r.logLines(requests)
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// answer is one HTTP exchange.
type answer struct {
	code  int
	body  []byte
	ctype string
	start time.Time // request sent
	at    time.Time // answer received
	err   error
}

func (a answer) String() string {
	if a.err != nil {
		return a.err.Error()
	}
	b := a.body
	if len(b) > 300 {
		b = b[:300]
	}
	return fmt.Sprintf("%d %s", a.code, b)
}

// problemKind is the last segment of a problem+json answer's type, or "".
func (a answer) problemKind() string {
	if !strings.HasPrefix(a.ctype, "application/problem+json") {
		return ""
	}
	var p struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(a.body, &p)
	return p.Type[strings.LastIndex(p.Type, "/")+1:]
}

// decode unmarshals the body into v.
func (a answer) decode(v any) error {
	if a.err != nil {
		return a.err
	}
	return json.Unmarshal(a.body, v)
}

// do sends one request with the token (if any) and a JSON body (if any).
func (h *harness) do(base, method, path, token string, body any) answer {
	return h.doCtx(context.Background(), base, method, path, token, body)
}

func (h *harness) doCtx(ctx context.Context, base, method, path, token string, body any) answer {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return answer{err: err}
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return answer{err: err}
	}
	if token != "" {
		req.Header.Set("X-WallarmApi-Token", token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	a := answer{start: time.Now()}
	resp, err := h.http.Do(req)
	if err != nil {
		a.at, a.err = time.Now(), err
		return a
	}
	a.body, a.err = io.ReadAll(resp.Body)
	resp.Body.Close()
	a.at = time.Now()
	a.code, a.ctype = resp.StatusCode, resp.Header.Get("Content-Type")
	return a
}

var errStatus = errors.New("unexpected status")

// expect fails with the answer unless its status is one of codes.
func expect(a answer, what string, codes ...int) error {
	if a.err != nil {
		return fmt.Errorf("%s: %w", what, a.err)
	}
	for _, c := range codes {
		if a.code == c {
			return nil
		}
	}
	return fmt.Errorf("%s: %w: %s", what, errStatus, a)
}

// Command soak runs tokend under mixed traffic for a while and then checks
// that nothing went wrong: no 5xx, no goroutine or memory growth past a
// bound, and every invariant of DESIGN.md §3 over the whole database.
//
// It builds tokend, serves it as a separate process on a fresh PostgreSQL
// database, creates administrators and analysts who sign in and create
// tokens, and runs workers that mostly verify tokens, and also create,
// renew, disable and re-enable tokens, change users' roles (administrator,
// analyst, and the read-only and API-developer roles that hold no token
// rights, so that demotions strip and disable tokens), and ask who they are.
//
//	go run ./bench/soak -duration 5m     (make soak SOAK_DURATION=5m)
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokend/tokend/store"
)

func main() {
	duration := flag.Duration("duration", 5*time.Minute, "how long to run the mixed traffic")
	workers := flag.Int("workers", 16, "concurrent clients")
	pgURL := flag.String("pg-url", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server; the soak creates and drops its own database there")
	memGrowth := flag.Float64("max-rss-growth", 0.5, "largest allowed RSS growth from the end of warm-up to the end, as a fraction")
	goroutineGrowth := flag.Int("max-goroutine-growth", 50, "largest allowed goroutine growth from the end of warm-up to the end")
	flag.Parse()
	if err := run(*duration, *workers, *pgURL, *memGrowth, *goroutineGrowth); err != nil {
		log.Fatalf("soak: FAIL: %v", err)
	}
	log.Print("soak: PASS")
}

func run(duration time.Duration, workers int, pgURL string, memGrowth float64, goroutineGrowth int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tokend-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "tokend")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/tokend").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	dbURL, drop, err := freshDatabase(ctx, pgURL)
	if err != nil {
		return err
	}
	defer drop()

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	srv := exec.Command(bin, "serve", "--listen", addr, "--database-url", dbURL, "--log-level", "warn",
		"--auth-failure-limit", "1000000")
	srv.Env = append(os.Environ(), "TOKEND_SECRET_KEY=k1:c29hayBrZXkgbWF0ZXJpYWwgZm9yIHRva2VuZCEhISE=")
	stdout, err := srv.StdoutPipe()
	if err != nil {
		return err
	}
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	admin, err := bootstrapToken(stdout)
	if err != nil {
		return err
	}
	base := "http://" + addr
	if err := waitReady(base); err != nil {
		return err
	}
	log.Printf("soak: tokend pid %d at %s on %s; %s of traffic with %d workers", srv.Process.Pid, base, dbURL, duration, workers)

	w, err := newWorld(base, admin, 12)
	if err != nil {
		return err
	}
	var stats stats
	// Warm-up: the verification cache and connection pools fill; growth
	// is measured from its end.
	warmup := min(duration/5, time.Minute)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 42))
			for {
				select {
				case <-stop:
					return
				default:
				}
				w.step(r, &stats)
			}
		}()
	}
	time.Sleep(warmup)
	rss0, g0, err := sample(base, srv.Process.Pid)
	if err != nil {
		return err
	}
	log.Printf("soak: after warm-up: RSS %.1f MB, %d goroutines", rss0/1e6, g0)
	time.Sleep(duration - warmup)
	close(stop)
	wg.Wait()
	time.Sleep(time.Second) // let in-flight work settle
	rss1, g1, err := sample(base, srv.Process.Pid)
	if err != nil {
		return err
	}

	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.DisableExpired(ctx); err != nil { // what the maintenance job would have done
		return err
	}
	violations, err := st.CheckInvariants(ctx)
	if err != nil {
		return err
	}
	var tokens int64
	st.DB().Model(&store.Token{}).Count(&tokens)

	stats.print(duration)
	fmt.Printf("\nRSS %.1f MB → %.1f MB (%+.0f%%), goroutines %d → %d; %d tokens stored; %d invariant violations\n",
		rss0/1e6, rss1/1e6, 100*(rss1-rss0)/rss0, g0, g1, tokens, len(violations))
	var failures []string
	if n := stats.serverErrors.Load(); n > 0 {
		failures = append(failures, fmt.Sprintf("%d answers were 5xx", n))
	}
	if n := stats.transportErrors.Load(); n > 0 {
		failures = append(failures, fmt.Sprintf("%d requests failed in transport", n))
	}
	if rss1 > rss0*(1+memGrowth) {
		failures = append(failures, fmt.Sprintf("RSS grew %.0f%%", 100*(rss1-rss0)/rss0))
	}
	if g1 > g0+goroutineGrowth {
		failures = append(failures, fmt.Sprintf("goroutines grew from %d to %d", g0, g1))
	}
	for i, v := range violations {
		if i < 20 {
			fmt.Println("  violation:", v)
		}
	}
	if len(violations) > 0 {
		failures = append(failures, fmt.Sprintf("%d invariant violations", len(violations)))
	}
	if len(failures) > 0 {
		return fmt.Errorf("%s", strings.Join(failures, "; "))
	}
	return nil
}

// world is what the workers act on: users (signed in) and their tokens.
type world struct {
	base  string
	admin string
	http  *http.Client
	users []*soakUser
}

type soakUser struct {
	id      int64
	session string
	mu      sync.Mutex
	tokens  []soakToken
}

type soakToken struct {
	id    int64
	value string
}

func newWorld(base, admin string, users int) (*world, error) {
	w := &world{base: base, admin: admin, http: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	for i := range users {
		email := fmt.Sprintf("soak%d@example.com", i)
		var u struct{ Id int64 }
		role := []string{"admin", "analytic"}[i%2]
		if code, err := w.call(admin, "POST", "/v2/users", fmt.Sprintf(`{"email":%q,"realname":"Soak %d","role":%q,"password":"soak-password-%d"}`, email, i, role, i), &u); err != nil || code != 201 {
			return nil, fmt.Errorf("create user: %d %v", code, err)
		}
		// The administrator's password is one-time (R22): sign in with it,
		// set one's own, sign in again.
		var login struct{ Token string }
		if code, err := w.call("", "POST", "/v1/login", fmt.Sprintf(`{"email":%q,"password":"soak-password-%d"}`, email, i), &login); err != nil || code != 200 {
			return nil, fmt.Errorf("login: %d %v", code, err)
		}
		change := fmt.Sprintf(`{"current_password":"soak-password-%d","new_password":"own-soak-password-%d"}`, i, i)
		if code, err := w.call(login.Token, "PUT", "/v1/user/password", change, nil); err != nil || code != 204 {
			return nil, fmt.Errorf("set own password: %d %v", code, err)
		}
		if code, err := w.call("", "POST", "/v1/login", fmt.Sprintf(`{"email":%q,"password":"own-soak-password-%d"}`, email, i), &login); err != nil || code != 200 {
			return nil, fmt.Errorf("login: %d %v", code, err)
		}
		su := &soakUser{id: u.Id, session: login.Token}
		for range 20 {
			if err := w.createToken(su, "analytic"); err != nil {
				return nil, err
			}
		}
		w.users = append(w.users, su)
	}
	return w, nil
}

func (w *world) createToken(u *soakUser, role string) error {
	var t struct {
		Id     int64
		Secret string
	}
	code, err := w.call(u.session, "POST", "/v2/api_tokens", fmt.Sprintf(`{"realname":"soak","permissions":[%q]}`, role), &t)
	if err != nil {
		return err
	}
	if code == 201 {
		u.mu.Lock()
		u.tokens = append(u.tokens, soakToken{t.Id, t.Secret})
		u.mu.Unlock()
	}
	return nil
}

func (u *soakUser) pick(r *rand.Rand) (int, soakToken) {
	u.mu.Lock()
	defer u.mu.Unlock()
	i := r.IntN(len(u.tokens))
	return i, u.tokens[i]
}

// step is one request of the mix.
func (w *world) step(r *rand.Rand, s *stats) {
	u := w.users[r.IntN(len(w.users))]
	i, tok := u.pick(r)
	roll := r.IntN(100)
	var kind string
	var code int
	var err error
	start := time.Now()
	switch {
	case roll < 80:
		kind = "verify"
		code, err = w.call(w.admin, "POST", "/v2/api_tokens/verify", fmt.Sprintf(`{"token":%q}`, tok.value), nil)
	case roll < 84:
		kind = "whoami"
		code, err = w.call(tok.value, "GET", "/v2/user", "", nil)
	case roll < 88:
		kind = "create"
		role := "analytic"
		if r.IntN(2) == 0 {
			role = "admin"
		}
		var t struct {
			Id     int64
			Secret string
		}
		code, err = w.call(u.session, "POST", "/v2/api_tokens", fmt.Sprintf(`{"realname":"soak","permissions":[%q]}`, role), &t)
		if code == 201 {
			u.mu.Lock()
			u.tokens = append(u.tokens, soakToken{t.Id, t.Secret})
			u.mu.Unlock()
		}
	case roll < 92:
		kind = "renew"
		var t struct{ Secret string }
		code, err = w.call(u.session, "POST", fmt.Sprintf("/v2/api_tokens/%d/renew", tok.id), "{}", &t)
		if code == 200 {
			u.mu.Lock()
			if i < len(u.tokens) && u.tokens[i].id == tok.id {
				u.tokens[i].value = t.Secret
			}
			u.mu.Unlock()
		}
	case roll < 97:
		kind = "disable/enable"
		body := `{"enabled":false}`
		if r.IntN(2) == 0 {
			body = fmt.Sprintf(`{"enabled":true,"expire_at":%q}`, time.Now().Add(30*24*time.Hour).UTC().Format(time.RFC3339))
		}
		code, err = w.call(u.session, "PUT", fmt.Sprintf("/v2/api_tokens/%d", tok.id), body, nil)
	default:
		kind = "role change"
		role := roles[r.IntN(len(roles))]
		code, err = w.call(w.admin, "PUT", fmt.Sprintf("/v2/users/%d", u.id), fmt.Sprintf(`{"role":%q}`, role), nil)
	}
	s.record(kind, code, err, time.Since(start))
}

// roles are what role changes pick from: mostly the two that hold tokens,
// sometimes one that strips every token right (R12 then empties and
// disables tokens, and promotion does not bring them back).
var roles = []string{"admin", "admin", "admin", "analytic", "analytic", "analytic", "auditor", "api_developer"}

func (w *world) call(cred, method, path, body string, out any) (int, error) {
	req, err := http.NewRequest(method, w.base+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if cred != "" {
		req.Header.Set("X-WallarmApi-Token", cred)
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}

type stats struct {
	mu              sync.Mutex
	byKind          map[string]map[int]int
	latency         map[string][]time.Duration
	serverErrors    atomic.Int64
	transportErrors atomic.Int64
}

func (s *stats) record(kind string, code int, err error, d time.Duration) {
	if err != nil {
		s.transportErrors.Add(1)
		log.Printf("soak: %s: %v", kind, err)
		return
	}
	if code >= 500 {
		s.serverErrors.Add(1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byKind == nil {
		s.byKind, s.latency = map[string]map[int]int{}, map[string][]time.Duration{}
	}
	if s.byKind[kind] == nil {
		s.byKind[kind] = map[int]int{}
	}
	s.byKind[kind][code]++
	s.latency[kind] = append(s.latency[kind], d)
}

func (s *stats) print(measured time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kinds := make([]string, 0, len(s.byKind))
	for k := range s.byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Println("| request | count | per second | statuses | p50 | p99 |")
	fmt.Println("|---|--:|--:|---|--:|--:|")
	total := 0
	for _, k := range kinds {
		lat := s.latency[k]
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		var codes []string
		for c, n := range s.byKind[k] {
			codes = append(codes, fmt.Sprintf("%d×%d", c, n))
		}
		sort.Strings(codes)
		total += len(lat)
		fmt.Printf("| %s | %d | %.0f | %s | %s | %s |\n", k, len(lat), float64(len(lat))/measured.Seconds(), strings.Join(codes, " "),
			lat[len(lat)/2].Round(10*time.Microsecond), lat[len(lat)*99/100].Round(10*time.Microsecond))
	}
	fmt.Printf("\n%d requests in all in %s (warm-up included): %.0f req/s\n", total, measured, float64(total)/measured.Seconds())
}

// sample reads the server's RSS (/proc) and goroutine count (/metrics).
func sample(base string, pid int) (rss float64, goroutines int, err error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			rss = kb * 1024
		}
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			goroutines, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return rss, goroutines, sc.Err()
}

func bootstrapToken(stdout io.Reader) (string, error) {
	sc := bufio.NewScanner(stdout)
	const marker = "API token (shown once, keep it safe): "
	for sc.Scan() {
		if i := strings.Index(sc.Text(), marker); i >= 0 {
			token := strings.TrimSpace(sc.Text()[i+len(marker):])
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return token, nil
		}
	}
	return "", fmt.Errorf("tokend serve printed no bootstrap token")
}

func waitReady(base string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("tokend not ready at %s", base)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func freshDatabase(ctx context.Context, pgURL string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return "", nil, fmt.Errorf("PostgreSQL at %s: %w", pgURL, err)
	}
	name := fmt.Sprintf("tokend_soak_%d", os.Getpid())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		return "", nil, err
	}
	u := strings.Replace(pgURL, "/test?", "/"+name+"?", 1)
	if u == pgURL {
		conn.Close(ctx)
		return "", nil, fmt.Errorf("cannot derive a database URL from %s (expected …/test?…)", pgURL)
	}
	drop := func() {
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(context.Background())
	}
	return u, drop, nil
}

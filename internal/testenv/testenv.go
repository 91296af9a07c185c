// Package testenv runs tests against the real things: every test gets a
// fresh database on each available backend (an SQLite file, and a fresh
// PostgreSQL schema when PostgreSQL answers), the real server from
// server.New over httptest, and the generated client as the caller.
package testenv

import (
	"context"

	"crypto/rand"
	"encoding/hex"
	"github.com/alexedwards/argon2id"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/server"
	"github.com/tokend/tokend/store"
	"gorm.io/gorm"
)

// DefaultPostgresURL is the PostgreSQL the tests use when
// TOKEND_TEST_DATABASE_URL is unset and this one answers.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Backend is one database backend to run a test against.
type Backend struct {
	Name string // "sqlite" or "postgres"
	url  string // base URL; each test gets its own database or schema under it
}

var (
	pgOnce sync.Once
	pgURL  string
)

// postgresURL is the test PostgreSQL, or "" when none answers. Under CI
// PostgreSQL is required, so a missing server fails loudly instead of
// silently testing SQLite alone.
func postgresURL(t testing.TB) string {
	pgOnce.Do(func() {
		u := os.Getenv("TOKEND_TEST_DATABASE_URL")
		explicit := u != ""
		if !explicit {
			u = DefaultPostgresURL
		}
		parsed, err := url.Parse(u)
		if err == nil {
			conn, err := net.DialTimeout("tcp", parsed.Host, time.Second)
			if err == nil {
				conn.Close()
				pgURL = u
				return
			}
		}
		if explicit || os.Getenv("CI") == "true" {
			pgURL = "unreachable:" + u
		}
	})
	if strings.HasPrefix(pgURL, "unreachable:") {
		t.Fatalf("PostgreSQL is required (CI=true or TOKEND_TEST_DATABASE_URL set) but %s does not answer", strings.TrimPrefix(pgURL, "unreachable:"))
	}
	return pgURL
}

// Backends lists SQLite and, when it answers, PostgreSQL.
func Backends(t testing.TB) []Backend {
	b := []Backend{{Name: "sqlite"}}
	if u := postgresURL(t); u != "" {
		b = append(b, Backend{Name: "postgres", url: u})
	}
	return b
}

// ForEachBackend runs f as a subtest per backend, the backends in
// parallel: every test has a database of its own.
func ForEachBackend(t *testing.T, f func(t *testing.T, b Backend)) {
	for _, b := range Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			f(t, b)
		})
	}
}

// DatabaseURL creates a fresh, empty database for this test and returns its
// URL; it is dropped when the test ends.
func (b Backend) DatabaseURL(t testing.TB) string {
	t.Helper()
	if b.Name == "sqlite" {
		return "sqlite:" + filepath.Join(t.TempDir(), "tokend.db")
	}
	schema := "t_" + randomHex(8)
	st, err := store.Open(context.Background(), b.url)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	defer st.Close()
	if err := st.DB().Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		st, err := store.Open(context.Background(), b.url)
		if err != nil {
			return
		}
		defer st.Close()
		st.DB().Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	sep := "?"
	if strings.Contains(b.url, "?") {
		sep = "&"
	}
	return b.url + sep + "search_path=" + schema
}

// OpenStore opens and migrates a fresh database.
func (b Backend) OpenStore(t testing.TB, opts ...store.Option) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), b.DatabaseURL(t), opts...)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := installTap(st); err != nil {
		t.Fatalf("tap: %v", err)
	}
	if _, err := migrate(st); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

// TestPasswordParams make password hashing cheap in tests (64 KiB, one
// pass): argon2id at production cost was two thirds of the suite's CPU.
// The tests of hashing under load set server.PasswordParams back.
var TestPasswordParams = argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Migrate migrates a store the test opened itself (say, two stores on one
// DatabaseURL).
func Migrate(t testing.TB, st *store.Store) {
	t.Helper()
	if _, err := migrate(st); err != nil {
		t.Fatalf("migrate: %v", err)
	}
}

// migrate applies the migrations. Each schema has its own migration lock,
// so parallel tests do not wait for each other.
func migrate(st *store.Store) ([]string, error) { return st.Migrate(context.Background()) }

// Env is a running tokend for one test.
type Env struct {
	T      testing.TB
	Store  *store.Store
	Server *httptest.Server
	URL    string
	Config server.Config
	Clock  *Clock
	// HTTPClient reaches Server (over TLS, it trusts the test certificate).
	HTTPClient *http.Client
	// Admin is the bootstrap Global Administrator.
	Admin *server.BootstrapResult

	databaseURL string
}

// Observe calls f for every statement Store runs from now until the test
// ends (f may add an error to fail the statement). Use it instead of
// registering GORM callbacks: the server's background work is already
// running statements, and GORM's callback chains are not safe to change
// under it.
func (e *Env) Observe(f func(*gorm.DB)) {
	e.T.Helper()
	p, ok := taps.Load(e.Store)
	if !ok {
		e.T.Fatal("Observe: this Env's store was not opened by testenv (New, NewReplica or OpenStore)")
	}
	e.T.Cleanup(p.(*tap).add(f))
}

// Options adjusts a test environment.
type Options struct {
	// ShowOnce turns secret retrieval off (TOKEND_SECRET_RETRIEVAL=off).
	ShowOnce bool
	// Configure adjusts the server configuration before server.New.
	Configure func(*server.Config)
	// TLS serves HTTPS (httptest's certificate, which Env.HTTPClient
	// trusts), as the Wallarm Terraform provider requires.
	TLS bool
}

// New starts a bootstrapped tokend on a fresh database of backend b.
func New(t testing.TB, b Backend, opts ...Options) *Env {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	clock := NewClock(time.Now().UTC().Truncate(time.Millisecond))
	dbURL := b.DatabaseURL(t)
	st, err := store.Open(context.Background(), dbURL, store.WithClock(clock.Now))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := installTap(st); err != nil {
		t.Fatalf("tap: %v", err)
	}
	if _, err := migrate(st); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	key, err := secret.GenerateKey("test1")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secret.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	// The change feed runs as in production, until the test ends.
	feedCtx, stopFeed := context.WithCancel(context.Background())
	t.Cleanup(stopFeed)
	cfg := server.Config{Keys: keys, SecretRetrieval: !o.ShowOnce, Now: clock.Now, Usage: server.NewUsageRecorder(st, clock.Now),
		PasswordParams: &TestPasswordParams, Context: feedCtx, Metrics: newRegistry()}
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	admin, err := server.Bootstrap(context.Background(), st, cfg, false)
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	e, err := server.New(cfg, st)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	srv := httptest.NewUnstartedServer(validateResponses(t, e))
	if o.TLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return &Env{T: t, Store: st, Server: srv, URL: srv.URL, Config: cfg, Clock: clock, HTTPClient: srv.Client(), Admin: admin, databaseURL: dbURL}
}

// NewReplica starts a second tokend on the same database, with the same
// keys and clock, as another replica behind a load balancer would be. Each
// follows the other's changes through the change log (R24).
func (e *Env) NewReplica() *Env {
	t := e.T
	t.Helper()
	st, err := store.Open(context.Background(), e.databaseURL, store.WithClock(e.Clock.Now))
	if err != nil {
		t.Fatalf("open replica store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := installTap(st); err != nil {
		t.Fatalf("tap: %v", err)
	}
	cfg := e.Config
	cfg.Usage = server.NewUsageRecorder(st, e.Clock.Now)
	cfg.Metrics = newRegistry() // each replica its own
	feedCtx, stopFeed := context.WithCancel(context.Background())
	t.Cleanup(stopFeed)
	cfg.Context = feedCtx
	h, err := server.New(cfg, st)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	srv := httptest.NewServer(validateResponses(t, h))
	t.Cleanup(srv.Close)
	return &Env{T: t, Store: st, Server: srv, URL: srv.URL, Config: cfg, Clock: e.Clock, HTTPClient: srv.Client(), Admin: e.Admin, databaseURL: e.databaseURL}
}

// newRegistry is a Prometheus registry with the runtime's series, as serve
// makes one.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Metrics scrapes the server's registry as Prometheus would on the metrics
// listener (TOKEND_METRICS_LISTEN).
func (e *Env) Metrics() string {
	e.T.Helper()
	rec := httptest.NewRecorder()
	server.MetricsHandler(e.Config.Metrics).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// Client is the generated client authenticated with token ("" = anonymous).
func (e *Env) Client(token string) *client.ClientWithResponses {
	e.T.Helper()
	c, err := client.NewClientWithResponses(e.URL, client.WithHTTPClient(e.httpClient()), client.WithRequestEditorFn(func(ctx context.Context, req *http.Request) error {
		if token != "" {
			req.Header.Set("X-WallarmApi-Token", token)
		}
		return nil
	}))
	if err != nil {
		e.T.Fatal(err)
	}
	return c
}

// Do sends a raw request, for what the generated client cannot express
// (bad headers, malformed bodies).
func (e *Env) Do(method, path, body string, headers map[string]string) *http.Response {
	e.T.Helper()
	req, err := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	if err != nil {
		e.T.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := e.httpClient().Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	e.T.Cleanup(func() { resp.Body.Close() })
	return resp
}

// httpClient is HTTPClient, or the default client for an Env a test
// assembled itself.
func (e *Env) httpClient() *http.Client {
	if e.HTTPClient == nil {
		return http.DefaultClient
	}
	return e.HTTPClient
}

// Clock is a settable time source shared by the store and the server.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the current fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves time forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Must fails the test on err.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// RowsChanged must follow a test's direct write to the database (through
// Store.DB()), which bypasses the store's change notifications: it drops
// every cached verification, as an operator's manual edit would need to.
func (e *Env) RowsChanged() {
	e.T.Helper()
	Must(e.T, e.Store.Publish(context.Background(), store.Change{All: true}))
}

package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/store"
)

// Scenario names, as printed.
const (
	scHealthz     = "GET /healthz"
	scHealthzEnd  = "GET /healthz (again, after the scenarios above: drift)"
	scUser        = "GET /v1/user (cache warm)"
	scMe          = "GET /v2/user (cache warm)"
	scVerify      = "POST /v2/api_tokens/verify (cache warm)"
	scVerifyOff   = "POST /v2/api_tokens/verify (--cache-size 0)"
	scCreate      = "POST /v2/api_tokens (create)"
	scListFirst   = "GET /v2/api_tokens?limit=100 (first page)"
	scListDeep    = "GET /v2/api_tokens?limit=100 (deep page)"
	scListFirst1  = "GET /v2/api_tokens?limit=100 (first page, 1 connection)"
	scListDeep1   = "GET /v2/api_tokens?limit=100 (deep page, 1 connection)"
	scListFirstT  = "GET /v2/api_tokens?limit=100 (first page, partner with 2 tenants)"
	scListDeepT   = "GET /v2/api_tokens?limit=100 (deep page, partner with 2 tenants)"
	scVerifyFill  = "POST /v2/api_tokens/verify (each once: cache fill)"
	backendPG     = "postgres"
	backendSQLite = "sqlite"
)

type row struct {
	backend, scenario string
	st                stats
	cpu               cpuUse
	notes             []string
}

// othersShare is the fraction of the machine's CPU that other processes
// used during the measurement.
func (r *row) othersShare() float64 {
	if r.cpu.wall == 0 {
		return 0
	}
	return r.cpu.others / (r.cpu.wall.Seconds() * float64(runtime.NumCPU()))
}

// cpuPerReq is "tokend · PostgreSQL · vegeta" CPU time per request.
func (r *row) cpuPerReq() string {
	if r.st.requests == 0 || r.cpu.wall == 0 {
		return "—"
	}
	per := func(sec float64) string { return strconv.Itoa(int(sec*1e6/float64(r.st.requests) + 0.5)) }
	return per(r.cpu.server) + " · " + per(r.cpu.postgres) + " · " + per(r.cpu.self)
}

// noteOthers flags CPU used by processes other than the server, PostgreSQL
// and the bench during the measurement (a shared machine).
func (r *row) noteOthers() {
	if r.cpu.wall == 0 {
		return
	}
	share := r.othersShare()
	if share >= 0.03 {
		r.notes = append(r.notes, fmt.Sprintf("other processes used %.0f%% of the CPUs", 100*share))
	}
}

// oneOff is a measurement that is not a load scenario.
type oneOff struct {
	backend, name, result, target, meets string
}

type explain struct {
	title, sql, params, plan string
}

type bench struct {
	cfg       config
	root      string // the module root
	dir       string // temporary directory
	bin       string
	key       string // TOKEND_SECRET_KEY
	keys      *secret.Keyring
	servers   map[*instance]bool
	cleanups  []func()
	rows      []*row
	oneOffs   []oneOff
	explains  []explain
	started   time.Time
	counts    map[string]string // backend: tokens stored, for the report
	pgVersion string
	builtFrom string
	settled   time.Duration
	pgConn    *pgx.Conn       // to the bench database while the PostgreSQL scenarios run
	listSQL   map[bool]string // the list statements the server sent (deep or not), for EXPLAIN
	companies []int64         // the list caller's scope: its company and the tenants listScenarios adds
	sweep     []sweepRow
}

func execSQL(ctx context.Context, dbURL string, stmts ...string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, q := range stmts {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

func (b *bench) cleanup() {
	for s := range b.servers {
		b.stopServer(s)
	}
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
	b.cleanups = nil
}

func (b *bench) run(ctx context.Context) error {
	b.started = time.Now()
	b.servers = map[*instance]bool{}
	b.counts = map[string]string{}
	b.listSQL = map[bool]string{}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		return fmt.Errorf("run from inside the tokend module (go env GOMOD: %q %v)", out, err)
	}
	b.root = filepath.Dir(strings.TrimSpace(string(out)))
	if b.dir, err = os.MkdirTemp("", "tokend-bench-"); err != nil {
		return err
	}
	b.cleanups = append(b.cleanups, func() {
		if b.cfg.keep {
			logf("kept %s", b.dir)
			return
		}
		_ = os.RemoveAll(b.dir)
	})
	if b.cfg.perfDir != "" {
		if err := os.MkdirAll(b.cfg.perfDir, 0o755); err != nil {
			return err
		}
	}
	logf("building tokend into %s", b.dir)
	if err := b.buildTokend(ctx); err != nil {
		return err
	}
	key, err := secret.GenerateKey("k1")
	if err != nil {
		return err
	}
	b.key = "k1:" + base64.StdEncoding.EncodeToString(key.Secret)
	if b.keys, err = secret.NewKeyring(key); err != nil {
		return err
	}
	for _, backend := range b.cfg.backends {
		switch backend {
		case backendPG:
			err = b.runPostgres(ctx)
		case backendSQLite:
			err = b.runSQLite(ctx)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", backend, err)
		}
	}
	report := b.report()
	fmt.Print(report)
	if b.cfg.out != "" {
		if err := os.WriteFile(b.cfg.out, []byte(report), 0o644); err != nil {
			return err
		}
		logf("report written to %s", b.cfg.out)
	}
	return nil
}

// createDatabase makes a new database on the -pg-url server; drop removes
// it (also at cleanup, if the run ends early).
func (b *bench) createDatabase(ctx context.Context) (dbURL, name string, drop func(), err error) {
	u, err := url.Parse(b.cfg.pgURL)
	if err != nil {
		return "", "", nil, fmt.Errorf("-pg-url: %w", err)
	}
	admin, err := pgx.Connect(ctx, b.cfg.pgURL)
	if err != nil {
		return "", "", nil, fmt.Errorf("connect to %s: %w", u.Redacted(), err)
	}
	defer admin.Close(context.Background())
	name = "tokend_bench_" + strconv.Itoa(os.Getpid())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	var once sync.Once
	drop = func() {
		once.Do(func() {
			if b.cfg.keep {
				logf("kept database %s (-keep): drop it with DROP DATABASE %s", name, name)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			admin, err := pgx.Connect(ctx, b.cfg.pgURL)
			if err != nil {
				logf("drop database %s: %v", name, err)
				return
			}
			defer admin.Close(ctx)
			if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
				logf("drop database %s: %v", name, err)
				return
			}
			// Write the dropped database's dirty pages out now, not during the next measurement.
			_, _ = admin.Exec(ctx, "CHECKPOINT")
			logf("dropped database %s", name)
		})
	}
	b.cleanups = append(b.cleanups, drop)
	u.Path = "/" + name
	return u.String(), name, drop, nil
}

func (b *bench) runPostgres(ctx context.Context) error {
	dbURL, dbName, drop, err := b.createDatabase(ctx)
	if err != nil {
		return err
	}
	defer drop()
	logf("postgres: database %s", dbName)
	boot, err := b.bootstrap(ctx, dbURL)
	if err != nil {
		return err
	}
	keep := max(b.cfg.cached, b.cfg.rotate)
	values := make([]string, keep)
	logf("postgres: seeding %d tokens with COPY over %d connections", b.cfg.tokens, b.cfg.seedConns)
	copyTime, analyzeTime, err := b.seedPostgres(ctx, dbURL, boot, b.cfg.tokens, values)
	if err != nil {
		return err
	}
	logf("postgres: seeded in %s, ANALYZE %s", fmtSecs(copyTime), fmtSecs(analyzeTime))
	total := copyTime + analyzeTime
	b.oneOffs = append(b.oneOffs, oneOff{backendPG, fmt.Sprintf("seed %s tokens (values, digests, hints + COPY; then ANALYZE)", thousands(b.cfg.tokens)),
		fmt.Sprintf("%s (COPY %s + ANALYZE %s; %s rows/s)", fmtSecs(total), fmtSecs(copyTime), fmtSecs(analyzeTime), thousands(int(float64(b.cfg.tokens)/copyTime.Seconds()))),
		"< 60 s", yesNo(total < time.Minute)})
	b.counts[backendPG] = thousands(b.cfg.tokens + 1)
	// Settle before measuring: VACUUM sets hint bits and the visibility map
	// (else the first reads write them, and autovacuum would start on the
	// freshly inserted table mid-run) and CHECKPOINT flushes the WAL of the load.
	settle := time.Now()
	if err := execSQL(ctx, dbURL, "VACUUM tokens", "CHECKPOINT"); err != nil {
		return err
	}
	b.settled = time.Since(settle)
	logf("postgres: VACUUM tokens + CHECKPOINT in %s", fmtSecs(b.settled))

	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer db.Close(context.Background())
	b.pgConn = db
	defer func() { b.pgConn = nil }()
	_ = db.QueryRow(ctx, "SELECT 'PostgreSQL ' || current_setting('server_version')").Scan(&b.pgVersion)
	var deepID int64
	if err := db.QueryRow(ctx, "SELECT id FROM tokens WHERE client_id = $1 ORDER BY id OFFSET 999 LIMIT 1", boot.ClientID).Scan(&deepID); err != nil {
		return fmt.Errorf("find the 1,000th smallest id: %w", err)
	}

	// Scenarios 1-3, 5, 6 on one server with the default settings.
	srv, err := b.startServer(ctx, "pg-main", dbURL)
	if err != nil {
		return err
	}
	if err := b.commonScenarios(ctx, srv, backendPG, boot, values[:b.cfg.rotate]); err != nil {
		return err
	}
	if err := b.listScenarios(ctx, srv, backendPG, boot, deepID); err != nil {
		return err
	}
	if err := b.createScenario(ctx, srv, backendPG, boot); err != nil {
		return err
	}
	if _, err := b.load(ctx, srv, backendPG, scHealthzEnd, attackOpts{targets: []vegeta.Target{getTarget(srv.base, "/healthz", "")}}); err != nil {
		return err
	}
	b.stopServer(srv)
	b.explainList(ctx, db, deepID, b.listSQL[false], b.listSQL[true])
	b.cursorSweep(ctx, db, boot.ClientID, b.listSQL[true])

	// Scenario 4: the cache off, a separate start.
	srv, err = b.startServer(ctx, "pg-nocache", dbURL, "--cache-size", "0")
	if err != nil {
		return err
	}
	if _, err := b.load(ctx, srv, backendPG, scVerifyOff, attackOpts{targets: verifyTargets(srv.base, boot.Token, values[:b.cfg.rotate]), bodyCheck: activeTrue}); err != nil {
		return err
	}
	b.stopServer(srv)

	// Scenario 7: revocation between two replicas. Each trial ends with one
	// 401 from 127.0.0.1; the brute-force guard (30 per 5 min by default)
	// would answer 429 after 30 trials, so the replicas allow more.
	guard := []string{"--auth-failure-limit", "1000000"}
	if !b.cfg.runs("revocation") {
		return b.rssScenarios(ctx, dbURL, boot, values)
	}
	ra, err := b.startServer(ctx, "pg-replica-a", dbURL, guard...)
	if err != nil {
		return err
	}
	rb, err := b.startServer(ctx, "pg-replica-b", dbURL, guard...)
	if err != nil {
		return err
	}
	logf("postgres: %d revocation trials (A %s, B %s)", b.cfg.trials, ra.base, rb.base)
	rev, err := b.revoke(ctx, ra, rb, boot.Token, b.cfg.trials)
	if err != nil {
		return err
	}
	b.stopServer(ra)
	b.stopServer(rb)
	maxLat := rev.lat[len(rev.lat)-1]
	b.oneOffs = append(b.oneOffs, oneOff{backendPG,
		fmt.Sprintf("revocation across 2 replicas (%d trials): A's 2xx → B's first 401", rev.trials),
		fmt.Sprintf("max %s, p50 %s, p99 %s; first poll already 401 in %d/%d trials; %d polls in all",
			fmtDur(maxLat), fmtDur(quantile(rev.lat, 0.5)), fmtDur(quantile(rev.lat, 0.99)), rev.firstPoll, rev.trials, rev.polls),
		"≤ 1 s worst case", yesNo(maxLat <= time.Second)})
	logf("postgres: revocation max %s p50 %s p99 %s", fmtDur(maxLat), fmtDur(quantile(rev.lat, 0.5)), fmtDur(quantile(rev.lat, 0.99)))

	return b.rssScenarios(ctx, dbURL, boot, values)
}

// rssScenarios is scenario 8: RSS with the table full and the cache full,
// on a fresh start (and the in-process heap profile, with -heap-profile).
func (b *bench) rssScenarios(ctx context.Context, dbURL string, boot *bootstrapResult, values []string) error {
	if !b.cfg.runs("rss") {
		return nil
	}
	srv, err := b.startServer(ctx, "pg-rss", dbURL)
	if err != nil {
		return err
	}
	idle, _, err := procStatus(srv.pid())
	if err != nil {
		return err
	}
	fill, err := b.fillOnce(ctx, srv, backendPG, boot.Token, values[:b.cfg.cached])
	if err != nil {
		return err
	}
	rss, hwm, err := procStatus(srv.pid())
	if err != nil {
		return err
	}
	m := scrape(srv, metricHeapInuse, metricSys)
	b.stopServer(srv)
	b.oneOffs = append(b.oneOffs, oneOff{backendPG,
		fmt.Sprintf("server RSS, %s tokens stored, %s distinct tokens verified (cached)", thousands(b.cfg.tokens), thousands(b.cfg.cached)),
		fmt.Sprintf("VmRSS %s (idle after start %s; VmHWM %s; Go heap in use %s, runtime total %s); fill %.0f req/s, %d errors",
			mib(rss), mib(idle), mib(hwm), mib(int64(m[metricHeapInuse])), mib(int64(m[metricSys])), fill.st.rps, fill.st.errors),
		"≤ 150 MB", yesNo(rss <= 150e6)})
	logf("postgres: RSS %s (HWM %s)", mib(rss), mib(hwm))
	if b.cfg.memLimit != "" {
		// The same, with the Go runtime's soft memory limit set, as an
		// operator bounding the process would run it.
		env := []string{"GOMEMLIMIT=" + b.cfg.memLimit}
		srv, err = b.startServerEnv(ctx, "pg-rss-memlimit", dbURL, env)
		if err != nil {
			return err
		}
		fill, err := b.fillOnce(ctx, srv, backendPG, boot.Token, values[:b.cfg.cached])
		if err != nil {
			return err
		}
		rss, hwm, err := procStatus(srv.pid())
		if err != nil {
			return err
		}
		m := scrape(srv, metricHeapInuse, metricSys)
		b.stopServer(srv)
		b.oneOffs = append(b.oneOffs, oneOff{backendPG,
			fmt.Sprintf("server RSS as above, with GOMEMLIMIT=%s", b.cfg.memLimit),
			fmt.Sprintf("VmRSS %s (VmHWM %s; Go heap in use %s, runtime total %s); fill %.0f req/s, %d errors",
				mib(rss), mib(hwm), mib(int64(m[metricHeapInuse])), mib(int64(m[metricSys])), fill.st.rps, fill.st.errors),
			"— (the target is without it)", "—"})
		logf("postgres: RSS with GOMEMLIMIT=%s: %s (HWM %s)", b.cfg.memLimit, mib(rss), mib(hwm))
	}
	if b.cfg.heapProfile != "" {
		logf("postgres: in-process heap profile of %d cached verifications", len(values[:b.cfg.cached]))
		res, err := b.heapProfile(ctx, dbURL, boot.Token, values[:b.cfg.cached])
		if err != nil {
			return err
		}
		b.oneOffs = append(b.oneOffs, oneOff{backendPG, "in-process (-heap-profile): what the server retains per cached token", res, "—", "—"})
		logf("postgres: %s", res)
	}
	return nil
}

// commonScenarios runs healthz, /v1/user and the cached verify.
func (b *bench) commonScenarios(ctx context.Context, srv *instance, backend string, boot *bootstrapResult, rotate []string) error {
	if _, err := b.load(ctx, srv, backend, scHealthz, attackOpts{targets: []vegeta.Target{getTarget(srv.base, "/healthz", "")}}); err != nil {
		return err
	}
	if _, err := b.load(ctx, srv, backend, scUser, attackOpts{targets: []vegeta.Target{getTarget(srv.base, "/v1/user", boot.Token)}}); err != nil {
		return err
	}
	if _, err := b.load(ctx, srv, backend, scMe, attackOpts{targets: []vegeta.Target{getTarget(srv.base, "/v2/user", boot.Token)}}); err != nil {
		return err
	}
	_, err := b.load(ctx, srv, backend, scVerify, attackOpts{targets: verifyTargets(srv.base, boot.Token, rotate), bodyCheck: activeTrue})
	return err
}

// listScenarios measures the first page and a deep page (the cursor after
// deepID), at full concurrency and one request at a time (the service time
// without the queueing that 64 connections on 2 cores add), as the issue
// measured them: the caller's scope is its one company. Then again at full
// concurrency with two (empty) tenants linked, as a partner's Global
// Administrator lists: each page then reads three companies.
func (b *bench) listScenarios(ctx context.Context, srv *instance, backend string, boot *bootstrapResult, deepID int64) error {
	b.companies = []int64{boot.ClientID}
	cursor := base64.RawURLEncoding.EncodeToString([]byte("v1:" + strconv.FormatInt(deepID, 10)))
	type list struct {
		name, path string
		conns      int
		deep       bool
	}
	run := func(ls ...list) error {
		for _, l := range ls {
			if _, err := b.load(ctx, srv, backend, l.name, attackOpts{targets: []vegeta.Target{getTarget(srv.base, l.path, boot.Token)}, conns: l.conns}); err != nil {
				return err
			}
			if backend == backendPG && b.pgConn != nil && b.listSQL[l.deep] == "" {
				b.listSQL[l.deep] = listQuery(ctx, b.pgConn, l.deep)
			}
		}
		return nil
	}
	if err := run(
		list{scListFirst, "/v2/api_tokens?limit=100", 0, false},
		list{scListDeep, "/v2/api_tokens?limit=100&cursor=" + cursor, 0, true},
		list{scListFirst1, "/v2/api_tokens?limit=100", 1, false},
		list{scListDeep1, "/v2/api_tokens?limit=100&cursor=" + cursor, 1, true},
	); err != nil {
		return err
	}
	if !b.cfg.runs(scListFirstT) && !b.cfg.runs(scListDeepT) {
		return nil
	}
	c := &apiClient{http: &http.Client{Timeout: 10 * time.Second}}
	for i := range 2 {
		status, body, err := c.do(ctx, "POST", srv.base+"/v2/clients", boot.Token, map[string]string{"name": fmt.Sprintf("bench tenant %d", i+1)})
		if err != nil || status != 201 {
			return fmt.Errorf("create a tenant: %d %s %v", status, body, err)
		}
	}
	return run(
		list{scListFirstT, "/v2/api_tokens?limit=100", 0, false},
		list{scListDeepT, "/v2/api_tokens?limit=100&cursor=" + cursor, 0, true},
	)
}

// sqliteDeepID is the 1,000th smallest token id of the company, the deep
// page's cursor.
func sqliteDeepID(ctx context.Context, dbURL string, clientID int64) (int64, error) {
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	var id int64
	err = st.DB().WithContext(ctx).Raw("SELECT id FROM tokens WHERE client_id = ? ORDER BY id LIMIT 1 OFFSET 999", clientID).Scan(&id).Error
	if err != nil {
		return 0, fmt.Errorf("find the 1,000th smallest id: %w", err)
	}
	return id, nil
}

func (b *bench) createScenario(ctx context.Context, srv *instance, backend string, boot *bootstrapResult) error {
	body := []byte(`{"realname":"b","permissions":["attacks:view"]}`)
	_, err := b.load(ctx, srv, backend, scCreate, attackOpts{targets: []vegeta.Target{postTarget(srv.base, "/v2/api_tokens", boot.Token, body)}})
	return err
}

// fillOnce verifies every value once, at full concurrency (no warm-up).
func (b *bench) fillOnce(ctx context.Context, srv *instance, backend, caller string, values []string) (*row, error) {
	logf("%s: verifying %d distinct tokens once", backend, len(values))
	tr := newTransport()
	defer tr.CloseIdleConnections()
	b.waitQuiet(ctx, srv)
	before := scrape(srv, metricCacheHit, metricCacheMiss)
	cpu0 := b.sampleCPU(srv.pid())
	st := b.run1(ctx, tr, attackOpts{targets: verifyTargets(srv.base, caller, values), once: true, bodyCheck: activeTrue}, 0, "fill")
	cpu := b.sampleCPU(srv.pid()).since(cpu0)
	after := scrape(srv, metricCacheHit, metricCacheMiss)
	if err := srv.alive(); err != nil {
		return nil, err
	}
	if st.requests != len(values) {
		return nil, fmt.Errorf("cache fill: %d responses for %d values", st.requests, len(values))
	}
	r := &row{backend: backend, scenario: scVerifyFill, st: st, cpu: cpu}
	hits, misses := after[metricCacheHit]-before[metricCacheHit], after[metricCacheMiss]-before[metricCacheMiss]
	if hits+misses > 0 {
		r.notes = append(r.notes, fmt.Sprintf("cache hits %.1f%%", 100*hits/(hits+misses)))
	}
	r.notes = append(r.notes, fmt.Sprintf("%s requests in %s", thousands(st.requests), fmtSecs(st.elapsed)))
	if st.errors > 0 {
		r.notes = append(r.notes, "status "+codeSummary(st.codes))
	}
	r.noteOthers()
	b.rows = append(b.rows, r)
	logf("%-8s %-34s %8.0f req/s  p50 %-9s p99 %-9s errors %d/%d  CPU/req %s", backend, scVerifyFill, st.rps, fmtDur(st.p50), fmtDur(st.p99), st.errors, st.requests, r.cpuPerReq())
	return r, nil
}

func (b *bench) runSQLite(ctx context.Context) error {
	dbURL := "sqlite:" + filepath.Join(b.dir, "bench.db")
	boot, err := b.bootstrap(ctx, dbURL)
	if err != nil {
		return err
	}
	n := b.cfg.sqliteRows
	values := make([]string, b.cfg.rotate)
	logf("sqlite: seeding %d tokens", n)
	took, err := b.seedSQLite(ctx, dbURL, boot, n, values)
	if err != nil {
		return err
	}
	logf("sqlite: seeded in %s", fmtSecs(took))
	b.oneOffs = append(b.oneOffs, oneOff{backendSQLite, fmt.Sprintf("seed %s tokens (one transaction of INSERTs)", thousands(n)),
		fmt.Sprintf("%s (%s rows/s)", fmtSecs(took), thousands(int(float64(n)/took.Seconds()))), "—", "—"})
	b.counts[backendSQLite] = thousands(n + 1)

	srv, err := b.startServer(ctx, "sqlite-main", dbURL)
	if err != nil {
		return err
	}
	if err := b.commonScenarios(ctx, srv, backendSQLite, boot, values); err != nil {
		return err
	}
	deepID, err := sqliteDeepID(ctx, dbURL, boot.ClientID)
	if err != nil {
		return err
	}
	if err := b.listScenarios(ctx, srv, backendSQLite, boot, deepID); err != nil {
		return err
	}
	if err := b.createScenario(ctx, srv, backendSQLite, boot); err != nil {
		return err
	}
	if _, err := b.load(ctx, srv, backendSQLite, scHealthzEnd, attackOpts{targets: []vegeta.Target{getTarget(srv.base, "/healthz", "")}}); err != nil {
		return err
	}
	b.stopServer(srv)

	srv, err = b.startServer(ctx, "sqlite-nocache", dbURL, "--cache-size", "0")
	if err != nil {
		return err
	}
	if _, err := b.load(ctx, srv, backendSQLite, scVerifyOff, attackOpts{targets: verifyTargets(srv.base, boot.Token, values), bodyCheck: activeTrue}); err != nil {
		return err
	}
	b.stopServer(srv)
	return nil
}

// listQuery finds the SQL text the server sent for a list page: the last
// statement of its pooled connections stays in pg_stat_activity.
func listQuery(ctx context.Context, db *pgx.Conn, deep bool) string {
	rows, err := db.Query(ctx, `SELECT DISTINCT query FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'SELECT%FROM tokens WHERE client_id%ORDER BY id DESC%'`)
	if err != nil {
		return ""
	}
	defer rows.Close()
	for rows.Next() {
		var q string
		if rows.Scan(&q) != nil {
			continue
		}
		if strings.Contains(q, "id < $") == deep {
			return q
		}
	}
	return ""
}

// explainList runs EXPLAIN (ANALYZE, BUFFERS) of the list queries as the
// server sends them: a prepared statement, executed 6 times first so that
// PostgreSQL's plan cache has made the same custom/generic choice it makes
// on the server's connections.
func (b *bench) explainList(ctx context.Context, db *pgx.Conn, deepID int64, firstSQL, deepSQL string) {
	for _, q := range []struct {
		title, sql string
		deep       bool
	}{
		{"first page", firstSQL, false},
		{fmt.Sprintf("deep page (cursor v1:%d, the 1,000th smallest id)", deepID), deepSQL, true},
	} {
		sqlText, origin := q.sql, "captured from pg_stat_activity"
		params := b.listParams(deepID, q.deep)
		if sqlText == "" || strings.Count(sqlText, "$") != len(params) {
			// Not captured, or cut at track_activity_query_size.
			sqlText, origin = listSQL(len(b.companies), q.deep), "reconstructed (the store's shape; the captured text was missing or cut)"
		}
		if n := strings.Count(sqlText, "$"); n != len(params) {
			logf("explain %s: %d parameters in %q, expected %d", q.title, n, sqlText, len(params))
			continue
		}
		plan, err := explainPrepared(ctx, db, sqlText, params)
		if err != nil {
			logf("explain %s: %v", q.title, err)
			continue
		}
		b.explains = append(b.explains, explain{title: q.title + ", " + origin, sql: sqlText, params: strings.Join(params, ", "), plan: plan})
	}
}

// listSQL is the store's page query (store.ListTokens) for companies
// companies, as a fallback when none was captured.
func listSQL(companies int, deep bool) string {
	n := 0
	branch := func() string {
		n++
		q := fmt.Sprintf("SELECT * FROM tokens WHERE client_id = $%d", n)
		if deep {
			n++
			q += fmt.Sprintf(" AND id < $%d", n)
		}
		return q
	}
	if companies == 1 {
		q := branch()
		return q + fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", n+1)
	}
	var parts []string
	for i := range companies {
		q := branch()
		n++
		parts = append(parts, fmt.Sprintf("SELECT * FROM (%s ORDER BY id DESC LIMIT $%d) AS c%d", q, n, i))
	}
	return strings.Join(parts, " UNION ALL ") + fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", n+1)
}

// listParams are the page query's parameters: per company its id (and the
// cursor on a deep page), then the limit + 1.
func (b *bench) listParams(deepID int64, deep bool) []string {
	var p []string
	for _, c := range b.companies {
		p = append(p, strconv.FormatInt(c, 10))
		if deep {
			p = append(p, strconv.FormatInt(deepID, 10))
		}
		if len(b.companies) > 1 {
			p = append(p, "101")
		}
	}
	return append(p, "101")
}

func explainPrepared(ctx context.Context, db *pgx.Conn, sqlText string, params []string) (string, error) {
	simple := pgx.QueryExecModeSimpleProtocol
	if _, err := db.Exec(ctx, "DEALLOCATE ALL", simple); err != nil {
		return "", err
	}
	if _, err := db.Exec(ctx, "PREPARE benchq AS "+sqlText, simple); err != nil {
		return "", err
	}
	exec := "EXECUTE benchq(" + strings.Join(params, ", ") + ")"
	for range 6 {
		if _, err := db.Exec(ctx, exec, simple); err != nil {
			return "", err
		}
	}
	rows, err := db.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+exec, simple)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return "", err
		}
		lines = append(lines, l)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	if len(lines) == 0 {
		return "", errors.New("no plan")
	}
	return strings.Join(lines, "\n"), nil
}

// sweepRow is the plan of one deep page.
type sweepRow struct {
	rank   int   // the cursor is the rank-th smallest id
	id     int64 // that id
	plan   string
	execMS float64
	bufs   int64
}

// cursorSweep runs EXPLAIN ANALYZE of the deep-page query at cursors ever
// nearer the oldest end. With literal values PostgreSQL plans each cursor
// on its own (a custom plan, as the server's prepared statement gets while
// custom plans look cheaper than the generic one).
func (b *bench) cursorSweep(ctx context.Context, db *pgx.Conn, clientID int64, deepSQL string) {
	if deepSQL == "" {
		deepSQL = listSQL(len(b.companies), true)
	}
	var n int
	if err := db.QueryRow(ctx, "SELECT count(*) FROM tokens WHERE client_id = $1", clientID).Scan(&n); err != nil {
		logf("cursor sweep: %v", err)
		return
	}
	for _, rank := range []int{1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 50_000, 100_000, 500_000} {
		if rank >= n {
			break
		}
		var id int64
		if err := db.QueryRow(ctx, "SELECT id FROM tokens WHERE client_id = $1 ORDER BY id OFFSET $2 LIMIT 1", clientID, rank-1).Scan(&id); err != nil {
			logf("cursor sweep: %v", err)
			return
		}
		var out []byte
		var args []any
		for _, c := range b.companies {
			args = append(args, c, id)
			if len(b.companies) > 1 {
				args = append(args, 101)
			}
		}
		args = append(args, 101)
		err := db.QueryRow(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+deepSQL, args...).Scan(&out)
		if err != nil {
			logf("cursor sweep: %v", err)
			return
		}
		var plans []struct {
			Plan          planNode `json:"Plan"`
			ExecutionTime float64  `json:"Execution Time"`
		}
		if err := json.Unmarshal(out, &plans); err != nil || len(plans) == 0 {
			logf("cursor sweep: %v", err)
			return
		}
		p := plans[0]
		b.sweep = append(b.sweep, sweepRow{rank: rank, id: id, plan: p.Plan.shape(), execMS: p.ExecutionTime,
			bufs: p.Plan.SharedHit + p.Plan.SharedRead})
	}
}

type planNode struct {
	NodeType   string     `json:"Node Type"`
	IndexName  string     `json:"Index Name"`
	SharedHit  int64      `json:"Shared Hit Blocks"`
	SharedRead int64      `json:"Shared Read Blocks"`
	ActualRows float64    `json:"Actual Rows"`
	Plans      []planNode `json:"Plans"`
}

// shape is the plan's node types, outermost first, e.g. "Limit > Sort > Hash Join".
func (n planNode) shape() string {
	var parts []string
	for cur := &n; cur != nil; {
		name := cur.NodeType
		if cur.IndexName != "" && strings.HasPrefix(name, "Index") {
			name += " (" + cur.IndexName + ", " + strconv.FormatFloat(cur.ActualRows, 'f', 0, 64) + " rows)"
		}
		parts = append(parts, name)
		if len(cur.Plans) == 0 {
			break
		}
		cur = &cur.Plans[0]
	}
	return strings.Join(parts, " > ")
}

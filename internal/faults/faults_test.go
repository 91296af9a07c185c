package faults

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// verbose prints every trial (TOKEND_FAULTS_VERBOSE=1).
var verbose = os.Getenv("TOKEND_FAULTS_VERBOSE") == "1"

// staleBound is the replicas' TOKEND_STALE_BOUND (the default).
const staleBound = time.Second

// quiet is R24's figure when nothing fails (scenario 1, and the direct
// listener of a PgBouncer deployment): the doorbell, not the bound.
const quiet = 50 * time.Millisecond

// TestFaults runs every scenario against one throwaway cluster, in an
// order that keeps the disruptive ones (the database stopped) last; the
// webhook scenario runs beside the others on a database of its own.
func TestFaults(t *testing.T) {
	if os.Getenv("TOKEND_TEST_FAULTS") != "1" {
		t.Skip("fault injection: set TOKEND_TEST_FAULTS=1 (make faults); it needs root and the PostgreSQL server tools")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the fault tests run as root: they create a PostgreSQL cluster with pg_createcluster")
	}
	for _, tool := range []string{"pg_createcluster", "pg_ctlcluster", "pg_dropcluster", "pg_basebackup", "runuser"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: the fault tests need the Debian PostgreSQL server packages", tool)
		}
	}
	version, err := pgVersion()
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	dropLeftovers(t, version)
	dir, err := os.MkdirTemp("", "tokend-faults-")
	if err != nil {
		t.Fatal(err)
	}
	// PgBouncer runs as postgres and reads its configuration from here.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dir: dir, key: newKey(), bound: staleBound,
		http: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxIdleConns: 256}}}
	t.Cleanup(func() {
		if t.Failed() {
			_ = os.Remove(filepath.Join(dir, "tokend"))
			t.Logf("replica and PgBouncer logs kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	defer func() { h.writeResults(t, time.Since(begin)) }()

	h.bin = buildTokend(t, dir)
	h.pg = newCluster(t, version, "main")
	if err := h.pg.start(); err != nil {
		t.Fatal(err)
	}
	if err := h.pg.waitUp(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("throwaway cluster %s on port %d; built tokend in %s", h.pg.name, h.pg.port, time.Since(begin).Round(time.Millisecond))
	d := h.newDeployment("faults")
	hooks := h.newDeployment("hooks")

	// B's listener goes through a proxy the test can black-hole, and is
	// named so that its backend alone can be terminated.
	px, err := newProxy(fmt.Sprintf("127.0.0.1:%d", h.pg.port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.close)
	a := d.mustStart(t, "A", nil)
	b := d.mustStart(t, "B", map[string]string{"TOKEND_LISTEN_DATABASE_URL": "postgres://postgres@" + px.addr() +
		"/faults?sslmode=disable&application_name=tokend-listener-B"})
	c := d.mustStart(t, "C", map[string]string{"TOKEND_LISTEN_DATABASE_URL": h.pg.url("faults", "application_name=tokend-listener-C")})
	for _, r := range []*replica{a, b, c} {
		if err := r.waitListener(1, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	p, err := d.newProber(a)
	if err != nil {
		t.Fatal(err)
	}
	env := &env{h: h, d: d, p: p, a: a, b: b, c: c, px: px}
	senders := startSenders(t, hooks)

	scenario := func(name string, fn func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			h.begin(t)
			defer h.incomplete(name[:strings.Index(name, " ")], time.Now())
			fn(t)
		})
	}
	var side sync.WaitGroup
	side.Add(1)
	go func() {
		defer side.Done()
		scenario("9 webhooks", func(t *testing.T) { scenarioWebhooks(t, h, hooks, senders) })
	}()
	scenario("1 nothing fails", env.nothingFails)
	scenario("2 listener terminated", env.listenerTerminated)
	scenario("4 listener black-holed", env.listenerBlackholed)
	scenario("6 pgbouncer", env.pgbouncer)
	scenario("7 hot standby", env.hotStandby)
	scenario("8 kill -9 during writes", env.killDuringWrites)
	side.Wait()
	scenario("3 postgres restarted", env.postgresRestarted)
	scenario("5 database stopped under load", env.databaseStopped)
}

// env is what the scenarios on the main deployment share.
type env struct {
	h       *harness
	d       *deployment
	p       *prober
	a, b, c *replica
	px      *proxy
}

// trialOpts configures a run of revocation trials.
type trialOpts struct {
	kinds   []kind
	n       int
	warm    []*replica // cache the token here first
	probe   []*replica // then poll these after the revoke
	confirm time.Duration
	giveUp  time.Duration
	budget  time.Duration     // start no trial after this long (0: none)
	before  func(i int) error // the fault, just before the revoke
	after   func(i int) error // the repair, after the probe
}

// cacheCounters reads each replica's verification cache counters and feed lag (verbose runs).
func cacheCounters(rs []*replica) map[string]string {
	out := map[string]string{}
	for _, r := range rs {
		a := r.h.do(r.metrics, http.MethodGet, "/metrics", "", nil)
		var parts []string
		for _, l := range strings.Split(string(a.body), "\n") {
			if strings.HasPrefix(l, "tokend_verification_cache_requests_total") || strings.HasPrefix(l, "tokend_change_feed_lag_seconds") {
				parts = append(parts, strings.TrimPrefix(strings.TrimPrefix(l, "tokend_verification_cache_requests_total"), "tokend_change_feed_"))
			}
		}
		out[r.name] = strings.Join(parts, " ")
	}
	return out
}

// trials runs revocation trials; an error is the harness's, not a finding.
func (e *env) trials(p *prober, o trialOpts) (*tally, []*subject, error) {
	h := e.h
	tl := newTally(o.probe...)
	var subjects []*subject
	began := time.Now()
	for i := range o.n {
		if o.budget > 0 && time.Since(began) > o.budget {
			break
		}
		k := o.kinds[i%len(o.kinds)]
		s, err := p.prepare(k)
		if err != nil {
			return tl, subjects, fmt.Errorf("trial %d (%s): prepare: %w", i, k, err)
		}
		// Cache it only once the replicas applied the changes made so far
		// (the create's among them), so that the entry is still there when
		// the revocation comes.
		if err := h.waitApplied(p.d.db, o.warm...); err != nil {
			return tl, subjects, fmt.Errorf("trial %d (%s): %w", i, k, err)
		}
		if err := h.warm(s.tok.Secret, o.warm...); err != nil {
			return tl, subjects, fmt.Errorf("trial %d (%s): %w", i, k, err)
		}
		if o.before != nil {
			if err := o.before(i); err != nil {
				return tl, subjects, fmt.Errorf("trial %d (%s): inject: %w", i, k, err)
			}
		}
		var before map[string]string
		if verbose {
			before = cacheCounters(o.probe)
		}
		t0, err := p.revoke(s)
		if err != nil {
			return tl, subjects, fmt.Errorf("trial %d: %w", i, err)
		}
		subjects = append(subjects, s)
		res := h.probe(t0, s.tok.Secret, o.confirm, o.giveUp, o.probe...)
		tl.add(res)
		if verbose {
			var b strings.Builder
			for _, r := range o.probe {
				pr := res[r.name]
				fmt.Fprintf(&b, " %s: last 200 %s (sent at %s, %d 200s), %d polls %v;", r.name, ms(pr.lastAccept), ms(pr.lastSent), pr.accepts, pr.polls, pr.codes)
			}
			fmt.Printf("trial %d %s t0 %s:%s\n  cache before %v\n  cache after  %v\n", i, k, t0.Format("15:04:05.000"), b.String(), before, cacheCounters(o.probe))
		}
		if o.after != nil {
			if err := o.after(i); err != nil {
				return tl, subjects, fmt.Errorf("trial %d (%s): repair: %w", i, k, err)
			}
		}
	}
	return tl, subjects, nil
}

// verifyAll checks through r that every revocation acknowledged is held.
func (e *env) verifyAll(p *prober, r *replica, subjects []*subject) []string {
	var bad []string
	for _, s := range subjects {
		if err := p.check(r, s); err != nil {
			bad = append(bad, err.Error())
		}
	}
	if len(bad) > 3 {
		bad = append(bad[:3], fmt.Sprintf("… %d in all", len(bad)))
	}
	return bad
}

// report records a row and fails the (sub)test with every finding, plus
// the non-access log lines of the replicas named in logs.
func (h *harness) report(t *testing.T, row resultRow, findings []string, logs ...*replica) {
	t.Helper()
	if len(findings) == 0 {
		row.result = "pass"
	} else {
		row.result = "**FAIL**: " + strings.Join(findings, "; ")
		var b strings.Builder
		for _, f := range findings {
			fmt.Fprintf(&b, "\n  - %s", f)
		}
		for _, r := range logs {
			fmt.Fprintf(&b, "\n  log of %s (last lines, access log left out):\n%s", r.name, r.logTail(12, false))
		}
		t.Errorf("%s: product failure:%s", row.scenario, b.String())
	}
	if row.notes != "" {
		row.result += " (" + row.notes + ")"
	}
	row.took = h.since(t)
	h.record(row)
	t.Logf("%s: %s trials, max 2xx→last acceptance %s, 500s %d: %s", row.scenario, row.trials, row.maxAccept, row.fiveHundred, row.result)
}

// trialsPerKind and kindBudget bound scenario 1: 100 trials of each kind,
// or as many as fit in 20 s (the runtime stays in check even when every
// trial waits for a poll instead of the doorbell); the table says how many.
const (
	trialsPerKind = 100
	kindBudget    = 20 * time.Second
)

func (e *env) nothingFails(t *testing.T) {
	n := trialsPerKind
	if testing.Short() {
		n = 10
	}
	for _, k := range kinds {
		e.h.begin(t)
		tl, subjects, err := e.trials(e.p, trialOpts{kinds: []kind{k}, n: n, budget: kindBudget, warm: []*replica{e.b, e.c},
			probe: []*replica{e.a, e.b, e.c}, confirm: 10 * time.Millisecond, giveUp: 5 * time.Second})
		findings := tl.check(map[string]time.Duration{"A": 0, "B": quiet, "C": quiet})
		if err != nil {
			findings = append(findings, "harness: "+err.Error())
		}
		findings = append(findings, e.verifyAll(e.p, e.c, subjects)...)
		e.h.report(t, resultRow{scenario: "1 nothing fails: " + string(k), trials: fmt.Sprint(tl.trials),
			maxAccept: tl.maxes(), fiveHundred: tl.fiveHundred}, findings, e.b, e.c)
	}
}

// terminateListener ends B's LISTEN backend (only B's: it is named).
func (e *env) terminateListener() error {
	rows, err := e.h.pg.query("faults", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tokend-listener-B'")
	if err != nil {
		return err
	}
	if len(rows) == 0 || rows[0] != "true" {
		return fmt.Errorf("no LISTEN backend of B to terminate (%v)", rows)
	}
	return nil
}

func (e *env) listenerTerminated(t *testing.T) {
	tl, subjects, err := e.trials(e.p, trialOpts{kinds: kinds, n: 20, warm: []*replica{e.b, e.c},
		probe: []*replica{e.a, e.b, e.c}, confirm: 100 * time.Millisecond, giveUp: 5 * time.Second,
		before: func(int) error {
			if err := e.b.waitListener(1, 10*time.Second); err != nil {
				return err
			}
			return e.terminateListener()
		}})
	// C's path is not faulted, but the fault is in the deployment: R24
	// asks the bound of every replica then (its figure is in the table).
	findings := tl.check(map[string]time.Duration{"A": 0, "B": e.h.bound, "C": e.h.bound})
	if err != nil {
		findings = append(findings, "harness: "+err.Error())
	}
	if err := e.b.waitListener(1, 10*time.Second); err != nil {
		findings = append(findings, "B's listener did not come back: "+err.Error())
	}
	findings = append(findings, e.verifyAll(e.p, e.c, subjects)...)
	e.h.report(t, resultRow{scenario: "2 B's LISTEN backend terminated", trials: fmt.Sprint(tl.trials),
		maxAccept: tl.maxes(), fiveHundred: tl.fiveHundred}, findings, e.b)
}

func (e *env) listenerBlackholed(t *testing.T) {
	h := e.h
	if err := e.b.waitListener(1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// Watch B's listener state while the proxy black-holes it.
	var states []float64
	var changed []time.Time // when each state was first seen
	var smu sync.Mutex
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if v, err := e.b.metric(metricListener); err == nil {
				smu.Lock()
				if len(states) == 0 || states[len(states)-1] != v {
					states = append(states, v)
					changed = append(changed, time.Now())
				}
				smu.Unlock()
			}
		}
	}()
	holedAt := time.Now()
	e.px.blackhole()
	// Revocations at once, while B does not know yet, and after it noticed.
	tl, subjects, err := e.trials(e.p, trialOpts{kinds: kinds, n: 10, warm: []*replica{e.b, e.c},
		probe: []*replica{e.a, e.b, e.c}, confirm: 100 * time.Millisecond, giveUp: 5 * time.Second,
		after: func(int) error { time.Sleep(200 * time.Millisecond); return nil }})
	findings := tl.check(map[string]time.Duration{"A": 0, "B": h.bound, "C": h.bound}) // as in scenario 2
	if err != nil {
		findings = append(findings, "harness: "+err.Error())
	}
	// The listener must leave state 1 (it worked, then went silent).
	var left error = fmt.Errorf("timeout")
	var leftAfter time.Duration
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		smu.Lock()
		for i, v := range states {
			if v != 1 && left != nil {
				left, leftAfter = nil, changed[i].Sub(holedAt)
			}
		}
		smu.Unlock()
		if left == nil {
			break
		}
	}
	restoredAt := time.Now()
	e.px.restore()
	back := e.b.waitListener(1, 40*time.Second)
	backAfter := time.Since(restoredAt) // within the 20 ms the wait polls
	time.Sleep(150 * time.Millisecond)  // let the watcher see it too
	close(stopWatch)
	<-watched
	smu.Lock()
	seen := fmt.Sprint(states)
	smu.Unlock()
	if left != nil {
		findings = append(findings, fmt.Sprintf("B's /metrics never showed the listener leaving state 1 (states seen %s)", seen))
	}
	if back != nil {
		findings = append(findings, fmt.Sprintf("B's listener did not come back to state 1 within 40 s of the proxy forwarding again (states seen %s)", seen))
	}
	findings = append(findings, e.verifyAll(e.p, e.c, subjects)...)
	h.report(t, resultRow{scenario: "4 B's listener black-holed", trials: fmt.Sprint(tl.trials), maxAccept: tl.maxes(),
		fiveHundred: tl.fiveHundred, notes: fmt.Sprintf("B's listener states %s; left 1 %s after the black hole began, back to 1 %s after forwarding resumed",
			seen, leftAfter.Round(100*time.Millisecond), backAfter.Round(100*time.Millisecond))}, findings, e.b)
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// stats summarises one measured attack.
type stats struct {
	requests int
	errors   int // transport errors, non-2xx, and failed body checks
	rps      float64
	p50, p99 time.Duration
	max      time.Duration
	elapsed  time.Duration
	codes    map[uint16]int
}

// attackOpts describe one load scenario.
type attackOpts struct {
	targets []vegeta.Target
	// once: send every target exactly once (in order) and stop, instead of
	// cycling for a fixed duration.
	once bool
	// bodyCheck, if set, must hold for a 2xx response body prefix.
	bodyCheck func(body []byte) bool
	// conns overrides -connections (e.g. 1: the service time without queueing).
	conns int
}

// attacker is the vegeta configuration of every scenario: a fixed pool of
// workers, each with its own keep-alive connection, sending the next
// request as soon as the previous one is answered (rate 0 = unpaced; with
// rate 0 vegeta requires a finite MaxWorkers, which bounds concurrency).
func (b *bench) attacker(tr *http.Transport, n int) *vegeta.Attacker {
	return vegeta.NewAttacker(
		// One transport for warm-up and measurement, so that the measured
		// phase starts with open connections.
		vegeta.Client(&http.Client{Transport: tr}),
		vegeta.Workers(uint64(n)),
		vegeta.MaxWorkers(uint64(n)),
		vegeta.Connections(n),
		vegeta.MaxConnections(n),
		vegeta.KeepAlive(true),
		vegeta.Timeout(30*time.Second),
		vegeta.Redirects(vegeta.NoFollow),
		// Only a prefix of each body is kept (enough for "active":true);
		// the rest is read and discarded, so big list pages cost the
		// client no allocation.
		vegeta.MaxBody(256),
	)
}

func newTransport() *http.Transport {
	return &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConns: 0}
}

// run1 attacks for d (or once through the targets) and collects results.
func (b *bench) run1(ctx context.Context, tr *http.Transport, o attackOpts, d time.Duration, name string) stats {
	conns := b.cfg.connections
	if o.conns > 0 {
		conns = o.conns
	}
	atk := b.attacker(tr, conns)
	var targeter vegeta.Targeter
	if o.once {
		i := 0
		var mu sync.Mutex // vegeta calls the targeter from every worker
		targeter = func(t *vegeta.Target) error {
			mu.Lock()
			defer mu.Unlock()
			if i >= len(o.targets) {
				return vegeta.ErrNoTargets
			}
			*t = o.targets[i]
			i++
			return nil
		}
		d = 0
	} else {
		targeter = vegeta.NewStaticTargeter(o.targets...)
	}
	lat := make([]time.Duration, 0, 1<<16)
	st := stats{codes: map[uint16]int{}}
	var first, last time.Time
	done := ctx.Done()
	for res := range atk.Attack(targeter, vegeta.Rate{Freq: 0}, d, name) {
		select {
		case <-done:
			atk.Stop()
			done = nil
		default:
		}
		if o.once && res.Error == vegeta.ErrNoTargets.Error() {
			continue
		}
		st.requests++
		st.codes[res.Code]++
		ok := res.Error == "" && res.Code >= 200 && res.Code < 300
		if ok && o.bodyCheck != nil && !o.bodyCheck(res.Body) {
			ok = false
		}
		if !ok {
			st.errors++
		}
		lat = append(lat, res.Latency)
		if first.IsZero() || res.Timestamp.Before(first) {
			first = res.Timestamp
		}
		if end := res.Timestamp.Add(res.Latency); end.After(last) {
			last = end
		}
	}
	if len(lat) == 0 {
		return st
	}
	slices.Sort(lat)
	st.elapsed = last.Sub(first)
	st.rps = float64(st.requests) / st.elapsed.Seconds()
	st.p50 = quantile(lat, 0.50)
	st.p99 = quantile(lat, 0.99)
	st.max = lat[len(lat)-1]
	return st
}

// quantile is the nearest-rank quantile of sorted values.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// load runs one scenario against srv: a warm-up, then the measured attack,
// optionally under perf (repeated when other processes were busy). It
// records the row and returns it.
func (b *bench) load(ctx context.Context, srv *instance, backend, scenario string, o attackOpts) (*row, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !b.cfg.runs(scenario) {
		return nil, nil
	}
	tr := newTransport()
	defer tr.CloseIdleConnections()
	// On a shared machine other processes take CPU from the server: wait
	// for a quiet moment, and measure again (up to -retries times) when
	// they took more than -max-others of the CPUs; keep the quietest attempt.
	var r *row
	attempts := 0
	for attempt := 0; ; attempt++ {
		attempts++
		b.waitQuiet(ctx, srv)
		if b.cfg.warmup > 0 {
			w := b.run1(ctx, tr, o, b.cfg.warmup, "warmup")
			if w.requests == 0 {
				return nil, fmt.Errorf("%s %s: no responses in the warm-up", backend, scenario)
			}
		}
		before := scrape(srv, metricCacheHit, metricCacheMiss)
		stopPerf := b.perf(srv, backend, scenario)
		cpu0 := b.sampleCPU(srv.pid())
		st := b.run1(ctx, tr, o, b.cfg.duration, scenario)
		cpu := b.sampleCPU(srv.pid()).since(cpu0)
		stopPerf()
		after := scrape(srv, metricCacheHit, metricCacheMiss)
		if err := srv.alive(); err != nil {
			return nil, err
		}
		if st.requests == 0 {
			return nil, fmt.Errorf("%s %s: no responses", backend, scenario)
		}
		try := &row{backend: backend, scenario: scenario, st: st, cpu: cpu}
		hits, misses := after[metricCacheHit]-before[metricCacheHit], after[metricCacheMiss]-before[metricCacheMiss]
		if hits+misses > 0 {
			try.notes = append(try.notes, fmt.Sprintf("cache hits %.1f%%", 100*hits/(hits+misses)))
		}
		if r == nil || try.othersShare() < r.othersShare() {
			r = try
		}
		if try.othersShare() <= b.cfg.maxOthers || attempt >= b.cfg.retries || ctx.Err() != nil {
			break
		}
		logf("%s %s: other processes used %.0f%% of the CPUs; measuring again", backend, scenario, 100*try.othersShare())
	}
	if attempts > 1 {
		r.notes = append(r.notes, fmt.Sprintf("quietest of %d measurements", attempts))
	}
	st := r.st
	if st.errors > 0 {
		r.notes = append(r.notes, "status "+codeSummary(st.codes))
	}
	r.noteOthers()
	b.rows = append(b.rows, r)
	logf("%-8s %-34s %8.0f req/s  p50 %-9s p99 %-9s errors %d/%d  CPU/req %s  %s", backend, scenario, st.rps,
		fmtDur(st.p50), fmtDur(st.p99), st.errors, st.requests, r.cpuPerReq(), strings.Join(r.notes, "; "))
	return r, nil
}

func codeSummary(codes map[uint16]int) string {
	keys := make([]int, 0, len(codes))
	for c := range codes {
		keys = append(keys, int(c))
	}
	slices.Sort(keys)
	var parts []string
	for _, c := range keys {
		parts = append(parts, fmt.Sprintf("%d×%d", c, codes[uint16(c)]))
	}
	return strings.Join(parts, " ")
}

// perf records a CPU profile of the server for the measured phase when -perf is set.
func (b *bench) perf(srv *instance, backend, scenario string) func() {
	if b.cfg.perfDir == "" {
		return func() {}
	}
	name := strings.NewReplacer(" ", "_", "/", "_", "?", "_", "=", "_", ",", "_", "(", "", ")", "").Replace(backend + "-" + scenario)
	out := filepath.Join(b.cfg.perfDir, name+".perf.data")
	cmd := exec.Command("perf", "record", "-F", "999", "-g", "-p", strconv.Itoa(srv.pid()), "-o", out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		logf("perf: %v", err)
		return func() {}
	}
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait() // perf exits with the interrupt's status
		if fi, err := os.Stat(out); err != nil || fi.Size() == 0 {
			logf("perf record %s: no profile: %s", out, stderr.String())
			return
		}
		logf("perf profile: %s", out)
	}
}

// Request builders.

func getTarget(base, path, token string) vegeta.Target {
	h := http.Header{}
	if token != "" {
		h.Set("X-WallarmApi-Token", token)
	}
	return vegeta.Target{Method: http.MethodGet, URL: base + path, Header: h}
}

func postTarget(base, path, token string, body []byte) vegeta.Target {
	h := http.Header{}
	h.Set("X-WallarmApi-Token", token)
	h.Set("Content-Type", "application/json")
	return vegeta.Target{Method: http.MethodPost, URL: base + path, Header: h, Body: body}
}

func verifyTargets(base, caller string, values []string) []vegeta.Target {
	ts := make([]vegeta.Target, len(values))
	for i, v := range values {
		ts[i] = postTarget(base, "/v2/api_tokens/verify", caller, []byte(`{"token":"`+v+`"}`))
	}
	return ts
}

func activeTrue(body []byte) bool { return bytes.Contains(body, []byte(`"active":true`)) }

// waitQuiet waits (up to -quiet-wait) for a second in which processes other
// than the server, PostgreSQL and the bench use at most -max-others of the CPUs.
func (b *bench) waitQuiet(ctx context.Context, srv *instance) {
	if b.cfg.quietWait <= 0 {
		return
	}
	deadline := time.Now().Add(b.cfg.quietWait)
	for {
		s0 := b.sampleCPU(srv.pid())
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		u := b.sampleCPU(srv.pid()).since(s0)
		share := u.others / (u.wall.Seconds() * float64(runtime.NumCPU()))
		if share <= b.cfg.maxOthers {
			return
		}
		if time.Now().After(deadline) {
			logf("the machine is still busy (other processes use %.0f%% of the CPUs); measuring anyway", 100*share)
			return
		}
	}
}

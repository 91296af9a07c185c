package faults

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// down is how long the database stays stopped.
const down = 10 * time.Second

// margin absorbs the answer's trip back to the test: a 200 the server
// decided at the bound arrives a little after it.
const margin = 50 * time.Millisecond

func (e *env) postgresRestarted(t *testing.T) {
	h, p := e.h, e.p
	// One token of every kind, cached on B and C before the stop.
	var subjects []*subject
	for _, k := range kinds {
		s, err := p.prepare(k)
		if err == nil {
			err = h.waitApplied(e.d.db, e.b, e.c)
		}
		if err == nil {
			err = h.warm(s.tok.Secret, e.b, e.c)
		}
		if err != nil {
			t.Fatalf("prepare %s: %v", k, err)
		}
		subjects = append(subjects, s)
	}
	var findings []string
	// While it is down, B and C may serve a cached 200 only within the
	// bound of their last proof, which precedes the stop.
	stopBegin := time.Now()
	if err := h.pg.stop(); err != nil {
		t.Fatalf("stop postgres: %v", err)
	}
	stopped := time.Now()
	var stale, served503, others int
	var latest time.Duration
	for time.Since(stopped) < down {
		for _, s := range subjects {
			for _, r := range []*replica{e.b, e.c} {
				a := h.do(r.base, http.MethodGet, "/v2/user", s.tok.Secret, nil)
				switch {
				case a.code == http.StatusOK && a.at.Sub(stopped) > h.bound+margin:
					stale++
					latest = max(latest, a.at.Sub(stopped))
				case a.code == http.StatusServiceUnavailable && a.problemKind() == "unavailable":
					served503++
				case a.code != http.StatusOK:
					others++
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if stale > 0 {
		findings = append(findings, fmt.Sprintf("%d cached 200s more than the bound after the database stopped (the latest %s after)", stale, ms(latest)))
	}
	if others > 0 {
		findings = append(findings, fmt.Sprintf("%d answers during the outage neither 200 within the bound nor 503 unavailable", others))
	}
	if err := h.pg.start(); err != nil {
		t.Fatalf("start postgres: %v\n%s", err, h.pg.logTail(20))
	}
	if err := h.pg.waitUp(30 * time.Second); err != nil {
		t.Fatalf("postgres did not come back: %v", err)
	}
	upAt := time.Now()
	t.Logf("postgres down for %s (stop took %s); B and C answered 503 unavailable %d times meanwhile",
		upAt.Sub(stopped).Round(time.Millisecond), stopped.Sub(stopBegin).Round(time.Millisecond), served503)
	// Revoke every one at once, right after it returned; A may need a
	// moment to reconnect (503), so retry until 2xx.
	tl := newTally(e.a, e.b, e.c)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var retries int
	for _, s := range subjects {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var t0 time.Time
			var err error
			for range 200 {
				if t0, err = p.revoke(s); err == nil {
					break
				}
				mu.Lock()
				retries++
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				mu.Lock()
				findings = append(findings, "harness: "+err.Error())
				mu.Unlock()
				return
			}
			res := h.probe(t0, s.tok.Secret, 100*time.Millisecond, 5*time.Second, e.a, e.b, e.c)
			mu.Lock()
			tl.add(res)
			mu.Unlock()
		}()
	}
	wg.Wait()
	findings = append(findings, tl.check(map[string]time.Duration{"A": 0, "B": h.bound, "C": h.bound})...)
	findings = append(findings, e.verifyAll(p, e.c, subjects)...)
	for _, r := range []*replica{e.a, e.b, e.c} {
		select {
		case <-r.done:
			findings = append(findings, r.name+" exited")
		default:
		}
	}
	h.report(t, resultRow{scenario: "3 postgres restarted (10 s down), revoke right after", trials: fmt.Sprint(tl.trials),
		maxAccept: tl.maxes(), fiveHundred: tl.fiveHundred,
		notes: fmt.Sprintf("%d revoke attempts answered 503 while A reconnected", retries)},
		findings, e.b, e.c)
}

// event is one answer of the mixed load.
type event struct {
	who, op string
	tok     int // index of the token used, -1 none
	a       answer
	active  bool // verify: the verdict
	id      int64
}

type recorder struct {
	mu  sync.Mutex
	evs []event
}

func (r *recorder) add(e event) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	r.mu.Unlock()
}

func (r *recorder) all() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.evs...)
}

// loop runs fn every pause until stop closes.
func loop(wg *sync.WaitGroup, stop chan struct{}, pause time.Duration, fn func(i int)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			fn(i)
			time.Sleep(pause)
		}
	}()
}

func (e *env) databaseStopped(t *testing.T) {
	h, d, p := e.h, e.d, e.p
	var warmToks, revoked []*subject
	for i := range 10 {
		s, err := p.prepare(kindDisable)
		if err == nil {
			err = h.waitApplied(d.db, e.b, e.c)
		}
		if err == nil {
			err = h.warm(s.tok.Secret, e.b, e.c)
		}
		if err != nil {
			t.Fatalf("prepare: %v", err)
		}
		if i < 6 {
			warmToks = append(warmToks, s)
		} else {
			revoked = append(revoked, s)
		}
	}
	if err := h.warm(d.admin, e.b, e.c); err != nil {
		t.Fatal(err)
	}
	logBefore := map[string]int{}
	for _, r := range []*replica{e.a, e.b, e.c} {
		logBefore[r.name] = len(r.logLines(false))
	}
	rec := &recorder{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, r := range []*replica{e.b, e.c} {
		loop(&wg, stop, 5*time.Millisecond, func(i int) {
			k := i % len(warmToks)
			rec.add(event{who: r.name, op: "user", tok: k, a: h.do(r.base, http.MethodGet, "/v2/user", warmToks[k].tok.Secret, nil)})
		})
		loop(&wg, stop, 10*time.Millisecond, func(i int) {
			k := i % len(warmToks)
			a := h.do(r.base, http.MethodPost, "/v2/api_tokens/verify", d.admin, map[string]any{"token": warmToks[k].tok.Secret})
			var v struct {
				Active bool `json:"active"`
			}
			_ = a.decode(&v)
			rec.add(event{who: r.name, op: "verify", tok: k, a: a, active: a.code == http.StatusOK && v.Active})
		})
		loop(&wg, stop, 100*time.Millisecond, func(int) {
			rec.add(event{who: r.name, op: "readyz", tok: -1, a: h.do(r.base, http.MethodGet, "/readyz", "", nil)})
		})
	}
	loop(&wg, stop, 50*time.Millisecond, func(int) {
		a := h.do(e.a.base, http.MethodPost, "/v2/api_tokens", d.admin, map[string]any{"realname": uniq("outage write"), "permissions": []string{"attacks:view"}})
		ev := event{who: "A", op: "write", tok: -1, a: a}
		if a.code == http.StatusCreated {
			var tok token
			_ = a.decode(&tok)
			ev.id = tok.ID
		}
		rec.add(ev)
	})
	time.Sleep(time.Second)
	// Revoke some right before the stop, then poll them on B and C.
	revokedAt := make([]time.Time, len(revoked))
	for i, s := range revoked {
		t0, err := p.revoke(s)
		if err != nil {
			t.Fatalf("revoke: %v", err)
		}
		revokedAt[i] = t0
	}
	for _, r := range []*replica{e.b, e.c} {
		loop(&wg, stop, 5*time.Millisecond, func(i int) {
			k := i % len(revoked)
			rec.add(event{who: r.name, op: "revoked", tok: k, a: h.do(r.base, http.MethodGet, "/v2/user", revoked[k].tok.Secret, nil)})
		})
	}
	stopBegin := time.Now()
	if err := h.pg.stop(); err != nil {
		close(stop)
		wg.Wait()
		t.Fatalf("stop postgres: %v", err)
	}
	stopped := time.Now()
	time.Sleep(down - time.Since(stopped))
	upBegin := time.Now()
	if err := h.pg.start(); err != nil {
		t.Errorf("start postgres: %v", err)
	}
	if err := h.pg.waitUp(30 * time.Second); err != nil {
		t.Fatalf("postgres did not come back: %v", err)
	}
	up := time.Now()
	time.Sleep(6 * time.Second)
	close(stop)
	wg.Wait()

	var findings []string
	evs := rec.all()
	var five, badProblem, stale, staleRevoked, readyBad, readyDown, unavailable int
	var latestStale, latestRevoked, maxOutageLatency time.Duration
	lastBad := map[string]time.Time{} // per kind of request, the last failure after the return
	var acked []int64
	for _, ev := range evs {
		a := ev.a
		if a.code >= 500 && a.code != http.StatusServiceUnavailable {
			five++
		}
		if a.code == http.StatusServiceUnavailable && a.problemKind() == "" {
			badProblem++
		}
		if a.code == http.StatusServiceUnavailable && a.problemKind() == "unavailable" {
			unavailable++
		}
		if a.start.After(stopped) && a.start.Before(upBegin) {
			maxOutageLatency = max(maxOutageLatency, a.at.Sub(a.start))
		}
		accepted := a.code == http.StatusOK && (ev.op != "verify" || ev.active)
		outage := a.at.After(stopped.Add(h.bound+margin)) && a.at.Before(upBegin)
		switch ev.op {
		case "user", "verify":
			if accepted && outage {
				stale++
				latestStale = max(latestStale, a.at.Sub(stopped))
			}
		case "revoked":
			if a.code == http.StatusOK && a.at.Sub(revokedAt[ev.tok]) > h.bound+margin {
				staleRevoked++
				latestRevoked = max(latestRevoked, a.at.Sub(revokedAt[ev.tok]))
			}
		case "readyz":
			if a.start.After(stopped) && a.at.Before(upBegin) {
				readyDown++
				if a.code != http.StatusServiceUnavailable || a.problemKind() != "unavailable" {
					readyBad++
				}
			}
		case "write":
			if a.code == http.StatusCreated {
				acked = append(acked, ev.id)
			}
		}
		if a.start.After(up) {
			ok := a.err == nil && (a.code == http.StatusOK || a.code == http.StatusCreated || (ev.op == "revoked" && a.code == http.StatusUnauthorized))
			if !ok && a.at.After(lastBad[ev.op]) {
				lastBad[ev.op] = a.at
			}
		}
	}
	if five > 0 {
		findings = append(findings, fmt.Sprintf("%d answers 5xx other than 503", five))
	}
	if badProblem > 0 {
		findings = append(findings, fmt.Sprintf("%d answers 503 without problem+json", badProblem))
	}
	if stale > 0 {
		findings = append(findings, fmt.Sprintf("%d cached acceptances of warm tokens more than the bound after the stop (latest %s after it)", stale, ms(latestStale)))
	}
	if staleRevoked > 0 {
		findings = append(findings, fmt.Sprintf("%d stale 200s for tokens revoked right before the stop (latest %s after the revoke)", staleRevoked, ms(latestRevoked)))
	}
	if readyDown == 0 || readyBad > 0 {
		findings = append(findings, fmt.Sprintf("/readyz during the outage: %d of %d answers not 503 unavailable", readyBad, readyDown))
	}
	var recovery time.Duration
	for op, at := range lastBad {
		if at.Sub(up) > 5*time.Second {
			findings = append(findings, fmt.Sprintf("%s requests still failing %s after the database returned", op, ms(at.Sub(up))))
		}
		recovery = max(recovery, at.Sub(up))
	}
	var missing int
	for _, id := range acked {
		if h.do(e.a.base, http.MethodGet, "/v2/api_tokens/"+strconv.FormatInt(id, 10), d.admin, nil).code != http.StatusOK {
			missing++
		}
	}
	if missing > 0 {
		findings = append(findings, fmt.Sprintf("%d of %d tokens answered 201 are missing afterwards", missing, len(acked)))
	}
	for _, r := range []*replica{e.a, e.b, e.c} {
		select {
		case <-r.done:
			findings = append(findings, r.name+" exited")
		default:
		}
	}
	findings = append(findings, e.verifyAll(p, e.c, revoked)...)
	// How loud the outage was: log lines other than the access log.
	var loud []string
	for _, r := range []*replica{e.a, e.b, e.c} {
		loud = append(loud, fmt.Sprintf("%s %d", r.name, len(r.logLines(false))-logBefore[r.name]))
	}
	h.report(t, resultRow{scenario: "5 database stopped 10 s under mixed load", trials: fmt.Sprintf("%d requests", len(evs)),
		maxAccept:   fmt.Sprintf("warm: last cached 200 %s after the stop; revoked: %s", ms(lastAccept(evs, stopped, upBegin)), ms(latestRevoked)),
		fiveHundred: five, notes: fmt.Sprintf("stop took %s; %d × 503 unavailable; slowest answer during the outage %s; last failure %s after the database accepted connections again; %d writes acknowledged, %d present afterwards",
			ms(stopped.Sub(stopBegin)), unavailable, ms(maxOutageLatency), ms(recovery), len(acked), len(acked)-missing) +
			"; log lines besides the access log during the scenario: " + strings.Join(loud, ", ")}, findings, e.b, e.c)
}

// lastAccept is how long after at the last cached acceptance of a warm token came.
func lastAccept(evs []event, at, until time.Time) time.Duration {
	var last time.Duration
	for _, ev := range evs {
		if (ev.op == "user" || (ev.op == "verify" && ev.active)) && ev.a.code == http.StatusOK {
			if d := ev.a.at.Sub(at); d > 0 && ev.a.at.Before(until) && d > last {
				last = d
			}
		}
	}
	return last
}

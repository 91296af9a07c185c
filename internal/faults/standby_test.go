package faults

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func (e *env) hotStandby(t *testing.T) {
	h, d := e.h, e.d
	// A token that exists before the base backup.
	before, _, err := d.createToken(e.a, d.admin)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := newStandby(t, h.pg)
	if err != nil {
		t.Fatalf("hot standby: %v", err)
	}
	t.Logf("hot standby %s on port %d", sb.name, sb.port)
	s, err := d.start("S", map[string]string{"TOKEND_DATABASE_URL": sb.url(d.db)}, false)
	if err != nil {
		h.report(t, resultRow{scenario: "7 hot standby", trials: "0", maxAccept: "-"}, []string{"the replica on the standby did not start: " + err.Error()})
		return
	}
	defer s.stop()
	var findings []string
	var five int
	count5 := func(a answer) {
		if a.code >= 500 && a.code != http.StatusServiceUnavailable {
			five++
		}
	}
	// Readiness: 503 read-only.
	ready := h.do(s.base, http.MethodGet, "/readyz", "", nil)
	count5(ready)
	if ready.code != http.StatusServiceUnavailable || ready.problemKind() != "read-only" {
		findings = append(findings, "/readyz on the standby: want 503 read-only, got "+ready.String())
	}
	// Reads work (a token from before the backup, one replicated since).
	after, _, err := d.createToken(e.a, d.admin)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	for _, rd := range []struct{ what, path, tok string }{
		{"GET /v2/user (token from before the backup)", "/v2/user", before.Secret},
		{"GET /v2/user (token replicated since)", "/v2/user", after.Secret},
		{"GET /v2/api_tokens", "/v2/api_tokens?limit=5", d.admin},
		{"GET /v2/api_tokens/{id}", "/v2/api_tokens/" + strconv.FormatInt(before.ID, 10), d.admin},
	} {
		a := h.do(s.base, http.MethodGet, rd.path, rd.tok, nil)
		count5(a)
		if a.code != http.StatusOK {
			findings = append(findings, "read on the standby, "+rd.what+": "+a.String())
		}
	}
	// Writes: 503 read-only, never 500.
	id := strconv.FormatInt(before.ID, 10)
	writes := []struct {
		what, method, path, tok string
		body                    any
	}{
		{"create token", http.MethodPost, "/v2/api_tokens", d.admin, map[string]any{"realname": "on standby", "permissions": []string{"attacks:view"}}},
		{"rename token", http.MethodPut, "/v2/api_tokens/" + id, d.admin, map[string]any{"realname": "renamed on standby"}},
		{"disable token", http.MethodPut, "/v2/api_tokens/" + id, d.admin, map[string]any{"enabled": false}},
		{"renew token", http.MethodPost, "/v2/api_tokens/" + id + "/renew", d.admin, map[string]any{}},
		{"delete token", http.MethodDelete, "/v2/api_tokens/" + id, d.admin, nil},
		{"create user", http.MethodPost, "/v2/users", d.admin, map[string]any{"email": uniq("standby") + "@faults.test", "realname": "S", "role": "auditor", "password": "Standby-passw0rd!"}},
		{"sign in", http.MethodPost, "/v1/login", "", map[string]any{"email": e.p.demoted.email, "password": e.p.demoted.password}},
	}
	var refused []string
	for _, w := range writes {
		a := h.do(s.base, w.method, w.path, w.tok, w.body)
		count5(a)
		if a.code != http.StatusServiceUnavailable || a.problemKind() != "read-only" {
			findings = append(findings, fmt.Sprintf("%s on the standby: want 503 read-only, got %s", w.what, a))
		} else {
			refused = append(refused, w.what)
		}
	}
	// Revocations on the primary reach the replica on the standby too.
	tl := newTally(s)
	for i, k := range kinds {
		sub, err := e.p.prepare(k)
		if err != nil {
			t.Fatal(err)
		}
		// Wait for the new token to be replicated and applied before caching it.
		if err := h.waitApplied(d.db, s); err != nil {
			findings = append(findings, fmt.Sprintf("trial %d: %v", i, err))
			continue
		}
		if err := h.warm(sub.tok.Secret, s); err != nil {
			findings = append(findings, fmt.Sprintf("trial %d: %v", i, err))
			continue
		}
		t0, err := e.p.revoke(sub)
		if err != nil {
			t.Fatal(err)
		}
		tl.add(h.probe(t0, sub.tok.Secret, 100*time.Millisecond, 5*time.Second, s))
	}
	findings = append(findings, tl.check(map[string]time.Duration{"S": h.bound})...)
	// The log must not spin: count its lines (the access log left out)
	// over a quiet while, with a read now and then.
	n0 := len(s.logLines(false))
	quietFor := 6 * time.Second
	for end := time.Now().Add(quietFor); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		count5(h.do(s.base, http.MethodGet, "/v2/user", d.admin, nil))
	}
	lines := s.logLines(false)
	grew := len(lines) - n0
	if grew > 12 {
		findings = append(findings, fmt.Sprintf("the log spins: %d lines in %s on the standby, e.g. %s", grew, quietFor, lines[len(lines)-1]))
	}
	state, _ := s.metric(metricListener)
	if five > 0 {
		findings = append(findings, fmt.Sprintf("%d answers 5xx other than 503", five))
	}
	h.report(t, resultRow{scenario: "7 hot standby (pg_basebackup -R)", trials: fmt.Sprintf("%d writes, %d revocations", len(writes), tl.trials),
		maxAccept: tl.maxes() + " (revoked on the primary)", fiveHundred: five,
		notes: fmt.Sprintf("writes answered 503 read-only: %s; %d log lines in all at start, %d in %s after; listener state %v",
			strings.Join(refused, ", "), n0, grew, quietFor, state)}, findings, s)
}

package faults

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// killDuringWrites creates tokens through a replica and kills it with
// SIGKILL mid-stream: every 201 it answered must exist afterwards.
func (e *env) killDuringWrites(t *testing.T) {
	h, d := e.h, e.d
	k := d.mustStart(t, "D", nil)
	type created struct {
		id   int64
		name string
	}
	var mu sync.Mutex
	var acked []created
	var failed, five int
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				name := uniq("crash write")
				a := h.do(k.base, http.MethodPost, "/v2/api_tokens", d.admin, map[string]any{"realname": name, "permissions": []string{"attacks:view"}})
				mu.Lock()
				switch {
				case a.code == http.StatusCreated:
					var tok token
					if a.decode(&tok) == nil {
						acked = append(acked, created{tok.ID, name})
					}
				case a.err != nil:
					failed++
				case a.code >= 500:
					five++
				}
				mu.Unlock()
				if a.err != nil {
					return // the replica is gone
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	k.kill9()
	killedAt := time.Now()
	wg.Wait()
	var findings []string
	missing := 0
	for _, c := range acked {
		a := h.do(e.b.base, http.MethodGet, "/v2/api_tokens/"+strconv.FormatInt(c.id, 10), d.admin, nil)
		var tok token
		if a.code != http.StatusOK || a.decode(&tok) != nil || tok.Name != c.name {
			missing++
			if missing <= 3 {
				findings = append(findings, fmt.Sprintf("token %d (answered 201 by D before the kill) reads %s through B", c.id, a))
			}
		}
	}
	if missing > 0 {
		findings = append(findings, fmt.Sprintf("%d of %d acknowledged creates missing", missing, len(acked)))
	}
	if len(acked) == 0 {
		findings = append(findings, "harness: no create was acknowledged before the kill")
	}
	if five > 0 {
		findings = append(findings, fmt.Sprintf("%d answers 5xx before the kill", five))
	}
	// The others go on serving.
	if err := expect(h.do(e.a.base, http.MethodGet, "/readyz", "", nil), "A after D's kill", http.StatusOK); err != nil {
		findings = append(findings, err.Error())
	}
	h.report(t, resultRow{scenario: "8 kill -9 of a replica during writes", trials: fmt.Sprintf("%d creates acknowledged", len(acked)),
		maxAccept: "-", fiveHundred: five,
		notes: fmt.Sprintf("%d requests cut by the kill; all %d acknowledged creates read back through B %s after the kill",
			failed, len(acked)-missing, time.Since(killedAt).Round(time.Millisecond))}, findings)
}

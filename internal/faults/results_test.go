package faults

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

// resultRow is one line of the results table.
type resultRow struct {
	scenario    string
	trials      string
	maxAccept   string // per replica: max time from the 2xx to the last acceptance
	fiveHundred int
	duplicates  string
	took        time.Duration
	result      string // "pass", or what failed
	notes       string // figures worth quoting besides
}

// tally sums up revocation trials.
type tally struct {
	trials      int
	max         map[string]time.Duration
	accepted    map[string]int // trials in which the replica answered some 200 after the 2xx
	never       map[string]int // trials in which the replica never stopped accepting
	fiveHundred int
	badProblem  int
	codes       map[int]int
	order       []string
	samples     map[string][]time.Duration
}

func newTally(rs ...*replica) *tally {
	t := &tally{max: map[string]time.Duration{}, accepted: map[string]int{}, never: map[string]int{}, codes: map[int]int{}, samples: map[string][]time.Duration{}}
	for _, r := range rs {
		t.order = append(t.order, r.name)
	}
	return t
}

func (t *tally) add(res map[string]*probeResult) {
	t.trials++
	for name, r := range res {
		t.samples[name] = append(t.samples[name], r.lastAccept)
		if r.lastAccept > t.max[name] {
			t.max[name] = r.lastAccept
		}
		if r.accepted {
			t.accepted[name]++
		}
		if !r.denied {
			t.never[name]++
		}
		t.fiveHundred += r.fiveHundred
		t.badProblem += r.badProblem
		for c, n := range r.codes {
			t.codes[c] += n
		}
	}
}

// maxes renders the per-replica maxima.
func (t *tally) maxes() string {
	var parts []string
	for _, n := range t.order {
		if t.max[n] == 0 {
			parts = append(parts, n+" 0")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s (p50 %s)", n, ms(t.max[n]), ms(t.quantile(n, 0.5))))
	}
	return strings.Join(parts, ", ")
}

// quantile is the q-quantile of the replica's figures.
func (t *tally) quantile(name string, q float64) time.Duration {
	s := append([]time.Duration(nil), t.samples[name]...)
	if len(s) == 0 {
		return 0
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(q*float64(len(s)-1))]
}

// over counts the trials in which the replica accepted past limit.
func (t *tally) over(name string, limit time.Duration) int {
	n := 0
	for _, d := range t.samples[name] {
		if d > limit {
			n++
		}
	}
	return n
}

// check reports every replica whose acceptances outlived its limit: limit
// 0 means no acceptance at all after the 2xx (the answering replica).
func (t *tally) check(limits map[string]time.Duration) []string {
	var bad []string
	for _, n := range t.order {
		limit, ok := limits[n]
		if !ok {
			continue
		}
		if t.never[n] > 0 {
			bad = append(bad, fmt.Sprintf("%s never stopped accepting in %d of %d trials", n, t.never[n], t.trials))
		}
		if limit == 0 && t.accepted[n] > 0 {
			bad = append(bad, fmt.Sprintf("%s (the answering replica) accepted after its own 2xx in %d of %d trials (up to %s)",
				n, t.accepted[n], t.trials, ms(t.max[n])))
		}
		if limit > 0 && t.max[n] > limit {
			bad = append(bad, fmt.Sprintf("%s accepted up to %s after the 2xx (limit %s) in %d of %d trials; median %s",
				n, ms(t.max[n]), ms(limit), t.over(n, limit), t.trials, ms(t.quantile(n, 0.5))))
		}
	}
	if t.fiveHundred > 0 {
		bad = append(bad, fmt.Sprintf("%d answers 5xx other than 503 during the probes", t.fiveHundred))
	}
	if t.badProblem > 0 {
		bad = append(bad, fmt.Sprintf("%d answers 503 without problem+json", t.badProblem))
	}
	return bad
}

func ms(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// record adds a row to the results table.
func (h *harness) record(r resultRow) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.results = append(h.results, r)
}

// begin notes when the (sub)test's scenario began, for the table.
func (h *harness) begin(t *testing.T) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.began == nil {
		h.began = map[string]time.Time{}
	}
	h.began[t.Name()] = time.Now()
}

// since is how long ago the scenario of t (or of its closest parent) began.
func (h *harness) since(t *testing.T) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	best := ""
	for name := range h.began {
		if strings.HasPrefix(t.Name(), name) && len(name) > len(best) {
			best = name
		}
	}
	if best == "" {
		return 0
	}
	return time.Since(h.began[best])
}

// incomplete, deferred by a scenario, adds a row when the scenario ended
// (a harness failure: t.Fatal) before it recorded one.
func (h *harness) incomplete(scenario string, began time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.results {
		if strings.HasPrefix(r.scenario, scenario) {
			return
		}
	}
	h.results = append(h.results, resultRow{scenario: scenario, trials: "-", maxAccept: "-", took: time.Since(began),
		result: "**NOT COMPLETED**: the harness failed (see the test log)"})
}

// writeResults logs the table and writes it to last-run.md.
func (h *harness) writeResults(t *testing.T, took time.Duration) {
	h.mu.Lock()
	rows := append([]resultRow(nil), h.results...)
	h.mu.Unlock()
	sort.SliceStable(rows, func(i, j int) bool { return scenarioNum(rows[i].scenario) < scenarioNum(rows[j].scenario) })
	var b strings.Builder
	fmt.Fprintf(&b, "# Fault injection (R24): last run\n\n")
	fmt.Fprintf(&b, "%s, %s, stale bound %s, took %s.\n\n", time.Now().UTC().Format(time.RFC3339), runtimeLine(), h.bound, took.Round(time.Second))
	fmt.Fprintf(&b, "| scenario | trials | max 2xx → last acceptance | 500s | duplicates | took | result |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s | %s |\n", r.scenario, r.trials, r.maxAccept, r.fiveHundred, dash(r.duplicates),
			r.took.Round(100*time.Millisecond), strings.NewReplacer("|", "/", "\n", " ").Replace(r.result))
	}
	t.Log("\n" + b.String())
	if err := os.WriteFile("last-run.md", []byte(b.String()), 0o644); err != nil {
		t.Errorf("write last-run.md: %v", err)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func scenarioNum(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func runtimeLine() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("host %s", host)
}

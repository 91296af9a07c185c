package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// report renders everything measured as markdown.
func (b *bench) report() string {
	var w strings.Builder
	c := b.cfg
	fmt.Fprintf(&w, "## tokend bench, %s\n\n", b.started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&w, "Machine: %s; %s CPUs (`nproc`); %s; kernel %s; %s", cpuModel(), strings.TrimSpace(command("nproc")),
		memTotal(), strings.TrimSpace(command("uname", "-r")), runtime.Version())
	if b.pgVersion != "" {
		fmt.Fprintf(&w, "; %s", b.pgVersion)
	}
	fmt.Fprintf(&w, ".\n\n```text\n$ free -h\n%s```\n\n", command("free", "-h"))
	fmt.Fprintf(&w, "Server: tokend built from the %s.\n\n", b.builtFrom)
	fmt.Fprintf(&w, "Load: vegeta, %d workers = %d max workers = %d keep-alive connections, unpaced (rate 0), "+
		"%s measured after a %s warm-up per scenario; the bench, the server and PostgreSQL share the machine. "+
		"Ratios are against GET /healthz of the same backend in this run. Errors: transport errors, non-2xx, "+
		"and for verify any answer without `\"active\":true`. Servers log at `--log-level %s` to a file. "+
		"CPU µs/req: user+system CPU time (/proc/PID/stat) of the tokend process, of every postgres process, "+
		"and of the bench (vegeta) during the measured phase, divided by the requests.\n\n",
		c.connections, c.connections, c.connections, c.duration, c.warmup, c.logLevel)
	var stored []string
	for _, be := range c.backends {
		if n, ok := b.counts[be]; ok {
			stored = append(stored, be+" "+n+" tokens")
		}
	}
	if len(stored) > 0 {
		fmt.Fprintf(&w, "Stored at start: %s (one company; the caller is the bootstrap partner_admin token). "+
			"Verify rotates over %s distinct seeded values.", strings.Join(stored, ", "), thousands(c.rotate))
		if b.settled > 0 {
			fmt.Fprintf(&w, " After seeding, `VACUUM tokens; CHECKPOINT` (%s, not part of the seeding time).", fmtSecs(b.settled))
		}
		w.WriteString("\n\n")
	}

	w.WriteString("| backend | scenario | req/s | p50 | p99 | errors | req/s ÷ healthz | p99 ÷ healthz | CPU µs/req: tokend · PG · vegeta | target | meets | notes |\n")
	w.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|---|---|---|\n")
	for _, r := range b.rows {
		base := b.baseline(r.backend)
		rr, pr := "—", "—"
		var rpsRatio, p99Ratio float64
		if base != nil && base.st.rps > 0 && base.st.p99 > 0 {
			rpsRatio, p99Ratio = r.st.rps/base.st.rps, float64(r.st.p99)/float64(base.st.p99)
			rr, pr = fmt.Sprintf("%.2f×", rpsRatio), fmt.Sprintf("%.2f×", p99Ratio)
		}
		target, meets := evaluate(r, rpsRatio, p99Ratio, base != nil)
		fmt.Fprintf(&w, "| %s | %s | %s | %s | %s | %d / %s | %s | %s | %s | %s | %s | %s |\n",
			r.backend, r.scenario, thousands(int(r.st.rps+0.5)), fmtDur(r.st.p50), fmtDur(r.st.p99),
			r.st.errors, thousands(r.st.requests), rr, pr, r.cpuPerReq(), target, meets, strings.Join(r.notes, "; "))
	}
	if len(b.oneOffs) > 0 {
		w.WriteString("\n| backend | measurement | result | target | meets |\n|---|---|---|---|---|\n")
		for _, o := range b.oneOffs {
			fmt.Fprintf(&w, "| %s | %s | %s | %s | %s |\n", o.backend, o.name, o.result, o.target, o.meets)
		}
	}
	if len(b.explains) > 0 {
		w.WriteString("\n### EXPLAIN (ANALYZE, BUFFERS) of the list queries\n\n")
		w.WriteString("The statement text is what the server sent (pg_stat_activity), run as a prepared statement " +
			"executed 6 times first, so that the plan cache makes the same custom/generic choice as on the server's connections.\n")
		for _, e := range b.explains {
			fmt.Fprintf(&w, "\n#### %s\n\n```sql\n%s\n-- parameters: %s\n```\n\n```text\n%s\n```\n", e.title, e.sql, e.params, e.plan)
		}
	}
	if len(b.sweep) > 0 {
		w.WriteString("\n#### Deep pages at other cursors (EXPLAIN ANALYZE with literal values: a custom plan per cursor)\n\n")
		w.WriteString("| cursor = the Nth smallest id | id | plan | buffers | execution |\n|--:|--:|---|--:|--:|\n")
		for _, r := range b.sweep {
			fmt.Fprintf(&w, "| %s | %d | %s | %s | %.2f ms |\n", thousands(r.rank), r.id, r.plan, thousands(int(r.bufs)), r.execMS)
		}
	}
	fmt.Fprintf(&w, "\nWhole run: %s (`%s`).\n", fmtSecs(time.Since(b.started)), strings.Join(os.Args[1:], " "))
	return w.String()
}

func (b *bench) baseline(backend string) *row {
	for _, r := range b.rows {
		if r.backend == backend && r.scenario == scHealthz {
			return r
		}
	}
	return nil
}

// evaluate states the target a row is compared with and whether it meets it.
// The targets are issue 16's: ratios to the same backend's /healthz in the
// same run.
func evaluate(r *row, rpsRatio, p99Ratio float64, haveBase bool) (string, string) {
	switch r.scenario {
	case scUser, scMe, scVerify:
		const target = "≥ 0.85× req/s, ≤ 2× p99"
		if !haveBase {
			return target, "—"
		}
		var miss []string
		if rpsRatio < 0.85 {
			miss = append(miss, "req/s")
		}
		if p99Ratio > 2 {
			miss = append(miss, "p99")
		}
		return target, verdict(miss)
	case scVerifyOff:
		if !haveBase {
			return "≥ 0.30× req/s", "—"
		}
		return "≥ 0.30× req/s", yesNo(rpsRatio >= 0.30)
	case scListFirst, scListDeep, scListFirstT, scListDeepT:
		var miss []string
		if r.st.p99 > 50*time.Millisecond {
			miss = append(miss, "p99")
		}
		if r.st.errors > 0 {
			miss = append(miss, "errors")
		}
		return "p99 ≤ 50 ms, no errors", verdict(miss)
	}
	return "—", "—"
}

func verdict(miss []string) string {
	if len(miss) == 0 {
		return "yes"
	}
	return "**no** (" + strings.Join(miss, ", ") + ")"
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

func fmtSecs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func mib(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/1e6) }

// thousands writes n with comma separators.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func command(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return fmt.Sprintf("(%s: %v)\n", name, err)
	}
	return string(out)
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func memTotal() string {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown memory"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return fmt.Sprintf("%.1f GiB RAM", kb/(1<<20))
		}
	}
	return "unknown memory"
}

// Command bench measures tokend end to end and prints a markdown table.
//
// It builds the tokend binary into a temporary directory, runs it as
// separate server processes over PostgreSQL (a fresh database, dropped at
// the end) and over an SQLite file in the temporary directory, seeds tokens
// straight into the database, and drives the HTTP API with vegeta at a fixed
// concurrency, as fast as the server answers. Every ratio in the table is
// against the GET /healthz run of the same backend in the same run.
//
//	go run ./bench                 # the full run (make bench)
//	go run ./bench -quick          # 100,000 tokens, 3 s per scenario
//	go run ./bench -o bench/last.md
//
// See bench/README.md for the method and the latest numbers.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"
)

type config struct {
	duration    time.Duration
	warmup      time.Duration
	tokens      int
	sqliteRows  int
	cached      int
	rotate      int
	trials      int
	connections int
	backends    []string
	pgURL       string
	quick       bool
	out         string
	perfDir     string
	seedConns   int
	keep        bool
	logLevel    string
	rev         string
	maxOthers   float64
	retries     int
	quietWait   time.Duration
	heapProfile string
	memLimit    string
	// only, when set, limits the run to the scenarios (and the one-off
	// measurements "revocation" and "rss") whose names it matches;
	// /healthz always runs, it is every ratio's baseline.
	only *regexp.Regexp
}

// runs reports whether the scenario or measurement named name is part of this run.
func (c *config) runs(name string) bool {
	return c.only == nil || name == scHealthz || c.only.MatchString(name)
}

func main() {
	var c config
	var backends string
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "measured duration of each load scenario")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each load scenario")
	flag.IntVar(&c.tokens, "tokens", 1_000_000, "tokens seeded into PostgreSQL (one company)")
	flag.IntVar(&c.sqliteRows, "sqlite-tokens", 100_000, "tokens seeded into SQLite (it runs the cheap scenarios only)")
	flag.IntVar(&c.cached, "cached", 100_000, "distinct tokens verified before the RSS reading")
	flag.IntVar(&c.rotate, "rotate", 1_000, "distinct token values the verify scenarios rotate over")
	flag.IntVar(&c.trials, "trials", 100, "revocation propagation trials")
	flag.IntVar(&c.connections, "connections", 64, "vegeta workers = max workers = connections")
	flag.StringVar(&backends, "backends", "postgres,sqlite", "comma-separated: postgres, sqlite")
	flag.StringVar(&c.pgURL, "pg-url", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server to use; the bench creates and drops its own database there")
	flag.BoolVar(&c.quick, "quick", false, "smoke run: 100,000 tokens, 3 s per scenario, 1 s warm-up")
	flag.StringVar(&c.out, "o", "", "also write the report (markdown) to this file")
	flag.StringVar(&c.perfDir, "perf", "", "record a perf(1) CPU profile of the server during each load scenario into this directory")
	flag.IntVar(&c.seedConns, "seed-conns", 2, "parallel COPY streams when seeding PostgreSQL")
	flag.BoolVar(&c.keep, "keep", false, "keep the temporary directory (binary, server logs, SQLite file) and the PostgreSQL database")
	flag.StringVar(&c.logLevel, "log-level", "info", "the servers' --log-level (info is tokend's default: one log line per request)")
	flag.StringVar(&c.rev, "rev", "", "build the server from this git revision (git archive) instead of the working tree")
	flag.Float64Var(&c.maxOthers, "max-others", 0.10, "share of the CPUs other processes may use during a measurement before it is repeated")
	flag.IntVar(&c.retries, "retries", 2, "how many times a scenario is measured again when other processes used more than -max-others")
	flag.DurationVar(&c.quietWait, "quiet-wait", 30*time.Second, "before each measurement, wait up to this long for other processes to use at most -max-others of the CPUs (0: do not wait)")
	flag.StringVar(&c.heapProfile, "heap-profile", "", "after the RSS reading, verify the same tokens in-process and write the heap profile of what the server retains to this file")
	var only string
	flag.StringVar(&only, "only", "", "run only the scenarios and one-off measurements (revocation, rss) matching this regular expression (GET /healthz always runs)")
	flag.StringVar(&c.memLimit, "rss-memlimit", "100MiB", "also measure the RSS scenario with this GOMEMLIMIT for the server (\"\": skip)")
	flag.Parse()

	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.quick {
		if !set["tokens"] {
			c.tokens = 100_000
		}
		if !set["duration"] {
			c.duration = 3 * time.Second
		}
		if !set["warmup"] {
			c.warmup = time.Second
		}
	}
	for _, b := range strings.Split(backends, ",") {
		b = strings.TrimSpace(b)
		switch b {
		case "":
		case "postgres", "sqlite":
			c.backends = append(c.backends, b)
		default:
			fmt.Fprintf(os.Stderr, "bench: unknown backend %q (want postgres, sqlite)\n", b)
			os.Exit(2)
		}
	}
	if only != "" {
		re, err := regexp.Compile(only)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: -only:", err)
			os.Exit(2)
		}
		c.only = re
	}
	c.cached = min(c.cached, c.tokens)
	c.rotate = min(c.rotate, c.tokens, c.sqliteRows)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{cfg: c}
	err := b.run(ctx)
	b.cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// logf reports progress on standard error; the report goes to standard output.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

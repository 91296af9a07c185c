package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// instance is one `tokend serve` subprocess.
type instance struct {
	name    string
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:PORT
	metrics string // the metrics listener's base URL (each server has its own)
	logPath string
	exited  chan struct{}
	waitErr error
	logFile *os.File
}

func (s *instance) pid() int { return s.cmd.Process.Pid }

// buildTokend compiles cmd/tokend into the temporary directory: from the
// working tree, or with -rev from that git revision (git archive), so that
// a half-edited tree does not stop a measurement.
func (b *bench) buildTokend(ctx context.Context) error {
	b.bin = filepath.Join(b.dir, "tokend")
	src := b.root
	if b.cfg.rev != "" {
		src = filepath.Join(b.dir, "src")
		if err := os.MkdirAll(src, 0o755); err != nil {
			return err
		}
		archive := exec.CommandContext(ctx, "sh", "-c", `git -C "$1" archive --format=tar "$2" | tar -x -C "$3"`, "sh", b.root, b.cfg.rev, src)
		archive.Stdout, archive.Stderr = os.Stderr, os.Stderr
		if err := archive.Run(); err != nil {
			return fmt.Errorf("git archive %s: %w", b.cfg.rev, err)
		}
		if out, err := exec.CommandContext(ctx, "git", "-C", b.root, "rev-parse", "--short", b.cfg.rev).Output(); err == nil {
			b.builtFrom = "git " + strings.TrimSpace(string(out))
		}
	} else {
		b.builtFrom = "working tree"
		if out, err := exec.CommandContext(ctx, "git", "-C", b.root, "rev-parse", "--short", "HEAD").Output(); err == nil {
			b.builtFrom += " at " + strings.TrimSpace(string(out))
			if st, err := exec.CommandContext(ctx, "git", "-C", b.root, "status", "--porcelain", "--", "cmd", "server", "store", "internal", "gen").Output(); err == nil && len(st) > 0 {
				b.builtFrom += " with uncommitted changes"
			}
		}
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", b.bin, "./cmd/tokend")
	cmd.Dir = src
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/tokend: %w", err)
	}
	return nil
}

// env is the servers' environment: ours without any TOKEND_ setting, plus the key.
func (b *bench) env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TOKEND_") {
			env = append(env, kv)
		}
	}
	env = append(env, "TOKEND_SECRET_KEY="+b.key)
	return append(env, extra...)
}

type bootstrapResult struct {
	ClientID int64  `json:"client_id"`
	UserID   int64  `json:"user_id"`
	Token    string `json:"token"`
}

// bootstrap runs `tokend bootstrap -o json` on an empty database.
func (b *bench) bootstrap(ctx context.Context, dbURL string) (*bootstrapResult, error) {
	cmd := exec.CommandContext(ctx, b.bin, "bootstrap", "-o", "json")
	cmd.Dir = b.dir
	cmd.Env = b.env("TOKEND_DATABASE_URL=" + dbURL)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("tokend bootstrap: %w\n%s", err, stderr.String())
	}
	var res bootstrapResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || res.Token == "" {
		return nil, fmt.Errorf("tokend bootstrap -o json printed %q: %v", stdout.String(), err)
	}
	return &res, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startServer starts `tokend serve` on a free port and waits until /readyz
// answers 200. Its standard output and error go to a log file in the
// temporary directory, so that logging costs the server, not the bench.
func (b *bench) startServer(ctx context.Context, name, dbURL string, args ...string) (*instance, error) {
	return b.startServerEnv(ctx, name, dbURL, nil, args...)
}

// startServerEnv is startServer with extra environment for the server
// process (GOMEMLIMIT, say).
func (b *bench) startServerEnv(ctx context.Context, name, dbURL string, env []string, args ...string) (*instance, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	metricsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	metricsAddr := "127.0.0.1:" + strconv.Itoa(metricsPort)
	argv := append([]string{"serve", "--listen", addr, "--metrics-listen", metricsAddr, "--database-url", dbURL, "--log-level", b.cfg.logLevel}, args...)
	s := &instance{name: name, base: "http://" + addr, metrics: "http://" + metricsAddr, logPath: filepath.Join(b.dir, name+".log"), exited: make(chan struct{})}
	if s.logFile, err = os.Create(s.logPath); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(b.bin, argv...)
	s.cmd.Dir = b.dir
	s.cmd.Env = b.env(env...)
	s.cmd.Stdout, s.cmd.Stderr = s.logFile, s.logFile
	if err := s.cmd.Start(); err != nil {
		s.logFile.Close()
		return nil, err
	}
	go func() { s.waitErr = s.cmd.Wait(); close(s.exited) }()
	b.servers[s] = true
	logf("started %s (pid %d) at %s: %stokend %s", name, s.pid(), s.base, strings.Join(append(env, ""), " "), strings.Join(argv, " "))

	deadline := time.Now().Add(60 * time.Second)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-s.exited:
			delete(b.servers, s)
			return nil, fmt.Errorf("%s exited at start: %v; log:\n%s", name, s.waitErr, tail(s.logPath, 2000))
		case <-ctx.Done():
			return nil, ctx.Err()
		default:
		}
		resp, err := client.Get(s.base + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s not ready after 60 s; log:\n%s", name, tail(s.logPath, 2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopServer asks for a graceful shutdown (SIGTERM), then kills.
func (b *bench) stopServer(s *instance) {
	if s == nil || !b.servers[s] {
		return
	}
	delete(b.servers, s)
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(25 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.logFile.Close()
	logf("stopped %s", s.name)
}

// alive fails if the server died (e.g. crashed under load).
func (s *instance) alive() error {
	select {
	case <-s.exited:
		return fmt.Errorf("%s exited: %v; log:\n%s", s.name, s.waitErr, tail(s.logPath, 2000))
	default:
		return nil
	}
}

func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	fi, _ := f.Stat()
	if fi != nil && fi.Size() > n {
		_, _ = f.Seek(fi.Size()-n, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	return string(data)
}

// procStatus reads VmRSS and VmHWM (bytes) of pid from /proc.
func procStatus(pid int) (rss, hwm int64, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			hwm = kb << 10
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
	}
	return rss, hwm, nil
}

// scrape reads the numeric samples of the server's /metrics whose line
// starts with one of the given prefixes (name plus labels, as printed).
func scrape(srv *instance, prefixes ...string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(srv.metrics + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(data), "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				i := strings.LastIndexByte(line, ' ')
				v, err := strconv.ParseFloat(line[i+1:], 64)
				if err == nil {
					out[p] += v
				}
			}
		}
	}
	return out
}

const (
	metricCacheHit  = `tokend_verification_cache_requests_total{result="hit"}`
	metricCacheMiss = `tokend_verification_cache_requests_total{result="miss"}`
	metricHeapInuse = `go_memstats_heap_inuse_bytes`
	metricHeapAlloc = `go_memstats_heap_alloc_bytes`
	metricSys       = `go_memstats_sys_bytes`
)

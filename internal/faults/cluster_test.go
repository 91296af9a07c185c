package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// clusterPrefix names the throwaway clusters: the prefix, then the pid of
// the test process that made them (so that a later run can drop what a
// killed run left behind, and never another run's).
const clusterPrefix = "tkfaults"

// cluster is a throwaway PostgreSQL cluster made with pg_createcluster.
type cluster struct {
	t       *testing.T
	version string
	name    string
	port    int
	confDir string
	dataDir string
	logFile string
}

// run runs a command and returns its combined output.
func run(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// pgVersion is the newest installed PostgreSQL major version (15 here).
func pgVersion() (string, error) {
	entries, err := os.ReadDir("/usr/lib/postgresql")
	if err != nil {
		return "", err
	}
	var vs []int
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			if _, err := os.Stat(filepath.Join("/usr/lib/postgresql", e.Name(), "bin", "postgres")); err == nil {
				vs = append(vs, n)
			}
		}
	}
	if len(vs) == 0 {
		return "", errors.New("no PostgreSQL server under /usr/lib/postgresql")
	}
	sort.Ints(vs)
	return strconv.Itoa(vs[len(vs)-1]), nil
}

// dropLeftovers drops throwaway clusters whose test process is gone (a run
// killed by a timeout cannot run its cleanups).
func dropLeftovers(t *testing.T, version string) {
	entries, _ := os.ReadDir(filepath.Join("/etc/postgresql", version))
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), clusterPrefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "x")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == nil {
			continue // its test is still running
		}
		t.Logf("dropping cluster %s left by a killed run", e.Name())
		if _, err := run(time.Minute, "pg_dropcluster", "--stop", version, e.Name()); err != nil {
			t.Logf("%v", err)
		}
	}
}

// freePort finds a TCP port on 127.0.0.1 nobody listens on, from base up.
func freePort(base int) int {
	portMu.Lock()
	defer portMu.Unlock()
	for p := base; p < base+500; p++ {
		if used[p] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		_ = ln.Close()
		used[p] = true
		return p
	}
	panic("no free port")
}

var (
	portMu sync.Mutex
	used   = map[int]bool{}
)

// anyPort is a free ephemeral port.
func anyPort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

const hba = `local all all trust
local replication all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
`

// newCluster creates (not starts) a cluster; t.Cleanup drops it.
func newCluster(t *testing.T, version, suffix string) *cluster {
	c := &cluster{t: t, version: version, name: fmt.Sprintf("%s%dx%s", clusterPrefix, os.Getpid(), suffix)}
	// Ports already given to other clusters are refused by pg_createcluster
	// even while those are down, so ask it to check too.
	for {
		c.port = freePort(5440)
		_, err := run(time.Minute, "pg_createcluster", version, c.name, "-p", strconv.Itoa(c.port), "--start-conf=manual",
			"-o", "max_connections=300", "-o", "fsync=off",
			"-o", "wal_level=replica", "-o", "max_wal_senders=4", "-o", "log_min_messages=warning")
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "port") {
			t.Fatalf("create cluster: %v", err)
		}
	}
	t.Cleanup(func() {
		if _, err := run(2*time.Minute, "pg_dropcluster", "--stop", version, c.name); err != nil {
			t.Logf("drop cluster %s: %v", c.name, err)
		}
	})
	c.confDir = filepath.Join("/etc/postgresql", version, c.name)
	c.dataDir = filepath.Join("/var/lib/postgresql", version, c.name)
	c.logFile = fmt.Sprintf("/var/log/postgresql/postgresql-%s-%s.log", version, c.name)
	if err := os.WriteFile(filepath.Join(c.confDir, "pg_hba.conf"), []byte(hba), 0o640); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *cluster) ctl(action string, extra ...string) error {
	args := append([]string{"--skip-systemctl-redirect"}, extra...)
	args = append(args, c.version, c.name, action)
	_, err := run(2*time.Minute, "pg_ctlcluster", args...)
	return err
}

func (c *cluster) start() error { return c.ctl("start") }

// stop stops the cluster at once (fast mode: sessions are terminated).
func (c *cluster) stop() error { return c.ctl("stop", "--mode=fast") }

// url is a direct connection string to database db.
func (c *cluster) url(db string, params ...string) string {
	u := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
	for _, p := range params {
		u += "&" + p
	}
	return u
}

// waitUp waits until the cluster accepts queries.
func (c *cluster) waitUp(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, c.url("postgres"))
		if err == nil {
			_, err = conn.Exec(ctx, "SELECT 1")
			_ = conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exec runs SQL on database db and returns the first column of every row.
func (c *cluster) query(db, sql string, args ...any) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.url(db, "application_name=tokend-faults-test"))
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		s := ""
		if len(vals) > 0 {
			s = fmt.Sprint(vals[0])
			for _, v := range vals[1:] {
				s += "\t" + fmt.Sprint(v)
			}
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// logTail is the end of the cluster's server log.
func (c *cluster) logTail(n int) string {
	data, _ := os.ReadFile(c.logFile)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// newStandby makes a hot standby of primary with pg_basebackup -R in a
// cluster of its own, and starts it.
func newStandby(t *testing.T, primary *cluster) (*cluster, error) {
	s := newCluster(t, primary.version, "standby")
	// Keep the configuration pg_createcluster wrote (port, hba), replace
	// the data directory with a base backup of the primary.
	if err := os.RemoveAll(s.dataDir); err != nil {
		return nil, err
	}
	// pg_basebackup runs as postgres, which cannot create it there.
	if err := os.Mkdir(s.dataDir, 0o700); err != nil {
		return nil, err
	}
	if _, err := run(time.Minute, "chown", "postgres:postgres", s.dataDir); err != nil {
		return nil, err
	}
	if _, err := run(2*time.Minute, "runuser", "-u", "postgres", "--", "pg_basebackup", "-h", "127.0.0.1",
		"-p", strconv.Itoa(primary.port), "-U", "postgres", "-D", s.dataDir, "-R", "-X", "stream", "-c", "fast"); err != nil {
		return nil, err
	}
	if err := s.start(); err != nil {
		return nil, fmt.Errorf("start standby: %w\n%s", err, s.logTail(20))
	}
	return s, s.waitUp(30 * time.Second)
}

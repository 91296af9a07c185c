package faults

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// bouncer is a PgBouncer process in front of the throwaway cluster.
type bouncer struct {
	port int
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// ensurePgBouncer finds pgbouncer, installing it with apt under CI=true.
func ensurePgBouncer() (string, error) {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	if os.Getenv("CI") != "true" {
		return "", fmt.Errorf("pgbouncer is not installed: apt-get install -y pgbouncer (under CI=true the test installs it)")
	}
	if out, err := run(10*time.Minute, "sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y pgbouncer"); err != nil {
		return "", fmt.Errorf("install pgbouncer: %v\n%s", err, out)
	}
	return exec.LookPath("pgbouncer")
}

// startBouncer runs PgBouncer in pool mode (transaction or session) for
// database db.
func (h *harness) startBouncer(t *testing.T, bin, mode, db string) (*bouncer, error) {
	dir := filepath.Join(h.dir, "pgbouncer-"+mode)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b := &bouncer{port: freePort(6440), log: filepath.Join(dir, "pgbouncer.log"), done: make(chan struct{})}
	ini := fmt.Sprintf(`[databases]
%[1]s = host=127.0.0.1 port=%[2]d dbname=%[1]s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %[3]d
unix_socket_dir =
auth_type = trust
auth_file = %[4]s/userlist.txt
pool_mode = %[5]s
max_client_conn = 1000
default_pool_size = 40
max_db_connections = 100
logfile = %[6]s
pidfile = %[4]s/pgbouncer.pid
`, db, h.pg.port, b.port, dir, mode, b.log)
	if err := os.WriteFile(filepath.Join(dir, "pgbouncer.ini"), []byte(ini), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "userlist.txt"), []byte(`"postgres" ""`+"\n"), 0o644); err != nil {
		return nil, err
	}
	if _, err := run(time.Minute, "chown", "-R", "postgres:postgres", dir); err != nil {
		return nil, err
	}
	// PgBouncer refuses to run as root; -u switches to postgres.
	b.cmd = exec.Command(bin, "-u", "postgres", filepath.Join(dir, "pgbouncer.ini"))
	out, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		return nil, err
	}
	b.cmd.Stdout, b.cmd.Stderr = out, out
	if err := b.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = b.cmd.Wait(); out.Close(); close(b.done) }()
	t.Cleanup(b.stop)
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.port), time.Second)
		if err == nil {
			c.Close()
			return b, nil
		}
		select {
		case <-b.done:
			data, _ := os.ReadFile(filepath.Join(dir, "stdout.log"))
			return nil, fmt.Errorf("pgbouncer exited: %s", data)
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("pgbouncer does not answer on %d", b.port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *bouncer) stop() {
	select {
	case <-b.done:
		return
	default:
	}
	_ = b.cmd.Process.Signal(os.Interrupt)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

func (b *bouncer) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", b.port, db)
}

func (e *env) pgbouncer(t *testing.T) {
	bin, err := ensurePgBouncer()
	if err != nil {
		e.h.report(t, resultRow{scenario: "6 pgbouncer", trials: "0", maxAccept: "-"}, []string{"not run: " + err.Error()})
		return
	}
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode, func(t *testing.T) { e.pgbouncerMode(t, bin, mode) })
	}
}

func (e *env) pgbouncerMode(t *testing.T, bin, mode string) {
	h, d := e.h, e.d
	h.begin(t)
	bo, err := h.startBouncer(t, bin, mode, d.db)
	if err != nil {
		t.Fatal(err)
	}
	defer bo.stop()
	via := map[string]string{"TOKEND_DATABASE_URL": bo.url(d.db)}
	direct := map[string]string{"TOKEND_DATABASE_URL": bo.url(d.db),
		"TOKEND_LISTEN_DATABASE_URL": h.pg.url(d.db, "application_name=tokend-listener-B6")}
	rs := make([]*replica, 3)
	var wg sync.WaitGroup
	var startErr error
	var mu sync.Mutex
	for i, spec := range []struct {
		name string
		env  map[string]string
	}{{"A6", via}, {"B6", direct}, {"C6", via}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := d.start(spec.name+"-"+mode, spec.env, true)
			if r != nil {
				r.name = spec.name
			}
			mu.Lock()
			rs[i] = r
			if err != nil {
				startErr = err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, r := range rs {
		if r != nil {
			defer r.stop()
		}
	}
	if startErr != nil {
		e.h.report(t, resultRow{scenario: "6 pgbouncer " + mode, trials: "0", maxAccept: "-"}, []string{"a replica did not start through PgBouncer: " + startErr.Error()})
		return
	}
	a6, b6, c6 := rs[0], rs[1], rs[2]
	if err := b6.waitListener(1, 10*time.Second); err != nil {
		t.Errorf("B6 (LISTEN direct): %v", err)
	}
	p, err := d.newProber(a6)
	if err != nil {
		t.Fatal(err)
	}

	// Mixed load through the pooler.
	rec := &recorder{}
	stop := make(chan struct{})
	var lw sync.WaitGroup
	fresh := make(chan string, 100)
	loop(&lw, stop, 5*time.Millisecond, func(i int) {
		a := h.do(a6.base, http.MethodPost, "/v2/api_tokens", d.admin, map[string]any{"realname": uniq("pooled"), "permissions": []string{"attacks:view"}})
		var tok token
		if a.code != http.StatusCreated || a.decode(&tok) != nil || tok.ID == 0 {
			rec.add(event{who: "A6", op: "create", a: a})
			return
		}
		rec.add(event{who: "A6", op: "create", a: a, id: tok.ID})
		id := strconv.FormatInt(tok.ID, 10)
		rec.add(event{who: "A6", op: "get", a: h.do(a6.base, http.MethodGet, "/v2/api_tokens/"+id, d.admin, nil)})
		rec.add(event{who: "A6", op: "rename", a: h.do(a6.base, http.MethodPut, "/v2/api_tokens/"+id, d.admin, map[string]any{"realname": uniq("renamed")})})
		select {
		case fresh <- tok.Secret:
		default:
		}
	})
	for _, r := range []*replica{b6, c6} {
		loop(&lw, stop, 2*time.Millisecond, func(i int) {
			select {
			case v := <-fresh:
				rec.add(event{who: r.name, op: "user (uncached)", a: h.do(r.base, http.MethodGet, "/v2/user", v, nil)})
				rec.add(event{who: r.name, op: "verify", a: h.do(r.base, http.MethodPost, "/v2/api_tokens/verify", d.admin, map[string]any{"token": v})})
			default:
				rec.add(event{who: r.name, op: "list", a: h.do(r.base, http.MethodGet, "/v2/api_tokens?limit=5", d.admin, nil)})
			}
		})
	}
	loop(&lw, stop, 100*time.Millisecond, func(i int) {
		u := p.demoted
		a := h.do(c6.base, http.MethodPost, "/v1/login", "", map[string]any{"email": u.email, "password": u.password})
		rec.add(event{who: "C6", op: "login", a: a})
		rec.add(event{who: "C6", op: "users", a: h.do(c6.base, http.MethodGet, "/v2/users?limit=5", d.admin, nil)})
	})
	// The maintenance job through the pooler too (tokend purge, twice).
	var purgeErrs []string
	for range 2 {
		time.Sleep(time.Second)
		cmd := exec.Command(h.bin, "purge")
		cmd.Env = append(cleanEnv(), "TOKEND_DATABASE_URL="+bo.url(d.db), "TOKEND_SECRET_KEY="+h.key)
		if out, err := cmd.CombinedOutput(); err != nil {
			purgeErrs = append(purgeErrs, fmt.Sprintf("tokend purge through PgBouncer: %v: %s", err, strings.TrimSpace(string(out))))
		}
	}
	time.Sleep(2 * time.Second)
	close(stop)
	lw.Wait()
	evs := rec.all()
	var five, served503 int
	var samples []string
	for _, ev := range evs {
		if ev.a.code >= 500 {
			if ev.a.code == http.StatusServiceUnavailable {
				served503++
			} else {
				five++
			}
			if len(samples) < 3 {
				samples = append(samples, fmt.Sprintf("%s %s: %s", ev.who, ev.op, ev.a))
			}
		}
	}
	var findings []string
	findings = append(findings, purgeErrs...)
	// Every create acknowledged through the pooler is there (read directly, through A).
	var acked, missing int
	for _, ev := range evs {
		if ev.op == "create" && ev.id != 0 {
			acked++
			if h.do(e.a.base, http.MethodGet, "/v2/api_tokens/"+strconv.FormatInt(ev.id, 10), d.admin, nil).code != http.StatusOK {
				missing++
			}
		}
	}
	if missing > 0 {
		findings = append(findings, fmt.Sprintf("%d of %d creates answered 201 through PgBouncer are missing", missing, acked))
	}
	if five+served503 > 0 {
		findings = append(findings, fmt.Sprintf("%d answers 500 and %d answers 503 under load with nothing failing, e.g. %s", five, served503, strings.Join(samples, " | ")))
	}
	for _, r := range rs {
		for _, l := range r.logLines(false) {
			if strings.Contains(l, "42P05") || strings.Contains(l, "prepared statement") {
				findings = append(findings, r.name+" logged a prepared-statement collision: "+l)
				break
			}
		}
	}

	// Revocation through the pooler.
	tl, subjects, err := e.trials(p, trialOpts{kinds: kinds, n: 20, warm: []*replica{b6, c6},
		probe: []*replica{a6, b6, c6}, confirm: 50 * time.Millisecond, giveUp: 5 * time.Second})
	if err != nil {
		findings = append(findings, "harness: "+err.Error())
	}
	findings = append(findings, tl.check(map[string]time.Duration{"A6": 0, "B6": quiet, "C6": h.bound})...)
	findings = append(findings, e.verifyAll(p, c6, subjects)...)
	c6state, _ := c6.metric(metricListener)

	// No advisory lock may stay held once the load is over.
	var held []string
	stuck := true
	for range 10 {
		rows, err := h.pg.query(d.db, `SELECT l.objid::text || ' ' || coalesce(a.application_name, '') || ' ' || coalesce(a.state, '') || ' ' || left(coalesce(a.query, ''), 80)
			FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted`)
		if err != nil {
			findings = append(findings, "harness: pg_locks: "+err.Error())
			break
		}
		if len(rows) == 0 {
			stuck = false
			break
		}
		held = rows
		time.Sleep(100 * time.Millisecond)
	}
	if !stuck {
		held = nil
	}
	if len(held) > 0 {
		findings = append(findings, fmt.Sprintf("advisory locks held for a second after the load: %s", strings.Join(held, "; ")))
	}
	var jobs []string
	if rows, err := h.pg.query(d.db, "SELECT name || ' ' || to_char(last_run_at, 'HH24:MI:SS') FROM job_runs ORDER BY name"); err == nil {
		jobs = rows
	}
	h.report(t, resultRow{scenario: "6 pgbouncer " + mode + " mode", trials: fmt.Sprintf("%d revocations, %d requests", tl.trials, len(evs)),
		maxAccept: tl.maxes() + " (B6 LISTEN direct, C6 through PgBouncer)", fiveHundred: five,
		notes: fmt.Sprintf("%d creates acknowledged, %d present afterwards; C6 listener state %v; advisory locks held after the load: %d; job runs: %s",
			acked, acked-missing, c6state, len(held), strings.Join(jobs, ", "))},
		findings, rs...)
}

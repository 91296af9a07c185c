package main

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokend/tokend/store"
)

// serve end to end: it bootstraps an empty database and prints the token
// once with the Swagger UI address, enforces the header size limit, and on
// SIGTERM finishes, flushes last-used notes and exits 0.
func TestServeLifecycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "tokend")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TOKEND_DATABASE_URL=sqlite:"+filepath.Join(dir, "t.db"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	var token, base, printed string
	lines := bufio.NewScanner(stdout)
	deadline := time.After(15 * time.Second)
	found := make(chan struct{})
	go func() {
		for lines.Scan() {
			l := lines.Text()
			printed += l + "\n"
			if i := strings.Index(l, "Swagger UI at "); i >= 0 {
				base = strings.TrimSuffix(strings.TrimSpace(l[i+len("Swagger UI at "):]), "/api-docs")
				close(found)
				return
			}
		}
	}()
	select {
	case <-found:
	case <-deadline:
		t.Fatal("serve did not print its address")
	}
	// The first token is not printed (a log is the worst place for it): it
	// is in a 0600 file next to the database, and works for 24 hours.
	file := filepath.Join(dir, "tokend-bootstrap-token")
	info, err := os.Stat(file)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("bootstrap token file %s: %v %v", file, info, err)
	}
	data, _ := os.ReadFile(file)
	token = strings.TrimSpace(string(data))
	if !strings.HasPrefix(token, "tkd_") || strings.Contains(printed, token) {
		t.Fatalf("bootstrap token %q; printed:\n%s", token, printed)
	}
	if !strings.Contains(printed, file) {
		t.Fatalf("serve did not say where the token is:\n%s", printed)
	}

	req, _ := http.NewRequest("GET", base+"/v1/user", nil)
	req.Header.Set("X-WallarmApi-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/user: %v %v", resp, err)
	}
	resp.Body.Close()

	// Headers beyond the 64 KiB limit are refused before any handler.
	req, _ = http.NewRequest("GET", base+"/healthz", nil)
	req.Header.Set("X-Padding", strings.Repeat("a", 100<<10))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("100 KiB header: %d, want 431", resp.StatusCode)
	}

	// SIGTERM: graceful exit, and the use above is flushed although the
	// 10 s flush interval has not passed.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var tok store.Token
	if err := st.DB().First(&tok).Error; err != nil {
		t.Fatal(err)
	}
	if tok.LastUsedAt == nil || tok.LastUsedIP == nil || *tok.LastUsedIP != "127.0.0.1" {
		t.Fatalf("last use not flushed at shutdown: %v %v", tok.LastUsedAt, tok.LastUsedIP)
	}
}

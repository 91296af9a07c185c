package main

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/tlsfiles/tlstest"
)

// serve over TLS end to end: TOKEND_TLS_CERT_FILE and TOKEND_TLS_KEY_FILE
// make it speak HTTPS (and print an https address), SIGHUP makes it serve
// a renewed certificate without a restart, and the CLI reaches it with
// --ca-file. With TOKEND_TOKEN_FORMAT=wallarm the bootstrap token is one
// the Wallarm Terraform provider accepts.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "tokend")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	caOne := tlstest.WritePair(t, certFile, keyFile, 1)
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--metrics-listen", "off")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TOKEND_DATABASE_URL=sqlite:"+filepath.Join(dir, "t.db"), "TOKEND_TOKEN_FORMAT=wallarm",
		"TOKEND_TLS_CERT_FILE="+certFile, "TOKEND_TLS_KEY_FILE="+keyFile)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	var token, base string
	found := make(chan struct{})
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			l := lines.Text()
			if i := strings.Index(l, "Swagger UI at "); i >= 0 {
				base = strings.TrimSuffix(strings.TrimSpace(l[i+len("Swagger UI at "):]), "/api-docs")
				close(found)
				return
			}
		}
	}()
	select {
	case <-found:
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not print its address")
	}
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("serve printed %q, want an https address", base)
	}
	data, err := os.ReadFile(filepath.Join(dir, "tokend-bootstrap-token"))
	if err != nil {
		t.Fatal(err)
	}
	token = strings.TrimSpace(string(data))
	if !regexp.MustCompile(`^[A-Za-z0-9+/]{64}$`).MatchString(token) {
		t.Fatalf("the bootstrap token fails the Terraform provider's api_token check: %d characters", len(token))
	}
	addr := strings.TrimPrefix(base, "https://")
	if got := tlstest.ServedSerial(t, addr); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}

	// The CLI trusts the CA file it is given, and nothing else.
	whoami := func(ca string) error {
		c := exec.Command(bin, "whoami", "--url", base, "--ca-file", ca)
		c.Env = append(os.Environ(), "TOKEND_TOKEN="+token)
		out, err := c.CombinedOutput()
		if err != nil {
			return &exec.ExitError{Stderr: out}
		}
		return nil
	}
	caOnePath := filepath.Join(dir, "ca1.pem")
	if err := os.WriteFile(caOnePath, caOne, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := whoami(caOnePath); err != nil {
		t.Fatalf("whoami --ca-file: %s", err.(*exec.ExitError).Stderr)
	}

	// A renewed pair, then SIGHUP: new connections get it.
	caTwo := tlstest.WritePair(t, certFile, keyFile, 2)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for tlstest.ServedSerial(t, addr) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload the certificate")
		}
		time.Sleep(20 * time.Millisecond)
	}
	caTwoPath := filepath.Join(dir, "ca2.pem")
	if err := os.WriteFile(caTwoPath, caTwo, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := whoami(caTwoPath); err != nil {
		t.Fatalf("whoami after the reload: %s", err.(*exec.ExitError).Stderr)
	}
	if err := whoami(caOnePath); err == nil {
		t.Fatal("the CLI trusted the old CA after the certificate changed")
	}
	// Still alive after SIGHUP, and plain HTTP is not served.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP answered 200 on the TLS listener")
		}
	}
}

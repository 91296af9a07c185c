package examples_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/testenv"
)

// TestExamples builds every example and runs it against a live tokend, as
// an integration partner would, checking what each one claims to do.
func TestExamples(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(os.PathSeparator),
		"./create-token", "./list-tokens", "./renew-token", "./read-secret", "./verify-token")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	env := testenv.New(t, testenv.Backends(t)[0])
	admin := env.Admin.Token
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Env = append(os.Environ(), "TOKEND_URL="+env.URL, "TOKEND_TOKEN="+admin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.String())
		}
		return strings.TrimSpace(string(out))
	}
	status := func(token string) int {
		t.Helper()
		return env.Do("GET", "/v2/user", "", map[string]string{"X-WallarmApi-Token": token}).StatusCode
	}

	// create-token: the value it prints authenticates.
	var id int64
	var value string
	if _, err := fmt.Sscan(run("create-token"), &id, &value); err != nil {
		t.Fatalf("create-token output: %v", err)
	}
	if got := status(value); got != 200 {
		t.Fatalf("the created token answers %d on /v2/user", got)
	}

	// list-tokens: pages of 20 until the end, every visible token once.
	c := env.Client(admin)
	for i := 0; i < 45; i++ {
		r, err := c.CreateTokenWithResponse(context.Background(), client.TokenCreate{Realname: fmt.Sprintf("bulk %d", i), Permissions: client.PermissionList{"api_tokens:view"}})
		testenv.Must(t, err)
		if r.StatusCode() != 201 {
			t.Fatalf("create: %d %s", r.StatusCode(), r.Body)
		}
	}
	limit := client.Limit(1000)
	all, err := c.ListTokensWithResponse(context.Background(), &client.ListTokensParams{Limit: &limit})
	testenv.Must(t, err)
	lines := strings.Split(run("list-tokens"), "\n")
	if len(lines) != len(all.JSON200.Items) || len(lines) < 47 {
		t.Errorf("list-tokens printed %d lines; the API lists %d tokens", len(lines), len(all.JSON200.Items))
	}
	seen := map[string]bool{}
	for _, l := range lines {
		seen[strings.SplitN(l, "\t", 2)[0]] = true
	}
	if len(seen) != len(lines) {
		t.Errorf("list-tokens printed a token twice: %d distinct of %d", len(seen), len(lines))
	}

	// read-secret: the value back.
	if got := run("read-secret", fmt.Sprint(id)); got != value {
		t.Errorf("read-secret = %q, want the created value", got)
	}

	// renew-token: the new value works, the old one stops at once...
	renewed := run("renew-token", fmt.Sprint(id))
	if status(renewed) != 200 || status(value) != 401 {
		t.Errorf("after renew: new value %d, old value %d; want 200 and 401", status(renewed), status(value))
	}
	// ...or after a grace period, during which both work.
	graced := run("renew-token", fmt.Sprint(id), "1h")
	if status(graced) != 200 || status(renewed) != 200 {
		t.Errorf("after renew with grace: new %d, previous %d; want 200 and 200", status(graced), status(renewed))
	}
	if got := run("read-secret", fmt.Sprint(id)); got != graced {
		t.Errorf("read-secret after renew = %q, want the newest value", got)
	}

	// verify-token: another team's service admits tokens by permission.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	testenv.Must(t, err)
	addr := l.Addr().String()
	l.Close()
	// The service runs with its own token, shared (the company's, not a
	// person's) and holding only api_tokens:verify.
	shared := true
	service, err := c.CreateTokenWithResponse(context.Background(), client.TokenCreate{Realname: "verify-token service", Shared: &shared, Permissions: client.PermissionList{"api_tokens:verify"}})
	testenv.Must(t, err)
	if service.JSON201 == nil {
		t.Fatalf("create the service token: %d %s", service.StatusCode(), service.Body)
	}
	svc := exec.Command(filepath.Join(bin, "verify-token"), "-listen", addr, "-permission", "api_tokens:view")
	svc.Env = append(os.Environ(), "TOKEND_URL="+env.URL, "TOKEND_TOKEN="+service.JSON201.Secret)
	testenv.Must(t, svc.Start())
	t.Cleanup(func() { _ = svc.Process.Kill(); _ = svc.Wait() })
	lacking, err := c.CreateTokenWithResponse(context.Background(), client.TokenCreate{Realname: "nodes only", Permissions: client.PermissionList{"nodes:view"}})
	testenv.Must(t, err)
	ask := func(token string) int {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				return resp.StatusCode
			}
			if time.Now().After(deadline) {
				t.Fatalf("verify-token does not answer: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if got := ask(graced); got != 200 {
		t.Errorf("verify-token with a token holding the permission: %d, want 200", got)
	}
	if lacking.JSON201 == nil {
		t.Fatalf("create: %d %s", lacking.StatusCode(), lacking.Body)
	}
	if got := ask(lacking.JSON201.Secret); got != 403 {
		t.Errorf("verify-token with a token lacking the permission: %d, want 403", got)
	}
	if got := ask("tkd_garbage"); got != 401 {
		t.Errorf("verify-token with garbage: %d, want 401", got)
	}
}

// TestReadmeSnippet compiles the "From Go" snippet of the top-level
// README.md inside a main function and runs it: the token it creates must
// authenticate. The snippet is what most readers copy first.
func TestReadmeSnippet(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	testenv.Must(t, err)
	_, rest, ok := strings.Cut(string(readme), "**From Go**")
	if ok {
		_, rest, ok = strings.Cut(rest, "```go\n")
	}
	snippet, _, closed := strings.Cut(rest, "```")
	if !ok || !closed {
		t.Fatal("README.md has no ```go block after **From Go**")
	}
	dir := t.TempDir()
	src := fmt.Sprintf(`package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/tokend/tokend/gen/client"
)

var (
	_ = fmt.Println
	_ http.Handler
	_ = client.NewClientWithResponses
)

func main() {
	ctx, url, token := context.Background(), os.Getenv("TOKEND_URL"), os.Getenv("TOKEND_TOKEN")
	_, _, _ = ctx, url, token
%s}
`, snippet)
	testenv.Must(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o600))
	exe := filepath.Join(dir, "snippet")
	if out, err := exec.Command("go", "build", "-o", exe, filepath.Join(dir, "main.go")).CombinedOutput(); err != nil {
		t.Fatalf("the README snippet does not compile: %v\n%s\n%s", err, out, src)
	}

	env := testenv.New(t, testenv.Backends(t)[0])
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "TOKEND_URL="+env.URL, "TOKEND_TOKEN="+env.Admin.Token)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README snippet: %v\n%s", err, out)
	}
	value := strings.TrimSpace(string(out))
	if got := env.Do("GET", "/v2/user", "", map[string]string{"X-WallarmApi-Token": value}).StatusCode; got != 200 {
		t.Errorf("the README snippet printed %q, which answers %d on /v2/user", value, got)
	}
}

// TestExamplesOverTLS: an example reaches a tokend serving HTTPS with a
// certificate only TOKEND_CA_FILE vouches for, and refuses it without.
func TestExamplesOverTLS(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", bin+string(os.PathSeparator), "./create-token").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	env := testenv.New(t, testenv.Backends(t)[0], testenv.Options{TLS: true})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	testenv.Must(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: env.Server.Certificate().Raw}), 0o600))
	run := func(extra ...string) (string, error) {
		cmd := exec.Command(filepath.Join(bin, "create-token"))
		cmd.Env = append(append(os.Environ(), "TOKEND_URL="+env.URL, "TOKEND_TOKEN="+env.Admin.Token), extra...)
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	if _, err := run(); err == nil {
		t.Fatal("create-token trusted the test certificate without TOKEND_CA_FILE")
	}
	out, err := run("TOKEND_CA_FILE=" + ca)
	if err != nil {
		t.Fatalf("create-token with TOKEND_CA_FILE: %v", err)
	}
	var id int64
	var value string
	if _, err := fmt.Sscan(out, &id, &value); err != nil || id == 0 {
		t.Fatalf("create-token output %q: %v", out, err)
	}
}

package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/testenv"
)

// readConfig reads the file tokend login wrote.
func readConfig(t *testing.T, path string) cliConfig {
	t.Helper()
	data, err := os.ReadFile(path)
	testenv.Must(t, err)
	var cfg cliConfig
	testenv.Must(t, json.Unmarshal(data, &cfg))
	return cfg
}

// tokend login and logout, and every command using what login stored,
// with a token and with e-mail and password (one-time, R22, then one's
// own), on both backends.
func TestCLILogin(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		admin := env.Admin.Token
		dir := t.TempDir()
		cfgPath := filepath.Join(dir, "tokend", "config.json")
		conf := "--config=" + cfgPath
		key, _ := normalizeURL(env.URL)

		// Without a login nor a token: 401, and the hint names tokend login.
		r := tokend("", "whoami", conf, "--url", env.URL)
		want(t, r, exitAuth, "whoami before login")
		if !strings.Contains(r.err, "run tokend login") {
			t.Fatalf("no-token hint: %q", r.err)
		}

		// A wrong token is refused and nothing is saved.
		r = tokend("tkd_wrong\n", "login", "--url", env.URL, "--with-token", conf)
		want(t, r, exitAuth, "login with a wrong token")
		if _, err := os.Stat(cfgPath); !os.IsNotExist(err) {
			t.Fatalf("a refused login wrote %s: %v", cfgPath, err)
		}

		// --with-token: the token on standard input, stored 0600 in a 0700 directory.
		r = tokend(admin+"\n", "login", "--url", env.URL+"/", "--with-token", conf)
		want(t, r, exitOK, "login --with-token")
		if !strings.Contains(r.out, "Logged in to "+key+" as admin-") || !strings.Contains(r.out, "with an API token") {
			t.Fatalf("login output: %q", r.out)
		}
		fi, err := os.Stat(cfgPath)
		testenv.Must(t, err)
		di, err := os.Stat(filepath.Dir(cfgPath))
		testenv.Must(t, err)
		if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
			t.Fatalf("modes: file %o, directory %o", fi.Mode().Perm(), di.Mode().Perm())
		}
		cfg := readConfig(t, cfgPath)
		if cfg.Current != key || cfg.Servers[key] == nil || cfg.Servers[key].Token != admin || cfg.Servers[key].Kind != kindAPIToken {
			t.Fatalf("stored: %+v", cfg)
		}

		// Every client command now needs neither --url nor --token...
		me := decode[client.CurrentUser](t, tokend("", "whoami", "-o", "json", conf))
		if me.Id != env.Admin.UserID {
			t.Fatalf("whoami with the stored login: %+v", me)
		}
		want(t, tokend("", "tokens", "list", conf), exitOK, "tokens list with the stored login")
		// ...and a flag still wins over it.
		r = tokend("", "whoami", conf, "--token", "tkd_wrong")
		want(t, r, exitAuth, "--token over the stored login")
		if !strings.Contains(r.err, "check TOKEND_TOKEN") {
			t.Fatalf("401 hint for a flag: %q", r.err)
		}

		// E-mail and password. An administrator's password is one-time
		// (R22): login changes it (second line of standard input), then
		// signs in with the new one.
		want(t, tokend("first-password\n", "users", "create", "--email", "ann@example.com", "--name", "Ann", "--role", "analytic",
			"--password-stdin", "--url", env.URL, "--token", admin), exitOK, "users create")
		annPath := filepath.Join(dir, "ann.json")
		annConf := "--config=" + annPath
		r = tokend("first-password\nann's own password\n", "login", "--url", env.URL, "--email", "ann@example.com", annConf)
		want(t, r, exitOK, "login with a one-time password")
		if !strings.Contains(r.err, "R22") || !strings.Contains(r.out, "as ann@example.com (analytic, ") || !strings.Contains(r.out, "with a session until ") {
			t.Fatalf("one-time login: stdout %q stderr %q", r.out, r.err)
		}
		ann := readConfig(t, annPath).Servers[key]
		if ann == nil || ann.Kind != kindSession || !strings.HasPrefix(ann.Token, "tks_") || ann.ExpireAt == nil {
			t.Fatalf("stored session: %+v", ann)
		}
		r = tokend("", "whoami", annConf)
		want(t, r, exitOK, "whoami with the stored session")
		if !strings.Contains(r.out, "ann@example.com") || !strings.Contains(r.out, "Credential:   session") {
			t.Fatalf("whoami as ann:\n%s", r.out)
		}
		// The old password is gone; the new one signs in without a change,
		// and the session it replaces is ended.
		replaced := ann.Token
		want(t, tokend("first-password\n", "login", "--url", env.URL, "--email", "ann@example.com", annConf), exitAuth, "login with the spent one-time password")
		r = tokend("ann's own password\n", "login", "--url", env.URL, "--email", "ann@example.com", annConf)
		want(t, r, exitOK, "login with the new password")
		if strings.Contains(r.err, "R22") {
			t.Fatalf("a second password change was asked: %q", r.err)
		}
		session := readConfig(t, annPath).Servers[key].Token
		if got, err := env.Client(replaced).GetCurrentUserWithResponse(context.Background()); err != nil || got.StatusCode() != 401 {
			t.Fatalf("the replaced session: %v %v", got.StatusCode(), err)
		}

		// logout ends the session on the server, then forgets it.
		r = tokend("", "logout", annConf)
		want(t, r, exitOK, "logout")
		if !strings.Contains(r.out, "the session was ended on the server") {
			t.Fatalf("logout output: %q", r.out)
		}
		if got, err := env.Client(session).GetCurrentUserWithResponse(context.Background()); err != nil || got.StatusCode() != 401 {
			t.Fatalf("the session after logout: %v %v", got.StatusCode(), err)
		}
		if cfg := readConfig(t, annPath); len(cfg.Servers) != 0 || cfg.Current != "" {
			t.Fatalf("after logout: %+v", cfg)
		}
		r = tokend("", "logout", annConf)
		want(t, r, exitOK, "logout when logged out")
		if !strings.Contains(r.err, "not logged in") {
			t.Fatalf("second logout: %q", r.err)
		}

		// A stored credential the server no longer accepts: the hint says login again.
		want(t, tokend("ann's own password\n", "login", "--url", env.URL, "--email", "ann@example.com", annConf), exitOK, "login again")
		want(t, as(env, admin, "users", "update", "2", "--disable"), exitOK, "disable ann")
		r = tokend("", "whoami", annConf)
		want(t, r, exitAuth, "whoami with the session of a disabled user")
		if !strings.Contains(r.err, "tokend login stored for "+key+" was refused") {
			t.Fatalf("stored-credential hint: %q", r.err)
		}

		// Two servers (the same one by two names): the last login is
		// current, --url picks the other's credential, servers use switches.
		other := strings.Replace(env.URL, "127.0.0.1", "localhost", 1)
		otherKey, _ := normalizeURL(other)
		want(t, tokend(admin, "login", "--url", other, "--with-token", conf), exitOK, "login to a second server")
		r = tokend("", "servers", conf)
		want(t, r, exitOK, "servers")
		if !strings.Contains(r.out, "*  "+otherKey) || !strings.Contains(r.out, "   "+key) {
			t.Fatalf("servers:\n%s", r.out)
		}
		want(t, tokend("", "whoami", conf, "--url", env.URL), exitOK, "--url of a stored server uses its credential")
		want(t, tokend("", "servers", "use", env.URL, conf), exitOK, "servers use")
		if got := readConfig(t, cfgPath).Current; got != key {
			t.Fatalf("current after servers use: %q", got)
		}
		want(t, tokend("", "servers", "use", "http://elsewhere.example", conf), exitUsage, "servers use of an unknown server")
		// Logging out of an API token forgets it, and says the token still works.
		r = tokend("", "logout", conf)
		want(t, r, exitOK, "logout of an API token")
		if !strings.Contains(r.out, "the API token itself still works") {
			t.Fatalf("logout of a token: %q", r.out)
		}
		if cfg := readConfig(t, cfgPath); cfg.Servers[key] != nil || cfg.Servers[otherKey] == nil {
			t.Fatalf("after logout: %+v", cfg)
		}

		// Usage: both ways at once, or neither without a terminal.
		want(t, tokend("x", "login", "--url", env.URL, "--with-token", "--email", "a@example.com", conf), exitUsage, "--with-token and --email")
		want(t, tokend("", "login", "--url", env.URL, conf), exitUsage, "login without a way and without a terminal")
		want(t, tokend("", "login", "--url", env.URL, "--with-token", conf), exitUsage, "--with-token with empty input")
	})
}

// A configuration file others can read still works, with a warning; a
// broken one is an error that says which file.
func TestCLIConfigFile(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, testenv.Backends(t)[0])
	path := filepath.Join(t.TempDir(), "config.json")
	want(t, tokend(env.Admin.Token, "login", "--url", env.URL, "--with-token", "--config", path), exitOK, "login")
	testenv.Must(t, os.Chmod(path, 0o644))
	r := tokend("", "whoami", "--config", path)
	want(t, r, exitOK, "whoami with a readable file")
	if !strings.Contains(r.err, "readable by other users") {
		t.Fatalf("no warning: %q", r.err)
	}
	testenv.Must(t, os.WriteFile(path, []byte("{"), 0o600))
	r = tokend("", "whoami", "--config", path)
	if r.code == exitOK || !strings.Contains(r.err, path+" is not valid JSON") {
		t.Fatalf("broken file: exit %d, %q", r.code, r.err)
	}
	// Both flags given: the file is not even read.
	want(t, tokend("", "whoami", "--config", path, "--url", env.URL, "--token", env.Admin.Token), exitOK, "flags with a broken file")
}

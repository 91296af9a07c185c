package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/testenv"
)

// The client commands against the real server (server.New over httptest,
// on every backend), run in-process through run() exactly as main() does.

type cliResult struct {
	code     int
	out, err string
}

// tokend runs the CLI with stdin and args, as `tokend args…`.
func tokend(stdin string, args ...string) cliResult {
	var out, errb strings.Builder
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return cliResult{code: code, out: out.String(), err: errb.String()}
}

// as runs a client command against env with token (flags after the command words).
func as(env *testenv.Env, token string, args ...string) cliResult {
	return tokend("", append(args, "--url", env.URL, "--token", token)...)
}

func want(t *testing.T, r cliResult, code int, what string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", what, r.code, code, r.out, r.err)
	}
}

func decode[T any](t *testing.T, r cliResult) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(r.out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("-o json output is not a %T: %v\n%s", v, err, r.out)
	}
	if dec.More() {
		t.Fatalf("-o json printed more than one JSON value:\n%s", r.out)
	}
	return v
}

// tableRow finds the row of a table whose first column is id.
func tableRow(t *testing.T, out string, id int64) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == strconv.FormatInt(id, 10) {
			return f
		}
	}
	t.Fatalf("no row with id %d in\n%s", id, out)
	return nil
}

func TestCLITokenLifecycle(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		admin := env.Admin.Token

		r := as(env, admin, "whoami")
		want(t, r, exitOK, "whoami")
		// permissions one line per resource, not 57 on one line
		if !strings.Contains(r.out, "partner_admin") || !strings.Contains(r.out, "Credential:") ||
			!regexp.MustCompile(`\n {14}api_tokens +view, create, update, delete, manage, verify\n`).MatchString(r.out) ||
			!regexp.MustCompile(`Permissions: +nodes +view, create, update, delete\n`).MatchString(r.out) {
			t.Fatalf("whoami text:\n%s", r.out)
		}
		me := decode[client.CurrentUser](t, as(env, admin, "whoami", "-o", "json"))
		if me.Id != env.Admin.UserID || me.ClientId != env.Admin.ClientID || me.Role != client.PartnerAdmin {
			t.Fatalf("whoami json: %+v", me)
		}

		// create (json: the full object with its value)
		r = as(env, admin, "tokens", "create", "--name", "ci", "--permission", "analytic", "--expire-at", "30d", "-o", "json")
		want(t, r, exitOK, "tokens create")
		tok := decode[client.TokenWithSecret](t, r)
		exp, err := tok.ExpireAt.Get()
		if err != nil || !strings.HasPrefix(tok.Secret, "tkd_") || tok.Realname != "ci" || tok.SourceRole != "analytic" ||
			time.Until(exp) < 29*24*time.Hour || time.Until(exp) > 31*24*time.Hour {
			t.Fatalf("created token: %+v (expire_at %v %v)", tok, exp, err)
		}
		value := tok.Secret
		r = as(env, value, "whoami", "-o", "json")
		want(t, r, exitOK, "whoami with the new token")
		if got := decode[client.CurrentUser](t, r); got.TokenId.MustGet() != tok.Id {
			t.Fatalf("whoami with the new token: token id %v, want %d", got.TokenId, tok.Id)
		}

		// create in text mode prints the value on a line of its own
		r = as(env, admin, "tokens", "create", "--name", "shared one", "--role", "admin", "--shared")
		want(t, r, exitOK, "tokens create --shared")
		lines := strings.Split(strings.TrimSpace(r.out), "\n")
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, "tkd_") || !strings.Contains(r.out, "Owner:        Shared") {
			t.Fatalf("text create does not end with the value:\n%s", r.out)
		}
		sharedID, _ := strconv.ParseInt(strings.Fields(strings.TrimPrefix(lines[0], "Created token "))[0], 10, 64)

		// list: the table shows both, "Never" for the bootstrap token, "Shared" for the shared one
		r = as(env, admin, "tokens", "list")
		want(t, r, exitOK, "tokens list")
		if !strings.HasPrefix(r.out, "ID  NAME") || !strings.Contains(r.out, "LAST USED  STATUS") {
			t.Fatalf("tokens list header:\n%s", r.out)
		}
		// the owner by e-mail, not "user 1"
		if row := tableRow(t, r.out, tok.Id); row[1] != "ci" || row[2] != me.Email || row[3] != "analytic" || row[len(row)-1] != "enabled" {
			t.Fatalf("row of the new token: %q", row)
		}
		if row := tableRow(t, r.out, sharedID); row[3] != "Shared" {
			t.Fatalf("row of the shared token: %q", row)
		}
		if row := tableRow(t, r.out, 1); !strings.Contains(strings.Join(row, " "), "Never") {
			t.Fatalf("bootstrap token row: %q", row)
		}
		// --shared filter, and paging: --limit 1 notes the cursor, --all follows it
		r = as(env, admin, "tokens", "list", "--shared", "-o", "json")
		if l := decode[client.TokenList](t, r); len(l.Items) != 1 || l.Items[0].Id != sharedID {
			t.Fatalf("tokens list --shared: %s", r.out)
		}
		r = as(env, admin, "tokens", "list", "--limit", "1")
		want(t, r, exitOK, "tokens list --limit 1")
		if !strings.Contains(r.err, "--cursor ") || strings.Count(strings.TrimSpace(r.out), "\n") != 1 {
			t.Fatalf("one page of one: stdout %q stderr %q", r.out, r.err)
		}
		all := decode[client.TokenList](t, as(env, admin, "tokens", "list", "--limit", "1", "--all", "-o", "json"))
		if len(all.Items) != 3 || !all.NextCursor.IsNull() {
			t.Fatalf("--all: %d items, next %v", len(all.Items), all.NextCursor)
		}

		// get
		r = as(env, admin, "tokens", "get", fmt.Sprint(tok.Id))
		want(t, r, exitOK, "tokens get")
		if !strings.Contains(r.out, "Name:         ci") || !strings.Contains(r.out, "Permissions:  analytic") || strings.Contains(r.out, value) {
			t.Fatalf("tokens get:\n%s", r.out)
		}
		if got := decode[client.Token](t, as(env, admin, "tokens", "get", fmt.Sprint(tok.Id), "-o", "json")); got.Id != tok.Id || got.Hint != tok.Hint {
			t.Fatalf("tokens get -o json: %+v", got)
		}

		// update
		r = as(env, admin, "tokens", "update", fmt.Sprint(tok.Id), "--name", "ci-2", "--permission", "attacks:view,incidents:view", "-o", "json")
		want(t, r, exitOK, "tokens update")
		if got := decode[client.Token](t, r); got.Realname != "ci-2" || strings.Join(got.Permissions, ",") != "attacks:view,incidents:view" {
			t.Fatalf("updated: %+v", got)
		}
		want(t, as(env, admin, "tokens", "update", fmt.Sprint(tok.Id)), exitUsage, "update with nothing to change")

		// renew: the old value stops at once (401 → exit 3), the new one works
		r = as(env, admin, "tokens", "renew", fmt.Sprint(tok.Id), "-o", "json")
		want(t, r, exitOK, "tokens renew")
		renewed := decode[client.TokenWithSecret](t, r)
		if renewed.Secret == value || !strings.HasPrefix(renewed.Secret, "tkd_") {
			t.Fatalf("renew gave %q", renewed.Secret)
		}
		r = as(env, value, "whoami")
		want(t, r, exitAuth, "old value after renew")
		if !strings.Contains(r.err, "401 Unauthorized") || !strings.Contains(r.err, "TOKEND_TOKEN") {
			t.Fatalf("401 message: %q", r.err)
		}
		want(t, as(env, renewed.Secret, "whoami"), exitOK, "new value after renew")
		value = renewed.Secret

		// renew with a grace period: both values work for now
		r = as(env, admin, "tokens", "renew", fmt.Sprint(tok.Id), "--grace", "1h")
		want(t, r, exitOK, "tokens renew --grace")
		if !strings.Contains(r.out, "Token value") || !strings.Contains(r.out, "keeps working for 1h, until ") {
			t.Fatalf("renew text:\n%s", r.out)
		}
		want(t, as(env, value, "whoami"), exitOK, "old value inside the grace period")
		value = lastLine(r.out)
		want(t, as(env, value, "whoami"), exitOK, "the value renew printed")

		// secret: the value alone in text mode, {"secret"} in json
		r = as(env, admin, "tokens", "secret", fmt.Sprint(tok.Id))
		want(t, r, exitOK, "tokens secret")
		if r.out != value+"\n" {
			t.Fatalf("tokens secret printed %q, want the value", r.out)
		}
		if s := decode[client.TokenSecret](t, as(env, admin, "tokens", "secret", fmt.Sprint(tok.Id), "-o", "json")); s.Secret != value {
			t.Fatalf("tokens secret -o json: %q", s.Secret)
		}

		// disable: refused on the next request; enable needs an expiry (R8)
		r = as(env, admin, "tokens", "disable", fmt.Sprint(tok.Id))
		want(t, r, exitOK, "tokens disable")
		// why it is disabled and when it goes (disabled_reason, purge_at)
		if !strings.Contains(r.out, "Status:       disabled (disabled by hand)") || !strings.Contains(r.out, "Purge:        ") {
			t.Fatalf("disable:\n%s", r.out)
		}
		want(t, as(env, value, "whoami"), exitAuth, "disabled token")
		r = as(env, admin, "tokens", "enable", fmt.Sprint(tok.Id))
		want(t, r, exitRejected, "enable without --expire-at")
		if !strings.Contains(r.err, "tokend: 400 Bad Request: refused by R8 (reenable-needs-expiry): expire_at must be in the future to re-enable a token") || !strings.Contains(r.err, "--expire-at") {
			t.Fatalf("enable without expiry: %q", r.err)
		}
		r = as(env, admin, "tokens", "enable", fmt.Sprint(tok.Id), "--expire-at", "7d", "-o", "json")
		want(t, r, exitOK, "tokens enable --expire-at 7d")
		if got := decode[client.Token](t, r); !got.Enabled || time.Until(got.ExpireAt.MustGet()) < 6*24*time.Hour {
			t.Fatalf("enabled: %+v", got)
		}
		want(t, as(env, value, "whoami"), exitOK, "re-enabled token")

		// delete; then get is 404 → exit 5
		r = as(env, admin, "tokens", "delete", fmt.Sprint(tok.Id))
		want(t, r, exitOK, "tokens delete")
		r = as(env, admin, "tokens", "get", fmt.Sprint(tok.Id))
		want(t, r, exitNotFound, "get after delete")
		if !strings.HasPrefix(r.err, "tokend: 404 Not Found") || r.out != "" {
			t.Fatalf("404: stdout %q stderr %q", r.out, r.err)
		}
		want(t, as(env, value, "whoami"), exitAuth, "deleted token")
	})
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "tkd_") {
			return lines[i]
		}
	}
	return ""
}

func TestCLIUsersAndClients(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		admin := env.Admin.Token
		url := "--url=" + env.URL

		// users create with the password on standard input; ann signs in with it
		r := tokend("correct horse battery\n", "users", "create", "--email", "ann@example.com", "--name", "Ann",
			"--role", "analytic", "--password-stdin", "-o", "json", url, "--token", admin)
		want(t, r, exitOK, "users create")
		ann := decode[client.User](t, r)
		if ann.Email != "ann@example.com" || ann.Role != client.Analytic || !ann.Enabled {
			t.Fatalf("created user: %+v", ann)
		}
		login, err := env.Client("").LoginWithResponse(context.Background(), client.LoginRequest{Email: "ann@example.com", Password: "correct horse battery"})
		testenv.Must(t, err)
		if login.StatusCode() != 200 {
			t.Fatalf("login with the password given on stdin: %d %s", login.StatusCode(), login.Body)
		}
		session := login.JSON200.Token

		// duplicate e-mail: 409 → exit 6
		r = as(env, admin, "users", "create", "--email", "ann@example.com", "--name", "Ann again", "--role", "auditor")
		want(t, r, exitRejected, "duplicate e-mail")
		if !strings.HasPrefix(r.err, "tokend: 409 Conflict: ") {
			t.Fatalf("409 message: %q", r.err)
		}
		// a field error of the request validation: 400 → exit 6, with the detail
		r = as(env, admin, "users", "create", "--email", "not-an-email", "--name", "X", "--role", "auditor")
		want(t, r, exitRejected, "invalid e-mail")
		if !strings.Contains(r.err, "400 Bad Request") || !strings.Contains(r.err, "/email") {
			t.Fatalf("400 message: %q", r.err)
		}
		// a role kong does not know never reaches the server
		want(t, as(env, admin, "users", "create", "--email", "b@example.com", "--name", "B", "--role", "root"), exitUsage, "unknown role")

		// ann (analytic) may not list users, nor mint an admin token: 403 → exit 4
		r = as(env, session, "users", "list")
		want(t, r, exitForbidden, "analytic lists users")
		if !strings.HasPrefix(r.err, "tokend: 403 Forbidden: ") {
			t.Fatalf("403 message: %q", r.err)
		}
		want(t, as(env, session, "tokens", "create", "--name", "too much", "--permission", "admin"), exitForbidden, "escalation")
		r = as(env, session, "whoami")
		want(t, r, exitOK, "whoami with a session")
		if !strings.Contains(r.out, "ann@example.com") || !strings.Contains(r.out, "Credential:   session") {
			t.Fatalf("whoami as ann:\n%s", r.out)
		}

		// list, filter, get, update, delete
		r = as(env, admin, "users", "list", "--role", "analytic")
		want(t, r, exitOK, "users list")
		// the company by name ("Default company"), not by id
		if row := tableRow(t, r.out, ann.Id); row[1] != "ann@example.com" || row[3] != "analytic" || row[4] != "Default" || row[5] != "company" || row[6] != "enabled" {
			t.Fatalf("ann's row: %q", row)
		}
		if strings.Contains(r.out, "partner_admin") {
			t.Fatalf("--role analytic listed the administrator:\n%s", r.out)
		}
		r = as(env, admin, "users", "update", fmt.Sprint(ann.Id), "--role", "auditor", "--disable", "-o", "json")
		want(t, r, exitOK, "users update")
		if u := decode[client.User](t, r); u.Role != client.Auditor || u.Enabled {
			t.Fatalf("updated user: %+v", u)
		}
		want(t, as(env, session, "whoami"), exitAuth, "disabled user's session")
		r = as(env, admin, "users", "get", fmt.Sprint(ann.Id))
		want(t, r, exitOK, "users get")
		if !strings.Contains(r.out, "Role:        auditor") || !strings.Contains(r.out, "Status:      disabled") {
			t.Fatalf("users get:\n%s", r.out)
		}
		want(t, as(env, admin, "users", "update", fmt.Sprint(ann.Id), "--enable", "--disable"), exitUsage, "--enable with --disable")

		// users update --email: another user's by an administrator, one's
		// own too (the bootstrap admin's generated address); a taken one is
		// 409 → exit 6, in words.
		r = as(env, admin, "users", "update", fmt.Sprint(ann.Id), "--email", "Ann.B@Example.com", "-o", "json")
		want(t, r, exitOK, "users update --email")
		if u := decode[client.User](t, r); u.Email != "ann.b@example.com" {
			t.Fatalf("e-mail after update: %q", u.Email)
		}
		r = as(env, admin, "users", "update", fmt.Sprint(env.Admin.UserID), "--email", "ann.b@example.com")
		want(t, r, exitRejected, "users update --email to a taken address")
		if !strings.HasPrefix(r.err, "tokend: 409 Conflict: refused by §2 (email-taken): ") {
			t.Fatalf("taken e-mail: %q", r.err)
		}
		r = as(env, admin, "users", "update", fmt.Sprint(env.Admin.UserID), "--email", "root@example.com")
		want(t, r, exitOK, "the administrator's own e-mail")
		if !strings.Contains(r.out, "Email:       root@example.com") {
			t.Fatalf("own e-mail:\n%s", r.out)
		}
		want(t, as(env, admin, "users", "delete", fmt.Sprint(ann.Id)), exitOK, "users delete")
		want(t, as(env, admin, "users", "get", fmt.Sprint(ann.Id)), exitNotFound, "users get after delete")

		// clients
		r = as(env, admin, "clients", "create", "--name", "Acme", "-o", "json")
		want(t, r, exitOK, "clients create")
		acme := decode[client.Company](t, r)
		if acme.Name != "Acme" || !acme.Enabled {
			t.Fatalf("created client: %+v", acme)
		}
		r = as(env, admin, "clients", "list")
		want(t, r, exitOK, "clients list")
		if row := tableRow(t, r.out, acme.Id); row[1] != "Acme" || row[len(row)-4] != "enabled" {
			t.Fatalf("Acme's row: %q", row)
		}
		r = as(env, admin, "clients", "update", fmt.Sprint(acme.Id), "--name", "Acme Ltd", "--disable")
		want(t, r, exitOK, "clients update")
		if !strings.Contains(r.out, "Acme Ltd") || !strings.Contains(r.out, "disabled") {
			t.Fatalf("clients update:\n%s", r.out)
		}
		if c := decode[client.Company](t, as(env, admin, "clients", "get", fmt.Sprint(acme.Id), "-o", "json")); c.Name != "Acme Ltd" || c.Enabled {
			t.Fatalf("clients get: %+v", c)
		}
		want(t, as(env, admin, "clients", "get", "999999"), exitNotFound, "unknown client")
	})
}

// Connection settings, usage errors and the exit codes that need no data.
func TestCLIErrorsAndConfig(t *testing.T) {
	env := testenv.New(t, testenv.Backends(t)[0])

	// TOKEND_URL and TOKEND_TOKEN from the environment; the flag wins.
	t.Setenv("TOKEND_URL", env.URL)
	t.Setenv("TOKEND_TOKEN", env.Admin.Token)
	want(t, tokend("", "whoami"), exitOK, "whoami from the environment")
	r := tokend("", "whoami", "--token", "tkd_not_a_real_token")
	want(t, r, exitAuth, "bad token")
	if !strings.Contains(r.err, "401 Unauthorized") || !strings.Contains(r.err, "check TOKEND_TOKEN") {
		t.Fatalf("401 message: %q", r.err)
	}
	t.Setenv("TOKEND_TOKEN", "")
	r = tokend("", "tokens", "list")
	want(t, r, exitAuth, "no token")
	if !strings.Contains(r.err, "no token was sent") {
		t.Fatalf("no-token message: %q", r.err)
	}

	// Nothing listens: exit 7.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	testenv.Must(t, err)
	dead := "http://" + ln.Addr().String()
	ln.Close()
	r = tokend("", "tokens", "list", "--url", dead, "--token", env.Admin.Token)
	want(t, r, exitUnreachable, "unreachable server")
	if !strings.Contains(r.err, "cannot reach the server at "+dead) {
		t.Fatalf("unreachable message: %q", r.err)
	}

	// Command-line errors: exit 2, nothing sent, a pointer to --help.
	for _, args := range [][]string{
		{"tokens", "list", "--bogus"},
		{"tokens", "get"},
		{"tokens", "get", "abc"},
		{"tokens", "create", "--name", "x"},
		{"tokens", "create", "--name", "x", "--permission", "analytic", "--expire-at", "tomorrow"},
		{"tokens", "list", "-o", "yaml"},
		{"tokens", "renew", "1", "--grace", "48h"},
		{"tokens", "list", "--shared", "--personal"},
		{"whoami", "--url", "ftp://example.com"},
		{"users", "update", "1"},
		{"clients", "update", "1"},
		{"frobnicate"},
		{},
	} {
		r := tokend("", args...) // TOKEND_URL is set: a usage error must send nothing
		if r.code != exitUsage || !strings.HasPrefix(r.err, "tokend: ") || r.out != "" {
			t.Errorf("%q: exit %d (want %d), stdout %q, stderr %q", args, r.code, exitUsage, r.out, r.err)
		}
	}

	// --help of every command works (kong panics at start-up on a duplicate
	// or malformed flag) and exits 0.
	for _, cmd := range []string{"", "serve", "migrate", "bootstrap", "purge", "rotate-key", "version",
		"tokens", "tokens list", "tokens create", "tokens get", "tokens update", "tokens renew", "tokens secret",
		"tokens disable", "tokens enable", "tokens delete",
		"users", "users list", "users create", "users get", "users update", "users delete",
		"clients", "clients list", "clients create", "clients get", "clients update", "whoami",
		"login", "logout", "servers", "servers list", "servers use", "permissions", "tokens verify", "completion", "man"} {
		r := tokend("", append(strings.Fields(cmd), "--help")...)
		if r.code != exitOK || !strings.Contains(r.out, "Usage: tokend "+cmd) {
			t.Errorf("tokend %s --help: exit %d\nstdout: %s\nstderr: %s", cmd, r.code, r.out, r.err)
		}
	}
	if r := tokend("", "version"); r.code != exitOK || r.out != "tokend "+version+"\n" {
		t.Errorf("version: exit %d, %q", r.code, r.out)
	}
}

func TestCLIParseExpiry(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]expiry{
		"never":                {set: true, never: true},
		"2031-02-03T04:05:06Z": {set: true, at: time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)},
		"2031-02-03":           {set: true, at: time.Date(2031, 2, 3, 0, 0, 0, 0, time.UTC)},
		"30d":                  {set: true, at: now.AddDate(0, 0, 30)},
		"2w":                   {set: true, at: now.AddDate(0, 0, 14)},
		"90m":                  {set: true, at: now.Add(90 * time.Minute)},
	} {
		got, err := parseExpiry(in, now)
		if err != nil || got.set != want.set || got.never != want.never || !got.at.Equal(want.at) {
			t.Errorf("parseExpiry(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "tomorrow", "-5d", "0d", "-1h", "2031-13-01"} {
		if _, err := parseExpiry(bad, now); err == nil {
			t.Errorf("parseExpiry(%q) accepted", bad)
		}
	}
}

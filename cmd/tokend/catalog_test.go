package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/testenv"
)

func TestCLIPermissionsAndVerify(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		admin := env.Admin.Token

		// The catalog, a block per resource and a line per permission with
		// what it allows, then every role with what it is for and its
		// expansion, one line per resource.
		r := as(env, admin, "permissions")
		want(t, r, exitOK, "permissions")
		for _, re := range []string{
			`(?m)^  api_discovery\n    view    See the API inventory that discovery built from traffic\n`,
			`(?m)^    update  Edit discovered endpoints: risk score, tags, status$`,
			`(?m)^  api_tokens\n(    \S+ +\S.*\n){4}    manage  See and manage every token .*\n    verify  Check other tokens .*\n`,
			`(?m)^  activity_log\n    view    Read the activity log: .*\n  clients\n`,
			`(?m)^analytic — Analyst \(one company\), \d+ permissions:\n  Works on attacks, .*\.$`,
			`(?m)^partner_admin — Global Administrator \(global: .*\), \d+ permissions:$`,
			`(?m)^deploy — Deploy \(one company\), 2 permissions:\n  Registers filter nodes; .*\.\n  nodes  view, create$`,
		} {
			if !regexp.MustCompile(re).MatchString(r.out) {
				t.Fatalf("permissions: no %s in\n%s", re, r.out)
			}
		}
		r = as(env, admin, "permissions", "deploy")
		want(t, r, exitOK, "permissions deploy")
		if r.out != "deploy — Deploy (one company), 2 permissions:\n  Registers filter nodes; for node deployment, no console access.\n  nodes  view, create\n" {
			t.Fatalf("permissions deploy: %q", r.out)
		}
		cat := decode[client.PermissionCatalog](t, as(env, admin, "permissions", "-o", "json"))
		if len(cat.Permissions) < 50 || len(cat.Roles) != 8 {
			t.Fatalf("permissions -o json: %d permissions, %d roles", len(cat.Permissions), len(cat.Roles))
		}
		for _, p := range cat.Permissions {
			if p.Description == "" || p.Name != p.Resource+":"+p.Action {
				t.Fatalf("permissions -o json: %+v", p)
			}
			if strings.HasPrefix(p.Name, "activity_log:") && p.Action != "view" {
				t.Fatalf("permissions -o json offers %s, which no operation has", p.Name)
			}
		}
		for _, ri := range cat.Roles {
			if ri.Description == "" {
				t.Fatalf("permissions -o json: role %s has no description", ri.Name)
			}
		}
		if ri := decode[client.RoleInfo](t, as(env, admin, "permissions", "deploy", "-o", "json")); ri.Name != client.Deploy || len(ri.Permissions) != 2 {
			t.Fatalf("permissions deploy -o json: %+v", ri)
		}
		r = as(env, admin, "permissions", "root")
		want(t, r, exitUsage, "permissions of an unknown role")
		if !strings.Contains(r.err, "must be one of") || !strings.Contains(r.err, "partner_admin") {
			t.Fatalf("unknown role: %q", r.err)
		}

		// tokens verify: a good token, with and without the permission asked.
		tok := decode[client.TokenWithSecret](t, as(env, admin, "tokens", "create", "--name", "probe", "--role", "deploy", "-o", "json"))
		r = as(env, admin, "tokens", "verify", tok.Secret, "--permission", "nodes:create")
		want(t, r, exitOK, "tokens verify")
		me := decode[client.CurrentUser](t, as(env, admin, "whoami", "-o", "json"))
		for _, line := range []string{
			"Active:       yes\n",
			fmt.Sprintf("Token:        %d\n", tok.Id),
			fmt.Sprintf("Owner:        %s (user %d)\n", me.Email, me.Id),
			"Company:      Default company (company 1)\n",
			"Permissions:  nodes  view, create\n",
			"Asked:        nodes:create: granted\n",
		} {
			if !strings.Contains(r.out, line) {
				t.Fatalf("tokens verify: no %q in\n%s", line, r.out)
			}
		}
		r = as(env, admin, "tokens", "verify", tok.Secret, "--permission", "attacks:view", "-o", "json")
		if v := decode[client.VerifyResult](t, r); !v.Active || v.PermissionGranted == nil || *v.PermissionGranted {
			t.Fatalf("verify -o json: %s", r.out)
		}
		// - reads the value from standard input (out of ps and history).
		r = tokend(tok.Secret+"\n", "tokens", "verify", "-", "--url", env.URL, "--token", admin)
		want(t, r, exitOK, "tokens verify -")
		if !strings.Contains(r.out, "Active:       yes") {
			t.Fatalf("verify -: %s", r.out)
		}
		// A value that does not authenticate is a verdict, not an error.
		r = as(env, admin, "tokens", "verify", "tkd_nothing_like_a_token")
		want(t, r, exitOK, "verify a bad value")
		if !strings.HasPrefix(r.out, "Active:  no") {
			t.Fatalf("verify a bad value: %q", r.out)
		}
		// Without api_tokens:verify: 403, the rule in words.
		r = as(env, tok.Secret, "tokens", "verify", admin)
		want(t, r, exitForbidden, "verify without api_tokens:verify")
		if !strings.Contains(r.err, "403 Forbidden: refused by R3 (missing-permission): ") {
			t.Fatalf("403 in words: %q", r.err)
		}
	})
}

// countingProxy forwards to the server and counts the requests.
func countingProxy(t *testing.T, target string) (string, *atomic.Int64) {
	u, err := url.Parse(target)
	testenv.Must(t, err)
	var n atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

// userWithToken makes a user who signed in, chose a password and created a
// token of its own (a personal token is only ever its owner's, R4).
func userWithToken(t *testing.T, env *testenv.Env, admin, email string) {
	t.Helper()
	ctx := context.Background()
	pw := "first-password"
	u, err := env.Client(admin).CreateUserWithResponse(ctx, client.UserCreate{Email: client.Email(email), Realname: email, Role: client.Analytic, Password: &pw})
	testenv.Must(t, err)
	if u.JSON201 == nil {
		t.Fatalf("create %s: %d %s", email, u.StatusCode(), u.Body)
	}
	r := tokend(pw+"\nsecond-password\n", "login", "--url", env.URL, "--email", email, "--config", t.TempDir()+"/c.json")
	want(t, r, exitOK, "login as "+email)
	login, err := env.Client("").LoginWithResponse(ctx, client.LoginRequest{Email: email, Password: "second-password"})
	testenv.Must(t, err)
	if login.JSON200 == nil {
		t.Fatalf("login %s: %d", email, login.StatusCode())
	}
	want(t, as(env, login.JSON200.Token, "tokens", "create", "--name", "of "+email, "--role", "analytic"), exitOK, "create a token as "+email)
}

// Owners and companies by name, in a few requests; empty lists say so.
func TestCLINamesAndEmptyLists(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		admin := env.Admin.Token

		r := as(env, admin, "tokens", "list", "--search", "no such token")
		want(t, r, exitOK, "empty tokens list")
		if r.out != "no tokens\n" {
			t.Fatalf("empty tokens list: %q", r.out)
		}
		r = as(env, admin, "users", "list", "--role", "deploy")
		if r.out != "no users\n" {
			t.Fatalf("empty users list: %q", r.out)
		}
		if l := decode[client.TokenList](t, as(env, admin, "tokens", "list", "--search", "no such token", "-o", "json")); len(l.Items) != 0 {
			t.Fatalf("empty list -o json: %+v", l)
		}

		emails := []string{"u1@example.com", "u2@example.com", "u3@example.com", "u4@example.com", "u5@example.com"}
		for _, e := range emails {
			userWithToken(t, env, admin, e)
		}
		proxied, n := countingProxy(t, env.URL)
		n.Store(0)
		r = tokend("", "tokens", "list", "--url", proxied, "--token", admin)
		want(t, r, exitOK, "tokens list")
		for _, e := range emails {
			if !regexp.MustCompile(`(?m)^\d+ +of ` + regexp.QuoteMeta(e) + ` +` + regexp.QuoteMeta(e) + ` +analytic `).MatchString(r.out) {
				t.Fatalf("no row owned by %s:\n%s", e, r.out)
			}
		}
		// The page, who am I, and one list of users: not one request per row.
		if got := n.Load(); got > 3 {
			t.Errorf("tokens list made %d requests for 6 owners, want at most 3", got)
		}
		// -o json keeps the API's ids.
		l := decode[client.TokenList](t, as(env, admin, "tokens", "list", "-o", "json"))
		if _, err := l.Items[0].UserId.Get(); err != nil {
			t.Fatalf("json lost the user id: %+v", l.Items[0])
		}

		// Detail views show the name and the id.
		id := l.Items[0].Id
		owner := l.Items[0].UserId.MustGet()
		r = as(env, admin, "tokens", "get", fmt.Sprint(id))
		want(t, r, exitOK, "tokens get")
		if !regexp.MustCompile(fmt.Sprintf(`Owner: +u\d@example.com \(user %d\)\n`, owner)).MatchString(r.out) ||
			!strings.Contains(r.out, "Company:      Default company (company 1)\n") ||
			!regexp.MustCompile(`Created: +.* UTC by u\d@example.com\n`).MatchString(r.out) {
			t.Fatalf("tokens get:\n%s", r.out)
		}

		// Companies: a tenant's parent by name.
		want(t, as(env, admin, "clients", "create", "--name", "Acme"), exitOK, "clients create")
		r = as(env, admin, "clients", "list")
		if !regexp.MustCompile(`(?m)^\d+ +Acme +Default company +enabled `).MatchString(r.out) {
			t.Fatalf("clients list:\n%s", r.out)
		}
	})
}

// Days everywhere: one parser for --expires, --grace, --timeout and the
// server's durations; tokens expire in 90 days unless told otherwise.
func TestCLIDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"2d": 48 * time.Hour, "1w": 7 * 24 * time.Hour, "1d12h": 36 * time.Hour, "1.5d": 36 * time.Hour,
		"90m": 90 * time.Minute, "30s": 30 * time.Second, "-1d": -24 * time.Hour, "168h": 168 * time.Hour,
	} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "2 days", "2x", "1dd"} {
		if _, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) accepted", bad)
		}
	}
	if got := fmtDuration(36 * time.Hour); got != "1d12h" {
		t.Errorf("fmtDuration(36h) = %q", got)
	}

	env := testenv.New(t, testenv.Backends(t)[0])
	admin := env.Admin.Token
	r := as(env, admin, "tokens", "create", "--name", "default expiry", "--role", "deploy", "-o", "json", "--timeout", "1d")
	want(t, r, exitOK, "tokens create without an expiry")
	tok := decode[client.TokenWithSecret](t, r)
	if exp, err := tok.ExpireAt.Get(); err != nil || time.Until(exp) < 89*24*time.Hour || time.Until(exp) > 91*24*time.Hour {
		t.Fatalf("default expiry: %v %v, want in 90 days", exp, err)
	}
	never := decode[client.TokenWithSecret](t, as(env, admin, "tokens", "create", "--name", "forever", "--role", "deploy", "--expires", "never", "-o", "json"))
	if !never.ExpireAt.IsNull() {
		t.Fatalf("--expires never: %v", never.ExpireAt)
	}
	r = as(env, admin, "tokens", "renew", fmt.Sprint(tok.Id), "--grace", "1d")
	want(t, r, exitOK, "renew --grace 1d")
	if !strings.Contains(r.out, "keeps working for 1d, until ") {
		t.Fatalf("renew --grace 1d:\n%s", r.out)
	}
	r = as(env, admin, "tokens", "renew", fmt.Sprint(tok.Id), "--grace", "2d")
	want(t, r, exitUsage, "renew --grace 2d")
	if !strings.Contains(r.err, "at most a day") {
		t.Fatalf("--grace 2d: %q", r.err)
	}
	// The server's flags and environment parse days too.
	var c cli
	parser, err := newParser(&c, nil, io.Discard, io.Discard)
	testenv.Must(t, err)
	t.Setenv("TOKEND_AUTH_FAILURE_WINDOW", "1d")
	if _, err := parser.Parse([]string{"serve", "--disabled-retention", "7d"}); err != nil ||
		c.Serve.DisabledRetention != 7*24*time.Hour || c.Serve.AuthFailureWindow != 24*time.Hour {
		t.Fatalf("serve durations: %v, %v, %v", err, c.Serve.DisabledRetention, c.Serve.AuthFailureWindow)
	}
	r = tokend("", "purge", "--disabled-retention", "7x")
	if r.code != exitUsage || !strings.Contains(r.err, "not a duration") {
		t.Fatalf("purge --disabled-retention 7x: %d %q", r.code, r.err)
	}
}

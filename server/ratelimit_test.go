package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/testenv"
)

// Per-token rate limits: a token's own limit, else its company's default,
// enforced at authentication; every answer to a limited token carries the
// IETF RateLimit and RateLimit-Policy headers, and the answer past the
// limit is 429 with Retry-After.
func TestPerTokenRateLimit(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		limited := newToken(t, env, admin.Session, client.TokenCreate{Permissions: []string{"attacks:view"},
			RateLimit: nullable.NewNullableWithValue(client.RateLimit{Requests: 3, WindowSeconds: 60})})
		if r, _ := limited.RateLimit.Get(); r.Requests != 3 || r.WindowSeconds != 60 {
			t.Fatalf("created with rate_limit %+v", limited.RateLimit)
		}
		for i, want := range []string{`"token";r=2;t=20`, `"token";r=1;t=40`, `"token";r=0;t=60`} {
			resp := env.Do("GET", "/v1/user", "", auth(limited.Secret))
			if resp.StatusCode != 200 || resp.Header.Get("RateLimit") != want || resp.Header.Get("RateLimit-Policy") != `"token";q=3;w=60` {
				t.Fatalf("request %d: %d RateLimit %q Policy %q, want 200 %q", i+1, resp.StatusCode,
					resp.Header.Get("RateLimit"), resp.Header.Get("RateLimit-Policy"), want)
			}
		}
		resp := env.Do("GET", "/v1/user", "", auth(limited.Secret))
		if p := problemOf(t, resp); resp.StatusCode != 429 || p.Type != client.ProblemTypeRateLimited || resp.Header.Get("Retry-After") != "20" ||
			!strings.HasPrefix(resp.Header.Get("RateLimit"), `"token";r=0;`) {
			t.Fatalf("past the limit: %d %s Retry-After %q RateLimit %q", resp.StatusCode, p.Type, resp.Header.Get("Retry-After"), resp.Header.Get("RateLimit"))
		}
		env.Clock.Advance(20 * time.Second)
		mustStatus(t, "20 s later: one more", env.Do("GET", "/v1/user", "", auth(limited.Secret)).StatusCode, 200)
		mustStatus(t, "and then no more", env.Do("GET", "/v1/user", "", auth(limited.Secret)).StatusCode, 429)

		// No limit: no headers. Sessions are not limited.
		free := personalToken(t, env, admin.Session, "attacks:view")
		if resp := env.Do("GET", "/v1/user", "", auth(free.Secret)); resp.Header.Get("RateLimit") != "" {
			t.Fatalf("an unlimited token got RateLimit %q", resp.Header.Get("RateLimit"))
		}

		// The company's default applies to tokens without their own.
		r, err := env.Client(env.Admin.Token).UpdateClientWithResponse(ctx, admin.User.ClientId, client.ClientUpdate{
			RateLimit: nullable.NewNullableWithValue(client.RateLimit{Requests: 2, WindowSeconds: 10})})
		testenv.Must(t, err)
		expectStatus(t, "set the company default", r, 200)
		for i := range 2 {
			mustStatus(t, fmt.Sprintf("default-limited request %d", i+1), env.Do("GET", "/v1/user", "", auth(free.Secret)).StatusCode, 200)
		}
		mustStatus(t, "past the company default", env.Do("GET", "/v1/user", "", auth(free.Secret)).StatusCode, 429)
		// A token's own limit wins over the default; removing it falls back.
		u := putToken(t, env, admin.Session, free.Id, client.TokenUpdate{RateLimit: nullable.NewNullableWithValue(client.RateLimit{Requests: 100, WindowSeconds: 10})})
		expectStatus(t, "give the token its own limit", u, 200)
		if resp := env.Do("GET", "/v1/user", "", auth(free.Secret)); resp.StatusCode != 200 || resp.Header.Get("RateLimit-Policy") != `"token";q=100;w=10` {
			t.Fatalf("own limit: %d %q", resp.StatusCode, resp.Header.Get("RateLimit-Policy"))
		}
		u = putToken(t, env, admin.Session, free.Id, client.TokenUpdate{RateLimit: nullable.NewNullNullable[client.RateLimit]()})
		expectStatus(t, "remove the token's own limit", u, 200)
		if resp := env.Do("GET", "/v1/user", "", auth(free.Secret)); resp.Header.Get("RateLimit-Policy") != `"token";q=2;w=10` {
			t.Fatalf("after removing its own: policy %q", resp.Header.Get("RateLimit-Policy"))
		}
		for range 5 {
			mustStatus(t, "a session is not limited", status(t, env, admin.Session, "GET", "/v1/user", ""), 200)
		}
	})
}

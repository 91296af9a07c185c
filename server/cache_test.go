package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/server"
	"github.com/tokend/tokend/store"
)

// On one replica there is no stale window at all: once a change that ends a
// token's use has answered 2xx, every request sent afterwards is refused,
// however hot the token is in the verification cache. Readers hammer the
// token while the change happens; any 200 to a request that started after
// the 2xx is a stale acceptance.
func TestCacheNoStaleAcceptance(t *testing.T) {
	t.Parallel()
	changes := []struct {
		name  string
		apply func(t *testing.T, env *testenv.Env, admin person, owner person, tok client.TokenWithSecret) int
	}{
		{"token disabled", func(t *testing.T, env *testenv.Env, admin, owner person, tok client.TokenWithSecret) int {
			return status(t, env, owner.Session, "PUT", fmt.Sprintf("/v2/api_tokens/%d", tok.Id), `{"enabled":false}`)
		}},
		{"token deleted", func(t *testing.T, env *testenv.Env, admin, owner person, tok client.TokenWithSecret) int {
			return status(t, env, owner.Session, "DELETE", fmt.Sprintf("/v2/api_tokens/%d", tok.Id), "")
		}},
		{"token renewed", func(t *testing.T, env *testenv.Env, admin, owner person, tok client.TokenWithSecret) int {
			return status(t, env, owner.Session, "POST", fmt.Sprintf("/v2/api_tokens/%d/renew", tok.Id), "")
		}},
		{"owner disabled", func(t *testing.T, env *testenv.Env, admin, owner person, tok client.TokenWithSecret) int {
			return status(t, env, admin.Session, "PUT", fmt.Sprintf("/v2/users/%d", owner.User.Id), `{"enabled":false}`)
		}},
		{"owner demoted to deploy", func(t *testing.T, env *testenv.Env, admin, owner person, tok client.TokenWithSecret) int {
			return status(t, env, admin.Session, "PUT", fmt.Sprintf("/v2/users/%d", owner.User.Id), `{"role":"deploy"}`)
		}},
		{"company disabled", func(t *testing.T, env *testenv.Env, admin, owner person, tok client.TokenWithSecret) int {
			return status(t, env, env.Admin.Token, "PUT", fmt.Sprintf("/v2/clients/%d", owner.User.ClientId), `{"enabled":false}`)
		}},
		{"leak reported", func(t *testing.T, env *testenv.Env, admin, owner person, tok client.TokenWithSecret) int {
			return env.Do("POST", "/v2/api_tokens/revoke_leaked", fmt.Sprintf(`{"token":%q}`, tok.Secret), nil).StatusCode
		}},
	}
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		for _, ch := range changes {
			t.Run(ch.name, func(t *testing.T) {
				env := testenv.New(t, b)
				tenant := newTenant(t, env, "T")
				admin := newPerson(t, env, env.Admin.Token, client.Admin, tenant.Id)
				owner := newPerson(t, env, admin.Session, client.Analytic, 0)
				tok := personalToken(t, env, owner.Session, "api_tokens:view")

				var changedAt atomic.Int64 // unix nanos of the change's 2xx; 0 before
				var stale, after atomic.Int64
				stop := make(chan struct{})
				var wg sync.WaitGroup
				for range 4 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							select {
							case <-stop:
								return
							default:
							}
							sent := time.Now().UnixNano()
							// /v2/api_tokens needs api_tokens:view, which deploy lacks:
							// a demotion must end its use as surely as a disable.
							code := status(t, env, tok.Secret, "GET", "/v2/api_tokens?limit=1", "")
							if c := changedAt.Load(); c != 0 && sent > c {
								after.Add(1)
								if code == 200 {
									stale.Add(1)
								}
							}
						}
					}()
				}
				time.Sleep(50 * time.Millisecond) // let the token get hot in the cache
				code := ch.apply(t, env, admin, owner, tok)
				if code/100 != 2 {
					close(stop)
					wg.Wait()
					t.Fatalf("change answered %d", code)
				}
				changedAt.Store(time.Now().UnixNano())
				time.Sleep(100 * time.Millisecond)
				close(stop)
				wg.Wait()
				if after.Load() == 0 {
					t.Fatal("no request was sent after the change; the test proved nothing")
				}
				if stale.Load() != 0 {
					t.Fatalf("%d of %d requests sent after the change were still accepted", stale.Load(), after.Load())
				}
			})
		}
	})
}

// A digest cached as unknown stops being unknown the moment a token with it
// is created.
func TestCacheNegativeEntryEvictedOnCreate(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		value, err := secret.NewAPIToken()
		testenv.Must(t, err)
		for range 3 { // now certainly cached as unknown
			if s := status(t, env, value, "GET", "/v2/user", ""); s != 401 {
				t.Fatalf("unknown token: %d", s)
			}
		}
		now := env.Clock.Now()
		uid := env.Admin.UserID
		tok := &store.Token{ClientID: env.Admin.ClientID, UserID: &uid, Realname: "late", Permissions: []string{"admin"},
			SourceRole: "admin", Enabled: true, Digest: env.Config.Keys.Digest(value), Hint: secret.Hint(value), CreatedAt: now, UpdatedAt: now}
		testenv.Must(t, env.Store.CreateToken(context.Background(), tok))
		if s := status(t, env, value, "GET", "/v2/user", ""); s != 200 {
			t.Fatalf("token created after its digest was cached as unknown: %d, want 200", s)
		}
	})
}

// Between replicas sharing PostgreSQL, a disable on one reaches the other's
// cache through LISTEN/NOTIFY, well before the TTL backstop.
func TestCacheInvalidationAcrossReplicas(t *testing.T) {
	t.Parallel()
	for _, b := range testenv.Backends(t) {
		if b.Name != "postgres" {
			continue
		}
		env := testenv.New(t, b, testenv.Options{Configure: func(c *server.Config) { c.CacheTTL = time.Hour }})
		other := env.NewReplica()
		admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		time.Sleep(200 * time.Millisecond) // both listeners connected
		for i := range 5 {
			tok := personalToken(t, env, admin.Session, "admin")
			if s := status(t, other, tok.Secret, "GET", "/v2/user", ""); s != 200 {
				t.Fatalf("trial %d: replica B before: %d", i, s)
			}
			if s := status(t, env, admin.Session, "PUT", fmt.Sprintf("/v2/api_tokens/%d", tok.Id), `{"enabled":false}`); s != 200 {
				t.Fatalf("trial %d: disable on A: %d", i, s)
			}
			start := time.Now()
			for status(t, other, tok.Secret, "GET", "/v2/user", "") != 401 {
				if time.Since(start) > 5*time.Second {
					t.Fatalf("trial %d: replica B still accepts the token 5 s after A disabled it (TTL is 1 h: NOTIFY did not arrive)", i)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
		return
	}
	t.Skip("needs PostgreSQL (LISTEN/NOTIFY)")
}

// POST /v2/api_tokens/verify: for a service holding api_tokens:verify.
func TestVerifyEndpoint(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		service := sharedToken(t, env, admin.Session, "api_tokens:verify")
		analyst := newPerson(t, env, admin.Session, client.Analytic, 0)
		tok := personalToken(t, env, analyst.Session, "attacks:view", "rules:update")
		c := env.Client(service.Secret)

		perm1 := "rules:update"
		r, err := c.VerifyTokenWithResponse(ctx, client.VerifyRequest{Token: tok.Secret, Permission: &perm1})
		testenv.Must(t, err)
		v := r.JSON200
		if r.StatusCode() != 200 || !v.Active || *v.TokenId != tok.Id || v.UserId.MustGet() != analyst.User.Id ||
			*v.ClientId != env.Admin.ClientID || !*v.PermissionGranted || len(*v.Permissions) != 2 {
			t.Fatalf("verify valid token: %d %s", r.StatusCode(), r.Body)
		}
		perm2 := "users:view"
		r, err = c.VerifyTokenWithResponse(ctx, client.VerifyRequest{Token: tok.Secret, Permission: &perm2})
		testenv.Must(t, err)
		if !r.JSON200.Active || *r.JSON200.PermissionGranted {
			t.Fatalf("permission not held reported granted: %s", r.Body)
		}

		// Anything that does not authenticate is the same bare {"active": false}.
		disabled := personalToken(t, env, analyst.Session, "attacks:view")
		if s := status(t, env, analyst.Session, "PUT", fmt.Sprintf("/v2/api_tokens/%d", disabled.Id), `{"enabled":false}`); s != 200 {
			t.Fatal(s)
		}
		tenant := newTenant(t, env, "elsewhere")
		stranger := newPerson(t, env, env.Admin.Token, client.Admin, tenant.Id)
		foreign := personalToken(t, env, stranger.Session, "attacks:view")
		for name, value := range map[string]string{
			"malformed": "hello", "unknown": unknownToken(t), "bad checksum": flipLast(tok.Secret),
			"disabled": disabled.Secret, "other tenant": foreign.Secret,
		} {
			resp := env.Do("POST", "/v2/api_tokens/verify", fmt.Sprintf(`{"token":%q}`, value), map[string]string{"X-WallarmApi-Token": service.Secret})
			var body map[string]any
			testenv.Must(t, json.NewDecoder(resp.Body).Decode(&body))
			if resp.StatusCode != 200 || len(body) != 1 || body["active"] != false {
				t.Fatalf("%s: %d %v, want 200 {\"active\": false}", name, resp.StatusCode, body)
			}
		}
		// The permission is what admits the caller: an analyst's token lacks it.
		if s := status(t, env, tok.Secret, "POST", "/v2/api_tokens/verify", fmt.Sprintf(`{"token":%q}`, tok.Secret)); s != 403 {
			t.Fatalf("verify without api_tokens:verify: %d, want 403", s)
		}
		if !perm.RoleAdmin.Permissions().Has("api_tokens:verify") || !perm.RolePartnerAdmin.Permissions().Has("api_tokens:verify") ||
			perm.RoleAnalytic.Permissions().Has("api_tokens:verify") {
			t.Fatal("api_tokens:verify must be granted by admin and partner_admin only")
		}
	})
}

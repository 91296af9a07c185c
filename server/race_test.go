package server_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/server"
	"github.com/tokend/tokend/store"
)

// Races: concurrent requests on the same objects must leave a state some
// serial order of them would have left. They run on every backend; the
// PostgreSQL runs are the ones that exercise row locks (SQLite serializes
// writers).

// TestRaceConcurrentRenews: 50 renews of one token at once leave exactly
// one working value, the newest; every renew got a distinct value.
func TestRaceConcurrentRenews(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		// 50 stale values are tried below: keep the brute-force guard out of it.
		env := testenv.New(t, b, testenv.Options{Configure: func(c *server.Config) { c.AuthFailureLimit = 1000 }})
		tok := personalToken(t, env, env.Admin.Token, "api_tokens:view")
		c := env.Client(env.Admin.Token)
		const n = 50
		values := make([]string, n)
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := c.RenewTokenWithResponse(context.Background(), tok.Id, client.RenewRequest{})
				if err != nil {
					t.Error(err)
					return
				}
				statuses[i] = r.StatusCode()
				if r.JSON200 != nil {
					values[i] = r.JSON200.Secret
				}
			}()
		}
		wg.Wait()
		distinct := map[string]bool{}
		for i, s := range statuses {
			if s != 200 {
				t.Fatalf("renew %d: %d", i, s)
			}
			distinct[values[i]] = true
		}
		if len(distinct) != n {
			t.Fatalf("%d distinct values from %d renews", len(distinct), n)
		}
		working := 0
		var last string
		for _, v := range append(values, tok.Secret) {
			if authStatus(t, env, v) == 200 {
				working++
				last = v
			}
		}
		if working != 1 {
			t.Fatalf("%d values authenticate after %d renews; want exactly 1", working, n)
		}
		s, err := c.GetTokenSecretWithResponse(context.Background(), tok.Id)
		testenv.Must(t, err)
		if s.JSON200 == nil || s.JSON200.Secret != last {
			t.Errorf("the stored secret is not the one value that works: %d %s", s.StatusCode(), s.Body)
		}
	})
}

// TestRaceDemotionAgainstCreation: while an administrator creates
// admin-level tokens, it is demoted to analyst. Whatever the interleaving,
// no token of it may end up above the analyst role (R2, R12), in storage or
// in use.
func TestRaceDemotionAgainstCreation(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		c := env.Client(env.Admin.Token)
		analyst := perm.RoleAnalytic.Permissions()
		for round := range 8 {
			p := newPerson(t, env, env.Admin.Token, client.Admin, 0)
			mine := env.Client(p.Session)
			var wg sync.WaitGroup
			var created []string
			var mu sync.Mutex
			for g := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 5 {
						r, err := mine.CreateTokenWithResponse(context.Background(), client.TokenCreate{
							Realname: fmt.Sprintf("round %d g%d #%d", round, g, i), Permissions: client.PermissionList{"admin"}})
						if err != nil {
							t.Error(err)
							return
						}
						if r.StatusCode() >= 500 {
							t.Errorf("create during demotion: %d %s", r.StatusCode(), r.Body)
						}
						if r.JSON201 != nil {
							mu.Lock()
							created = append(created, r.JSON201.Secret)
							mu.Unlock()
						}
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(round) * time.Millisecond)
				role := client.Analytic
				r, err := c.UpdateUserWithResponse(context.Background(), p.User.Id, client.UserUpdate{Role: &role})
				if err != nil || r.StatusCode() != 200 {
					t.Errorf("demote: %v %d %s", err, r.StatusCode(), r.Body)
				}
			}()
			wg.Wait()

			var stored []store.Token
			testenv.Must(t, env.Store.DB().Where("user_id = ?", p.User.Id).Find(&stored).Error)
			for _, tok := range stored {
				got, err := perm.Expand(tok.Permissions)
				if err != nil {
					t.Fatalf("stored permissions %v: %v", tok.Permissions, err)
				}
				if tok.Enabled && !got.SubsetOf(analyst) {
					t.Errorf("round %d: token %d keeps %v above the analyst role", round, tok.ID, got.Minus(analyst).Strings())
				}
			}
			if v, err := env.Store.CheckInvariants(context.Background()); err != nil || len(v) != 0 {
				t.Errorf("round %d: invariants: %v %v", round, err, v)
			}
			for _, v := range created {
				if r := env.Do("GET", "/v2/users", "", map[string]string{"X-WallarmApi-Token": v}); r.StatusCode == http.StatusOK {
					t.Errorf("round %d: a token created during the demotion still lists users", round)
				}
			}
		}
	})
}

// TestRaceEnableDisable: concurrent enables and disables of one token end
// in a state one of them produced: enabled with no disabled_at and working,
// or disabled with disabled_at and refused.
func TestRaceEnableDisable(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		tok := personalToken(t, env, env.Admin.Token, "api_tokens:view")
		c := env.Client(env.Admin.Token)
		future := env.Clock.Now().Add(24 * time.Hour)
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := client.TokenUpdate{Enabled: ptr(i%2 == 0)}
				if i%2 == 0 {
					body.ExpireAt = nullable.NewNullableWithValue(future)
				}
				r, err := c.UpdateTokenWithResponse(context.Background(), tok.Id, body)
				if err != nil || r.StatusCode() != 200 {
					t.Errorf("update %d: %v %d %s", i, err, r.StatusCode(), r.Body)
				}
			}()
		}
		wg.Wait()
		g, err := c.GetTokenWithResponse(context.Background(), tok.Id)
		testenv.Must(t, err)
		final := g.JSON200
		disabledAt, _ := final.DisabledAt.Get()
		works := authStatus(t, env, tok.Secret) == 200
		switch {
		case final.Enabled && (final.DisabledAt.IsSpecified() && !final.DisabledAt.IsNull()):
			t.Errorf("enabled with disabled_at %v", disabledAt)
		case !final.Enabled && (!final.DisabledAt.IsSpecified() || final.DisabledAt.IsNull()):
			t.Errorf("disabled without disabled_at")
		case final.Enabled != works:
			t.Errorf("enabled=%v but authenticates=%v", final.Enabled, works)
		}
	})
}

// TestRacePurgeAgainstUpdate: purging tokens long disabled while they are
// being renamed never brings one back: each update either happened before
// the purge or answers 404, and afterwards none of them exists.
func TestRacePurgeAgainstUpdate(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		c := env.Client(env.Admin.Token)
		var ids []int64
		for range 30 {
			tok := personalToken(t, env, env.Admin.Token, "api_tokens:view")
			r, err := c.UpdateTokenWithResponse(context.Background(), tok.Id, client.TokenUpdate{Enabled: ptr(false)})
			testenv.Must(t, err)
			if r.StatusCode() != 200 {
				t.Fatalf("disable: %d", r.StatusCode())
			}
			ids = append(ids, tok.Id)
		}
		env.Clock.Advance(8 * 24 * time.Hour) // past the 7-day retention (R14)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := env.Store.PurgeDisabled(context.Background(), 7*24*time.Hour); err != nil {
				t.Errorf("purge: %v", err)
			}
		}()
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := "renamed while purging"
				r, err := c.UpdateTokenWithResponse(context.Background(), id, client.TokenUpdate{Realname: &name})
				if err != nil || (r.StatusCode() != 200 && r.StatusCode() != 404) {
					t.Errorf("update %d: %v %d", id, err, r.StatusCode())
				}
			}()
		}
		wg.Wait()
		var left int64
		testenv.Must(t, env.Store.DB().Model(&store.Token{}).Where("id IN ?", ids).Count(&left).Error)
		if left != 0 {
			t.Errorf("%d purged tokens exist again", left)
		}
	})
}

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

// Races (issue 6): concurrent requests on the same objects must leave the
// state some serial order of them would have left. They run on every
// backend. The PostgreSQL runs are the ones that exercise the row locks
// (SELECT … FOR UPDATE in store): SQLite has one writer at a time, so there
// the tests only check that serial execution gives the same answers. When
// PostgreSQL does not answer, the PostgreSQL half is skipped with a message
// (under CI it is required and its absence fails instead; see testenv).
//
// Ordering evidence comes from the activity log: every mutation of a token
// records its event in the same transaction, after taking the token's row
// lock, so for one token the event ids follow commit order.

// raceBackends runs f on each backend and says loudly when PostgreSQL,
// where the races are real, is not there.
func raceBackends(t *testing.T, f func(t *testing.T, b testenv.Backend)) {
	t.Helper()
	bs := testenv.Backends(t)
	for _, b := range bs {
		t.Run(b.Name, func(t *testing.T) { f(t, b) })
	}
	if len(bs) == 1 {
		t.Run("postgres", func(t *testing.T) {
			t.Skipf("PostgreSQL does not answer at %s (set TOKEND_TEST_DATABASE_URL): the row-lock races ran on SQLite only, where writers are serial", testenv.DefaultPostgresURL)
		})
	}
}

// tokenEvents is the activity log of one token, in commit order.
func tokenEvents(t testing.TB, env *testenv.Env, id int64) []store.Event {
	t.Helper()
	var evs []store.Event
	testenv.Must(t, env.Store.DB().Where("token_id = ?", id).Order("id").Find(&evs).Error)
	return evs
}

// TestRaceConcurrentRenews: 50 renews of one token at once all succeed,
// each with its own value, as if run one after another (R10):
//   - without a grace period, exactly one value authenticates afterwards:
//     one of the 50 returned, the one the token stores; the original and
//     the 49 others answer 401;
//   - with a grace period, each renew keeps the value it replaced working
//     until the grace ends, so the original and all 50 returned values work
//     (50 grace values: the original and 49 renewed ones, none lost to a
//     concurrent renew); once the grace has passed, only the stored value
//     does.
func TestRaceConcurrentRenews(t *testing.T) {
	t.Parallel()
	skipIfShort(t, "a race test (timing, many goroutines)")
	raceBackends(t, func(t *testing.T, b testenv.Backend) {
		for _, grace := range []time.Duration{0, time.Hour} {
			t.Run(fmt.Sprintf("grace=%s", grace), func(t *testing.T) {
				// Stale values are tried below: keep the brute-force guard out of it.
				env := testenv.New(t, b, testenv.Options{Configure: func(c *server.Config) { c.AuthFailureLimit = 1000 }})
				tok := personalToken(t, env, env.Admin.Token, "api_tokens:view")
				c := env.Client(env.Admin.Token)
				body := client.RenewRequest{}
				if grace > 0 {
					body.GracePeriodSeconds = ptr(int32(grace / time.Second))
				}
				const n = 50
				values := make([]string, n)
				statuses := make([]int, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						r, err := c.RenewTokenWithResponse(context.Background(), tok.Id, body)
						if err != nil {
							t.Error(err)
							return
						}
						statuses[i] = r.StatusCode()
						if r.JSON200 != nil {
							values[i] = r.JSON200.Secret
						} else {
							t.Errorf("renew %d: %d %s", i, r.StatusCode(), r.Body)
						}
					}()
				}
				wg.Wait()
				if t.Failed() {
					t.FailNow()
				}
				distinct := map[string]bool{tok.Secret: true}
				for i, s := range statuses {
					if s != http.StatusOK {
						t.Fatalf("renew %d: %d", i, s)
					}
					distinct[values[i]] = true
				}
				if len(distinct) != n+1 {
					t.Fatalf("%d distinct values from the original and %d renews; want %d", len(distinct), n, n+1)
				}
				s, err := c.GetTokenSecretWithResponse(context.Background(), tok.Id)
				testenv.Must(t, err)
				if s.JSON200 == nil {
					t.Fatalf("read the secret: %d %s", s.StatusCode(), s.Body)
				}
				stored := s.JSON200.Secret
				if !distinct[stored] || stored == tok.Secret {
					t.Fatalf("the stored value is none of the renewed ones")
				}

				renews := 0
				for _, ev := range tokenEvents(t, env, tok.Id) {
					if ev.Action == store.ActionTokenRenew {
						renews++
					}
				}
				if renews != n {
					t.Errorf("%d token.renew events for %d renews", renews, n)
				}
				var graceRows []store.GraceDigest
				testenv.Must(t, env.Store.DB().Where("token_id = ?", tok.Id).Find(&graceRows).Error)
				wantGrace := 0
				if grace > 0 {
					wantGrace = n // every replaced value: the original and 49 renewed ones
				}
				if len(graceRows) != wantGrace {
					t.Errorf("%d grace values stored; want %d", len(graceRows), wantGrace)
				}

				all := append([]string{tok.Secret}, values...)
				working := func() (ok []string) {
					for _, v := range all {
						if authStatus(t, env, v) == http.StatusOK {
							ok = append(ok, v)
						}
					}
					return ok
				}
				if grace > 0 {
					if w := working(); len(w) != n+1 {
						t.Errorf("during the grace period %d of %d values authenticate; want all", len(w), n+1)
					}
					env.Clock.Advance(grace + time.Second)
				}
				w := working()
				if len(w) != 1 || w[0] != stored {
					t.Errorf("%d values authenticate after the renews (grace %s over); want exactly the stored one", len(w), grace)
				}
			})
		}
	})
}

// TestRaceDemotionAgainstCreation: while an administrator creates
// admin-level tokens with its session, it is demoted to analyst. Whatever
// the interleaving, no token of it may end up above the analyst role (R2,
// R12): not in storage, not in the listing, not in use. The store locks the
// owner's row in both paths (CreateToken re-checks the role under it;
// UpdateUser cascades under it), so a creation either commits first and is
// reduced by the cascade, or waits and is refused with 403.
func TestRaceDemotionAgainstCreation(t *testing.T) {
	t.Parallel()
	skipIfShort(t, "a race test (timing, many goroutines)")
	raceBackends(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		c := env.Client(env.Admin.Token)
		analyst := perm.RoleAnalytic.Permissions()
		var made, refused int
		for round := range 8 {
			p := newPerson(t, env, env.Admin.Token, client.Admin, 0)
			mine := env.Client(p.Session)
			var wg sync.WaitGroup
			var created []string
			var mu sync.Mutex
			first, firstOnce := make(chan struct{}), sync.Once{}
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
						mu.Lock()
						switch {
						case r.JSON201 != nil:
							created = append(created, r.JSON201.Secret)
							made++
							firstOnce.Do(func() { close(first) })
						case r.StatusCode() == http.StatusForbidden:
							refused++ // under the new role
						default:
							t.Errorf("create during demotion: %d %s", r.StatusCode(), r.Body)
						}
						mu.Unlock()
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Demote while creations are in flight: after the first
				// one landed, a little later each round.
				select {
				case <-first:
				case <-time.After(5 * time.Second):
				}
				time.Sleep(time.Duration(round) * 500 * time.Microsecond)
				role := client.Analytic
				r, err := c.UpdateUserWithResponse(context.Background(), p.User.Id, client.UserUpdate{Role: &role})
				if err != nil {
					t.Errorf("demote: %v", err)
				} else if r.StatusCode() != 200 {
					t.Errorf("demote: %d %s", r.StatusCode(), r.Body)
				}
			}()
			wg.Wait()

			// In storage.
			var stored []store.Token
			testenv.Must(t, env.Store.DB().Where("user_id = ?", p.User.Id).Find(&stored).Error)
			for _, tok := range stored {
				got, err := perm.Expand(tok.Permissions)
				if err != nil {
					t.Fatalf("stored permissions %v: %v", tok.Permissions, err)
				}
				if !got.SubsetOf(analyst) {
					t.Errorf("round %d: stored token %d keeps %v above the analyst role", round, tok.ID, got.Minus(analyst).Strings())
				}
			}
			if v, err := env.Store.CheckInvariants(context.Background()); err != nil || len(v) != 0 {
				t.Errorf("round %d: invariants: %v %v", round, err, v)
			}
			// In the listing (GET /v2/api_tokens).
			l, err := c.ListTokensWithResponse(context.Background(), &client.ListTokensParams{UserId: &p.User.Id, Limit: ptr(client.Limit(100))})
			testenv.Must(t, err)
			if l.JSON200 == nil {
				t.Fatalf("list: %d %s", l.StatusCode(), l.Body)
			}
			if len(l.JSON200.Items) != len(stored) {
				t.Errorf("round %d: listing shows %d tokens, storage holds %d", round, len(l.JSON200.Items), len(stored))
			}
			for _, it := range l.JSON200.Items {
				got, err := perm.Expand(it.Permissions)
				if err != nil || !got.SubsetOf(analyst) {
					t.Errorf("round %d: listed token %d has %v (%v)", round, it.Id, it.Permissions, err)
				}
			}
			// In use (GET /v1/user reports the effective permissions; and
			// a user listing needs more than an analyst has).
			for _, v := range created {
				u, err := env.Client(v).GetCurrentUserWithResponse(context.Background())
				testenv.Must(t, err)
				if u.JSON200 != nil {
					got, err := perm.Expand(u.JSON200.Permissions)
					if err != nil || !got.SubsetOf(analyst) {
						t.Errorf("round %d: a token created during the demotion acts with %v (%v)", round, u.JSON200.Permissions, err)
					}
				}
				if r := env.Do("GET", "/v2/users", "", map[string]string{"X-WallarmApi-Token": v}); r.StatusCode == http.StatusOK {
					t.Errorf("round %d: a token created during the demotion still lists users", round)
				}
			}
		}
		t.Logf("%d tokens created before the demotion, %d refused after it", made, refused)
	})
}

// TestRaceEnableDisable: 40 concurrent updates of one token, each enabling
// (with its own expire_at) or disabling it and naming it after itself. The
// final state is exactly the answer of the update that committed last
// (found by the name it left): enabled, expire_at, disabled_at and whether
// the value authenticates. The activity log, replayed in order, flips the
// state only through token.enable on a disabled token and token.disable on
// an enabled one, and ends in the final state.
func TestRaceEnableDisable(t *testing.T) {
	t.Parallel()
	skipIfShort(t, "a race test (timing, many goroutines)")
	raceBackends(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		tok := personalToken(t, env, env.Admin.Token, "api_tokens:view")
		c := env.Client(env.Admin.Token)
		future := env.Clock.Now().Add(24 * time.Hour)
		const n = 40
		answers := make([]*client.Token, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				enable := i%2 == 0
				body := client.TokenUpdate{Enabled: ptr(enable), Realname: ptr(client.Name(fmt.Sprintf("op %d", i)))}
				if enable {
					body.ExpireAt = nullable.NewNullableWithValue(future.Add(time.Duration(i) * time.Second))
				}
				r, err := c.UpdateTokenWithResponse(context.Background(), tok.Id, body)
				if err != nil {
					t.Errorf("update %d: %v", i, err)
					return
				}
				if r.StatusCode() != 200 {
					t.Errorf("update %d: %d %s", i, r.StatusCode(), r.Body)
					return
				}
				if r.JSON200.Enabled != enable {
					t.Errorf("update %d asked enabled=%v and answered %v", i, enable, r.JSON200.Enabled)
				}
				answers[i] = r.JSON200
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		final := readToken(t, env, env.Admin.Token, tok.Id)
		var last int
		if _, err := fmt.Sscanf(string(final.Realname), "op %d", &last); err != nil || last < 0 || last >= n {
			t.Fatalf("final name %q is no update's", final.Realname)
		}
		want := answers[last]
		gotExp, _ := final.ExpireAt.Get()
		wantExp, _ := want.ExpireAt.Get()
		gotDis, _ := final.DisabledAt.Get()
		wantDis, _ := want.DisabledAt.Get()
		if final.Enabled != want.Enabled || !gotExp.Equal(wantExp) || !gotDis.Equal(wantDis) ||
			final.DisabledAt.IsNull() != want.DisabledAt.IsNull() || final.ExpireAt.IsNull() != want.ExpireAt.IsNull() {
			t.Errorf("final state enabled=%v expire_at=%v disabled_at=%v; the last update (op %d) answered enabled=%v expire_at=%v disabled_at=%v",
				final.Enabled, gotExp, gotDis, last, want.Enabled, wantExp, wantDis)
		}
		if noDisabledAt := !final.DisabledAt.IsSpecified() || final.DisabledAt.IsNull(); final.Enabled != noDisabledAt {
			t.Errorf("enabled=%v with disabled_at %v", final.Enabled, gotDis)
		}
		if works := authStatus(t, env, tok.Secret) == http.StatusOK; works != final.Enabled {
			t.Errorf("enabled=%v but authenticates=%v", final.Enabled, works)
		}

		state, updates := true, 0
		for _, ev := range tokenEvents(t, env, tok.Id) {
			switch ev.Action {
			case store.ActionTokenCreate:
				continue
			case store.ActionTokenEnable:
				if state {
					t.Errorf("event %d enables an enabled token", ev.ID)
				}
				state = true
			case store.ActionTokenDisable:
				if !state {
					t.Errorf("event %d disables a disabled token", ev.ID)
				}
				state = false
			case store.ActionTokenUpdate:
			default:
				t.Errorf("unexpected event %s", ev.Action)
			}
			updates++
		}
		if updates != n {
			t.Errorf("%d events for %d updates", updates, n)
		}
		if state != final.Enabled {
			t.Errorf("the activity log ends enabled=%v, the token is enabled=%v", state, final.Enabled)
		}
	})
}

// TestRacePurgeAgainstUpdate: 40 tokens long disabled (past the 7-day
// retention, R14) are purged by two purge loops (two replicas' jobs) while
// they are being updated: half renamed again and again until they are gone,
// half re-enabled once with a new expiry (R8), some of those before the
// purge starts and some while it runs. Whatever the order, no token
// comes back after its purge and no update answers 2xx for a token it did
// not change:
//   - a rename answers 200 only before the purge (its event precedes the
//     purge's), then 404; the purge may skip a row an update holds (SKIP
//     LOCKED) and take it on a later run;
//   - a re-enable answers 200 (it came first: the token exists, enabled, and
//     no purge ever deletes it) or 404 (it came second: the token is gone).
//
// Nothing is recorded for a token after its token.purge event, no token
// with one exists, and a last, quiet purge run leaves exactly the
// re-enabled tokens.
func TestRacePurgeAgainstUpdate(t *testing.T) {
	t.Parallel()
	skipIfShort(t, "a race test (timing, many goroutines)")
	raceBackends(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		c := env.Client(env.Admin.Token)
		const n = 40
		ids := make([]int64, n)
		for i := range ids {
			tok := personalToken(t, env, env.Admin.Token, "api_tokens:view")
			r, err := c.UpdateTokenWithResponse(context.Background(), tok.Id, client.TokenUpdate{Enabled: ptr(false)})
			testenv.Must(t, err)
			if r.StatusCode() != 200 {
				t.Fatalf("disable: %d", r.StatusCode())
			}
			ids[i] = tok.Id
		}
		env.Clock.Advance(8 * 24 * time.Hour) // past the 7-day retention (R14)
		future := env.Clock.Now().Add(24 * time.Hour)
		const renamed = "renamed while purging"

		// statuses[i] lists token i's update answers in order.
		statuses := make([][]int, n)
		var updaters, purgers, started sync.WaitGroup
		done, purging := make(chan struct{}), make(chan struct{})
		beforePurge := func(i int) bool { return i%4 != 3 }
		for i := range n {
			if beforePurge(i) {
				started.Add(1)
			}
		}
		for k := range 2 {
			purgers.Add(1)
			go func() {
				defer purgers.Done()
				// Start once every renamer has been answered once and half
				// of the re-enables are in.
				started.Wait()
				if k == 0 {
					close(purging)
				}
				for {
					if _, err := env.Store.PurgeDisabled(context.Background(), 7*24*time.Hour); err != nil {
						t.Errorf("purge: %v", err)
						return
					}
					select {
					case <-done:
						return
					case <-time.After(time.Millisecond):
					}
				}
			}()
		}
		for i, id := range ids {
			updaters.Add(1)
			reenable, before := i%2 == 1, beforePurge(i)
			go func() {
				defer updaters.Done()
				if !before {
					<-purging
					time.Sleep(time.Duration(i%5) * time.Millisecond)
				}
				for k := range 200 {
					body := client.TokenUpdate{Realname: ptr(client.Name(renamed))}
					if reenable {
						body = client.TokenUpdate{Enabled: ptr(true), ExpireAt: nullable.NewNullableWithValue(future)}
					}
					r, err := c.UpdateTokenWithResponse(context.Background(), id, body)
					if err != nil {
						t.Error(err)
						if before && k == 0 {
							started.Done()
						}
						return
					}
					statuses[i] = append(statuses[i], r.StatusCode())
					if before && k == 0 {
						started.Done()
					}
					if s := r.StatusCode(); s != 200 && s != 404 {
						t.Errorf("update %d: %d %s", id, s, r.Body)
					}
					if reenable || r.StatusCode() != 200 {
						return
					}
				}
			}()
		}
		updaters.Wait()
		close(done)
		purgers.Wait()

		var renamedFirst, goneFirst int
		for i, id := range ids {
			var rows []store.Token
			testenv.Must(t, env.Store.DB().Where("id = ?", id).Find(&rows).Error)
			exists := len(rows) == 1
			purged, updates := false, 0
			for _, ev := range tokenEvents(t, env, id) {
				if purged {
					t.Errorf("token %d: %s recorded after its purge", id, ev.Action)
				}
				switch ev.Action {
				case store.ActionTokenPurge:
					purged = true
				case store.ActionTokenUpdate, store.ActionTokenEnable: // the setup only disabled
					updates++
				}
			}
			oks, last := 0, statuses[i][len(statuses[i])-1]
			for _, s := range statuses[i] {
				if s == 200 {
					oks++
				}
			}
			if oks != updates {
				t.Errorf("token %d: %d updates answered 200, %d recorded", id, oks, updates)
			}
			if purged && exists {
				t.Errorf("token %d exists again after its purge", id)
			}
			if last == 404 && (exists || !purged) {
				t.Errorf("token %d: update answered 404, yet exists=%v purged=%v", id, exists, purged)
			}
			if i%2 == 1 {
				if last == 200 && (!exists || !rows[0].Enabled || purged) {
					t.Errorf("token %d: re-enabled (200), then exists=%v purged=%v", id, exists, purged)
				}
			} else if exists && oks > 0 && rows[0].Realname != renamed {
				t.Errorf("token %d: renamed (200), but the name is %q", id, rows[0].Realname)
			}
			if oks > 0 {
				renamedFirst++
			} else {
				goneFirst++
			}
		}
		t.Logf("%d tokens answered an update with 200 before their purge or instead of it, %d were purged before any update", renamedFirst, goneFirst)

		if _, err := env.Store.PurgeDisabled(context.Background(), 7*24*time.Hour); err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			var rows []store.Token
			testenv.Must(t, env.Store.DB().Where("id = ?", id).Find(&rows).Error)
			last := statuses[i][len(statuses[i])-1]
			if reenabled := i%2 == 1 && last == 200; reenabled != (len(rows) == 1) {
				t.Errorf("token %d: after a quiet purge exists=%v; it was re-enabled=%v", id, len(rows) == 1, reenabled)
			}
		}
		if v, err := env.Store.CheckInvariants(context.Background()); err != nil || len(v) != 0 {
			t.Errorf("invariants: %v %v", err, v)
		}
	})
}

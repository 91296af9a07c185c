package server_test

// The repros of issue 12, each under the rule that now refuses it (R20–R23
// and the R18/R21 agreement between the API and CheckInvariants), on every
// backend, through real HTTP, with the rule's problem type.

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/oapi-codegen/nullable"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/testenv"
)

// refusal asserts a problem of the given status, type and rule.
func wantRefusal(t testing.TB, what string, resp *http.Response, status int, typ client.ProblemType, rule string) {
	t.Helper()
	if resp.StatusCode != status {
		p := problemOf(t, resp)
		t.Fatalf("%s: status %d (%s), want %d %s", what, resp.StatusCode, p.Type, status, typ)
	}
	p := problemOf(t, resp)
	if p.Type != typ || deref(p.Rule) != rule {
		t.Fatalf("%s: problem %s rule %q, want %s rule %q (%s)", what, p.Type, deref(p.Rule), typ, rule, deref(p.Detail))
	}
}

// R20: a narrow token never obtains, refreshes or revives a broader one.
func TestR20ValueCeiling(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		broad := personalToken(t, env, admin.Session, "admin")
		viewOnly := personalToken(t, env, admin.Session, "api_tokens:view")
		updateOnly := personalToken(t, env, admin.Session, "api_tokens:update")
		managerView := personalToken(t, env, admin.Session, "api_tokens:view", "api_tokens:manage")
		sharedAdmin := sharedToken(t, env, admin.Session, "admin")

		t.Run("narrow token reads a broad token's value", func(t *testing.T) {
			resp := env.Do("GET", fmt.Sprintf("/v2/api_tokens/%d/secret", broad.Id), "", auth(viewOnly.Secret))
			wantRefusal(t, "GET secret of [admin] with [api_tokens:view]", resp, 403, client.ProblemTypeValueCeiling, "R20")
		})
		t.Run("narrow token renews a broad token", func(t *testing.T) {
			resp := env.Do("POST", fmt.Sprintf("/v2/api_tokens/%d/renew", broad.Id), "{}", auth(updateOnly.Secret))
			wantRefusal(t, "renew [admin] with [api_tokens:update]", resp, 403, client.ProblemTypeValueCeiling, "R20")
			if authStatus(t, env, broad.Secret) != 200 {
				t.Fatal("the refused renew changed the broad token's value")
			}
		})
		t.Run("narrow token re-enables a broad token", func(t *testing.T) {
			expectStatus(t, "disable", putToken(t, env, admin.Session, broad.Id, client.TokenUpdate{Enabled: ref(false)}), 200)
			resp := env.Do("PUT", fmt.Sprintf("/v2/api_tokens/%d", broad.Id), `{"enabled":true,"expire_at":null}`, auth(updateOnly.Secret))
			wantRefusal(t, "re-enable [admin] with [api_tokens:update]", resp, 403, client.ProblemTypeValueCeiling, "R20")
			if authStatus(t, env, broad.Secret) != 401 {
				t.Fatal("the refused re-enable revived the token")
			}
			// The owner's full session may.
			expectStatus(t, "re-enable by the owner", putToken(t, env, admin.Session, broad.Id, client.TokenUpdate{Enabled: ref(true), ExpireAt: never()}), 200)
		})
		t.Run("view and manage read a shared admin token's value", func(t *testing.T) {
			resp := env.Do("GET", fmt.Sprintf("/v2/api_tokens/%d/secret", sharedAdmin.Id), "", auth(managerView.Secret))
			wantRefusal(t, "GET secret of shared [admin] with [view, manage]", resp, 403, client.ProblemTypeValueCeiling, "R20")
		})
		t.Run("a broad enough credential still reads", func(t *testing.T) {
			for _, id := range []int64{broad.Id, sharedAdmin.Id} {
				if st := status(t, env, admin.Session, "GET", fmt.Sprintf("/v2/api_tokens/%d/secret", id), ""); st != 200 {
					t.Fatalf("the owner's session reading token %d: %d", id, st)
				}
			}
			// A narrow token reads a narrower (or equal) sibling.
			narrower := personalToken(t, env, admin.Session, "api_tokens:view")
			if st := status(t, env, viewOnly.Secret, "GET", fmt.Sprintf("/v2/api_tokens/%d/secret", narrower.Id), ""); st != 200 {
				t.Fatalf("[api_tokens:view] reading an [api_tokens:view] sibling: %d", st)
			}
		})
	})
}

// R20: an update is bounded by the token's ceiling at use, so that a later
// promotion of the owner switches nothing on.
func TestR20UpdateBoundedByOwnerCeiling(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		analyst := newPerson(t, env, admin.Session, client.Analytic, 0)
		tok := personalToken(t, env, analyst.Session, "attacks:view")

		resp := env.Do("PUT", fmt.Sprintf("/v2/api_tokens/%d", tok.Id), `{"permissions":["admin"]}`, auth(admin.Session))
		wantRefusal(t, "an admin widening an analyst's token to [admin]", resp, 403, client.ProblemTypeOwnerCeiling, "R20")
		if got := readToken(t, env, admin.Session, tok.Id).Permissions; len(got) != 1 || got[0] != "attacks:view" {
			t.Fatalf("stored permissions changed to %v", got)
		}
		// Promoting the analyst later switches nothing on.
		mustPutUser(t, env, admin.Session, analyst.User.Id, client.UserUpdate{Role: ref(client.Admin)})
		assertPerms(t, "after the promotion", whoAmI(t, env, tok.Secret).Permissions, setOf([]string{"attacks:view"}))
		// Within the ceiling the update works.
		expectStatus(t, "widen within the owner's role", putToken(t, env, admin.Session, tok.Id,
			client.TokenUpdate{Permissions: &[]string{"attacks:view", "users:view"}}), 200)
	})
}

// R21: a credential works only inside its owner's current scope, and the
// role change disables the tokens it no longer reaches.
func TestR21ScopeAtUse(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		tenantB := newTenant(t, env, "Tenant B")
		global := newPerson(t, env, env.Admin.Token, client.PartnerAdmin, 0)
		forB := newToken(t, env, global.Session, client.TokenCreate{Permissions: []string{"admin"}, ClientId: &tenantB.Id})
		if st := status(t, env, forB.Secret, "GET", "/v2/users", ""); st != 200 {
			t.Fatalf("the tenant token lists B's users: %d", st)
		}
		// The API and the checker agree: a Global Administrator's token for
		// its tenant is consistent (R18).
		if v, err := env.Store.CheckInvariants(ctx); err != nil || len(v) != 0 {
			t.Fatalf("invariants of a tenant token: %v %v", v, err)
		}

		mustPutUser(t, env, env.Admin.Token, global.User.Id, client.UserUpdate{Role: ref(client.Admin)})
		if st := authStatus(t, env, forB.Secret); st != 401 {
			t.Fatalf("after the demotion the tenant token authenticates: %d", st)
		}
		body := fmt.Sprintf(`{"email":%q,"realname":"Planted","role":"admin"}`, uniqueEmail("planted"))
		if st := status(t, env, forB.Secret, "POST", "/v2/users", body); st != 401 {
			t.Fatalf("after the demotion the tenant token creates a user in B: %d", st)
		}
		got := readToken(t, env, env.Admin.Token, forB.Id)
		if got.Enabled || deref((*string)(valueOf(got.DisabledReason))) != "out_of_scope" {
			t.Fatalf("the tenant token: enabled %v reason %v, want disabled out_of_scope", got.Enabled, got.DisabledReason)
		}
		// Re-enabling it is refused while the owner does not reach B.
		resp := env.Do("PUT", fmt.Sprintf("/v2/api_tokens/%d", forB.Id), `{"enabled":true,"expire_at":null}`, auth(env.Admin.Token))
		wantRefusal(t, "re-enable an out-of-scope token", resp, 409, client.ProblemTypeOutOfScope, "R21")
		if v, err := env.Store.CheckInvariants(ctx); err != nil || len(v) != 0 {
			t.Fatalf("invariants after the demotion: %v %v", v, err)
		}
	})
}

// R22: administrators never become the user.
func TestR22AdministratorsNeverBecomeTheUser(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		victim := newPerson(t, env, admin.Session, client.Analytic, 0)
		private := personalToken(t, env, victim.Session, "analytic")

		// The administrator resets the victim's password …
		const chosen = "the-admin-chose-this-one"
		mustPutUser(t, env, admin.Session, victim.User.Id, client.UserUpdate{Password: ref(chosen)})
		// … which ends the victim's sessions …
		if st := authStatus(t, env, victim.Session); st != 401 {
			t.Fatalf("the victim's old session after the reset: %d", st)
		}
		// … and signs in with it: a session that can only change it.
		r, err := env.Client("").LoginWithResponse(context.Background(), client.LoginRequest{Email: victim.User.Email, Password: chosen})
		testenv.Must(t, err)
		expectStatus(t, "sign in with the one-time password", r, 200)
		if !r.JSON200.PasswordChangeRequired || r.JSON200.ExpireAt.After(env.Clock.Now().Add(16*time.Minute)) {
			t.Fatalf("one-time session: %+v", r.JSON200)
		}
		oneTime := r.JSON200.Token
		for _, call := range []struct{ method, path string }{
			{"GET", "/v2/api_tokens"},
			{"GET", fmt.Sprintf("/v2/api_tokens/%d/secret", private.Id)},
			{"POST", "/v2/api_tokens"},
			{"GET", "/v2/permissions"},
		} {
			body := ""
			if call.method == "POST" {
				body = `{"realname":"x","permissions":["attacks:view"]}`
			}
			resp := env.Do(call.method, call.path, body, auth(oneTime))
			wantRefusal(t, call.method+" "+call.path+" with a one-time session", resp, 403, client.ProblemTypePasswordChangeRequired, "R22")
		}
		if st := status(t, env, oneTime, "GET", "/v2/user", ""); st != 200 {
			t.Fatalf("GET /v1/user with a one-time session: %d", st)
		}
		// Even after it sets a password of its own, the values it could
		// read back are gone: the reset dropped their stored copies.
		setOwnPassword(t, env, victim.User.Email, chosen, "the-admin-now-knows-this")
		sess := login(t, env, victim.User.Email, "the-admin-now-knows-this")
		resp := env.Do("GET", fmt.Sprintf("/v2/api_tokens/%d/secret", private.Id), "", auth(sess))
		wantRefusal(t, "read a pre-reset value", resp, 404, client.ProblemTypeSecretNotStored, "R9")
		if authStatus(t, env, private.Secret) != 200 {
			t.Fatal("the victim's token stopped working: the reset must only drop the stored copy")
		}
		// The reset is in the activity log.
		found := false
		for _, ev := range userEvents(t, env, env.Admin.Token, victim.User.Id) {
			found = found || ev.Action == client.ActivityActionUserPasswordReset
		}
		if !found {
			t.Fatal("no user.password_reset in the activity log")
		}
	})
}

// R22: legacy credentials are imported only by a Global Administrator.
func TestR22LegacyImportOnlyByGlobalAdministrator(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		user := newPerson(t, env, admin.Session, client.Analytic, 0)
		body := fmt.Sprintf(`{"uuid":%q,"secret":%q}`, uuid.NewString(), newLegacySecret(t))
		path := fmt.Sprintf("/v2/users/%d/legacy_credentials", user.User.Id)
		wantRefusal(t, "an administrator imports", env.Do("POST", path, body, auth(admin.Session)), 403, client.ProblemTypeLegacyImportOperator, "R22")
		if st := status(t, env, env.Admin.Token, "POST", path, body); st != 201 {
			t.Fatalf("the Global Administrator imports: %d", st)
		}
		found := false
		for _, ev := range userEvents(t, env, env.Admin.Token, user.User.Id) {
			found = found || ev.Action == client.ActivityActionUserLegacyImport
		}
		if !found {
			t.Fatal("the import is not in the activity log")
		}
	})
}

// R23 (per account): wrong current passwords are bounded, atomically.
func TestR23WrongCurrentPasswordIsBounded(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		user := newPerson(t, env, env.Admin.Token, client.Analytic, 0)
		wrong := `{"current_password":"not-the-password","new_password":"whatever-long-enough"}`
		// 16 parallel guesses: the per-account turn serialises them, so
		// exactly the limit of them are judged and the rest get 429.
		var mu sync.Mutex
		codes := map[int]int{}
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := status(t, env, user.Session, "PUT", "/v1/user/password", wrong)
				mu.Lock()
				codes[c]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if codes[400] != 5 || codes[429] != 11 {
			t.Fatalf("16 parallel wrong guesses answered %v, want 5×400 and 11×429", codes)
		}
		resp := env.Do("PUT", "/v1/user/password", wrong, auth(user.Session))
		wantRefusal(t, "the 17th guess", resp, 429, client.ProblemTypePasswordGuessing, "R23")
		if resp.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		// A narrow API token is no way in at all.
		tok := personalToken(t, env, user.Session, "attacks:view")
		wantRefusal(t, "with an attacks:view token", env.Do("PUT", "/v1/user/password", wrong, auth(tok.Secret)), 403, client.ProblemTypeSessionRequired, "R20")
		// With the right password the account is still throttled until the
		// window refills (the guard counts failures against real time).
		right := fmt.Sprintf(`{"current_password":%q,"new_password":"a-brand-new-password"}`, user.Password)
		if st := status(t, env, user.Session, "PUT", "/v1/user/password", right); st != 429 {
			t.Fatalf("the right password during the lock-out: %d, want 429", st)
		}
	})
}

func userEvents(t testing.TB, env *testenv.Env, caller string, userID int64) []client.Activity {
	t.Helper()
	r, err := env.Client(caller).ListActivityWithResponse(context.Background(), &client.ListActivityParams{UserId: &userID})
	testenv.Must(t, err)
	expectStatus(t, "GET /v2/activity_log", r, 200)
	return r.JSON200.Items
}

func valueOf[T any](n nullable.Nullable[T]) *T {
	v, err := n.Get()
	if err != nil {
		return nil
	}
	return &v
}

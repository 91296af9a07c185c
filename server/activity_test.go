package server_test

// The activity log, the leak response, last-used recording and the
// brute-force guard. Every test runs on SQLite and, when it answers,
// PostgreSQL.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/oapi-codegen/nullable"
	"gorm.io/gorm"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/server"
)

const localIP = "127.0.0.1"

// Every kind of token event is recorded once, with the token, its owner,
// the actor (user and token) and the address when a request caused it, and
// no actor and no address when tokend itself did (expiry, purge).
func TestActivityLogEvents(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		admin := env.Admin.Token
		adminUser := env.Admin.UserID
		adminTok := currentTokenID(t, env, admin)
		a := newPerson(t, env, admin, client.Admin, 0)
		x := newPerson(t, env, admin, client.Analytic, 0)
		y := newPerson(t, env, admin, client.Analytic, 0)
		z := newPerson(t, env, admin, client.Admin, 0)
		xid, yid, zid, aid := x.User.Id, y.User.Id, z.User.Id, a.User.Id

		var want []wantEvent
		expect := func(e wantEvent) {
			e.at = env.Clock.Now()
			want = append(want, e)
		}

		// create: by a session (no actor token), and by an API token.
		tx := personalToken(t, env, x.Session, "analytic")
		expect(wantEvent{name: "create (session)", action: client.ActivityActionTokenCreate, tokenID: tx.Id, userID: &xid, actorUser: &xid, ip: true,
			details: map[string]string{"permissions": "analytic", "shared": "false"}})
		sh := sharedToken(t, env, admin, "admin")
		expect(wantEvent{name: "create (API token)", action: client.ActivityActionTokenCreate, tokenID: sh.Id, actorUser: &adminUser, actorToken: &adminTok, ip: true,
			details: map[string]string{"shared": "true"}})

		env.Clock.Advance(time.Second)
		mustStatus(t, "rename", status(t, env, x.Session, "PUT", fmt.Sprintf("/v2/api_tokens/%d", tx.Id), `{"realname":"renamed"}`), 200)
		expect(wantEvent{name: "update", action: client.ActivityActionTokenUpdate, tokenID: tx.Id, userID: &xid, actorUser: &xid, ip: true,
			details: map[string]string{"fields": "realname"}})
		mustStatus(t, "disable", status(t, env, x.Session, "PUT", fmt.Sprintf("/v2/api_tokens/%d", tx.Id), `{"enabled":false}`), 200)
		expect(wantEvent{name: "disable", action: client.ActivityActionTokenDisable, tokenID: tx.Id, userID: &xid, actorUser: &xid, ip: true})
		future := env.Clock.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
		mustStatus(t, "enable", status(t, env, x.Session, "PUT", fmt.Sprintf("/v2/api_tokens/%d", tx.Id), `{"enabled":true,"expire_at":"`+future+`"}`), 200)
		expect(wantEvent{name: "enable", action: client.ActivityActionTokenEnable, tokenID: tx.Id, userID: &xid, actorUser: &xid, ip: true})
		mustStatus(t, "renew", status(t, env, x.Session, "POST", fmt.Sprintf("/v2/api_tokens/%d/renew", tx.Id), `{}`), 200)
		expect(wantEvent{name: "renew", action: client.ActivityActionTokenRenew, tokenID: tx.Id, userID: &xid, actorUser: &xid, ip: true})
		mustStatus(t, "read own secret", status(t, env, x.Session, "GET", fmt.Sprintf("/v2/api_tokens/%d/secret", tx.Id), ""), 200)
		expect(wantEvent{name: "secret read", action: client.ActivityActionTokenSecretRead, tokenID: tx.Id, userID: &xid, actorUser: &xid, ip: true})
		// An administrator asking for someone else's personal secret: 403, recorded.
		mustStatus(t, "admin reads x's secret", status(t, env, a.Session, "GET", fmt.Sprintf("/v2/api_tokens/%d/secret", tx.Id), ""), 403)
		expect(wantEvent{name: "secret read denied", action: client.ActivityActionTokenSecretReadDenied, tokenID: tx.Id, userID: &xid, actorUser: &aid, ip: true})

		// expiry and purge: tokend itself, no actor, no address.
		te := newToken(t, env, x.Session, client.TokenCreate{Permissions: []string{"analytic"}, ExpireAt: nullable.NewNullableWithValue(env.Clock.Now().Add(time.Hour))})
		expireAt := env.Clock.Now().Add(time.Hour)
		env.Clock.Advance(2 * time.Hour)
		n, err := env.Store.DisableExpired(ctx)
		testenv.Must(t, err)
		if n < 1 {
			t.Fatalf("DisableExpired disabled %d tokens, want at least 1", n)
		}
		expect(wantEvent{name: "expire", action: client.ActivityActionTokenExpire, tokenID: te.Id, userID: &xid,
			details: map[string]string{"expire_at": expireAt.UTC().Format(time.RFC3339)}})
		env.Clock.Advance(time.Minute)
		n, err = env.Store.PurgeDisabled(ctx, 30*time.Minute)
		testenv.Must(t, err)
		if n < 1 {
			t.Fatalf("PurgeDisabled purged %d tokens, want at least 1", n)
		}
		expect(wantEvent{name: "purge", action: client.ActivityActionTokenPurge, tokenID: te.Id, userID: &xid})

		// owner cascade: disabling y (R11) and demoting z (R12), by the bootstrap token.
		ty := personalToken(t, env, y.Session, "analytic")
		mustStatus(t, "disable y", status(t, env, admin, "PUT", fmt.Sprintf("/v2/users/%d", yid), `{"enabled":false}`), 200)
		expect(wantEvent{name: "owner cascade (disabled)", action: client.ActivityActionTokenOwnerCascade, tokenID: ty.Id, userID: &yid,
			actorUser: &adminUser, actorToken: &adminTok, ip: true, details: map[string]string{"reason": "owner_disabled"}})
		tz := personalToken(t, env, z.Session, "admin")
		mustStatus(t, "demote z", status(t, env, admin, "PUT", fmt.Sprintf("/v2/users/%d", zid), `{"role":"analytic"}`), 200)
		expect(wantEvent{name: "owner cascade (demoted)", action: client.ActivityActionTokenOwnerCascade, tokenID: tz.Id, userID: &zid,
			actorUser: &adminUser, actorToken: &adminTok, ip: true, details: map[string]string{"old_role": "admin", "new_role": "analytic"}})

		// leaked: reported by anyone, no actor, the reporter's address.
		tl := personalToken(t, env, x.Session, "analytic")
		mustStatus(t, "revoke_leaked", env.Do("POST", "/v2/api_tokens/revoke_leaked", fmt.Sprintf(`{"token":%q,"source":"https://example.com/repo"}`, tl.Secret), nil).StatusCode, 202)
		expect(wantEvent{name: "leaked", action: client.ActivityActionTokenLeaked, tokenID: tl.Id, userID: &xid, ip: true,
			details: map[string]string{"was_enabled": "true", "source": "https://example.com/repo"}})

		// delete.
		mustStatus(t, "delete", status(t, env, x.Session, "DELETE", fmt.Sprintf("/v2/api_tokens/%d", tx.Id), ""), 204)
		expect(wantEvent{name: "delete", action: client.ActivityActionTokenDelete, tokenID: tx.Id, userID: &xid, actorUser: &xid, ip: true})

		for _, w := range want {
			tid := w.tokenID
			action := w.action
			got := listActivity(t, env, admin, client.ListActivityParams{TokenId: &tid, Action: &action})
			if len(got) != 1 {
				t.Errorf("%s: %d %s events for token %d, want 1: %+v", w.name, len(got), w.action, w.tokenID, got)
				continue
			}
			w.check(t, got[0], env.Admin.ClientID)
		}
	})
}

// activity_log:view: auditor and administrator yes; analyst, API developer,
// and a narrow token of an administrator no (403); anonymous 401.
func TestActivityLogPermission(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		admin := env.Admin.Token
		auditor := newPerson(t, env, admin, client.Auditor, 0)
		analyst := newPerson(t, env, admin, client.Analytic, 0)
		dev := newPerson(t, env, admin, client.ApiDeveloper, 0)
		companyAdmin := newPerson(t, env, admin, client.Admin, 0)
		narrow := personalToken(t, env, companyAdmin.Session, "api_tokens:view")
		analystTok := personalToken(t, env, analyst.Session, "analytic")

		for _, c := range []struct {
			name, cred string
			want       int
		}{
			{"auditor", auditor.Session, 200},
			{"company admin", companyAdmin.Session, 200},
			{"global admin token", admin, 200},
			{"analyst", analyst.Session, 403},
			{"analyst token", analystTok.Secret, 403},
			{"api developer", dev.Session, 403},
			{"admin's token without activity_log:view (R3)", narrow.Secret, 403},
			{"anonymous", "", 401},
		} {
			h := map[string]string{}
			if c.cred != "" {
				h["X-WallarmApi-Token"] = c.cred
			}
			resp := env.Do("GET", "/v2/activity_log", "", h)
			if resp.StatusCode != c.want {
				body, _ := io.ReadAll(resp.Body)
				t.Errorf("%s: GET /v2/activity_log %d, want %d: %s", c.name, resp.StatusCode, c.want, body)
			}
		}
		// The auditor sees the company's events.
		evs := listActivity(t, env, auditor.Session, client.ListActivityParams{})
		if len(evs) == 0 {
			t.Fatal("auditor sees no events")
		}
	})
}

// Scope (R18): a tenant's administrator sees only its tenant's events; the
// Global Administrator sees the technical tenant's and the tenants'.
func TestActivityLogScope(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		admin := env.Admin.Token
		tenant := newTenant(t, env, "tenant-activity")
		ta := newPerson(t, env, admin, client.Admin, tenant.Id)
		tAuditor := newPerson(t, env, admin, client.Auditor, tenant.Id)
		own := personalToken(t, env, ta.Session, "admin")
		x := newPerson(t, env, admin, client.Analytic, 0)
		tech := personalToken(t, env, x.Session, "analytic")

		for name, cred := range map[string]string{"tenant admin": ta.Session, "tenant auditor": tAuditor.Session} {
			evs := listActivity(t, env, cred, client.ListActivityParams{})
			sawOwn := false
			for _, e := range evs {
				if e.ClientId != tenant.Id {
					t.Fatalf("%s sees event %d (%s) of company %d, want only tenant %d", name, e.Id, e.Action, e.ClientId, tenant.Id)
				}
				if tid, _ := e.TokenId.Get(); tid == own.Id && e.Action == client.ActivityActionTokenCreate {
					sawOwn = true
				}
			}
			if !sawOwn {
				t.Fatalf("%s does not see its tenant's token.create: %+v", name, evs)
			}
			// Asking for the technical tenant's token by id finds nothing.
			if evs := listActivity(t, env, cred, client.ListActivityParams{TokenId: &tech.Id}); len(evs) != 0 {
				t.Fatalf("%s sees %d events of the technical tenant's token %d", name, len(evs), tech.Id)
			}
			uid := x.User.Id
			if evs := listActivity(t, env, cred, client.ListActivityParams{UserId: &uid}); len(evs) != 0 {
				t.Fatalf("%s sees %d events about a technical-tenant user", name, len(evs))
			}
		}
		// A company administrator of the technical tenant (not global) does
		// not see the tenant's events either.
		techAdmin := newPerson(t, env, admin, client.Admin, 0)
		for _, e := range listActivity(t, env, techAdmin.Session, client.ListActivityParams{}) {
			if e.ClientId != env.Admin.ClientID {
				t.Fatalf("technical tenant's (non-global) admin sees event %d of company %d", e.Id, e.ClientId)
			}
		}
		// The Global Administrator sees both.
		companies := map[int64]bool{}
		for _, e := range listActivity(t, env, admin, client.ListActivityParams{}) {
			companies[e.ClientId] = true
		}
		if !companies[tenant.Id] || !companies[env.Admin.ClientID] {
			t.Fatalf("global admin sees events of companies %v, want %d and %d", companies, env.Admin.ClientID, tenant.Id)
		}
	})
}

// Keyset pagination walks every event exactly once, newest first; filters
// token_id, user_id (about or by), action, since (inclusive), until
// (exclusive) narrow it; bad cursor or limit → 400.
func TestActivityLogPaginationAndFilters(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		admin := env.Admin.Token
		x := newPerson(t, env, admin, client.Admin, 0)
		y := newPerson(t, env, admin, client.Analytic, 0)
		env.Clock.Advance(time.Minute)
		t0 := env.Clock.Now()
		k1 := personalToken(t, env, x.Session, "analytic")
		env.Clock.Advance(time.Minute)
		t1 := env.Clock.Now()
		k2 := personalToken(t, env, x.Session, "analytic")
		env.Clock.Advance(time.Minute)
		t2 := env.Clock.Now()
		k3 := personalToken(t, env, y.Session, "analytic")
		for i := range 4 {
			mustStatus(t, "rename", status(t, env, x.Session, "PUT", fmt.Sprintf("/v2/api_tokens/%d", k1.Id), fmt.Sprintf(`{"realname":"n%d"}`, i)), 200)
		}
		// y's token touched by x (an admin): "by x" for user_id=x.
		mustStatus(t, "x disables y's token", status(t, env, x.Session, "PUT", fmt.Sprintf("/v2/api_tokens/%d", k3.Id), `{"enabled":false}`), 200)

		all := listPage(t, env, admin, client.ListActivityParams{Limit: ptr(int32(1000))})
		if all.NextCursor.IsSpecified() && !all.NextCursor.IsNull() {
			t.Fatalf("limit 1000 over %d events still has a next_cursor", len(all.Items))
		}
		if len(all.Items) < 10 { // 2 user.create, 3 token.create, 4 token.update, 1 token.disable
			t.Fatalf("only %d events", len(all.Items))
		}
		for i := 1; i < len(all.Items); i++ {
			if all.Items[i].Id >= all.Items[i-1].Id {
				t.Fatalf("not newest first: %d after %d", all.Items[i].Id, all.Items[i-1].Id)
			}
		}
		for _, limit := range []int32{1, 3, 5} {
			var walked []int64
			params := client.ListActivityParams{Limit: ptr(limit)}
			for pages := 0; ; pages++ {
				pg := listPage(t, env, admin, params)
				if len(pg.Items) > int(limit) {
					t.Fatalf("limit %d: a page of %d", limit, len(pg.Items))
				}
				for _, e := range pg.Items {
					walked = append(walked, e.Id)
				}
				c, err := pg.NextCursor.Get()
				if err != nil || c == "" {
					break
				}
				params.Cursor = &c
				if pages > 1000 {
					t.Fatal("pagination does not end")
				}
			}
			if len(walked) != len(all.Items) {
				t.Fatalf("limit %d walked %d events, want %d", limit, len(walked), len(all.Items))
			}
			for i := range walked {
				if walked[i] != all.Items[i].Id {
					t.Fatalf("limit %d: event %d is %d, want %d", limit, i, walked[i], all.Items[i].Id)
				}
			}
		}

		// token_id
		for _, e := range listActivity(t, env, admin, client.ListActivityParams{TokenId: &k1.Id}) {
			if tid, _ := e.TokenId.Get(); tid != k1.Id {
				t.Fatalf("token_id=%d returned an event of token %d", k1.Id, tid)
			}
		}
		if n := len(listActivity(t, env, admin, client.ListActivityParams{TokenId: &k1.Id})); n != 5 {
			t.Fatalf("token_id=%d: %d events, want 5 (create + 4 updates)", k1.Id, n)
		}
		// user_id: about the user or done by the user.
		xid := x.User.Id
		byX := listActivity(t, env, admin, client.ListActivityParams{UserId: &xid})
		sawAbout, sawBy := false, false
		for _, e := range byX {
			uid, _ := e.UserId.Get()
			actor, _ := e.ActorUserId.Get()
			if uid != xid && actor != xid {
				t.Fatalf("user_id=%d returned event %d about %d by %d", xid, e.Id, uid, actor)
			}
			if e.Action == client.ActivityActionUserCreate && uid == xid {
				sawAbout = true
			}
			if tid, _ := e.TokenId.Get(); tid == k3.Id && actor == xid {
				sawBy = true
			}
		}
		if !sawAbout || !sawBy {
			t.Fatalf("user_id=%d: saw event about x %v, by x on y's token %v", xid, sawAbout, sawBy)
		}
		// action
		create := client.ActivityActionTokenCreate
		for _, e := range listActivity(t, env, admin, client.ListActivityParams{Action: &create}) {
			if e.Action != create {
				t.Fatalf("action=%s returned %s", create, e.Action)
			}
		}
		// since / until, on token.create of k1, k2, k3.
		ids := func(p client.ListActivityParams) map[int64]bool {
			p.Action = &create
			out := map[int64]bool{}
			for _, e := range listActivity(t, env, admin, p) {
				if p.Since != nil && e.CreatedAt.Before(*p.Since) {
					t.Fatalf("since=%s returned an event at %s", p.Since, e.CreatedAt)
				}
				if p.Until != nil && !e.CreatedAt.Before(*p.Until) {
					t.Fatalf("until=%s returned an event at %s", p.Until, e.CreatedAt)
				}
				if tid, err := e.TokenId.Get(); err == nil && (tid == k1.Id || tid == k2.Id || tid == k3.Id) {
					out[tid] = true
				}
			}
			return out
		}
		if got := ids(client.ListActivityParams{Since: &t1}); !sameIDSet(got, k2.Id, k3.Id) {
			t.Fatalf("since=t1: tokens %v, want %d and %d", got, k2.Id, k3.Id)
		}
		if got := ids(client.ListActivityParams{Until: &t2}); !sameIDSet(got, k1.Id, k2.Id) {
			t.Fatalf("until=t2: tokens %v, want %d and %d", got, k1.Id, k2.Id)
		}
		if got := ids(client.ListActivityParams{Since: &t1, Until: &t2}); !sameIDSet(got, k2.Id) {
			t.Fatalf("since=t1&until=t2: tokens %v, want %d", got, k2.Id)
		}
		if got := ids(client.ListActivityParams{Since: &t0, Until: &t0}); len(got) != 0 {
			t.Fatalf("since=until: tokens %v, want none", got)
		}
		// Combined filters.
		update := client.ActivityActionTokenUpdate
		if n := len(listActivity(t, env, admin, client.ListActivityParams{TokenId: &k1.Id, Action: &update, Since: &t0})); n != 4 {
			t.Fatalf("token_id+action+since: %d events, want 4", n)
		}

		for _, q := range []string{"cursor=bogus", "cursor=" + "djE6MA", "limit=0", "limit=1001", "action=token.nope", "since=yesterday"} {
			resp := env.Do("GET", "/v2/activity_log?"+q, "", map[string]string{"X-WallarmApi-Token": admin})
			if resp.StatusCode != 400 {
				t.Errorf("GET /v2/activity_log?%s: %d, want 400", q, resp.StatusCode)
			}
		}
	})
}

// Leak response: anyone reports a value; the token is disabled at once (its
// next request is 401) and token.leaked is recorded; the answer is the same
// 202 body for a valid, unknown, malformed or already-revoked value.
func TestLeakReportRevokes(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		admin := env.Admin.Token
		x := newPerson(t, env, admin, client.Admin, 0)
		tok := personalToken(t, env, x.Session, "admin")
		mustStatus(t, "token before the report", status(t, env, tok.Secret, "GET", "/v2/user", ""), 200) // cached as valid

		report := func(name, value string, headers map[string]string) (int, string, string) {
			t.Helper()
			resp := env.Do("POST", "/v2/api_tokens/revoke_leaked", fmt.Sprintf(`{"token":%q}`, value), headers)
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
		}
		type answer struct {
			status      int
			ctype, body string
		}
		answers := map[string]answer{}
		for _, c := range []struct {
			name, value string
			headers     map[string]string
		}{
			{"valid", tok.Secret, nil},
			{"already revoked", tok.Secret, nil},
			{"unknown, well-formed", unknownToken(t), nil},
			{"malformed", "this is not a token", nil},
			{"bad checksum", flipLast(tok.Secret), nil},
			{"unknown legacy format", newLegacy(t), nil},
			{"with a garbage credential header", unknownToken(t), map[string]string{"X-WallarmApi-Token": "garbage"}},
		} {
			s, ct, body := report(c.name, c.value, c.headers)
			answers[c.name] = answer{s, ct, body}
		}
		ref := answers["valid"]
		if ref.status != 202 || !strings.HasPrefix(ref.ctype, "application/json") {
			t.Fatalf("report of a valid value: %d %s %s", ref.status, ref.ctype, ref.body)
		}
		for name, a := range answers {
			if a != ref {
				t.Errorf("report (%s) answered %d %q %s, the valid one %d %q %s", name, a.status, a.ctype, a.body, ref.status, ref.ctype, ref.body)
			}
		}

		// Disabled at once, visibly.
		mustStatus(t, "reported token", status(t, env, tok.Secret, "GET", "/v2/user", ""), 401)
		got := getToken(t, env, x.Session, tok.Id)
		if got.Enabled || !got.DisabledAt.IsSpecified() || got.DisabledAt.IsNull() {
			t.Fatalf("reported token: enabled %v disabled_at %v", got.Enabled, got.DisabledAt)
		}
		leaked := client.ActivityActionTokenLeaked
		evs := listActivity(t, env, admin, client.ListActivityParams{TokenId: &tok.Id, Action: &leaked})
		if len(evs) == 0 {
			t.Fatal("no token.leaked event")
		}
		first := evs[len(evs)-1]
		if first.Details["was_enabled"] != "true" || ipOf(first) != localIP || first.ActorUserId.IsSpecified() && !first.ActorUserId.IsNull() {
			t.Fatalf("token.leaked: %+v", first)
		}
		// Nobody else's token was touched.
		mustStatus(t, "bootstrap token", status(t, env, admin, "GET", "/v2/user", ""), 200)

		// The rest in a fresh server: the route allows 10 reports a minute.
		env = testenv.New(t, b)
		admin = env.Admin.Token
		x = newPerson(t, env, admin, client.Admin, 0)

		// A renewed token's grace value is leaked too: the token stops, both values.
		t2 := personalToken(t, env, x.Session, "admin")
		r, err := env.Client(x.Session).RenewTokenWithResponse(ctx, t2.Id, client.RenewTokenJSONRequestBody{GracePeriodSeconds: ptr(int32(3600))})
		testenv.Must(t, err)
		mustStatus(t, "renew", r.StatusCode(), 200)
		mustStatus(t, "grace value before", status(t, env, t2.Secret, "GET", "/v2/user", ""), 200)
		mustStatus(t, "report grace value", env.Do("POST", "/v2/api_tokens/revoke_leaked", fmt.Sprintf(`{"token":%q}`, t2.Secret), nil).StatusCode, 202)
		mustStatus(t, "grace value after the report", status(t, env, t2.Secret, "GET", "/v2/user", ""), 401)
		mustStatus(t, "new value after its grace value was reported", status(t, env, r.JSON200.Secret, "GET", "/v2/user", ""), 401)

		// A backward-compatible token's value: both ways of using it stop.
		legacy, lu := newLegacy(t), uuid.New()
		imp, err := env.Client(admin).ImportLegacyCredentialsWithResponse(ctx, x.User.Id, client.LegacyCredentials{Uuid: lu, Secret: legacy})
		testenv.Must(t, err)
		mustStatus(t, "import", imp.StatusCode(), 201)
		pair := map[string]string{"X-WallarmAPI-UUID": lu.String(), "X-WallarmAPI-Secret": legacy}
		mustStatus(t, "legacy pair before", env.Do("GET", "/v2/user", "", pair).StatusCode, 200)
		mustStatus(t, "report legacy", env.Do("POST", "/v2/api_tokens/revoke_leaked", fmt.Sprintf(`{"token":%q}`, legacy), nil).StatusCode, 202)
		mustStatus(t, "legacy pair after", env.Do("GET", "/v2/user", "", pair).StatusCode, 401)
		mustStatus(t, "legacy value after", status(t, env, legacy, "GET", "/v2/user", ""), 401)

		// A shared token.
		sh := sharedToken(t, env, admin, "admin")
		mustStatus(t, "report shared", env.Do("POST", "/v2/api_tokens/revoke_leaked", fmt.Sprintf(`{"token":%q}`, sh.Secret), nil).StatusCode, 202)
		mustStatus(t, "shared after", status(t, env, sh.Secret, "GET", "/v2/user", ""), 401)

		// A source holding the value itself is not recorded.
		t3 := personalToken(t, env, x.Session, "admin")
		mustStatus(t, "report with source", env.Do("POST", "/v2/api_tokens/revoke_leaked",
			fmt.Sprintf(`{"token":%q,"source":%q}`, t3.Secret, "https://paste.example/raw?t="+t3.Secret), nil).StatusCode, 202)
		evs = listActivity(t, env, admin, client.ListActivityParams{TokenId: &t3.Id, Action: &leaked})
		if len(evs) != 1 || strings.Contains(fmt.Sprint(evs[0].Details), t3.Secret) {
			t.Fatalf("token.leaked with a source holding the value: %+v", evs)
		}
	})
}

// The leak route is rate-limited per client address (default 10/min): the
// 11th quick report is 429 with Retry-After and a problem body, does nothing,
// and X-Forwarded-For does not reset it; another address is unaffected.
func TestLeakReportRateLimit(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		x := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		tok := personalToken(t, env, x.Session, "admin")
		for i := range 10 {
			mustStatus(t, fmt.Sprintf("report %d", i+1), env.Do("POST", "/v2/api_tokens/revoke_leaked", fmt.Sprintf(`{"token":%q}`, unknownToken(t)), nil).StatusCode, 202)
		}
		resp := env.Do("POST", "/v2/api_tokens/revoke_leaked", fmt.Sprintf(`{"token":%q}`, tok.Secret), nil)
		assertTooMany(t, "11th leak report", resp, 1, 60)
		mustStatus(t, "token reported by the rate-limited request", status(t, env, tok.Secret, "GET", "/v2/user", ""), 200)
		resp = env.Do("POST", "/v2/api_tokens/revoke_leaked", fmt.Sprintf(`{"token":%q}`, unknownToken(t)),
			map[string]string{"X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.7"})
		assertTooMany(t, "12th leak report with X-Forwarded-For", resp, 1, 60)
		// Other routes are not limited by it.
		mustStatus(t, "GET /v1/user", status(t, env, env.Admin.Token, "GET", "/v2/user", ""), 200)
		// Another address has its own budget.
		if c := clientFrom(t, "127.0.0.2"); c != nil {
			req, _ := http.NewRequest("POST", env.URL+"/v2/api_tokens/revoke_leaked", strings.NewReader(fmt.Sprintf(`{"token":%q}`, tok.Secret)))
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.Do(req)
			testenv.Must(t, err)
			resp.Body.Close()
			mustStatus(t, "report from 127.0.0.2", resp.StatusCode, 202)
			mustStatus(t, "token reported from 127.0.0.2", status(t, env, tok.Secret, "GET", "/v2/user", ""), 401)
		}
	})
}

// last_used_at / last_used_ip: set after use and a flush, visible in GET
// /v2/api_tokens/{id}; at most one write per token per minute.
func TestLastUsedRecorded(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		x := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		tok := personalToken(t, env, x.Session, "admin")
		writes := countUsageWrites(env)
		flush := func() { t.Helper(); testenv.Must(t, env.Config.Usage.Flush(ctx)) }
		use := func() { t.Helper(); mustStatus(t, "use", status(t, env, tok.Secret, "GET", "/v2/user", ""), 200) }
		lastUsed := func() (time.Time, string, bool) {
			t.Helper()
			got := getToken(t, env, x.Session, tok.Id) // a session: records nothing
			at, err := got.LastUsedAt.Get()
			if err != nil {
				return time.Time{}, "", false
			}
			ip, _ := got.LastUsedIp.Get()
			return at, ip, true
		}

		flush() // the bootstrap token's uses by the fixtures
		writes.Store(0)
		if at, _, ok := lastUsed(); ok {
			t.Fatalf("unused token has last_used_at %s", at)
		}
		// Failed attempts and sessions are not uses.
		mustStatus(t, "near-valid", status(t, env, flipLast(tok.Secret), "GET", "/v2/user", ""), 401)
		flush()
		if _, _, ok := lastUsed(); ok || writes.Load() != 0 {
			t.Fatalf("a failed attempt or a session recorded a use (%d writes)", writes.Load())
		}

		t0 := env.Clock.Now()
		use()
		if _, _, ok := lastUsed(); ok {
			t.Fatal("last_used_at written before a flush (the hot path must not write)")
		}
		flush()
		at, ip, ok := lastUsed()
		if !ok || !at.Equal(t0) || ip != localIP {
			t.Fatalf("after use + flush: last_used_at %v (set %v) ip %q, want %s and %s", at, ok, ip, t0, localIP)
		}
		if writes.Load() != 1 {
			t.Fatalf("%d usage writes, want 1", writes.Load())
		}
		// Within the minute: uses do not move it, flushes do not write.
		for _, step := range []time.Duration{20 * time.Second, 20 * time.Second, 19 * time.Second} {
			env.Clock.Advance(step)
			use()
			use()
			flush()
			if at, _, _ := lastUsed(); !at.Equal(t0) {
				t.Fatalf("%s after the first use: last_used_at moved to %s", env.Clock.Now().Sub(t0), at)
			}
			if writes.Load() != 1 {
				t.Fatalf("%s after the first use: %d usage writes, want 1", env.Clock.Now().Sub(t0), writes.Load())
			}
		}
		// Past the minute: the next use moves it, once.
		env.Clock.Advance(2 * time.Second) // 61 s
		t1 := env.Clock.Now()
		use()
		flush()
		if at, _, _ := lastUsed(); !at.Equal(t1) {
			t.Fatalf("61 s later: last_used_at %s, want %s", at, t1)
		}
		use()
		flush()
		if writes.Load() != 2 {
			t.Fatalf("after the second minute: %d usage writes, want 2", writes.Load())
		}

		// Shared tokens and the legacy pair are uses too.
		sh := sharedToken(t, env, env.Admin.Token, "admin")
		legacy, lu := newLegacy(t), uuid.New()
		imp, err := env.Client(env.Admin.Token).ImportLegacyCredentialsWithResponse(ctx, x.User.Id, client.LegacyCredentials{Uuid: lu, Secret: legacy})
		testenv.Must(t, err)
		mustStatus(t, "import", imp.StatusCode(), 201)
		mustStatus(t, "shared use", status(t, env, sh.Secret, "GET", "/v2/api_tokens", ""), 200)
		mustStatus(t, "legacy pair use", env.Do("GET", "/v2/user", "", map[string]string{"X-WallarmAPI-UUID": lu.String(), "X-WallarmAPI-Secret": legacy}).StatusCode, 200)
		flush()
		for name, id := range map[string]int64{"shared": sh.Id, "backward-compatible": imp.JSON201.Id} {
			got := getToken(t, env, env.Admin.Token, id)
			if at, err := got.LastUsedAt.Get(); err != nil || !at.Equal(env.Clock.Now()) {
				t.Fatalf("%s token: last_used_at %v (%v)", name, at, err)
			}
		}
	})
}

// A flush whose write fails keeps what it could not write: the next flush
// writes it (usage.Run logs "will retry").
func TestLastUsedFlushFailureRetries(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		x := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		tok := personalToken(t, env, x.Session, "admin")
		var fail atomic.Bool
		env.Observe(func(db *gorm.DB) {
			if fail.Load() && isUsageWrite(db) {
				_ = db.AddError(errors.New("injected write failure"))
			}
		})
		t0 := env.Clock.Now()
		mustStatus(t, "use", status(t, env, tok.Secret, "GET", "/v2/user", ""), 200)
		fail.Store(true)
		if err := env.Config.Usage.Flush(ctx); err == nil {
			t.Fatal("the injected failure did not reach Flush")
		}
		fail.Store(false)
		env.Clock.Advance(5 * time.Second)
		testenv.Must(t, env.Config.Usage.Flush(ctx))
		got := getToken(t, env, x.Session, tok.Id)
		if at, err := got.LastUsedAt.Get(); err != nil || !at.Equal(t0) {
			t.Fatalf("after a failed flush and a good one: last_used_at %v (%v), want %s: the failed batch was dropped", at, err, t0)
		}
	})
}

// R23: guessing is bounded and nobody is locked out by someone else. After
// an address spent its failures, a valid token from it still works, its
// failures answer 429 with Retry-After, a sign-in to an account that
// signed in from it before still works, a sign-in to any other account is
// refused before a hash is computed, the probes answer, a forged
// X-Forwarded-For changes nothing, and other addresses are untouched.
func TestR23GuardLocksNobodyOut(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		// 5 failures per 10 s: one forgiven every 2 s.
		env, _ := newEnvWithKey(t, b, false, func(c *server.Config) {
			c.AuthFailureLimit, c.AuthFailureWindow = 5, 10*time.Second
		})
		admin := env.Admin.Token
		x := newPerson(t, env, admin, client.Admin, 0) // signed in from here: a known address
		stranger := createUser(t, env, admin, client.UserCreate{Email: uniqueEmail("stranger"), Realname: "Never signed in here",
			Role: client.Analytic, Password: ref("stranger-password-123")})
		failures := []func() int{
			func() int { return status(t, env, flipLast(admin), "GET", "/v2/user", "") },
			func() int { return status(t, env, unknownToken(t), "GET", "/v2/api_tokens", "") },
			func() int {
				return env.Do("GET", "/v2/user", "", map[string]string{"X-WallarmAPI-UUID": uuid.NewString(), "X-WallarmAPI-Secret": newLegacy(t)}).StatusCode
			},
			func() int { return env.Do("GET", "/v2/user", "", nil).StatusCode },
			func() int { return status(t, env, unknownToken(t), "GET", "/v2/user", "") },
		}
		for i, f := range failures {
			mustStatus(t, fmt.Sprintf("failure %d", i+1), f(), 401)
		}
		for range 3 {
			mustStatus(t, "a valid token after 5 failures", status(t, env, admin, "GET", "/v2/user", ""), 200)
		}
		assertTooMany(t, "an invalid token after 5 failures", env.Do("GET", "/v2/user", "", map[string]string{"X-WallarmApi-Token": unknownToken(t)}), 1, 2)
		mustStatus(t, "sign-in to an account known at this address", env.Do("POST", "/v1/login",
			fmt.Sprintf(`{"email":%q,"password":%q}`, x.User.Email, x.Password), nil).StatusCode, 200)
		assertTooMany(t, "sign-in to an account never seen at this address", env.Do("POST", "/v1/login",
			fmt.Sprintf(`{"email":%q,"password":"stranger-password-123"}`, stranger.Email), nil), 1, 2)
		mustStatus(t, "healthz", env.Do("GET", "/healthz", "", nil).StatusCode, 200)
		mustStatus(t, "readyz", env.Do("GET", "/readyz", "", nil).StatusCode, 200)
		mustStatus(t, "a valid token with a forged X-Forwarded-For", env.Do("GET", "/v2/user", "",
			map[string]string{"X-WallarmApi-Token": admin, "X-Forwarded-For": "198.51.100.4"}).StatusCode, 200)
		assertTooMany(t, "an invalid token with a forged X-Forwarded-For", env.Do("GET", "/v2/user", "",
			map[string]string{"X-WallarmApi-Token": unknownToken(t), "X-Forwarded-For": "198.51.100.4"}), 1, 2)

		// Another address is not affected.
		if c := clientFrom(t, "127.0.0.2"); c != nil {
			body := fmt.Sprintf(`{"email":%q,"password":"stranger-password-123"}`, stranger.Email)
			req, _ := http.NewRequest("POST", env.URL+"/v1/login", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.Do(req)
			testenv.Must(t, err)
			resp.Body.Close()
			mustStatus(t, "the stranger's sign-in from 127.0.0.2", resp.StatusCode, 200)
		}

		// Refill: wait what Retry-After says (on the server's clock); one
		// failure is forgiven.
		resp := env.Do("GET", "/v2/user", "", map[string]string{"X-WallarmApi-Token": unknownToken(t)})
		wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		env.Clock.Advance(time.Duration(wait)*time.Second + 200*time.Millisecond)
		mustStatus(t, "one more failure after the refill", status(t, env, unknownToken(t), "GET", "/v2/user", ""), 401)
		assertTooMany(t, "after that failure", env.Do("GET", "/v2/user", "", map[string]string{"X-WallarmApi-Token": unknownToken(t)}), 1, 2)
	})
}

// Default: 30 failures per 5 minutes per address; the 31st failure is 429,
// and a valid token still works.
func TestBruteForceDefaultLimit(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		for i := range 30 {
			mustStatus(t, fmt.Sprintf("failure %d", i+1), status(t, env, unknownToken(t), "GET", "/v2/user", ""), 401)
		}
		assertTooMany(t, "31st failure", env.Do("GET", "/v2/user", "", map[string]string{"X-WallarmApi-Token": unknownToken(t)}), 1, 10)
		mustStatus(t, "a valid token", status(t, env, env.Admin.Token, "GET", "/v2/user", ""), 200)
	})
}

// The guard is a token bucket (docs/SECURITY.md): over any span T an address
// gets at most limit + limit×T/window failures through. Here 5 per 2 s,
// hammered for 3 windows: at most 5 + 15 = 20 401s. (One backend: the
// limiter never touches the database.)
func TestBruteForceSustainedRate(t *testing.T) {
	t.Parallel()
	b := testenv.Backends(t)[0]
	const limit, window, span = 5, 2 * time.Second, 6 * time.Second
	env, _ := newEnvWithKey(t, b, false, func(c *server.Config) {
		c.AuthFailureLimit, c.AuthFailureWindow = limit, window
	})
	admitted, refused := 0, 0
	for elapsed := time.Duration(0); elapsed < span; elapsed += 20 * time.Millisecond {
		switch s := status(t, env, unknownToken(t), "GET", "/v2/user", ""); s {
		case 401:
			admitted++
		case 429:
			refused++
		default:
			t.Fatalf("status %d", s)
		}
		env.Clock.Advance(20 * time.Millisecond) // the guard runs on the server's clock
	}
	bound := limit + limit*int(span/window)
	if admitted > bound || admitted < bound-1 {
		t.Fatalf("%d failed attempts got through in %s (%d refused); a bucket of %d refilled over %s allows %d",
			admitted, span, refused, limit, window, bound)
	}
}

// ---- helpers ----

type wantEvent struct {
	name                  string
	action                client.ActivityAction
	tokenID               int64
	userID                *int64 // nil = null
	actorUser, actorToken *int64 // nil = null
	ip                    bool   // "127.0.0.1", else null
	details               map[string]string
	at                    time.Time
}

func (w wantEvent) check(t *testing.T, e client.Activity, clientID int64) {
	t.Helper()
	eq := func(field string, got nullable.Nullable[int64], want *int64) {
		t.Helper()
		g := nullInt(got)
		if (g == nil) != (want == nil) || (g != nil && *g != *want) {
			t.Errorf("%s: %s = %v, want %v", w.name, field, show(g), show(want))
		}
	}
	if e.ClientId != clientID {
		t.Errorf("%s: client_id %d, want %d", w.name, e.ClientId, clientID)
	}
	tid := w.tokenID
	eq("token_id", e.TokenId, &tid)
	eq("user_id", e.UserId, w.userID)
	eq("actor_user_id", e.ActorUserId, w.actorUser)
	eq("actor_token_id", e.ActorTokenId, w.actorToken)
	ip := ipOf(e)
	if w.ip && ip != localIP || !w.ip && ip != "" {
		t.Errorf("%s: ip %q, want %v", w.name, ip, map[bool]string{true: localIP, false: "null"}[w.ip])
	}
	for k, v := range w.details {
		if e.Details[k] != v {
			t.Errorf("%s: details[%s] = %q, want %q (details %v)", w.name, k, e.Details[k], v, e.Details)
		}
	}
	if d := e.CreatedAt.Sub(w.at); d > time.Millisecond || d < -time.Millisecond {
		t.Errorf("%s: created_at %s, want the clock's %s", w.name, e.CreatedAt, w.at)
	}
}

func nullInt(n nullable.Nullable[int64]) *int64 {
	v, err := n.Get()
	if err != nil {
		return nil
	}
	return &v
}

func show(p *int64) string {
	if p == nil {
		return "null"
	}
	return strconv.FormatInt(*p, 10)
}

func ipOf(e client.Activity) string {
	v, _ := e.Ip.Get()
	return v
}

func mustStatus(t testing.TB, what string, got, want int) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %d, want %d", what, got, want)
	}
}

// listPage is one page of GET /v2/activity_log.
func listPage(t testing.TB, env *testenv.Env, cred string, p client.ListActivityParams) client.ActivityList {
	t.Helper()
	r, err := env.Client(cred).ListActivityWithResponse(context.Background(), &p)
	testenv.Must(t, err)
	if r.StatusCode() != 200 {
		t.Fatalf("GET /v2/activity_log: %d %s", r.StatusCode(), r.Body)
	}
	return *r.JSON200
}

// listActivity walks every page.
func listActivity(t testing.TB, env *testenv.Env, cred string, p client.ListActivityParams) []client.Activity {
	t.Helper()
	var all []client.Activity
	for range 1000 {
		pg := listPage(t, env, cred, p)
		all = append(all, pg.Items...)
		c, err := pg.NextCursor.Get()
		if err != nil || c == "" {
			return all
		}
		p.Cursor = &c
	}
	t.Fatal("activity pagination does not end")
	return nil
}

func getToken(t testing.TB, env *testenv.Env, cred string, id int64) client.Token {
	t.Helper()
	r, err := env.Client(cred).GetTokenWithResponse(context.Background(), id)
	testenv.Must(t, err)
	if r.StatusCode() != 200 {
		t.Fatalf("GET token %d: %d %s", id, r.StatusCode(), r.Body)
	}
	return *r.JSON200
}

func currentTokenID(t testing.TB, env *testenv.Env, cred string) int64 {
	t.Helper()
	r, err := env.Client(cred).GetCurrentUserWithResponse(context.Background())
	testenv.Must(t, err)
	if r.StatusCode() != 200 {
		t.Fatalf("GET /v1/user: %d", r.StatusCode())
	}
	id, err := r.JSON200.TokenId.Get()
	if err != nil {
		t.Fatalf("GET /v1/user with a token: no token_id")
	}
	return id
}

func sameIDSet(got map[int64]bool, want ...int64) bool {
	if len(got) != len(want) {
		return false
	}
	for _, id := range want {
		if !got[id] {
			return false
		}
	}
	return true
}

// assertTooMany checks a 429 problem with Retry-After in [lo, hi] seconds.
func assertTooMany(t *testing.T, what string, resp *http.Response, lo, hi int) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 429 {
		t.Fatalf("%s: status %d, want 429: %s", what, resp.StatusCode, body)
	}
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < lo || ra > hi {
		t.Fatalf("%s: Retry-After %q, want an integer in [%d, %d]", what, resp.Header.Get("Retry-After"), lo, hi)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("%s: Content-Type %q, want application/problem+json", what, ct)
	}
	var p client.Problem
	if err := json.Unmarshal(body, &p); err != nil || p.Status != 429 || p.Title == "" || p.Type == "" {
		t.Fatalf("%s: not a 429 problem: %s", what, body)
	}
}

// clientFrom is an HTTP client whose connections come from ip (another
// loopback address), or nil when the system cannot bind it.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Logf("cannot use %s as a second client address (%v): skipping that check", ip, err)
		return nil
	}
	l.Close()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 10 * time.Second}
}

// countUsageWrites counts statements that write last_used_at.
func countUsageWrites(env *testenv.Env) *atomic.Int64 {
	var n atomic.Int64
	env.Observe(func(db *gorm.DB) {
		if isUsageWrite(db) {
			n.Add(1)
		}
	})
	return &n
}

// isUsageWrite recognises the usage flush's statement (one per flush).
func isUsageWrite(db *gorm.DB) bool {
	sql := db.Statement.SQL.String()
	return strings.HasPrefix(sql, "UPDATE tokens SET last_used_at")
}

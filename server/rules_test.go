package server_test

// Scenario tests, one per rule of DESIGN.md §3 (R1…R19; R13 is a later
// issue), with the choices of docs/RULES.md. Every test runs on SQLite and,
// when it answers, PostgreSQL; the world is built through the public API by
// the fixtures, and state is read back through the API (or the store when
// the API cannot show it).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/oapi-codegen/nullable"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/store"
)

// R1: role names expand to their sets; catalog permissions stand for
// themselves; anything else is 400.
func TestR1PermissionExpansion(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)

		// The published catalog is what a role name expands to.
		cat, err := env.Client(admin.Session).ListPermissionsWithResponse(ctx)
		testenv.Must(t, err)
		expectStatus(t, "GET /v2/permissions", cat, 200)
		published := map[string][]string{}
		for _, r := range cat.JSON200.Roles {
			published[string(r.Name)] = r.Permissions
			assertPerms(t, "published expansion of "+string(r.Name), r.Permissions, perm.Role(r.Name).Permissions())
			if r.Description == "" || r.Description != perm.Role(r.Name).Description() {
				t.Errorf("role %s is published with description %q", r.Name, r.Description)
			}
		}
		// Every catalog permission, in catalog order, with what it allows.
		if len(cat.JSON200.Permissions) != len(perm.Catalog()) {
			t.Fatalf("GET /v2/permissions lists %d permissions, the catalog has %d", len(cat.JSON200.Permissions), len(perm.Catalog()))
		}
		for i, p := range perm.Catalog() {
			got := cat.JSON200.Permissions[i]
			if got.Name != string(p) || got.Resource != p.Resource() || got.Action != p.Action() || got.Description == "" || got.Description != p.Description() {
				t.Errorf("published permission %d: %+v, want %s with its description", i, got, p)
			}
		}

		valid := []struct {
			name        string
			permissions []string
			sourceRole  string
			effective   perm.Set
		}{
			{"one role", []string{"admin"}, "admin", setOf(published["admin"])},
			{"another role", []string{"analytic"}, "analytic", setOf(published["analytic"])},
			{"catalog permissions", []string{"nodes:view", "attacks:view"}, "custom", perm.SetOf("nodes:view", "attacks:view")},
			{"role and permission", []string{"analytic", "nodes:create"}, "custom", roleSet(client.Analytic).Union(perm.SetOf("nodes:create"))},
			{"two roles", []string{"deploy", "api_developer"}, "custom", roleSet(client.Deploy).Union(roleSet(client.ApiDeveloper))},
			{"extra permission", []string{"api_tokens:manage"}, "custom", perm.SetOf("api_tokens:manage")},
		}
		for _, tc := range valid {
			t.Run(tc.name, func(t *testing.T) {
				tok := personalToken(t, env, admin.Session, tc.permissions...)
				if !slices.Equal(tok.Permissions, tc.permissions) || tok.SourceRole != tc.sourceRole {
					t.Fatalf("created: permissions %v source_role %q, want %v (as submitted) and %q", tok.Permissions, tok.SourceRole, tc.permissions, tc.sourceRole)
				}
				got := readToken(t, env, admin.Session, tok.Id)
				if !slices.Equal(got.Permissions, tc.permissions) || got.SourceRole != tc.sourceRole {
					t.Fatalf("read back: permissions %v source_role %q, want %v and %q", got.Permissions, got.SourceRole, tc.permissions, tc.sourceRole)
				}
				assertPerms(t, "effective permissions of the token", whoAmI(t, env, tok.Secret).Permissions, tc.effective)
			})
		}

		invalid := []struct {
			name        string
			permissions []string
			unknown     string
			at          string
		}{
			{"unknown role", []string{"superuser"}, "superuser", "/permissions/0"},
			{"unknown resource", []string{"spaceships:view"}, "spaceships:view", "/permissions/0"},
			{"unknown action", []string{"nodes:fly"}, "nodes:fly", "/permissions/0"},
			{"bare resource", []string{"nodes"}, "nodes", "/permissions/0"},
			{"role names are case-sensitive", []string{"Admin"}, "Admin", "/permissions/0"},
			{"one bad among good", []string{"admin", "attacks:viewx"}, "attacks:viewx", "/permissions/1"},
		}
		before := visibleTokenIDs(t, env, admin.Session, nil)
		for _, tc := range invalid {
			t.Run(tc.name, func(t *testing.T) {
				r, err := env.Client(admin.Session).CreateTokenWithResponse(ctx, client.TokenCreate{Realname: "bad", Permissions: tc.permissions})
				testenv.Must(t, err)
				expectStatus(t, "create", r, 400)
				// It names where the bad entry is, never the entry itself
				// (a token pasted there must not come back in an error).
				p := r.ApplicationproblemJSON400
				if p == nil || p.Detail == nil || !strings.Contains(*p.Detail, tc.at) || strings.Contains(string(r.Body), tc.unknown) {
					t.Fatalf("400 detail should point at %s and not echo %q: %s", tc.at, tc.unknown, r.Body)
				}
				if p.Type != client.ProblemTypeUnknownPermission || p.Rule == nil || *p.Rule != "R1" {
					t.Fatalf("problem type %s rule %v, want unknown-permission R1", p.Type, p.Rule)
				}
			})
		}
		if after := visibleTokenIDs(t, env, admin.Session, nil); len(after) != len(before) {
			t.Fatalf("rejected creates left tokens behind: %d before, %d after", len(before), len(after))
		}

		// Update follows R1 too, and a rejected update changes nothing.
		tok := personalToken(t, env, admin.Session, "attacks:view")
		r := putToken(t, env, admin.Session, tok.Id, client.TokenUpdate{Permissions: &[]string{"attacks:view", "nodes:fly"}})
		expectStatus(t, "update with an unknown permission", r, 400)
		if got := readToken(t, env, admin.Session, tok.Id); !slices.Equal(got.Permissions, []string{"attacks:view"}) {
			t.Fatalf("rejected update changed permissions to %v", got.Permissions)
		}
		r = putToken(t, env, admin.Session, tok.Id, client.TokenUpdate{Permissions: &[]string{"analytic", "nodes:create"}})
		expectStatus(t, "update with a role and a permission", r, 200)
		assertPerms(t, "after update", whoAmI(t, env, tok.Secret).Permissions, roleSet(client.Analytic).Union(perm.SetOf("nodes:create")))
	})
}

// R2: a token never exceeds the caller's effective permissions, at
// creation and at every update; a token-authenticated caller is limited by
// its token.
func TestR2CreationCeiling(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		analyst := newPerson(t, env, env.Admin.Token, client.Analytic, 0)

		cases := []struct {
			name        string
			caller      string
			permissions []string
			want        int
		}{
			{"analyst: own role", analyst.Session, []string{"analytic"}, 201},
			{"analyst: subset", analyst.Session, []string{"attacks:view", "rules:update"}, 201},
			{"analyst: admin role", analyst.Session, []string{"admin"}, 403},
			{"analyst: one permission beyond", analyst.Session, []string{"attacks:view", "nodes:create"}, 403},
			{"analyst: users:view", analyst.Session, []string{"users:view"}, 403},
			{"analyst: api_tokens:manage", analyst.Session, []string{"api_tokens:manage"}, 403},
			{"admin: own role", admin.Session, []string{"admin"}, 201},
			{"admin: the global role", admin.Session, []string{"partner_admin"}, 403},
			{"admin: clients:create", admin.Session, []string{"clients:create"}, 403},
			{"global admin: the global role", env.Admin.Token, []string{"partner_admin"}, 201},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r, err := env.Client(tc.caller).CreateTokenWithResponse(ctx, client.TokenCreate{Realname: tc.name, Permissions: tc.permissions})
				testenv.Must(t, err)
				expectStatus(t, "create "+strings.Join(tc.permissions, ","), r, tc.want)
			})
		}

		// A narrow token cannot mint a broader one, although its user could.
		narrow := personalToken(t, env, admin.Session, "api_tokens:view", "api_tokens:create", "api_tokens:update", "attacks:view")
		child := personalToken(t, env, narrow.Secret, "attacks:view")
		if uid, _ := child.UserId.Get(); uid != admin.User.Id {
			t.Fatalf("token created by a token belongs to %d, want its owner %d", uid, admin.User.Id)
		}
		before := visibleTokenIDs(t, env, admin.Session, nil)
		for _, perms := range [][]string{{"admin"}, {"attacks:view", "attacks:update"}, {"api_tokens:manage"}, {"users:view"}} {
			r, err := env.Client(narrow.Secret).CreateTokenWithResponse(ctx, client.TokenCreate{Realname: "wider", Permissions: perms})
			testenv.Must(t, err)
			expectStatus(t, fmt.Sprintf("narrow token creates %v", perms), r, 403)
		}
		if after := visibleTokenIDs(t, env, admin.Session, nil); len(after) != len(before) {
			t.Fatalf("refused creates left tokens behind: %d before, %d after", len(before), len(after))
		}

		// The same ceiling at update.
		own := personalToken(t, env, analyst.Session, "attacks:view")
		r := putToken(t, env, analyst.Session, own.Id, client.TokenUpdate{Permissions: &[]string{"admin"}})
		expectStatus(t, "analyst widens its token to admin", r, 403)
		if got := readToken(t, env, analyst.Session, own.Id); !slices.Equal(got.Permissions, []string{"attacks:view"}) {
			t.Fatalf("refused update changed permissions to %v", got.Permissions)
		}
		r = putToken(t, env, analyst.Session, own.Id, client.TokenUpdate{Permissions: &[]string{"attacks:view", "attacks:update"}})
		expectStatus(t, "analyst changes its token within its role", r, 200)
		if !slices.Equal(r.JSON200.Permissions, []string{"attacks:view", "attacks:update"}) {
			t.Fatalf("updated permissions = %v", r.JSON200.Permissions)
		}

		r = putToken(t, env, narrow.Secret, child.Id, client.TokenUpdate{Permissions: &[]string{"admin"}})
		expectStatus(t, "narrow token widens a token", r, 403)
		if got := readToken(t, env, admin.Session, child.Id); !slices.Equal(got.Permissions, []string{"attacks:view"}) {
			t.Fatalf("refused update changed permissions to %v", got.Permissions)
		}
		r = putToken(t, env, admin.Session, child.Id, client.TokenUpdate{Permissions: &[]string{"admin"}})
		expectStatus(t, "the admin's session widens it", r, 200)
		assertPerms(t, "widened token", whoAmI(t, env, child.Secret).Permissions, roleSet(client.Admin))
	})
}

// R3: effective = expand(token) ∩ owner's current role (personal) or ∩ cap
// role (shared), computed on every request.
func TestR3EffectivePermissionsAtUse(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)

		// Rows the API refuses to create (R2): a list wider than the owner's
		// role. What the token may do is the intersection.
		for _, tc := range []struct {
			role        client.Role
			permissions []string
		}{
			{client.Analytic, []string{"admin"}},
			{client.Auditor, []string{"admin"}},
			{client.Deploy, []string{"admin"}},
			{client.Admin, []string{"partner_admin"}},
			{client.Deploy, []string{"nodes:view", "attacks:view"}},
		} {
			p := newPerson(t, env, env.Admin.Token, tc.role, 0)
			uid := p.User.Id
			v := insertToken(t, env, store.Token{ClientID: p.User.ClientId, UserID: &uid, Permissions: tc.permissions})
			want := expandNames(t, tc.permissions).Intersect(roleSet(tc.role))
			assertPerms(t, fmt.Sprintf("%v token of a %s user", tc.permissions, tc.role), whoAmI(t, env, v).Permissions, want)
			if tc.role == client.Analytic {
				if got := status(t, env, v, "POST", "/v2/nodes", `{"name":"n1"}`); got != 403 {
					t.Fatalf("POST /v2/nodes (nodes:create not in analytic) = %d, want 403", got)
				}
				if got := status(t, env, v, "GET", "/v2/users", ""); got != 403 {
					t.Fatalf("GET /v2/users (users:view not in analytic) = %d, want 403", got)
				}
			}
			if tc.role == client.Admin {
				if got := status(t, env, v, "POST", "/v2/nodes", `{"name":"n2"}`); got != 201 {
					t.Fatalf("POST /v2/nodes as admin = %d, want 201", got)
				}
				if got := status(t, env, v, "POST", "/v2/clients", `{"name":"c"}`); got != 403 {
					t.Fatalf("POST /v2/clients (clients:create not in admin) = %d, want 403", got)
				}
			}
		}

		// The owner's role changes: the very next request uses the new one,
		// however recently the token was verified (no stale copy, no cache).
		owner := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		tok := personalToken(t, env, owner.Session, "admin")
		assertPerms(t, "admin token of an admin", whoAmI(t, env, tok.Secret).Permissions, roleSet(client.Admin))
		if got := status(t, env, tok.Secret, "GET", "/v2/users", ""); got != 200 {
			t.Fatalf("GET /v2/users as admin = %d", got)
		}
		mustPutUser(t, env, env.Admin.Token, owner.User.Id, client.UserUpdate{Role: ref(client.Deploy)})
		if got := status(t, env, tok.Secret, "GET", "/v2/users", ""); got != 403 {
			t.Fatalf("GET /v2/users right after the owner became deploy = %d, want 403", got)
		}
		assertPerms(t, "after the owner became deploy", whoAmI(t, env, tok.Secret).Permissions, roleSet(client.Deploy))
		if got := status(t, env, tok.Secret, "POST", "/v2/nodes", `{"name":"n3"}`); got != 201 {
			t.Fatalf("POST /v2/nodes as deploy = %d, want 201", got)
		}

		// Shared tokens: capped by their cap role, whatever the list says.
		capAdmin := insertToken(t, env, store.Token{ClientID: env.Admin.ClientID, Shared: true, CapRole: "admin", Permissions: []string{"partner_admin"}})
		assertPerms(t, "shared token capped at admin", whoAmI(t, env, capAdmin).Permissions, roleSet(client.Admin))
		capPartner := insertToken(t, env, store.Token{ClientID: env.Admin.ClientID, Shared: true, CapRole: "partner_admin", Permissions: []string{"partner_admin"}})
		assertPerms(t, "shared token capped at partner_admin", whoAmI(t, env, capPartner).Permissions, roleSet(client.PartnerAdmin))

		// Through the API: the cap is partner_admin when a Global
		// Administrator creates the shared token, admin otherwise.
		global := sharedToken(t, env, env.Admin.Token, "partner_admin")
		assertPerms(t, "Global Administrator's shared token", whoAmI(t, env, global.Secret).Permissions, roleSet(client.PartnerAdmin))
		companyAdmin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		company := sharedToken(t, env, companyAdmin.Session, "admin")
		assertPerms(t, "Administrator's shared token", whoAmI(t, env, company.Secret).Permissions, roleSet(client.Admin))
		// The cap does not follow the creator's later role.
		mustPutUser(t, env, env.Admin.Token, companyAdmin.User.Id, client.UserUpdate{Role: ref(client.Auditor)})
		assertPerms(t, "shared token after its creator's demotion", whoAmI(t, env, company.Secret).Permissions, roleSet(client.Admin))
	})
}

// R4: personal tokens are held by roles with api_tokens:create, and always
// belong to the caller.
func TestR4PersonalTokensBelongToCaller(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		other := newPerson(t, env, env.Admin.Token, client.Analytic, 0)

		roles := []struct {
			role    client.Role
			canHold bool
		}{
			{client.Admin, true},
			{client.Analytic, true},
			{client.PartnerAdmin, true},
			{client.PartnerAnalytic, true},
			{client.Auditor, false},
			{client.ApiDeveloper, false},
			{client.Deploy, false},
			{client.PartnerAuditor, false},
		}
		for _, tc := range roles {
			t.Run(string(tc.role), func(t *testing.T) {
				p := newPerson(t, env, env.Admin.Token, tc.role, 0)
				c := env.Client(p.Session)
				r, err := c.CreateTokenWithResponse(ctx, client.TokenCreate{Realname: "mine", Permissions: []string{string(tc.role)}})
				testenv.Must(t, err)
				if !tc.canHold {
					expectStatus(t, "create a personal token", r, 403)
					return
				}
				expectStatus(t, "create a personal token", r, 201)
				tok := r.JSON201
				uid, _ := tok.UserId.Get()
				by, _ := tok.CreatedBy.Get()
				if uid != p.User.Id || by != p.User.Id || tok.Shared || tok.ClientId != p.User.ClientId {
					t.Fatalf("token: user_id %d created_by %d shared %v client_id %d; want the caller %d in %d, personal",
						uid, by, tok.Shared, tok.ClientId, p.User.Id, p.User.ClientId)
				}
				// user_id naming the caller is fine.
				r, err = c.CreateTokenWithResponse(ctx, client.TokenCreate{Realname: "mine too", Permissions: []string{"attacks:view"}, UserId: &p.User.Id})
				testenv.Must(t, err)
				expectStatus(t, "create with user_id = caller", r, 201)
				// Nobody creates a personal token for someone else.
				r, err = c.CreateTokenWithResponse(ctx, client.TokenCreate{Realname: "for other", Permissions: []string{"attacks:view"}, UserId: &other.User.Id})
				testenv.Must(t, err)
				expectStatus(t, "create with user_id = someone else", r, 403)
			})
		}
		if ids := visibleTokenIDs(t, env, env.Admin.Token, &client.ListTokensParams{UserId: &other.User.Id}); len(ids) != 0 {
			t.Fatalf("refused creates gave the other user tokens: %v", ids)
		}

		// A token of a person creates tokens of that person.
		admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		tok := personalToken(t, env, admin.Session, "admin")
		child := personalToken(t, env, tok.Secret, "attacks:view")
		if uid, _ := child.UserId.Get(); uid != admin.User.Id {
			t.Fatalf("token created with a token belongs to %d, want %d", uid, admin.User.Id)
		}
		// A shared token has no person: it cannot create personal tokens.
		shared := sharedToken(t, env, admin.Session, "admin")
		for name, body := range map[string]client.TokenCreate{
			"no user_id":        {Realname: "x", Permissions: []string{"attacks:view"}},
			"creator's user_id": {Realname: "x", Permissions: []string{"attacks:view"}, UserId: &admin.User.Id},
		} {
			r, err := env.Client(shared.Secret).CreateTokenWithResponse(ctx, body)
			testenv.Must(t, err)
			expectStatus(t, "shared token creates a personal token, "+name, r, 403)
		}
	})
}

// R5: shared tokens are created with api_tokens:manage, owned by the
// company, and survive their creator's demotion and removal.
func TestR5SharedTokens(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		analyst := newPerson(t, env, env.Admin.Token, client.Analytic, 0)

		shared := sharedToken(t, env, admin.Session, "admin")
		by, _ := shared.CreatedBy.Get()
		if !shared.Shared || !shared.UserId.IsNull() || by != admin.User.Id || shared.ClientId != admin.User.ClientId {
			t.Fatalf("shared token: shared %v user_id %v created_by %d client_id %d", shared.Shared, shared.UserId, by, shared.ClientId)
		}
		me := whoAmI(t, env, shared.Secret)
		if me.Id != 0 || me.ClientId != admin.User.ClientId || me.Realname != shared.Realname {
			t.Fatalf("GET /v1/user with a shared token: id %d client %d realname %q", me.Id, me.ClientId, me.Realname)
		}
		if tid, _ := me.TokenId.Get(); tid != shared.Id {
			t.Fatalf("token_id = %d, want %d", tid, shared.Id)
		}
		assertPerms(t, "shared token", me.Permissions, roleSet(client.Admin))

		// Creating one needs api_tokens:manage: not an analyst, not a token without it.
		yes := true
		r, err := env.Client(analyst.Session).CreateTokenWithResponse(ctx, client.TokenCreate{Realname: "s", Permissions: []string{"attacks:view"}, Shared: &yes})
		testenv.Must(t, err)
		expectStatus(t, "analyst creates a shared token", r, 403)
		narrow := personalToken(t, env, admin.Session, "api_tokens:create", "attacks:view")
		r, err = env.Client(narrow.Secret).CreateTokenWithResponse(ctx, client.TokenCreate{Realname: "s", Permissions: []string{"attacks:view"}, Shared: &yes})
		testenv.Must(t, err)
		expectStatus(t, "token without api_tokens:manage creates a shared token", r, 403)

		// It survives its creator's demotion, untouched (R12 is for personal tokens)...
		personal := personalToken(t, env, admin.Session, "admin")
		mustPutUser(t, env, env.Admin.Token, admin.User.Id, client.UserUpdate{Role: ref(client.Analytic)})
		got := readToken(t, env, env.Admin.Token, shared.Id)
		if !got.Enabled || !slices.Equal(got.Permissions, []string{"admin"}) {
			t.Fatalf("shared token after its creator's demotion: enabled %v permissions %v", got.Enabled, got.Permissions)
		}
		assertPerms(t, "shared token after its creator's demotion", whoAmI(t, env, shared.Secret).Permissions, roleSet(client.Admin))

		// ... and its removal, while the creator's personal tokens go.
		d, err := env.Client(env.Admin.Token).DeleteUserWithResponse(ctx, admin.User.Id)
		testenv.Must(t, err)
		expectStatus(t, "delete the creator", d, 204)
		assertPerms(t, "shared token after its creator's removal", whoAmI(t, env, shared.Secret).Permissions, roleSet(client.Admin))
		if got := readToken(t, env, env.Admin.Token, shared.Id); !got.Enabled || !got.Shared {
			t.Fatalf("shared token after its creator's removal: %+v", got)
		}
		if got := tokenStatus(t, env, env.Admin.Token, personal.Id); got != 404 {
			t.Fatalf("creator's personal token after removal: GET = %d, want 404", got)
		}
		if got := authStatus(t, env, personal.Secret); got != 401 {
			t.Fatalf("creator's personal token after removal authenticates: %d", got)
		}
	})
}

// R6: with api_tokens:manage a caller sees every token of its companies
// (metadata only); others see only their own; the rest is 404.
func TestR6Visibility(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		x := newPerson(t, env, env.Admin.Token, client.Analytic, 0)
		y := newPerson(t, env, env.Admin.Token, client.Analytic, 0)

		tx := personalToken(t, env, x.Session, "attacks:view")
		ty := personalToken(t, env, y.Session, "attacks:view")
		ta := personalToken(t, env, admin.Session, "admin")
		sa := sharedToken(t, env, admin.Session, "admin")
		sv := sharedToken(t, env, admin.Session, "api_tokens:view", "attacks:view") // shared, without manage

		// Without api_tokens:manage: one's own tokens only.
		if ids := visibleTokenIDs(t, env, x.Session, nil); !sameIDs(ids, tx.Id) {
			t.Fatalf("analyst sees %v, want only its own %d", ids, tx.Id)
		}
		if got := readToken(t, env, x.Session, tx.Id); got.Id != tx.Id {
			t.Fatalf("own token read back as %d", got.Id)
		}
		const nonexistent = 900719925474099
		notFound := problemOf(t, env.Do("GET", fmt.Sprintf("/v2/api_tokens/%d", nonexistent), "", auth(x.Session)))
		for _, target := range []struct {
			name string
			id   int64
		}{{"another analyst's token", ty.Id}, {"an admin's token", ta.Id}, {"a shared token", sa.Id}} {
			for _, call := range []struct{ method, path, body string }{
				{"GET", "/v2/api_tokens/%d", ""},
				{"PUT", "/v2/api_tokens/%d", `{"realname":"mine now"}`},
				{"DELETE", "/v2/api_tokens/%d", ""},
				{"GET", "/v2/api_tokens/%d/secret", ""},
				{"POST", "/v2/api_tokens/%d/renew", `{}`},
			} {
				path := fmt.Sprintf(call.path, target.id)
				resp := env.Do(call.method, path, call.body, auth(x.Session))
				if resp.StatusCode != 404 {
					t.Fatalf("analyst %s %s (%s) = %d, want 404", call.method, path, target.name, resp.StatusCode)
				}
				// No existence oracle: the same problem as for a token that does not exist.
				if p := problemOf(t, resp); p.Type != notFound.Type || p.Title != notFound.Title ||
					strings.ReplaceAll(deref(p.Detail), strconv.FormatInt(target.id, 10), "ID") != strings.ReplaceAll(deref(notFound.Detail), strconv.FormatInt(nonexistent, 10), "ID") {
					t.Fatalf("%s %s: 404 differs from a missing token's: %+v vs %+v", call.method, path, p, notFound)
				}
			}
		}
		// Nothing happened to them.
		if got := readToken(t, env, y.Session, ty.Id); got.Realname == "mine now" {
			t.Fatal("an invisible token was renamed")
		}
		for _, v := range []string{ty.Secret, ta.Secret, sa.Secret} {
			if got := authStatus(t, env, v); got != 200 {
				t.Fatalf("an invisible token was deleted, disabled or renewed: %d", got)
			}
		}

		// With api_tokens:manage: every token of the company, metadata only.
		all := visibleTokenIDs(t, env, admin.Session, nil)
		for _, id := range []int64{tx.Id, ty.Id, ta.Id, sa.Id, sv.Id} {
			if !all[id] {
				t.Fatalf("admin's list %v lacks token %d", all, id)
			}
		}
		for _, path := range []string{"/v2/api_tokens", fmt.Sprintf("/v2/api_tokens/%d", tx.Id)} {
			resp := env.Do("GET", path, "", auth(admin.Session))
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || strings.Contains(string(body), `"secret"`) || strings.Contains(string(body), tx.Secret) {
				t.Fatalf("GET %s as admin: %d, must be metadata only:\n%s", path, resp.StatusCode, body)
			}
		}
		if ids := visibleTokenIDs(t, env, admin.Session, &client.ListTokensParams{UserId: &x.User.Id}); !sameIDs(ids, tx.Id) {
			t.Fatalf("admin's list filtered by user_id=%d: %v", x.User.Id, ids)
		}
		if ids := visibleTokenIDs(t, env, admin.Session, &client.ListTokensParams{Shared: ref(true)}); !sameIDs(ids, sa.Id, sv.Id) {
			t.Fatalf("admin's list filtered by shared: %v, want %d and %d", ids, sa.Id, sv.Id)
		}

		// A shared token without api_tokens:manage sees none, not even itself.
		if ids := visibleTokenIDs(t, env, sv.Secret, nil); len(ids) != 0 {
			t.Fatalf("shared token without manage sees %v", ids)
		}
		for _, id := range []int64{tx.Id, sv.Id} {
			if got := tokenStatus(t, env, sv.Secret, id); got != 404 {
				t.Fatalf("shared token without manage reads token %d: %d, want 404", id, got)
			}
		}
	})
}

// R7: at expire_at the token stops at once; the expiry job marks it
// disabled with disabled_at = expire_at; a past expire_at at create is 400.
func TestR7Expiration(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		x := newPerson(t, env, env.Admin.Token, client.Analytic, 0)
		start := env.Clock.Now()
		expireAt := start.Add(time.Hour)

		expiring := newToken(t, env, x.Session, client.TokenCreate{Permissions: []string{"attacks:view"}, ExpireAt: at(expireAt)})
		if got, ok := timeOf(expiring.ExpireAt); !ok || !sameInstant(got, expireAt) {
			t.Fatalf("expire_at = %v, want %v", expiring.ExpireAt, expireAt)
		}
		forever := personalToken(t, env, x.Session, "attacks:view")
		if !forever.ExpireAt.IsNull() {
			t.Fatalf("token without expire_at: expire_at = %v, want null", forever.ExpireAt)
		}

		for _, past := range []time.Duration{time.Second, 24 * time.Hour} {
			r, err := env.Client(x.Session).CreateTokenWithResponse(ctx, client.TokenCreate{Realname: "past", Permissions: []string{"attacks:view"}, ExpireAt: at(start.Add(-past))})
			testenv.Must(t, err)
			expectStatus(t, fmt.Sprintf("create with expire_at %v ago", past), r, 400)
		}

		env.Clock.Advance(time.Hour - time.Second)
		if got := authStatus(t, env, expiring.Secret); got != 200 {
			t.Fatalf("one second before expire_at: %d, want 200", got)
		}
		env.Clock.Advance(time.Second)
		if got := authStatus(t, env, expiring.Secret); got != 401 {
			t.Fatalf("at expire_at: %d, want 401", got)
		}

		// The expiry job, later: disabled, disabled_at = expire_at.
		env.Clock.Advance(10 * time.Minute)
		n, err := env.Store.DisableExpired(ctx)
		testenv.Must(t, err)
		if n != 1 {
			t.Fatalf("DisableExpired = %d, want 1", n)
		}
		got := readToken(t, env, env.Admin.Token, expiring.Id)
		if d, ok := timeOf(got.DisabledAt); got.Enabled || !ok || !sameInstant(d, expireAt) {
			t.Fatalf("expired token after the job: enabled %v disabled_at %v, want false and %v", got.Enabled, got.DisabledAt, expireAt)
		}
		if got := authStatus(t, env, expiring.Secret); got != 401 {
			t.Fatalf("expired token after the job: %d", got)
		}
		if n, err := env.Store.DisableExpired(ctx); err != nil || n != 0 {
			t.Fatalf("second DisableExpired = %d, %v; want 0", n, err)
		}

		// A token without expire_at is untouched, even years later.
		env.Clock.Advance(10 * 365 * 24 * time.Hour)
		if n, err := env.Store.DisableExpired(ctx); err != nil || n != 0 {
			t.Fatalf("DisableExpired years later = %d, %v; want 0", n, err)
		}
		if got := readToken(t, env, env.Admin.Token, forever.Id); !got.Enabled || !got.DisabledAt.IsNull() {
			t.Fatalf("never-expiring token: enabled %v disabled_at %v", got.Enabled, got.DisabledAt)
		}
		if got := authStatus(t, env, forever.Secret); got != 200 {
			t.Fatalf("never-expiring token years later: %d", got)
		}
	})
}

// R8: a disabled token stops on the next request; re-enabling needs a
// future expire_at (or explicit null) in the same request.
func TestR8DisableEnable(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		x := newPerson(t, env, env.Admin.Token, client.Analytic, 0)
		tok := personalToken(t, env, x.Session, "attacks:view")
		if got := authStatus(t, env, tok.Secret); got != 200 { // and warm any cache
			t.Fatalf("new token: %d", got)
		}

		disable := func() time.Time {
			t.Helper()
			env.Clock.Advance(time.Minute)
			now := env.Clock.Now()
			r := putToken(t, env, x.Session, tok.Id, client.TokenUpdate{Enabled: ref(false)})
			expectStatus(t, "disable", r, 200)
			if d, ok := timeOf(r.JSON200.DisabledAt); r.JSON200.Enabled || !ok || !sameInstant(d, now) {
				t.Fatalf("disabled token: enabled %v disabled_at %v, want false and %v", r.JSON200.Enabled, r.JSON200.DisabledAt, now)
			}
			if got := authStatus(t, env, tok.Secret); got != 401 {
				t.Fatalf("the very next request with a disabled token: %d, want 401", got)
			}
			return now
		}
		disabledAt := disable()

		const detail = "expire_at must be in the future to re-enable a token"
		refused := func(name string, body client.TokenUpdate) {
			t.Helper()
			r := putToken(t, env, x.Session, tok.Id, body)
			expectStatus(t, "re-enable with "+name, r, 400)
			if p := r.ApplicationproblemJSON400; p == nil || !strings.Contains(deref(p.Detail), detail) {
				t.Fatalf("re-enable with %s: detail should say %q: %s", name, detail, r.Body)
			}
			got := readToken(t, env, x.Session, tok.Id)
			if d, _ := timeOf(got.DisabledAt); got.Enabled || !sameInstant(d, disabledAt) || got.Realname == "renamed" {
				t.Fatalf("rejected re-enable changed the token: %+v", got)
			}
			if got := authStatus(t, env, tok.Secret); got != 401 {
				t.Fatalf("after a rejected re-enable: %d", got)
			}
		}
		refused("no expire_at", client.TokenUpdate{Enabled: ref(true)})
		refused("expire_at in the past", client.TokenUpdate{Enabled: ref(true), ExpireAt: at(env.Clock.Now().Add(-time.Second))})
		refused("a new name but no expire_at", client.TokenUpdate{Enabled: ref(true), Realname: ref("renamed")})
		// A future expire_at stored by an earlier request does not count: it
		// must come with the re-enabling request.
		r := putToken(t, env, x.Session, tok.Id, client.TokenUpdate{ExpireAt: at(env.Clock.Now().Add(time.Hour))})
		expectStatus(t, "set expire_at on a disabled token", r, 200)
		if r.JSON200.Enabled {
			t.Fatal("setting expire_at enabled the token")
		}
		refused("expire_at set by an earlier request", client.TokenUpdate{Enabled: ref(true)})

		future := env.Clock.Now().Add(24 * time.Hour)
		r = putToken(t, env, x.Session, tok.Id, client.TokenUpdate{Enabled: ref(true), ExpireAt: at(future)})
		expectStatus(t, "re-enable with a future expire_at", r, 200)
		if e, ok := timeOf(r.JSON200.ExpireAt); !r.JSON200.Enabled || !ok || !sameInstant(e, future) || !r.JSON200.DisabledAt.IsNull() {
			t.Fatalf("re-enabled: enabled %v expire_at %v disabled_at %v", r.JSON200.Enabled, r.JSON200.ExpireAt, r.JSON200.DisabledAt)
		}
		if got := authStatus(t, env, tok.Secret); got != 200 {
			t.Fatalf("re-enabled token: %d", got)
		}

		disable()
		r = putToken(t, env, x.Session, tok.Id, client.TokenUpdate{Enabled: ref(true), ExpireAt: never()})
		expectStatus(t, "re-enable with expire_at null (never)", r, 200)
		if !r.JSON200.Enabled || !r.JSON200.ExpireAt.IsNull() {
			t.Fatalf("re-enabled for ever: enabled %v expire_at %v", r.JSON200.Enabled, r.JSON200.ExpireAt)
		}
		if got := authStatus(t, env, tok.Secret); got != 200 {
			t.Fatalf("re-enabled token: %d", got)
		}

		// Created disabled.
		off := newToken(t, env, x.Session, client.TokenCreate{Permissions: []string{"attacks:view"}, Enabled: ref(false)})
		if off.Enabled || off.DisabledAt.IsNull() {
			t.Fatalf("created with enabled=false: enabled %v disabled_at %v", off.Enabled, off.DisabledAt)
		}
		if got := authStatus(t, env, off.Secret); got != 401 {
			t.Fatalf("token created disabled authenticates: %d", got)
		}
	})
}

// R9: the value can be read back by the owner of a personal token and by
// api_tokens:manage for shared ones; nobody else; never in show-once mode.
func TestR9SecretRetrieval(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		t.Run("retrievable", func(t *testing.T) {
			env := testenv.New(t, b)
			adminA := newPerson(t, env, env.Admin.Token, client.Admin, 0)
			adminB := newPerson(t, env, env.Admin.Token, client.Admin, 0)
			x := newPerson(t, env, env.Admin.Token, client.Analytic, 0)
			y := newPerson(t, env, env.Admin.Token, client.Analytic, 0)

			tx := personalToken(t, env, x.Session, "analytic")
			ta := personalToken(t, env, adminA.Session, "admin")
			sa := sharedToken(t, env, adminA.Session, "admin")
			sv := sharedToken(t, env, adminA.Session, "api_tokens:view", "attacks:view")

			cases := []struct {
				name   string
				caller string
				tok    client.TokenWithSecret
				want   int
			}{
				{"owner, by session", x.Session, tx, 200},
				{"owner, by the token itself", tx.Secret, tx, 200},
				{"admin, someone else's personal token", adminA.Session, tx, 403},
				{"global admin, someone else's personal token", env.Admin.Token, tx, 403},
				{"another analyst", y.Session, tx, 404},
				{"admin, own personal token", adminA.Session, ta, 200},
				{"another admin, an admin's personal token", adminB.Session, ta, 403},
				{"shared: its creator", adminA.Session, sa, 200},
				{"shared: another admin (manage)", adminB.Session, sa, 200},
				{"shared: global admin (manage)", env.Admin.Token, sa, 200},
				{"shared: its own value", sa.Secret, sa, 200},
				{"shared: an analyst", x.Session, sa, 404},
				{"shared without manage: itself", sv.Secret, sv, 404},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					r, err := env.Client(tc.caller).GetTokenSecretWithResponse(context.Background(), tc.tok.Id)
					testenv.Must(t, err)
					expectStatus(t, "GET secret", r, tc.want)
					if tc.want == 200 && r.JSON200.Secret != tc.tok.Secret {
						t.Fatalf("secret read back differs from the one created")
					}
					if tc.want != 200 && strings.Contains(string(r.Body), tc.tok.Secret) {
						t.Fatalf("refusal leaks the secret: %s", r.Body)
					}
				})
			}
		})

		t.Run("show-once", func(t *testing.T) {
			env := testenv.New(t, b, testenv.Options{ShowOnce: true})
			ctx := context.Background()
			x := newPerson(t, env, env.Admin.Token, client.Analytic, 0)
			tx := personalToken(t, env, x.Session, "attacks:view")
			if !strings.HasPrefix(tx.Secret, secret.PrefixAPI) || authStatus(t, env, tx.Secret) != 200 {
				t.Fatalf("create in show-once mode must still return a working value, got %q", tx.Secret)
			}
			sa := sharedToken(t, env, env.Admin.Token, "admin")

			missing := problemOf(t, env.Do("GET", "/v2/api_tokens/900719925474099/secret", "", auth(x.Session)))
			for _, c := range []struct {
				caller string
				id     int64
			}{{x.Session, tx.Id}, {env.Admin.Token, sa.Id}} {
				resp := env.Do("GET", fmt.Sprintf("/v2/api_tokens/%d/secret", c.id), "", auth(c.caller))
				if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" {
					t.Fatalf("GET secret in show-once mode: %d %q, want 404 problem", resp.StatusCode, resp.Header.Get("Content-Type"))
				}
				p := problemOf(t, resp)
				if deref(p.Detail) == "" || deref(p.Detail) == deref(missing.Detail) {
					t.Fatalf("show-once 404 should say why (retrieval is off), got %q (a missing token says %q)", deref(p.Detail), deref(missing.Detail))
				}
			}

			// Renew still hands out the new value, this once.
			r, err := env.Client(x.Session).RenewTokenWithResponse(ctx, tx.Id, client.RenewRequest{})
			testenv.Must(t, err)
			expectStatus(t, "renew in show-once mode", r, 200)
			if r.JSON200.Secret == "" || r.JSON200.Secret == tx.Secret || authStatus(t, env, r.JSON200.Secret) != 200 {
				t.Fatalf("renew in show-once mode: new value %q does not work", r.JSON200.Secret)
			}
		})
	})
}

// R10: renew issues a new value; the old one stops at once, or after a
// grace period of at most 24 h.
func TestR10Renew(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		x := newPerson(t, env, env.Admin.Token, client.Analytic, 0)
		y := newPerson(t, env, env.Admin.Token, client.Analytic, 0)
		admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		tok := personalToken(t, env, x.Session, "attacks:view")
		v1 := tok.Secret
		if authStatus(t, env, v1) != 200 {
			t.Fatal("new token does not authenticate")
		}

		renew := func(caller string, id int64, grace *int32) *client.RenewTokenResponse {
			t.Helper()
			r, err := env.Client(caller).RenewTokenWithResponse(ctx, id, client.RenewRequest{GracePeriodSeconds: grace})
			testenv.Must(t, err)
			return r
		}

		// Without grace: the old value stops at once.
		env.Clock.Advance(time.Minute)
		r := renew(x.Session, tok.Id, nil)
		expectStatus(t, "renew", r, 200)
		v2 := r.JSON200.Secret
		if r.JSON200.Id != tok.Id || v2 == "" || v2 == v1 || !strings.HasPrefix(v2, secret.PrefixAPI) {
			t.Fatalf("renewed: id %d value %q", r.JSON200.Id, v2)
		}
		if ra, ok := timeOf(r.JSON200.RenewedAt); !ok || !sameInstant(ra, env.Clock.Now()) {
			t.Fatalf("renewed_at = %v, want %v", r.JSON200.RenewedAt, env.Clock.Now())
		}
		if got := authStatus(t, env, v1); got != 401 {
			t.Fatalf("old value right after renew without grace: %d, want 401", got)
		}
		if got := authStatus(t, env, v2); got != 200 {
			t.Fatalf("new value: %d", got)
		}
		if s, err := env.Client(x.Session).GetTokenSecretWithResponse(ctx, tok.Id); err != nil || s.StatusCode() != 200 || s.JSON200.Secret != v2 {
			t.Fatalf("secret read back after renew is not the new value: %v %s", err, s.Body)
		}

		// With grace: both work for that long, then only the new one.
		r = renew(x.Session, tok.Id, ref[int32](3600))
		expectStatus(t, "renew with a 1 h grace period", r, 200)
		v3 := r.JSON200.Secret
		for name, v := range map[string]string{"old": v2, "new": v3} {
			if got := authStatus(t, env, v); got != 200 {
				t.Fatalf("%s value during the grace period: %d", name, got)
			}
		}
		env.Clock.Advance(59 * time.Minute)
		if got := authStatus(t, env, v2); got != 200 {
			t.Fatalf("old value 59 min into a 1 h grace period: %d", got)
		}
		env.Clock.Advance(2 * time.Minute)
		if got := authStatus(t, env, v2); got != 401 {
			t.Fatalf("old value after the grace period: %d, want 401", got)
		}
		if got := authStatus(t, env, v3); got != 200 {
			t.Fatalf("new value after the grace period: %d", got)
		}
		if got := authStatus(t, env, v1); got != 401 {
			t.Fatalf("first value came back: %d", got)
		}

		// Who may renew: not an administrator (it would learn the value), not someone who cannot see it.
		expectStatus(t, "admin renews someone else's personal token", renew(admin.Session, tok.Id, nil), 403)
		expectStatus(t, "global admin renews someone else's personal token", renew(env.Admin.Token, tok.Id, nil), 403)
		expectStatus(t, "another analyst renews it", renew(y.Session, tok.Id, nil), 404)
		if got := authStatus(t, env, v3); got != 200 {
			t.Fatalf("refused renewals changed the value: %d", got)
		}

		// A shared token: any caller with api_tokens:manage.
		sa := sharedToken(t, env, admin.Session, "attacks:view")
		r = renew(env.Admin.Token, sa.Id, nil)
		expectStatus(t, "manage renews a shared token", r, 200)
		if authStatus(t, env, sa.Secret) != 401 || authStatus(t, env, r.JSON200.Secret) != 200 {
			t.Fatal("shared token renew: old value must stop, new value must work")
		}

		// At most 24 h (last: it outlives the 12 h sessions).
		expectStatus(t, "grace 86401 s", renew(x.Session, tok.Id, ref[int32](86401)), 400)
		expectStatus(t, "grace -1 s", renew(x.Session, tok.Id, ref[int32](-1)), 400)
		r = renew(x.Session, tok.Id, ref[int32](86400))
		expectStatus(t, "grace 86400 s", r, 200)
		v4 := r.JSON200.Secret
		env.Clock.Advance(24*time.Hour - time.Second)
		if got := authStatus(t, env, v3); got != 200 {
			t.Fatalf("old value just inside a 24 h grace period: %d", got)
		}
		env.Clock.Advance(2 * time.Second)
		if got := authStatus(t, env, v3); got != 401 {
			t.Fatalf("old value after a 24 h grace period: %d", got)
		}
		if got := authStatus(t, env, v4); got != 200 {
			t.Fatalf("new value after a 24 h grace period: %d", got)
		}
	})
}

// R11: disabling the owner disables its personal tokens (disabled_at = now)
// and ends its sessions; re-enabling it re-enables nothing; deleting it
// deletes its personal tokens, and shared ones stay.
func TestR11OwnerDisabledOrDeleted(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		x := newPerson(t, env, env.Admin.Token, client.Analytic, 0)
		t1 := personalToken(t, env, x.Session, "attacks:view")
		t2 := newToken(t, env, x.Session, client.TokenCreate{Permissions: []string{"analytic"}, ExpireAt: at(env.Clock.Now().Add(30 * 24 * time.Hour))})
		for _, v := range []string{t1.Secret, t2.Secret, x.Session} {
			if got := authStatus(t, env, v); got != 200 {
				t.Fatalf("before: %d", got)
			}
		}

		env.Clock.Advance(time.Hour)
		disabledAt := env.Clock.Now()
		if u := mustPutUser(t, env, env.Admin.Token, x.User.Id, client.UserUpdate{Enabled: ref(false)}); u.Enabled {
			t.Fatal("user still enabled")
		}
		checkDisabled := func(when string) {
			t.Helper()
			for _, tok := range []client.TokenWithSecret{t1, t2} {
				got := readToken(t, env, env.Admin.Token, tok.Id)
				if d, ok := timeOf(got.DisabledAt); got.Enabled || !ok || !sameInstant(d, disabledAt) {
					t.Fatalf("%s: token %d enabled %v disabled_at %v, want false and %v", when, tok.Id, got.Enabled, got.DisabledAt, disabledAt)
				}
				if got := authStatus(t, env, tok.Secret); got != 401 {
					t.Fatalf("%s: token %d authenticates: %d", when, tok.Id, got)
				}
			}
			if got := authStatus(t, env, x.Session); got != 401 {
				t.Fatalf("%s: session authenticates: %d", when, got)
			}
		}
		checkDisabled("owner disabled")

		// Re-enabling the user leaves the tokens disabled and the old session ended.
		env.Clock.Advance(time.Minute)
		mustPutUser(t, env, env.Admin.Token, x.User.Id, client.UserUpdate{Enabled: ref(true)})
		checkDisabled("owner re-enabled")
		// The user signs in again and re-enables a token explicitly (R8).
		sess := login(t, env, x.User.Email, x.Password)
		r := putToken(t, env, sess, t1.Id, client.TokenUpdate{Enabled: ref(true), ExpireAt: never()})
		expectStatus(t, "owner re-enables its token", r, 200)
		if got := authStatus(t, env, t1.Secret); got != 200 {
			t.Fatalf("re-enabled token: %d", got)
		}

		// Deleting a user deletes its personal tokens; its shared tokens stay.
		admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		personal := personalToken(t, env, admin.Session, "admin")
		shared := sharedToken(t, env, admin.Session, "attacks:view")
		d, err := env.Client(env.Admin.Token).DeleteUserWithResponse(ctx, admin.User.Id)
		testenv.Must(t, err)
		expectStatus(t, "delete user", d, 204)
		if got := authStatus(t, env, personal.Secret); got != 401 {
			t.Fatalf("deleted user's token authenticates: %d", got)
		}
		if got := tokenStatus(t, env, env.Admin.Token, personal.Id); got != 404 {
			t.Fatalf("deleted user's token: GET = %d, want 404", got)
		}
		if tokenRowExists(t, env, personal.Id) {
			t.Fatal("deleted user's token row is still in the database")
		}
		if got := authStatus(t, env, shared.Secret); got != 200 {
			t.Fatalf("deleted user's shared token: %d, want 200", got)
		}
		if got := authStatus(t, env, admin.Session); got != 401 {
			t.Fatalf("deleted user's session: %d, want 401", got)
		}
		g, err := env.Client(env.Admin.Token).GetUserWithResponse(ctx, admin.User.Id)
		testenv.Must(t, err)
		expectStatus(t, "GET deleted user", g, 404)
	})
}

// R12: a role change removes, persistently, every permission the new role
// lacks from the owner's personal tokens; a token left empty is disabled.
func TestR12OwnerReduced(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		p := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		tAdmin := personalToken(t, env, p.Session, "admin")
		tAnalytic := personalToken(t, env, p.Session, "analytic")
		tMixed := personalToken(t, env, p.Session, "nodes:create", "attacks:view", "users:view")
		tUsers := personalToken(t, env, p.Session, "users:view")
		sP := sharedToken(t, env, p.Session, "admin")

		env.Clock.Advance(time.Hour)
		demotedAt := env.Clock.Now()
		if u := mustPutUser(t, env, env.Admin.Token, p.User.Id, client.UserUpdate{Role: ref(client.Analytic)}); u.Role != client.Analytic {
			t.Fatalf("role = %s", u.Role)
		}

		analytic := roleSet(client.Analytic)
		check := func(when string) {
			t.Helper()
			// A role only partly covered becomes the covered permissions.
			g := readToken(t, env, env.Admin.Token, tAdmin.Id)
			if contains(g.Permissions, "admin") || expandNames(t, g.Permissions) != analytic || !g.Enabled || g.SourceRole != "custom" {
				t.Fatalf("%s: admin token: permissions %v (expands to %v) enabled %v source_role %q; want the analytic set, enabled, custom",
					when, g.Permissions, expandNames(t, g.Permissions).Strings(), g.Enabled, g.SourceRole)
			}
			// A role fully covered stays as it is.
			g = readToken(t, env, env.Admin.Token, tAnalytic.Id)
			if !slices.Equal(g.Permissions, []string{"analytic"}) || g.SourceRole != "analytic" || !g.Enabled {
				t.Fatalf("%s: analytic token: %v %q enabled %v", when, g.Permissions, g.SourceRole, g.Enabled)
			}
			// Permissions not granted go, the rest keep their order.
			g = readToken(t, env, env.Admin.Token, tMixed.Id)
			if !slices.Equal(g.Permissions, []string{"attacks:view"}) || !g.Enabled {
				t.Fatalf("%s: mixed token: %v enabled %v, want [attacks:view] enabled", when, g.Permissions, g.Enabled)
			}
			// Nothing left: disabled at the demotion.
			g = readToken(t, env, env.Admin.Token, tUsers.Id)
			if d, ok := timeOf(g.DisabledAt); len(g.Permissions) != 0 || g.Enabled || !ok || !sameInstant(d, demotedAt) {
				t.Fatalf("%s: users:view token: permissions %v enabled %v disabled_at %v; want [], false, %v", when, g.Permissions, g.Enabled, g.DisabledAt, demotedAt)
			}
			// Shared tokens are the company's, not the person's (R5).
			g = readToken(t, env, env.Admin.Token, sP.Id)
			if !slices.Equal(g.Permissions, []string{"admin"}) || !g.Enabled {
				t.Fatalf("%s: shared token: %v enabled %v", when, g.Permissions, g.Enabled)
			}
			// Persisted, not computed on read.
			var row store.Token
			testenv.Must(t, env.Store.DB().Where("id = ?", tAdmin.Id).Take(&row).Error)
			if contains(row.Permissions, "admin") || contains(row.Permissions, "users:view") {
				t.Fatalf("%s: stored permissions of the admin token: %v", when, row.Permissions)
			}
			assertPerms(t, when+": admin token in use", whoAmI(t, env, tAdmin.Secret).Permissions, analytic)
			assertPerms(t, when+": mixed token in use", whoAmI(t, env, tMixed.Secret).Permissions, perm.SetOf("attacks:view"))
			if got := authStatus(t, env, tUsers.Secret); got != 401 {
				t.Fatalf("%s: emptied token authenticates: %d", when, got)
			}
		}
		check("after demotion to analytic")

		// Raising the role back restores nothing.
		env.Clock.Advance(time.Minute)
		mustPutUser(t, env, env.Admin.Token, p.User.Id, client.UserUpdate{Role: ref(client.Admin)})
		check("after promotion back to admin")

		// The emptied token needs new permissions to be re-enabled.
		sess := login(t, env, p.User.Email, p.Password)
		r := putToken(t, env, sess, tUsers.Id, client.TokenUpdate{Enabled: ref(true), ExpireAt: never()})
		expectStatus(t, "re-enable an emptied token without permissions", r, 400)
		r = putToken(t, env, sess, tUsers.Id, client.TokenUpdate{Enabled: ref(true), ExpireAt: never(), Permissions: &[]string{"users:view"}})
		expectStatus(t, "re-enable an emptied token with new permissions", r, 200)
		if !r.JSON200.Enabled || !slices.Equal(r.JSON200.Permissions, []string{"users:view"}) {
			t.Fatalf("re-enabled: %v %v", r.JSON200.Enabled, r.JSON200.Permissions)
		}
		assertPerms(t, "re-enabled token", whoAmI(t, env, tUsers.Secret).Permissions, perm.SetOf("users:view"))
	})
}

// R14: disabled tokens are deleted 7 days after disabled_at.
func TestR14Purge(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		const retention = 7 * 24 * time.Hour
		x := newPerson(t, env, env.Admin.Token, client.Analytic, 0)
		t0 := env.Clock.Now()

		old := personalToken(t, env, x.Session, "attacks:view")
		younger := personalToken(t, env, x.Session, "attacks:view")
		reenabled := personalToken(t, env, x.Session, "attacks:view")
		live := personalToken(t, env, x.Session, "attacks:view")
		expiring := newToken(t, env, x.Session, client.TokenCreate{Permissions: []string{"attacks:view"}, ExpireAt: at(t0.Add(time.Hour))})

		// The bootstrap Global Administrator manages them (x's session ends after 12 h).
		manage := env.Admin.Token
		for _, id := range []int64{old.Id, reenabled.Id} {
			expectStatus(t, "disable", putToken(t, env, manage, id, client.TokenUpdate{Enabled: ref(false)}), 200)
		}
		env.Clock.Advance(time.Hour)
		if n, err := env.Store.DisableExpired(ctx); err != nil || n != 1 {
			t.Fatalf("DisableExpired = %d, %v; want 1", n, err)
		}
		env.Clock.Advance(time.Minute)
		expectStatus(t, "re-enable", putToken(t, env, manage, reenabled.Id, client.TokenUpdate{Enabled: ref(true), ExpireAt: never()}), 200)
		env.Clock.Advance(23*time.Hour - time.Minute) // t0 + 1 day
		expectStatus(t, "disable", putToken(t, env, manage, younger.Id, client.TokenUpdate{Enabled: ref(false)}), 200)

		purge := func(want int64, gone ...int64) {
			t.Helper()
			n, err := env.Store.PurgeDisabled(ctx, retention)
			testenv.Must(t, err)
			if n != want {
				t.Fatalf("at t0+%v: PurgeDisabled = %d, want %d", env.Clock.Now().Sub(t0), n, want)
			}
			for _, tok := range []client.TokenWithSecret{old, younger, reenabled, live, expiring} {
				wantGone := slices.Contains(gone, tok.Id)
				if present := tokenRowExists(t, env, tok.Id); present == wantGone {
					t.Fatalf("at t0+%v: token %d present = %v, want %v", env.Clock.Now().Sub(t0), tok.Id, present, !wantGone)
				}
				if wantGone {
					if got := tokenStatus(t, env, manage, tok.Id); got != 404 {
						t.Fatalf("purged token %d: GET = %d, want 404", tok.Id, got)
					}
				}
			}
		}

		env.Clock.Advance(6*24*time.Hour - time.Second) // t0 + 7 d − 1 s
		purge(0)
		env.Clock.Advance(2 * time.Second) // t0 + 7 d + 1 s: old goes
		purge(1, old.Id)
		env.Clock.Advance(time.Hour) // 7 d + 1 s after expiring's disabled_at (= its expire_at)
		purge(1, old.Id, expiring.Id)
		env.Clock.Advance(24 * time.Hour) // 7 d + 1 h + 1 s after younger's
		purge(1, old.Id, expiring.Id, younger.Id)
		// Re-enabled and never-disabled tokens stay, as does the bootstrap token.
		for _, v := range []string{reenabled.Secret, live.Secret, env.Admin.Token} {
			if got := authStatus(t, env, v); got != 200 {
				t.Fatalf("token that is not disabled after the purges: %d", got)
			}
		}
	})
}

// R15: imported UUID + secret pairs become backward-compatible tokens.
func TestR15BackwardCompatibleTokens(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		manage := env.Admin.Token
		x := newPerson(t, env, manage, client.Analytic, 0)

		imp := func(userID int64) (client.TokenWithSecret, uuid.UUID, string) {
			t.Helper()
			u, s := uuid.New(), newLegacySecret(t)
			r, err := env.Client(manage).ImportLegacyCredentialsWithResponse(ctx, userID, client.LegacyCredentials{Uuid: u, Secret: s})
			testenv.Must(t, err)
			expectStatus(t, "import legacy credentials", r, 201)
			return *r.JSON201, u, s
		}
		bc, legacyUUID, legacySecret := imp(x.User.Id)
		if uid, _ := bc.UserId.Get(); !bc.BackwardCompatible || uid != x.User.Id || len(bc.Permissions) != 0 || bc.Secret != legacySecret || bc.Shared {
			t.Fatalf("imported token: backward_compatible %v user_id %d permissions %v shared %v, secret is the imported one: %v",
				bc.BackwardCompatible, uid, bc.Permissions, bc.Shared, bc.Secret == legacySecret)
		}

		// The pair authenticates as the token, with the user's role.
		pair := legacyPair(legacyUUID.String(), legacySecret)
		resp := env.Do("GET", "/v2/user", "", pair)
		if resp.StatusCode != 200 {
			t.Fatalf("UUID + secret: %d", resp.StatusCode)
		}
		var me client.CurrentUser
		testenv.Must(t, json.NewDecoder(resp.Body).Decode(&me))
		if tid, _ := me.TokenId.Get(); me.Id != x.User.Id || tid != bc.Id {
			t.Fatalf("UUID + secret authenticated as user %d token %d, want %d and %d", me.Id, tid, x.User.Id, bc.Id)
		}
		assertPerms(t, "backward-compatible token via the pair", me.Permissions, roleSet(client.Analytic))
		for name, h := range map[string]map[string]string{
			"wrong secret": legacyPair(legacyUUID.String(), newLegacySecret(t)),
			"wrong uuid":   legacyPair(uuid.NewString(), legacySecret),
			"uuid only":    {"X-WallarmAPI-UUID": legacyUUID.String()},
		} {
			if got := env.Do("GET", "/v2/user", "", h).StatusCode; got != 401 {
				t.Fatalf("%s: %d, want 401", name, got)
			}
		}
		// Its own value is a token too.
		assertPerms(t, "backward-compatible token via X-WallarmApi-Token", whoAmI(t, env, legacySecret).Permissions, roleSet(client.Analytic))

		// Its permissions are the role's: not shown, not editable.
		for _, caller := range []string{manage, x.Session} {
			r := putToken(t, env, caller, bc.Id, client.TokenUpdate{Permissions: &[]string{"attacks:view"}})
			expectStatus(t, "PUT permissions of a backward-compatible token", r, 409)
		}
		if got := readToken(t, env, x.Session, bc.Id); !got.BackwardCompatible || len(got.Permissions) != 0 {
			t.Fatalf("after refused edits: backward_compatible %v permissions %v", got.BackwardCompatible, got.Permissions)
		}

		// Duplicate UUID → 409; an SSO user → 400.
		other := newPerson(t, env, manage, client.Analytic, 0)
		r, err := env.Client(manage).ImportLegacyCredentialsWithResponse(ctx, other.User.Id, client.LegacyCredentials{Uuid: legacyUUID, Secret: newLegacySecret(t)})
		testenv.Must(t, err)
		expectStatus(t, "import a duplicate UUID", r, 409)
		ssoUser := createUser(t, env, manage, client.UserCreate{Email: uniqueEmail("sso"), Realname: "SSO user", Role: client.Analytic, Sso: ref(true)})
		r, err = env.Client(manage).ImportLegacyCredentialsWithResponse(ctx, ssoUser.Id, client.LegacyCredentials{Uuid: uuid.New(), Secret: newLegacySecret(t)})
		testenv.Must(t, err)
		expectStatus(t, "import for an SSO user", r, 400)

		// Renewing ends backward compatibility; the new value works, the old one stops (R10).
		env.Clock.Advance(time.Minute)
		rr, err := env.Client(x.Session).RenewTokenWithResponse(ctx, bc.Id, client.RenewRequest{})
		testenv.Must(t, err)
		expectStatus(t, "renew the backward-compatible token", rr, 200)
		if rr.JSON200.BackwardCompatible || !strings.HasPrefix(rr.JSON200.Secret, secret.PrefixAPI) {
			t.Fatalf("renewed: backward_compatible %v value %q", rr.JSON200.BackwardCompatible, rr.JSON200.Secret)
		}
		if got := env.Do("GET", "/v2/user", "", pair).StatusCode; got != 401 {
			t.Fatalf("UUID + secret after renew: %d, want 401", got)
		}
		if got := authStatus(t, env, rr.JSON200.Secret); got != 200 {
			t.Fatalf("new value after renew: %d", got)
		}
		if got := authStatus(t, env, legacySecret); got != 401 {
			t.Fatalf("old legacy value as a token after renew: %d, want 401", got)
		}
		if got := readToken(t, env, manage, bc.Id); got.BackwardCompatible {
			t.Fatal("read back: still backward-compatible after renew")
		}

		// Enabling SSO on the owner ends it too; the token value keeps working.
		w := newPerson(t, env, manage, client.Analytic, 0)
		bc2, u2, s2 := imp(w.User.Id)
		pair2 := legacyPair(u2.String(), s2)
		if got := env.Do("GET", "/v2/user", "", pair2).StatusCode; got != 200 {
			t.Fatalf("second pair: %d", got)
		}
		if u := mustPutUser(t, env, manage, w.User.Id, client.UserUpdate{Sso: ref(true)}); !u.Sso || !u.ApiAccess {
			t.Fatalf("user after enabling SSO: sso %v api_access %v", u.Sso, u.ApiAccess)
		}
		if got := env.Do("GET", "/v2/user", "", pair2).StatusCode; got != 401 {
			t.Fatalf("UUID + secret of an SSO user: %d, want 401", got)
		}
		if got := authStatus(t, env, s2); got != 200 {
			t.Fatalf("token value after its owner became SSO: %d, want 200", got)
		}
		if got := readToken(t, env, manage, bc2.Id); got.BackwardCompatible {
			t.Fatal("read back: still backward-compatible after SSO was enabled")
		}

		// It can be deleted.
		v := newPerson(t, env, manage, client.Analytic, 0)
		bc3, u3, s3 := imp(v.User.Id)
		d, err := env.Client(manage).DeleteTokenWithResponse(ctx, bc3.Id)
		testenv.Must(t, err)
		expectStatus(t, "delete the backward-compatible token", d, 204)
		if got := env.Do("GET", "/v2/user", "", legacyPair(u3.String(), s3)).StatusCode; got != 401 {
			t.Fatalf("UUID + secret of a deleted token: %d", got)
		}
		if got := authStatus(t, env, s3); got != 401 {
			t.Fatalf("value of a deleted token: %d", got)
		}
	})
}

// R16: SSO users cannot sign in with a password; turning api_access off
// disables their tokens.
func TestR16SSO(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		manage := env.Admin.Token
		x := newPerson(t, env, manage, client.Analytic, 0)
		t1 := personalToken(t, env, x.Session, "attacks:view")
		t2 := personalToken(t, env, x.Session, "analytic")

		// SSO on: password sign-in and password sessions end; tokens keep working.
		if u := mustPutUser(t, env, manage, x.User.Id, client.UserUpdate{Sso: ref(true)}); !u.Sso || !u.ApiAccess {
			t.Fatalf("sso %v api_access %v", u.Sso, u.ApiAccess)
		}
		if got := authStatus(t, env, x.Session); got != 401 {
			t.Fatalf("password session after SSO was enabled: %d, want 401", got)
		}
		if got := loginStatus(t, env, x.User.Email, x.Password); got != 401 {
			t.Fatalf("password login of an SSO user: %d, want 401", got)
		}
		for _, tok := range []client.TokenWithSecret{t1, t2} {
			if got := authStatus(t, env, tok.Secret); got != 200 {
				t.Fatalf("token of an SSO user with api_access: %d", got)
			}
		}
		// Its token still works for what it may do.
		t3 := personalToken(t, env, t2.Secret, "attacks:view")

		// api_access off: every token disabled.
		env.Clock.Advance(time.Minute)
		offAt := env.Clock.Now()
		if u := mustPutUser(t, env, manage, x.User.Id, client.UserUpdate{ApiAccess: ref(false)}); u.ApiAccess {
			t.Fatal("api_access still on")
		}
		check := func(when string) {
			t.Helper()
			for _, tok := range []client.TokenWithSecret{t1, t2, t3} {
				if got := authStatus(t, env, tok.Secret); got != 401 {
					t.Fatalf("%s: token %d authenticates: %d", when, tok.Id, got)
				}
				g := readToken(t, env, manage, tok.Id)
				if d, ok := timeOf(g.DisabledAt); g.Enabled || !ok || !sameInstant(d, offAt) {
					t.Fatalf("%s: token %d enabled %v disabled_at %v, want false and %v", when, tok.Id, g.Enabled, g.DisabledAt, offAt)
				}
			}
		}
		check("api_access off")
		// Turning it back on re-enables nothing.
		env.Clock.Advance(time.Minute)
		mustPutUser(t, env, manage, x.User.Id, client.UserUpdate{ApiAccess: ref(true)})
		check("api_access back on")

		// A user created with SSO cannot sign in with a password either.
		sso := createUser(t, env, manage, client.UserCreate{Email: uniqueEmail("sso"), Realname: "SSO", Role: client.Admin, Sso: ref(true)})
		if !sso.Sso {
			t.Fatal("created user is not SSO")
		}
		if got := loginStatus(t, env, sso.Email, "password-long-enough"); got != 401 {
			t.Fatalf("password login of a user created with SSO: %d, want 401", got)
		}
	})
}

// R17: roles can be assigned, and users managed, only within the caller's
// own effective permissions and scope.
func TestR17NoEscalationThroughUsers(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		analyst := newPerson(t, env, env.Admin.Token, client.Analytic, 0)
		global := newPerson(t, env, env.Admin.Token, client.PartnerAdmin, 0)
		narrow := personalToken(t, env, admin.Session, "users:create", "users:view", "nodes:view", "nodes:create")
		tenant := newTenant(t, env, "R17 tenant")

		cases := []struct {
			name     string
			caller   string
			role     client.Role
			clientID int64
			want     int
		}{
			{"admin creates an analyst", admin.Session, client.Analytic, 0, 201},
			{"admin creates an admin", admin.Session, client.Admin, 0, 201},
			{"admin creates a Global Administrator", admin.Session, client.PartnerAdmin, 0, 403},
			{"analyst creates an analyst (no users:create)", analyst.Session, client.Analytic, 0, 403},
			{"analyst creates a read-only user", analyst.Session, client.Auditor, 0, 403},
			{"Global Administrator creates one", global.Session, client.PartnerAdmin, 0, 201},
			{"narrow token creates a deploy user", narrow.Secret, client.Deploy, 0, 201},
			{"narrow token creates an admin", narrow.Secret, client.Admin, 0, 403},
			{"narrow token creates an analyst", narrow.Secret, client.Analytic, 0, 403},
			{"admin creates a user in a tenant (outside its scope)", admin.Session, client.Analytic, tenant.Id, 404},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				body := client.UserCreate{Email: uniqueEmail(string(tc.role)), Realname: tc.name, Role: tc.role, Password: ref("password-long-enough")}
				if tc.clientID != 0 {
					body.ClientId = &tc.clientID
				}
				r, err := env.Client(tc.caller).CreateUserWithResponse(ctx, body)
				testenv.Must(t, err)
				expectStatus(t, "create user", r, tc.want)
				if tc.want != 201 && loginStatus(t, env, body.Email, *body.Password) != 401 {
					t.Fatal("the refused user exists and can sign in")
				}
			})
		}

		// A more powerful user of the same company: visible, not manageable.
		g, err := env.Client(admin.Session).GetUserWithResponse(ctx, global.User.Id)
		testenv.Must(t, err)
		expectStatus(t, "admin reads a Global Administrator", g, 200)
		for name, body := range map[string]client.UserUpdate{
			"rename":  {Realname: ref("demoted")},
			"disable": {Enabled: ref(false)},
			"demote":  {Role: ref(client.Analytic)},
		} {
			expectStatus(t, "admin updates a Global Administrator: "+name, putUser(t, env, admin.Session, global.User.Id, body), 403)
		}
		d, err := env.Client(admin.Session).DeleteUserWithResponse(ctx, global.User.Id)
		testenv.Must(t, err)
		expectStatus(t, "admin deletes a Global Administrator", d, 403)
		l, err := env.Client(admin.Session).ImportLegacyCredentialsWithResponse(ctx, global.User.Id, client.LegacyCredentials{Uuid: uuid.New(), Secret: newLegacySecret(t)})
		testenv.Must(t, err)
		expectStatus(t, "admin imports credentials for a Global Administrator", l, 403)
		if u := whoAmI(t, env, global.Session); u.Role != client.PartnerAdmin || u.Realname == "demoted" || !u.Enabled {
			t.Fatalf("Global Administrator changed by refused requests: %+v", u)
		}

		// Raising someone, or oneself, above the caller.
		expectStatus(t, "admin makes an analyst Global Administrator", putUser(t, env, admin.Session, analyst.User.Id, client.UserUpdate{Role: ref(client.PartnerAdmin)}), 403)
		expectStatus(t, "admin makes itself Global Administrator", putUser(t, env, admin.Session, admin.User.Id, client.UserUpdate{Role: ref(client.PartnerAdmin)}), 403)
		if whoAmI(t, env, analyst.Session).Role != client.Analytic || whoAmI(t, env, admin.Session).Role != client.Admin {
			t.Fatal("refused role changes took effect")
		}
		// Within its own permissions it may.
		if u := mustPutUser(t, env, admin.Session, analyst.User.Id, client.UserUpdate{Role: ref(client.Auditor)}); u.Role != client.Auditor {
			t.Fatalf("admin demotes an analyst to auditor: role %s", u.Role)
		}

		// Nobody deletes their own user.
		d, err = env.Client(admin.Session).DeleteUserWithResponse(ctx, admin.User.Id)
		testenv.Must(t, err)
		expectStatus(t, "delete oneself", d, 400)
	})
}

// R18: everything is filtered by the caller's scope: another tenant's
// objects are 404 to a sibling tenant; global roles see their tenants.
func TestR18Tenancy(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		t1 := newTenant(t, env, "Tenant One")
		t2 := newTenant(t, env, "Tenant Two")
		a1 := newPerson(t, env, env.Admin.Token, client.Admin, t1.Id)
		a2 := newPerson(t, env, env.Admin.Token, client.Admin, t2.Id)
		u1 := newPerson(t, env, a1.Session, client.Analytic, 0)
		if u1.User.ClientId != t1.Id || a1.User.ClientId != t1.Id || a2.User.ClientId != t2.Id {
			t.Fatalf("users in the wrong companies: %d %d %d", u1.User.ClientId, a1.User.ClientId, a2.User.ClientId)
		}
		tok1 := personalToken(t, env, a1.Session, "admin")
		shared1 := sharedToken(t, env, a1.Session, "attacks:view")
		if tok1.ClientId != t1.Id || shared1.ClientId != t1.Id {
			t.Fatalf("tokens in the wrong company: %d %d", tok1.ClientId, shared1.ClientId)
		}

		legacy := fmt.Sprintf(`{"uuid":%q,"secret":%q}`, uuid.NewString(), newLegacySecret(t))
		calls := []struct{ method, path, body string }{
			{"GET", fmt.Sprintf("/v2/users/%d", u1.User.Id), ""},
			{"PUT", fmt.Sprintf("/v2/users/%d", u1.User.Id), `{"realname":"taken over"}`},
			{"DELETE", fmt.Sprintf("/v2/users/%d", u1.User.Id), ""},
			{"POST", fmt.Sprintf("/v2/users/%d/legacy_credentials", u1.User.Id), legacy},
			{"GET", fmt.Sprintf("/v2/users/%d", env.Admin.UserID), ""},
			{"GET", fmt.Sprintf("/v2/api_tokens/%d", tok1.Id), ""},
			{"GET", fmt.Sprintf("/v2/api_tokens/%d", shared1.Id), ""},
			{"PUT", fmt.Sprintf("/v2/api_tokens/%d", shared1.Id), `{"realname":"taken over"}`},
			{"DELETE", fmt.Sprintf("/v2/api_tokens/%d", shared1.Id), ""},
			{"GET", fmt.Sprintf("/v2/api_tokens/%d/secret", shared1.Id), ""},
			{"POST", fmt.Sprintf("/v2/api_tokens/%d/renew", shared1.Id), `{}`},
			{"GET", fmt.Sprintf("/v2/clients/%d", t1.Id), ""},
			{"PUT", fmt.Sprintf("/v2/clients/%d", t1.Id), `{"name":"taken over"}`},
			{"GET", fmt.Sprintf("/v2/clients/%d", env.Admin.ClientID), ""},
			{"POST", "/v2/users", fmt.Sprintf(`{"email":%q,"realname":"intruder","role":"analytic","client_id":%d}`, uniqueEmail("intruder"), t1.Id)},
			{"POST", "/v2/api_tokens", fmt.Sprintf(`{"realname":"intruder","permissions":["attacks:view"],"shared":true,"client_id":%d}`, t1.Id)},
		}
		for _, c := range calls {
			resp := env.Do(c.method, c.path, c.body, auth(a2.Session))
			if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" {
				body, _ := io.ReadAll(resp.Body)
				t.Errorf("sibling tenant's admin: %s %s = %d, want 404 problem: %s", c.method, c.path, resp.StatusCode, body)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
		// Nothing changed.
		if me := whoAmI(t, env, u1.Session); me.Realname == "taken over" {
			t.Fatal("user renamed across tenants")
		}
		if authStatus(t, env, shared1.Secret) != 200 || authStatus(t, env, tok1.Secret) != 200 {
			t.Fatal("tenant one's tokens were changed across tenants")
		}
		if c, err := env.Client(a1.Session).GetClientWithResponse(ctx, t1.Id); err != nil || c.StatusCode() != 200 || c.JSON200.Name != t1.Name {
			t.Fatalf("tenant one read by its admin: %v %s", err, c.Body)
		}

		// Lists are filtered in the store: a sibling sees only its own.
		us, err := env.Client(a2.Session).ListUsersWithResponse(ctx, &client.ListUsersParams{})
		testenv.Must(t, err)
		expectStatus(t, "list users", us, 200)
		for _, u := range us.JSON200.Items {
			if u.ClientId != t2.Id {
				t.Fatalf("tenant two's admin lists user %d of company %d", u.Id, u.ClientId)
			}
		}
		ts, err := env.Client(a2.Session).ListTokensWithResponse(ctx, &client.ListTokensParams{})
		testenv.Must(t, err)
		expectStatus(t, "list tokens", ts, 200)
		for _, tk := range ts.JSON200.Items {
			if tk.ClientId != t2.Id {
				t.Fatalf("tenant two's admin lists token %d of company %d", tk.Id, tk.ClientId)
			}
		}
		cs, err := env.Client(a2.Session).ListClientsWithResponse(ctx, &client.ListClientsParams{})
		testenv.Must(t, err)
		expectStatus(t, "list clients", cs, 200)
		if len(cs.JSON200.Items) != 1 || cs.JSON200.Items[0].Id != t2.Id {
			t.Fatalf("tenant two's admin lists clients %+v, want only its own", cs.JSON200.Items)
		}

		// A Global Administrator sees its tenants and their users and tokens.
		pa := newPerson(t, env, env.Admin.Token, client.PartnerAdmin, 0)
		all := listUserIDs(t, env, pa.Session, nil)
		for _, id := range []int64{a1.User.Id, u1.User.Id, a2.User.Id, pa.User.Id, env.Admin.UserID} {
			if !all[id] {
				t.Fatalf("Global Administrator's user list %v lacks %d", all, id)
			}
		}
		if got := listUserIDs(t, env, pa.Session, &client.ListUsersParams{ClientId: &t1.Id}); !sameIDs(got, a1.User.Id, u1.User.Id) {
			t.Fatalf("Global Administrator's users of tenant one: %v", got)
		}
		gu, err := env.Client(pa.Session).GetUserWithResponse(ctx, u1.User.Id)
		testenv.Must(t, err)
		expectStatus(t, "Global Administrator reads a tenant's user", gu, 200)
		if u := mustPutUser(t, env, pa.Session, u1.User.Id, client.UserUpdate{Realname: ref("renamed by partner")}); u.Realname != "renamed by partner" {
			t.Fatalf("realname = %q", u.Realname)
		}
		toks := visibleTokenIDs(t, env, pa.Session, nil)
		if !toks[tok1.Id] || !toks[shared1.Id] {
			t.Fatalf("Global Administrator's token list %v lacks tenant one's tokens", toks)
		}
		cl, err := env.Client(pa.Session).ListClientsWithResponse(ctx, &client.ListClientsParams{})
		testenv.Must(t, err)
		expectStatus(t, "Global Administrator lists clients", cl, 200)
		seen := map[int64]bool{}
		for _, c := range cl.JSON200.Items {
			seen[c.Id] = true
		}
		if !sameIDs(seen, env.Admin.ClientID, t1.Id, t2.Id) {
			t.Fatalf("Global Administrator's clients: %v", seen)
		}
		// A Global Read Only user sees them too.
		ro := newPerson(t, env, env.Admin.Token, client.PartnerAuditor, 0)
		gu, err = env.Client(ro.Session).GetUserWithResponse(ctx, u1.User.Id)
		testenv.Must(t, err)
		expectStatus(t, "Global Read Only reads a tenant's user", gu, 200)
	})
}

// R19: sign-in with e-mail and password gives a 12 h session.
func TestR19SignIn(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		p := newPerson(t, env, env.Admin.Token, client.Admin, 0)

		lr, err := env.Client("").LoginWithResponse(ctx, client.LoginRequest{Email: p.User.Email, Password: p.Password})
		testenv.Must(t, err)
		expectStatus(t, "login", lr, 200)
		sess := lr.JSON200.Token
		if secret.Classify(sess) != secret.KindSession || !sameInstant(lr.JSON200.ExpireAt, env.Clock.Now().Add(12*time.Hour)) {
			t.Fatalf("session %q (kind %v) expires %v, want a tks_ token for 12 h", sess, secret.Classify(sess), lr.JSON200.ExpireAt)
		}
		me := whoAmI(t, env, sess)
		if me.Id != p.User.Id || me.Role != client.Admin || !me.TokenId.IsNull() {
			t.Fatalf("session user: id %d role %s token_id %v", me.Id, me.Role, me.TokenId)
		}
		assertPerms(t, "session", me.Permissions, roleSet(client.Admin))
		// Also as a bearer token.
		if got := env.Do("GET", "/v2/user", "", map[string]string{"Authorization": "Bearer " + sess}).StatusCode; got != 200 {
			t.Fatalf("session as bearer: %d", got)
		}
		// E-mail addresses compare case-insensitively.
		if got := loginStatus(t, env, strings.ToUpper(p.User.Email), p.Password); got != 200 {
			t.Fatalf("login with the e-mail upper-cased: %d, want 200", got)
		}

		// Sessions are not API tokens: never listed.
		tok := personalToken(t, env, sess, "attacks:view")
		if ids := visibleTokenIDs(t, env, sess, &client.ListTokensParams{UserId: &p.User.Id}); !sameIDs(ids, tok.Id) {
			t.Fatalf("the user's tokens: %v, want only %d (sessions are not tokens)", ids, tok.Id)
		}
		var rows int64
		testenv.Must(t, env.Store.DB().Model(&store.Token{}).Count(&rows).Error)
		if all := visibleTokenIDs(t, env, env.Admin.Token, nil); int64(len(all)) != rows || rows != 2 {
			t.Fatalf("token rows %d, listed %v; want the bootstrap token and one more", rows, all)
		}

		// A session carries the user's current role.
		mustPutUser(t, env, env.Admin.Token, p.User.Id, client.UserUpdate{Role: ref(client.Auditor)})
		if me := whoAmI(t, env, sess); me.Role != client.Auditor {
			t.Fatalf("session after a role change: role %s", me.Role)
		} else {
			assertPerms(t, "session after a role change", me.Permissions, roleSet(client.Auditor))
		}

		// Logout ends the calling session only; with an API token it is a no-op.
		lo, err := env.Client(sess).LogoutWithResponse(ctx)
		testenv.Must(t, err)
		expectStatus(t, "logout", lo, 204)
		if got := authStatus(t, env, sess); got != 401 {
			t.Fatalf("session after logout: %d", got)
		}
		if got := authStatus(t, env, p.Session); got != 200 {
			t.Fatalf("another session of the same user after logout: %d", got)
		}
		lo, err = env.Client(env.Admin.Token).LogoutWithResponse(ctx)
		testenv.Must(t, err)
		expectStatus(t, "logout with an API token", lo, 204)
		if got := authStatus(t, env, env.Admin.Token); got != 200 {
			t.Fatalf("API token after logout: %d", got)
		}

		// Every sign-in failure is the same 401.
		disabled := newPerson(t, env, env.Admin.Token, client.Analytic, 0)
		mustPutUser(t, env, env.Admin.Token, disabled.User.Id, client.UserUpdate{Enabled: ref(false)})
		sso := createUser(t, env, env.Admin.Token, client.UserCreate{Email: uniqueEmail("sso"), Realname: "SSO", Role: client.Analytic, Sso: ref(true)})
		bootstrapEmail := whoAmI(t, env, env.Admin.Token).Email // created without a password
		failures := []struct{ name, email, password string }{
			{"wrong password", p.User.Email, p.Password + "x"},
			{"unknown e-mail", "nobody-" + uuid.NewString() + "@example.com", p.Password},
			{"disabled user", disabled.User.Email, disabled.Password},
			{"SSO user", sso.Email, "password-long-enough"},
			{"user without a password", bootstrapEmail, "password-long-enough"},
		}
		var first *client.Problem
		for _, f := range failures {
			body, _ := json.Marshal(client.LoginRequest{Email: f.email, Password: f.password})
			resp := env.Do("POST", "/v1/login", string(body), nil)
			if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("login, %s: %d %q, want 401 problem", f.name, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			pr := problemOf(t, resp)
			pr.RequestId = nil
			if first == nil {
				first = &pr
			} else if !equalJSON(t, *first, pr) {
				t.Fatalf("login, %s: 401 body %+v differs from %+v", f.name, pr, *first)
			}
		}
		// The 401 of a bad credential elsewhere is that same body.
		pr := problemOf(t, env.Do("GET", "/v2/user", "", auth(unknownToken(t))))
		pr.RequestId = nil
		if first != nil && !equalJSON(t, *first, pr) {
			t.Fatalf("login 401 %+v differs from the authentication 401 %+v", *first, pr)
		}

		// Sessions last 12 h.
		s2 := login(t, env, p.User.Email, p.Password)
		env.Clock.Advance(12*time.Hour - time.Second)
		if got := authStatus(t, env, s2); got != 200 {
			t.Fatalf("session 1 s before 12 h: %d", got)
		}
		env.Clock.Advance(time.Second)
		if got := authStatus(t, env, s2); got != 401 {
			t.Fatalf("session at 12 h: %d, want 401", got)
		}

		// Changing one's password.
		s3 := login(t, env, p.User.Email, p.Password)
		const newPassword = "a-brand-new-password"
		cp, err := env.Client(s3).ChangePasswordWithResponse(ctx, client.PasswordChange{CurrentPassword: p.Password + "x", NewPassword: newPassword})
		testenv.Must(t, err)
		expectStatus(t, "change password with a wrong current password", cp, 400)
		cp, err = env.Client(s3).ChangePasswordWithResponse(ctx, client.PasswordChange{CurrentPassword: p.Password, NewPassword: newPassword})
		testenv.Must(t, err)
		expectStatus(t, "change password", cp, 204)
		if got := loginStatus(t, env, p.User.Email, p.Password); got != 401 {
			t.Fatalf("login with the old password: %d, want 401", got)
		}
		whoAmI(t, env, login(t, env, p.User.Email, newPassword))
		// A shared token has no user, hence no password.
		shared := sharedToken(t, env, env.Admin.Token, "attacks:view")
		cp, err = env.Client(shared.Secret).ChangePasswordWithResponse(ctx, client.PasswordChange{CurrentPassword: "whatever-it-is", NewPassword: newPassword})
		testenv.Must(t, err)
		expectStatus(t, "change password with a shared token", cp, 403)
	})
}

// The create example of the Wallarm documentation works unchanged.
func TestWallarmCreateExample(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		db := env.Store.DB()
		now := env.Clock.Now()

		// Tenant 1010 under the bootstrap company.
		parent := env.Admin.ClientID
		testenv.Must(t, db.WithContext(ctx).Create(&store.Client{
			ID: 1010, UUID: uuid.NewString(), Name: "Tenant 1010", Enabled: true, ParentID: &parent, CreatedAt: now, UpdatedAt: now,
		}).Error)
		// Global Administrator 10101011 of the bootstrap company: created
		// through the API (so it has a password), then renumbered.
		const password = "wallarm-example-password"
		u := createUser(t, env, env.Admin.Token, client.UserCreate{
			Email: uniqueEmail("wallarm"), Realname: "Global Administrator 10101011", Role: client.PartnerAdmin, Password: ref(password),
		})
		testenv.Must(t, db.Exec("UPDATE users SET id = ? WHERE id = ?", 10101011, u.Id).Error)
		setOwnPassword(t, env, u.Email, password, password+"-own")
		sess := login(t, env, u.Email, password+"-own")

		const example = `{"client_id":1010,"realname":"Token for tenant creation","user_id":10101011,"enabled":true,"expire_at":"2033-06-13T04:56:01.037Z","permissions":["partner_admin"]}`
		resp := env.Do("POST", "/v2/api_tokens", example, auth(sess))
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 201 {
			t.Fatalf("POST /v2/api_tokens with the Wallarm example: %d %s", resp.StatusCode, body)
		}
		var tok client.TokenWithSecret
		testenv.Must(t, json.Unmarshal(body, &tok))
		wantExpiry := time.Date(2033, 6, 13, 4, 56, 1, 37_000_000, time.UTC)
		uid, _ := tok.UserId.Get()
		exp, _ := timeOf(tok.ExpireAt)
		if tok.Id <= 0 || tok.Secret == "" || tok.ClientId != 1010 || uid != 10101011 || tok.Realname != "Token for tenant creation" ||
			!tok.Enabled || !exp.Equal(wantExpiry) || !slices.Equal(tok.Permissions, []string{"partner_admin"}) || tok.SourceRole != "partner_admin" {
			t.Fatalf("created token does not reflect the example: %s", body)
		}

		// The token authenticates, as that user, for that tenant.
		me := whoAmI(t, env, tok.Secret)
		if tid, _ := me.TokenId.Get(); me.Id != 10101011 || me.ClientId != 1010 || tid != tok.Id {
			t.Fatalf("GET /v1/user with the new token: id %d client_id %d token_id %v", me.Id, me.ClientId, me.TokenId)
		}
		cs, err := env.Client(tok.Secret).ListClientsWithResponse(ctx, &client.ListClientsParams{})
		testenv.Must(t, err)
		expectStatus(t, "list clients with the tenant token", cs, 200)
		if len(cs.JSON200.Items) != 1 || cs.JSON200.Items[0].Id != 1010 {
			t.Fatalf("a token created for tenant 1010 sees clients %+v, want only 1010", cs.JSON200.Items)
		}
	})
}

// ---- helpers for the rule tests ----

// apiResponse is any generated *…Response.
type apiResponse interface {
	StatusCode() int
	GetBody() []byte
}

// expectStatus fails the test unless r answered want.
func expectStatus(t testing.TB, what string, r apiResponse, want int) {
	t.Helper()
	if r.StatusCode() != want {
		t.Fatalf("%s: status %d, want %d: %s", what, r.StatusCode(), want, r.GetBody())
	}
}

func ref[T any](v T) *T { return &v }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func auth(credential string) map[string]string {
	return map[string]string{"X-WallarmApi-Token": credential}
}

func legacyPair(uuid, secret string) map[string]string {
	return map[string]string{"X-WallarmAPI-UUID": uuid, "X-WallarmAPI-Secret": secret}
}

func newLegacySecret(t testing.TB) string {
	t.Helper()
	s, err := secret.NewLegacySecret()
	testenv.Must(t, err)
	return s
}

func uniqueEmail(tag string) string {
	return fmt.Sprintf("%s-%d@example.com", tag, seq.Add(1))
}

// at and never build expire_at values: a time, or explicit null.
func at(tm time.Time) nullable.Nullable[time.Time] { return nullable.NewNullableWithValue(tm) }
func never() nullable.Nullable[time.Time]          { return nullable.NewNullNullable[time.Time]() }

// timeOf is the time in n, false when n is null or absent.
func timeOf(n nullable.Nullable[time.Time]) (time.Time, bool) {
	if !n.IsSpecified() || n.IsNull() {
		return time.Time{}, false
	}
	v, err := n.Get()
	return v, err == nil
}

// sameInstant tolerates the storage precision of the backends.
func sameInstant(a, b time.Time) bool {
	d := a.Sub(b)
	return d < time.Millisecond && d > -time.Millisecond
}

func roleSet(r client.Role) perm.Set { return perm.Role(r).Permissions() }

// setOf is the set of the catalog permissions in list (others ignored).
func setOf(list []string) perm.Set {
	ps := make([]perm.Permission, len(list))
	for i, s := range list {
		ps[i] = perm.Permission(s)
	}
	return perm.SetOf(ps...)
}

func expandNames(t testing.TB, names []string) perm.Set {
	t.Helper()
	s, err := perm.Expand(names)
	if err != nil {
		t.Fatalf("stored permissions %v: %v", names, err)
	}
	return s
}

// assertPerms checks that an expanded permission list is exactly want.
func assertPerms(t testing.TB, what string, got []string, want perm.Set) {
	t.Helper()
	g := setOf(got)
	if g != want || len(got) != want.Len() {
		t.Fatalf("%s: permissions\n got %v\nwant %v\nmissing %v\n extra %v", what, got, want.Strings(), want.Minus(g).Strings(), g.Minus(want).Strings())
	}
}

// whoAmI is GET /v1/user with credential, which must authenticate.
func whoAmI(t testing.TB, env *testenv.Env, credential string) client.CurrentUser {
	t.Helper()
	r, err := env.Client(credential).GetCurrentUserWithResponse(context.Background())
	testenv.Must(t, err)
	expectStatus(t, "GET /v1/user", r, 200)
	return *r.JSON200
}

// authStatus is the status of GET /v1/user with credential: 200 or 401.
func authStatus(t testing.TB, env *testenv.Env, credential string) int {
	t.Helper()
	return status(t, env, credential, "GET", "/v2/user", "")
}

func loginStatus(t testing.TB, env *testenv.Env, email, password string) int {
	t.Helper()
	r, err := env.Client("").LoginWithResponse(context.Background(), client.LoginRequest{Email: email, Password: password})
	testenv.Must(t, err)
	return r.StatusCode()
}

func readToken(t testing.TB, env *testenv.Env, caller string, id int64) client.Token {
	t.Helper()
	r, err := env.Client(caller).GetTokenWithResponse(context.Background(), id)
	testenv.Must(t, err)
	expectStatus(t, fmt.Sprintf("GET token %d", id), r, 200)
	return *r.JSON200
}

func tokenStatus(t testing.TB, env *testenv.Env, caller string, id int64) int {
	t.Helper()
	return status(t, env, caller, "GET", fmt.Sprintf("/v2/api_tokens/%d", id), "")
}

func putToken(t testing.TB, env *testenv.Env, caller string, id int64, body client.TokenUpdate) *client.UpdateTokenResponse {
	t.Helper()
	r, err := env.Client(caller).UpdateTokenWithResponse(context.Background(), id, body)
	testenv.Must(t, err)
	return r
}

func putUser(t testing.TB, env *testenv.Env, caller string, id int64, body client.UserUpdate) *client.UpdateUserResponse {
	t.Helper()
	r, err := env.Client(caller).UpdateUserWithResponse(context.Background(), id, body)
	testenv.Must(t, err)
	return r
}

func mustPutUser(t testing.TB, env *testenv.Env, caller string, id int64, body client.UserUpdate) client.User {
	t.Helper()
	r := putUser(t, env, caller, id, body)
	expectStatus(t, fmt.Sprintf("PUT user %d", id), r, 200)
	return *r.JSON200
}

func createUser(t testing.TB, env *testenv.Env, caller string, body client.UserCreate) client.User {
	t.Helper()
	r, err := env.Client(caller).CreateUserWithResponse(context.Background(), body)
	testenv.Must(t, err)
	expectStatus(t, "create user "+body.Email, r, 201)
	return *r.JSON201
}

// visibleTokenIDs lists the tokens caller sees (one page is enough here).
func visibleTokenIDs(t testing.TB, env *testenv.Env, caller string, params *client.ListTokensParams) map[int64]bool {
	t.Helper()
	if params == nil {
		params = &client.ListTokensParams{}
	}
	r, err := env.Client(caller).ListTokensWithResponse(context.Background(), params)
	testenv.Must(t, err)
	expectStatus(t, "list tokens", r, 200)
	ids := map[int64]bool{}
	for _, tok := range r.JSON200.Items {
		ids[tok.Id] = true
	}
	return ids
}

func listUserIDs(t testing.TB, env *testenv.Env, caller string, params *client.ListUsersParams) map[int64]bool {
	t.Helper()
	if params == nil {
		params = &client.ListUsersParams{}
	}
	r, err := env.Client(caller).ListUsersWithResponse(context.Background(), params)
	testenv.Must(t, err)
	expectStatus(t, "list users", r, 200)
	ids := map[int64]bool{}
	for _, u := range r.JSON200.Items {
		ids[u.Id] = true
	}
	return ids
}

func sameIDs(got map[int64]bool, want ...int64) bool {
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

func problemOf(t testing.TB, resp *http.Response) client.Problem {
	t.Helper()
	var p client.Problem
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("%d: not a problem document: %s", resp.StatusCode, body)
	}
	return p
}

func tokenRowExists(t testing.TB, env *testenv.Env, id int64) bool {
	t.Helper()
	var n int64
	testenv.Must(t, env.Store.DB().Model(&store.Token{}).Where("id = ?", id).Count(&n).Error)
	return n > 0
}

// insertToken writes a token row directly, for states the API refuses to
// create (R3); it returns the token's value.
func insertToken(t testing.TB, env *testenv.Env, tok store.Token) string {
	t.Helper()
	value, err := secret.NewAPIToken()
	testenv.Must(t, err)
	now := env.Clock.Now()
	if tok.Realname == "" {
		tok.Realname = fmt.Sprintf("raw token %d", seq.Add(1))
	}
	tok.SourceRole = perm.SourceRole(tok.Permissions)
	tok.Enabled, tok.CreatedAt, tok.UpdatedAt = true, now, now
	tok.Digest, tok.Hint = env.Config.Keys.Digest(value), secret.Hint(value)
	testenv.Must(t, env.Store.DB().Create(&tok).Error)
	return value
}

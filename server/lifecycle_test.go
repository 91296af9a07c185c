package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/store"
)

// A Deploy token exists to register nodes, and can do nothing else.
func TestNodesWithDeployToken(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		deploy := sharedToken(t, env, admin.Session, "deploy")
		c := env.Client(deploy.Secret)

		r, err := c.CreateNodeWithResponse(ctx, client.NodeCreate{Name: "edge-1"})
		testenv.Must(t, err)
		if r.StatusCode() != 201 || r.JSON201.Name != "edge-1" || r.JSON201.ClientId != env.Admin.ClientID {
			t.Fatalf("create node: %d %s", r.StatusCode(), r.Body)
		}
		l, err := c.ListNodesWithResponse(ctx, nil)
		testenv.Must(t, err)
		if l.StatusCode() != 200 || len(l.JSON200.Items) != 1 {
			t.Fatalf("list nodes: %d %s", l.StatusCode(), l.Body)
		}
		if s := status(t, env, deploy.Secret, "GET", "/v2/users", ""); s != 403 {
			t.Fatalf("deploy token lists users: %d, want 403", s)
		}
		if s := status(t, env, deploy.Secret, "POST", "/v2/api_tokens", `{"realname":"x","permissions":["nodes:view"]}`); s != 403 {
			t.Fatalf("deploy token creates a token: %d, want 403", s)
		}
		// Deleting needs nodes:delete, which deploy lacks; the admin has it.
		path := fmt.Sprintf("/v2/nodes/%d", r.JSON201.Id)
		if s := status(t, env, deploy.Secret, "DELETE", path, ""); s != 403 {
			t.Fatalf("deploy deletes a node: %d, want 403", s)
		}
		if s := status(t, env, admin.Session, "DELETE", path, ""); s != 204 {
			t.Fatalf("admin deletes a node: %d, want 204", s)
		}
		if s := status(t, env, admin.Session, "DELETE", path, ""); s != 404 {
			t.Fatalf("second delete: %d, want 404", s)
		}
	})
}

// Disabling a company stops every credential of it, and enabling it again
// restores them (the tokens themselves were never disabled).
func TestClientDisableStopsItsTokens(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		tenant := newTenant(t, env, "Acme")
		user := newPerson(t, env, env.Admin.Token, client.Admin, tenant.Id)
		tok := personalToken(t, env, user.Session, "admin")
		if s := status(t, env, tok.Secret, "GET", "/v2/user", ""); s != 200 {
			t.Fatalf("before: %d", s)
		}
		off, on := false, true
		r, err := env.Client(env.Admin.Token).UpdateClientWithResponse(ctx, tenant.Id, client.ClientUpdate{Enabled: &off})
		testenv.Must(t, err)
		if r.StatusCode() != 200 || r.JSON200.Enabled {
			t.Fatalf("disable client: %d %s", r.StatusCode(), r.Body)
		}
		for _, cred := range []string{tok.Secret, user.Session} {
			if s := status(t, env, cred, "GET", "/v2/user", ""); s != 401 {
				t.Fatalf("credential of a disabled company: %d, want 401", s)
			}
		}
		// The tenant's admin cannot see, let alone re-enable, its parent; the partner can.
		r, err = env.Client(env.Admin.Token).UpdateClientWithResponse(ctx, tenant.Id, client.ClientUpdate{Enabled: &on})
		testenv.Must(t, err)
		if r.StatusCode() != 200 {
			t.Fatalf("enable client: %d %s", r.StatusCode(), r.Body)
		}
		if s := status(t, env, tok.Secret, "GET", "/v2/user", ""); s != 200 {
			t.Fatalf("after re-enable: %d", s)
		}
		// Nobody disables their own company.
		me := env.Admin.ClientID
		r, err = env.Client(env.Admin.Token).UpdateClientWithResponse(ctx, me, client.ClientUpdate{Enabled: &off})
		testenv.Must(t, err)
		if r.StatusCode() != 400 {
			t.Fatalf("disable own company: %d, want 400", r.StatusCode())
		}
	})
}

// Keyset pagination walks every token exactly once, newest first, and the
// filters narrow in the query.
func TestTokenListPaginationAndFilters(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		var created []int64
		for i := range 7 {
			tok := newToken(t, env, admin.Session, client.TokenCreate{Realname: fmt.Sprintf("batch-%d", i), Permissions: []string{"attacks:view"}})
			created = append(created, tok.Id)
		}
		shared := sharedToken(t, env, admin.Session, "nodes:view")
		c := env.Client(admin.Session)

		var seen []int64
		var cursor *string
		limit := int32(3)
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
			r, err := c.ListTokensWithResponse(ctx, &client.ListTokensParams{Limit: &limit, Cursor: cursor, Q: ptr("BATCH")})
			testenv.Must(t, err)
			if r.StatusCode() != 200 {
				t.Fatalf("list: %d %s", r.StatusCode(), r.Body)
			}
			for _, it := range r.JSON200.Items {
				seen = append(seen, it.Id)
			}
			if !r.JSON200.NextCursor.IsSpecified() || r.JSON200.NextCursor.IsNull() {
				break
			}
			next := r.JSON200.NextCursor.MustGet()
			cursor = &next
		}
		if len(seen) != len(created) {
			t.Fatalf("walked %v, created %v", seen, created)
		}
		for i := range seen {
			if seen[i] != created[len(created)-1-i] {
				t.Fatalf("order: got %v, want newest first of %v", seen, created)
			}
		}

		sharedOnly := true
		r, err := c.ListTokensWithResponse(ctx, &client.ListTokensParams{Shared: &sharedOnly})
		testenv.Must(t, err)
		if len(r.JSON200.Items) != 1 || r.JSON200.Items[0].Id != shared.Id {
			t.Fatalf("shared filter: %s", r.Body)
		}
		// A cursor this server did not issue is a 400, not a 500.
		for _, bad := range []string{"garbage", "djE6LTE", "eHg6MTI"} {
			if s := status(t, env, admin.Session, "GET", "/v2/api_tokens?cursor="+bad, ""); s != 400 {
				t.Fatalf("cursor %q: %d, want 400", bad, s)
			}
		}
	})
}

// The maintenance job marks expired tokens disabled (R7) and purges them a
// retention later (R14); the store's clock is the test's.
func TestMaintenanceStoreCalls(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		exp := env.Clock.Now().Add(2 * time.Hour)
		tok := newToken(t, env, admin.Session, client.TokenCreate{Permissions: []string{"admin"}, ExpireAt: nullableTime(exp)})
		n, err := env.Store.DisableExpired(ctx)
		testenv.Must(t, err)
		if n != 0 {
			t.Fatalf("disabled %d before expiry", n)
		}
		env.Clock.Advance(3 * time.Hour)
		n, err = env.Store.DisableExpired(ctx)
		testenv.Must(t, err)
		if n != 1 {
			t.Fatalf("disabled %d after expiry, want 1", n)
		}
		var row store.Token
		testenv.Must(t, env.Store.DB().First(&row, tok.Id).Error)
		if row.Enabled || row.DisabledAt == nil || !row.DisabledAt.Equal(exp) {
			t.Fatalf("expired token: enabled %v disabled_at %v, want disabled at %v", row.Enabled, row.DisabledAt, exp)
		}
		purged, err := env.Store.PurgeDisabled(ctx, 7*24*time.Hour)
		testenv.Must(t, err)
		if purged != 0 {
			t.Fatalf("purged %d too early", purged)
		}
		env.Clock.Advance(7 * 24 * time.Hour)
		purged, err = env.Store.PurgeDisabled(ctx, 7*24*time.Hour)
		testenv.Must(t, err)
		if purged != 1 {
			t.Fatalf("purged %d, want 1", purged)
		}
	})
}

package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/store"
)

// walk reads every page of a listing with pages of limit rows and checks
// the keyset contract on the way: every page but the last is full and
// names its last id as the cursor; the last page answers cursor 0.
func walk(t *testing.T, what string, limit int, fetch func(p store.Page) ([]int64, int64, error)) []int64 {
	t.Helper()
	var out []int64
	p := store.Page{Limit: limit}
	for i := 0; ; i++ {
		if i > 100 {
			t.Fatalf("%s: no last page after 100 pages", what)
		}
		got, next, err := fetch(p)
		if err != nil {
			t.Fatalf("%s page after %d: %v", what, p.After, err)
		}
		if len(got) > limit {
			t.Fatalf("%s: page of %d rows with limit %d", what, len(got), limit)
		}
		out = append(out, got...)
		if next == 0 {
			return out
		}
		if len(got) != limit || next != got[len(got)-1] {
			t.Fatalf("%s: page %v has cursor %d (want a full page ending at it)", what, got, next)
		}
		p.After = next
	}
}

func ascending(ids []int64) []int64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

func descending(ids []int64) []int64 {
	out := ascending(ids)
	slices.Reverse(out)
	return out
}

// Keyset pages: tokens, activity and deliveries newest first; users,
// clients, webhooks and nodes oldest first; every row exactly once, with
// limits that divide the rows evenly (the last page is full and still ends
// with cursor 0) and that do not.
func TestContractKeysetPages(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		partner := w.company("Partner", nil)
		var clients []int64
		clients = append(clients, partner.ID)
		for i := 0; i < 3; i++ {
			clients = append(clients, w.company("Tenant", partner).ID)
		}
		admin := w.user(partner, perm.RolePartnerAdmin)
		users := []int64{admin.ID}
		for i := 0; i < 3; i++ {
			users = append(users, w.user(partner, perm.RoleAnalytic).ID)
		}
		var tokens, hooks, nodes []int64
		for i := 0; i < 4; i++ {
			tokens = append(tokens, w.personal(admin, partner, "attacks:view").ID)
			hooks = append(hooks, w.webhook(partner, true, store.EventTokenDisabled).ID)
			n := &store.Node{UUID: uuid.NewString(), ClientID: partner.ID, Name: "n"}
			w.must(w.st.CreateNode(w.ctx, n))
			nodes = append(nodes, n.ID)
		}
		// Disabling every token makes one delivery per token for hooks[0].
		for _, id := range tokens {
			w.must(w.st.Update(w.ctx, func(tx *store.Tx) error {
				h, err := tx.LockTokenByID(id)
				if err != nil {
					return err
				}
				_, events, err := rules.UpdateToken(caller(admin, partner), h, rules.TokenChange{Enabled: ref(false)}, w.now())
				if err != nil {
					return err
				}
				return tx.Apply(events...)
			}))
		}
		events := ids(w.log(), eventID)
		var deliveries []int64
		for _, d := range w.deliveries(hooks[0]) {
			deliveries = append(deliveries, d.ID)
		}
		if len(deliveries) != len(tokens) {
			t.Fatalf("%d deliveries, want %d", len(deliveries), len(tokens))
		}
		sc := store.Scope{ClientID: partner.ID, Global: true}
		vis := store.TokenVisibility{Scope: sc, AllInScope: true}
		for _, limit := range []int{1, 2, 3, 4, 5} {
			for _, c := range []struct {
				what  string
				want  []int64
				fetch func(p store.Page) ([]int64, int64, error)
			}{
				{"tokens", descending(tokens), func(p store.Page) ([]int64, int64, error) {
					rows, next, err := w.st.ListTokens(w.ctx, vis, store.TokenFilter{Page: p})
					return ids(rows, tokenID), next, err
				}},
				{"activity", descending(events), func(p store.Page) ([]int64, int64, error) {
					rows, next, err := w.st.ListActivity(w.ctx, sc, store.ActivityFilter{Page: p})
					return ids(rows, eventID), next, err
				}},
				{"deliveries", descending(deliveries), func(p store.Page) ([]int64, int64, error) {
					rows, next, err := w.st.ListDeliveries(w.ctx, hooks[0], p)
					return ids(rows, func(d store.Delivery) int64 { return d.ID }), next, err
				}},
				{"users", ascending(users), func(p store.Page) ([]int64, int64, error) {
					rows, next, err := w.st.ListUsers(w.ctx, sc, store.UserFilter{Page: p})
					return ids(rows, userID), next, err
				}},
				{"clients", ascending(clients), func(p store.Page) ([]int64, int64, error) {
					rows, next, err := w.st.ListClients(w.ctx, sc, p)
					return ids(rows, clientID), next, err
				}},
				{"webhooks", ascending(hooks), func(p store.Page) ([]int64, int64, error) {
					rows, next, err := w.st.ListWebhooks(w.ctx, sc, p)
					return ids(rows, func(h store.Webhook) int64 { return h.ID }), next, err
				}},
				{"nodes", ascending(nodes), func(p store.Page) ([]int64, int64, error) {
					rows, next, err := w.st.ListNodes(w.ctx, sc, p)
					return ids(rows, func(n store.Node) int64 { return n.ID }), next, err
				}},
			} {
				if got := walk(t, c.what, limit, c.fetch); !slices.Equal(got, c.want) {
					t.Errorf("%s in pages of %d = %v, want %v", c.what, limit, got, c.want)
				}
			}
		}
	})
}

// A token listing is metadata: the digest, the sealed value and its key id
// are not read at all (GetToken, which the value read needs, has them).
func TestContractTokenListingLeavesSecretsOut(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		admin := w.user(c, perm.RoleAdmin)
		tok := w.personal(admin, c)
		vis := store.TokenVisibility{Scope: store.Scope{ClientID: c.ID}, AllInScope: true}
		rows, _, err := w.st.ListTokens(w.ctx, vis, store.TokenFilter{Page: big})
		w.must(err)
		if len(rows) != 1 {
			t.Fatalf("%d tokens listed", len(rows))
		}
		l := rows[0]
		if len(l.Digest) != 0 || len(l.SecretCiphertext) != 0 || l.SecretKeyID != nil {
			t.Errorf("listing carries secrets: digest %x, ciphertext %q, key %v", l.Digest, l.SecretCiphertext, l.SecretKeyID)
		}
		if l.ID != tok.ID || l.Realname != tok.Realname || l.Hint != tok.Hint || !slices.Equal(l.Permissions, tok.Permissions) ||
			l.UserID == nil || *l.UserID != admin.ID || !l.Enabled || l.SourceRole != "admin" || !l.CreatedAt.Equal(epoch) {
			t.Errorf("listed %+v, created %+v", l, tok)
		}
		got, err := w.st.GetToken(w.ctx, vis, tok.ID)
		w.must(err)
		if !slices.Equal(got.Digest, tok.Digest) || string(got.SecretCiphertext) != "sealed value" || got.SecretKeyID == nil || *got.SecretKeyID != "k1" {
			t.Errorf("GetToken lost the value's columns: %+v", got)
		}
	})
}

// Token filters: owner, company, shared, enabled and a name substring in
// which LIKE's metacharacters % _ \ are matched literally, ignoring case.
func TestContractTokenFilters(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		partner := w.company("Partner", nil)
		tenant := w.company("Tenant", partner)
		global := w.user(partner, perm.RolePartnerAdmin)
		analyst := w.user(partner, perm.RoleAnalytic)
		gc := caller(global, partner)
		named := map[string]int64{}
		for _, name := range []string{"100% done", "100 percent", "a_b", "axb", `back\slash`, "backslash", "Deploy PROD"} {
			named[name] = w.issue(gc, rules.NewTokenRequest{Realname: name, Permissions: []string{"attacks:view"}}).ID
		}
		sharedTok := w.issue(gc, rules.NewTokenRequest{Realname: "shared one", Permissions: []string{"attacks:view"}, Shared: true})
		tenantTok := w.issue(gc, rules.NewTokenRequest{Realname: "tenant one", Permissions: []string{"attacks:view"}, Company: tenant})
		analystTok := w.personal(analyst, partner, "attacks:view")
		// Created disabled (Enabled false), as the API allows.
		disabled, events, err := rules.NewToken(caller(analyst, partner), rules.NewTokenRequest{Realname: "off", Permissions: []string{"attacks:view"}}, w.now())
		w.must(err)
		sealed(disabled)
		w.must(w.st.Record(w.ctx, events...))
		if disabled.Enabled || disabled.DisabledReason != rules.ReasonManual {
			t.Fatalf("NewToken without Enabled made %+v, want a disabled token", disabled)
		}

		vis := store.TokenVisibility{Scope: store.Scope{ClientID: partner.ID, Global: true}, AllInScope: true}
		var everything []int64
		for _, id := range named {
			everything = append(everything, id)
		}
		everything = append(everything, sharedTok.ID, tenantTok.ID, analystTok.ID, disabled.ID)
		var byGlobal []int64
		for _, id := range named {
			byGlobal = append(byGlobal, id)
		}
		byGlobal = append(byGlobal, tenantTok.ID)
		var inPartner []int64
		for _, id := range everything {
			if id != tenantTok.ID {
				inPartner = append(inPartner, id)
			}
		}
		var enabled []int64
		for _, id := range everything {
			if id != disabled.ID {
				enabled = append(enabled, id)
			}
		}
		for _, c := range []struct {
			name string
			f    store.TokenFilter
			want []int64
		}{
			{"none", store.TokenFilter{}, everything},
			{"user_id", store.TokenFilter{UserID: &global.ID}, byGlobal},
			{"user_id of the analyst", store.TokenFilter{UserID: &analyst.ID}, []int64{analystTok.ID, disabled.ID}},
			{"client_id tenant", store.TokenFilter{ClientID: &tenant.ID}, []int64{tenantTok.ID}},
			{"client_id partner", store.TokenFilter{ClientID: &partner.ID}, inPartner},
			{"shared", store.TokenFilter{Shared: ref(true)}, []int64{sharedTok.ID}},
			{"not shared", store.TokenFilter{Shared: ref(false), ClientID: &tenant.ID}, []int64{tenantTok.ID}},
			{"enabled", store.TokenFilter{Enabled: ref(true)}, enabled},
			{"disabled", store.TokenFilter{Enabled: ref(false)}, []int64{disabled.ID}},
			{"q percent", store.TokenFilter{Q: "%"}, []int64{named["100% done"]}},
			{"q underscore", store.TokenFilter{Q: "_"}, []int64{named["a_b"]}},
			{"q backslash", store.TokenFilter{Q: `\`}, []int64{named[`back\slash`]}},
			{"q 100", store.TokenFilter{Q: "100"}, []int64{named["100% done"], named["100 percent"]}},
			{"q ignores case", store.TokenFilter{Q: "prod"}, []int64{named["Deploy PROD"]}},
			{"q upper case", store.TokenFilter{Q: "DEPLOY"}, []int64{named["Deploy PROD"]}},
			{"q no match", store.TokenFilter{Q: "zzz"}, nil},
			{"combined", store.TokenFilter{UserID: &analyst.ID, Enabled: ref(true), Q: "tok"}, []int64{analystTok.ID}},
		} {
			c.f.Page = big
			rows, next, err := w.st.ListTokens(w.ctx, vis, c.f)
			w.must(err)
			if got := ids(rows, tokenID); !sameIDs(got, c.want) || next != 0 {
				t.Errorf("filter %s: %v (next %d), want %v", c.name, got, next, c.want)
			}
		}
	})
}

// User filters: company, role, enabled, and q on the e-mail or the name,
// LIKE metacharacters literal, ignoring case.
func TestContractUserFilters(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		partner := w.company("Partner", nil)
		tenant := w.company("Tenant", partner)
		mk := func(c *store.Client, role perm.Role, email, name string, enabled bool) int64 {
			return w.user(c, role, func(u *store.User) { u.Email, u.Realname, u.Enabled = email, name, enabled }).ID
		}
		alice := mk(partner, perm.RoleAdmin, "alice@example.com", "Alice Liddell", true)
		bob := mk(partner, perm.RoleAnalytic, "bob_1@example.com", "Bob", true)
		carol := mk(tenant, perm.RoleAnalytic, "carol@example.com", "Carol 100%", false)
		dave := mk(tenant, perm.RoleAuditor, "dave@example.com", `Dave \ Ops`, true)
		sc := store.Scope{ClientID: partner.ID, Global: true}
		for _, c := range []struct {
			name string
			f    store.UserFilter
			want []int64
		}{
			{"none", store.UserFilter{}, []int64{alice, bob, carol, dave}},
			{"client_id", store.UserFilter{ClientID: &tenant.ID}, []int64{carol, dave}},
			{"role", store.UserFilter{Role: ref("analytic")}, []int64{bob, carol}},
			{"enabled", store.UserFilter{Enabled: ref(true)}, []int64{alice, bob, dave}},
			{"disabled", store.UserFilter{Enabled: ref(false)}, []int64{carol}},
			{"q on e-mail", store.UserFilter{Q: "ALICE@"}, []int64{alice}},
			{"q on name", store.UserFilter{Q: "liddell"}, []int64{alice}},
			{"q underscore", store.UserFilter{Q: "_"}, []int64{bob}},
			{"q percent", store.UserFilter{Q: "%"}, []int64{carol}},
			{"q backslash", store.UserFilter{Q: `\`}, []int64{dave}},
			{"q everyone's domain", store.UserFilter{Q: "example.com"}, []int64{alice, bob, carol, dave}},
			{"combined", store.UserFilter{ClientID: &tenant.ID, Role: ref("auditor"), Enabled: ref(true), Q: "ops"}, []int64{dave}},
		} {
			c.f.Page = big
			rows, _, err := w.st.ListUsers(w.ctx, sc, c.f)
			w.must(err)
			if got := ids(rows, userID); !slices.Equal(got, c.want) {
				t.Errorf("filter %s: %v, want %v (oldest first)", c.name, got, c.want)
			}
		}
	})
}

// Activity filters: about a token, about or by a user, one action, and a
// half-open time window [since, until).
func TestContractActivityFilters(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		admin := w.user(c, perm.RoleAdmin)
		analyst := w.user(c, perm.RoleAnalytic)
		t0 := w.now()
		w.clock.Advance(time.Minute)
		t1 := w.now()
		adminCtx := store.WithActor(context.Background(), store.Actor{UserID: &admin.ID})
		tok, events, err := rules.NewToken(caller(admin, c), rules.NewTokenRequest{Realname: "x", Permissions: []string{"admin"}, Enabled: true}, w.now())
		w.must(err)
		sealed(tok)
		w.must(w.st.Record(adminCtx, events...))
		w.clock.Advance(time.Minute)
		t2 := w.now()
		w.must(w.st.Update(adminCtx, func(tx *store.Tx) error {
			h, err := tx.LockTokenByID(tok.ID)
			if err != nil {
				return err
			}
			_, events, err := rules.UpdateToken(caller(admin, c), h, rules.TokenChange{Realname: ref("y")}, w.now())
			if err != nil {
				return err
			}
			return tx.Apply(events...)
		}))
		w.clock.Advance(time.Minute)
		analystTok := w.personal(analyst, c, "attacks:view")

		byAction := func(a string) []int64 {
			var out []int64
			for _, e := range w.log() {
				if e.Action == a {
					out = append(out, e.ID)
				}
			}
			return out
		}
		created, updated := byAction(store.ActionTokenCreate), byAction(store.ActionTokenUpdate)
		usersCreated := byAction(store.ActionUserCreate)
		if len(created) != 2 || len(updated) != 1 || len(usersCreated) != 2 {
			t.Fatalf("log %v", actions(w.log()))
		}
		sc := store.Scope{ClientID: c.ID}
		for _, f := range []struct {
			name string
			f    store.ActivityFilter
			want []int64
		}{
			{"token", store.ActivityFilter{TokenID: &tok.ID}, []int64{created[0], updated[0]}},
			{"other token", store.ActivityFilter{TokenID: &analystTok.ID}, []int64{created[1]}},
			// The admin's own creation, and the two lines it did as the actor.
			{"user as subject or actor", store.ActivityFilter{UserID: &admin.ID}, []int64{usersCreated[0], created[0], updated[0]}},
			{"analyst", store.ActivityFilter{UserID: &analyst.ID}, []int64{usersCreated[1], created[1]}},
			{"action", store.ActivityFilter{Action: ref(store.ActionTokenUpdate)}, updated},
			{"since", store.ActivityFilter{Since: &t2}, []int64{updated[0], created[1]}},
			{"until is exclusive", store.ActivityFilter{Until: &t1}, append(byAction(store.ActionClientCreate), usersCreated...)},
			{"window", store.ActivityFilter{Since: &t1, Until: &t2}, []int64{created[0]}},
			{"before everything", store.ActivityFilter{Until: &t0}, nil},
		} {
			f.f.Page = big
			rows, _, err := w.st.ListActivity(w.ctx, sc, f.f)
			w.must(err)
			if got := ids(rows, eventID); !slices.Equal(got, descending(f.want)) {
				t.Errorf("filter %s: %v, want %v", f.name, got, descending(f.want))
			}
		}
	})
}

// A zero Page (Limit 0) is a caller's mistake the store should answer
// without crashing: an empty page or an error, never a panic. (The HTTP
// layer rejects limits below 1, so only direct callers can reach it.)
func TestContractZeroPageLimit(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		var panicked any
		func() {
			defer func() { panicked = recover() }()
			_, _, _ = w.st.ListClients(w.ctx, store.Scope{ClientID: c.ID}, store.Page{})
		}()
		if panicked != nil {
			t.Errorf("ListClients with Page{} (Limit 0) over one row panics: %v (trim cuts rows[:0] and then reads rows[len(rows)-1]; every List* shares it)", panicked)
		}
	})
}

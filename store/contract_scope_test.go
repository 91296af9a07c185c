package store_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/store"
)

// tenancy is a partner with two tenants and an unrelated company, each with
// users, tokens, webhooks, nodes and (from creating them) activity.
type tenancy struct {
	*world
	partner, tenant1, tenant2, other *store.Client
	companies                        []*store.Client
	admins                           map[int64]*store.User // by company id
	partnerAdmin                     *store.User           // Global Administrator of partner
	tenantToken                      *store.Token          // partnerAdmin's personal token for tenant1
	// per company id: the ids of what belongs to it
	users, tokens, hooks, nodes, events map[int64][]int64
}

func newTenancy(t *testing.T, b testenv.Backend) *tenancy {
	w := &tenancy{world: newWorld(t, b), admins: map[int64]*store.User{},
		users: map[int64][]int64{}, tokens: map[int64][]int64{}, hooks: map[int64][]int64{}, nodes: map[int64][]int64{}, events: map[int64][]int64{}}
	w.partner = w.company("Partner", nil)
	w.tenant1 = w.company("Tenant 1", w.partner)
	w.tenant2 = w.company("Tenant 2", w.partner)
	w.other = w.company("Unrelated", nil)
	w.companies = []*store.Client{w.partner, w.tenant1, w.tenant2, w.other}
	for _, c := range w.companies {
		admin := w.user(c, perm.RoleAdmin)
		analyst := w.user(c, perm.RoleAnalytic)
		w.admins[c.ID] = admin
		w.users[c.ID] = append(w.users[c.ID], admin.ID, analyst.ID)
		for _, tok := range []*store.Token{w.personal(admin, c), w.personal(analyst, c), w.shared(admin, c)} {
			w.tokens[c.ID] = append(w.tokens[c.ID], tok.ID)
		}
		w.hooks[c.ID] = append(w.hooks[c.ID], w.webhook(c, true, store.EventTokenDisabled).ID)
		n := &store.Node{UUID: uuid.NewString(), ClientID: c.ID, Name: "node of " + c.Name}
		w.must(w.st.CreateNode(w.ctx, n))
		w.nodes[c.ID] = append(w.nodes[c.ID], n.ID)
	}
	w.partnerAdmin = w.user(w.partner, perm.RolePartnerAdmin)
	w.users[w.partner.ID] = append(w.users[w.partner.ID], w.partnerAdmin.ID)
	// R18: a Global Administrator's token for one of its tenants belongs
	// to the tenant, its owner to the partner.
	w.tenantToken = w.issue(caller(w.partnerAdmin, w.partner), rules.NewTokenRequest{Permissions: []string{"admin"}, Company: w.tenant1})
	w.tokens[w.tenant1.ID] = append(w.tokens[w.tenant1.ID], w.tenantToken.ID)
	for _, e := range w.log() {
		w.events[e.ClientID] = append(w.events[e.ClientID], e.ID)
	}
	return w
}

// union is what a scope's companies own.
func union(by map[int64][]int64, companies ...*store.Client) []int64 {
	var out []int64
	for _, c := range companies {
		out = append(out, by[c.ID]...)
	}
	return out
}

func all(by map[int64][]int64) []int64 {
	var out []int64
	for _, v := range by {
		out = append(out, v...)
	}
	return out
}

// checkScoped asserts that list answers exactly want, and that get finds
// every id of want and answers ErrNotFound for every other id of every.
func checkScoped(t *testing.T, what string, list func() ([]int64, error), get func(id int64) error, want, every []int64) {
	t.Helper()
	got, err := list()
	if err != nil {
		t.Fatalf("list %s: %v", what, err)
	}
	if !sameIDs(got, want) {
		t.Errorf("list %s = %v, want %v", what, got, want)
	}
	in := map[int64]bool{}
	for _, id := range want {
		in[id] = true
	}
	for _, id := range every {
		err := get(id)
		switch {
		case in[id] && err != nil:
			t.Errorf("get %s %d (in scope): %v", what, id, err)
		case !in[id] && !errors.Is(err, store.ErrNotFound):
			t.Errorf("get %s %d (out of scope): err = %v, want ErrNotFound", what, id, err)
		}
	}
}

var big = store.Page{Limit: 1000}

// R18: every query is filtered by the caller's scope in the store: a
// global partner's scope is its company and its tenants, a company's scope
// is itself (even the partner's own company, without the global role), and
// whatever is outside answers ErrNotFound from reads and locks alike.
func TestContractScopeFiltersEveryQuery(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newTenancy(t, b)
		clientIDs := map[int64][]int64{}
		for _, c := range w.companies {
			clientIDs[c.ID] = []int64{c.ID}
		}
		for _, tc := range []struct {
			name  string
			sc    store.Scope
			sees  []*store.Client
			owner *store.User // an AllInScope=false caller of this scope
		}{
			{"global partner", store.Scope{ClientID: w.partner.ID, Global: true}, []*store.Client{w.partner, w.tenant1, w.tenant2}, w.partnerAdmin},
			{"partner without global role", store.Scope{ClientID: w.partner.ID}, []*store.Client{w.partner}, w.admins[w.partner.ID]},
			{"tenant", store.Scope{ClientID: w.tenant1.ID}, []*store.Client{w.tenant1}, w.admins[w.tenant1.ID]},
			{"unrelated company", store.Scope{ClientID: w.other.ID}, []*store.Client{w.other}, w.admins[w.other.ID]},
			{"global tenant (no tenants of its own)", store.Scope{ClientID: w.tenant2.ID, Global: true}, []*store.Client{w.tenant2}, w.admins[w.tenant2.ID]},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				sc := tc.sc
				checkScoped(t, "clients", func() ([]int64, error) {
					rows, _, err := w.st.ListClients(w.ctx, sc, big)
					return ids(rows, clientID), err
				}, func(id int64) error {
					_, err := w.st.GetClient(w.ctx, sc, id)
					return err
				}, union(clientIDs, tc.sees...), all(clientIDs))
				checkScoped(t, "users", func() ([]int64, error) {
					rows, _, err := w.st.ListUsers(w.ctx, sc, store.UserFilter{Page: big})
					return ids(rows, userID), err
				}, func(id int64) error {
					_, err := w.st.GetUser(w.ctx, sc, id)
					return err
				}, union(w.users, tc.sees...), all(w.users))
				vis := store.TokenVisibility{Scope: sc, AllInScope: true}
				checkScoped(t, "tokens", func() ([]int64, error) {
					rows, _, err := w.st.ListTokens(w.ctx, vis, store.TokenFilter{Page: big})
					return ids(rows, tokenID), err
				}, func(id int64) error {
					_, err := w.st.GetToken(w.ctx, vis, id)
					return err
				}, union(w.tokens, tc.sees...), all(w.tokens))
				checkScoped(t, "activity", func() ([]int64, error) {
					rows, _, err := w.st.ListActivity(w.ctx, sc, store.ActivityFilter{Page: big})
					return ids(rows, eventID), err
				}, func(id int64) error {
					rows, _, err := w.st.ListActivity(w.ctx, sc, store.ActivityFilter{Page: big})
					if err != nil {
						return err
					}
					for _, e := range rows {
						if e.ID == id {
							return nil
						}
					}
					return store.ErrNotFound
				}, union(w.events, tc.sees...), all(w.events))
				checkScoped(t, "webhooks", func() ([]int64, error) {
					rows, _, err := w.st.ListWebhooks(w.ctx, sc, big)
					return ids(rows, func(h store.Webhook) int64 { return h.ID }), err
				}, func(id int64) error {
					_, err := w.st.GetWebhook(w.ctx, sc, id)
					return err
				}, union(w.hooks, tc.sees...), all(w.hooks))
				checkScoped(t, "nodes", func() ([]int64, error) {
					rows, _, err := w.st.ListNodes(w.ctx, sc, big)
					return ids(rows, func(n store.Node) int64 { return n.ID }), err
				}, nil, union(w.nodes, tc.sees...), nil)

				// The transaction's loads filter the same way (and lock).
				checkScoped(t, "locked tokens", func() ([]int64, error) { return union(w.tokens, tc.sees...), nil },
					func(id int64) error {
						return w.st.Update(w.ctx, func(tx *store.Tx) error {
							h, err := tx.LockToken(vis, id)
							if err == nil && (h.Token.ID != id || h.Company == nil || h.Company.ID != h.Token.ClientID) {
								return fmt.Errorf("LockToken(%d) = %+v", id, h)
							}
							return err
						})
					}, union(w.tokens, tc.sees...), all(w.tokens))
				checkScoped(t, "locked users", func() ([]int64, error) { return union(w.users, tc.sees...), nil },
					func(id int64) error {
						return w.st.Update(w.ctx, func(tx *store.Tx) error {
							u, err := tx.LockUser(sc, id)
							if err == nil && u.ID != id {
								return fmt.Errorf("LockUser(%d) = %d", id, u.ID)
							}
							return err
						})
					}, union(w.users, tc.sees...), all(w.users))
				for name, load := range map[string]func(tx *store.Tx, id int64) (*store.Client, error){
					"locked clients": func(tx *store.Tx, id int64) (*store.Client, error) { return tx.LockClient(sc, id) },
					"tx clients":     func(tx *store.Tx, id int64) (*store.Client, error) { return tx.Client(sc, id) },
				} {
					checkScoped(t, name, func() ([]int64, error) { return union(clientIDs, tc.sees...), nil },
						func(id int64) error {
							return w.st.Update(w.ctx, func(tx *store.Tx) error {
								c, err := load(tx, id)
								if err == nil && c.ID != id {
									return fmt.Errorf("%s(%d) = %d", name, id, c.ID)
								}
								return err
							})
						}, union(clientIDs, tc.sees...), all(clientIDs))
				}

				// R6: without api_tokens:manage, only the caller's own
				// tokens, and only inside the scope.
				own := store.TokenVisibility{Scope: sc, UserID: tc.owner.ID}
				var mine []int64
				for _, c := range tc.sees {
					for _, id := range w.tokens[c.ID] {
						if tok := w.row(id); tok.OwnedBy(tc.owner.ID) {
							mine = append(mine, id)
						}
					}
				}
				if len(mine) == 0 {
					t.Fatalf("%s owns no token in scope: the case tests nothing", tc.owner.Realname)
				}
				checkScoped(t, "own tokens", func() ([]int64, error) {
					rows, _, err := w.st.ListTokens(w.ctx, own, store.TokenFilter{Page: big})
					return ids(rows, tokenID), err
				}, func(id int64) error {
					_, err := w.st.GetToken(w.ctx, own, id)
					return err
				}, mine, all(w.tokens))
				checkScoped(t, "own tokens, locked", func() ([]int64, error) { return mine, nil },
					func(id int64) error {
						return w.st.Update(w.ctx, func(tx *store.Tx) error { _, err := tx.LockToken(own, id); return err })
					}, mine, all(w.tokens))
				// A shared-token caller (no user) without api_tokens:manage sees none.
				sharedCaller := store.TokenVisibility{Scope: sc}
				checkScoped(t, "tokens of a shared-token caller", func() ([]int64, error) {
					rows, _, err := w.st.ListTokens(w.ctx, sharedCaller, store.TokenFilter{Page: big})
					return ids(rows, tokenID), err
				}, func(id int64) error {
					_, err := w.st.GetToken(w.ctx, sharedCaller, id)
					return err
				}, nil, all(w.tokens))
			})
		}
	})
}

// R6 from the caller: rules.TokenVisibility of a Global Administrator's
// session covers its tenants; an analyst's only its own tokens.
func TestContractVisibilityFromCallers(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newTenancy(t, b)
		global := rules.TokenVisibility(caller(w.partnerAdmin, w.partner))
		rows, _, err := w.st.ListTokens(w.ctx, global, store.TokenFilter{Page: big})
		w.must(err)
		if want := union(w.tokens, w.partner, w.tenant1, w.tenant2); !sameIDs(ids(rows, tokenID), want) {
			t.Errorf("Global Administrator sees %v, want %v", ids(rows, tokenID), want)
		}
		analyst, err := w.st.GetUser(w.ctx, store.Scope{ClientID: w.tenant1.ID}, w.users[w.tenant1.ID][1])
		w.must(err)
		vis := rules.TokenVisibility(caller(analyst, w.tenant1))
		rows, _, err = w.st.ListTokens(w.ctx, vis, store.TokenFilter{Page: big})
		w.must(err)
		if len(rows) != 1 || !rows[0].OwnedBy(analyst.ID) {
			t.Errorf("an analyst sees %v, want its one token", ids(rows, tokenID))
		}
		// The tenant's administrator manages the tenant token its partner made.
		tenantAdmin := rules.TokenVisibility(caller(w.admins[w.tenant1.ID], w.tenant1))
		if _, err := w.st.GetToken(w.ctx, tenantAdmin, w.tenantToken.ID); err != nil {
			t.Errorf("tenant administrator cannot see the tenant token: %v", err)
		}
	})
}

// DeleteNode deletes only inside the scope: an out-of-scope id answers
// ErrNotFound and the node stays; a deleted node is gone for good.
func TestContractDeleteNodeInScope(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		partner := w.company("Partner", nil)
		tenant := w.company("Tenant", partner)
		other := w.company("Other", nil)
		node := &store.Node{UUID: uuid.NewString(), ClientID: tenant.ID, Name: "edge-1"}
		w.must(w.st.CreateNode(w.ctx, node))
		if !node.CreatedAt.Equal(epoch) {
			t.Errorf("node created_at = %v, want the store clock's %v", node.CreatedAt, epoch)
		}
		for _, sc := range []store.Scope{{ClientID: other.ID}, {ClientID: other.ID, Global: true}, {ClientID: partner.ID}} {
			wantNotFound(t, fmt.Sprintf("DeleteNode in %+v", sc), w.st.DeleteNode(w.ctx, sc, node.ID))
		}
		if !w.exists(&store.Node{}, node.ID) {
			t.Fatal("an out-of-scope delete removed the node")
		}
		w.must(w.st.DeleteNode(w.ctx, store.Scope{ClientID: partner.ID, Global: true}, node.ID))
		if w.exists(&store.Node{}, node.ID) {
			t.Fatal("the node is still there")
		}
		wantNotFound(t, "second delete", w.st.DeleteNode(w.ctx, store.Scope{ClientID: tenant.ID}, node.ID))
	})
}

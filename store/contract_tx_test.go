package store_test

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/store"
)

// What a transaction loads for the rules: a token with its owner (nil for
// a shared one) and its company (the tenant, for a Global Administrator's
// tenant token), by visibility or by id; nothing for an unknown id.
func TestContractTxLoadsHeldTokens(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		partner := w.company("Partner", nil)
		tenant := w.company("Tenant", partner)
		global := w.user(partner, perm.RolePartnerAdmin)
		gc := caller(global, partner)
		personal := w.personal(global, partner, "admin")
		sharedTok := w.shared(global, partner)
		tenantTok := w.issue(gc, rules.NewTokenRequest{Permissions: []string{"admin"}, Company: tenant})
		for _, c := range []struct {
			what    string
			tok     *store.Token
			owner   *store.User
			company *store.Client
		}{
			{"personal", personal, global, partner},
			{"shared", sharedTok, nil, partner},
			{"tenant token", tenantTok, global, tenant},
		} {
			for name, load := range map[string]func(tx *store.Tx) (rules.Held, error){
				"LockToken":     func(tx *store.Tx) (rules.Held, error) { return tx.LockToken(rules.TokenVisibility(gc), c.tok.ID) },
				"LockTokenByID": func(tx *store.Tx) (rules.Held, error) { return tx.LockTokenByID(c.tok.ID) },
			} {
				var h rules.Held
				w.must(w.st.Update(w.ctx, func(tx *store.Tx) error {
					var err error
					h, err = load(tx)
					return err
				}))
				if h.Token.ID != c.tok.ID || !bytes.Equal(h.Token.Digest, c.tok.Digest) || !slices.Equal(h.Token.Permissions, c.tok.Permissions) ||
					h.Company == nil || h.Company.ID != c.company.ID {
					t.Errorf("%s of the %s token: %+v", name, c.what, h)
				}
				if (c.owner == nil) != (h.Owner == nil) || (c.owner != nil && h.Owner.ID != c.owner.ID) {
					t.Errorf("%s of the %s token: owner %+v, want %+v", name, c.what, h.Owner, c.owner)
				}
			}
		}
		wantNotFound(t, "LockTokenByID of nothing", w.st.Update(w.ctx, func(tx *store.Tx) error {
			_, err := tx.LockTokenByID(tenantTok.ID + 100)
			return err
		}))
		var n int
		w.must(w.st.Update(w.ctx, func(tx *store.Tx) error {
			var err error
			n, err = tx.CountPersonalTokens(global.ID)
			return err
		}))
		if n != 2 {
			t.Errorf("CountPersonalTokens = %d, want 2 (the shared token is nobody's)", n)
		}
	})
}

// The actor a context carries is what the activity log records; a context
// without one is tokend itself.
func TestContractActor(t *testing.T) {
	t.Parallel()
	if a := store.ActorFrom(context.Background()); a.UserID != nil || a.TokenID != nil || a.IP != "" {
		t.Errorf("actor of a bare context: %+v", a)
	}
	uid, tid := int64(7), int64(9)
	ctx := store.WithActor(context.Background(), store.Actor{UserID: &uid, TokenID: &tid, IP: "192.0.2.1"})
	if a := store.ActorFrom(ctx); a.UserID == nil || *a.UserID != 7 || a.TokenID == nil || *a.TokenID != 9 || a.IP != "192.0.2.1" {
		t.Errorf("actor %+v", a)
	}
}

// A webhook's sealed key is bound to the webhook: another webhook's
// associated data differs.
func TestContractWebhookAAD(t *testing.T) {
	t.Parallel()
	a, b := &store.Webhook{UUID: "a"}, &store.Webhook{UUID: "b"}
	if bytes.Equal(a.AAD(), b.AAD()) || !bytes.Equal(a.AAD(), (&store.Webhook{UUID: "a", ID: 5}).AAD()) {
		t.Errorf("AAD %q %q", a.AAD(), b.AAD())
	}
}

// The column types: JSON lists and maps read from text or bytes, NULL as
// empty, anything else refused; optional bytes are NULL when empty.
func TestContractColumnTypes(t *testing.T) {
	t.Parallel()
	var l store.StringList
	for _, src := range []any{`["a","b"]`, []byte(`["a","b"]`)} {
		if err := l.Scan(src); err != nil || !slices.Equal(l, store.StringList{"a", "b"}) {
			t.Errorf("StringList.Scan(%v) = %v, %v", src, l, err)
		}
	}
	if err := l.Scan(nil); err != nil || l == nil || len(l) != 0 {
		t.Errorf("StringList.Scan(nil) = %#v, %v; want empty, not nil", l, err)
	}
	if err := l.Scan(42); err == nil {
		t.Error("StringList.Scan(42) accepted")
	}
	if err := l.Scan("not json"); err == nil {
		t.Error("StringList.Scan of bad JSON accepted")
	}
	if v, _ := store.StringList(nil).Value(); v != "[]" {
		t.Errorf("nil StringList is %v, want []", v)
	}
	var d store.Details
	if err := d.Scan([]byte(`{"k":"v"}`)); err != nil || d["k"] != "v" {
		t.Errorf("Details.Scan = %v, %v", d, err)
	}
	if err := d.Scan(nil); err != nil || d == nil || len(d) != 0 {
		t.Errorf("Details.Scan(nil) = %#v, %v", d, err)
	}
	if v, _ := store.Details(nil).Value(); v != "{}" {
		t.Errorf("nil Details is %v, want {}", v)
	}
	var nb store.NullBytes
	for src, want := range map[any]string{"text": "text", "": ""} {
		if err := nb.Scan(src); err != nil || string(nb) != want || (want == "" && nb != nil) {
			t.Errorf("NullBytes.Scan(%q) = %q, %v", src, nb, err)
		}
	}
	if err := nb.Scan([]byte{}); err != nil || nb != nil {
		t.Errorf("NullBytes.Scan(empty) = %#v, %v; want nil", nb, err)
	}
	if err := nb.Scan(nil); err != nil || nb != nil {
		t.Errorf("NullBytes.Scan(nil) = %#v", nb)
	}
	if err := nb.Scan(3.5); err == nil {
		t.Error("NullBytes.Scan(3.5) accepted")
	}
	if v, _ := store.NullBytes(nil).Value(); v != nil {
		t.Errorf("empty NullBytes is %v, want NULL", v)
	}
}

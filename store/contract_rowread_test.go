package store_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/store"
)

// A page reads its rows by hand (pgx's text on PostgreSQL, driver values
// on SQLite); each token on it must be the token GORM reads by id, field
// for field: nulls, times to the microsecond, names with quotes and
// non-ASCII, rate limits, the disabled reason, last use.
func TestContractPageRowsAreTheStoredTokens(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		admin := w.user(c, perm.RoleAdmin)
		ac := caller(admin, c)
		expiry := w.now().Add(36*time.Hour + 123456*time.Microsecond)
		ten, window := 10, 60
		plain := w.issue(ac, rules.NewTokenRequest{Realname: `quote " back\slash é 😀`, Permissions: []string{"attacks:view", "users:view"}, Enabled: true})
		w.issue(ac, rules.NewTokenRequest{Realname: "expiring", Permissions: []string{"admin"}, ExpireAt: &expiry, Enabled: true,
			RateLimit: rules.RateLimit{Requests: &ten, Window: &window}})
		shared := w.issue(ac, rules.NewTokenRequest{Realname: "shared", Permissions: []string{"attacks:view"}, Shared: true, Enabled: true})
		_, err := w.updateToken(w.ctx, ac, shared.ID, rules.TokenChange{Enabled: ref(false)})
		w.must(err)
		w.must(w.st.RecordTokenUsage(w.ctx, []store.TokenUsage{{TokenID: plain.ID, At: w.now().Add(1500 * time.Microsecond), IP: "2001:db8::1"}}))
		vis := store.TokenVisibility{Scope: store.Scope{ClientID: c.ID}, AllInScope: true}
		page, _, err := w.st.ListTokens(w.ctx, vis, store.TokenFilter{})
		w.must(err)
		if len(page) != 3 {
			t.Fatalf("%d tokens on the page, want 3", len(page))
		}
		for _, got := range page {
			want, err := w.st.GetToken(w.ctx, vis, got.ID)
			w.must(err)
			// The page leaves out the digest, the ciphertext and the key ids.
			want.Digest, want.DigestKeyID, want.SecretCiphertext, want.SecretKeyID = nil, nil, nil, nil
			if d := diffTokens(got, *want); d != "" {
				t.Errorf("token %d (%s) on the page differs from the stored row: %s", got.ID, got.Realname, d)
			}
		}
	})
}

// diffTokens names the fields where a and b differ; times are compared as
// instants, whatever their location.
func diffTokens(a, b store.Token) string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out string
	for i := range va.NumField() {
		fa, fb := va.Field(i).Interface(), vb.Field(i).Interface()
		same := reflect.DeepEqual(fa, fb)
		switch x := fa.(type) {
		case time.Time:
			same = x.Equal(fb.(time.Time))
		case *time.Time:
			y := fb.(*time.Time)
			same = (x == nil) == (y == nil) && (x == nil || x.Equal(*y))
		}
		if !same {
			out += fmt.Sprintf("%s: page %v, stored %v; ", va.Type().Field(i).Name, show(fa), show(fb))
		}
	}
	return out
}

func show(v any) any {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		return rv.Elem().Interface()
	}
	return v
}

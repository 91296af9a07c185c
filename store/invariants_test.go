package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/store"
)

// TestCheckInvariants: a consistent database has no violations, and each
// kind of corruption, written straight into the tables, is reported under
// its rule.
func TestCheckInvariants(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		st := b.OpenStore(t)
		_, err := st.Migrate(ctx)
		testenv.Must(t, err)
		now := time.Now().UTC().Truncate(time.Second)
		company := &store.Client{UUID: uuid.NewString(), Name: "Acme", Enabled: true, CreatedAt: now, UpdatedAt: now}
		testenv.Must(t, st.CreateClient(ctx, company))
		newUser := func(role string) *store.User {
			u := &store.User{UUID: uuid.NewString(), ClientID: company.ID, Email: uuid.NewString() + "@example.com",
				Realname: role, Role: role, Enabled: true, APIAccess: true, CreatedAt: now, UpdatedAt: now}
			testenv.Must(t, st.CreateUser(ctx, u))
			return u
		}
		admin, analyst := newUser("admin"), newUser("analytic")
		n := 0
		newToken := func(owner *store.User, perms ...string) *store.Token {
			n++
			tok := &store.Token{ClientID: company.ID, UserID: &owner.ID, Realname: "t", Permissions: perms,
				SourceRole: "custom", Enabled: true, CreatedAt: now, UpdatedAt: now, Digest: []byte{byte(n), 1, 2, 3}}
			testenv.Must(t, st.DB().Create(tok).Error)
			return tok
		}
		newToken(admin, "admin")
		newToken(analyst, "analytic")
		v, err := st.CheckInvariants(ctx)
		testenv.Must(t, err)
		if len(v) != 0 {
			t.Fatalf("a consistent database reports %v", v)
		}

		for _, tc := range []struct {
			rule    string
			corrupt func() int64
		}{
			{"R12", func() int64 { return newToken(analyst, "users:delete").ID }},
			{"R11", func() int64 {
				u := newUser("analytic")
				tok := newToken(u, "analytic")
				testenv.Must(t, st.DB().Model(&store.User{}).Where("id = ?", u.ID).Update("enabled", false).Error)
				return tok.ID
			}},
			{"R7", func() int64 {
				tok := newToken(admin, "admin")
				testenv.Must(t, st.DB().Model(&store.Token{}).Where("id = ?", tok.ID).Update("expire_at", now.Add(-time.Hour)).Error)
				return tok.ID
			}},
			{"R8", func() int64 {
				tok := newToken(admin, "admin")
				testenv.Must(t, st.DB().Model(&store.Token{}).Where("id = ?", tok.ID).Update("enabled", false).Error)
				return tok.ID
			}},
			{"R5", func() int64 {
				tok := newToken(admin, "admin")
				testenv.Must(t, st.DB().Model(&store.Token{}).Where("id = ?", tok.ID).Update("shared", true).Error)
				return tok.ID
			}},
			{"R16", func() int64 {
				u := newUser("analytic")
				tok := newToken(u, "analytic")
				testenv.Must(t, st.DB().Model(&store.User{}).Where("id = ?", u.ID).Updates(map[string]any{"sso": true, "api_access": false}).Error)
				return tok.ID
			}},
			{"R1", func() int64 { return newToken(admin, "no_such:permission").ID }},
		} {
			id := tc.corrupt()
			v, err := st.CheckInvariants(ctx)
			testenv.Must(t, err)
			found := false
			for _, x := range v {
				if x.TokenID == id && x.Rule == tc.rule {
					found = true
				}
			}
			if !found {
				t.Errorf("%s corruption of token %d not reported: %v", tc.rule, id, v)
			}
			// Repair: remove the corrupt token so the next case stands alone.
			testenv.Must(t, st.DB().Delete(&store.Token{}, id).Error)
		}
	})
}

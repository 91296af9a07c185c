package store_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/store"
)

// invWorld builds rows the way tokend stores them, and remembers what each
// case created so that the case can be removed again.
type invWorld struct {
	t              *testing.T
	st             *store.Store
	now            time.Time
	company, other *store.Client
	users, tokens  []int64
}

func (w *invWorld) user(role string) *store.User {
	w.t.Helper()
	u := &store.User{UUID: uuid.NewString(), ClientID: w.company.ID, Email: uuid.NewString() + "@example.com",
		Realname: role, Role: role, Enabled: true, APIAccess: true, CreatedAt: w.now, UpdatedAt: w.now}
	testenv.Must(w.t, w.st.CreateUser(context.Background(), u))
	w.users = append(w.users, u.ID)
	return u
}

func (w *invWorld) insert(tok *store.Token) *store.Token {
	w.t.Helper()
	digest := make([]byte, 32)
	_, _ = rand.Read(digest)
	tok.ClientID, tok.Realname, tok.Enabled, tok.CreatedAt, tok.UpdatedAt = w.company.ID, "t", true, w.now, w.now
	tok.SourceRole, tok.Digest, tok.Hint = perm.SourceRole(tok.Permissions), digest, "tkd_abcd…wxyz"
	tok.SecretCiphertext, tok.SecretKeyID = store.NullBytes("sealed"), ref("k1")
	testenv.Must(w.t, w.st.DB().Create(tok).Error)
	w.tokens = append(w.tokens, tok.ID)
	return tok
}

// personal inserts an enabled personal token of owner.
func (w *invWorld) personal(owner *store.User, perms ...string) *store.Token {
	return w.insert(&store.Token{UserID: &owner.ID, Permissions: perms})
}

func (w *invWorld) shared(perms ...string) *store.Token {
	return w.insert(&store.Token{Shared: true, CapRole: "admin", Permissions: perms})
}

func (w *invWorld) legacy(owner *store.User) *store.Token {
	return w.insert(&store.Token{UserID: &owner.ID, Permissions: []string{owner.Role},
		BackwardCompatible: true, LegacyUUID: ref(uuid.NewString())})
}

// exec corrupts rows with plain SQL, as a buggy release or a hand edit would.
func (w *invWorld) exec(query string, args ...any) {
	w.t.Helper()
	testenv.Must(w.t, w.st.DB().Exec(query, args...).Error)
}

// forget deletes what the last case created.
func (w *invWorld) forget() {
	w.t.Helper()
	if len(w.tokens) > 0 {
		w.exec("DELETE FROM tokens WHERE id IN ?", w.tokens)
	}
	if len(w.users) > 0 {
		w.exec("DELETE FROM sessions WHERE user_id IN ?", w.users)
		w.exec("DELETE FROM tokens WHERE user_id IN ?", w.users)
		w.exec("DELETE FROM users WHERE id IN ?", w.users)
	}
	w.users, w.tokens = nil, nil
}

func ref[T any](v T) *T { return &v }

// TestCheckInvariants: a database written the way tokend writes it has no
// violations; then each invariant of DESIGN.md §3 is broken once, straight
// in the tables, and must be reported under its rule for the right object,
// and the world must be clean again once that object is gone.
func TestCheckInvariants(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		st := b.OpenStore(t)
		_, err := st.Migrate(ctx)
		testenv.Must(t, err)
		now := time.Now().UTC().Truncate(time.Second)
		w := &invWorld{t: t, st: st, now: now}
		for _, c := range []**store.Client{&w.company, &w.other} {
			*c = &store.Client{UUID: uuid.NewString(), Name: "Acme", Enabled: true}
			testenv.Must(t, st.CreateClient(ctx, *c))
		}
		vis := store.TokenVisibility{Scope: store.Scope{ClientID: w.company.ID}, AllInScope: true}

		// The clean world: every kind of row, each in a state tokend reaches.
		admin, analyst, auditor := w.user("admin"), w.user("analytic"), w.user("auditor")
		w.personal(admin, "admin")
		w.personal(analyst, "analytic", "attacks:view")
		w.insert(&store.Token{UserID: &analyst.ID, Permissions: []string{"attacks:view"}, ExpireAt: ref(now.Add(time.Hour))})
		w.insert(&store.Token{UserID: &analyst.ID, Permissions: []string{}}) // emptied by a demotion…
		w.exec("UPDATE tokens SET enabled = ?, disabled_at = ?, disabled_reason = ? WHERE id = ?", false, now, "no_permissions_left", w.tokens[len(w.tokens)-1])
		w.personal(auditor, "attacks:view") // …and left with what the lower role grants
		w.shared("admin")
		w.insert(&store.Token{Shared: true, CapRole: "partner_admin", Permissions: []string{"clients:view"}})
		w.legacy(analyst)
		renewed := w.personal(admin, "api_tokens:view")
		testenv.Must(t, st.Update(ctx, func(tx *store.Tx) error {
			h, err := tx.LockToken(vis, renewed.ID)
			if err != nil {
				return err
			}
			caller := &rules.Caller{Kind: rules.PersonalTokenCredential, User: admin, Client: w.company,
				Role: perm.RoleAdmin, Effective: perm.RoleAdmin.Permissions()}
			tok, events, err := rules.RenewToken(caller, h, time.Hour, now)
			if err != nil {
				return err
			}
			tok.Digest = append([]byte(nil), tok.Digest...)
			tok.Digest[0]++
			return tx.Apply(events...)
		}))
		testenv.Must(t, st.CreateSession(ctx, &store.Session{UserID: admin.ID, Digest: make([]byte, 32),
			Purpose: rules.SessionFull, CreatedAt: now, ExpiresAt: now.Add(12 * time.Hour)}))
		// A Global Administrator's token for one of its tenants (R18, R21).
		global := w.user("partner_admin")
		tenant := &store.Client{UUID: uuid.NewString(), Name: "Tenant", Enabled: true, ParentID: &w.company.ID}
		testenv.Must(t, st.CreateClient(ctx, tenant))
		tt := w.personal(global, "admin")
		w.exec("UPDATE tokens SET client_id = ? WHERE id = ?", tenant.ID, tt.ID)
		// A one-time password and its session (R22).
		oneTime := w.user("analytic")
		w.exec("UPDATE users SET password_hash = ?, password_one_time = ? WHERE id = ?", "$argon2id$x", true, oneTime.ID)
		testenv.Must(t, st.CreateSession(ctx, &store.Session{UserID: oneTime.ID, Digest: []byte("one-time session digest"),
			Purpose: rules.SessionPasswordChange, CreatedAt: now, ExpiresAt: now.Add(rules.PasswordChangeLifetime)}))
		disabledSSO := w.user("analytic")
		w.exec("UPDATE users SET enabled = ?, sso = ?, api_access = ? WHERE id = ?", false, true, false, disabledSSO.ID)
		w.insert(&store.Token{UserID: &disabledSSO.ID, Permissions: []string{"analytic"}})
		w.exec("UPDATE tokens SET enabled = ?, disabled_at = ?, disabled_reason = ? WHERE id = ?", false, now, "owner_disabled", w.tokens[len(w.tokens)-1])
		w.exec("UPDATE clients SET enabled = ? WHERE id = ?", false, w.other.ID) // a disabled company is no violation
		clean := func(when string) {
			t.Helper()
			v, err := st.CheckInvariants(ctx)
			testenv.Must(t, err)
			if len(v) != 0 {
				t.Fatalf("%s: a consistent database reports %v", when, v)
			}
		}
		clean("the clean world")
		w.users, w.tokens = nil, nil // the clean world stays

		for _, tc := range []struct {
			name, rule, kind string
			corrupt          func() int64
		}{
			{"unknown permission", "R1", "token", func() int64 { return w.personal(admin, "no_such:permission").ID }},
			{"source_role contradicts permissions", "R1", "token", func() int64 {
				id := w.personal(admin, "attacks:view").ID
				w.exec("UPDATE tokens SET source_role = ? WHERE id = ?", "admin", id)
				return id
			}},
			{"personal without owner", "R4", "token", func() int64 {
				id := w.shared("admin").ID
				w.exec("UPDATE tokens SET shared = ? WHERE id = ?", false, id)
				return id
			}},
			{"shared with owner", "R5", "token", func() int64 {
				id := w.personal(admin, "admin").ID
				w.exec("UPDATE tokens SET shared = ?, cap_role = ? WHERE id = ?", true, "admin", id)
				return id
			}},
			{"shared cap role not an administrator", "R5", "token", func() int64 {
				id := w.shared("attacks:view").ID
				w.exec("UPDATE tokens SET cap_role = ? WHERE id = ?", "analytic", id)
				return id
			}},
			{"expired yet enabled", "R7", "token", func() int64 {
				id := w.personal(admin, "admin").ID
				w.exec("UPDATE tokens SET expire_at = ? WHERE id = ?", now.Add(-time.Minute), id)
				return id
			}},
			{"disabled without disabled_at", "R8", "token", func() int64 {
				id := w.personal(admin, "admin").ID
				w.exec("UPDATE tokens SET enabled = ? WHERE id = ?", false, id)
				return id
			}},
			{"enabled with disabled_at", "R8", "token", func() int64 {
				id := w.personal(admin, "admin").ID
				w.exec("UPDATE tokens SET disabled_at = ? WHERE id = ?", now, id)
				return id
			}},
			{"grace beyond 24h", "R10", "token", func() int64 {
				id := w.personal(admin, "admin").ID
				w.exec("UPDATE tokens SET renewed_at = ? WHERE id = ?", now, id)
				w.exec("INSERT INTO token_grace_digests (digest, token_id, expires_at) VALUES (?, ?, ?)",
					store.NullBytes("old value's digest "+fmt.Sprint(id)), id, now.Add(48*time.Hour))
				return id
			}},
			{"owner disabled", "R11", "token", func() int64 {
				u := w.user("analytic")
				id := w.personal(u, "analytic").ID
				w.exec("UPDATE users SET enabled = ? WHERE id = ?", false, u.ID)
				return id
			}},
			{"owner gone", "R11", "token", func() int64 { // an owner that is gone, foreign keys notwithstanding
				u := w.user("analytic")
				id := w.personal(u, "analytic").ID
				w.withoutForeignKeys(func(tx *gorm.DB) error {
					return tx.Exec("UPDATE tokens SET user_id = ? WHERE id = ?", u.ID+1_000_000, id).Error
				})
				return id
			}},
			{"above owner's role", "R12", "token", func() int64 { return w.personal(analyst, "users:delete").ID }},
			{"enabled with no permissions", "R12", "token", func() int64 {
				id := w.personal(analyst, "analytic").ID
				w.exec("UPDATE tokens SET permissions = ?, source_role = ? WHERE id = ?", store.StringList{}, "custom", id)
				return id
			}},
			{"digest not an HMAC", "R13", "token", func() int64 {
				id := w.personal(admin, "admin").ID
				w.exec("UPDATE tokens SET digest = ? WHERE id = ?", store.NullBytes("a value in clear"), id)
				return id
			}},
			{"ciphertext without key id", "R13", "token", func() int64 {
				id := w.personal(admin, "admin").ID
				w.exec("UPDATE tokens SET secret_key_id = NULL WHERE id = ?", id)
				return id
			}},
			{"legacy of an SSO user", "R15", "token", func() int64 {
				u := w.user("analytic")
				id := w.legacy(u).ID
				w.exec("UPDATE users SET sso = ? WHERE id = ?", true, u.ID)
				return id
			}},
			{"legacy permissions not the role", "R15", "token", func() int64 {
				id := w.legacy(w.user("analytic")).ID
				w.exec("UPDATE tokens SET permissions = ?, source_role = ? WHERE id = ?", store.StringList{"admin"}, "admin", id)
				return id
			}},
			{"legacy without UUID", "R15", "token", func() int64 {
				id := w.legacy(w.user("analytic")).ID
				w.exec("UPDATE tokens SET legacy_id = NULL WHERE id = ?", id)
				return id
			}},
			{"legacy UUID after compatibility", "R15", "token", func() int64 {
				id := w.personal(admin, "admin").ID
				w.exec("UPDATE tokens SET legacy_id = ? WHERE id = ?", uuid.NewString(), id)
				return id
			}},
			{"legacy shared", "R15", "token", func() int64 {
				id := w.legacy(w.user("admin")).ID
				w.exec("UPDATE tokens SET shared = ?, user_id = NULL, cap_role = ? WHERE id = ?", true, "admin", id)
				return id
			}},
			{"SSO owner without API access", "R16", "token", func() int64 {
				u := w.user("analytic")
				id := w.personal(u, "analytic").ID
				w.exec("UPDATE users SET sso = ?, api_access = ? WHERE id = ?", true, false, u.ID)
				return id
			}},
			{"other company than owner", "R18", "token", func() int64 {
				id := w.personal(admin, "admin").ID
				w.exec("UPDATE tokens SET client_id = ? WHERE id = ?", w.other.ID, id)
				return id
			}},
			{"session of disabled user", "R19", "session", func() int64 {
				u := w.user("analytic")
				s := &store.Session{UserID: u.ID, Digest: []byte("session of " + u.Email), Purpose: rules.SessionFull,
					CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
				testenv.Must(t, st.CreateSession(ctx, s))
				w.exec("UPDATE users SET enabled = ? WHERE id = ?", false, u.ID)
				return s.ID
			}},
			{"disabled without a reason", "R8", "token", func() int64 {
				id := w.personal(admin, "admin").ID
				w.exec("UPDATE tokens SET enabled = ?, disabled_at = ? WHERE id = ?", false, now, id)
				return id
			}},
			{"tenant token after its owner lost the global role", "R21", "token", func() int64 {
				u := w.user("partner_admin")
				tenant := &store.Client{UUID: uuid.NewString(), Name: "Tenant", Enabled: true, ParentID: &w.company.ID}
				testenv.Must(t, st.CreateClient(ctx, tenant))
				id := w.personal(u, "admin").ID
				w.exec("UPDATE tokens SET client_id = ? WHERE id = ?", tenant.ID, id)
				w.exec("UPDATE users SET role = ? WHERE id = ?", "admin", u.ID)
				return id
			}},
			{"shared above its cap role", "R20", "token", func() int64 {
				id := w.shared("admin").ID
				w.exec("UPDATE tokens SET permissions = ?, source_role = ? WHERE id = ?", store.StringList{"partner_admin"}, "partner_admin", id)
				return id
			}},
			{"full session of a one-time password", "R22", "session", func() int64 {
				u := w.user("analytic")
				s := &store.Session{UserID: u.ID, Digest: []byte("full session of " + u.Email), Purpose: rules.SessionFull,
					CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
				testenv.Must(t, st.CreateSession(ctx, s))
				w.exec("UPDATE users SET password_hash = ?, password_one_time = ? WHERE id = ?", "$argon2id$x", true, u.ID)
				return s.ID
			}},
			{"unknown role", "§2", "user", func() int64 {
				u := w.user("analytic")
				w.exec("UPDATE users SET role = ? WHERE id = ?", "superuser", u.ID)
				return u.ID
			}},
		} {
			id := tc.corrupt()
			t.Run(tc.rule+" "+tc.name, func(t *testing.T) {
				v, err := st.CheckInvariants(ctx)
				testenv.Must(t, err)
				found := false
				for _, x := range v {
					found = found || (x.Rule == tc.rule && x.Kind == tc.kind && x.ID == id)
				}
				if !found {
					t.Errorf("%s corruption of %s %d not reported: %v", tc.rule, tc.kind, id, v)
				}
			})
			w.forget()
			clean(fmt.Sprintf("after removing the %s %s case", tc.rule, tc.kind))
		}
	})
}

// withoutForeignKeys runs f with foreign keys unenforced: SQLite's pragma
// on its single connection, PostgreSQL's replica role for one transaction.
func (w *invWorld) withoutForeignKeys(f func(tx *gorm.DB) error) {
	w.t.Helper()
	db := w.st.DB()
	if w.st.Dialect() == store.SQLite {
		testenv.Must(w.t, db.Exec("PRAGMA foreign_keys = OFF").Error)
		defer func() { testenv.Must(w.t, db.Exec("PRAGMA foreign_keys = ON").Error) }()
		testenv.Must(w.t, f(db))
		return
	}
	testenv.Must(w.t, db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SET LOCAL session_replication_role = replica").Error; err != nil {
			return err
		}
		return f(tx)
	}))
}

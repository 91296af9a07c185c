package store_test

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/migrations"
)

// The store answers domain errors only: a duplicate of a unique column or
// a missing referenced row is ErrConflict, with nothing written.
func TestContractConflicts(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		admin := w.user(c, perm.RoleAdmin, func(u *store.User) { u.Email = "taken@example.com" })
		tok := w.personal(admin, c)
		operator := w.user(c, perm.RolePartnerAdmin)
		legacy := uuid.NewString()
		legacyTok, events, err := rules.ImportLegacy(caller(operator, c), admin, legacy, w.now())
		w.must(err)
		sealed(legacyTok)
		w.must(w.st.Record(w.ctx, events...))
		sess := w.session(admin, time.Hour)
		hook := w.webhook(c, true)
		before := w.lastLogID()

		newUser := func(mod func(*store.User)) *store.User {
			u := &store.User{UUID: uuid.NewString(), ClientID: c.ID, Email: uuid.NewString() + "@example.com", Realname: "x",
				Role: "analytic", Enabled: true, CreatedAt: w.now(), UpdatedAt: w.now()}
			mod(u)
			return u
		}
		newToken := func(mod func(*store.Token)) *store.Token {
			t := &store.Token{ClientID: c.ID, UserID: &admin.ID, Realname: "x", Permissions: []string{"admin"}, SourceRole: "admin",
				Enabled: true, CreatedAt: w.now(), UpdatedAt: w.now()}
			sealed(t)
			mod(t)
			return t
		}
		for name, err := range map[string]error{
			"duplicate e-mail":       w.st.CreateUser(w.ctx, newUser(func(u *store.User) { u.Email = "taken@example.com" })),
			"duplicate user uuid":    w.st.CreateUser(w.ctx, newUser(func(u *store.User) { u.UUID = admin.UUID })),
			"user of no company":     w.st.CreateUser(w.ctx, newUser(func(u *store.User) { u.ClientID = c.ID + 100 })),
			"duplicate digest":       w.st.CreateToken(w.ctx, newToken(func(t *store.Token) { t.Digest = tok.Digest })),
			"duplicate legacy uuid":  w.st.CreateToken(w.ctx, newToken(func(t *store.Token) { t.BackwardCompatible, t.LegacyUUID = true, &legacy })),
			"token of no owner":      w.st.CreateToken(w.ctx, newToken(func(t *store.Token) { t.UserID = ref(admin.ID + 100) })),
			"duplicate client uuid":  w.st.CreateClient(w.ctx, &store.Client{UUID: c.UUID, Name: "x", CreatedAt: w.now(), UpdatedAt: w.now()}),
			"tenant of no partner":   w.st.CreateClient(w.ctx, &store.Client{UUID: uuid.NewString(), Name: "x", ParentID: ref(c.ID + 100), CreatedAt: w.now(), UpdatedAt: w.now()}),
			"duplicate session":      w.st.CreateSession(w.ctx, &store.Session{UserID: admin.ID, Digest: sess.Digest, Purpose: rules.SessionFull, CreatedAt: w.now(), ExpiresAt: w.now().Add(time.Hour)}),
			"duplicate webhook uuid": w.st.CreateWebhook(w.ctx, &store.Webhook{UUID: hook.UUID, ClientID: c.ID, URL: "https://x", SecretCiphertext: []byte("k"), SecretKeyID: "k1"}),
			"duplicate node uuid": func() error {
				n := &store.Node{UUID: uuid.NewString(), ClientID: c.ID, Name: "n"}
				w.must(w.st.CreateNode(w.ctx, n))
				return w.st.CreateNode(w.ctx, &store.Node{UUID: n.UUID, ClientID: c.ID, Name: "n"})
			}(),
		} {
			if !errors.Is(err, store.ErrConflict) {
				t.Errorf("%s: err = %v, want ErrConflict", name, err)
			}
		}
		if lines := w.logSince(before); len(lines) != 0 {
			t.Errorf("refused inserts logged %v", actions(lines))
		}
		if n := w.count(&store.User{}, "1 = 1"); n != 2 {
			t.Errorf("%d users after refused inserts, want 2", n)
		}
		if n := w.count(&store.Token{}, "1 = 1"); n != 2 {
			t.Errorf("%d tokens after refused inserts, want 2", n)
		}
	})
}

// A database that does not answer is ErrUnavailable, whatever was asked:
// a closed store, or a deadline that passed.
func TestContractUnavailable(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		admin := w.user(c, perm.RoleAdmin)
		tok := w.personal(admin, c)
		sc := store.Scope{ClientID: c.ID}
		vis := store.TokenVisibility{Scope: sc, AllInScope: true}
		calls := func(ctx context.Context) map[string]error {
			_, getErr := w.st.GetToken(ctx, vis, tok.ID)
			_, _, listErr := w.st.ListUsers(ctx, sc, store.UserFilter{Page: big})
			_, digestErr := w.st.TokenByDigest(ctx, tok.Digest)
			_, hasErr := w.st.HasUsers(ctx)
			_, expireErr := w.st.DisableExpired(ctx)
			_, _, claimErr := w.st.ClaimDueDelivery(ctx, time.Minute)
			return map[string]error{
				"GetToken": getErr, "ListUsers": listErr, "TokenByDigest": digestErr, "HasUsers": hasErr, "DisableExpired": expireErr,
				"ClaimDueDelivery": claimErr,
				"Update": w.st.Update(ctx, func(tx *store.Tx) error {
					_, err := tx.LockTokenByID(tok.ID)
					return err
				}),
				"RecordTokenUsage": w.st.RecordTokenUsage(ctx, []store.TokenUsage{{TokenID: tok.ID, At: w.now(), IP: "192.0.2.1"}}),
				"CreateSession":    w.st.CreateSession(ctx, &store.Session{UserID: admin.ID, Digest: randomDigest(), Purpose: rules.SessionFull, CreatedAt: w.now(), ExpiresAt: w.now()}),
			}
		}
		past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		for name, err := range calls(past) {
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("%s after its deadline: err = %v, want ErrUnavailable", name, err)
			}
		}
		w.must(w.st.Close())
		for name, err := range calls(context.Background()) {
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("%s on a closed store: err = %v, want ErrUnavailable", name, err)
			}
		}
		if err := w.st.Ping(context.Background()); err == nil {
			t.Error("Ping of a closed store answers")
		}
	})
}

// Open picks the backend from the URL and refuses what it cannot use,
// without repeating a password it was given.
func TestContractOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct{ url, want string }{
		{"mysql://root:hunter2@db/tokend", "unsupported database URL"},
		{"sqlite:", "no file path"},
		{"postgres://u:hunter2@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", "postgres database"},
	} {
		st, err := store.Open(ctx, c.url)
		if err == nil {
			st.Close()
			t.Errorf("Open(%q) succeeded", c.url)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q): %v, want %q and no password", c.url, err, c.want)
		}
	}
	for _, u := range []string{"sqlite:" + t.TempDir() + "/a.db", t.TempDir() + "/b.db"} {
		st, err := store.Open(ctx, u)
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if st.Dialect() != store.SQLite {
			t.Errorf("Open(%q) is %s", u, st.Dialect())
		}
		if err := st.Ping(ctx); err != nil {
			t.Error(err)
		}
		st.Close()
	}
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		if b.Name != "postgres" {
			return
		}
		st, err := store.Open(ctx, b.DatabaseURL(t))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if st.Dialect() != store.Postgres {
			t.Errorf("dialect %s", st.Dialect())
		}
	})
}

// Migrations: an empty database migrates to the newest version (one per
// file of the dialect), a second run applies nothing, and the version
// stays.
func TestContractMigrate(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		st, err := store.Open(context.Background(), b.DatabaseURL(t))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		files, err := fs.Glob(migrations.FS, b.Name+"/*.sql")
		if err != nil || len(files) == 0 {
			t.Fatalf("migrations of %s: %v %v", b.Name, files, err)
		}
		testenv.Migrate(t, st)
		v, err := st.MigrationVersion(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if v != int64(len(files)) {
			t.Errorf("version %d after migrating, want %d", v, len(files))
		}
		testenv.Migrate(t, st)
		if v2, _ := st.MigrationVersion(context.Background()); v2 != v {
			t.Errorf("version moved to %d on a second run", v2)
		}
		if has, err := st.HasUsers(context.Background()); err != nil || has {
			t.Errorf("a fresh database has users: %v %v", has, err)
		}
	})
}

// Bootstrap: an empty database gets its first company, Global
// Administrator and token in one go; a second bootstrap is refused and
// writes nothing; a forced one adds an administrator to the oldest
// top-level company (never a tenant).
func TestContractBootstrap(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		admin := func(email string) (*store.User, *store.Token) {
			u := &store.User{UUID: uuid.NewString(), Email: email, Realname: "root", Role: string(perm.RolePartnerAdmin), Enabled: true,
				APIAccess: true, CreatedAt: w.now(), UpdatedAt: w.now()}
			tok := &store.Token{Realname: "bootstrap", Permissions: []string{"partner_admin"}, SourceRole: "partner_admin", Enabled: true,
				CreatedAt: w.now(), UpdatedAt: w.now()}
			sealed(tok)
			return u, tok
		}
		company := &store.Client{UUID: uuid.NewString(), Name: "Operator", Enabled: true, CreatedAt: w.now(), UpdatedAt: w.now()}
		u, tok := admin("root@example.com")
		w.must(w.st.Bootstrap(w.ctx, company, u, tok, false))
		if company.ID == 0 || u.ClientID != company.ID || tok.ClientID != company.ID || !eqPtr(tok.UserID, &u.ID) || !eqPtr(tok.CreatedBy, &u.ID) {
			t.Fatalf("bootstrap linked company %d, user %+v, token %+v", company.ID, u, tok)
		}
		cred, err := w.st.TokenByDigest(w.ctx, tok.Digest)
		w.must(err)
		if _, outcome := rules.Admit(cred, w.now()); outcome != rules.Admitted {
			t.Errorf("the bootstrap token is not admitted: %v", outcome)
		}
		if has, err := w.st.HasUsers(w.ctx); err != nil || !has {
			t.Errorf("HasUsers after bootstrap: %v %v", has, err)
		}

		u2, tok2 := admin("second@example.com")
		err = w.st.Bootstrap(w.ctx, &store.Client{UUID: uuid.NewString(), Name: "Another", Enabled: true}, u2, tok2, false)
		if !errors.Is(err, store.ErrAlreadyBootstrapped) {
			t.Errorf("second bootstrap: err = %v, want ErrAlreadyBootstrapped", err)
		}
		if n := w.count(&store.Client{}, "1 = 1"); n != 1 {
			t.Errorf("%d companies after a refused bootstrap", n)
		}
		if _, err := w.st.UserByEmail(w.ctx, "second@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a refused bootstrap created its user: %v", err)
		}

		w.company("Tenant", company)
		found := &store.Client{}
		u3, tok3 := admin("forced@example.com")
		w.must(w.st.Bootstrap(w.ctx, found, u3, tok3, true))
		if found.ID != company.ID || u3.ClientID != company.ID || tok3.ClientID != company.ID {
			t.Errorf("forced bootstrap used company %d (user in %d), want the first %d", found.ID, u3.ClientID, company.ID)
		}
		if n := w.count(&store.Client{}, "1 = 1"); n != 2 {
			t.Errorf("forced bootstrap created a company: %d", n)
		}
		u4, tok4 := admin("forced@example.com")
		if err := w.st.Bootstrap(w.ctx, &store.Client{}, u4, tok4, true); !errors.Is(err, store.ErrConflict) {
			t.Errorf("forced bootstrap with a taken e-mail: err = %v, want ErrConflict", err)
		}
	})
}

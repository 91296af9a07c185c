package store_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/store"
)

// credentialOf checks what a credential resolved to: the token, the owner
// and its company, and the company the token acts in.
func credentialOf(t *testing.T, what string, cred *store.Credential, tok *store.Token, owner *store.User, ownerCo, company *store.Client) {
	t.Helper()
	if cred == nil || cred.Token == nil || cred.Token.ID != tok.ID {
		t.Fatalf("%s resolved to %+v, want token %d", what, cred, tok.ID)
	}
	if !slices.Equal(cred.Token.Digest, tok.Digest) && cred.GraceUntil == nil {
		t.Errorf("%s: token digest %x, want %x", what, cred.Token.Digest, tok.Digest)
	}
	if cred.Client == nil || cred.Client.ID != company.ID || cred.Client.Name != company.Name || !cred.Client.Enabled {
		t.Errorf("%s: Client %+v, want %d", what, cred.Client, company.ID)
	}
	if owner == nil {
		if cred.User != nil || cred.UserClient != nil {
			t.Errorf("%s: a shared token has owner %+v / %+v", what, cred.User, cred.UserClient)
		}
		return
	}
	if cred.User == nil || cred.User.ID != owner.ID || cred.User.Role != owner.Role || cred.User.Email != owner.Email {
		t.Errorf("%s: User %+v, want %d", what, cred.User, owner.ID)
	}
	if cred.UserClient == nil || cred.UserClient.ID != ownerCo.ID {
		t.Errorf("%s: UserClient %+v, want %d", what, cred.UserClient, ownerCo.ID)
	}
}

// Verification lookups: a token by its current value with its owner and
// companies in one answer (a Global Administrator's tenant token acts in
// the tenant, its owner belongs to the partner); a renewed token's old
// value until its grace ends; unknown values ErrNotFound; and what
// rules.Admit makes of the answers.
func TestContractTokenByDigest(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		partner := w.company("Partner", nil)
		tenant := w.company("Tenant", partner)
		admin := w.user(partner, perm.RoleAdmin)
		global := w.user(partner, perm.RolePartnerAdmin)
		personal := w.personal(admin, partner)
		sharedTok := w.shared(admin, partner)
		tenantTok := w.issue(caller(global, partner), rules.NewTokenRequest{Permissions: []string{"admin"}, Company: tenant})

		for _, c := range []struct {
			what      string
			tok       *store.Token
			owner     *store.User
			ownerCo   *store.Client
			company   *store.Client
			effective perm.Permission
		}{
			{"personal token", personal, admin, partner, partner, perm.ManageTokens},
			{"shared token", sharedTok, nil, nil, partner, "attacks:view"},
			{"tenant token of a global owner", tenantTok, global, partner, tenant, perm.ManageTokens},
		} {
			cred, err := w.st.TokenByDigest(w.ctx, c.tok.Digest)
			w.must(err)
			credentialOf(t, c.what, cred, c.tok, c.owner, c.ownerCo, c.company)
			if cred.GraceUntil != nil {
				t.Errorf("%s: a current value has GraceUntil %v", c.what, cred.GraceUntil)
			}
			if !slices.Equal(cred.Token.Permissions, c.tok.Permissions) || cred.Token.ClientID != c.company.ID {
				t.Errorf("%s: token %+v", c.what, cred.Token)
			}
			caller, outcome := rules.Admit(cred, w.now())
			if outcome != rules.Admitted || !caller.Holds(c.effective) || caller.TokenID != c.tok.ID {
				t.Errorf("%s: admitted %v with %v", c.what, outcome, caller)
			}
		}
		_, err := w.st.TokenByDigest(w.ctx, randomDigest())
		wantNotFound(t, "unknown digest", err)

		// R10: the old value works until its grace ends, then not at all.
		renewed, old := w.renew(w.ctx, caller(admin, partner), personal.ID, time.Hour)
		cred, err := w.st.TokenByDigest(w.ctx, old)
		w.must(err)
		credentialOf(t, "grace value", cred, personal, admin, partner, partner)
		if cred.GraceUntil == nil || !cred.GraceUntil.Equal(w.now().Add(time.Hour)) {
			t.Errorf("grace value: GraceUntil %v, want %v", str(cred.GraceUntil), w.now().Add(time.Hour))
		}
		if !slices.Equal(cred.Token.Digest, renewed.Digest) {
			t.Error("the grace value resolves to a token without its new digest")
		}
		cred, err = w.st.TokenByDigest(w.ctx, renewed.Digest)
		w.must(err)
		if cred.GraceUntil != nil {
			t.Error("the new value is reported as a grace value")
		}
		w.clock.Advance(time.Hour - time.Second)
		if _, err := w.st.TokenByDigest(w.ctx, old); err != nil {
			t.Errorf("grace value a second before its end: %v", err)
		}
		w.clock.Advance(time.Second)
		_, err = w.st.TokenByDigest(w.ctx, old)
		wantNotFound(t, "grace value at its end", err)

		// A company or owner disabled is in the answer (admission refuses).
		w.must(w.st.DB().Model(&store.Client{}).Where("id = ?", tenant.ID).Update("enabled", false).Error)
		cred, err = w.st.TokenByDigest(w.ctx, tenantTok.Digest)
		w.must(err)
		if cred.Client.Enabled {
			t.Error("a disabled tenant is reported enabled")
		}
		if _, outcome := rules.Admit(cred, w.now()); outcome != rules.Disabled {
			t.Errorf("token of a disabled company admitted: %v", outcome)
		}
	})
}

// Sessions (R19): created, found by digest until they expire, ended by id
// or by digest; their credential is the user in its own company.
func TestContractSessions(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		u := w.user(c, perm.RoleAnalytic, func(u *store.User) { u.PasswordHash = ref("$argon2id$x") })
		s, ok := rules.SignIn(u, c, true, w.now())
		if !ok {
			t.Fatal("SignIn refused")
		}
		s.Digest = randomDigest()
		w.must(w.st.CreateSession(w.ctx, s))
		if s.ID == 0 {
			t.Fatal("CreateSession gave no id")
		}
		cred, err := w.st.SessionByDigest(w.ctx, s.Digest)
		w.must(err)
		if cred.Session == nil || cred.Session.ID != s.ID || cred.Session.Purpose != rules.SessionFull || !cred.Session.ExpiresAt.Equal(s.ExpiresAt) ||
			cred.Token != nil || cred.User == nil || cred.User.ID != u.ID || cred.Client == nil || cred.Client.ID != c.ID ||
			cred.UserClient == nil || cred.UserClient.ID != c.ID {
			t.Fatalf("session credential %+v", cred)
		}
		if caller, outcome := rules.Admit(cred, w.now()); outcome != rules.Admitted || caller.SessionID != s.ID {
			t.Errorf("session admitted %v", outcome)
		}
		_, err = w.st.SessionByDigest(w.ctx, randomDigest())
		wantNotFound(t, "unknown session", err)
		// Not a token: a session digest is no API token.
		_, err = w.st.TokenByDigest(w.ctx, s.Digest)
		wantNotFound(t, "session digest as a token", err)

		w.clock.Advance(rules.SessionLifetime - time.Second)
		if _, err := w.st.SessionByDigest(w.ctx, s.Digest); err != nil {
			t.Errorf("a session a second before it expires: %v", err)
		}
		w.clock.Advance(time.Second)
		_, err = w.st.SessionByDigest(w.ctx, s.Digest)
		wantNotFound(t, "expired session", err)

		s2, s3 := w.session(u, time.Hour), w.session(u, time.Hour)
		w.must(w.st.DeleteSession(w.ctx, s2.ID))
		_, err = w.st.SessionByDigest(w.ctx, s2.Digest)
		wantNotFound(t, "deleted session", err)
		w.must(w.st.EndSessionByDigest(w.ctx, s3.Digest))
		_, err = w.st.SessionByDigest(w.ctx, s3.Digest)
		wantNotFound(t, "ended session", err)
		// Ending what is not there is no error (logout twice).
		w.must(w.st.EndSessionByDigest(w.ctx, s3.Digest))
		w.must(w.st.DeleteSession(w.ctx, s2.ID))
		if n := w.count(&store.Session{}, "user_id = ?", u.ID); n != 1 {
			t.Errorf("%d sessions left, want the expired one (the purge removes it)", n)
		}
	})
}

// Sign-in lookups: a user by its e-mail, a company by id, before any
// scope exists.
func TestContractSignInLookups(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		partner := w.company("Partner", nil)
		tenant := w.company("Tenant", partner)
		u := w.user(tenant, perm.RoleAuditor, func(u *store.User) { u.Email = "ann@example.com" })
		got, err := w.st.UserByEmail(w.ctx, "ann@example.com")
		w.must(err)
		if got.ID != u.ID || got.ClientID != tenant.ID || got.Role != "auditor" {
			t.Errorf("UserByEmail = %+v", got)
		}
		_, err = w.st.UserByEmail(w.ctx, "ANN@example.com")
		wantNotFound(t, "UserByEmail is exact (e-mails are stored canonical)", err)
		cl, err := w.st.ClientByID(w.ctx, tenant.ID)
		w.must(err)
		if cl.ID != tenant.ID || cl.ParentID == nil || *cl.ParentID != partner.ID || cl.Name != "Tenant" {
			t.Errorf("ClientByID = %+v", cl)
		}
		_, err = w.st.ClientByID(w.ctx, tenant.ID+100)
		wantNotFound(t, "ClientByID of nothing", err)
		if creds, err := w.st.TokensByLegacyUUID(w.ctx, "00000000-0000-0000-0000-000000000000"); err != nil || len(creds) != 0 {
			t.Errorf("unknown legacy UUID: %d, %v", len(creds), err)
		}
	})
}

// Concurrent lookups share statements (issue 16's batched miss path) and
// each still gets its own answer: 400 lookups at once over 40 tokens (each
// value presented ten times), renewed values in their grace, and unknown
// values, with a digest per key of a two-key ring for some.
func TestContractTokenByDigestBatches(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		partner := w.company("Partner", nil)
		admin := w.user(partner, perm.RoleAdmin)
		var toks []*store.Token
		for range 40 {
			toks = append(toks, w.personal(admin, partner))
		}
		renewed, old := w.renew(w.ctx, caller(admin, partner), toks[0].ID, time.Hour)
		toks[0] = renewed
		before := w.st.LookupStats()
		const n = 400
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				switch {
				case i%10 == 9: // unknown, under two keys
					if _, err := w.st.TokenByDigest(w.ctx, randomDigest(), randomDigest()); !errors.Is(err, store.ErrNotFound) {
						errs <- fmt.Errorf("unknown value: %v", err)
					}
				case i%10 == 8: // the renewed token's old value, in its grace
					cred, err := w.st.TokenByDigest(w.ctx, randomDigest(), old)
					if err != nil || cred.Token.ID != renewed.ID || cred.GraceUntil == nil {
						errs <- fmt.Errorf("grace value: %+v, %v", cred, err)
					}
				default:
					tok := toks[i%len(toks)]
					cred, err := w.st.TokenByDigest(w.ctx, tok.Digest)
					if err != nil || cred.Token.ID != tok.ID || cred.GraceUntil != nil || cred.User == nil || cred.User.ID != admin.ID {
						errs <- fmt.Errorf("token %d: %+v, %v", tok.ID, cred, err)
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		after := w.st.LookupStats()
		lookups, queries := after.Lookups-before.Lookups, after.Queries-before.Queries
		t.Logf("%d lookups (after sharing identical ones) in %d statements", lookups, queries)
		if lookups == 0 || queries >= lookups {
			t.Errorf("%d lookups took %d statements: concurrent lookups were not batched", lookups, queries)
		}
	})
}

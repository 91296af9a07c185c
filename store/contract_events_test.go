package store_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/store"
)

// updateToken is PUT /v2/api_tokens/{id}: lock what c may see, decide with
// rules.UpdateToken, apply.
func (w *world) updateToken(ctx context.Context, c *rules.Caller, id int64, ch rules.TokenChange) (*store.Token, error) {
	var out *store.Token
	err := w.st.Update(ctx, func(tx *store.Tx) error {
		h, err := tx.LockToken(rules.TokenVisibility(c), id)
		if err != nil {
			return err
		}
		tok, events, err := rules.UpdateToken(c, h, ch, w.now())
		if err != nil {
			return err
		}
		out = tok
		return tx.Apply(events...)
	})
	return out, err
}

// renew is POST /v2/api_tokens/{id}/renew: the rules decide, the shell
// gives the token a new value, Apply saves. It returns the old digest.
func (w *world) renew(ctx context.Context, c *rules.Caller, id int64, grace time.Duration) (*store.Token, []byte) {
	w.t.Helper()
	var out *store.Token
	var old []byte
	w.must(w.st.Update(ctx, func(tx *store.Tx) error {
		h, err := tx.LockToken(rules.TokenVisibility(c), id)
		if err != nil {
			return err
		}
		old = h.Token.Digest
		tok, events, err := rules.RenewToken(c, h, grace, w.now())
		if err != nil {
			return err
		}
		tok.Digest = randomDigest()
		out = tok
		return tx.Apply(events...)
	}))
	return out, old
}

// line checks one activity-log line.
func line(t *testing.T, e store.Event, action string, clientID int64, tokenID, userID *int64, details store.Details) {
	t.Helper()
	if e.Action != action {
		t.Errorf("line %d is %q, want %q (%+v)", e.ID, e.Action, action, e)
		return
	}
	if e.ClientID != clientID || !eqPtr(e.TokenID, tokenID) || !eqPtr(e.UserID, userID) {
		t.Errorf("%s: client %d token %v user %v, want client %d token %v user %v", action, e.ClientID, str(e.TokenID), str(e.UserID),
			clientID, str(tokenID), str(userID))
	}
	if details == nil {
		details = store.Details{}
	}
	if !maps.Equal(e.Details, details) {
		t.Errorf("%s: details %v, want %v", action, e.Details, details)
	}
}

func eqPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func str[T any](p *T) any {
	if p == nil {
		return "nil"
	}
	return *p
}

// A token's life through Apply: each event writes the token's columns and
// exactly one activity line, attributed to the context's actor, at the
// store's clock; an update that also enables or disables the token is one
// line (the state change, with the fields it changed).
func TestContractApplyTokenLifecycle(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		admin := w.user(c, perm.RoleAdmin)
		other := w.user(c, perm.RoleAdmin)
		ac := caller(admin, c)
		actorToken := int64(4242)
		ctx := store.WithActor(context.Background(), store.Actor{UserID: &admin.ID, TokenID: &actorToken, IP: "192.0.2.7"})

		// TokenCreated.
		mark := w.lastLogID()
		tok, events, err := rules.NewToken(ac, rules.NewTokenRequest{Realname: "ci", Permissions: []string{"attacks:view", "api_tokens:view"}, Enabled: true}, w.now())
		w.must(err)
		sealed(tok)
		w.must(w.st.Record(ctx, events...))
		if tok.ID == 0 {
			t.Fatal("Apply did not give the token its id")
		}
		got := w.row(tok.ID)
		if got.Realname != "ci" || !slices.Equal(got.Permissions, []string{"attacks:view", "api_tokens:view"}) || got.SourceRole != "custom" ||
			!got.Enabled || got.UserID == nil || *got.UserID != admin.ID || got.CreatedBy == nil || *got.CreatedBy != admin.ID ||
			!got.CreatedAt.Equal(epoch) || !got.UpdatedAt.Equal(epoch) || !slices.Equal(got.Digest, tok.Digest) {
			t.Errorf("created row %+v", got)
		}
		lines := w.logSince(mark)
		if len(lines) != 1 {
			t.Fatalf("creation logged %v", actions(lines))
		}
		e := lines[0]
		line(t, e, store.ActionTokenCreate, c.ID, &tok.ID, &admin.ID, store.Details{"permissions": "attacks:view,api_tokens:view", "shared": "false", "enabled": "true"})
		if !eqPtr(e.ActorUserID, &admin.ID) || !eqPtr(e.ActorTokenID, &actorToken) || e.IP == nil || *e.IP != "192.0.2.7" || !e.CreatedAt.Equal(epoch) {
			t.Errorf("creation line attributed to user %v token %v ip %v at %v", str(e.ActorUserID), str(e.ActorTokenID), str(e.IP), e.CreatedAt)
		}

		// TokenChanged: name and permissions.
		w.clock.Advance(time.Minute)
		mark = w.lastLogID()
		_, err = w.updateToken(ctx, ac, tok.ID, rules.TokenChange{Realname: ref("ci-2"), Permissions: &[]string{"admin"}})
		w.must(err)
		got = w.row(tok.ID)
		if got.Realname != "ci-2" || !slices.Equal(got.Permissions, []string{"admin"}) || got.SourceRole != "admin" {
			t.Errorf("changed row %+v", got)
		}
		lines = w.logSince(mark)
		if len(lines) != 1 {
			t.Fatalf("change logged %v", actions(lines))
		}
		line(t, lines[0], store.ActionTokenUpdate, c.ID, &tok.ID, &admin.ID, store.Details{"fields": "realname,permissions"})

		// TokenChanged + TokenDisabled(manual): one line.
		w.clock.Advance(time.Minute)
		mark = w.lastLogID()
		_, err = w.updateToken(ctx, ac, tok.ID, rules.TokenChange{Realname: ref("ci-3"), Enabled: ref(false)})
		w.must(err)
		got = w.row(tok.ID)
		if got.Enabled || !timeEq(got.DisabledAt, ref(w.now())) || got.DisabledReason != rules.ReasonManual || got.Realname != "ci-3" {
			t.Errorf("disabled row %+v", got)
		}
		lines = w.logSince(mark)
		if len(lines) != 1 {
			t.Fatalf("rename + disable logged %v, want one line", actions(lines))
		}
		line(t, lines[0], store.ActionTokenDisable, c.ID, &tok.ID, &admin.ID, store.Details{"reason": "manual", "fields": "realname"})

		// TokenChanged(expire_at) + TokenEnabled: one line.
		w.clock.Advance(time.Minute)
		mark = w.lastLogID()
		expiry := w.now().Add(48 * time.Hour)
		_, err = w.updateToken(ctx, ac, tok.ID, rules.TokenChange{Enabled: ref(true), ExpireSet: true, ExpireAt: &expiry})
		w.must(err)
		got = w.row(tok.ID)
		if !got.Enabled || got.DisabledAt != nil || got.DisabledReason != "" || !timeEq(got.ExpireAt, &expiry) {
			t.Errorf("re-enabled row %+v", got)
		}
		lines = w.logSince(mark)
		if len(lines) != 1 {
			t.Fatalf("re-enable logged %v, want one line", actions(lines))
		}
		line(t, lines[0], store.ActionTokenEnable, c.ID, &tok.ID, &admin.ID, store.Details{"fields": "expire_at"})

		// A plain disable (no field changed) and an update that changes
		// nothing are lines too.
		mark = w.lastLogID()
		_, err = w.updateToken(ctx, ac, tok.ID, rules.TokenChange{Enabled: ref(false)})
		w.must(err)
		_, err = w.updateToken(ctx, ac, tok.ID, rules.TokenChange{Realname: ref("ci-3")})
		w.must(err)
		lines = w.logSince(mark)
		if len(lines) != 2 {
			t.Fatalf("logged %v", actions(lines))
		}
		line(t, lines[0], store.ActionTokenDisable, c.ID, &tok.ID, &admin.ID, store.Details{"reason": "manual"})
		line(t, lines[1], store.ActionTokenUpdate, c.ID, &tok.ID, &admin.ID, store.Details{"fields": ""})
		_, err = w.updateToken(ctx, ac, tok.ID, rules.TokenChange{Enabled: ref(true), ExpireSet: true})
		w.must(err)

		// TokenRenewed with a grace period: new digest, the old one kept
		// until the grace ends; without one, no grace row.
		w.clock.Advance(time.Minute)
		mark = w.lastLogID()
		renewed, old := w.renew(ctx, ac, tok.ID, time.Hour)
		got = w.row(tok.ID)
		if !slices.Equal(got.Digest, renewed.Digest) || slices.Equal(got.Digest, old) || !timeEq(got.RenewedAt, ref(w.now())) {
			t.Errorf("renewed row %+v", got)
		}
		var grace []store.GraceDigest
		w.must(w.st.DB().Where("token_id = ?", tok.ID).Find(&grace).Error)
		if len(grace) != 1 || !slices.Equal(grace[0].Digest, old) || !grace[0].ExpiresAt.Equal(w.now().Add(time.Hour)) {
			t.Errorf("grace rows %+v, want the old digest until %v", grace, w.now().Add(time.Hour))
		}
		_, old2 := w.renew(ctx, ac, tok.ID, 0)
		if n := w.count(&store.GraceDigest{}, "digest = ?", old2); n != 0 {
			t.Errorf("a renewal without grace kept the old value (%d rows)", n)
		}
		lines = w.logSince(mark)
		if len(lines) != 2 {
			t.Fatalf("renewals logged %v", actions(lines))
		}
		line(t, lines[0], store.ActionTokenRenew, c.ID, &tok.ID, &admin.ID, store.Details{"grace_period": "1h0m0s"})
		line(t, lines[1], store.ActionTokenRenew, c.ID, &tok.ID, &admin.ID, store.Details{"grace_period": "0s"})

		// TokenValueRead and TokenValueReadDenied write nothing but a line.
		mark = w.lastLogID()
		before := w.row(tok.ID)
		w.must(w.st.Update(ctx, func(tx *store.Tx) error {
			h, err := tx.LockToken(rules.TokenVisibility(ac), tok.ID)
			if err != nil {
				return err
			}
			if err := rules.MayReadValue(ac, h, true); err != nil {
				return err
			}
			return tx.Apply(rules.ValueRead(h)...)
		}))
		oc := caller(other, c)
		w.must(w.st.Update(ctx, func(tx *store.Tx) error {
			h, err := tx.LockToken(rules.TokenVisibility(oc), tok.ID)
			if err != nil {
				return err
			}
			refusal := rules.MayReadValue(oc, h, true)
			if refusal == nil {
				t.Fatal("another administrator may read a personal token's value")
			}
			return tx.Apply(rules.ReadValueDenied(h, refusal)...)
		}))
		lines = w.logSince(mark)
		if len(lines) != 2 {
			t.Fatalf("reads logged %v", actions(lines))
		}
		line(t, lines[0], store.ActionTokenSecretRead, c.ID, &tok.ID, &admin.ID, nil)
		line(t, lines[1], store.ActionTokenSecretReadDenied, c.ID, &tok.ID, &admin.ID, store.Details{"refusal": string(rules.CodeValueOwnerOnly)})
		if after := w.row(tok.ID); !after.UpdatedAt.Equal(before.UpdatedAt) || after.Realname != before.Realname {
			t.Errorf("a value read changed the token: %+v → %+v", before, after)
		}

		// TokenDeleted: the row and its grace values go.
		_, _ = w.renew(ctx, ac, tok.ID, time.Hour)
		mark = w.lastLogID()
		w.must(w.st.Update(ctx, func(tx *store.Tx) error {
			h, err := tx.LockToken(rules.TokenVisibility(ac), tok.ID)
			if err != nil {
				return err
			}
			return tx.Apply(rules.Deleted(h)...)
		}))
		if w.exists(&store.Token{}, tok.ID) || w.count(&store.GraceDigest{}, "token_id = ?", tok.ID) != 0 {
			t.Error("the deleted token or its grace value is still there")
		}
		lines = w.logSince(mark)
		if len(lines) != 1 {
			t.Fatalf("delete logged %v", actions(lines))
		}
		line(t, lines[0], store.ActionTokenDelete, c.ID, &tok.ID, &admin.ID, nil)
	})
}

// The columns the rules decide are saved as decided, updated_at included:
// the rules' now (the store's clock), for tokens, users and companies.
func TestContractApplySavesTimesAsDecided(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		admin := w.user(c, perm.RoleAdmin)
		analyst := w.user(c, perm.RoleAnalytic)
		tok := w.personal(admin, c)
		w.clock.Advance(time.Hour)
		decided := w.now() // what every rule below sets updated_at to
		_, err := w.updateToken(w.ctx, caller(admin, c), tok.ID, rules.TokenChange{Realname: ref("renamed")})
		w.must(err)
		w.must(w.st.Update(w.ctx, func(tx *store.Tx) error {
			target, err := tx.LockUser(store.Scope{ClientID: c.ID}, analyst.ID)
			if err != nil {
				return err
			}
			out, err := rules.ChangeUser(caller(admin, c), *target, rules.UserChange{Realname: ref("Ann")}, nil, w.now())
			if err != nil {
				return err
			}
			if !out.User.UpdatedAt.Equal(decided) {
				t.Fatalf("ChangeUser decided updated_at %v", out.User.UpdatedAt)
			}
			return tx.Apply(out.Events...)
		}))
		w.must(w.st.Update(w.ctx, func(tx *store.Tx) error {
			target, err := tx.LockClient(store.Scope{ClientID: c.ID}, c.ID)
			if err != nil {
				return err
			}
			_, events, err := rules.ChangeClient(caller(admin, c), *target, rules.ClientChange{Name: ref("Acme 2")}, w.now())
			if err != nil {
				return err
			}
			return tx.Apply(events...)
		}))
		gotTok := w.row(tok.ID)
		var gotUser store.User
		w.must(w.st.DB().Take(&gotUser, analyst.ID).Error)
		gotClient, err := w.st.ClientByID(w.ctx, c.ID)
		w.must(err)
		if gotTok.Realname != "renamed" || gotUser.Realname != "Ann" || gotClient.Name != "Acme 2" {
			t.Fatalf("changes not saved: %q %q %q", gotTok.Realname, gotUser.Realname, gotClient.Name)
		}
		var wrong []string
		for what, at := range map[string]time.Time{"token": gotTok.UpdatedAt, "user": gotUser.UpdatedAt, "client": gotClient.UpdatedAt} {
			if !at.Equal(decided) {
				wrong = append(wrong, what+" "+at.String())
			}
		}
		if len(wrong) > 0 {
			slices.Sort(wrong)
			t.Errorf("updated_at saved as the wall clock, not as the rules decided (%v): %s. "+
				"GORM's autoUpdateTime replaces a selected updated_at with its NowFunc on Save (tx.saveToken, tx.saveUser, ClientChanged)",
				decided, strings.Join(wrong, "; "))
		}
	})
}

// Backward-compatible tokens (R15): the import is a line of its own;
// renewing ends compatibility without a line of its own (the renewal says
// so), moving the owner to SSO ends it with an owner_cascade line.
func TestContractApplyLegacyTokens(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		operator := w.user(c, perm.RolePartnerAdmin)
		analyst := w.user(c, perm.RoleAnalytic)
		sso := w.user(c, perm.RoleAnalytic)
		op := caller(operator, c)
		imp := func(u *store.User) (*store.Token, string) {
			legacy := uuid.NewString()
			tok, events, err := rules.ImportLegacy(op, u, legacy, w.now())
			w.must(err)
			sealed(tok)
			w.must(w.st.Record(w.ctx, events...))
			return tok, legacy
		}
		mark := w.lastLogID()
		tok, legacy := imp(analyst)
		got := w.row(tok.ID)
		if !got.BackwardCompatible || got.LegacyUUID == nil || *got.LegacyUUID != legacy || !slices.Equal(got.Permissions, []string{"analytic"}) {
			t.Errorf("imported row %+v", got)
		}
		lines := w.logSince(mark)
		if len(lines) != 1 {
			t.Fatalf("import logged %v", actions(lines))
		}
		line(t, lines[0], store.ActionUserLegacyImport, c.ID, &tok.ID, &analyst.ID, store.Details{"legacy_uuid": legacy})
		if creds, err := w.st.TokensByLegacyUUID(w.ctx, legacy); err != nil || len(creds) != 1 || creds[0].Token.ID != tok.ID {
			t.Fatalf("TokensByLegacyUUID = %v, %v", creds, err)
		}

		mark = w.lastLogID()
		w.renew(w.ctx, caller(analyst, c), tok.ID, 0)
		got = w.row(tok.ID)
		if got.BackwardCompatible || got.LegacyUUID != nil || !slices.Equal(got.Permissions, []string{"analytic"}) {
			t.Errorf("renewed legacy row %+v", got)
		}
		if lines := w.logSince(mark); !slices.Equal(actions(lines), []string{store.ActionTokenRenew}) {
			t.Errorf("legacy renewal logged %v, want token.renew alone", actions(lines))
		}
		if creds, err := w.st.TokensByLegacyUUID(w.ctx, legacy); err != nil || len(creds) != 0 {
			t.Errorf("UUID after compatibility ended: %d, %v", len(creds), err)
		}

		ssoTok, ssoLegacy := imp(sso)
		mark = w.lastLogID()
		w.must(w.st.Update(w.ctx, func(tx *store.Tx) error {
			u, err := tx.LockUser(store.Scope{ClientID: c.ID}, sso.ID)
			if err != nil {
				return err
			}
			tokens, err := tx.PersonalTokens(u.ID)
			if err != nil {
				return err
			}
			out, err := rules.ChangeUser(op, *u, rules.UserChange{SSO: ref(true)}, tokens, w.now())
			if err != nil {
				return err
			}
			return tx.Apply(out.Events...)
		}))
		got = w.row(ssoTok.ID)
		if got.BackwardCompatible || got.LegacyUUID != nil || !got.Enabled {
			t.Errorf("legacy token of a user moved to SSO: %+v", got)
		}
		lines = w.logSince(mark)
		if !slices.Equal(actions(lines), []string{store.ActionUserUpdate, store.ActionTokenOwnerCascade}) {
			t.Fatalf("SSO move logged %v", actions(lines))
		}
		line(t, lines[1], store.ActionTokenOwnerCascade, c.ID, &ssoTok.ID, &sso.ID, store.Details{"reason": "sso_enabled"})
		if creds, err := w.st.TokensByLegacyUUID(w.ctx, ssoLegacy); err != nil || len(creds) != 0 {
			t.Errorf("UUID of an SSO user: %d, %v", len(creds), err)
		}
	})
}

// Companies: a tenant's creation and a company's change are written and
// logged; a change that changes nothing writes and logs nothing.
func TestContractApplyClientEvents(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		partner := w.company("Partner", nil)
		global := w.user(partner, perm.RolePartnerAdmin)
		gc := caller(global, partner)
		mark := w.lastLogID()
		tenant, events, err := rules.NewTenant(gc, uuid.NewString(), "Tenant", w.now())
		w.must(err)
		w.must(w.st.Record(w.ctx, events...))
		got, err := w.st.GetClient(w.ctx, store.Scope{ClientID: partner.ID, Global: true}, tenant.ID)
		w.must(err)
		if got.Name != "Tenant" || got.ParentID == nil || *got.ParentID != partner.ID || !got.Enabled {
			t.Errorf("tenant row %+v", got)
		}
		w.clock.Advance(time.Minute)
		change := func(ch rules.ClientChange) {
			w.must(w.st.Update(w.ctx, func(tx *store.Tx) error {
				target, err := tx.LockClient(gc.Scope(), tenant.ID)
				if err != nil {
					return err
				}
				_, events, err := rules.ChangeClient(gc, *target, ch, w.now())
				if err != nil {
					return err
				}
				return tx.Apply(events...)
			}))
		}
		change(rules.ClientChange{Name: ref("Tenant B"), Enabled: ref(false)})
		change(rules.ClientChange{Name: ref("Tenant B")}) // nothing to do
		got, err = w.st.ClientByID(w.ctx, tenant.ID)
		w.must(err)
		if got.Name != "Tenant B" || got.Enabled {
			t.Errorf("changed tenant %+v", got)
		}
		lines := w.logSince(mark)
		if len(lines) != 2 {
			t.Fatalf("logged %v", actions(lines))
		}
		line(t, lines[0], store.ActionClientCreate, tenant.ID, nil, nil, store.Details{"name": "Tenant"})
		line(t, lines[1], store.ActionClientUpdate, tenant.ID, nil, nil, store.Details{"fields": "name,enabled", "name": "Tenant B", "enabled": "false"})
	})
}

// bogus is an event the store does not know how to apply (a rules event
// type embedded in another type).
type bogus struct{ rules.TokenValueRead }

// A failing Apply, or a function failing after it, rolls the whole
// transaction back: no row, no activity line, no delivery, no change
// notification.
func TestContractFailedApplyRollsBack(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		admin := w.user(c, perm.RoleAdmin)
		hook := w.webhook(c, true, store.EventTokenDisabled)
		existing := w.personal(admin, c)
		var changes []store.Change
		w.st.OnChange(func(ch store.Change) { changes = append(changes, ch) })
		mark := w.lastLogID()
		tokens := w.count(&store.Token{}, "1 = 1")

		newTok := func() (*store.Token, []rules.Event) {
			tok, events, err := rules.NewToken(caller(admin, c), rules.NewTokenRequest{Realname: "n", Permissions: []string{"admin"}, Enabled: true}, w.now())
			w.must(err)
			sealed(tok)
			return tok, events
		}
		_, first := newTok()
		dup, second := newTok()
		dup.Digest = existing.Digest
		err := w.st.Record(w.ctx, append(first, second...)...)
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate digest: err = %v, want ErrConflict", err)
		}

		_, third := newTok()
		err = w.st.Record(w.ctx, append(third, bogus{})...)
		if err == nil || !strings.Contains(err.Error(), "no way to apply") {
			t.Errorf("unknown event: err = %v", err)
		}

		// The disable succeeds, then the function fails: all of it goes.
		boom := errors.New("boom")
		err = w.st.Update(w.ctx, func(tx *store.Tx) error {
			h, err := tx.LockTokenByID(existing.ID)
			if err != nil {
				return err
			}
			_, events, err := rules.UpdateToken(caller(admin, c), h, rules.TokenChange{Enabled: ref(false)}, w.now())
			if err != nil {
				return err
			}
			if err := tx.Apply(events...); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Errorf("Update returned %v, want the function's error", err)
		}

		if n := w.count(&store.Token{}, "1 = 1"); n != tokens {
			t.Errorf("%d tokens after the failures, want %d", n, tokens)
		}
		if lines := w.logSince(mark); len(lines) != 0 {
			t.Errorf("failed transactions logged %v", actions(lines))
		}
		if !w.row(existing.ID).Enabled {
			t.Error("the rolled-back disable stuck")
		}
		if d := w.deliveries(hook.ID); len(d) != 0 {
			t.Errorf("rolled-back disable enqueued %d deliveries", len(d))
		}
		if len(changes) != 0 {
			t.Errorf("OnChange ran for rolled-back transactions: %+v", changes)
		}
	})
}

// A write to a row that vanished since it was read answers ErrNotFound and
// records nothing (updatedOne), for tokens and users alike.
func TestContractWriteToVanishedRow(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		admin := w.user(c, perm.RoleAdmin)
		analyst := w.user(c, perm.RoleAnalytic)
		tok := w.personal(admin, c)
		ac := caller(admin, c)
		vis := rules.TokenVisibility(ac)
		stale, err := w.st.GetToken(w.ctx, vis, tok.ID)
		w.must(err)
		staleUser, err := w.st.GetUser(w.ctx, ac.Scope(), analyst.ID)
		w.must(err)
		// Someone else deletes both first.
		w.must(w.st.Update(w.ctx, func(tx *store.Tx) error {
			h, err := tx.LockToken(vis, tok.ID)
			if err != nil {
				return err
			}
			return tx.Apply(rules.Deleted(h)...)
		}))
		w.must(w.st.Update(w.ctx, func(tx *store.Tx) error {
			u, err := tx.LockUser(ac.Scope(), analyst.ID)
			if err != nil {
				return err
			}
			n, err := tx.CountPersonalTokens(u.ID)
			if err != nil {
				return err
			}
			events, err := rules.MayDeleteUser(ac, u, n)
			if err != nil {
				return err
			}
			return tx.Apply(events...)
		}))
		mark := w.lastLogID()
		h := rules.Held{Token: *stale, Owner: admin, Company: c}
		_, changed, err := rules.UpdateToken(ac, h, rules.TokenChange{Realname: ref("late")}, w.now())
		w.must(err)
		wantNotFound(t, "saving a deleted token", w.st.Record(w.ctx, changed...))
		wantNotFound(t, "deleting a deleted token", w.st.Record(w.ctx, rules.Deleted(h)...))
		out, err := rules.ChangeUser(ac, *staleUser, rules.UserChange{Realname: ref("late")}, nil, w.now())
		w.must(err)
		wantNotFound(t, "saving a deleted user", w.st.Record(w.ctx, out.Events...))
		if w.exists(&store.Token{}, tok.ID) || w.exists(&store.User{}, analyst.ID) {
			t.Error("a write to a vanished row inserted it again")
		}
		if lines := w.logSince(mark); len(lines) != 0 {
			t.Errorf("writes to vanished rows logged %v", actions(lines))
		}
		_, err = w.st.GetToken(w.ctx, vis, tok.ID)
		wantNotFound(t, "GetToken of a deleted token", err)
	})
}

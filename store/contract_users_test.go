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

// changeUser is PUT /v2/users/{id}: lock the user in c's scope and its
// personal tokens, decide with rules.ChangeUser, apply.
func (w *world) changeUser(ctx context.Context, c *rules.Caller, id int64, ch rules.UserChange) rules.UserOutcome {
	w.t.Helper()
	var out rules.UserOutcome
	w.must(w.st.Update(ctx, func(tx *store.Tx) error {
		u, err := tx.LockUser(c.Scope(), id)
		if err != nil {
			return err
		}
		tokens, err := tx.PersonalTokens(u.ID)
		if err != nil {
			return err
		}
		out, err = rules.ChangeUser(c, *u, ch, tokens, w.now())
		if err != nil {
			return err
		}
		return tx.Apply(out.Events...)
	}))
	return out
}

func (w *world) sessionIDs(u *store.User) []int64 {
	w.t.Helper()
	var rows []store.Session
	w.must(w.st.DB().Where("user_id = ?", u.ID).Order("id").Find(&rows).Error)
	return ids(rows, func(s store.Session) int64 { return s.ID })
}

// A user created through rules.NewUser is saved and logged with its role.
func TestContractApplyUserCreated(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		admin := w.user(c, perm.RoleAdmin)
		mark := w.lastLogID()
		hash := "$argon2id$v=19$m=65536,t=1,p=2$c2FsdA$aGFzaA"
		u, events, err := rules.NewUser(caller(admin, c), rules.NewUserRequest{UUID: uuid.NewString(), Email: "new@example.com",
			Realname: "New", Role: perm.RoleAnalytic, Enabled: true, APIAccess: true, PasswordHash: &hash}, w.now())
		w.must(err)
		ctx := store.WithActor(context.Background(), store.Actor{UserID: &admin.ID})
		w.must(w.st.Record(ctx, events...))
		got, err := w.st.UserByEmail(w.ctx, "new@example.com")
		w.must(err)
		if got.ID != u.ID || got.Role != "analytic" || got.PasswordHash == nil || *got.PasswordHash != hash || !got.PasswordOneTime ||
			!got.Enabled || got.SSO || !got.APIAccess || got.ClientID != c.ID || !got.CreatedAt.Equal(epoch) {
			t.Errorf("created user %+v", got)
		}
		lines := w.logSince(mark)
		if len(lines) != 1 {
			t.Fatalf("logged %v", actions(lines))
		}
		line(t, lines[0], store.ActionUserCreate, c.ID, nil, &u.ID, store.Details{"role": "analytic"})
		if !eqPtr(lines[0].ActorUserID, &admin.ID) || lines[0].ActorTokenID != nil || lines[0].IP != nil {
			t.Errorf("line attributed to %v/%v/%v", str(lines[0].ActorUserID), str(lines[0].ActorTokenID), str(lines[0].IP))
		}
		_, err = w.st.UserByEmail(w.ctx, "nobody@example.com")
		wantNotFound(t, "UserByEmail of nobody", err)
	})
}

// R12, R21: a demotion strips each personal token of what the new role
// lacks (for good), disables a token left empty and a tenant token the
// owner no longer reaches; each is one owner_cascade line, the disables
// announce token.disabled, and tokens with nothing to lose are untouched.
func TestContractApplyDemotionCascade(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		partner := w.company("Partner", nil)
		tenant := w.company("Tenant", partner)
		operator := w.user(partner, perm.RolePartnerAdmin)
		admin := w.user(partner, perm.RoleAdmin)
		global := w.user(partner, perm.RolePartnerAdmin)
		hook := w.webhook(partner, true, store.EventTokenDisabled)
		tenantHook := w.webhook(tenant, true, store.EventTokenDisabled)
		mixed := w.personal(admin, partner, "users:view", "attacks:view")
		onlyUsers := w.personal(admin, partner, "users:view")
		untouched := w.personal(admin, partner, "attacks:view")
		tenantTok := w.issue(caller(global, partner), rules.NewTokenRequest{Permissions: []string{"admin"}, Company: tenant})
		op := caller(operator, partner)

		mark := w.lastLogID()
		out := w.changeUser(w.ctx, op, admin.ID, rules.UserChange{Role: ref(perm.RoleAnalytic)})
		if len(out.Tokens) != 2 {
			t.Errorf("rules changed %d tokens, want 2", len(out.Tokens))
		}
		if got := w.row(mixed.ID); !slices.Equal(got.Permissions, []string{"attacks:view"}) || got.SourceRole != "custom" || !got.Enabled {
			t.Errorf("stripped token %+v", got)
		}
		if got := w.row(onlyUsers.ID); len(got.Permissions) != 0 || got.Enabled || got.DisabledReason != rules.ReasonNoPermissionsLeft || !timeEq(got.DisabledAt, ref(w.now())) {
			t.Errorf("emptied token %+v", got)
		}
		if got := w.row(untouched.ID); !slices.Equal(got.Permissions, []string{"attacks:view"}) || !got.Enabled || !got.UpdatedAt.Equal(untouched.UpdatedAt) {
			t.Errorf("a token with nothing to lose changed: %+v", got)
		}
		var u store.User
		w.must(w.st.DB().Take(&u, admin.ID).Error)
		if u.Role != "analytic" {
			t.Errorf("role saved as %q", u.Role)
		}
		lines := w.logSince(mark)
		want := []string{store.ActionUserUpdate, store.ActionTokenOwnerCascade, store.ActionTokenOwnerCascade, store.ActionTokenOwnerCascade}
		if !slices.Equal(actions(lines), want) {
			t.Fatalf("demotion logged %v, want %v", actions(lines), want)
		}
		line(t, lines[0], store.ActionUserUpdate, partner.ID, nil, &admin.ID, store.Details{"fields": "role", "old_role": "admin", "new_role": "analytic"})
		stripped := store.Details{"reason": "role_reduced", "removed": "users:view", "old_role": "admin", "new_role": "analytic"}
		line(t, lines[1], store.ActionTokenOwnerCascade, partner.ID, &mixed.ID, &admin.ID, stripped)
		line(t, lines[2], store.ActionTokenOwnerCascade, partner.ID, &onlyUsers.ID, &admin.ID, stripped)
		line(t, lines[3], store.ActionTokenOwnerCascade, partner.ID, &onlyUsers.ID, &admin.ID, store.Details{"reason": "no_permissions_left"})
		if d := w.deliveries(hook.ID); len(d) != 1 || d[0].Event != store.EventTokenDisabled {
			t.Errorf("deliveries %+v, want one token.disabled for the emptied token", d)
		}
		// Raising the role back restores nothing (R12).
		w.changeUser(w.ctx, op, admin.ID, rules.UserChange{Role: ref(perm.RoleAdmin)})
		if got := w.row(mixed.ID); !slices.Equal(got.Permissions, []string{"attacks:view"}) {
			t.Errorf("promotion restored %v", got.Permissions)
		}

		// R21: losing the global role disables the tenant token.
		mark = w.lastLogID()
		w.changeUser(w.ctx, op, global.ID, rules.UserChange{Role: ref(perm.RoleAdmin)})
		if got := w.row(tenantTok.ID); got.Enabled || got.DisabledReason != rules.ReasonOutOfScope {
			t.Errorf("tenant token after its owner lost the global role: %+v", got)
		}
		lines = w.logSince(mark)
		if !slices.Equal(actions(lines), []string{store.ActionUserUpdate, store.ActionTokenOwnerCascade}) {
			t.Fatalf("logged %v", actions(lines))
		}
		line(t, lines[1], store.ActionTokenOwnerCascade, tenant.ID, &tenantTok.ID, &global.ID, store.Details{"reason": "out_of_scope"})
		if d := w.deliveries(tenantHook.ID); len(d) != 1 {
			t.Errorf("the tenant's webhook got %d deliveries, want 1", len(d))
		}
	})
}

// R11, R16: disabling a user disables its enabled personal tokens and ends
// all its sessions; turning API access off disables its tokens; nobody
// else's tokens or sessions are touched.
func TestContractApplyUserDisabled(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		admin := w.user(c, perm.RoleAdmin)
		analyst := w.user(c, perm.RoleAnalytic)
		ssoUser := w.user(c, perm.RoleAnalytic, func(u *store.User) { u.SSO = true })
		bystander := w.user(c, perm.RoleAnalytic)
		ac := caller(admin, c)
		on := w.personal(analyst, c)
		off := w.personal(analyst, c)
		_, err := w.updateToken(w.ctx, caller(analyst, c), off.ID, rules.TokenChange{Enabled: ref(false)})
		w.must(err)
		offBefore := w.row(off.ID)
		ssoTok := w.personal(ssoUser, c)
		theirs := w.personal(bystander, c)
		w.session(analyst, time.Hour)
		w.session(analyst, time.Hour)
		keep := w.session(bystander, time.Hour)
		w.clock.Advance(time.Minute)

		mark := w.lastLogID()
		w.changeUser(w.ctx, ac, analyst.ID, rules.UserChange{Enabled: ref(false)})
		if got := w.row(on.ID); got.Enabled || got.DisabledReason != rules.ReasonOwnerDisabled || !timeEq(got.DisabledAt, ref(w.now())) {
			t.Errorf("token of a disabled user %+v", got)
		}
		if got := w.row(off.ID); got.DisabledReason != rules.ReasonManual || !timeEq(got.DisabledAt, offBefore.DisabledAt) {
			t.Errorf("an already disabled token was disabled again: %+v", got)
		}
		if s := w.sessionIDs(analyst); len(s) != 0 {
			t.Errorf("sessions %v of a disabled user survive", s)
		}
		if s := w.sessionIDs(bystander); !slices.Equal(s, []int64{keep.ID}) {
			t.Errorf("bystander's sessions %v", s)
		}
		if !w.row(theirs.ID).Enabled {
			t.Error("a bystander's token was disabled")
		}
		lines := w.logSince(mark)
		if !slices.Equal(actions(lines), []string{store.ActionUserUpdate, store.ActionTokenOwnerCascade}) {
			t.Fatalf("logged %v", actions(lines))
		}
		line(t, lines[0], store.ActionUserUpdate, c.ID, nil, &analyst.ID, store.Details{"fields": "enabled", "enabled": "false"})
		line(t, lines[1], store.ActionTokenOwnerCascade, c.ID, &on.ID, &analyst.ID, store.Details{"reason": "owner_disabled"})
		// R11: enabling the user again does not enable its tokens.
		w.changeUser(w.ctx, ac, analyst.ID, rules.UserChange{Enabled: ref(true)})
		if w.row(on.ID).Enabled {
			t.Error("re-enabling the user re-enabled its token")
		}

		w.changeUser(w.ctx, ac, ssoUser.ID, rules.UserChange{APIAccess: ref(false)})
		if got := w.row(ssoTok.ID); got.Enabled || got.DisabledReason != rules.ReasonAPIAccessOff {
			t.Errorf("token of an SSO user without API access %+v", got)
		}
	})
}

// R22: an administrator's password reset makes the password one-time,
// ends every session of the user and drops the stored values of its
// personal tokens, only those: shared tokens it created and other users'
// tokens keep theirs.
func TestContractApplyPasswordReset(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		operator := w.user(c, perm.RolePartnerAdmin)
		admin := w.user(c, perm.RoleAdmin)
		bystander := w.user(c, perm.RoleAdmin)
		own1, own2 := w.personal(admin, c), w.personal(admin, c)
		sharedTok := w.shared(admin, c)
		theirs := w.personal(bystander, c)
		w.session(admin, time.Hour)
		w.session(admin, time.Hour)
		w.session(bystander, time.Hour)
		hash := "$argon2id$new"

		mark := w.lastLogID()
		out := w.changeUser(w.ctx, caller(operator, c), admin.ID, rules.UserChange{PasswordHash: &hash})
		var got store.User
		w.must(w.st.DB().Take(&got, admin.ID).Error)
		if got.PasswordHash == nil || *got.PasswordHash != hash || !got.PasswordOneTime {
			t.Errorf("reset user %+v", got)
		}
		for _, id := range []int64{own1.ID, own2.ID} {
			if tok := w.row(id); len(tok.SecretCiphertext) != 0 || tok.SecretKeyID != nil || !tok.Enabled {
				t.Errorf("personal token %d keeps its value after a reset: %q %v", id, tok.SecretCiphertext, str(tok.SecretKeyID))
			}
		}
		for _, id := range []int64{sharedTok.ID, theirs.ID} {
			if tok := w.row(id); string(tok.SecretCiphertext) != "sealed value" || tok.SecretKeyID == nil {
				t.Errorf("token %d lost its value to someone else's reset", id)
			}
		}
		if s := w.sessionIDs(admin); len(s) != 0 {
			t.Errorf("sessions %v survive a reset", s)
		}
		if s := w.sessionIDs(bystander); len(s) != 1 {
			t.Errorf("bystander has %d sessions", len(s))
		}
		lines := w.logSince(mark)
		if !slices.Equal(actions(lines), []string{store.ActionUserPasswordReset}) {
			t.Fatalf("reset logged %v (events %T)", actions(lines), out.Events)
		}
		line(t, lines[0], store.ActionUserPasswordReset, c.ID, nil, &admin.ID, nil)
		// The checker agrees the result is a state tokend may be in.
		v, err := w.st.CheckInvariants(w.ctx)
		w.must(err)
		if len(v) != 0 {
			t.Errorf("violations after a reset: %v", v)
		}
	})
}

// R19, R22: changing one's own password keeps the calling session and
// ends the others; from a one-time-password session it ends them all.
func TestContractApplyOwnPasswordChange(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		u := w.user(c, perm.RoleAnalytic, func(u *store.User) { u.PasswordHash, u.PasswordOneTime = ref("$old"), true })
		current := w.session(u, time.Hour)
		w.session(u, time.Hour)
		w.session(u, time.Hour)
		change := func(kind rules.CredentialKind, sessionID int64, hash string) {
			w.must(w.st.Update(w.ctx, func(tx *store.Tx) error {
				me, err := tx.LockUserByID(u.ID)
				if err != nil {
					return err
				}
				c := caller(me, c)
				c.Kind, c.SessionID = kind, sessionID
				if err := rules.MayChangeOwnPassword(c); err != nil {
					return err
				}
				_, events := rules.ChangeOwnPassword(c, *me, hash, w.now())
				return tx.Apply(events...)
			}))
		}
		mark := w.lastLogID()
		change(rules.SessionCredential, current.ID, "$new")
		if s := w.sessionIDs(u); !slices.Equal(s, []int64{current.ID}) {
			t.Errorf("sessions after a password change %v, want only the calling one %d", s, current.ID)
		}
		var got store.User
		w.must(w.st.DB().Take(&got, u.ID).Error)
		if got.PasswordHash == nil || *got.PasswordHash != "$new" || got.PasswordOneTime {
			t.Errorf("user after its own change %+v", got)
		}
		lines := w.logSince(mark)
		if len(lines) != 1 {
			t.Fatalf("logged %v", actions(lines))
		}
		line(t, lines[0], store.ActionUserPasswordChange, c.ID, nil, &u.ID, nil)

		oneTime := w.session(u, time.Minute)
		change(rules.PasswordChangeCredential, oneTime.ID, "$newer")
		if s := w.sessionIDs(u); len(s) != 0 {
			t.Errorf("a one-time session's password change left sessions %v", s)
		}
		wantNotFound(t, "LockUserByID of nobody", w.st.Update(w.ctx, func(tx *store.Tx) error {
			_, err := tx.LockUserByID(u.ID + 1000)
			return err
		}))
	})
}

// R11, R5: deleting a user deletes its personal tokens with their grace
// values and its sessions; shared tokens it created stay.
func TestContractApplyUserDeleted(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		operator := w.user(c, perm.RolePartnerAdmin)
		admin := w.user(c, perm.RoleAdmin)
		bystander := w.user(c, perm.RoleAdmin)
		own1, own2 := w.personal(admin, c), w.personal(admin, c)
		w.renew(w.ctx, caller(admin, c), own1.ID, time.Hour)
		sharedTok := w.shared(admin, c)
		theirs := w.personal(bystander, c)
		w.renew(w.ctx, caller(bystander, c), theirs.ID, time.Hour)
		w.session(admin, time.Hour)
		keep := w.session(bystander, time.Hour)
		op := caller(operator, c)

		mark := w.lastLogID()
		w.must(w.st.Update(w.ctx, func(tx *store.Tx) error {
			u, err := tx.LockUser(op.Scope(), admin.ID)
			if err != nil {
				return err
			}
			n, err := tx.CountPersonalTokens(u.ID)
			if err != nil {
				return err
			}
			personal, err := tx.PersonalTokens(u.ID)
			if err != nil {
				return err
			}
			if n != 2 || !slices.Equal(ids(personal, tokenID), []int64{own1.ID, own2.ID}) {
				t.Errorf("CountPersonalTokens %d, PersonalTokens %v: want the 2 personal ones, oldest first", n, ids(personal, tokenID))
			}
			events, err := rules.MayDeleteUser(op, u, n)
			if err != nil {
				return err
			}
			return tx.Apply(events...)
		}))
		if w.exists(&store.User{}, admin.ID) || w.exists(&store.Token{}, own1.ID) || w.exists(&store.Token{}, own2.ID) {
			t.Error("the user or its personal tokens survive")
		}
		if n := w.count(&store.GraceDigest{}, "token_id = ?", own1.ID); n != 0 {
			t.Errorf("%d grace values of a deleted user's token survive", n)
		}
		if n := w.count(&store.Session{}, "user_id = ?", admin.ID); n != 0 {
			t.Errorf("%d sessions of a deleted user survive", n)
		}
		if got := w.row(sharedTok.ID); got.CreatedBy == nil || *got.CreatedBy != admin.ID || !got.Enabled {
			t.Errorf("shared token the user created: %+v", got)
		}
		if !w.exists(&store.Token{}, theirs.ID) || w.count(&store.GraceDigest{}, "token_id = ?", theirs.ID) != 1 ||
			!slices.Equal(w.sessionIDs(bystander), []int64{keep.ID}) {
			t.Error("the bystander lost a token, a grace value or a session")
		}
		lines := w.logSince(mark)
		if len(lines) != 1 {
			t.Fatalf("logged %v", actions(lines))
		}
		line(t, lines[0], store.ActionUserDelete, c.ID, nil, &admin.ID, store.Details{"email": admin.Email, "role": "admin", "tokens_deleted": "2"})
		v, err := w.st.CheckInvariants(w.ctx)
		w.must(err)
		if len(v) != 0 {
			t.Errorf("violations after a delete: %v", v)
		}
	})
}

// R15 under a role change: a backward-compatible token follows the role
// itself (a token.update line of its own, not merged with the next
// token's cascade), while the user's other tokens are stripped as usual.
func TestContractApplyRoleChangeWithLegacyToken(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		operator := w.user(c, perm.RolePartnerAdmin)
		admin := w.user(c, perm.RoleAdmin)
		op := caller(operator, c)
		legacy, events, err := rules.ImportLegacy(op, admin, uuid.NewString(), w.now())
		w.must(err)
		sealed(legacy)
		w.must(w.st.Record(w.ctx, events...))
		other := w.personal(admin, c, "users:view", "attacks:view")
		mark := w.lastLogID()
		w.changeUser(w.ctx, op, admin.ID, rules.UserChange{Role: ref(perm.RoleAnalytic)})
		if got := w.row(legacy.ID); !slices.Equal(got.Permissions, []string{"analytic"}) || got.SourceRole != "analytic" || !got.BackwardCompatible || !got.Enabled {
			t.Errorf("legacy token after the role change %+v", got)
		}
		if got := w.row(other.ID); !slices.Equal(got.Permissions, []string{"attacks:view"}) {
			t.Errorf("other token %v", got.Permissions)
		}
		lines := w.logSince(mark)
		want := []string{store.ActionUserUpdate, store.ActionTokenUpdate, store.ActionTokenOwnerCascade}
		if !slices.Equal(actions(lines), want) {
			t.Fatalf("logged %v, want %v", actions(lines), want)
		}
		line(t, lines[1], store.ActionTokenUpdate, c.ID, &legacy.ID, &admin.ID, store.Details{"fields": "permissions"})
		line(t, lines[2], store.ActionTokenOwnerCascade, c.ID, &other.ID, &admin.ID,
			store.Details{"reason": "role_reduced", "removed": "users:view", "old_role": "admin", "new_role": "analytic"})
	})
}

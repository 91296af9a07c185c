package rules

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/perm"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// world is a small fixed cast: a partner company P with tenant B, an
// unrelated company X, and users of every kind.
type world struct {
	P, B, X                     *Client
	admin, analyst, auditor     *User
	global, globalAnalyst, xAdm *User
}

func newWorld() world {
	p := &Client{ID: 1, Name: "P", Enabled: true}
	b := &Client{ID: 2, Name: "B", Enabled: true, ParentID: ptr(int64(1))}
	x := &Client{ID: 3, Name: "X", Enabled: true}
	u := func(id int64, c *Client, role perm.Role) *User {
		return &User{ID: id, ClientID: c.ID, Role: string(role), Enabled: true, APIAccess: true}
	}
	return world{P: p, B: b, X: x,
		admin: u(10, p, perm.RoleAdmin), analyst: u(11, p, perm.RoleAnalytic), auditor: u(12, p, perm.RoleAuditor),
		global: u(13, p, perm.RolePartnerAdmin), globalAnalyst: u(14, p, perm.RolePartnerAnalytic), xAdm: u(15, x, perm.RoleAdmin)}
}

// session is a full session of u in its company.
func (w world) session(u *User) *Caller {
	c := w.P
	if u.ClientID == w.X.ID {
		c = w.X
	}
	return &Caller{Kind: SessionCredential, User: u, Client: c, SessionID: 1, Role: perm.Role(u.Role), Effective: perm.Role(u.Role).Permissions()}
}

// token is a personal-token caller of u holding names.
func (w world) token(u *User, names ...string) *Caller {
	c := w.session(u)
	c.Kind, c.SessionID, c.TokenID = PersonalTokenCredential, 0, 99
	c.Effective = perm.ExpandKnown(names).Intersect(perm.Role(u.Role).Permissions())
	return c
}

func personal(owner *User, names ...string) Token {
	id := owner.ID
	return Token{ID: 100, ClientID: owner.ClientID, UserID: &id, Permissions: names, SourceRole: perm.SourceRole(names),
		Enabled: true, SecretCiphertext: []byte("sealed"), SecretKeyID: ptr("k1")}
}

func shared(c *Client, cap perm.Role, names ...string) Token {
	return Token{ID: 101, ClientID: c.ID, Shared: true, CapRole: string(cap), Permissions: names, SourceRole: perm.SourceRole(names),
		Enabled: true, SecretCiphertext: []byte("sealed"), SecretKeyID: ptr("k1")}
}

// code is the refusal code of err, "" for nil, "other" for a non-refusal.
func code(err error) Code {
	if err == nil {
		return ""
	}
	var r *Refusal
	if errors.As(err, &r) {
		return r.Code
	}
	return "other"
}

func TestRefusalTable(t *testing.T) {
	t.Parallel()
	seen := map[Code]bool{}
	for _, r := range Refusals {
		if seen[r.Code] || r.Rule == "" || r.Title == "" || r.Kind < Invalid || r.Kind > Throttled {
			t.Errorf("bad row %+v", r)
		}
		seen[r.Code] = true
	}
	defer func() {
		if recover() == nil {
			t.Error("refuse accepted a code outside the table")
		}
	}()
	_ = refuse("no-such-code", "x")
}

func TestAdmit(t *testing.T) {
	t.Parallel()
	w := newWorld()
	tok := personal(w.admin, "admin")
	tenantTok := personal(w.global, "admin")
	tenantTok.ClientID = w.B.ID
	disabledClient := *w.P
	disabledClient.Enabled = false
	disabledUser := *w.admin
	disabledUser.Enabled = false
	ssoNoAPI := *w.admin
	ssoNoAPI.SSO, ssoNoAPI.APIAccess = true, false
	demoted := *w.global
	demoted.Role = string(perm.RoleAdmin)
	expired := tok
	expired.ExpireAt = ptr(now)
	off := tok
	off.Enabled = false
	sh := shared(w.P, perm.RoleAdmin, "partner_admin")
	oneTime := &Session{ID: 5, UserID: w.analyst.ID, Purpose: SessionPasswordChange, ExpiresAt: now.Add(time.Minute)}
	full := &Session{ID: 6, UserID: w.analyst.ID, Purpose: SessionFull, ExpiresAt: now.Add(time.Hour)}
	staleSession := &Session{ID: 7, UserID: w.analyst.ID, Purpose: SessionFull, ExpiresAt: now}
	ssoUser := *w.analyst
	ssoUser.SSO = true

	for _, tc := range []struct {
		name      string
		cred      Credential
		want      Outcome
		kind      CredentialKind
		effective perm.Set
	}{
		{"personal token (R3)", Credential{Token: &tok, User: w.admin, UserClient: w.P, Client: w.P}, Admitted, PersonalTokenCredential, perm.RoleAdmin.Permissions()},
		{"company disabled", Credential{Token: &tok, User: w.admin, UserClient: &disabledClient, Client: &disabledClient}, Disabled, 0, perm.Set{}},
		{"owner disabled (R11)", Credential{Token: &tok, User: &disabledUser, UserClient: w.P, Client: w.P}, Disabled, 0, perm.Set{}},
		{"SSO owner without API access (R16)", Credential{Token: &tok, User: &ssoNoAPI, UserClient: w.P, Client: w.P}, Disabled, 0, perm.Set{}},
		{"expired (R7)", Credential{Token: &expired, User: w.admin, UserClient: w.P, Client: w.P}, Expired, 0, perm.Set{}},
		{"disabled (R8)", Credential{Token: &off, User: w.admin, UserClient: w.P, Client: w.P}, Disabled, 0, perm.Set{}},
		{"tenant token of a global owner (R21)", Credential{Token: &tenantTok, User: w.global, UserClient: w.P, Client: w.B}, Admitted, PersonalTokenCredential, perm.RoleAdmin.Permissions()},
		{"tenant token after demotion (R21)", Credential{Token: &tenantTok, User: &demoted, UserClient: w.P, Client: w.B}, OutOfScope, 0, perm.Set{}},
		{"owner's company disabled", Credential{Token: &tenantTok, User: w.global, UserClient: &disabledClient, Client: w.B}, Disabled, 0, perm.Set{}},
		{"shared token capped (R3, R5)", Credential{Token: &sh, Client: w.P}, Admitted, SharedTokenCredential, perm.RoleAdmin.Permissions()},
		{"full session (R19)", Credential{Session: full, User: w.analyst, UserClient: w.P, Client: w.P}, Admitted, SessionCredential, perm.RoleAnalytic.Permissions()},
		{"one-time session (R22)", Credential{Session: oneTime, User: w.analyst, UserClient: w.P, Client: w.P}, Admitted, PasswordChangeCredential, perm.Set{}},
		{"expired session", Credential{Session: staleSession, User: w.analyst, UserClient: w.P, Client: w.P}, Expired, 0, perm.Set{}},
		{"SSO user's password session (R19)", Credential{Session: full, User: &ssoUser, UserClient: w.P, Client: w.P}, Disabled, 0, perm.Set{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, got := Admit(&tc.cred, now)
			if got != tc.want {
				t.Fatalf("outcome %s, want %s", got, tc.want)
			}
			if got != Admitted {
				if c != nil {
					t.Fatal("a caller for a refusal")
				}
				return
			}
			if c.Kind != tc.kind || c.Effective != tc.effective {
				t.Fatalf("kind %d effective %v, want %d %v", c.Kind, c.Effective.Strings(), tc.kind, tc.effective.Strings())
			}
		})
	}
}

func TestMayCall(t *testing.T) {
	t.Parallel()
	w := newWorld()
	oneTime := w.session(w.analyst)
	oneTime.Kind, oneTime.Effective = PasswordChangeCredential, perm.Set{}
	for _, tc := range []struct {
		name    string
		c       *Caller
		need    perm.Permission
		allowed bool
		want    Code
	}{
		{"permission held (R3)", w.session(w.admin), "users:view", false, ""},
		{"permission missing (R3)", w.token(w.admin, "attacks:view"), "users:view", false, CodeMissingPermission},
		{"no permission needed", w.token(w.admin, "attacks:view"), "", false, ""},
		{"one-time session elsewhere (R22)", oneTime, "", false, CodePasswordChangeRequired},
		{"one-time session where allowed", oneTime, "", true, ""},
	} {
		if got := code(MayCall(tc.c, tc.need, tc.allowed)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestNewToken(t *testing.T) {
	t.Parallel()
	w := newWorld()
	demotedOwner := *w.admin
	demotedOwner.Role = string(perm.RoleAuditor)
	sharedCaller := &Caller{Kind: SharedTokenCredential, Client: w.P, Role: perm.RoleAdmin, Effective: perm.RoleAdmin.Permissions()}
	for _, tc := range []struct {
		name string
		c    *Caller
		req  NewTokenRequest
		want Code
	}{
		{"own token", w.session(w.admin), NewTokenRequest{Permissions: []string{"admin"}, Enabled: true}, ""},
		{"unknown name (R1)", w.session(w.admin), NewTokenRequest{Permissions: []string{"admin", "nope"}}, CodeUnknownPermission},
		{"above the caller (R2)", w.session(w.analyst), NewTokenRequest{Permissions: []string{"users:view"}}, CodePermissionCeiling},
		{"narrow token mints broad (R2)", w.token(w.admin, "api_tokens:create"), NewTokenRequest{Permissions: []string{"admin"}}, CodePermissionCeiling},
		{"for somebody else (R4)", w.session(w.admin), NewTokenRequest{Permissions: []string{"attacks:view"}, UserID: ptr(w.analyst.ID)}, CodePersonalTokenHolder},
		{"for oneself by id (R4)", w.session(w.admin), NewTokenRequest{Permissions: []string{"attacks:view"}, UserID: ptr(w.admin.ID)}, ""},
		{"shared token makes personal (R4)", sharedCaller, NewTokenRequest{Permissions: []string{"attacks:view"}}, CodePersonalTokenHolder},
		{"shared without manage (R5)", w.session(w.analyst), NewTokenRequest{Permissions: []string{"attacks:view"}, Shared: true}, CodeSharedTokenManager},
		{"shared with an owner (R5)", w.session(w.admin), NewTokenRequest{Permissions: []string{"attacks:view"}, Shared: true, UserID: ptr(w.admin.ID)}, CodeSharedTokenOwner},
		{"expiry in the past (R7)", w.session(w.admin), NewTokenRequest{Permissions: []string{"admin"}, ExpireAt: ptr(now)}, CodeExpiryInPast},
		{"owner demoted meanwhile (R12)", w.session(w.admin), NewTokenRequest{Permissions: []string{"admin"}, Owner: &demotedOwner}, CodePermissionCeiling},
		{"tenant token of a Global Administrator", w.session(w.global), NewTokenRequest{Permissions: []string{"admin"}, Company: w.B}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, events, err := NewToken(tc.c, tc.req, now)
			if got := code(err); got != tc.want {
				t.Fatalf("refusal %q, want %q", got, tc.want)
			}
			if err != nil {
				return
			}
			if len(events) != 1 || events[0].(TokenCreated).Token != tok {
				t.Fatalf("events %#v", events)
			}
			if v := TokenViolations(tok, tc.c.User, tc.req.Company, now); len(v) != 0 && tc.req.Company == nil {
				t.Fatalf("a created token violates %v", v)
			}
		})
	}
	t.Run("shared token's cap role (R5)", func(t *testing.T) {
		for caller, cap := range map[*User]perm.Role{w.admin: perm.RoleAdmin, w.global: perm.RolePartnerAdmin} {
			tok, _, err := NewToken(w.session(caller), NewTokenRequest{Permissions: []string{"attacks:view"}, Shared: true, Enabled: true}, now)
			if err != nil || tok.CapRole != string(cap) || tok.UserID != nil {
				t.Errorf("%s: %v cap %q", caller.Role, err, tok.CapRole)
			}
		}
	})
	t.Run("created disabled", func(t *testing.T) {
		tok, _, _ := NewToken(w.session(w.admin), NewTokenRequest{Permissions: []string{"admin"}}, now)
		if tok.Enabled || tok.DisabledReason != ReasonManual || tok.DisabledAt == nil {
			t.Fatalf("%+v", tok)
		}
	})
}

func TestUpdateToken(t *testing.T) {
	t.Parallel()
	w := newWorld()
	analystTok := personal(w.analyst, "attacks:view")
	disabled := personal(w.admin, "admin")
	transition(&disabled, disable(ReasonManual), now.Add(-time.Hour))
	emptied := personal(w.admin)
	transition(&emptied, disable(ReasonNoPermissionsLeft), now.Add(-time.Hour))
	legacy := personal(w.analyst, "analytic")
	legacy.BackwardCompatible, legacy.LegacyUUID = true, ptr("uuid")
	disabledOwner := *w.analyst
	disabledOwner.Enabled = false
	ofDisabledOwner := personal(w.analyst, "attacks:view")
	transition(&ofDisabledOwner, disable(ReasonOwnerDisabled), now)
	demoted := *w.global
	demoted.Role = string(perm.RoleAdmin)
	outOfScope := personal(w.global, "admin")
	outOfScope.ClientID = w.B.ID
	transition(&outOfScope, disable(ReasonOutOfScope), now)
	perms := func(n ...string) *[]string { return &n }
	on, off := ptr(true), ptr(false)

	for _, tc := range []struct {
		name string
		c    *Caller
		h    Held
		ch   TokenChange
		want Code
	}{
		{"rename", w.session(w.admin), Held{Token: analystTok, Owner: w.analyst, Company: w.P}, TokenChange{Realname: ptr("x")}, ""},
		{"permissions within both ceilings", w.session(w.admin), Held{Token: analystTok, Owner: w.analyst, Company: w.P}, TokenChange{Permissions: perms("analytic")}, ""},
		{"above the caller (R2)", w.token(w.admin, "api_tokens:update"), Held{Token: analystTok, Owner: w.analyst, Company: w.P}, TokenChange{Permissions: perms("analytic")}, CodePermissionCeiling},
		{"above the owner (R20)", w.session(w.admin), Held{Token: analystTok, Owner: w.analyst, Company: w.P}, TokenChange{Permissions: perms("admin")}, CodeOwnerCeiling},
		{"unknown (R1)", w.session(w.admin), Held{Token: analystTok, Owner: w.analyst, Company: w.P}, TokenChange{Permissions: perms("x:y")}, CodeUnknownPermission},
		{"legacy permissions (R15)", w.session(w.admin), Held{Token: legacy, Owner: w.analyst, Company: w.P}, TokenChange{Permissions: perms("attacks:view")}, CodeLegacyPermissionsFixed},
		{"expiry in the past (R7)", w.session(w.admin), Held{Token: analystTok, Owner: w.analyst, Company: w.P}, TokenChange{ExpireSet: true, ExpireAt: ptr(now.Add(-time.Second))}, CodeExpiryInPast},
		{"disable", w.session(w.admin), Held{Token: analystTok, Owner: w.analyst, Company: w.P}, TokenChange{Enabled: off}, ""},
		{"re-enable without expiry (R8)", w.session(w.admin), Held{Token: disabled, Owner: w.admin, Company: w.P}, TokenChange{Enabled: on}, CodeReenableNeedsExpiry},
		{"re-enable with a past expiry (R8)", w.session(w.admin), Held{Token: disabled, Owner: w.admin, Company: w.P}, TokenChange{Enabled: on, ExpireSet: true, ExpireAt: ptr(now)}, CodeReenableNeedsExpiry},
		{"re-enable, never expires", w.session(w.admin), Held{Token: disabled, Owner: w.admin, Company: w.P}, TokenChange{Enabled: on, ExpireSet: true}, ""},
		{"re-enable by a narrow token (R20)", w.token(w.admin, "api_tokens:update"), Held{Token: disabled, Owner: w.admin, Company: w.P}, TokenChange{Enabled: on, ExpireSet: true}, CodeValueCeiling},
		{"re-enable an emptied token (R12)", w.session(w.admin), Held{Token: emptied, Owner: w.admin, Company: w.P}, TokenChange{Enabled: on, ExpireSet: true}, CodeNoPermissionsLeft},
		{"re-enable with new permissions", w.session(w.admin), Held{Token: emptied, Owner: w.admin, Company: w.P}, TokenChange{Enabled: on, ExpireSet: true, Permissions: perms("attacks:view")}, ""},
		{"re-enable, owner disabled (R11)", w.session(w.admin), Held{Token: ofDisabledOwner, Owner: &disabledOwner, Company: w.P}, TokenChange{Enabled: on, ExpireSet: true}, CodeOwnerDisabled},
		{"re-enable out of scope (R21)", w.session(w.global), Held{Token: outOfScope, Owner: &demoted, Company: w.B}, TokenChange{Enabled: on, ExpireSet: true}, CodeOutOfScope},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.h.Token
			tok, events, err := UpdateToken(tc.c, tc.h, tc.ch, now)
			if got := code(err); got != tc.want {
				t.Fatalf("refusal %q, want %q", got, tc.want)
			}
			if err != nil {
				return
			}
			if len(events) == 0 {
				t.Fatal("an update without an event")
			}
			if v := TokenViolations(tok, tc.h.Owner, tc.h.Company, now); len(v) != 0 {
				t.Fatalf("the update leaves %v", v)
			}
			if tc.ch.Enabled != nil && tok.Enabled != *tc.ch.Enabled {
				t.Fatalf("enabled %v, want %v (was %v)", tok.Enabled, *tc.ch.Enabled, before.Enabled)
			}
		})
	}
}

func TestMayReadValueAndRenew(t *testing.T) {
	t.Parallel()
	w := newWorld()
	own := personal(w.admin, "admin")
	narrowSibling := personal(w.admin, "api_tokens:view")
	sh := shared(w.P, perm.RoleAdmin, "admin")
	notStored := personal(w.admin, "attacks:view")
	notStored.SecretCiphertext, notStored.SecretKeyID = nil, nil
	legacy := personal(w.analyst, "analytic")
	legacy.BackwardCompatible, legacy.LegacyUUID = true, ptr("u")
	for _, tc := range []struct {
		name      string
		c         *Caller
		h         Held
		retrieval bool
		read      Code
		renew     Code
	}{
		{"owner", w.session(w.admin), Held{Token: own, Owner: w.admin}, true, "", ""},
		{"show-once (R9)", w.session(w.admin), Held{Token: own, Owner: w.admin}, false, CodeSecretRetrievalOff, ""},
		{"an administrator, somebody else's (R9)", w.session(w.global), Held{Token: own, Owner: w.admin}, true, CodeValueOwnerOnly, CodeValueOwnerOnly},
		{"narrow token of the owner (R20)", w.token(w.admin, "api_tokens:view"), Held{Token: own, Owner: w.admin}, true, CodeValueCeiling, CodeValueCeiling},
		{"narrow token, narrow sibling", w.token(w.admin, "api_tokens:view"), Held{Token: narrowSibling, Owner: w.admin}, true, "", ""},
		{"shared, with manage", w.session(w.admin), Held{Token: sh}, true, "", ""},
		{"shared, view+manage token (R20)", w.token(w.admin, "api_tokens:view", "api_tokens:manage"), Held{Token: sh}, true, CodeValueCeiling, CodeValueCeiling},
		{"shared, without manage (R9)", w.session(w.analyst), Held{Token: sh}, true, CodeValueOwnerOnly, CodeValueOwnerOnly},
		{"not stored", w.session(w.admin), Held{Token: notStored, Owner: w.admin}, true, CodeSecretNotStored, ""},
		{"backward-compatible, owner", w.session(w.analyst), Held{Token: legacy, Owner: w.analyst}, true, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := code(MayReadValue(tc.c, tc.h, tc.retrieval)); got != tc.read {
				t.Errorf("read: %q, want %q", got, tc.read)
			}
			tok, events, err := RenewToken(tc.c, tc.h, time.Hour, now)
			if got := code(err); got != tc.renew {
				t.Fatalf("renew: %q, want %q", got, tc.renew)
			}
			if err != nil {
				return
			}
			r := events[0].(TokenRenewed)
			if !r.OldValueUntil.Equal(now.Add(time.Hour)) || tok.RenewedAt == nil || tok.BackwardCompatible || tok.LegacyUUID != nil {
				t.Fatalf("renewal %+v token %+v", r, tok)
			}
			if tc.h.Token.BackwardCompatible && !slices.Equal(tok.Permissions, []string{tc.h.Owner.Role}) {
				t.Fatalf("a renewed legacy token holds %v", tok.Permissions)
			}
		})
	}
	t.Run("grace bound (R10)", func(t *testing.T) {
		for grace, want := range map[time.Duration]Code{0: "", MaxGrace: "", MaxGrace + time.Second: CodeGraceTooLong, -time.Second: CodeGraceTooLong} {
			_, events, err := RenewToken(w.session(w.admin), Held{Token: own, Owner: w.admin}, grace, now)
			if code(err) != want {
				t.Errorf("grace %s: %v", grace, err)
			}
			if err == nil && grace == 0 && !events[0].(TokenRenewed).OldValueUntil.IsZero() {
				t.Error("no grace, yet the old value lives on")
			}
		}
	})
}

func TestExpireAndLeak(t *testing.T) {
	t.Parallel()
	w := newWorld()
	tok := personal(w.admin, "admin")
	tok.ExpireAt = ptr(now.Add(-time.Minute))
	if ev := ExpireToken(&tok, now); len(ev) != 1 || tok.Enabled || !tok.DisabledAt.Equal(*tok.ExpireAt) || tok.DisabledReason != ReasonExpired {
		t.Fatalf("expire: %+v %v", tok, ev)
	}
	if ev := ExpireToken(&tok, now); ev != nil {
		t.Fatal("expiring twice")
	}
	live := personal(w.admin, "admin")
	ev := ReportLeak(&live, "github", [][]byte{[]byte("d")}, now)
	if live.Enabled || live.DisabledReason != ReasonLeaked || len(ev) != 2 || ev[1].(TokenDisabled).Source != "github" {
		t.Fatalf("leak: %+v %v", live, ev)
	}
	if ev := ReportLeak(&live, "", nil, now); len(ev) != 1 || ev[0].(TokenLeakReported).WasEnabled {
		t.Fatalf("second report: %v", ev)
	}
}

func TestChangeUserCascade(t *testing.T) {
	t.Parallel()
	w := newWorld()
	role := func(r perm.Role) *perm.Role { return &r }
	tokensOf := func(u *User) []Token {
		a := personal(u, string(perm.Role(u.Role)))
		a.ID = 200
		b := personal(u, "attacks:view", "users:view")
		b.ID = 201
		c := personal(u, "users:view")
		c.ID = 202
		l := personal(u, u.Role)
		l.ID, l.BackwardCompatible, l.LegacyUUID = 203, true, ptr("uuid")
		return []Token{a, b, c, l}
	}
	t.Run("demotion strips for good and disables the empty (R12)", func(t *testing.T) {
		out, err := ChangeUser(w.session(w.global), *w.admin, UserChange{Role: role(perm.RoleAnalytic)}, tokensOf(w.admin), now)
		if err != nil {
			t.Fatal(err)
		}
		byID := map[int64]*Token{}
		for _, tok := range out.Tokens {
			byID[tok.ID] = tok
		}
		if got := byID[201].Permissions; !slices.Equal(got, []string{"attacks:view"}) {
			t.Errorf("stripped to %v", got)
		}
		if byID[202].Enabled || byID[202].DisabledReason != ReasonNoPermissionsLeft {
			t.Errorf("emptied token %+v", byID[202])
		}
		if got := byID[203].Permissions; !slices.Equal(got, []string{"analytic"}) {
			t.Errorf("legacy token follows the role: %v", got)
		}
		for _, tok := range out.Tokens {
			if v := TokenViolations(tok, out.User, w.P, now); len(v) != 0 {
				t.Errorf("token %d: %v", tok.ID, v)
			}
		}
	})
	t.Run("losing the global role disables tenant tokens (R21)", func(t *testing.T) {
		toks := tokensOf(w.global)
		toks[0].ClientID = w.B.ID
		out, err := ChangeUser(w.session(w.global), *w.global, UserChange{Role: role(perm.RoleAdmin)}, toks, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range out.Tokens {
			if tok.ID == 200 && (tok.Enabled || tok.DisabledReason != ReasonOutOfScope) {
				t.Errorf("tenant token %+v", tok)
			}
		}
	})
	t.Run("disable the user (R11)", func(t *testing.T) {
		out, _ := ChangeUser(w.session(w.admin), *w.analyst, UserChange{Enabled: ptr(false)}, tokensOf(w.analyst), now)
		ended := false
		for _, ev := range out.Events {
			_, ok := ev.(SessionsEnded)
			ended = ended || ok
		}
		for _, tok := range out.Tokens {
			if tok.Enabled || tok.DisabledReason != ReasonOwnerDisabled {
				t.Errorf("token %d %+v", tok.ID, tok)
			}
		}
		if len(out.Tokens) != 4 || !ended {
			t.Fatalf("changed %d tokens, sessions ended %v", len(out.Tokens), ended)
		}
		// Re-enabling the user leaves them disabled.
		back, _ := ChangeUser(w.session(w.admin), *out.User, UserChange{Enabled: ptr(true)}, derefAll(out.Tokens), now)
		if len(back.Tokens) != 0 {
			t.Fatal("re-enabling the user touched its tokens")
		}
	})
	t.Run("SSO on ends backward compatibility and the password (R15, R16)", func(t *testing.T) {
		u := *w.analyst
		u.PasswordHash = ptr("hash")
		out, _ := ChangeUser(w.session(w.admin), u, UserChange{SSO: ptr(true)}, tokensOf(w.analyst), now)
		if out.User.PasswordHash != nil {
			t.Error("an SSO user kept its password")
		}
		for _, tok := range out.Tokens {
			if tok.BackwardCompatible || tok.LegacyUUID != nil {
				t.Errorf("token %d still backward-compatible", tok.ID)
			}
		}
	})
	t.Run("API access off disables (R16)", func(t *testing.T) {
		out, _ := ChangeUser(w.session(w.admin), *w.analyst, UserChange{APIAccess: ptr(false)}, tokensOf(w.analyst), now)
		for _, tok := range out.Tokens {
			if tok.Enabled || tok.DisabledReason != ReasonAPIAccessOff {
				t.Errorf("token %d %+v", tok.ID, tok)
			}
		}
	})
	t.Run("an administrator's password is one-time (R22)", func(t *testing.T) {
		out, err := ChangeUser(w.session(w.admin), *w.analyst, UserChange{PasswordHash: ptr("h")}, tokensOf(w.analyst), now)
		if err != nil || !out.User.PasswordOneTime {
			t.Fatal(err, out.User)
		}
		var reset, ended, dropped bool
		for _, ev := range out.Events {
			switch ev.(type) {
			case PasswordReset:
				reset = true
			case SessionsEnded:
				ended = true
			case TokenValuesDropped:
				dropped = true
			}
		}
		if !reset || !ended || !dropped {
			t.Fatalf("reset %v sessions ended %v values dropped %v", reset, ended, dropped)
		}
	})
	t.Run("e-mail: an administrator's for others, and one's own", func(t *testing.T) {
		for _, target := range []*User{w.analyst, w.admin} {
			out, err := ChangeUser(w.session(w.admin), *target, UserChange{Email: ptr("new@example.com"), EmailSkeleton: "new@example.com"}, nil, now)
			if err != nil || out.User.Email != "new@example.com" || out.User.EmailSkeleton == nil || *out.User.EmailSkeleton != "new@example.com" || len(out.Events) != 1 {
				t.Fatalf("user %d: %v %+v", target.ID, err, out)
			}
			if ev, ok := out.Events[0].(UserChanged); !ok || !slices.Equal(ev.Fields, []string{"email"}) {
				t.Errorf("user %d: event %+v", target.ID, out.Events[0])
			}
		}
		if _, err := ChangeUser(w.session(w.admin), *w.global, UserChange{Email: ptr("x@example.com")}, nil, now); code(err) != CodeTargetAboveCaller {
			t.Errorf("a stronger user's e-mail: %v", err)
		}
	})
	for _, tc := range []struct {
		name string
		c    *Caller
		u    *User
		ch   UserChange
		want Code
	}{
		{"assign above oneself (R17)", w.session(w.admin), w.analyst, UserChange{Role: role(perm.RolePartnerAdmin)}, CodeRoleCeiling},
		{"global role by a company admin (R17)", w.session(w.admin), w.analyst, UserChange{Role: role(perm.RolePartnerAuditor)}, CodeGlobalRoleScope},
		{"manage a stronger user (R17)", w.session(w.admin), w.global, UserChange{Realname: ptr("x")}, CodeTargetAboveCaller},
		{"narrow token manages (R17)", w.token(w.admin, "users:update"), w.analyst, UserChange{Realname: ptr("x")}, CodeTargetAboveCaller},
		{"disable oneself", w.session(w.admin), w.admin, UserChange{Enabled: ptr(false)}, CodeSelfLockout},
		{"own password by an administrator's route (R20)", w.session(w.admin), w.admin, UserChange{PasswordHash: ptr("h")}, CodeSessionRequired},
		{"SSO user password (R16)", w.session(w.admin), &User{ID: 20, ClientID: 1, Role: "analytic", Enabled: true, SSO: true}, UserChange{PasswordHash: ptr("h")}, CodeSSONoPassword},
	} {
		if _, err := ChangeUser(tc.c, *tc.u, tc.ch, nil, now); code(err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
	t.Run("global role by a global admin", func(t *testing.T) {
		if _, err := ChangeUser(w.session(w.global), *w.analyst, UserChange{Role: role(perm.RolePartnerAuditor)}, nil, now); err != nil {
			t.Fatal(err)
		}
	})
}

func derefAll(ts []*Token) []Token {
	out := make([]Token, len(ts))
	for i, t := range ts {
		out[i] = *t
	}
	return out
}

func TestUsersLegacyAndSessions(t *testing.T) {
	t.Parallel()
	w := newWorld()
	for _, tc := range []struct {
		name string
		c    *Caller
		req  NewUserRequest
		want Code
	}{
		{"analyst by an admin", w.session(w.admin), NewUserRequest{Role: perm.RoleAnalytic}, ""},
		{"global by an admin (R17)", w.session(w.admin), NewUserRequest{Role: perm.RolePartnerAuditor}, CodeGlobalRoleScope},
		{"above oneself (R17)", w.session(w.analyst), NewUserRequest{Role: perm.RoleAdmin}, CodeRoleCeiling},
		{"SSO with a password (R16)", w.session(w.admin), NewUserRequest{Role: perm.RoleAnalytic, SSO: true, PasswordHash: ptr("h")}, CodeSSONoPassword},
	} {
		u, _, err := NewUser(tc.c, tc.req, now)
		if code(err) != tc.want {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err == nil && u.PasswordOneTime != (tc.req.PasswordHash != nil) {
			t.Errorf("%s: one-time %v", tc.name, u.PasswordOneTime)
		}
	}
	if _, err := MayDeleteUser(w.session(w.admin), w.admin, 0); code(err) != CodeSelfLockout {
		t.Error("deleting oneself", err)
	}
	if _, _, err := ImportLegacy(w.session(w.admin), w.analyst, "u", now); code(err) != CodeLegacyImportOperator {
		t.Error("an administrator imports (R22)", err)
	}
	tok, _, err := ImportLegacy(w.session(w.global), w.analyst, "u", now)
	if err != nil || !tok.BackwardCompatible || !slices.Equal(tok.Permissions, []string{"analytic"}) {
		t.Error("the Global Administrator imports", err, tok)
	}

	pw := ptr("hash")
	own := *w.analyst
	own.PasswordHash = pw
	oneTime := own
	oneTime.PasswordOneTime = true
	s, ok := SignIn(&own, w.P, true, now)
	if !ok || s.Purpose != SessionFull || !s.ExpiresAt.Equal(now.Add(SessionLifetime)) {
		t.Errorf("sign-in %+v %v", s, ok)
	}
	s, ok = SignIn(&oneTime, w.P, true, now)
	if !ok || s.Purpose != SessionPasswordChange || !s.ExpiresAt.Equal(now.Add(PasswordChangeLifetime)) {
		t.Errorf("one-time sign-in %+v %v", s, ok)
	}
	for name, u := range map[string]*User{"wrong password": nil} {
		if _, ok := SignIn(u, w.P, true, now); ok {
			t.Error(name)
		}
	}
	if _, ok := SignIn(&own, w.P, false, now); ok {
		t.Error("a wrong password signs in")
	}
	if err := MayChangeOwnPassword(w.token(w.analyst, "analytic")); code(err) != CodeSessionRequired {
		t.Error("a token changes the password (R20)", err)
	}
	oneTimeCaller := w.session(w.analyst)
	oneTimeCaller.Kind = PasswordChangeCredential
	u, events := ChangeOwnPassword(oneTimeCaller, oneTime, "new", now)
	if u.PasswordOneTime || events[1].(SessionsEnded).Except != 0 {
		t.Error("a one-time password change", u, events)
	}
	if _, events := ChangeOwnPassword(w.session(w.analyst), own, "new", now); events[1].(SessionsEnded).Except != 1 {
		t.Error("a normal change must keep the calling session")
	}
}

func TestClients(t *testing.T) {
	t.Parallel()
	w := newWorld()
	if _, _, err := NewTenant(w.session(w.admin), "u", "n", now); code(err) != CodeTenantParent {
		t.Error("a company admin creates a tenant", err)
	}
	tenantCaller := w.session(w.global)
	tenantCaller.Client = w.B
	if _, _, err := NewTenant(tenantCaller, "u", "n", now); code(err) != CodeTenantParent {
		t.Error("a tenant creates a tenant (R18)", err)
	}
	c, _, err := NewTenant(w.session(w.global), "u", "n", now)
	if err != nil || c.ParentID == nil || *c.ParentID != w.P.ID {
		t.Error(err, c)
	}
	if _, _, err := ChangeClient(w.session(w.global), *w.P, ClientChange{Enabled: ptr(false)}, now); code(err) != CodeSelfLockout {
		t.Error("disabling one's own company", err)
	}
	if _, ev, err := ChangeClient(w.session(w.global), *w.B, ClientChange{Enabled: ptr(false)}, now); err != nil || len(ev) != 1 {
		t.Error(err, ev)
	}
}

func TestScopeAndVisibility(t *testing.T) {
	t.Parallel()
	w := newWorld()
	sc := w.session(w.global).Scope()
	if !sc.Contains(w.P) || !sc.Contains(w.B) || sc.Contains(w.X) {
		t.Error("global scope", sc)
	}
	if v := TokenVisibility(w.session(w.analyst)); v.AllInScope || v.UserID != w.analyst.ID {
		t.Error("analyst visibility", v)
	}
	if v := TokenVisibility(w.session(w.admin)); !v.AllInScope {
		t.Error("admin visibility", v)
	}
}

func TestNewTenantUnder(t *testing.T) {
	t.Parallel()
	w := newWorld()
	w.P.UUID = "p-uuid"
	for _, tc := range []struct {
		name    string
		partner string
		want    Code
	}{
		{"empty means the caller's own technical tenant", "", ""},
		{"the caller's own technical tenant", "p-uuid", ""},
		{"another partner (R18)", "x-uuid", CodeTenantParent},
	} {
		c, _, err := NewTenantUnder(w.session(w.global), tc.partner, "u", "n", now)
		if code(err) != tc.want {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err == nil && (c.ParentID == nil || *c.ParentID != w.P.ID) {
			t.Errorf("%s: not linked to the partner: %+v", tc.name, c)
		}
	}
	if _, _, err := NewTenantUnder(w.session(w.admin), "", "u", "n", now); code(err) != CodeTenantParent {
		t.Error("a company admin creates a tenant", err)
	}
}

func TestPartnerOf(t *testing.T) {
	t.Parallel()
	w := newWorld()
	w.P.UUID, w.B.UUID = "p-uuid", "b-uuid"
	if id, uuid := PartnerOf(w.P, nil); id != w.P.ID || uuid != "p-uuid" {
		t.Error("a top-level company is its own partner", id, uuid)
	}
	if id, uuid := PartnerOf(w.B, w.P); id != w.P.ID || uuid != "p-uuid" {
		t.Error("a tenant's partner is its parent", id, uuid)
	}
}

func TestDeleteClient(t *testing.T) {
	t.Parallel()
	w := newWorld()
	disabledB := *w.B
	disabledB.Enabled = false
	disabledP := *w.P
	disabledP.Enabled = false
	for _, tc := range []struct {
		name   string
		caller *Caller
		target Client
		want   Code
	}{
		{"a disabled tenant", w.session(w.global), disabledB, ""},
		{"an enabled tenant: disable it first", w.session(w.global), *w.B, CodeClientEnabled},
		{"one's own company", w.session(w.global), disabledP, CodeSelfLockout},
		{"a top-level company", w.session(w.xAdm), disabledP, CodeTenantParent},
	} {
		ev, err := DeleteClient(tc.caller, tc.target, CompanyContents{Users: 2, Tokens: 3})
		if code(err) != tc.want {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if err == nil {
			if d, ok := ev[0].(ClientDeleted); !ok || d.Client.ID != tc.target.ID || d.Contents.Tokens != 3 {
				t.Errorf("%s: events %+v", tc.name, ev)
			}
		}
	}
}

func TestNodeToken(t *testing.T) {
	t.Parallel()
	w := newWorld()
	for _, tc := range []struct {
		name   string
		caller *Caller
		want   Code
		cap    perm.Role
	}{
		{"an administrator: a shared Deploy token capped by admin", w.session(w.admin), "", perm.RoleAdmin},
		{"a Global Administrator: capped by partner_admin", w.session(w.global), "", perm.RolePartnerAdmin},
		{"an analyst lacks api_tokens:manage (R5)", w.session(w.analyst), CodeSharedTokenManager, ""},
		{"a token without the Deploy permissions (R2)", w.token(w.admin, "api_tokens:manage", "api_tokens:create"), CodePermissionCeiling, ""},
	} {
		tok, ev, err := NodeToken(tc.caller, nil, "edge-1", now)
		if code(err) != tc.want {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if err != nil {
			continue
		}
		if !tok.Shared || tok.UserID != nil || tok.CapRole != string(tc.cap) || !slices.Equal(tok.Permissions, []string{"deploy"}) || !tok.Enabled {
			t.Errorf("%s: token %+v", tc.name, tok)
		}
		if got, want := AtUse(tok, nil), perm.RoleDeploy.Permissions(); !got.SubsetOf(want) || !want.SubsetOf(got) {
			t.Errorf("%s: acts with %v, want the Deploy role", tc.name, got.Strings())
		}
		if _, ok := ev[0].(TokenCreated); !ok {
			t.Errorf("%s: events %+v", tc.name, ev)
		}
	}
}
